"""Config validation names file/key/expected; data prepare is deterministic and keeps labels apart."""

from __future__ import annotations

import gzip
import json
import shutil
import struct

import numpy as np
import pytest

from grader.course import ConfigError, load_course
from grader.data import DataError, layout, prepare, read_labels
from grader.data.sources import MNIST_FILES
from tests.helpers import REPO, SHARED_DATASETS, make_course


def test_repository_course_and_demo_load():
    course = load_course(REPO)
    assert "mnist" in course.assignments and course.language == "es"
    mnist = course.assignment("mnist")
    assert mnist.dataset == "mnist" and mnist.resources.gpu and mnist.deadline.hour == 23
    assert load_course(REPO / "demo").assignment("digits").scale.grade(0.89) == pytest.approx(5.0)


@pytest.mark.parametrize("text, key, expected", [
    ("grade_scale = [[0.9, 0], [0.5, 10]]\n[dataset]\nname = 'digits'", "grade_scale", "increasing metrics"),
    ("[dataset]\nname = 'digits'\n[limits]\ntime_limit_s = -3", "limits.time_limit_s", "a positive"),
    ("[dataset]\nname = 'digits'\n[metrics]\nprimary = 'auc'", "metrics.primary", "one of accuracy"),
    ("[dataset]\nname = 'digits'\n[resources]\ngpu = 'yes'", "resources.gpu", "true or false"),
    ("[dataset]\nname = 'digits'\n[resources]\nmemroy_mb = 100", "resources.memroy_mb", "a known key"),
    ("deadline = 'next friday'\n[dataset]\nname = 'digits'", "deadline", "a date"),
    ("[dataset]\nseed = 1", "dataset.name", "a string (required)"),
    ("title = 'x\n", "(file)", "valid UTF-8 TOML"),
])
def test_bad_assignment_file_names_file_key_and_expectation(tmp_path, text, key, expected):
    root = make_course(tmp_path / "c")
    path = root / "assignments" / "digits" / "assignment.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as info:
        load_course(root).assignment("digits")
    message = str(info.value)
    assert str(path) in message and f"'{key}'" in message and expected in message


def test_bare_date_deadline_means_23_59(tmp_path):
    root = make_course(tmp_path / "c")
    path = root / "assignments" / "digits" / "assignment.toml"
    path.write_text('deadline = "2026-12-15"\n' + path.read_text())
    assert load_course(root).assignment("digits").deadline.isoformat() == "2026-12-15T23:59:00"


def test_missing_course_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="course.toml"):
        load_course(tmp_path)


def test_prepared_layout_hides_labels_and_is_deterministic(course):
    a = course.assignment("digits")
    where = layout(course, a)
    first = json.loads(where.manifest_path.read_text())
    test = np.load(where.test_dir / "test.npz")
    assert set(test.files) == {"id", "x"}  # inputs only: no labels in what the notebook sees
    assert not any("label" in p.name for p in where.test_dir.rglob("*"))
    labels = read_labels(where.labels)
    assert list(labels) == test["id"].tolist()
    splits = [s for _, s in labels.values()]
    assert splits.count("public") == first["counts"]["test_public"] > 0
    assert splits.count("private") == first["counts"]["test_private"] > 0
    train, valid = np.load(where.data_dir / "train.npz"), np.load(where.data_dir / "valid.npz")
    # The hidden set is a secret subset of the held-out images (grader.data.public_hidden): fewer than all.
    assert len(train["x"]) + len(valid["x"]) + len(test["x"]) < 1797
    assert len(test["x"]) == first["counts"]["test"]
    second = prepare(course, a)
    assert second["sha256"] == first["sha256"]


def _write_idx(path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def _mnist_course(tmp_path):
    root = make_course(tmp_path / "c")
    (root / "assignments" / "mnist").mkdir()
    (root / "assignments" / "mnist" / "assignment.toml").write_text('[dataset]\nname = "mnist"\n')
    return load_course(root)


def test_corrupt_mnist_copy_is_refused_by_checksum(tmp_path):
    source = tmp_path / "mnist"
    source.mkdir()
    rng = np.random.default_rng(0)
    _write_idx(source / "train-images-idx3-ubyte.gz", rng.integers(0, 255, (20, 28, 28)))
    _write_idx(source / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, 20))
    _write_idx(source / "t10k-images-idx3-ubyte.gz", rng.integers(0, 255, (10, 28, 28)))
    _write_idx(source / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, 10))
    course = _mnist_course(tmp_path)
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: sha256 .* does not match"):
        prepare(course, course.assignment("mnist"), source)
    assert not layout(course, course.assignment("mnist")).root.exists()


@pytest.mark.skipif(not (SHARED_DATASETS / "mnist").is_dir(), reason="needs ../shared/datasets/mnist")
def test_real_mnist_import_and_truncated_copy(tmp_path):
    course = _mnist_course(tmp_path)
    a = course.assignment("mnist")
    manifest = prepare(course, a, SHARED_DATASETS / "mnist")
    counts = manifest["counts"]  # 2,000 training images held out as the canaries' pool; secret subsets
    assert (counts["train"], counts["valid"]) == (52200, 5800)
    assert 0.85 * 12000 <= counts["test"] <= 0.95 * 12000 and 0.85 * 2000 <= counts["canaries"] <= 0.95 * 2000
    assert manifest["sources"] == MNIST_FILES
    broken = tmp_path / "broken"
    shutil.copytree(SHARED_DATASETS / "mnist", broken)
    data = (broken / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (broken / "t10k-labels-idx1-ubyte.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz"):
        prepare(course, a, broken)
    assert layout(course, a).manifest()["sha256"] == manifest["sha256"]  # the good data survived
