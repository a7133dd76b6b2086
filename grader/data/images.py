"""Image-folder sources: labelled lists of image files, one folder per class.

"image-folders" reads an instructor's own images from `[dataset] path` (or `--from`), in one of
two layouts:

    <path>/<class>/*.jpg|png                 no test split: prepare carves the hidden test out of it
    <path>/train/<class>/*, test/<class>/*   a given test split: test/ is the hidden test set
                                             (train/ alone is the first layout, one level down)

The class of an image is its folder's name; classes.txt lists them in alphabetical order (as
torchvision's ImageFolder indexes them), or in the order of `[dataset] classes`, which keeps only
those classes. Folders whose name starts with a dot are skipped; any other folder with no image
(.jpg, .jpeg, .png) is an error, and so is a test/ class that train/ does not have. Each image
file's checksum is recorded (grader.data.lock).

Imagenette and Stanford Dogs are the same loader with their folder names mapped to class names.
There is no torchvision downloader for them; `--from` takes the extracted download, whose URL the
error message gives.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Callable

import numpy as np

from grader.data.sources import DataError, RawDataset, SourceFacts, SourceOptions, register, sha256_file

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
TEST_FOLDER = "test"  # the given test split of "image-folders" (Imagenette calls it val/)

# Imagenette's ten ImageNet classes, named so that a folder name is also the class name.
IMAGENETTE_CLASSES = {
    "n01440764": "tench", "n02102040": "english_springer", "n02979186": "cassette_player",
    "n03000684": "chain_saw", "n03028079": "church", "n03394916": "french_horn",
    "n03417042": "garbage_truck", "n03425413": "gas_pump", "n03445777": "golf_ball",
    "n03888257": "parachute",
}
IMAGENETTE_URL = "https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-160.tgz"
STANFORD_DOGS_URL = "http://vision.stanford.edu/aditya86/ImageNetDogs/images.tar"


def _same(folder_name: str) -> str:
    return folder_name


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                  and not p.is_symlink())


def _sub_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _class_folders(root: Path, name_of: Callable[[str], str],
                   wanted: tuple[str, ...] | None = None) -> dict[str, list[Path]]:
    """class name -> its image files, for every sub-folder; `wanted`: list the files of these classes only
    (the others appear with none), so that two breeds out of 120 do not cost reading all 120."""
    found: dict[str, list[Path]] = {}
    for folder in _sub_folders(root):
        name = name_of(folder.name)
        found.setdefault(name, []).extend(_images(folder) if wanted is None or name in wanted else [])
    return found


def _labelled(by_class: dict[str, list[Path]], classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    paths = [str(p) for c in classes for p in by_class.get(c, [])]
    labels = [i for i, c in enumerate(classes) for _ in by_class.get(c, [])]
    return np.array(paths, dtype=object), np.array(labels, dtype=np.int64)


def file_checksums(root: Path, files: np.ndarray) -> dict[str, str]:
    """Each file's sha256, by its path under root."""
    return {str(Path(f).relative_to(root)): sha256_file(Path(f)) for f in sorted(files)}


def _files_digest(root: Path, files: np.ndarray) -> str:
    lines = sorted(f"{name} {sha}" for name, sha in file_checksums(root, files).items())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def split_folders(root: Path, test_folder: str = TEST_FOLDER) -> tuple[Path, Path | None]:
    """(the training classes' folder, the given test split's or None), by the layout in the module docstring."""
    if not root.is_dir():
        raise DataError(f"{root}: expected a folder with one sub-folder of images per class")
    if not (root / "train").is_dir():
        return root, None
    others = [p.name for p in _sub_folders(root) if p.name not in ("train", test_folder)]
    if others:
        raise DataError(f"{root}: holds train/ and also {', '.join(others)}: with a train/ folder, the classes go "
                        f"in train/<class>/ and a given test split in {test_folder}/<class>/, nothing else")
    test = root / test_folder
    return root / "train", test if test.is_dir() else None


def load_image_folders(root: Path, name_of: Callable[[str], str] = _same, test_folder: str = TEST_FOLDER,
                       wanted: tuple[str, ...] | None = None) -> RawDataset:
    """The images under root (see the module docstring), labelled by their folders' class names."""
    train_dir, test_dir = split_folders(root, test_folder)
    train = _class_folders(train_dir, name_of, wanted)
    test = _class_folders(test_dir, name_of, wanted) if test_dir else {}
    empty = [c for c, files in train.items() if not files and (wanted is None or c in wanted)]
    if empty:
        raise DataError(f"{train_dir}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in the class folder(s) "
                        f"{', '.join(empty)}")
    if len(train) < 2:
        raise DataError(f"{train_dir}: expected one folder of images per class, at least two; found {len(train)}")
    unknown = sorted(set(test) - set(train))
    if unknown:
        raise DataError(f"{test_dir}: class folder(s) {', '.join(unknown)} are not in {train_dir}")
    classes = sorted(train)  # sorted: torchvision's ImageFolder gives the same class indices
    x_train, y_train = _labelled(train, classes)
    x_test, y_test = _labelled(test, classes) if test_dir else (None, None)
    every = x_train if x_test is None else np.concatenate([x_train, x_test])
    return RawDataset(x_train, y_train, classes, x_test, y_test, checksums=file_checksums(root, every),
                      origin=str(root))


def peek_image_folders(root: Path, options: SourceOptions) -> SourceFacts:
    train_dir, _ = split_folders(root)
    return SourceFacts("files", classes=tuple(sorted(p.name for p in _sub_folders(train_dir))))


@register("image-folders", peek=peek_image_folders)
def load_folders(from_path: Path | None, verify: bool = True, options: SourceOptions = SourceOptions()) -> RawDataset:
    return load_image_folders(from_path, wanted=options.classes)


def _wnid_class(wnid: str) -> str:
    return IMAGENETTE_CLASSES.get(wnid, wnid.lower())


@register("imagenette", SourceFacts("files", classes=tuple(sorted(IMAGENETTE_CLASSES.values()))))
def load_imagenette(from_path: Path | None, verify: bool = True,
                    options: SourceOptions = SourceOptions()) -> RawDataset:
    if from_path is None:
        raise DataError(f"Imagenette has no automatic download here: download {IMAGENETTE_URL}, extract it "
                        "and run `grader data prepare <assignment> --from imagenette2-160`")
    if not (from_path / "train").is_dir():
        raise DataError(f"{from_path}: expected Imagenette's layout train/<wnid>/*.JPEG (and val/<wnid>/)")
    return load_image_folders(from_path, _wnid_class, "val", options.classes)


def _breed(folder_name: str) -> str:
    # Stanford Dogs names its folders "n02088364-beagle"; a plain "beagle" folder is fine too.
    return re.sub(r"^n\d{8}-", "", folder_name).lower()


@register("dogs", SourceFacts("files"))
def load_dogs(from_path: Path | None, verify: bool = True, options: SourceOptions = SourceOptions()) -> RawDataset:
    if from_path is None:
        raise DataError(f"Stanford Dogs has no automatic download here: download {STANFORD_DOGS_URL}, extract "
                        "it and run `grader data prepare <assignment> --from Images` (one folder per breed)")
    if not from_path.is_dir():
        raise DataError(f"{from_path}: expected a folder with one sub-folder of images per breed")
    return load_image_folders(from_path, _breed, wanted=options.classes)
