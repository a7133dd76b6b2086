"""`grader reference run`: reference solutions and baselines, run and scored like any hand-in.

A reference goes through the same runner, the same hidden test set and the same scorer as a
student's notebook; its score is never its own claim. Full-mode scores anchor grade scales that
are relative to them (`grade_relative_to`) and mark the leaderboards.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from grader import envs
from grader.assess import assess
from grader.check import SMOKE_TIME_LIMIT_S
from grader.course import Assignment, Course
from grader.data import DataError, layout
from grader.data.sources import sha256_file
from grader.gradebook import Gradebook
from grader.i18n import translator
from grader.jobs import make_job, new_run_dir
from grader.pipeline import make_runner, refuse_missing_environment
from grader.runners import Runner
from grader.runners.base import ERROR, OK, now_utc
from grader.runners.gpus import gpu_name

# Baselines run first: a reference's grade may be relative to the baseline's score.
ROLES = ("baseline", "reference")


@dataclass
class ReferenceRow:
    assignment: str
    role: str
    mode: str
    status: str
    message: str = ""
    primary_metric: str = ""
    primary_score: float | None = None
    grade: float | None = None
    duration_s: float = 0.0
    device: str = ""
    scores: dict[str, dict[str, float | None]] = field(default_factory=dict)
    artifacts: str = ""

    @property
    def ok(self) -> bool:
        return self.status == OK


def notebooks(assignment: Assignment) -> dict[str, Path]:
    """role -> notebook, for the roles this assignment has."""
    found = {"baseline": assignment.baseline_notebook, "reference": assignment.reference_notebook}
    return {role: path for role, path in found.items() if path is not None}


def describe_device(gpu: bool) -> str:
    name = gpu_name() if gpu else None
    return name or f"CPU ({os.cpu_count()} cores, {platform.machine()})"


def run_references(course: Course, names: list[str] | None = None, *, smoke: bool = False,
                   runner: str | Runner | None = None, jobs: int | None = None, timeout: float | None = None,
                   on_result: Callable[[ReferenceRow], None] | None = None) -> list[ReferenceRow]:
    """Run the baselines, then the references, of the named assignments (all with one when None)."""
    t = translator(course.language, course.root)
    mode = "smoke" if smoke else "full"
    runner = make_runner(course, runner, trusted=True)  # the course's own notebooks need no sandbox
    assignments = [course.assignment(n) for n in (names or sorted(course.assignments))]
    refuse_missing_environment(course, runner, [a for a in assignments if notebooks(a)])
    rows: list[ReferenceRow] = []

    def finish(row: ReferenceRow) -> None:
        rows.append(row)
        if on_result:
            on_result(row)

    with Gradebook(course.gradebook_path) as book:
        batch_scores: dict[tuple[str, str], float | None] = {}
        for role in ROLES:
            waves = {}
            for a in assignments:
                prepared = _prepare(course, a, role, mode, timeout, explicit=bool(names))
                if isinstance(prepared, ReferenceRow):
                    finish(prepared)
                elif prepared is not None:
                    waves[a.name] = (a, *prepared)
            for result in runner.run_many([job for *_, job in waves.values()], jobs or course.jobs):
                a, data, data_sha, notebook, job = waves[result.key]
                anchor = None
                if a.relative_to != "none":  # this batch's measurement first, else the recorded one
                    recorded = book.anchor_score(a.name, a.relative_to, data_sha)
                    anchor = batch_scores.get((a.name, a.relative_to), recorded)
                declared = envs.requirements(course, a) if course.environment.declared else None
                outcome = assess(result, a, data.labels, data.classes, t, anchor, declared)
                batch_scores[(a.name, role)] = outcome.primary_score
                device = describe_device(job.gpu) if runner.name == "local" else f"{runner.name} runner"
                row = ReferenceRow(a.name, role, mode, outcome.status, outcome.message, a.primary_metric,
                                   outcome.primary_score, outcome.grade, result.duration_s, device,
                                   outcome.scores, str(result.run_dir))
                book.record_reference({
                    **asdict(row), "data_sha256": data_sha, "notebook": str(notebook),
                    "notebook_sha256": sha256_file(notebook), "runner": runner.name,
                    "started_at": result.started_at, "finished_at": result.finished_at or now_utc()})
                finish(row)
    return rows


def _prepare(course: Course, a: Assignment, role: str, mode: str, timeout: float | None,
             explicit: bool) -> ReferenceRow | tuple | None:
    """The job for one role of one assignment; an error row when it cannot run; None when it has no such role."""
    notebook = notebooks(a).get(role)
    if notebook is None:
        if role == "reference" and explicit:
            return ReferenceRow(a.name, role, mode, ERROR, f"{a.name}: no reference notebook "
                                f"(reference/{a.name}.ipynb, or [reference] notebook in assignment.toml)")
        return None
    data = layout(course, a)
    try:
        data_sha = data.manifest()["sha256"]
    except DataError as exc:
        return ReferenceRow(a.name, role, mode, ERROR, str(exc))
    if not notebook.is_file():
        return ReferenceRow(a.name, role, mode, ERROR, f"{notebook}: no such notebook")
    smoke = mode == "smoke"
    limit = timeout or (min(a.time_limit_s, SMOKE_TIME_LIMIT_S) if smoke else a.time_limit_s)
    job = make_job(a, data, a.name, notebook.resolve(), new_run_dir(course, a.name, f"_{role}"),
                   smoke=smoke, time_limit=limit, python=envs.job_python(course, a))
    return data, data_sha, notebook, job
