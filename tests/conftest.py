from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from grader.course import load_course  # noqa: E402
from grader.data import prepare  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"

# Hand-ins run in the bubblewrap sandbox, the default on a machine without Docker; the test set-up
# (scripts/sandbox.sh) installs it, and a missing bwrap fails these tests rather than skipping them.
COURSE_TOML = '''name = "Test course"
language = "{language}"
[grader]
runner = "bwrap"
jobs = 1
'''
DIGITS_TOML = '''title = "Digits"
grade_scale = [[0.5, 0.0], [1.0, 10.0]]
[dataset]
name = "digits"
seed = 0
validation_fraction = 0.2
[metrics]
primary = "accuracy"
report = ["accuracy", "macro_f1", "top3", "log_loss"]
[limits]
time_limit_s = {time_limit}
cell_timeout_s = {cell_timeout}
[resources]
memory_mb = {memory_mb}
'''


def make_course(root: Path, language: str = "en", time_limit: float = 60, cell_timeout: float = 60,
                memory_mb: int = 1500) -> Path:
    (root / "assignments" / "digits").mkdir(parents=True)
    (root / "course.toml").write_text(COURSE_TOML.format(language=language))
    (root / "assignments" / "digits" / "assignment.toml").write_text(
        DIGITS_TOML.format(time_limit=time_limit, cell_timeout=cell_timeout, memory_mb=memory_mb))
    return root


@pytest.fixture(scope="session")
def prepared_course(tmp_path_factory) -> Path:
    """A course with the digits assignment prepared once; tests copy it."""
    root = make_course(tmp_path_factory.mktemp("template") / "course")
    course = load_course(root)
    prepare(course, course.assignment("digits"))
    return root


@pytest.fixture
def course_dir(prepared_course, tmp_path) -> Path:
    target = tmp_path / "course"
    shutil.copytree(prepared_course, target)
    return target


@pytest.fixture
def course(course_dir):
    return load_course(course_dir)
