"""Text sources: Tiny Shakespeare for character-level language models."""

from __future__ import annotations

import tempfile
import urllib.request
from pathlib import Path

from grader.data.sources import DataError, SourceFacts, TextCorpus, register, sha256_file

TINY_SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
TINY_SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


@register("tinyshakespeare", SourceFacts("text"))
def load_tiny_shakespeare(from_path: Path | None, verify: bool = True) -> TextCorpus:
    if from_path is None:
        target = Path(tempfile.mkdtemp(prefix="grader-text-")) / "input.txt"
        try:
            urllib.request.urlretrieve(TINY_SHAKESPEARE_URL, target)
        except OSError as exc:
            raise DataError(f"cannot download {TINY_SHAKESPEARE_URL} ({exc}); download it by hand and pass "
                            "--from input.txt") from exc
        path, origin = target, TINY_SHAKESPEARE_URL
    else:
        path, origin = _text_file(from_path), str(from_path)
    digest = sha256_file(path)
    if verify and digest != TINY_SHAKESPEARE_SHA256:
        raise DataError(f"{path}: sha256 {digest} is not Tiny Shakespeare's {TINY_SHAKESPEARE_SHA256} "
                        "(use --no-verify for another text)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc})") from exc
    return TextCorpus(text, {path.name: digest}, origin)


def _text_file(from_path: Path) -> Path:
    if from_path.is_file():
        return from_path
    candidates = sorted(from_path.glob("*.txt"))
    if len(candidates) != 1:
        raise DataError(f"{from_path}: expected one .txt file, found {len(candidates)}")
    return candidates[0]
