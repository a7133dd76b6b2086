"""Course and assignment configuration: `course.toml` and `assignments/<name>/assignment.toml`.

What each file may say (keys, types, defaults, meanings) is described once, in grader.schema; this
module turns a file read through it into a Course or an Assignment: paths resolved against the course
folder, defaults that follow other keys, and the rules that relate keys to each other. Every fault names
the file, the key and what was expected, so an instructor can fix a typo without reading a traceback.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from grader.i18n import LanguageError, check_language, local_time
from grader.policy import Extension, Group, LatePolicy, Policy, Rounding
from grader.schema import (ANCHORS, IMAGE_LAYOUTS, LANGUAGES, METRICS, RUNNERS, TASKS, TRANSFERS, WORKER_RUNNERS,
                           AssignmentFile, AuditSettings, ConfigError, CourseFile, DockerSettings, LateTable,
                           PolicyTable, Resources, ScreeningLimits, ServeSettings, read)

# The names other modules import from here; the schema's among them.
__all__ = ["ANCHORS", "IMAGE_LAYOUTS", "LANGUAGES", "METRICS", "RUNNERS", "TASKS", "TRANSFERS", "WORKER_RUNNERS",
           "Assignment", "AuditSettings", "ConfigError", "Course", "DockerSettings", "Environment", "GradeScale",
           "Resources", "ScreeningLimits", "ServeSettings", "load_assignment", "load_course"]


@dataclass(frozen=True)
class GradeScale:
    """Piecewise-linear map from the primary metric to the course scale, clamped at both ends."""

    points: tuple[tuple[float, float], ...]

    def grade(self, metric: float | None) -> float | None:
        if metric is None:
            return None
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        if metric <= xs[0]:
            return ys[0]
        if metric >= xs[-1]:
            return ys[-1]
        for (x0, y0), (x1, y1) in zip(self.points, self.points[1:]):
            if x0 <= metric <= x1:
                return y0 + (metric - x0) * (y1 - y0) / (x1 - x0)
        raise AssertionError("unreachable: points are sorted and metric is inside them")


# Course and Assignment are what the loaders below make of the files; each field's default and meaning is
# its key's, in grader.schema. The comments say only where a field is not simply its key.
@dataclass(frozen=True)
class Assignment:
    name: str
    path: Path  # the assignment folder
    title: str
    task: str
    dataset: str
    seed: int
    validation_fraction: float
    public_fraction: float
    metrics: tuple[str, ...]  # the primary first, then `[metrics] report`
    primary_metric: str
    scale: GradeScale
    deadline: datetime | None
    time_limit_s: float
    cell_timeout_s: float
    resources: Resources
    config_sha256: str  # of the file's bytes: part of the assignment version
    late: LatePolicy | None  # None: the course's late rule
    baseline: float | None  # `[leaderboard]`: primary-metric values marked on the leaderboard's plot
    reference: float | None
    test_fraction: float
    layout: str  # `[dataset] layout`
    context: int
    classes: tuple[str, ...] | None
    relative_to: str  # `grade_relative_to`
    reference_notebook: Path | None  # `[reference]`, resolved against the course folder
    baseline_notebook: Path | None
    hidden_from: Path | None
    screening: ScreeningLimits
    audit: AuditSettings
    data_path: Path | None  # `[dataset] path` (`--from` overrides)
    label: str
    features: tuple[str, ...] | None
    packages: tuple[str, ...]  # `[environment] packages`: beyond the course's
    daily_limit: int | None  # `[serve] daily_limit`; None: the course's


@dataclass(frozen=True)
class Environment:
    """`[environment]` of course.toml: the packages every notebook of the course gets (pip requirements)."""

    packages: tuple[str, ...]
    requirements: Path | None  # resolved against the course folder
    declared: bool  # False: no [environment] table; notebooks run in the grader's own Python


@dataclass(frozen=True)
class Course:
    root: Path
    name: str
    language: str
    timezone: str
    workdir: Path  # resolved against the course folder
    runner: str
    jobs: int
    assignments: dict[str, Path]  # name: its assignment.toml
    policy: Policy
    cluster: str | None
    transfer: str
    docker: DockerSettings
    worker_runner: str
    kit_url: str | None  # `[kit] url`
    environment: Environment
    serve: ServeSettings

    @property
    def gradebook_path(self) -> Path:
        return self.workdir / "gradebook.sqlite"

    def local_time(self, value: str | datetime | None) -> str:
        """A moment as the course's students read it: in its time zone, in its language's format."""
        return local_time(value, self.language, self.timezone, self.root)

    def kit_address(self, assignment: str) -> str | None:
        """Where an assignment's student kit is published (`[kit] url`), or None."""
        return f"{self.kit_url.rstrip('/')}/{assignment}-kit.zip" if self.kit_url else None

    def assignment(self, name: str) -> Assignment:
        if name not in self.assignments:
            known = ", ".join(sorted(self.assignments)) or "none"
            raise ConfigError(self.root / "assignments", name, f"an assignment of this course (known: {known})")
        return load_assignment(self.assignments[name], self.root)


def load_course(root: str | Path = ".") -> Course:
    root = Path(root).resolve()
    path = root / "course.toml"
    f = read(path, CourseFile)
    try:
        check_language(f.language, root)
    except LanguageError as exc:
        raise ConfigError(path, "language", str(exc), f.language) from None
    g = f.grader
    if g.runner == "dask" and not g.cluster:
        raise ConfigError(path, "grader.cluster", "a Dask scheduler address for runner = \"dask\"")
    e = f.environment
    environment = Environment(e.packages if e else (), root / e.requirements if e and e.requirements else None,
                              declared=e is not None)
    folder = root / "assignments"
    assignments = {p.parent.name: p for p in sorted(folder.glob("*/assignment.toml"))} if folder.is_dir() else {}
    return Course(root=root, name=f.name, language=f.language, timezone=f.timezone, workdir=root / g.workdir,
                  runner=g.runner or ("dask" if g.cluster else "auto"), jobs=g.jobs, assignments=assignments,
                  policy=_policy(path, f.policy), cluster=g.cluster, transfer=g.transfer, docker=g.docker,
                  worker_runner=g.worker_runner, kit_url=f.kit.url, environment=environment, serve=f.serve)


def _late(t: LateTable) -> LatePolicy:
    return LatePolicy(t.mode, t.penalty_per_day, t.max_days, t.grace_minutes)


def _policy(path: Path, t: PolicyTable) -> Policy:
    """`[policy]`: the groups' rules that relate them to each other; every key on its own is the schema's."""
    groups = []
    for i, g in enumerate(t.groups):
        best = len(g.assignments) if g.best is None else g.best
        if best > len(g.assignments):
            raise ConfigError(path, f"policy.groups[{i}].best", f"at most the {len(g.assignments)} assignments "
                              "listed", best)
        groups.append(Group(g.name, g.assignments, best, g.weight, Rounding(g.rounding, g.rounding_step)))
    seen = [a for group in groups for a in group.assignments]
    if len(set(seen)) != len(seen):
        raise ConfigError(path, "policy.groups", "each assignment in at most one group", seen)
    names = [group.name for group in groups]
    if len(set(names)) != len(names) or set(names) & (set(seen) | {"final"}):
        raise ConfigError(path, "policy.groups", "group names distinct from each other, from assignment "
                          "names and from 'final'", names)
    extensions = tuple(Extension(e.student, e.assignment, e.until) for e in t.extensions)
    return Policy(t.max_grade, t.missing, t.counts, _late(t.late), Rounding(t.rounding, t.rounding_step),
                  tuple(groups), extensions)


def load_assignment(path: Path, course_root: Path | None = None, name: str | None = None,
                    references: bool = True) -> Assignment:
    """`course_root` (default: two folders up) anchors the reference notebooks' paths; `name` (default: the
    folder's). `references=False` (a student kit, which has none) skips checking the grade anchor's notebook."""
    raw = path.read_bytes() if path.is_file() else b""
    f = read(path, AssignmentFile)
    name = name or path.parent.name
    course_root = course_root or path.parent.parent.parent
    d = f.dataset

    default_reference = course_root / "reference" / f"{name}.ipynb"
    reference_notebook = (course_root / f.reference.notebook if f.reference.notebook
                          else default_reference if default_reference.is_file() else None)
    baseline_notebook = course_root / f.reference.baseline if f.reference.baseline else None
    if references and f.grade_relative_to != "none" and {"baseline": baseline_notebook,
                                                         "reference": reference_notebook}[f.grade_relative_to] is None:
        raise ConfigError(path, "grade_relative_to", f"a [reference] {f.grade_relative_to} notebook to measure",
                          f.grade_relative_to)

    primary = f.metrics.primary
    time_limit_s = f.limits.time_limit_s
    return Assignment(
        name=name, path=path.parent, title=f.title or name, task=f.task, dataset=d.name, seed=d.seed,
        validation_fraction=d.validation_fraction, public_fraction=d.public_fraction,
        metrics=tuple(dict.fromkeys([primary, *(f.metrics.report or ())])), primary_metric=primary,
        scale=GradeScale(f.grade_scale), deadline=f.deadline, time_limit_s=time_limit_s,
        cell_timeout_s=f.limits.cell_timeout_s or time_limit_s, resources=f.resources,
        config_sha256=hashlib.sha256(raw).hexdigest(), late=_late(f.late) if f.late else None,
        baseline=f.leaderboard.baseline, reference=f.leaderboard.reference,
        test_fraction=d.test_fraction or (0.1 if f.task == "next_character" else 0.3), layout=d.layout,
        context=d.context, classes=d.classes, relative_to=f.grade_relative_to,
        reference_notebook=reference_notebook, baseline_notebook=baseline_notebook,
        hidden_from=course_root / d.hidden_from if d.hidden_from else None, screening=f.screening, audit=f.audit,
        data_path=course_root / d.path if d.path else None, label=d.label, features=d.features,
        packages=f.environment.packages, daily_limit=f.serve.daily_limit)
