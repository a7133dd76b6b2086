"""Similar hand-ins: every pair of an assignment's notebooks compared with copydetect (winnowing, as MOSS).

Each hand-in's code cells become one Python text; copydetect tokenizes it (names, strings and
comments do not matter), takes k-gram fingerprints and winnows them, so renamed variables,
rewritten comments and reordered cells still match. The starter and the reference solutions are
boilerplate: their fingerprints are removed first, so the code everyone was given never matches.

Comparing all pairs is quadratic; an inverted index of fingerprints first finds the pairs that
share enough of them to reach the threshold, and only those are compared in full.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import nbformat
from copydetect import CodeFingerprint, compare_files

NOISE_TOKENS = 25  # copydetect's defaults: matches shorter than this are noise...
GUARANTEE_TOKENS = 30  # ...and matches this long are always found
WINDOW = GUARANTEE_TOKENS - NOISE_TOKENS + 1


@dataclass
class Source:
    key: str  # the student, or the archive file
    code: str
    fingerprint: CodeFingerprint | None = None


@dataclass
class Pair:
    first: str
    second: str
    similarity: float  # the larger of the two shares: how much of one's own code is in the other
    shares: tuple[float, float]
    first_code: str
    second_code: str
    first_slices: list[tuple[int, int]]  # character ranges of the shared code in each text
    second_slices: list[tuple[int, int]]


def notebook_code(path: Path) -> str:
    """The code cells of a notebook as one Python text (magics and shell lines kept as text)."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # an unreadable hand-in has no code to compare; its run already says why
        return ""
    return "\n\n".join("".join(c.source) if isinstance(c.source, list) else c.source
                       for c in nb.cells if c.cell_type == "code")


def fingerprint(code: str, boilerplate: list[int] | None = None) -> CodeFingerprint:
    return CodeFingerprint("notebook.py", NOISE_TOKENS, WINDOW, boilerplate=boilerplate or [],
                           fp=io.StringIO(code))


def boilerplate_of(notebooks: list[Path]) -> list[int]:
    """The fingerprints of code every student was given (starter, references)."""
    hashes: set[int] = set()
    for path in notebooks:
        if path.is_file():
            hashes |= set(fingerprint(notebook_code(path)).hashes)
    return sorted(hashes)


def similar_pairs(sources: list[Source], threshold: float, boilerplate: list[int],
                  against: list[Source] | None = None) -> list[Pair]:
    """Pairs at or above `threshold` among `sources` (or between `sources` and `against`), most similar first."""
    for s in [*sources, *(against or [])]:
        if s.fingerprint is None:
            s.fingerprint = fingerprint(s.code, boilerplate)
    others = against if against is not None else sources
    postings: dict[int, list[int]] = {}
    for j, s in enumerate(others):
        for h in s.fingerprint.hashes:
            postings.setdefault(h, []).append(j)
    pairs = []
    for i, s in enumerate(sources):
        shared = Counter(j for h in s.fingerprint.hashes for j in postings.get(h, ()))
        for j, count in shared.items():
            if against is None and j <= i:
                continue
            other = others[j]
            smallest = max(1, min(len(s.fingerprint.hashes), len(other.fingerprint.hashes)))
            if count / smallest < threshold / 2:  # cannot reach the threshold: skip the full comparison
                continue
            _, shares, (slices1, slices2) = compare_files(s.fingerprint, other.fingerprint)
            similarity = float(max(shares))
            if similarity >= threshold:
                pairs.append(Pair(s.key, other.key, similarity, (float(shares[0]), float(shares[1])), s.code,
                                  other.code, _ranges(slices1), _ranges(slices2)))
    return sorted(pairs, key=lambda p: -p.similarity)


def _ranges(slices) -> list[tuple[int, int]]:
    if len(slices) == 0 or len(slices[0]) == 0:
        return []
    return [(int(a), int(b)) for a, b in zip(slices[0], slices[1])]
