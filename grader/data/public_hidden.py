"""Public hidden sets defended: the public labelled copy of a dataset must not work as an answer key.

Where the hidden split comes from a public source (MNIST's and CIFAR's test sets, Imagenette's
validation images, the end of Tiny Shakespeare), anyone can download its labels, sort them by a hash
of each input and carry the table into a notebook. Three things, all drawn from the course secret,
stand in the way (a private hidden set, `hidden_from`, needs none of them):

- a secret subset: a secret share (KEPT_SHARE) of the split, in a secret order, so neither the size
  nor the order of the hidden set says which public items it holds;
- a transform: each image is moved by a faint sub-pixel shift and rounded back to integers with
  noise (stochastic rounding), so its bytes and hash match no public item, while a model's accuracy
  does not move (`benchmarks/public_hidden.py` measures it);
- canaries: hidden items that no public test table covers. For images, training examples held out
  of the public training data with the public seed (CANARY_SHARE of the test split's size), of which
  a secret subset is mixed into the hidden set, transformed like the rest: they come from the same
  distribution, so an honest model scores the same on them, while a table of the public test split
  misses them. For text, prompts whose first half is spliced from another hidden passage: a lookup
  of the whole prompt in the corpus fails, while the characters just before the answer are the
  text's own. A hand-in far better on the other items than on the canaries is flagged `lookup`
  (grader.audit.evidence). None of our data is unpublished: the whole of every source (training
  split included) can be downloaded with its labels, so a notebook that carries the labels of the
  held-out training examples too escapes the flag, at the price of more carried data (screened).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

KEPT_SHARE = (0.85, 0.95)  # the share of the public split that is kept, drawn between these
CANARY_SHARE = 0.2  # of the test split's size: the canaries' pool (images), or of the hidden prompts (text)
# Shifts in pixels of a 28-pixel side (MNIST), scaled to each image's side: small enough that a model
# does not notice (0.2 points of accuracy for a nearest-centroid model on MNIST, the most sensitive
# measured), large enough that rounding changes every image.
SHIFT = (0.05, 0.15)
CANARIES_FILE = "canaries.txt"  # beside labels.csv: the ids of the canary items, one a line


def secret_subset(n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of a secret share of n items, in a secret order."""
    kept = int(round(n * rng.uniform(*KEPT_SHARE)))
    return rng.permutation(n)[:kept]


def canary_mask(n: int, rng: np.random.Generator) -> np.ndarray:
    """Which of n items are canaries: CANARY_SHARE of them, at secret positions."""
    mask = np.zeros(n, dtype=bool)
    mask[rng.permutation(n)[:int(round(n * CANARY_SHARE))]] = True
    return mask


def _shift_along(x: np.ndarray, shift: np.ndarray, axis: int) -> np.ndarray:
    """Each image of x (float, N first) moved by its own shift along one axis: linear interpolation,
    edges repeated."""
    size = x.shape[axis]
    position = np.arange(size)[None, :] - shift[:, None]
    low = np.floor(position)
    shape = [len(x)] + [1] * (x.ndim - 1)
    shape[axis] = size
    weight = (position - low).reshape(shape)
    low = low.astype(np.int64)
    below = np.take_along_axis(x, np.clip(low, 0, size - 1).reshape(shape), axis)
    above = np.take_along_axis(x, np.clip(low + 1, 0, size - 1).reshape(shape), axis)
    return below * (1 - weight) + above * weight


def mix_canaries(x_test: np.ndarray, y_test: np.ndarray, x_pool: np.ndarray, y_pool: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, is_canary): secret subsets of the test split and of the canaries' pool, in one secret order."""
    test, pool = secret_subset(len(x_test), rng), secret_subset(len(x_pool), rng)
    x, y = np.concatenate([x_test[test], x_pool[pool]]), np.concatenate([y_test[test], y_pool[pool]])
    canary = np.arange(len(x)) >= len(test)
    order = rng.permutation(len(x))
    return x[order], y[order], canary[order]


def transform_images(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 images (N x H x W, or N x H x W x C) shifted by a fraction of a pixel and rounded with noise."""
    moved = x.astype(np.float32)
    for axis in (1, 2):
        shift = rng.uniform(*SHIFT, len(x)) * rng.choice((-1.0, 1.0), len(x)) * x.shape[axis] / 28
        moved = _shift_along(moved, shift, axis)
    rounded = np.floor(moved + rng.random(moved.shape, dtype=np.float32))
    return np.clip(rounded, 0, 255).astype(np.uint8)


def encode_hidden_image(source: Path, target: Path, rng: np.random.Generator | None) -> None:
    """An image file decoded, transformed as above when `rng` is given, and written as JPEG at quality 95
    whatever the source's format, from its pixels alone: no EXIF, ICC profile or text chunk of the source."""
    from PIL import Image

    with Image.open(source) as image:
        pixels = np.asarray(image.convert("RGB"))
    if rng is not None:
        pixels = transform_images(pixels[None], rng)[0]
    Image.fromarray(pixels).save(target, format="JPEG", quality=95)


def splice_prompts(prompts: list[str], canary: np.ndarray) -> list[str]:
    """Canary prompts get their first half from the next prompt: no passage of the corpus holds them
    whole, while the characters just before the answer are still the text's own."""
    half = len(prompts[0]) // 2 if prompts else 0
    return [prompts[(i + 1) % len(prompts)][:half] + p[half:] if is_canary else p
            for i, (p, is_canary) in enumerate(zip(prompts, canary))]


def write_canaries(labels: Path, ids: np.ndarray) -> None:
    labels.with_name(CANARIES_FILE).write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")


def read_canaries(labels: Path) -> set[str]:
    """The canary ids of the hidden set whose labels.csv this is; empty for a private or practice set."""
    path = labels.with_name(CANARIES_FILE)
    return set(path.read_text(encoding="utf-8").split()) if path.is_file() else set()
