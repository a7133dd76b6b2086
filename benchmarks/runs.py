"""What the runner benchmarks share: a prepared digits course, short notebooks, a timed run."""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repository: its tests.helpers

from grader.course import Assignment, load_course  # noqa: E402
from grader.data import DataLayout, layout, prepare  # noqa: E402
from grader.jobs import make_job  # noqa: E402
from grader.runners import Runner  # noqa: E402
from tests.helpers import make_course  # noqa: E402
from tests.helpers.notebooks import GOOD, write_notebook  # noqa: E402


def digits_batch(work: Path, count: int) -> tuple[Assignment, DataLayout, list[Path]]:
    """The digits assignment prepared under `work`, and `count` copies of the nearest-centroid notebook."""
    course = load_course(make_course(work / "course"))
    assignment = course.assignment("digits")
    prepare(course, assignment)
    notebooks = [write_notebook(work / "subs" / f"student{i:02d}.ipynb", GOOD) for i in range(count)]
    return assignment, layout(course, assignment), notebooks


def timed_run(runner: Runner, notebook: Path, run_dir: Path, assignment: Assignment, data: DataLayout) -> float:
    """Wall seconds around `runner.run(job)`; a run that does not end ok stops the benchmark."""
    run_dir.mkdir(parents=True)
    job = make_job(assignment, data, run_dir.name, notebook, run_dir, smoke=False, time_limit=120)
    start = time.perf_counter()
    result = runner.run(job)
    elapsed = time.perf_counter() - start
    if result.status != "ok":
        raise SystemExit(f"{runner.name} runner: {notebook.name} ended {result.status}: {result.evalue}")
    return elapsed
