"""Image-folder sources (Imagenette, Stanford Dogs): labelled lists of image files.

There is no torchvision downloader for these; `--from` takes the extracted download, whose URL
the error message gives. The files are hashed into the manifest, so a changed copy changes the
assignment version.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

from grader.data.sources import DataError, RawDataset, SourceFacts, register, sha256_file

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}

# Imagenette's ten ImageNet classes, named so that a folder name is also the class name.
IMAGENETTE_CLASSES = {
    "n01440764": "tench", "n02102040": "english_springer", "n02979186": "cassette_player",
    "n03000684": "chain_saw", "n03028079": "church", "n03394916": "french_horn",
    "n03417042": "garbage_truck", "n03425413": "gas_pump", "n03445777": "golf_ball",
    "n03888257": "parachute",
}
IMAGENETTE_URL = "https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-160.tgz"
STANFORD_DOGS_URL = "http://vision.stanford.edu/aditya86/ImageNetDogs/images.tar"


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                  and not p.is_symlink())


def _class_folders(root: Path, name_of) -> dict[str, list[Path]]:
    """class name -> its image files, for every sub-folder that holds images."""
    found: dict[str, list[Path]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = _images(folder)
        if files:
            found.setdefault(name_of(folder.name), []).extend(files)
    return found


def _labelled(by_class: dict[str, list[Path]], classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    paths = [str(p) for c in classes for p in by_class.get(c, [])]
    labels = [i for i, c in enumerate(classes) for _ in by_class.get(c, [])]
    return np.array(paths, dtype=object), np.array(labels, dtype=np.int64)


def _files_digest(root: Path, files: np.ndarray) -> str:
    lines = sorted(f"{Path(f).relative_to(root)} {sha256_file(Path(f))}" for f in files)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


@register("imagenette", SourceFacts("files", classes=tuple(sorted(IMAGENETTE_CLASSES.values()))))
def load_imagenette(from_path: Path | None, verify: bool = True) -> RawDataset:
    if from_path is None:
        raise DataError(f"Imagenette has no automatic download here: download {IMAGENETTE_URL}, extract it "
                        "and run `grader data prepare <assignment> --from imagenette2-160`")
    train_dir, val_dir = from_path / "train", from_path / "val"
    if not train_dir.is_dir():
        raise DataError(f"{from_path}: expected Imagenette's layout train/<wnid>/*.JPEG (and val/<wnid>/)")
    train = _class_folders(train_dir, lambda wnid: IMAGENETTE_CLASSES.get(wnid, wnid.lower()))
    val = _class_folders(val_dir, lambda wnid: IMAGENETTE_CLASSES.get(wnid, wnid.lower())) if val_dir.is_dir() else {}
    if len(train) < 2:
        raise DataError(f"{train_dir}: expected one folder of images per class, found {len(train)}")
    classes = sorted(train)  # sorted: torchvision's ImageFolder gives the same class indices
    x_train, y_train = _labelled(train, classes)
    x_test, y_test = _labelled(val, classes) if val else (None, None)
    every = x_train if x_test is None else np.concatenate([x_train, x_test])
    return RawDataset(x_train, y_train, classes, x_test, y_test,
                      checksums={"images": _files_digest(from_path, every)}, origin=str(from_path))


def _breed(folder_name: str) -> str:
    # Stanford Dogs names its folders "n02088364-beagle"; a plain "beagle" folder is fine too.
    return re.sub(r"^n\d{8}-", "", folder_name).lower()


@register("dogs", SourceFacts("files"))
def load_dogs(from_path: Path | None, verify: bool = True) -> RawDataset:
    if from_path is None:
        raise DataError(f"Stanford Dogs has no automatic download here: download {STANFORD_DOGS_URL}, extract "
                        "it and run `grader data prepare <assignment> --from Images` (one folder per breed)")
    if not from_path.is_dir():
        raise DataError(f"{from_path}: expected a folder with one sub-folder of images per breed")
    by_breed = _class_folders(from_path, _breed)
    if len(by_breed) < 2:
        raise DataError(f"{from_path}: expected at least two breed folders of images, found {len(by_breed)}")
    classes = sorted(by_breed)
    x, y = _labelled(by_breed, classes)
    return RawDataset(x, y, classes, checksums={"images": _files_digest(from_path, x)}, origin=str(from_path))
