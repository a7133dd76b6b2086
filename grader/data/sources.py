"""Dataset sources, registered by name: each loads the raw data from a real download or a local copy.

A source returns a `RawDataset` (images), a `RawTable` (rows of a CSV or Parquet file) or a
`TextCorpus`; `grader.data.prepare` turns it into the public/hidden layout. Known files are checked
against their published checksums, so a truncated or corrupt copy is refused before anything is
written.

Two kinds of source:

- the course's practicals (mnist, digits, cifar10, cifar100, imagenette, dogs, tinyshakespeare):
  downloaders or known archives, whose layout and classes are fixed (`SOURCE_FACTS`);
- generic sources, which read an instructor's own files from `[dataset] path` (or `--from`):
  "image-folders" (grader.data.images), "arrays" (grader.data.arrays), "table"
  (grader.data.tables) and "text" (grader.data.text). Their classes come from the data, and
  `PEEKS` reads them (and the data's form) cheaply, without a prepare (grader.data.facts).
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from grader.course import Assignment


class DataError(RuntimeError):
    """A dataset source is missing, corrupt or malformed."""


@dataclass
class RawDataset:
    """Labelled examples: x holds uint8 image arrays, or (image sources) an object array of file paths."""

    x_train: np.ndarray
    y_train: np.ndarray
    classes: list[str]
    # None: the source has no official test split; prepare carves one out of the training data.
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    checksums: dict[str, str] = field(default_factory=dict)  # source file name -> sha256
    origin: str = ""

    @property
    def holds_files(self) -> bool:
        return self.x_train.dtype == object


@dataclass
class RawTable:
    """Labelled rows: x holds the feature columns (a DataFrame), y the class index of each row."""

    x_train: pd.DataFrame
    y_train: np.ndarray
    classes: list[str]
    label: str  # the label column's name, kept in the public tables
    x_test: None = None  # a table has no test split of its own: prepare carves one, or `hidden_from` gives it
    y_test: None = None
    checksums: dict[str, str] = field(default_factory=dict)
    origin: str = ""


@dataclass
class TextCorpus:
    """One long text (character-level language modelling)."""

    text: str
    checksums: dict[str, str] = field(default_factory=dict)
    origin: str = ""


@dataclass(frozen=True)
class SourceFacts:
    """What a source's prepared data looks like, known before anything is prepared (the student READMEs)."""

    # "arrays": train/valid/test .npz; "files": image files; "table": CSV files; "text": train.txt and prompts
    form: str
    shape: tuple[int, ...] = ()  # one image of an "arrays" source: (H, W) grey or (H, W, 3) RGB
    classes: tuple[str, ...] | None = None  # classes.txt in order, where the source fixes it
    columns: tuple[str, ...] = ()  # a table's feature columns, in order


@dataclass(frozen=True)
class SourceOptions:
    """What an assignment's `[dataset]` says about its source's files (grader.course.Assignment)."""

    label: str = "label"  # a table's label column
    features: tuple[str, ...] | None = None  # a table's feature columns; None: all but the label and row numbers
    classes: tuple[str, ...] | None = None  # the classes kept (image folders skip the others' files), or the
    # names of an .npz's integer labels 0..K-1 when it has no `classes` array

    @classmethod
    def of(cls, assignment: Assignment) -> SourceOptions:
        return cls(assignment.label, assignment.features, assignment.classes)


# (from_path, verify, options): verify=False accepts a local copy that is not byte-identical to the official
# files. A generic source gets its path from `[dataset] path` or `--from`, never None.
Loader = Callable[[Path | None, bool, SourceOptions], "RawDataset | RawTable | TextCorpus"]
# What a generic source's prepared data will look like, read from its files without loading them all:
# the form, an image's shape, a table's columns, and the classes exactly as the loader gives them.
Peek = Callable[[Path, SourceOptions], SourceFacts]
SOURCES: dict[str, Loader] = {}
SOURCE_FACTS: dict[str, SourceFacts] = {}  # the practicals' sources: fixed facts
PEEKS: dict[str, Peek] = {}  # the generic sources


def register(name: str, facts: SourceFacts | None = None, peek: Peek | None = None) -> Callable[[Loader], Loader]:
    """A source with fixed facts, or a generic one (`peek`) whose facts come from its files."""
    def wrap(loader: Loader) -> Loader:
        SOURCES[name] = loader
        if peek is not None:
            PEEKS[name] = peek
        else:
            SOURCE_FACTS[name] = facts
        return loader
    return wrap


DIGIT_CLASSES = tuple(str(d) for d in range(10))
# The class names torchvision's CIFAR-10 and CIFAR-100 (fine labels) carry, in label order.
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR100_CLASSES = tuple("""apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus
butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup
dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion
lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear
pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew
skunk skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger
tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split())


def load_source(name: str, from_path: Path | None, verify: bool = True,
                options: SourceOptions = SourceOptions()) -> RawDataset | RawTable | TextCorpus:
    if name not in SOURCES:
        raise DataError(f"unknown dataset '{name}' (known: {', '.join(sorted(SOURCES))})")
    if name in PEEKS and from_path is None:
        raise DataError(f"the '{name}' source reads your own files: set `path` in the assignment's [dataset], "
                        "or give them with `grader data prepare ASSIGNMENT --from PATH`")
    return SOURCES[name](from_path, verify, options)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_checksums(folder: Path, expected: dict[str, str], verify: bool = True) -> dict[str, str]:
    found = {}
    for name, sha in expected.items():
        path = folder / name
        if not path.is_file():
            raise DataError(f"{path}: missing (expected the files {', '.join(expected)})")
        actual = sha256_file(path)
        if verify and actual != sha:
            raise DataError(f"{path}: sha256 {actual} does not match the published {sha}: "
                            "the file is corrupt or not the official one")
        found[name] = actual
    return found


# --- MNIST -----------------------------------------------------------------------------------------

MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzip or plain) of unsigned bytes, as MNIST ships them."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot be read as {'gzip' if opener is gzip.open else 'IDX'} ({exc})") from exc
    if len(data) < 4:
        raise DataError(f"{path}: too short for an IDX header")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08 or not 1 <= ndim <= 4:
        raise DataError(f"{path}: not an IDX file of unsigned bytes (magic {data[:4].hex()})")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = data[4 + 4 * ndim:]
    if len(body) != int(np.prod(shape)):
        raise DataError(f"{path}: header promises shape {shape} but holds {len(body)} bytes")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


@register("mnist", SourceFacts("arrays", (28, 28), DIGIT_CLASSES))
def load_mnist(from_path: Path | None, verify: bool = True,
               options: SourceOptions = SourceOptions()) -> RawDataset:
    if from_path is None:
        from_path = _download_mnist()
        origin = "torchvision download"
    else:
        origin = str(from_path)
    checksums = verify_checksums(from_path, MNIST_FILES, verify)
    return RawDataset(
        x_train=read_idx(from_path / "train-images-idx3-ubyte.gz"),
        y_train=read_idx(from_path / "train-labels-idx1-ubyte.gz").astype(np.int64),
        x_test=read_idx(from_path / "t10k-images-idx3-ubyte.gz"),
        y_test=read_idx(from_path / "t10k-labels-idx1-ubyte.gz").astype(np.int64),
        classes=list(DIGIT_CLASSES),
        checksums=checksums,
        origin=origin,
    )


def _download_mnist() -> Path:
    # torchvision knows the mirrors and checks the md5s; it leaves the .gz files in MNIST/raw.
    from torchvision.datasets import MNIST

    root = Path(tempfile.mkdtemp(prefix="grader-mnist-"))
    MNIST(root, train=True, download=True)
    return root / "MNIST" / "raw"


# --- scikit-learn's handwritten digits (ships with scikit-learn: the offline demo) -----------------

@register("digits", SourceFacts("arrays", (8, 8), DIGIT_CLASSES))
def load_digits(from_path: Path | None, verify: bool = True,
                options: SourceOptions = SourceOptions()) -> RawDataset:
    if from_path is not None:
        raise DataError("the 'digits' dataset ships with scikit-learn; it takes no --from")
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    # 0-16 grey levels scaled to 0-255 so that notebooks see the same uint8 images as with MNIST.
    x = (bunch.images * (255 / 16)).round().astype(np.uint8)
    raw = x.tobytes() + bunch.target.astype(np.int64).tobytes()
    return RawDataset(x_train=x, y_train=bunch.target.astype(np.int64),
                      classes=list(DIGIT_CLASSES),
                      checksums={"sklearn.datasets.load_digits": hashlib.sha256(raw).hexdigest()},
                      origin="scikit-learn")


# --- CIFAR-10 and CIFAR-100 ------------------------------------------------------------------------
# --from takes torchvision's folder (cifar-10-batches-py / cifar-100-python, md5-checked by
# torchvision) or one .npz with x_train, y_train[_fine], x_test, y_test[_fine] and the class names.

def _load_cifar(from_path: Path | None, hundred: bool) -> RawDataset:
    if from_path is not None:
        npz = from_path if from_path.suffix == ".npz" else _single(from_path, "*.npz")
        if npz is not None:
            return _cifar_npz(npz, hundred)
    from torchvision.datasets import CIFAR10, CIFAR100

    kind = CIFAR100 if hundred else CIFAR10
    root = Path(tempfile.mkdtemp(prefix="grader-cifar-")) if from_path is None else from_path
    try:
        train, test = kind(str(root), train=True, download=from_path is None), kind(str(root), train=False)
    except RuntimeError as exc:  # torchvision: "Dataset not found or corrupted"
        raise DataError(f"{root}: not a torchvision {kind.__name__} folder or .npz ({exc})") from exc
    return RawDataset(x_train=np.asarray(train.data), y_train=np.asarray(train.targets, dtype=np.int64),
                      x_test=np.asarray(test.data), y_test=np.asarray(test.targets, dtype=np.int64),
                      classes=list(train.classes), checksums={"torchvision": f"{kind.__name__} md5-checked"},
                      origin="torchvision download" if from_path is None else str(from_path))


def _single(folder: Path, pattern: str) -> Path | None:
    found = sorted(folder.glob(pattern)) if folder.is_dir() else []
    if len(found) > 1:
        raise DataError(f"{folder}: several {pattern} files ({', '.join(p.name for p in found)}); name one")
    return found[0] if found else None


def _cifar_npz(path: Path, hundred: bool) -> RawDataset:
    suffix = "_fine" if hundred else ""
    names_key = "fine_label_names" if hundred else "class_names"
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in ("x_train", f"y_train{suffix}", "x_test", f"y_test{suffix}", names_key)}
    except KeyError as exc:
        raise DataError(f"{path}: missing array {exc} (expected x_train, y_train{suffix}, x_test, "
                        f"y_test{suffix}, {names_key})") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npz ({exc})") from exc
    if arrays["x_train"].dtype != np.uint8 or arrays["x_train"].ndim != 4:
        raise DataError(f"{path}: x_train must be uint8 N x H x W x C, got {arrays['x_train'].dtype} "
                        f"{arrays['x_train'].shape}")
    return RawDataset(x_train=arrays["x_train"], y_train=arrays[f"y_train{suffix}"].astype(np.int64),
                      x_test=arrays["x_test"], y_test=arrays[f"y_test{suffix}"].astype(np.int64),
                      classes=[str(c) for c in arrays[names_key]], checksums={path.name: sha256_file(path)},
                      origin=str(path))


@register("cifar10", SourceFacts("arrays", (32, 32, 3), CIFAR10_CLASSES))
def load_cifar10(from_path: Path | None, verify: bool = True,
                 options: SourceOptions = SourceOptions()) -> RawDataset:
    return _load_cifar(from_path, hundred=False)


@register("cifar100", SourceFacts("arrays", (32, 32, 3), CIFAR100_CLASSES))
def load_cifar100(from_path: Path | None, verify: bool = True,
                  options: SourceOptions = SourceOptions()) -> RawDataset:
    return _load_cifar(from_path, hundred=True)
