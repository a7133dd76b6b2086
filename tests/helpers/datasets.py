"""The course datasets for tests: ../shared/datasets when present, small generated copies otherwise.

The generated copies have the real sources' formats (IDX .gz, CIFAR .npz, JPEG folders, a text
file), with images that a model can learn a little from: each class has its own brightness and
colour, plus noise.
"""

from __future__ import annotations

import csv
import gzip
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from tests.helpers import SHARED_DATASETS

# assignment -> (folder under ../shared/datasets, whether its files are the official ones)
SHARED = {"mnist": "mnist", "cifar10": "cifar10", "cifar100": "cifar100", "imagenet-subset": "imagenette",
          "text-generation": "text", "dog-breeds": "dogs"}


def dataset_for(assignment: str, scratch: Path) -> tuple[Path, bool]:
    """(the folder to pass to `grader data prepare --from`, verify), shared data first."""
    shared = SHARED_DATASETS / SHARED[assignment]
    if shared.is_dir():
        return shared, True
    target = scratch / SHARED[assignment]
    if not target.exists():
        GENERATORS[assignment](target, np.random.default_rng(0))
    return target, False


def _images(rng, n: int, n_classes: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, n_classes, n)
    base = (labels * (200 // max(n_classes - 1, 1)) + 20)[:, None]
    flat = base + rng.normal(0, 12, (n, int(np.prod(shape))))
    return np.clip(flat, 0, 255).astype(np.uint8).reshape(n, *shape), labels


def _idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def make_mnist(folder: Path, rng) -> None:
    folder.mkdir(parents=True)
    for prefix, n in (("train", 1200), ("t10k", 300)):
        x, y = _images(rng, n, 10, (28, 28))
        _idx(folder / f"{prefix}-images-idx3-ubyte.gz", x)
        _idx(folder / f"{prefix}-labels-idx1-ubyte.gz", y)


def _make_cifar(path: Path, rng, n_classes: int, hundred: bool) -> None:
    path.parent.mkdir(parents=True)
    x_train, y_train = _images(rng, 600, n_classes, (32, 32, 3))
    x_test, y_test = _images(rng, 200, n_classes, (32, 32, 3))
    suffix, names = ("_fine", "fine_label_names") if hundred else ("", "class_names")
    np.savez(path, x_train=x_train, x_test=x_test, **{f"y_train{suffix}": y_train, f"y_test{suffix}": y_test,
                                                      names: np.array([f"class{i}" for i in range(n_classes)])})


def _jpegs(folder: Path, rng, count: int, colour: tuple[int, int, int], size: tuple[int, int], prefix: str) -> None:
    folder.mkdir(parents=True)
    for i in range(count):
        pixels = np.clip(np.array(colour) + rng.normal(0, 25, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{prefix}_{i:04d}.JPEG", quality=85)


def make_imagenette(folder: Path, rng) -> None:
    wnids = ["n01440764", "n02102040", "n02979186", "n03000684"]
    for k, wnid in enumerate(wnids):
        colour = (60 * k + 20, 200 - 50 * k, 100)
        _jpegs(folder / "train" / wnid, rng, 30, colour, (96, 80), wnid)
        _jpegs(folder / "val" / wnid, rng, 8, colour, (96, 80), f"{wnid}_val")


def make_dogs(folder: Path, rng) -> None:
    _jpegs(folder / "beagle", rng, 40, (150, 90, 40), (120, 100), "n02088364")
    _jpegs(folder / "samoyed", rng, 40, (235, 235, 230), (100, 120), "n02111889")


def make_text(folder: Path, rng) -> None:
    folder.mkdir(parents=True)
    words = ["the", "king", "shall", "speak", "to", "my", "lord", "and", "her", "grace", "thou", "art"]
    text = " ".join(rng.choice(words, 12000)).replace("art ", "art.\n")
    (folder / "input.txt").write_text(text, encoding="utf-8")


GENERATORS = {
    "mnist": make_mnist,
    "cifar10": lambda folder, rng: _make_cifar(folder / "cifar10.npz", rng, 10, hundred=False),
    "cifar100": lambda folder, rng: _make_cifar(folder / "cifar100.npz", rng, 100, hundred=True),
    "imagenet-subset": make_imagenette,
    "text-generation": make_text,
    "dog-breeds": make_dogs,
}


# An instructor's own data, as `grader new assignment --data` takes it.
SHAPES = ("circle", "cross", "square")
SPECIES = ("adelie", "chinstrap", "gentoo")


def shape_images(root: Path, per_class: int = 12, size: int = 8) -> Path:
    """Tiny RGB PNGs of three drawn shapes on noise, one folder per class (image-folders)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    c, r = (size - 1) / 2, size / 3
    masks = {"circle": (yy - c) ** 2 + (xx - c) ** 2 < r * r, "cross": (abs(yy - xx) < 1) | (abs(yy + xx - 2 * c) < 1),
             "square": (abs(yy - c) < r) & (abs(xx - c) < r)}
    for name in SHAPES:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 60, (size, size, 3))
            pixels[masks[name]] += 180
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i:03d}.png")
    return root


def species_table(path: Path, rows: int = 90) -> Path:
    """A CSV of three species, told apart by their bill, with a text column and a label column (table)."""
    rng = np.random.default_rng(1)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["bill_mm", "island", "species"])
        for i in range(rows):
            writer.writerow([round(38 + 5 * (i % 3) + rng.normal(), 2), ["biscoe", "dream"][i % 2],
                             ["adelie", "gentoo", "chinstrap"][i % 3]])
    return path
