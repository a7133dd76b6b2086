"""`grader run`: submissions -> sandboxed run -> predictions -> score -> grade -> gradebook.

This module only orchestrates. Every submission ends as one row, whatever went wrong with it,
and each row is committed as soon as its run ends.
"""

from __future__ import annotations

import hashlib
import random
import sys
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Callable

from grader import envs
from grader.assess import Assessment, assess
from grader.course import Assignment, Course
from grader.data import DataError, DataLayout, layout
from grader.data.integrity import DataChanged, DataGuard
from grader.gradebook import Gradebook
from grader.i18n import translator
from grader.jobs import make_job, new_run_dir
from grader.runners import Job, Runner, RunResult, get_runner
from grader.runners.base import ERROR, INVALID_NOTEBOOK, INVALID_SUBMISSION, OK, now_utc
from grader.screening import screen
from grader.submissions import InvalidNotebook, Submission, discover, load_notebook, of_student
from grader.wheel import DISTRIBUTION


@cache  # read once, when a run is first recorded: not at import, which every command pays
def grader_version() -> str:
    """The package version and a digest of its source: two checkouts of one version told apart."""
    try:
        version = metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        version = "unknown"
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return f"{version}+{digest.hexdigest()[:8]}"


class SandboxRequired(RuntimeError):
    """Student hand-ins would run unsandboxed, and the instructor did not say so."""


class RunnerChoiceError(ValueError):
    """The runner asked for cannot be made as asked: an unknown name, settings it refuses, no scheduler."""


@dataclass
class RowReport:
    assignment: str
    student: str
    status: str
    message: str
    primary_score: float | None
    grade: float | None
    duration_s: float
    flags: list[dict] = field(default_factory=list)  # the screening's (grader.screening.Flag)
    run_id: int | None = None  # the gradebook's run recorded
    # Ended as the runner's or the machine's fault (it could not run, the data changed under it), never through
    # anything the notebook did: `grader serve` gives such an attempt back. A scoring failure is not one: the
    # notebook's predictions can provoke it.
    grader_fault: bool = False


@dataclass
class BatchReport:
    rows: list[RowReport] = field(default_factory=list)
    skipped: int = 0  # already graded under this assignment version
    warnings: list[str] = field(default_factory=list)
    stopped: str = ""  # why the batch stopped before its end (the prepared data changed)


@dataclass
class _Context:
    assignment: Assignment
    data: DataLayout
    version: str
    anchor: float | None  # the score a relative grade scale subtracts
    guard: DataGuard
    python: str  # the kernel's (grader.envs.job_python)
    declared: tuple[str, ...] | None  # what the course's environment offers; None: it declares none


@dataclass
class _Pending:
    submission: Submission
    submission_id: int
    context: _Context
    flags: list[dict] = field(default_factory=list)  # evidence for the instructor (screening, then audit)
    verifies: dict | None = None  # `--verify`: the graded run this one re-runs


def assignment_version(assignment: Assignment, data: DataLayout, anchor: float | None = None) -> str:
    """Changes when the assignment's settings, its prepared data or its grade anchor change."""
    key = assignment.config_sha256 + data.manifest()["sha256"] + ("" if anchor is None else repr(anchor))
    return hashlib.sha256(key.encode()).hexdigest()[:16]


UNSANDBOXED_HELP = ("install bubblewrap (Debian: apt-get install bubblewrap) or a Docker engine with the "
                    "execution image (`grader image build`); or, to run the hand-ins on this machine as your "
                    "own user with access to everything you can read, type --unsandboxed")


def make_runner(course: Course, runner: str | Runner | None = None, cluster: str | None = None, *,
                image: str | None = None, gpus: str | None = None, runtime: str | None = None,
                trusted: bool = False, unsandboxed: bool = False) -> Runner:
    """The runner asked for, else the course's; `unsandboxed` with neither a runner nor a cluster named: local.

    `auto` (the default) takes the docker runner when its engine answers and has the image, else the
    bwrap runner; with neither, trusted notebooks (references) run locally and hand-ins are refused.
    A cluster address means the dask runner; a runner named beside it (bwrap, docker or local) is the
    one that runs each job on its worker. `image`, `gpus` and `runtime` override the course's
    `[grader.docker]` for the docker runner, here or on the workers.
    """
    if isinstance(runner, Runner):
        return runner
    if unsandboxed and runner is None and not cluster:
        runner = "local"
    try:
        return _named_runner(course, runner, cluster, image, gpus, runtime, trusted)
    except ValueError as exc:  # an unknown name, or settings the runner refuses (`--gpus 0,x`)
        raise RunnerChoiceError(str(exc)) from None


def _named_runner(course: Course, runner: str | None, cluster: str | None, image: str | None, gpus: str | None,
                  runtime: str | None, trusted: bool) -> Runner:
    settings = course.docker
    docker_options = {"image": image or settings.image, "gpus": gpus if gpus is not None else settings.gpus,
                      "gpu_slots": settings.gpu_slots, "runtime": runtime or settings.runtime}
    if cluster and runner != "dask":
        name, worker_runner = "dask", runner or course.worker_runner
    else:
        name, worker_runner = runner or course.runner, course.worker_runner
    if name == "auto":
        return _any_sandbox(docker_options, trusted)
    if name == "docker":
        return get_runner("docker", **docker_options)
    if name != "dask":
        return get_runner(name)
    address = cluster or course.cluster
    if not address:
        raise ValueError("the dask runner needs the scheduler's address: --cluster tcp://host:8786, "
                         "or cluster = \"...\" under [grader] in course.toml")
    return get_runner("dask", address=address, transfer=course.transfer, worker_runner=worker_runner,
                      worker_options=docker_options if worker_runner == "docker" else {})


def _any_sandbox(docker_options: dict, trusted: bool) -> Runner:
    """The docker runner if it can start, else the bwrap runner; else local for trusted work only."""
    from grader.runners.bwrap_runner import SandboxUnavailable
    from grader.runners.docker_runner import DockerUnavailable

    faults = []
    for name, options in (("docker", docker_options), ("bwrap", {})):
        try:
            return get_runner(name, **options)
        except (DockerUnavailable, SandboxUnavailable) as exc:
            faults.append(f"{name}: {exc}")
    if trusted:
        return get_runner("local")
    raise SandboxRequired("no sandbox to run student hand-ins in (" + "; ".join(faults) + "). " +
                          UNSANDBOXED_HELP[0].upper() + UNSANDBOXED_HELP[1:])


VERIFY_ALL = sys.maxsize  # `run(verify=VERIFY_ALL)`: every graded hand-in the filters leave (`--verify-student`)


def run(course: Course, submissions_dir: Path, *, runner: str | Runner | None = None, jobs: int | None = None,
        timeout: float | None = None, force: bool = False, student: str | None = None, unsandboxed: bool = False,
        verify: int = 0, on_start: Callable[[int], None] | None = None,
        on_result: Callable[[RowReport], None] | None = None) -> BatchReport:
    """Grade every submission under `submissions_dir` that is not graded yet under its version.

    `runner`: a name or a Runner (make_runner; default: the course's). `jobs`: notebooks at once
    (default: the course's). `timeout`: a wall-clock limit for this batch instead of each
    assignment's. `force`: run again what is graded; `student`: only this student's, graded again.
    `on_start(n)` hears how many runs the batch starts, `on_result(row)` each row as it is recorded.
    `grader run` reads its options' defaults from this signature.

    Hand-ins run in a sandbox; `unsandboxed=True` (the CLI's --unsandboxed) runs them with the local
    runner instead, and is the only way to. The prepared data is checked against its manifest before
    the batch and before each run is scored: a change stops the batch (`report.stopped`), and the
    runs it touched are left to the next batch. Nothing found to grade is an error
    (grader.submissions.NothingToGrade) that shows the expected layout.

    `verify=N` grades nothing new: it runs N random hand-ins graded `ok` under the current version
    again (with `student`, that student's), records each re-run beside the graded run (whose grade
    stays), and flags a score that moved by more than the assignment's `verify_tolerance`.
    """
    runner = sandboxed_runner(course, runner, unsandboxed)  # refused before the folder is read
    submissions, warnings = discover(submissions_dir, set(course.assignments))
    if student:
        submissions = of_student(submissions, student)
    return grade_submissions(course, submissions, runner=runner, jobs=jobs, timeout=timeout,
                             force=force or bool(student), unsandboxed=unsandboxed, verify=verify, warnings=warnings,
                             on_start=on_start, on_result=on_result)


def grade_submissions(course: Course, submissions: list[Submission], *, runner: str | Runner | None = None,
                      jobs: int | None = None, timeout: float | None = None, force: bool = False,
                      unsandboxed: bool = False, verify: int = 0, warnings: list[str] | tuple[str, ...] = (),
                      on_start: Callable[[int], None] | None = None,
                      on_result: Callable[[RowReport], None] | None = None,
                      on_job: Callable[[Job], None] | None = None) -> BatchReport:
    """Grade these hand-ins as `run` does those it finds (`grader serve`'s workers give one at a time).

    `force`: run again what is graded under its version (otherwise skipped: `report.skipped`);
    `warnings` start the report's; `on_job(job)` hears each Job as it is built, before it runs (its
    run folder, its time limit). The other options are `run`'s.
    """
    runner = sandboxed_runner(course, runner, unsandboxed)
    # Before anything is recorded: an environment that lacks a declared package would fail every hand-in.
    refuse_missing_environment(course, runner, [course.assignment(name)
                                                for name in sorted({s.assignment for s in submissions})])
    with Gradebook(course.gradebook_path) as book:
        batch = _Batch(course, runner, book, BatchReport(warnings=list(warnings)), on_result, on_job)
        pending = batch.pending(submissions, regrade=force, verify=verify)
        if batch.data_changed():  # before the batch: nothing runs on data that is not the prepared one
            return batch.report
        if on_start:
            on_start(len(pending))
        batch.grade(pending, jobs or course.jobs, timeout)
    return batch.report


def sandboxed_runner(course: Course, runner: str | Runner | None, unsandboxed: bool,
                     cluster: str | None = None) -> Runner:
    """The runner (make_runner), refused when it would run hand-ins outside a sandbox unasked."""
    runner = make_runner(course, runner, cluster, unsandboxed=unsandboxed)
    if not (runner.sandboxed or unsandboxed):
        raise SandboxRequired(f"the {runner.name} runner does not sandbox student hand-ins: {UNSANDBOXED_HELP}")
    return runner


class _Batch:
    """One call of `grade_submissions`: what it runs, and a row for each hand-in, recorded as soon as its run ends."""

    def __init__(self, course: Course, runner: Runner, book: Gradebook, report: BatchReport,
                 on_result: Callable[[RowReport], None] | None, on_job: Callable[[Job], None] | None) -> None:
        self.course, self.runner, self.book, self.report = course, runner, book, report
        self.on_result, self.on_job = on_result, on_job
        self.t = translator(course.language, course.root)
        self.contexts: dict[str, _Context | None] = {}  # None: the assignment cannot be graded (a warning says why)

    def pending(self, submissions: list[Submission], *, regrade: bool, verify: int) -> list[_Pending]:
        """The hand-ins to run: those not graded under their assignment's version (every one, with `regrade`);
        with `verify`, at most that many graded `ok`, drawn at random."""
        pending = []
        for sub in submissions:
            if sub.assignment not in self.contexts:
                self.contexts[sub.assignment] = _context(self.course, sub.assignment, self.book, self.report)
            context = self.contexts[sub.assignment]
            if context is None:
                continue
            sub_id = self.book.register(sub.assignment, sub.student, str(sub.path), sub.sha256, sub.submitted_at)
            if verify:
                graded = self.book.graded_run(sub_id, context.version)
                if graded is not None and graded["status"] == OK:
                    pending.append(_Pending(sub, sub_id, context, verifies=graded))
            elif regrade or not self.book.is_graded(sub_id, context.version):
                pending.append(_Pending(sub, sub_id, context))
            else:
                self.report.skipped += 1
        return random.sample(pending, verify) if verify and len(pending) > verify else pending

    def data_changed(self) -> bool:
        """Whether an assignment's prepared data differs from its manifest; `report.stopped` says how."""
        try:
            for context in self.contexts.values():
                if context is not None:
                    context.guard.check()
        except DataChanged as exc:
            self.report.stopped = str(exc)
            return True
        return False

    def grade(self, pending: list[_Pending], parallel: int, timeout: float | None) -> None:
        """Run every hand-in that can run, `parallel` at once; score and record each as its run ends."""
        jobs: dict[str, tuple[_Pending, Job]] = {}
        for item in pending:
            job = self._job(item, timeout)
            if job is not None:
                jobs[job.key] = (item, job)
        results = self.runner.run_many([job for _, job in jobs.values()], parallel)
        for result in results:
            item, _ = jobs[result.key]
            try:
                item.context.guard.check()
            except DataChanged as exc:  # an error row: the next batch runs it again, on restored data
                self.report.stopped = str(exc)
                self._record(item, result, Assessment(ERROR, f"not scored: {exc}"), grader_fault=True)
                results.close()  # runs still in flight are stopped and left for the next batch
                break
            context = item.context
            try:
                outcome = assess(result, context.assignment, context.data.labels, context.data.classes, self.t,
                                 context.anchor, context.declared)
            except Exception as exc:  # a scoring fault is this row's error, not the batch's
                outcome = Assessment("error", f"scoring failed: {type(exc).__name__}: {exc}")
            self._record(item, result, outcome)

    def _job(self, item: _Pending, timeout: float | None) -> Job | None:
        """The hand-in's job; None when it cannot run, its row recorded already."""
        run_dir = new_run_dir(self.course, item.submission.assignment, item.submission.student)
        rejected = _reject_before_running(item, self.t)
        if rejected:
            status, message = rejected
            result = RunResult(str(item.submission_id), status, run_dir, now_utc(), now_utc(), evalue=message)
            self._record(item, result, Assessment(status, message), ran=False)
            return None
        a = item.context.assignment
        job = make_job(a, item.context.data, str(item.submission_id), item.submission.path, run_dir,
                       smoke=False, time_limit=timeout or a.time_limit_s, python=item.context.python)
        if self.on_job:
            self.on_job(job)
        return job

    def _record(self, item: _Pending, result: RunResult, outcome: Assessment, ran: bool = True,
                grader_fault: bool | None = None) -> None:
        """The run into the gradebook, committed now, and its row into the report. `grader_fault` (default: the
        runner itself ended the run as an error) is RowReport's."""
        a = item.context.assignment
        if ran:  # what ran it, and the evidence of the hand-in
            result.environment |= {"runner": self.runner.name, "grader": grader_version(), "seed": a.seed}
            found = _evidence(item, outcome, result)
            item.flags = found if item.verifies else item.flags + found
        run_id = self.book.record(item.submission_id, item.context.version, self.runner.name, {
            "status": outcome.status, "message": outcome.message, "cell": result.cell,
            "detail": result.detail, "started_at": result.started_at, "finished_at": result.finished_at,
            "duration_s": result.duration_s, "primary_metric": a.primary_metric,
            "primary_score": outcome.primary_score, "grade": outcome.grade, "artifacts": str(result.run_dir),
            "sample": outcome.sample, "flags": item.flags,
            "environment": result.environment, "verifies": item.verifies["id"] if item.verifies else None,
        }, outcome.scores)
        row = RowReport(item.submission.assignment, item.submission.student, outcome.status, outcome.message,
                        outcome.primary_score, outcome.grade, result.duration_s, item.flags, run_id,
                        grader_fault if grader_fault is not None else outcome.status == result.status == ERROR)
        self.report.rows.append(row)
        if self.on_result:
            self.on_result(row)


def _context(course: Course, name: str, book: Gradebook, report: BatchReport) -> _Context | None:
    assignment = course.assignment(name)
    data = layout(course, assignment)
    try:
        manifest = data.manifest()
    except DataError as exc:
        report.warnings.append(f"assignment {name}: its submissions were not graded: {exc}")
        return None
    data_sha = manifest["sha256"]
    if "secret" not in manifest:
        report.warnings.append(f"assignment {name}: its submissions were not graded: its data was prepared without "
                               f"a course secret (an earlier grader), so anyone can rebuild its hidden split: run "
                               f"`grader data prepare {name}`")
        return None
    anchor = None
    if assignment.relative_to != "none":
        anchor = book.anchor_score(name, assignment.relative_to, data_sha)
        if anchor is None:
            report.warnings.append(
                f"assignment {name}: its submissions were not graded: its grade scale is relative to the "
                f"{assignment.relative_to}'s score, not measured on this data yet: run `grader reference run {name}`")
            return None
    declared = envs.requirements(course, assignment) if course.environment.declared else None
    return _Context(assignment, data, assignment_version(assignment, data, anchor), anchor, DataGuard(data, name),
                    envs.job_python(course, assignment), declared)


def refuse_missing_environment(course: Course, runner: Runner, assignments: list[Assignment]) -> None:
    """Raise envs.EnvMissing, naming each assignment's missing packages and the command that adds them, when
    the environment the runner runs notebooks in lacks what they declare, or envs.EnvChanged when a file of
    this machine's environment changed since its build (a course that declares no environment: never)."""
    if not course.environment.declared:
        return
    image = None
    if runner.name == "docker":
        image = runner.image

        def lacking(a: Assignment) -> list[str]:
            return envs.missing_from_image(course, a, runner.image_labels)
    elif runner.name in ("bwrap", "local") or getattr(runner, "worker_runner", "") in ("bwrap", "local"):
        def lacking(a: Assignment) -> list[str]:
            return envs.missing(course, a)
    else:  # a dask runner's docker workers: their engines' images, which this host cannot see
        return
    faults = {a.name: lacking(a) for a in {a.name: a for a in assignments}.values()}
    faults = {name: found for name, found in faults.items() if found}
    if faults:
        where = f"the image {image}" if image else "the notebooks' environment"
        needs = "; ".join(f"{name} needs {', '.join(found)}" for name, found in sorted(faults.items()))
        raise envs.EnvMissing(f"{where} lacks what the assignments declare ({needs}): nothing was run. "
                              f"Build it: {envs.fix_command(course, image)}")
    if image is None:  # this machine's environment: as its build left it (envs.EnvChanged otherwise)
        envs.verify(course, assignments)


def _evidence(item: _Pending, outcome: Assessment, result: RunResult) -> list[dict]:
    """The flags a scored run adds: the audit's evidence (grader.audit.evidence), or for a verification
    re-run, whether its score moved."""
    a = item.context.assignment
    if item.verifies is not None:
        score, rerun = item.verifies["primary_score"], outcome.primary_score
        if rerun is not None and abs(rerun - score) <= a.audit.verify_tolerance:
            return []
        return [{"kind": "non_deterministic", "metric": a.primary_metric, "score": round(score, 4),
                 "rerun": None if rerun is None else round(rerun, 4), "tolerance": a.audit.verify_tolerance}]
    # Imported here: the audit loads copydetect (a second), which only scoring a run needs, not every
    # command that imports this module.
    from grader.audit.evidence import run_flags

    try:  # read again, not kept from the screening: a batch of large notebooks would sit in memory
        nb = load_notebook(item.submission.path)
    except InvalidNotebook:
        return []
    try:
        return run_flags(nb, a, outcome.scores, outcome.grade, result.duration_s, outcome.canaries)
    except Exception as exc:  # the notebook's text is the student's: the run is recorded whatever the checks meet
        return [{"kind": "evidence_failed", "error": f"{type(exc).__name__}: {exc}"[:300]}]


def _reject_before_running(item: _Pending, t) -> tuple[str, str] | None:
    """Why a hand-in cannot run; None when it can, with what the screening found in `item.flags`."""
    sub = item.submission
    if sub.problem:
        key, params = sub.problem
        return INVALID_SUBMISSION, t(key, **params)
    try:
        nb = load_notebook(sub.path)
    except InvalidNotebook as exc:
        return INVALID_NOTEBOOK, t("run.invalid_notebook", name=sub.path.name, detail=str(exc))
    item.flags = [f.as_dict() for f in screen(nb, item.context.assignment.screening)]
    return None
