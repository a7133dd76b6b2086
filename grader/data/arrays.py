"""The "arrays" source: an instructor's images in one .npz file (`[dataset] path`, or `--from`).

    x                uint8 images, N x H x W (grey) or N x H x W x 3 (RGB)
    y                each image's label: a class index 0..K-1, or a class name
    x_test, y_test   optional: a given test split, the hidden test set (else prepare carves one out)
    classes          optional: the class names, entry i naming class i

The classes are the npz's `classes` array; without it, integer labels are named by `[dataset]
classes` (entry i names class i), and name labels give their sorted distinct names. As for every
source, `[dataset] classes` beside a `classes` array (or name labels) keeps only those classes, in
that order. The path may be a folder holding one .npz. The file's checksum is recorded
(grader.data.lock). Other arrays (feature vectors) are a table's: use the "table" source.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from grader.data.sources import (DataError, RawDataset, SourceFacts, SourceOptions, _single, register,
                                 sha256_file)

KEYS = ("x", "y", "x_test", "y_test", "classes")


def _npz(from_path: Path) -> Path:
    path = from_path if from_path.is_file() else _single(from_path, "*.npz")
    if path is None:
        raise DataError(f"{from_path}: expected an .npz file (x, y and optionally x_test, y_test, classes), "
                        "or a folder with one")
    return path


def _check_images(path: Path, key: str, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    if dtype != np.uint8 or not (len(shape) == 3 or (len(shape) == 4 and shape[3] == 3)):
        raise DataError(f"{path}: {key} must be uint8 images, N x H x W (grey) or N x H x W x 3 (RGB); got {dtype} "
                        f"{' x '.join(map(str, shape))} (feature vectors: use the \"table\" source)")


def _classes(path: Path, arrays: dict[str, np.ndarray], options: SourceOptions) -> list[str]:
    """The class names, entry i naming class i (see the module docstring)."""
    labels = [arrays[k] for k in ("y", "y_test") if k in arrays]
    for y in labels:
        if y.dtype.kind not in "iuU":
            raise DataError(f"{path}: labels must be class indices (integers) or class names; got {y.dtype}")
    if "classes" in arrays:
        return [str(c) for c in arrays["classes"]]
    if labels[0].dtype.kind != "U":
        if options.classes is None:
            raise DataError(f"{path}: integer labels need class names: a `classes` array in the .npz, or "
                            "`classes = [...]` in the assignment's [dataset] (entry i names class i)")
        return list(options.classes)
    return sorted({str(v) for y in labels for v in y})


def _indices(path: Path, key: str, y: np.ndarray, classes: list[str]) -> np.ndarray:
    if y.dtype.kind == "U":
        index = {c: i for i, c in enumerate(classes)}
        unknown = sorted({str(v) for v in y} - set(index))
        if unknown:
            raise DataError(f"{path}: {key} names {', '.join(unknown[:10])}, not in its classes "
                            f"({', '.join(classes[:20])})")
        return np.array([index[str(v)] for v in y], dtype=np.int64)
    if len(y) and (y.min() < 0 or y.max() >= len(classes)):
        raise DataError(f"{path}: {key} holds labels outside 0..{len(classes) - 1} ({len(classes)} classes)")
    return y.astype(np.int64)


def _read(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("x", "y") if k not in data.files]
            if missing:
                raise DataError(f"{path}: no array {', '.join(missing)} (it has {', '.join(data.files)}; expected "
                                "x, y and optionally x_test, y_test, classes)")
            if ("x_test" in data.files) != ("y_test" in data.files):
                raise DataError(f"{path}: a given test split needs both x_test and y_test")
            return {k: data[k] for k in keys if k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:  # ValueError: object arrays, which need pickle
        raise DataError(f"{path}: not a readable .npz of plain arrays ({exc})") from exc


def _header_shape(path: Path, key: str) -> tuple[np.dtype, tuple[int, ...]] | None:
    """(dtype, shape) of one array of an .npz from its header alone; None when the header is of a rare version."""
    fmt = np.lib.format
    with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as fh:
        reader = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(fmt.read_magic(fh))
        if reader is None:
            return None
        shape, _, dtype = reader(fh)
    return dtype, shape


def peek_arrays(from_path: Path, options: SourceOptions) -> SourceFacts:
    path = _npz(from_path)
    arrays = _read(path, ("y", "y_test", "classes"))  # the labels: small beside the images
    try:
        found = _header_shape(path, "x")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz of plain arrays ({exc})") from exc
    if found is None:
        x = _read(path, ("x",))["x"]
        found = x.dtype, x.shape
    dtype, shape = found
    _check_images(path, "x", dtype, shape)
    return SourceFacts("arrays", tuple(shape[1:]), tuple(_classes(path, arrays, options)))


@register("arrays", peek=peek_arrays)
def load_arrays(from_path: Path | None, verify: bool = True, options: SourceOptions = SourceOptions()) -> RawDataset:
    path = _npz(from_path)
    arrays = _read(path, KEYS)
    for x_key, y_key in (("x", "y"), ("x_test", "y_test")):
        if x_key not in arrays:
            continue
        x, y = arrays[x_key], arrays[y_key]
        _check_images(path, x_key, x.dtype, x.shape)
        if x.shape[1:] != arrays["x"].shape[1:]:
            raise DataError(f"{path}: x_test's images are {x.shape[1:]}, x's {arrays['x'].shape[1:]}: give them "
                            "one size")
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{path}: {y_key} must hold one label per image of {x_key} ({len(x)}); got shape {y.shape}")
    classes = _classes(path, arrays, options)
    given = "x_test" in arrays
    return RawDataset(arrays["x"], _indices(path, "y", arrays["y"], classes), classes,
                      arrays["x_test"] if given else None,
                      _indices(path, "y_test", arrays["y_test"], classes) if given else None,
                      checksums={path.name: sha256_file(path)}, origin=str(path))
