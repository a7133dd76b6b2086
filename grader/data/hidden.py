"""A hidden test set the instructor keeps private (`[dataset] hidden_from`, or `--hidden-from`).

The default hidden sets of the course's practicals are public (MNIST's and CIFAR's official test
sets, Imagenette's validation images, Stanford Dogs, the end of Tiny Shakespeare): anyone can
download their labels. A private set (new photos of the same classes, a text that is not in the
public corpus) cannot be looked up. Accepted forms:

    image classes   a folder with one sub-folder of images per class (names as in classes.txt);
                    for array sources (MNIST, CIFAR) also an .npz with x (uint8, the source's
                    image shape) and y (class indices). Images for an array source are converted
                    to its size and channels.
    table           a CSV or Parquet file with the source table's feature and label columns,
                    whose labels are classes of this assignment.
    text            one UTF-8 .txt file whose characters are all in the public corpus.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from grader.data.images import IMAGENETTE_CLASSES, IMAGE_SUFFIXES, _breed, _class_folders, _files_digest, _labelled
from grader.data.sources import DataError, RawDataset, RawTable, TextCorpus, sha256_file
from grader.data.tables import header, read_labelled, table_file
from grader.data.text import text_file


def _class_name(folder: str) -> str:
    return IMAGENETTE_CLASSES.get(folder, _breed(folder))


def hidden_examples(path: Path, raw: RawDataset) -> tuple[np.ndarray, np.ndarray, str]:
    """(x, y, digest) of a private hidden set for an image source, in the source's own form."""
    if path.is_file() and path.suffix == ".npz":
        if raw.holds_files:
            raise DataError(f"{path}: this source holds image files: give a folder of <class>/ image folders")
        return _npz(path, raw)
    if not path.is_dir():
        raise DataError(f"{path}: expected a folder with one sub-folder of images per class"
                        f"{'' if raw.holds_files else ', or an .npz with x and y'}")
    by_class = _class_folders(path, lambda name: name if name in raw.classes else _class_name(name))
    unknown = sorted(set(by_class) - set(raw.classes))
    if unknown:
        raise DataError(f"{path}: folders {', '.join(unknown)} are not classes of this assignment "
                        f"(classes: {', '.join(raw.classes)})")
    if not any(by_class.values()):
        raise DataError(f"{path}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in class folders")
    files, y = _labelled(by_class, raw.classes)
    digest = _files_digest(path, files)
    if raw.holds_files:
        return files, y, digest
    return _as_arrays(files, raw.x_train.shape[1:]), y, digest


def _npz(path: Path, raw: RawDataset) -> tuple[np.ndarray, np.ndarray, str]:
    try:
        with np.load(path, allow_pickle=False) as data:
            x, y = data["x"], data["y"].astype(np.int64)
    except KeyError as exc:
        raise DataError(f"{path}: missing array {exc} (expected x and y)") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npz ({exc})") from exc
    if x.dtype != np.uint8 or x.shape[1:] != raw.x_train.shape[1:] or len(x) != len(y):
        raise DataError(f"{path}: x must be uint8 N x {' x '.join(map(str, raw.x_train.shape[1:]))} with one "
                        f"label per image; got {x.dtype} {x.shape} and {len(y)} labels")
    if len(y) and (y.min() < 0 or y.max() >= len(raw.classes)):
        raise DataError(f"{path}: labels outside 0..{len(raw.classes) - 1}")
    return x, y, sha256_file(path)


def _as_arrays(files: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    from PIL import Image

    mode = "L" if len(shape) == 2 else "RGB"
    height, width = shape[0], shape[1]
    images = []
    for f in files:
        try:
            with Image.open(f) as image:
                images.append(np.asarray(image.convert(mode).resize((width, height)), dtype=np.uint8))
        except OSError as exc:
            raise DataError(f"{f}: not a readable image ({exc})") from exc
    return np.stack(images).reshape(len(images), *shape)


def hidden_table(path: Path, raw: RawTable) -> tuple[pd.DataFrame, np.ndarray, str]:
    """(features, y, digest) of a private hidden table, with the source table's columns."""
    path = table_file(path)
    needed = [*(str(c) for c in raw.x_train.columns), raw.label]
    missing = [c for c in needed if c not in header(path)]
    if missing:
        raise DataError(f"{path}: no column {', '.join(missing)}: a private hidden table has the source table's "
                        f"columns ({', '.join(needed)})")
    x, names = read_labelled(path, needed[:-1], raw.label)
    unknown = sorted(set(names.tolist()) - set(raw.classes))
    if unknown:
        raise DataError(f"{path}: labels {', '.join(unknown[:10])} are not classes of this assignment "
                        f"(classes: {', '.join(raw.classes[:20])})")
    index = {c: i for i, c in enumerate(raw.classes)}
    return x, np.array([index[n] for n in names], dtype=np.int64), sha256_file(path)


def hidden_text(path: Path, corpus: TextCorpus) -> tuple[str, str]:
    """(text, digest) of a private hidden text; every character must be one the model can predict."""
    path = text_file(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable UTF-8 text ({exc})") from exc
    outside = sorted(set(text) - set(corpus.text))
    if outside:
        raise DataError(f"{path}: characters not in the public corpus, which no model can predict: "
                        f"{', '.join(map(repr, outside[:20]))}")
    return text, hashlib.sha256(text.encode()).hexdigest()
