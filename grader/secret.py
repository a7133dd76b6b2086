"""The course secret: what makes the hidden test split impossible to rebuild from public files.

The hidden split's shuffle, its public and private halves and its opaque ids derive from the
assignment's seed *and* this secret, so a student who runs `grader data prepare` on a clone of the
course gets a different split. What students may reproduce (training, validation and the practice
split of `grader check`) derives from the public seed alone.

The secret is 32 random bytes in `<workdir>/secret` (mode 0600; the work folder gets a .gitignore),
created by the first `grader data prepare`, or the hex string in `$GRADER_SECRET`. It is never
mounted into a run, never published and never passed to a notebook's environment.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

ENV = "GRADER_SECRET"
FILE_NAME = "secret"
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
        try:
            value = bytes.fromhex(path.read_text(encoding="ascii").strip())
        except (ValueError, UnicodeDecodeError):
            raise SecretError(f"{path}: not a hex secret; restore it from your copy, or remove it and "
                              "prepare every assignment again (the hidden splits change)") from None
        return value
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


def fingerprint(secret: bytes) -> str:
    """Which secret made a split, recorded in the manifest; says nothing about the secret itself."""
    return hmac.new(secret, b"grader:fingerprint", hashlib.sha256).hexdigest()[:12]


def derive(secret: bytes, *parts: object) -> bytes:
    return hmac.new(secret, ":".join(map(str, parts)).encode(), hashlib.sha256).digest()


def derive_seed(secret: bytes, *parts: object) -> int:
    """A seed for numpy's generator that only the secret's holder can compute."""
    return int.from_bytes(derive(secret, *parts)[:16], "big")
