"""What many tests share: the repository's paths, the grader command, and a small course to grade in.

Test modules import these as `tests.helpers` (tests/ is a package, found from the repository root);
tests.helpers.notebooks builds student notebooks and tests.helpers.datasets the practicals' data.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"
# This repository's course: its practicals, and its group "practicas", of which the best two count.
PRACTICALS = sorted(p.name for p in (REPO / "assignments").iterdir() if (p / "assignment.toml").is_file())
PRACTICAS_GROUP = ("mnist", "imagenet-subset", "text-generation")
# The CLI in a fresh process (a test that needs its exit code and output as a user sees them), and the
# installed `grader` command itself, as an instructor types it.
GRADER = [sys.executable, "-c", "from grader.cli import app; app()"]
GRADER_COMMAND = str(Path(sys.executable).parent / "grader")
# The docker runner's test image, which scripts/docker.sh builds.
TEST_IMAGE = os.environ.get("GRADER_TEST_IMAGE", "grader-test:latest")

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


# A next-character assignment on a small corpus (the text tests write their own corpus).
TEXT_TOML = '''title = "Text"
task = "next_character"
grade_scale = [[1.0, 10.0], [4.0, 0.0]]
[dataset]
name = "tinyshakespeare"
context = 16
[metrics]
primary = "bits_per_char"
report = ["bits_per_char", "accuracy"]
'''
