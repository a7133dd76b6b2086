"""Text sources for character-level language models (task next_character).

"text" reads an instructor's own corpus from `[dataset] path` (or `--from`): one UTF-8 file, or a
folder holding exactly one .txt file. Tiny Shakespeare is the same corpus reader, downloaded, with
its known checksum.
"""

from __future__ import annotations

import tempfile
import urllib.request
from pathlib import Path

from grader.data.sources import DataError, SourceFacts, SourceOptions, TextCorpus, register, sha256_file

TINY_SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
TINY_SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


def text_file(from_path: Path) -> Path:
    """The corpus file: from_path itself, or the one .txt file in that folder."""
    if from_path.is_file():
        return from_path
    candidates = sorted(from_path.glob("*.txt")) if from_path.is_dir() else []
    if len(candidates) != 1:
        raise DataError(f"{from_path}: expected a UTF-8 text file, or a folder with one .txt file "
                        f"(found {len(candidates)})")
    return candidates[0]


def read_corpus(path: Path, origin: str, known: tuple[str, str] | None = None) -> TextCorpus:
    """The corpus in `path`; `known` (name, sha256): refuse any other file (verify)."""
    digest = sha256_file(path)
    if known is not None and digest != known[1]:
        raise DataError(f"{path}: sha256 {digest} is not {known[0]}'s {known[1]} (use --no-verify for another text)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc})") from exc
    return TextCorpus(text, {path.name: digest}, origin)


def peek_text(path: Path, options: SourceOptions) -> SourceFacts:
    text_file(path)  # a clear DataError when it is not there
    return SourceFacts("text")


@register("text", peek=peek_text)
def load_text(from_path: Path | None, verify: bool = True, options: SourceOptions = SourceOptions()) -> TextCorpus:
    path = text_file(from_path)
    return read_corpus(path, str(path))


@register("tinyshakespeare", SourceFacts("text"))
def load_tiny_shakespeare(from_path: Path | None, verify: bool = True,
                          options: SourceOptions = SourceOptions()) -> TextCorpus:
    if from_path is None:
        path = Path(tempfile.mkdtemp(prefix="grader-text-")) / "input.txt"
        try:
            urllib.request.urlretrieve(TINY_SHAKESPEARE_URL, path)
        except OSError as exc:
            raise DataError(f"cannot download {TINY_SHAKESPEARE_URL} ({exc}); download it by hand and pass "
                            "--from input.txt") from exc
        origin = TINY_SHAKESPEARE_URL
    else:
        path, origin = text_file(from_path), str(from_path)
    return read_corpus(path, origin, ("Tiny Shakespeare", TINY_SHAKESPEARE_SHA256) if verify else None)
