"""Course and assignment configuration: `course.toml` and `assignments/<name>/assignment.toml`.

Files are validated on load; every fault names the file, the key and what was expected, so an
instructor can fix a typo without reading a traceback.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from grader.policy import (COUNTS, LATE_MODES, ROUNDING_MODES, Extension, Group, LatePolicy, Policy, Rounding,
                           parse_deadline)

LANGUAGES = ("es", "en")
TASKS = ("classification", "next_character")
METRICS = ("accuracy", "macro_f1", "log_loss", "top3", "top5", "bits_per_char")
IMAGE_LAYOUTS = ("folders", "csv")
# What a grade scale may be relative to: the score of the assignment's baseline or reference run.
ANCHORS = ("none", "baseline", "reference")
# auto: docker when its engine and image are there, else bubblewrap, else refuse to grade hand-ins.
RUNNERS = ("auto", "bwrap", "docker", "local", "dask")
TRANSFERS = ("shared", "task")  # how a dask job's files reach its worker
WORKER_RUNNERS = ("bwrap", "docker", "local")  # what runs a dask job on its worker


class ConfigError(ValueError):
    """A course or assignment file is missing or invalid."""

    def __init__(self, path: Path, key: str, expected: str, got: Any = None):
        self.path, self.key, self.expected = path, key, expected
        got_text = "" if got is None else f", got {got!r}"
        super().__init__(f"{path}: key '{key}': expected {expected}{got_text}")


class _Table:
    """Typed reads from one TOML table that raise ConfigError naming the file and key."""

    def __init__(self, path: Path, data: dict, prefix: str = ""):
        self.path, self.data, self.prefix = path, data, prefix
        self.seen: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def get(self, key: str, kind: type | tuple, default: Any = ..., expected: str = "") -> Any:
        self.seen.add(key)
        if key not in self.data:
            if default is ...:
                raise ConfigError(self.path, self._key(key), expected or _kind_name(kind) + " (required)")
            return default
        value = self.data[key]
        # bool is an int subclass in Python; a grade of `true` is a typo, not 1.
        if isinstance(value, bool) and kind is not bool and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise ConfigError(self.path, self._key(key), expected or _kind_name(kind), value)
        if not isinstance(value, kind):
            raise ConfigError(self.path, self._key(key), expected or _kind_name(kind), value)
        return value

    def choice(self, key: str, options: tuple[str, ...], default: Any = ...) -> str:
        value = self.get(key, str, default, expected=f"one of {', '.join(options)}")
        if value not in options:
            raise ConfigError(self.path, self._key(key), f"one of {', '.join(options)}", value)
        return value

    def positive(self, key: str, kind: type | tuple, default: Any = ...) -> Any:
        value = self.get(key, kind, default, expected=f"a positive {_kind_name(kind)}")
        if value is not None and value <= 0:
            raise ConfigError(self.path, self._key(key), f"a positive {_kind_name(kind)}", value)
        return value

    def table(self, key: str) -> "_Table":
        sub = self.get(key, dict, {}, expected="a table")
        return _Table(self.path, sub, f"{self._key(key)}.")

    def reject_unknown(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise ConfigError(self.path, self._key(unknown[0]), "a known key (typo?)", unknown[0])


def _kind_name(kind: type | tuple) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             dict: "a table", list: "a list"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _read_toml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(path, "(file)", "an existing TOML file")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "(file)", f"valid UTF-8 TOML ({exc})") from exc


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


@dataclass(frozen=True)
class Resources:
    gpu: bool = False
    memory_mb: int = 4096  # memory and memory+swap: a run has no swap
    cpus: float = 1.0
    pids: int = 512  # processes and threads at once
    tmp_mb: int = 1024  # the container's /tmp (a tmpfs, counted in its memory)
    shm_mb: int = 1024  # /dev/shm, where PyTorch's DataLoader workers pass batches
    output_mb: int = 256  # output_dir: predictions, plots, a checkpoint; over it, writes fail (a tmpfs)


@dataclass(frozen=True)
class ScreeningLimits:
    """`[screening]`: what a hand-in may carry before it runs, past which its run is flagged.

    The defaults are far above what an honest notebook of these practicals holds (its longest
    literal is a path or a list of class names, its longest comment a line, its longest number 6
    characters, all its literals and comments at most 1,000 bytes once compressed) and below what carried
    labels need: the 10,000 MNIST test labels are 10,000 list items, and at least 4,150 bytes
    (log2(10) bits each) in any encoding, whatever literals or comments carry them.
    """

    cell_chars: int = 50_000  # the source of one code cell
    string_chars: int = 2_000  # one string or bytes literal (base64, hex, compressed blobs)
    literal_items: int = 500  # one literal list, tuple, set or dict of constants
    total_literal_chars: int = 20_000  # every string literal of the notebook together
    markdown_chars: int = 50_000  # one markdown or raw cell: the run can read its own notebook
    comment_chars: int = 1_000  # one comment
    number_chars: int = 40  # one number literal as written (a 0x... integer of any size, a float's digits)
    compressed_bytes: int = 4_000  # every literal and comment of the notebook together, zlib-compressed


@dataclass(frozen=True)
class AuditSettings:
    """`[audit]`: when the evidence of a hand-in is flagged for the instructor (grader.audit)."""

    claim_tolerance: float = 0.03  # claimed against re-run score, primary metric (3 points of accuracy)
    validation_gap: float = 0.10  # test score above the notebook's own validation claim by more than this
    split_gap: float = 0.10  # public and private halves' scores further apart than this
    fast_run_s: float = 10.0  # a top grade from a run shorter than this
    similarity: float = 0.6  # share of a hand-in's own code (starter and references left out) found in another
    verify_tolerance: float = 0.01  # `grader run --verify`: a re-run's score further than this is non-deterministic
    # `lookup`: accuracy on a public hidden set's ordinary items above that on its canaries by more than
    # lookup_margin, with a one-sided p-value under lookup_p (grader.audit.evidence).
    lookup_margin: float = 0.03
    lookup_p: float = 0.001


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
    metrics: tuple[str, ...]
    primary_metric: str
    scale: GradeScale
    deadline: datetime | None
    time_limit_s: float
    cell_timeout_s: float
    resources: Resources
    config_sha256: str
    late: LatePolicy | None = None  # None: the course's late rule
    baseline: float | None = None  # primary-metric values marked on the leaderboard's plot
    reference: float | None = None
    test_fraction: float = 0.3  # of a source without a test split, carved out as the hidden test
    layout: str = "folders"  # image files: class folders, or one images/ folder with CSVs
    context: int = 128  # text: characters in each prompt
    classes: tuple[str, ...] | None = None  # keep only these classes of the source
    relative_to: str = "none"  # the grade scale's metric is the score minus this run's score
    reference_notebook: Path | None = None
    baseline_notebook: Path | None = None
    hidden_from: Path | None = None  # a private hidden test set, instead of the source's public one
    screening: ScreeningLimits = ScreeningLimits()
    audit: AuditSettings = AuditSettings()


@dataclass(frozen=True)
class DockerSettings:
    """`[grader.docker]` of course.toml: how the docker runner runs notebooks."""

    image: str = "grader-exec:latest"
    gpus: str | None = None  # "all", "none" or "0,1"; None: every GPU nvidia-smi shows
    gpu_slots: int = 1  # jobs at once on each GPU
    runtime: str | None = None  # e.g. "runsc" (gVisor), registered with the engine


@dataclass(frozen=True)
class Course:
    root: Path
    name: str
    language: str
    timezone: str
    workdir: Path
    runner: str  # auto | bwrap | docker | local | dask
    jobs: int
    assignments: dict[str, Path] = field(default_factory=dict)
    policy: Policy = Policy()
    cluster: str | None = None  # the Dask scheduler's address, for the dask runner
    transfer: str = "shared"
    docker: DockerSettings = DockerSettings()
    worker_runner: str = "bwrap"  # the dask runner's jobs, on their workers
    kit_url: str | None = None  # where the student kits are published (`[kit] url`)

    @property
    def gradebook_path(self) -> Path:
        return self.workdir / "gradebook.sqlite"

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
    t = _Table(path, _read_toml(path))
    name = t.get("name", str)
    language = t.choice("language", LANGUAGES, "es")
    timezone = t.get("timezone", str, "Europe/Madrid")
    g = t.table("grader")
    workdir = root / g.get("workdir", str, ".grader")
    cluster = g.get("cluster", str, None, expected="a Dask scheduler address like tcp://host:8786")
    runner = g.choice("runner", RUNNERS, "dask" if cluster else "auto")
    if runner == "dask" and not cluster:
        raise ConfigError(path, "grader.cluster", "a Dask scheduler address for runner = \"dask\"")
    transfer = g.choice("transfer", TRANSFERS, "shared")
    worker_runner = g.choice("worker_runner", WORKER_RUNNERS, "bwrap")
    jobs = g.positive("jobs", int, 1)
    d = g.table("docker")
    docker = DockerSettings(d.get("image", str, DockerSettings.image),
                            d.get("gpus", str, None, expected='"all", "none" or GPU indices like "0,1"'),
                            d.positive("gpu_slots", int, 1), d.get("runtime", str, None))
    d.reject_unknown()
    g.reject_unknown()
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(path, "timezone", "an IANA time zone like Europe/Madrid", timezone) from None
    policy = _policy(t.table("policy"))
    k = t.table("kit")
    kit_url = k.get("url", str, None, expected="the URL of the folder where the kits are published")
    k.reject_unknown()
    t.reject_unknown()
    folder = root / "assignments"
    assignments = {p.parent.name: p for p in sorted(folder.glob("*/assignment.toml"))} if folder.is_dir() else {}
    return Course(root, name, language, timezone, workdir, runner, jobs, assignments, policy, cluster, transfer,
                  docker, worker_runner, kit_url)


def _rounding(t: _Table, default: str = "none") -> Rounding:
    mode = t.choice("rounding", ROUNDING_MODES, default)
    return Rounding(mode, float(t.positive("rounding_step", (int, float), 1.0)))


def _late(t: _Table) -> LatePolicy:
    late = LatePolicy(
        mode=t.choice("mode", LATE_MODES, "reject"),
        penalty_per_day=float(t.get("penalty_per_day", (int, float), 0.0)),
        max_days=t.positive("max_days", int, None),
        grace_minutes=float(t.get("grace_minutes", (int, float), 0.0)),
    )
    t.reject_unknown()
    return late


def _policy(t: _Table) -> Policy:
    """`[policy]` of course.toml; the defaults grade every assignment on its own, 0-10."""
    max_grade = float(t.positive("max_grade", (int, float), 10.0))
    missing = float(t.get("missing", (int, float), 0.0))
    counts = t.choice("counts", COUNTS, "last")
    rounding = _rounding(t)
    late = _late(t.table("late"))
    groups = []
    for i, raw in enumerate(t.get("groups", list, [], expected="an array of [[policy.groups]] tables")):
        g = _Table(t.path, raw if isinstance(raw, dict) else {}, f"{t.prefix}groups[{i}].")
        names = g.get("assignments", list, expected="a list of assignment names")
        if not names or not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
            raise ConfigError(t.path, f"{g.prefix}assignments", "a list of distinct assignment names", names)
        best = g.positive("best", int, len(names))
        if best > len(names):
            raise ConfigError(t.path, f"{g.prefix}best", f"at most the {len(names)} assignments listed", best)
        groups.append(Group(g.get("name", str), tuple(names), best,
                            float(g.positive("weight", (int, float), 1.0)), _rounding(g)))
        g.reject_unknown()
    seen = [a for group in groups for a in group.assignments]
    if len(set(seen)) != len(seen):
        raise ConfigError(t.path, f"{t.prefix}groups", "each assignment in at most one group", seen)
    names = [group.name for group in groups]
    if len(set(names)) != len(names) or set(names) & (set(seen) | {"final"}):
        raise ConfigError(t.path, f"{t.prefix}groups", "group names distinct from each other, from assignment "
                          "names and from 'final'", names)
    extensions = []
    for i, raw in enumerate(t.get("extensions", list, [], expected="an array of [[policy.extensions]] tables")):
        e = _Table(t.path, raw if isinstance(raw, dict) else {}, f"{t.prefix}extensions[{i}].")
        until = e.get("until", (str, date), expected="a date (2026-12-20) or date-time")
        extensions.append(Extension(e.get("student", str), e.get("assignment", str),
                                    _deadline(t.path, f"{e.prefix}until", until)))
        e.reject_unknown()
    return Policy(max_grade, missing, counts, late, rounding, tuple(groups), tuple(extensions))


def load_assignment(path: Path, course_root: Path | None = None, name: str | None = None,
                    references: bool = True) -> Assignment:
    """`course_root` (default: two folders up) anchors the reference notebooks' paths; `name` (default: the
    folder's). `references=False` (a student kit, which has none) skips checking the grade anchor's notebook."""
    raw = path.read_bytes() if path.is_file() else b""
    t = _Table(path, _read_toml(path))
    name = name or path.parent.name
    course_root = course_root or path.parent.parent.parent
    title = t.get("title", str, name)
    task = t.choice("task", TASKS, "classification")

    d = t.table("dataset")
    dataset = d.get("name", str)
    seed = d.get("seed", int, 0)
    validation_fraction = d.get("validation_fraction", (int, float), 0.1)
    public_fraction = d.get("public_fraction", (int, float), 0.5)
    test_fraction = d.get("test_fraction", (int, float), 0.1 if task == "next_character" else 0.3)
    for key, value in (("validation_fraction", validation_fraction), ("public_fraction", public_fraction),
                       ("test_fraction", test_fraction)):
        if not 0 < value < 1:
            raise ConfigError(path, f"dataset.{key}", "a number between 0 and 1 (exclusive)", value)
    image_layout = d.choice("layout", IMAGE_LAYOUTS, "folders")
    context = d.positive("context", int, 128)
    classes = d.get("classes", list, None, expected="a list of class names")
    hidden_from = d.get("hidden_from", str, None, expected="a path (relative to the course folder) to the "
                        "private hidden test set")
    if classes is not None and (len(classes) < 2 or not all(isinstance(c, str) for c in classes)
                                or len(set(classes)) != len(classes)):
        raise ConfigError(path, "dataset.classes", "a list of at least two distinct class names", classes)
    d.reject_unknown()

    m = t.table("metrics")
    primary = m.choice("primary", METRICS, "accuracy")
    report = m.get("report", list, [primary])
    for metric in report:
        if metric not in METRICS:
            raise ConfigError(path, "metrics.report", f"metric names from {', '.join(METRICS)}", metric)
    metrics = tuple(dict.fromkeys([primary, *report]))
    m.reject_unknown()

    scale = _grade_scale(path, t.get("grade_scale", list, [[0.0, 0.0], [1.0, 10.0]],
                                     expected="a list of [metric, grade] pairs"))
    relative_to = t.choice("grade_relative_to", ANCHORS, "none")

    ref = t.table("reference")
    default_reference = course_root / "reference" / f"{name}.ipynb"
    reference_notebook = ref.get("notebook", str, None)
    reference_notebook = (course_root / reference_notebook if reference_notebook
                          else default_reference if default_reference.is_file() else None)
    baseline_notebook = ref.get("baseline", str, None)
    baseline_notebook = course_root / baseline_notebook if baseline_notebook else None
    ref.reject_unknown()
    if references and relative_to != "none" and {"baseline": baseline_notebook,
                                                 "reference": reference_notebook}[relative_to] is None:
        raise ConfigError(path, "grade_relative_to", f"a [reference] {relative_to} notebook to measure", relative_to)

    deadline_value = t.get("deadline", (str, date), None, expected="a date-time like 2026-12-15T23:59")
    deadline = _deadline(path, "deadline", deadline_value)
    late = _late(t.table("late")) if "late" in t.data else None
    board = t.table("leaderboard")
    baseline = board.get("baseline", (int, float), None)
    reference = board.get("reference", (int, float), None)
    board.reject_unknown()

    lim = t.table("limits")
    time_limit_s = float(lim.positive("time_limit_s", (int, float), 1800))
    cell_timeout_s = float(lim.positive("cell_timeout_s", (int, float), time_limit_s))
    lim.reject_unknown()

    r = t.table("resources")
    resources = Resources(
        gpu=r.get("gpu", bool, False),
        memory_mb=r.positive("memory_mb", int, 4096),
        cpus=float(r.positive("cpus", (int, float), 1.0)),
        pids=r.positive("pids", int, 512),
        tmp_mb=r.positive("tmp_mb", int, 1024),
        shm_mb=r.positive("shm_mb", int, 1024),
        output_mb=r.positive("output_mb", int, Resources.output_mb),
    )
    r.reject_unknown()
    sc = t.table("screening")
    screening = ScreeningLimits(**{key: sc.positive(key, int, default)
                                   for key, default in vars(ScreeningLimits()).items()})
    sc.reject_unknown()
    au = t.table("audit")
    audit = AuditSettings(**{key: float(au.positive(key, (int, float), default))
                             for key, default in vars(AuditSettings()).items()})
    au.reject_unknown()
    t.reject_unknown()
    return Assignment(name, path.parent, title, task, dataset, seed, float(validation_fraction),
                      float(public_fraction), metrics, primary, scale, deadline, time_limit_s,
                      cell_timeout_s, resources, hashlib.sha256(raw).hexdigest(), late,
                      None if baseline is None else float(baseline), None if reference is None else float(reference),
                      float(test_fraction), image_layout, context, tuple(classes) if classes else None,
                      relative_to, reference_notebook, baseline_notebook,
                      course_root / hidden_from if hidden_from else None, screening, audit)


def _grade_scale(path: Path, points: list) -> GradeScale:
    expected = "a list of at least two [metric, grade] pairs with increasing metrics"
    if len(points) < 2:
        raise ConfigError(path, "grade_scale", expected, points)
    pairs = []
    for point in points:
        if (not isinstance(point, list) or len(point) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in point)):
            raise ConfigError(path, "grade_scale", expected, point)
        pairs.append((float(point[0]), float(point[1])))
    if any(b[0] <= a[0] for a, b in zip(pairs, pairs[1:])):
        raise ConfigError(path, "grade_scale", expected, points)
    return GradeScale(tuple(pairs))


def _deadline(path: Path, key: str, value: str | date | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_deadline(value)
    except ValueError:
        raise ConfigError(path, key, "a date (2026-12-15) or date-time (2026-12-15T23:59)", value) from None
