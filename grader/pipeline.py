"""`grader run`: submissions -> sandboxed run -> predictions -> score -> grade -> gradebook.

This module only orchestrates. Every submission ends as one row, whatever went wrong with it,
and each row is committed as soon as its run ends.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from grader.assess import Assessment, assess
from grader.course import Assignment, Course
from grader.data import DataError, DataLayout, layout
from grader.gradebook import Gradebook
from grader.i18n import translator
from grader.runners import Job, Runner, RunResult, get_runner
from grader.runners.base import INVALID_NOTEBOOK, INVALID_SUBMISSION, now_utc
from grader.submissions import InvalidNotebook, Submission, discover, load_notebook


@dataclass
class RowReport:
    assignment: str
    student: str
    status: str
    message: str
    primary_score: float | None
    grade: float | None
    duration_s: float


@dataclass
class BatchReport:
    rows: list[RowReport] = field(default_factory=list)
    skipped: int = 0  # already graded under this assignment version
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Pending:
    submission: Submission
    submission_id: int
    assignment: Assignment
    data: DataLayout
    version: str


def assignment_version(assignment: Assignment, data: DataLayout) -> str:
    """Changes when the assignment's settings or its prepared data change."""
    return hashlib.sha256((assignment.config_sha256 + data.manifest()["sha256"]).encode()).hexdigest()[:16]


def slug(name: str) -> str:
    """A file-system-safe folder name for any student name, unique by its hash suffix."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_name).strip("._")[:40] or "student"
    return f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def new_run_dir(course: Course, assignment: str, student: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    path = course.workdir / "runs" / assignment / slug(student) / f"{stamp}-{secrets.token_hex(3)}"
    path.mkdir(parents=True)
    return path


def run(course: Course, submissions_dir: Path, *, runner: str | Runner | None = None, jobs: int | None = None,
        timeout: float | None = None, force: bool = False, student: str | None = None,
        on_start: Callable[[int], None] | None = None,
        on_result: Callable[[RowReport], None] | None = None) -> BatchReport:
    """Grade every submission under `submissions_dir` that is not graded yet under its version."""
    t = translator(course.language)
    report = BatchReport()
    submissions, report.warnings = discover(submissions_dir, set(course.assignments))
    if student:
        student = unicodedata.normalize("NFC", student)
        submissions = [s for s in submissions if s.student == student]
    runner = runner if isinstance(runner, Runner) else get_runner(runner or course.runner)

    with Gradebook(course.gradebook_path) as book:
        pending: list[_Pending] = []
        contexts: dict[str, tuple[Assignment, DataLayout, str] | None] = {}
        for sub in submissions:
            if sub.assignment not in contexts:
                contexts[sub.assignment] = _context(course, sub.assignment, report)
            context = contexts[sub.assignment]
            if context is None:
                continue
            assignment, data, version = context
            sub_id = book.register(sub.assignment, sub.student, str(sub.path), sub.sha256, sub.submitted_at)
            if not (force or student) and book.is_graded(sub_id, version):
                report.skipped += 1
                continue
            pending.append(_Pending(sub, sub_id, assignment, data, version))

        if on_start:
            on_start(len(pending))

        def finish(item: _Pending, result: RunResult, outcome: Assessment) -> None:
            book.record(item.submission_id, item.version, runner.name, {
                "status": outcome.status, "message": outcome.message, "cell": result.cell,
                "detail": result.detail, "started_at": result.started_at, "finished_at": result.finished_at,
                "duration_s": result.duration_s, "primary_metric": item.assignment.primary_metric,
                "primary_score": outcome.primary_score, "grade": outcome.grade, "artifacts": str(result.run_dir),
            }, outcome.scores)
            row = RowReport(item.submission.assignment, item.submission.student, outcome.status,
                            outcome.message, outcome.primary_score, outcome.grade, result.duration_s)
            report.rows.append(row)
            if on_result:
                on_result(row)

        jobs_by_key: dict[str, tuple[_Pending, Job]] = {}
        for item in pending:
            run_dir = new_run_dir(course, item.submission.assignment, item.submission.student)
            rejected = _reject_before_running(item.submission, t)
            if rejected:
                status, message = rejected
                result = RunResult(str(item.submission_id), status, run_dir, now_utc(), now_utc(), evalue=message)
                finish(item, result, Assessment(status, message))
                continue
            job = _job(item, run_dir, timeout)
            jobs_by_key[job.key] = (item, job)

        parallel = jobs or course.jobs
        for result in runner.run_many([job for _, job in jobs_by_key.values()], parallel):
            item, _ = jobs_by_key[result.key]
            try:
                outcome = assess(result, item.assignment, item.data.labels, item.data.classes, t)
            except Exception as exc:  # a scoring fault is this row's error, not the batch's
                outcome = Assessment("error", f"scoring failed: {type(exc).__name__}: {exc}")
            finish(item, result, outcome)
    return report


def _context(course: Course, name: str, report: BatchReport) -> tuple[Assignment, DataLayout, str] | None:
    assignment = course.assignment(name)
    data = layout(course, assignment)
    try:
        version = assignment_version(assignment, data)
    except DataError as exc:
        report.warnings.append(f"assignment {name}: its submissions were not graded: {exc}")
        return None
    return assignment, data, version


def _reject_before_running(sub: Submission, t) -> tuple[str, str] | None:
    if sub.problem:
        key, params = sub.problem
        return INVALID_SUBMISSION, t(key, **params)
    try:
        load_notebook(sub.path)
    except InvalidNotebook as exc:
        return INVALID_NOTEBOOK, t("run.invalid_notebook", name=sub.path.name, detail=str(exc))
    return None


def _job(item: _Pending, run_dir: Path, timeout: float | None) -> Job:
    a = item.assignment
    limit = timeout or a.time_limit_s
    return Job(
        key=str(item.submission_id), notebook=item.submission.path, run_dir=run_dir,
        data_dir=item.data.data_dir, test_dir=item.data.test_dir,
        parameters={"seed": a.seed, "smoke": False, "time_budget_s": limit},
        time_limit_s=limit, cell_timeout_s=min(a.cell_timeout_s, limit),
        memory_mb=a.resources.memory_mb, cpus=a.resources.cpus, gpu=a.resources.gpu)
