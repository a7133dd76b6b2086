"""The course secret: what makes the hidden test split impossible to rebuild from public files.

The hidden split's shuffle, its public and private halves and its opaque ids derive from the
assignment's seed *and* this secret, so a student who runs `grader data prepare` on a clone of the
course gets a different split; so does which examples a source without a test split loses to it.
The rest (training, validation and the practice split of `grader check`, drawn from the examples
left) derives from the public seed. The data lock of own data is keyed from it (grader.data.lock).

The secret is 32 random bytes in `<workdir>/secret` (mode 0600; the work folder gets a .gitignore),
created by the first `grader data prepare`, or the hex string in `$GRADER_SECRET`. It is never
mounted into a run, never published and never passed to a notebook's environment.

Losing it loses every hidden split, so `grader secret backup --to PATH` copies it elsewhere (mode
0600) and notes the copy, with the secret's fingerprint and the date, in
`<workdir>/secret.backup.json`; `grader doctor` warns while no backup of the current secret is noted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from datetime import date
from pathlib import Path

ENV = "GRADER_SECRET"
FILE_NAME = "secret"
BACKUP_NOTE = "secret.backup.json"
SIZE = 32


class SecretError(RuntimeError):
    """The secret is unreadable or malformed."""


def secret_path(workdir: Path) -> Path:
    return workdir / FILE_NAME


def load_secret(workdir: Path, create: bool = False) -> bytes | None:
    """`$GRADER_SECRET`, else the workdir's file; created there when `create` and neither exists."""
    from_env = os.environ.get(ENV, "").strip()
    if from_env:
        try:
            value = bytes.fromhex(from_env)
        except ValueError:
            raise SecretError(f"${ENV}: expected {2 * SIZE} hex digits") from None
        if len(value) < 16:
            raise SecretError(f"${ENV}: too short ({len(value)} bytes); use {SIZE} random bytes as hex")
        return value
    path = secret_path(workdir)
    if path.is_file():
        return read_secret_file(path)
    if not create:
        return None
    workdir.mkdir(parents=True, exist_ok=True)
    ignore = workdir / ".gitignore"
    if not ignore.exists():  # whatever folder course.toml names as workdir, git leaves it out
        ignore.write_text("# grader's work folder: the course secret, hidden labels, gradebook, runs\n*\n")
    # O_EXCL and 0600 from the start: the secret is never readable by others, even for an instant.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    value = secrets.token_bytes(SIZE)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(value.hex() + "\n")
    return value


def read_secret_file(path: Path) -> bytes:
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (ValueError, UnicodeDecodeError):
        raise SecretError(f"{path}: not a hex secret; restore it from your copy, or remove it and "
                          "prepare every assignment again (the hidden splits change)") from None


def backup(workdir: Path, to: Path, keep_out: tuple[Path, ...] = ()) -> Path:
    """Copy the work folder's secret to `to` (a file, or a folder to hold it as `secret`), mode 0600, and
    note the copy; returns the copy. Refused inside the work folder or a `keep_out` folder (the course's
    git repository): a copy there is lost, or published, with them."""
    source = secret_path(workdir)
    if not source.is_file():
        raise SecretError(f"{source}: no secret yet (the first `grader data prepare` makes it)")
    value = read_secret_file(source)
    target = (to / FILE_NAME if to.is_dir() else to).resolve()
    for folder in (workdir, *keep_out):
        if target.is_relative_to(folder.resolve()):
            raise SecretError(f"{target}: inside {folder}; a backup belongs off this folder (another disk, "
                              "a password manager's folder)")
    if target.exists():
        try:
            same = target.is_file() and read_secret_file(target) == value
        except SecretError:
            same = False
        if not same:
            raise SecretError(f"{target}: already exists and is not this secret; choose another path")
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(value.hex() + "\n")
    note = {"fingerprint": fingerprint(value), "copy": str(target), "date": date.today().isoformat()}
    (workdir / BACKUP_NOTE).write_text(json.dumps(note, indent=2) + "\n", encoding="utf-8")
    return target


def backup_note(workdir: Path, secret: bytes) -> dict | None:
    """The noted backup of this secret (copy, date), or None: none noted, or one of an earlier secret."""
    path = workdir / BACKUP_NOTE
    try:
        note = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return note if isinstance(note, dict) and note.get("fingerprint") == fingerprint(secret) else None


def fingerprint(secret: bytes) -> str:
    """Which secret made a split, recorded in the manifest; says nothing about the secret itself."""
    return hmac.new(secret, b"grader:fingerprint", hashlib.sha256).hexdigest()[:12]


def derive(secret: bytes, *parts: object) -> bytes:
    return hmac.new(secret, ":".join(map(str, parts)).encode(), hashlib.sha256).digest()


def derive_seed(secret: bytes, *parts: object) -> int:
    """A seed for numpy's generator that only the secret's holder can compute."""
    return int.from_bytes(derive(secret, *parts)[:16], "big")
