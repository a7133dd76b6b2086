"""`assignments/<name>/data.lock.json`: the checksums of an assignment's source data, recorded once.

The first `grader data prepare` of an assignment records the sha256 of each source file (each
image of an image folder, the .npz, the table, the text, the official archives) beside its
assignment.toml, to be committed with the course. Every later prepare, on any machine, verifies
the files against it before writing anything: a colleague prepares the same data, or is told
which file differs. A changed, new or missing file is a DataError naming it; when the change is
meant, `grader data prepare NAME --no-verify` accepts the data as it is and records it again (also
after a change of `[dataset] classes`, for image folders: the files of the classes kept are read).
A private hidden set (`hidden_from`) is not recorded here: its digest is in the manifest only.
"""

from __future__ import annotations

import json
from pathlib import Path

from grader.course import Assignment
from grader.data.sources import DataError

LOCK_FILE = "data.lock.json"
SHOWN = 5  # differing files named in an error


def lock_path(a: Assignment) -> Path:
    return a.path / LOCK_FILE


def recorded(a: Assignment) -> dict[str, str] | None:
    """file -> sha256 as recorded, or None before the first prepare."""
    path = lock_path(a)
    if not path.is_file():
        return None
    try:
        return dict(json.loads(path.read_text(encoding="utf-8"))["files"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a data lock written by `grader data prepare` ({exc}); delete it to record "
                        "the data again") from None


def verify(a: Assignment, checksums: dict[str, str], origin: str) -> None:
    """DataError naming each file that differs from the lock (none before the first prepare)."""
    expected = recorded(a)
    if expected is None or expected == checksums:
        return
    faults = [f"{name}: changed" for name in sorted(set(expected) & set(checksums))
              if expected[name] != checksums[name]]
    faults += [f"{name}: new" for name in sorted(set(checksums) - set(expected))]
    faults += [f"{name}: missing" for name in sorted(set(expected) - set(checksums))]
    shown = "; ".join(faults[:SHOWN]) + (f"; and {len(faults) - SHOWN} more" if len(faults) > SHOWN else "")
    raise DataError(f"{origin}: not the data recorded in {lock_path(a)} at the first prepare ({shown}). If the "
                    f"new data is meant, accept it with `grader data prepare {a.name} --no-verify`, which records "
                    "it again (commit the new lock)")


def record(a: Assignment, checksums: dict[str, str]) -> None:
    """Write the lock (over a broken one too), unless it already says the same."""
    path = lock_path(a)
    data = (json.dumps({"dataset": a.dataset, "files": dict(sorted(checksums.items()))}, indent=1,
                       ensure_ascii=False) + "\n").encode()
    try:
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
    except OSError as exc:
        raise DataError(f"{path}: cannot record the data's checksums ({exc})") from exc
