"""Untrusted archives and folders, read safely: checked entry by entry before anything is written.

An archive is refused whole when one entry is unsafe (a path escaping the target, a link, a
device, encrypted, too big, too many files), and every fault is named. Copies count the bytes
really written, since a zip's declared sizes may lie. Moodle's submission downloads
(grader.moodle) and student kits (grader.kit) are read through here.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

CHUNK = 1 << 20


class UnsafeArchive(ValueError):
    """An archive or folder was refused; every fault is named."""

    def __init__(self, path: Path, faults: list[str]):
        self.path, self.faults = path, faults
        shown = "; ".join(faults[:10]) + (f"; and {len(faults) - 10} more" if len(faults) > 10 else "")
        super().__init__(f"{path}: refused: {shown}")


@dataclass(frozen=True)
class Limits:
    """The defaults fit one assignment's Moodle download."""

    max_files: int = 5000
    max_bytes: int = 4 << 30  # all files together, as extracted
    max_file_bytes: int = 1 << 30


def clean_parts(name: str) -> tuple[list[str], str | None]:
    """Path parts of an archive entry, or the reason it is unsafe. Windows separators count too."""
    text = name.replace("\\", "/")
    if any(ord(c) < 32 for c in text):
        return [], "a control character in the name"
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        return [], "an absolute path"
    parts = [unicodedata.normalize("NFC", p) for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        return [], "'..' escapes the target folder"
    if not parts:
        return [], "an empty name"
    return parts, None


@dataclass
class Entry:
    parts: list[str]
    size: int
    when: datetime | None  # naive wall-clock time as stored in the zip
    info: zipfile.ZipInfo | None = None
    source: Path | None = None


def zip_entries(archive: Path, limits: Limits) -> list[Entry]:
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnsafeArchive(archive, [f"not a readable zip file ({exc})"]) from None
    with zf:
        infos = zf.infolist()
    faults, entries, seen = [], [], set()
    if len(infos) > limits.max_files:
        faults.append(f"{len(infos)} entries, more than the limit of {limits.max_files}")
    for info in infos:
        parts, problem = clean_parts(info.filename)
        mode = info.external_attr >> 16
        if problem:
            faults.append(f"entry {info.filename!r}: {problem}")
        elif stat.S_ISLNK(mode):
            faults.append(f"entry {info.filename!r}: a symbolic link")
        elif mode and stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            faults.append(f"entry {info.filename!r}: not a regular file")
        elif info.flag_bits & 0x1:
            faults.append(f"entry {info.filename!r}: encrypted")
        elif info.file_size > limits.max_file_bytes:
            faults.append(f"entry {info.filename!r}: {info.file_size} bytes, more than the limit of "
                          f"{limits.max_file_bytes}")
        elif not info.is_dir():
            key = "/".join(parts).casefold()
            if key in seen:
                faults.append(f"entry {info.filename!r}: a second file with the same name")
            seen.add(key)
            entries.append(Entry(parts, info.file_size, datetime(*info.date_time), info=info))
    total = sum(e.size for e in entries)
    if total > limits.max_bytes:
        faults.append(f"{total} bytes uncompressed, more than the limit of {limits.max_bytes}")
    if faults:
        raise UnsafeArchive(archive, faults)
    return entries


def folder_entries(folder: Path, limits: Limits) -> list[Entry]:
    faults, entries = [], []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            st = path.lstat()
            rel = path.relative_to(folder)
            if stat.S_ISLNK(st.st_mode):
                faults.append(f"{rel}: a symbolic link")
            elif stat.S_ISREG(st.st_mode):
                if st.st_size > limits.max_file_bytes:
                    faults.append(f"{rel}: {st.st_size} bytes, more than the limit of {limits.max_file_bytes}")
                entries.append(Entry([unicodedata.normalize("NFC", p) for p in rel.parts], st.st_size,
                                      None, source=path))
            elif not stat.S_ISDIR(st.st_mode):
                faults.append(f"{rel}: not a regular file")
    if len(entries) > limits.max_files:
        faults.append(f"{len(entries)} files, more than the limit of {limits.max_files}")
    if sum(e.size for e in entries) > limits.max_bytes:
        faults.append(f"more than the limit of {limits.max_bytes} bytes")
    if faults:
        raise UnsafeArchive(folder, faults)
    return entries


def copy_entry(entry: Entry, archive: zipfile.ZipFile | None, dest: Path, limits: Limits) -> None:
    """Copy one checked entry, counting the bytes really written: a zip's sizes may lie."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    src = archive.open(entry.info) if archive else open(entry.source, "rb")
    with src, open(dest, "xb") as out:
        while chunk := src.read(CHUNK):
            written += len(chunk)
            if written > min(limits.max_file_bytes, max(entry.size, 0) + CHUNK):
                raise UnsafeArchive(dest, [f"{'/'.join(entry.parts)}: more data than its header declares"])
            out.write(chunk)


def extract_zip(archive: Path, target: Path, limits: Limits = Limits()) -> None:
    """Every entry of a checked archive under `target`; UnsafeArchive names the faults of a refused one."""
    entries = zip_entries(archive, limits)
    with zipfile.ZipFile(archive) as zf:
        for entry in entries:
            copy_entry(entry, zf, target.joinpath(*entry.parts), limits)
