"""`grader check`: a student's self-check before handing in.

The notebook runs in smoke mode with the public validation inputs as its test_dir and is scored
against the public validation labels, through the same runner and scorer as a real grading run;
from the course's prepared data, or from a student kit (grader.kit) with no course folder at all.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from grader import envs
from grader.assess import Assessment, assess
from grader.course import Assignment, Course
from grader.data import DataLayout, layout
from grader.kit import Kit, open_kit
from grader.i18n import translator
from grader.jobs import make_job, new_run_dir
from grader.runners.bwrap_runner import course_check_runner
from grader.runners.local import LocalRunner
from grader.runners.base import INVALID_NOTEBOOK, INVALID_PREDICTIONS, OK
from grader.screening import describe, screen
from grader.submissions import InvalidNotebook, has_parameters_cell, load_notebook

# A smoke run should take seconds; this only stops a notebook that ignores `smoke`.
SMOKE_TIME_LIMIT_S = 600


@dataclass
class CheckItem:
    passed: bool | None  # None: a warning that does not break the contract
    text: str


@dataclass
class CheckReport:
    title: str
    items: list[CheckItem] = field(default_factory=list)
    assessment: Assessment | None = None
    verdict: str = ""
    run_dir: Path | None = None

    @property
    def passed(self) -> bool:
        return all(item.passed is not False for item in self.items)


@dataclass
class Practice:
    """Where a self-check runs: the course's prepared data, or a student's kit (grader.kit)."""

    assignment: Assignment
    language: str
    data: DataLayout | Kit  # its data_dir is the notebook's
    test_dir: Path
    labels: Path
    classes: list[str]
    run_dir: Path
    python: str = ""  # the kernel's (grader.envs.job_python); "" for the grader's own
    declared: tuple[str, ...] | None = None  # what the course's environment offers; None: it declares none
    catalogs: Path | None = None  # whose locale/ is merged over the grader's catalogs: the course's, or the kit's
    runner: LocalRunner = field(default_factory=LocalRunner)  # the course's: course_check_runner()


def check(course: Course, notebook: Path, assignment_name: str, timeout: float | None = None) -> CheckReport:
    """The self-check against the course's prepared data (an instructor's or a course folder's)."""
    assignment = course.assignment(assignment_name)
    data = layout(course, assignment)
    data.manifest()  # a clear DataError when the data is not prepared
    declared = envs.requirements(course, assignment) if course.environment.declared else None
    # The course's environment where it is built (as `grader run`); else the grader's Python, with a warning.
    python = envs.job_python(course, assignment) if not envs.missing(course, assignment) else ""
    envs.verify(course, [assignment])  # as before a batch: nothing runs in an environment a notebook wrote into
    return check_practice(Practice(assignment, course.language, data, data.check_test_dir, data.check_labels,
                                   data.classes, new_run_dir(course, assignment.name, "check"), python, declared,
                                   course.root, course_check_runner()),
                          notebook, timeout)


def check_kit(kit_path: Path, notebook: Path, timeout: float | None = None) -> CheckReport:
    """The self-check on a student's machine: only the grader package and the kit, no course folder."""
    kit = open_kit(kit_path)
    return check_practice(Practice(kit.assignment, kit.language, kit, kit.test_dir, kit.labels, kit.classes,
                                   Path(tempfile.mkdtemp(prefix="grader-check-")), catalogs=kit.root),
                          notebook, timeout)


def check_practice(practice: Practice, notebook: Path, timeout: float | None = None) -> CheckReport:
    """The self-check itself, wherever its data comes from: the contract's items, then a smoke run, scored."""
    t = translator(practice.language, practice.catalogs)
    assignment = practice.assignment
    report = CheckReport(t("check.title", notebook=notebook.name, assignment=assignment.name))
    try:
        nb = load_notebook(notebook)
    except InvalidNotebook as exc:
        report.items.append(CheckItem(False, t("run.invalid_notebook", name=notebook.name, detail=str(exc))))
        report.assessment = Assessment(INVALID_NOTEBOOK)
        report.verdict = t("check.fail")
        return report
    report.items.append(CheckItem(True, t("check.valid_notebook")))
    for flag in screen(nb, assignment.screening):  # what the grader would flag: say so before the hand-in
        report.items.append(CheckItem(None, t("check.flagged", what=describe(flag.as_dict(), t))))
    has_params = has_parameters_cell(nb)
    report.items.append(CheckItem(True if has_params else None,
                                  t("check.parameters" if has_params else "check.no_parameters")))

    if practice.declared is not None and not practice.python:
        report.items.append(CheckItem(None, t("check.no_environment")))
    run_dir = practice.run_dir
    limit = timeout or min(assignment.time_limit_s, SMOKE_TIME_LIMIT_S)
    job = make_job(assignment, practice.data, "check", notebook.resolve(), run_dir, smoke=True, time_limit=limit,
                   test_dir=practice.test_dir, python=practice.python)
    result = practice.runner.run(job)
    outcome = assess(result, assignment, practice.labels, practice.classes, t, declared=practice.declared)
    report.run_dir, report.assessment = run_dir, outcome
    if result.status != OK:
        report.items.append(CheckItem(False, outcome.message))
    else:
        report.items.append(CheckItem(True, t("check.ran", seconds=result.duration_s)))
        written = sum(p.stat().st_size for p in job.output_dir.rglob("*") if p.is_file() and not p.is_symlink())
        if written > assignment.resources.output_mb << 20:  # a self-check runs unsandboxed: no quota stops it
            report.items.append(CheckItem(False, t("check.output_over", size_mb=round(written / 2**20, 1),
                                                   output_mb=assignment.resources.output_mb)))
        if outcome.status == INVALID_PREDICTIONS:
            report.items.append(CheckItem(False, outcome.message))
        else:
            report.items.append(CheckItem(True, t("check.predictions")))
            if outcome.message:  # a warning about predictions that were accepted (rounded probabilities)
                report.items.append(CheckItem(None, outcome.message))
            for metric, value in outcome.scores["all"].items():
                if value is not None:
                    report.items.append(CheckItem(None, t("check.score", metric=metric, value=value)))
    report.verdict = t("check.pass" if report.passed else "check.fail")
    return report
