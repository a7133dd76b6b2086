"""`assignments/<name>/data.lock.json`: the checksums of an assignment's source data, recorded once.

The first `grader data prepare` of an assignment records each source file (each image of an image
folder, the .npz, the table, the text, the official archives) beside its assignment.toml, to be
committed with the course. Every later prepare, on any machine, verifies the files against it
before writing anything: a colleague prepares the same data, or is told which file differs. A
changed or new file is a DataError naming it, and missing files are counted; when the change is
meant, `grader data prepare NAME --no-verify` accepts the data as it is and records it again (also
after a change of `[dataset] classes`, for image folders: the files of the classes kept are read).
A private hidden set (`hidden_from`) is not recorded here: its digest is in the manifest only.

The lock is public; the instructor's own data (a generic source, grader.data.sources.PEEKS) is not,
and a table carved into public and hidden rows is itself the answer key. So for such a source the
lock holds, for each file, an HMAC of its path and an HMAC of its path and sha256, keyed from the
course secret (grader.secret.derive), and the secret's fingerprint: with a plain sha256 a student
could try the few possible labels of a tiny table's hidden rows until the digest matched, and
plain paths would list the source's files. Only a prepare with the course secret verifies it. A
practical's files are public, their checksums published: its lock holds them plainly, and any
secret verifies it. A plain lock of own data (an earlier grader's) is verified as it is, then
recorded keyed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from grader.course import Assignment
from grader.data.sources import DataError
from grader.secret import derive, fingerprint

LOCK_FILE = "data.lock.json"
SHOWN = 5  # differing files named in an error


def lock_path(a: Assignment) -> Path:
    return a.path / LOCK_FILE


def sealed(secret: bytes, checksums: dict[str, str]) -> dict[str, str]:
    """file -> sha256 as a keyed lock holds them: HMAC of the path -> HMAC of the path and the sha256."""
    key = derive(secret, "data.lock")

    def mac(text: str) -> str:
        return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()

    return {mac(f"path\0{name}"): mac(f"content\0{name}\0{sha}") for name, sha in checksums.items()}


def recorded(a: Assignment) -> tuple[str | None, dict[str, str]] | None:
    """(the fingerprint of the secret that keys it, None for a plain lock; its files), or None before the
    first prepare."""
    path = lock_path(a)
    if not path.is_file():
        return None
    try:
        lock = json.loads(path.read_text(encoding="utf-8"))
        return (None if lock.get("secret") is None else str(lock["secret"])), dict(lock["files"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"{path}: not a data lock written by `grader data prepare` ({exc}); delete it to record "
                        "the data again") from None


def verify(a: Assignment, checksums: dict[str, str], origin: str, secret: bytes) -> None:
    """DataError naming each file that differs from the lock (none before the first prepare)."""
    lock = recorded(a)
    if lock is None:
        return
    keyed_by, expected = lock
    accept = (f"If the new data is meant, accept it with `grader data prepare {a.name} --no-verify`, which records "
              "it again (commit the new lock)")
    if keyed_by is None:
        found, names = checksums, {name: name for name in checksums}
    elif keyed_by != fingerprint(secret):
        raise DataError(f"{lock_path(a)}: recorded with another course secret (fingerprint {keyed_by}; this "
                        f"machine's is {fingerprint(secret)}), so the data cannot be verified: prepare with the "
                        "course's secret ($GRADER_SECRET, or the work folder's secret file from your backup). "
                        f"{accept}")
    else:  # looked up by the HMAC of the paths at hand, so that a file is still named
        found = sealed(secret, checksums)
        names = dict(zip(found, checksums))
    if expected == found:
        return
    faults = [f"{names[key]}: changed" for key in sorted(set(expected) & set(found), key=names.get)
              if expected[key] != found[key]]
    faults += [f"{names[key]}: new" for key in sorted(set(found) - set(expected), key=names.get)]
    missing = sorted(set(expected) - set(found))
    if keyed_by is None:
        faults += [f"{name}: missing" for name in missing]
    elif missing:  # a keyed lock names no file: only how many
        faults.append(f"{len(missing)} recorded file{'s' if len(missing) > 1 else ''} missing")
    shown = "; ".join(faults[:SHOWN]) + (f"; and {len(faults) - SHOWN} more" if len(faults) > SHOWN else "")
    raise DataError(f"{origin}: not the data recorded in {lock_path(a)} at the first prepare ({shown}). {accept}")


def record(a: Assignment, checksums: dict[str, str], secret: bytes | None) -> None:
    """Write the lock (over a broken one too), unless it already says the same: keyed from `secret`, or plain
    when it is None (a practical's public files)."""
    path = lock_path(a)
    if secret is None:
        lock = {"dataset": a.dataset, "files": dict(sorted(checksums.items()))}
    else:
        lock = {"dataset": a.dataset, "secret": fingerprint(secret),
                "files": dict(sorted(sealed(secret, checksums).items()))}
    data = (json.dumps(lock, indent=1, ensure_ascii=False) + "\n").encode()
    try:
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
    except OSError as exc:
        raise DataError(f"{path}: cannot record the data's checksums ({exc})") from exc
