"""Build an assignment's data: public training data, hidden test inputs, and the labels kept apart.

Layout under `<workdir>/data/<assignment>/` (all of it deterministic from the assignment's seed):

    public/   train.npz (x, y), valid.npz (x, y), classes.txt   -> the notebook's data_dir
    test/     test.npz (id, x)                                   -> the notebook's test_dir
    private/  labels.csv (id, label, split)                      -> never given to a notebook
    check/    test/test.npz, labels.csv                          -> `grader check`: validation split
    manifest.json                                                -> checksums, counts, version
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.course import Assignment, Course
from grader.data.sources import DataError, RawDataset, load_source, sha256_file

# A source without an official test split gives this share of its examples to the hidden test set.
CARVED_TEST_FRACTION = 0.3


@dataclass(frozen=True)
class DataLayout:
    root: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "public"

    @property
    def test_dir(self) -> Path:
        return self.root / "test"

    @property
    def labels(self) -> Path:
        return self.root / "private" / "labels.csv"

    @property
    def check_test_dir(self) -> Path:
        return self.root / "check" / "test"

    @property
    def check_labels(self) -> Path:
        return self.root / "check" / "labels.csv"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def classes(self) -> list[str]:
        return (self.data_dir / "classes.txt").read_text(encoding="utf-8").splitlines()

    def manifest(self) -> dict:
        if not self.manifest_path.is_file():
            raise DataError(f"{self.root}: data not prepared; run `grader data prepare "
                            f"{self.root.name}` first")
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))


def layout(course: Course, assignment: Assignment) -> DataLayout:
    return DataLayout(course.workdir / "data" / assignment.name)


def prepare(course: Course, assignment: Assignment, from_path: Path | None = None) -> dict:
    """Load the source, split it and write the layout atomically; return the manifest."""
    if from_path is not None and not Path(from_path).exists():
        raise DataError(f"{from_path}: no such file or folder")
    raw = load_source(assignment.dataset, Path(from_path) if from_path else None)
    _check_raw(raw)
    target = layout(course, assignment)
    target.root.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and swap it in whole: a crash never leaves half-written data.
    staging = Path(tempfile.mkdtemp(prefix=f".{assignment.name}-", dir=target.root.parent))
    try:
        manifest = _write_layout(DataLayout(staging), raw, assignment)
        if target.root.exists():
            shutil.rmtree(target.root)
        staging.rename(target.root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _check_raw(raw: RawDataset) -> None:
    if len(raw.x_train) != len(raw.y_train):
        raise DataError(f"{raw.origin}: {len(raw.x_train)} training inputs but {len(raw.y_train)} labels")
    if raw.y_train.min() < 0 or raw.y_train.max() >= len(raw.classes):
        raise DataError(f"{raw.origin}: labels outside 0..{len(raw.classes) - 1}")


def opaque_ids(seed: int, name: str, count: int) -> np.ndarray:
    """Ids that say nothing about order or label, and are the same for the same seed."""
    return np.array([hashlib.sha256(f"{name}:{seed}:{i}".encode()).hexdigest()[:12] for i in range(count)])


def _write_layout(out: DataLayout, raw: RawDataset, a: Assignment) -> dict:
    rng = np.random.default_rng(a.seed)
    x_train, y_train, x_test, y_test = raw.x_train, raw.y_train, raw.x_test, raw.y_test
    if x_test is None:
        order = rng.permutation(len(x_train))
        cut = int(round(len(order) * CARVED_TEST_FRACTION))
        x_test, y_test = x_train[order[:cut]], y_train[order[:cut]]
        x_train, y_train = x_train[order[cut:]], y_train[order[cut:]]

    order = rng.permutation(len(x_train))
    n_valid = int(round(len(order) * a.validation_fraction))
    valid, train = order[:n_valid], order[n_valid:]

    for folder in (out.data_dir, out.test_dir, out.labels.parent, out.check_test_dir):
        folder.mkdir(parents=True, exist_ok=True)
    np.savez(out.data_dir / "train.npz", x=x_train[train], y=y_train[train])
    np.savez(out.data_dir / "valid.npz", x=x_train[valid], y=y_train[valid])
    (out.data_dir / "classes.txt").write_text("\n".join(raw.classes) + "\n", encoding="utf-8")

    test_order = rng.permutation(len(x_test))
    test_ids = opaque_ids(a.seed, f"{a.name}/test", len(x_test))
    n_public = int(round(len(x_test) * a.public_fraction))
    splits = np.where(np.arange(len(x_test)) < n_public, "public", "private")
    np.savez(out.test_dir / "test.npz", id=test_ids, x=x_test[test_order])
    _write_labels(out.labels, test_ids, y_test[test_order], splits)

    check_ids = opaque_ids(a.seed, f"{a.name}/check", len(valid))
    np.savez(out.check_test_dir / "test.npz", id=check_ids, x=x_train[valid])
    _write_labels(out.check_labels, check_ids, y_train[valid], np.full(len(valid), "public"))

    files = sorted(p for p in out.root.rglob("*") if p.is_file())
    outputs = {str(p.relative_to(out.root)): sha256_file(p) for p in files}
    manifest = {
        "dataset": a.dataset,
        "origin": raw.origin,
        "seed": a.seed,
        "sources": raw.checksums,
        "counts": {"train": int(len(train)), "valid": int(n_valid), "test": int(len(x_test)),
                   "test_public": int(n_public), "test_private": int(len(x_test) - n_public)},
        "classes": raw.classes,
        "outputs": outputs,
        # The data version: any change to the source, seed or split changes it.
        "sha256": hashlib.sha256(json.dumps(outputs, sort_keys=True).encode()).hexdigest(),
    }
    out.manifest_path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def _write_labels(path: Path, ids: np.ndarray, labels: np.ndarray, splits: np.ndarray) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "label", "split"])
        writer.writerows(zip(ids.tolist(), labels.tolist(), splits.tolist()))


def read_labels(path: Path) -> dict[str, tuple[int, str]]:
    """id -> (class index, split) from a labels.csv written above."""
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["id"]: (int(row["label"]), row["split"]) for row in csv.DictReader(fh)}
