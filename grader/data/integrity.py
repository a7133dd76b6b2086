"""The prepared data cannot change under a batch: each check compares it with its manifest.

Cheap checks first: the set of files, then each file's size and its (inode, mtime, ctime). A file
whose stat is the one seen at its last hash is taken as unchanged: a process can set a file's
mtime back, but not its ctime, nor choose its inode. A file whose stat differs, or that was never
hashed, is hashed and compared with the manifest. The stats of hashed files are kept in
`<data>/verified.json`, so the next batch starts with stat calls only.

`entries` and `stat_signature` serve the notebooks' environments too (grader.envs), whose every
file's signature is recorded at their build.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from grader.data.prepare import DataLayout
from grader.data.sources import sha256_file

CACHE = "verified.json"
UNTRACKED = {"manifest.json", CACHE, f".{CACHE}.tmp"}  # written beside the data, not part of it


class DataChanged(RuntimeError):
    """The prepared data is not what `grader data prepare` wrote."""

    def __init__(self, assignment: str, faults: list[str]):
        self.assignment, self.faults = assignment, faults
        shown = "; ".join(faults[:5]) + (f"; and {len(faults) - 5} more" if len(faults) > 5 else "")
        super().__init__(f"the prepared data of {assignment} changed: {shown}. Nothing is scored on it: restore "
                         f"it with `grader data prepare {assignment}` (same secret, same data), then run again")


def stat_signature(path: Path) -> list[int]:
    """What changes when anything writes, replaces or re-modes a file (a link itself, never its target)."""
    st = os.stat(path, follow_symlinks=False)
    return [st.st_size, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_mode]


def entries(root: Path) -> set[str]:
    """Every file, link and other non-folder under root, by its path relative to root; links to folders are
    entries, never followed."""
    found = set()
    for folder, folders, files in os.walk(root):
        base = Path(folder)
        found.update(str((base / name).relative_to(root)) for name in files)
        found.update(str((base / name).relative_to(root)) for name in folders if (base / name).is_symlink())
    return found


@dataclass
class DataGuard:
    """Checks one assignment's prepared data against its manifest; `check` raises DataChanged."""

    data: DataLayout
    assignment: str
    _seen: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.expected: dict[str, str] = self.data.manifest()["outputs"]
        try:
            self._seen = json.loads((self.data.root / CACHE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self._seen = {}

    def check(self) -> None:
        faults: list[str] = []
        present = entries(self.data.root)
        for name in sorted(present - set(self.expected) - UNTRACKED):
            faults.append(f"{name}: not written by prepare")
        hashed = False
        for name, sha in self.expected.items():
            path = self.data.root / name
            if name not in present:
                faults.append(f"{name}: missing")
                continue
            stat = stat_signature(path)
            if self._seen.get(name) == stat:
                continue
            if not path.is_file() or path.is_symlink() or sha256_file(path) != sha:
                faults.append(f"{name}: its content is not the one prepared")
                continue
            self._seen[name], hashed = stat, True
        if faults:
            raise DataChanged(self.assignment, faults)
        if hashed:
            self._save()

    def _save(self) -> None:
        tmp = self.data.root / f".{CACHE}.tmp"  # then renamed: a reader never sees half a cache
        try:
            tmp.write_text(json.dumps(self._seen), encoding="utf-8")
            os.replace(tmp, self.data.root / CACHE)
        except OSError:  # a read-only data folder: the next batch hashes again
            pass
