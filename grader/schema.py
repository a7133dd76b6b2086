"""What `course.toml` and `assignment.toml` may say: every key, its type, default and meaning, written once.

The pydantic models here are the one description of the two files. `grader.course` reads the files
through them (its loader adds only what relates keys to each other and to the course folder); the
JSON Schema that editors read (`grader schema`, the `#:schema` line atop each file) and the
configuration reference (docs/configuration.md) are generated from them. A fault becomes a
ConfigError naming the file, the dotted key and what that key expects, in the words the reference
uses for its type.
"""

from __future__ import annotations

import difflib

import json
import tomllib
from dataclasses import is_dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from annotated_types import Gt, Lt
from pydantic import (AfterValidator, ConfigDict, Field, PlainValidator, StringConstraints, TypeAdapter,
                      ValidationError, WithJsonSchema)
from pydantic.dataclasses import dataclass
from pydantic.fields import FieldInfo
from pydantic.json_schema import GenerateJsonSchema

from grader import metrics, runners
from grader.i18n import languages
from grader.policy import COUNTS, LATE_MODES, ROUNDING_MODES, Group, LatePolicy, Policy, Rounding, parse_deadline

LANGUAGES = languages()  # those the grader has catalogs of (grader/locale/); a course may add its own
TASKS = ("classification", "next_character")
METRICS = tuple(metrics.METRICS)  # the registered metrics' names (grader.metrics)
IMAGE_LAYOUTS = ("folders", "csv")
# What a grade scale may be relative to: the score of the assignment's baseline or reference run.
ANCHORS = ("none", "baseline", "reference")
# The registered runners (grader.runners), and auto: docker when its engine and image are there, else bubblewrap,
# else refuse to grade hand-ins (grader.pipeline.make_runner).
RUNNERS = ("auto", *runners.RUNNERS)
TRANSFERS = ("shared", "task")  # how a dask job's files reach its worker
WORKER_RUNNERS = runners.WORKER_RUNNERS  # what runs a dask job on its worker

# The first line of each file: Taplo (Even Better TOML) completes and checks keys against the schema.
COURSE_SCHEMA_LINE = "#:schema ./schema/course.schema.json"
ASSIGNMENT_SCHEMA_LINE = "#:schema ../../schema/assignment.schema.json"
SCHEMA_FILES = {"course": "course.schema.json", "assignment": "assignment.schema.json"}


class ConfigError(ValueError):
    """A course or assignment file is missing or invalid."""

    def __init__(self, path: Path, key: str, expected: str, got: Any = None):
        self.path, self.key, self.expected = path, key, expected
        got_text = "" if got is None else f", got {got!r}"
        super().__init__(f"{path}: key '{key}': expected {expected}{got_text}")


class Expect(str):
    """What a key expects, in words, where its type alone would say too little (metadata of a field)."""


def _distinct(values: tuple) -> tuple:
    if len(set(values)) != len(values):
        raise ValueError("repeated")
    return values


def _time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown time zone") from None
    return name


def _when(value: Any) -> datetime:
    if not isinstance(value, (str, date)):
        raise ValueError("not a date")
    return parse_deadline(value)  # a ValueError for a string that is no date


def _names(at_least: int) -> Any:
    """A list of at least `at_least` distinct names."""
    return Annotated[tuple[str, ...], Field(min_length=at_least, json_schema_extra={"uniqueItems": True}),
                     AfterValidator(_distinct)]


def _increasing(points: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
    if any(b[0] <= a[0] for a, b in zip(points, points[1:])):
        raise ValueError("metrics not increasing")
    return points


# TOML values come typed; a `true` where a number goes is a typo, not 1 (bool is an int in Python).
Integer = Annotated[int, Field(strict=True)]
Number = Annotated[float, Field(strict=True)]
Flag = Annotated[bool, Field(strict=True)]
Positive = Annotated[int, Field(strict=True, gt=0)]
PositiveNumber = Annotated[float, Field(strict=True, gt=0)]
Fraction = Annotated[float, Field(strict=True, gt=0, lt=1)]
Requirement = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Packages = Annotated[tuple[Requirement, ...], Expect('a list of pip requirements like "torch==2.14.1"')]
When = Annotated[datetime, PlainValidator(_when),
                 WithJsonSchema({"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?)?"})]
# Literal of a tuple: one of its items, listed in the schema's enum and in the error's "one of".
# A language with catalogs: the grader's, or one the course adds in its locale/ (grader.course checks which).
Language = Annotated[str, Expect(f"a language with catalogs: {', '.join(LANGUAGES)}, or one the course adds in "
                                 "locale/<lang>/LC_MESSAGES/grader.po"),
                     WithJsonSchema({"type": "string", "examples": list(LANGUAGES)})]
Runner = Literal[RUNNERS]
Transfer = Literal[TRANSFERS]
WorkerRunner = Literal[WORKER_RUNNERS]
LateMode = Literal[LATE_MODES]
RoundingMode = Literal[ROUNDING_MODES]
Counts = Literal[COUNTS]
Task = Literal[TASKS]
Metric = Literal[METRICS]
Layout = Literal[IMAGE_LAYOUTS]
Anchor = Literal[ANCHORS]

TABLE = ConfigDict(extra="forbid")  # an unknown key is a typo, refused by name
# A key whose default is None is unset unless written. TOML has no null: its type stays what a file may write,
# and its description says what unset means.


# ---- course.toml -----------------------------------------------------------------------------------

@dataclass(frozen=True, config=TABLE)
class DockerSettings:
    """`[grader.docker]`: how the docker runner runs notebooks (see the README's "Running hand-ins in Docker")."""

    image: str = Field("grader-exec:latest", description="The execution image (`grader image build` makes it).")
    gpus: Annotated[str, Expect('"all", "none" or GPU indices like "0,1"')] = Field(
        None, description='The GPUs hand-ins may use: "all", "none" or indices like "0,1". Unset: every GPU '
                          "nvidia-smi shows.")
    gpu_slots: Positive = Field(1, description="Jobs at once on each GPU.")
    runtime: str = Field(None, description='An OCI runtime registered with the engine, e.g. "runsc" (gVisor). '
                                           "Unset: the engine's default.")


@dataclass(frozen=True, config=TABLE)
class GraderTable:
    """`[grader]`: how and where hand-ins run."""

    runner: Runner = Field(
        None, description="What runs the notebooks. auto: docker when its engine and image are there, else "
                          "bwrap, else refuse to grade hand-ins; " +
                          "; ".join(f"{name}: {entry.description}" for name, entry in runners.RUNNERS.items()) +
                          ". Unset: dask when `cluster` is set, else auto.")
    jobs: Positive = Field(1, description="Notebooks run at once (the default of `--jobs`).")
    workdir: str = Field(".grader", description="Data, gradebook.sqlite, the secret and run artifacts, relative "
                                                "to the course folder.")
    cluster: Annotated[str, Expect("a Dask scheduler address like tcp://host:8786")] = Field(
        None, description="The Dask scheduler's address, like tcp://host:8786, for the dask runner.")
    transfer: Transfer = Field(
        "shared", description="How a dask job's files reach its worker. shared: the workers see the grader's "
                              "paths; task: the notebook and inputs travel with the task.")
    worker_runner: WorkerRunner = Field("bwrap", description="What runs a dask job on its worker.")
    docker: DockerSettings = Field(default_factory=DockerSettings)


@dataclass(frozen=True, config=TABLE)
class LateTable:
    """`[policy.late]` (or an assignment's own `[late]`): what a submission after the deadline is worth."""

    mode: LateMode = Field(
        LatePolicy.mode, description="accept: late counts in full; penalty: `penalty_per_day` off per started "
                                     "day late; reject: late counts as not handed in.")
    penalty_per_day: Number = Field(LatePolicy.penalty_per_day,
                                    description="Grade points taken off per started day late (penalty mode).")
    max_days: Positive = Field(LatePolicy.max_days, description="Later than this many days: rejected (penalty "
                                                                "mode). Unset: no limit.")
    grace_minutes: Number = Field(LatePolicy.grace_minutes, description="Minutes after the deadline still on time.")


@dataclass(frozen=True, config=TABLE)
class GroupTable:
    """`[[policy.groups]]`: assignments whose best `best` count, averaged; the final grade is the groups'
    weighted mean. With no group, every assignment counts on its own, equally weighted."""

    name: str = Field(description="The group's name, a column of the grades export; not an assignment's name "
                                  "nor 'final'.")
    assignments: Annotated[_names(1), Expect("a list of distinct assignment names")] = Field(
        description="The assignments of the group; each assignment is in at most one group.")
    best: Positive = Field(None, description="How many of them count (the best ones). Unset: all of them.")
    weight: PositiveNumber = Field(Group.weight, description="The group's weight in the final grade.")
    rounding: RoundingMode = Field(Rounding.mode, description="How the group's grade is rounded.")
    rounding_step: PositiveNumber = Field(Rounding.step, description="Rounding to multiples of this (0.5: halves).")


@dataclass(frozen=True, config=TABLE)
class ExtensionTable:
    """`[[policy.extensions]]`: a later deadline for one student and one assignment."""

    student: str = Field(description="A name, ID number or email from the roster.")
    assignment: str = Field(description="The assignment extended.")
    until: Annotated[When, Expect("a date (2026-12-20) or date-time")] = Field(
        description="The new deadline, in the course's time zone; a bare date means that day at 23:59.")


@dataclass(frozen=True, config=TABLE)
class PolicyTable:
    """`[policy]`: how course grades are made from assignment grades (see the README's "Grading policy")."""

    max_grade: PositiveNumber = Field(Policy.max_grade, description="The top of the course's grade scale.")
    missing: Number = Field(Policy.missing, description="What an assignment not handed in (or rejected) is worth.")
    counts: Counts = Field(Policy.counts, description="Which of several submissions counts: the last "
                                                               "made on time, or the best.")
    rounding: RoundingMode = Field(Rounding.mode, description="How the final grade is rounded: up, "
                                                                          "nearest (halves go up), down or none.")
    rounding_step: PositiveNumber = Field(Rounding.step, description="Rounding to multiples of this (0.5: halves).")
    late: LateTable = Field(default_factory=LateTable)
    groups: Annotated[tuple[GroupTable, ...], Expect("an array of [[policy.groups]] tables")] = ()
    extensions: Annotated[tuple[ExtensionTable, ...], Expect("an array of [[policy.extensions]] tables")] = ()


@dataclass(frozen=True, config=TABLE)
class KitTable:
    """`[kit]`: the student kits."""

    url: Annotated[str, Expect("the URL of the folder where the kits are published")] = Field(
        None, description="Where the kits are published; `grader kit` prints each kit's address and the "
                          "READMEs name it.")


@dataclass(frozen=True, config=TABLE)
class ServeSettings:
    """`[serve]`: the web service students hand in to during the window (`grader serve`)."""

    daily_limit: Positive = Field(5, description="Submissions per assignment, student and day, counted in the course's "
                                                 "time zone; a run that ends as the grader's or the machine's fault "
                                                 "is not counted.")
    upload_mb: PositiveNumber = Field(20, description="An upload larger than this many MB is refused before it is "
                                                      "read whole.")
    workers: Positive = Field(None, description="Notebooks the service runs at once. Unset: `[grader] jobs`.")
    sign_ins_per_minute: Positive = Field(10, description="Wrong tokens per minute from one client address (a right "
                                                          "one never counts).")
    submissions_per_minute: Positive = Field(3, description="Hand-in attempts per minute of one student, refused "
                                                            "ones included.")
    url: Annotated[str, Expect("the service's public address, like https://grader.example.org")] = Field(
        None, description="The service's public address, for the sign-in links `grader serve tokens` writes. "
                          "Unset: the links are left out.")


@dataclass(frozen=True, config=TABLE)
class CourseEnvironment:
    """`[environment]`: the packages every notebook of the course gets (`grader env build`). Without this table
    notebooks run in the grader's own Python."""

    packages: Packages = Field((), description="What every notebook of the course gets (`grader env build` installs "
                                               "them, with ipykernel, in the notebooks' own environment).")
    requirements: Annotated[str, Expect("a requirements file, relative to the course folder")] = Field(
        None, description="A pip requirements file, relative to the course folder, read as well as `packages`.")


@dataclass(frozen=True, config=TABLE)
class CourseFile:
    """The course, at the top of its folder (beside assignments/)."""

    name: str = Field(description="The course's name, on leaderboards and reports.")
    language: Language = Field("es", description="What students read (READMEs, feedback, hints) is in this "
                                                 "language: one the grader has catalogs of, or one the course adds "
                                                 "in locale/<lang>/LC_MESSAGES/grader.po (grader.i18n).")
    timezone: Annotated[str, AfterValidator(_time_zone), Expect("an IANA time zone like Europe/Madrid")] = Field(
        "Europe/Madrid", description="The time zone of deadlines and extensions (IANA).")
    grader: GraderTable = Field(default_factory=GraderTable)
    policy: PolicyTable = Field(default_factory=PolicyTable)
    kit: KitTable = Field(default_factory=KitTable)
    environment: CourseEnvironment = Field(None)
    serve: ServeSettings = Field(default_factory=ServeSettings)


# ---- assignment.toml -------------------------------------------------------------------------------

@dataclass(frozen=True, config=TABLE)
class DatasetTable:
    """`[dataset]`: where the data comes from and how it is split."""

    name: str = Field(description="The source: a downloader (mnist, digits, cifar10, cifar100, imagenette, dogs, "
                                  "tinyshakespeare) or a generic source reading `path` (image-folders, arrays, "
                                  "table, text).")
    seed: Integer = Field(0, description="The public seed: training, validation and practice splits, and with "
                                         "the course secret the hidden split.")
    validation_fraction: Fraction = Field(0.1, description="Of the training data, held out as public validation.")
    public_fraction: Fraction = Field(0.5, description="Of the hidden test set, the half that ranks before the "
                                                       "deadline.")
    test_fraction: Fraction = Field(None, description="Of a source without a test split, carved out as the hidden "
                                                      "test. Unset: 0.1 for next_character, else 0.3.")
    layout: Layout = Field("folders", description="Image files: one folder per class, or one "
                                                                  "images/ folder with CSVs.")
    context: Positive = Field(128, description="Text: the characters of each prompt.")
    classes: Annotated[_names(2), Expect("a list of at least two distinct class names")] = Field(
        None, description="Keep only these classes of the source. Unset: all of them.")
    hidden_from: Annotated[str, Expect("a path (relative to the course folder) to the private hidden test set")] = (
        Field(None, description="A private hidden test set, relative to the course folder, instead of the "
                                "source's public one (see the README's \"Hidden means hidden\")."))
    path: Annotated[str, Expect("the source's files, relative to the course folder")] = Field(
        None, description="A generic source's files, relative to the course folder (`grader data prepare "
                          "--from` overrides).")
    label: str = Field("label", description="A table's label column.")
    features: Annotated[tuple[str, ...], Expect("a list of column names"), Field(min_length=1)] = Field(
        None, description="A table's feature columns. Unset: every column but `label` and those that number the "
                          "rows (`id`, `Unnamed: 0`, `__index_level_0__`).")


@dataclass(frozen=True, config=TABLE)
class MetricsTable:
    """`[metrics]`: how predictions are scored."""

    primary: Metric = Field("accuracy", description="The metric that grades and ranks.")
    report: Annotated[tuple[Metric, ...], Expect(f"a list of metric names from {', '.join(METRICS)}")] = Field(
        None, description="Metrics reported beside it. Unset: the primary alone.")


@dataclass(frozen=True, config=TABLE)
class ReferenceTable:
    """`[reference]`: the course's own notebooks for this assignment (`grader reference run`)."""

    notebook: str = Field(None, description="The reference solution, relative to the course folder. Unset: "
                                            "`reference/<name>.ipynb` when it exists.")
    baseline: str = Field(None, description="A baseline notebook, relative to the course folder.")


@dataclass(frozen=True, config=TABLE)
class LeaderboardTable:
    """`[leaderboard]`: values marked on the leaderboard's plot."""

    baseline: Number = Field(None, description="A primary-metric value marked as the baseline. Unset: the "
                                               "baseline notebook's score, when run.")
    reference: Number = Field(None, description="A primary-metric value marked as the reference. Unset: the "
                                                "reference notebook's score, when run.")


@dataclass(frozen=True, config=TABLE)
class LimitsTable:
    """`[limits]`: how long a run may take."""

    time_limit_s: PositiveNumber = Field(1800.0, description="Wall clock of the whole run, in seconds.")
    cell_timeout_s: PositiveNumber = Field(None, description="One cell, in seconds. Unset: `time_limit_s`.")


@dataclass(frozen=True, config=TABLE)
class Resources:
    """`[resources]`: what one run may use, in the sandbox."""

    gpu: Flag = Field(False, description="The run gets a GPU.")
    memory_mb: Positive = Field(4096, description="Memory, and memory + swap: a run has no swap.")
    cpus: PositiveNumber = Field(1.0, description="CPUs.")
    pids: Positive = Field(512, description="Processes and threads at once.")
    tmp_mb: Positive = Field(1024, description="The sandbox's /tmp, a tmpfs (docker: counted in its memory).")
    shm_mb: Positive = Field(1024, description="/dev/shm, where PyTorch's DataLoader workers pass batches.")
    output_mb: Positive = Field(256, description="output_dir, a tmpfs for predictions, plots and a checkpoint: "
                                                 "past it, writes fail and the feedback says so.")


@dataclass(frozen=True, config=TABLE)
class ScreeningLimits:
    """`[screening]`: what a hand-in may carry before it runs, past which its run is flagged.

    The defaults are far above what an honest notebook of these practicals holds (its longest
    literal is a path or a list of class names, its longest comment a line, its longest number 6
    characters, all its literals and comments at most 1,000 bytes once compressed) and below what carried
    labels need: the 10,000 MNIST test labels are 10,000 list items, and at least 4,150 bytes
    (log2(10) bits each) in any encoding, whatever literals or comments carry them.
    """

    cell_chars: Positive = Field(50_000, description="The source of one code cell.")
    string_chars: Positive = Field(2_000, description="One string or bytes literal (base64, hex, compressed "
                                                      "blobs).")
    literal_items: Positive = Field(500, description="One literal list, tuple, set or dict of constants.")
    total_literal_chars: Positive = Field(20_000, description="Every string literal of the notebook together.")
    markdown_chars: Positive = Field(50_000, description="One markdown or raw cell: the run can read its own "
                                                         "notebook.")
    comment_chars: Positive = Field(1_000, description="One comment.")
    number_chars: Positive = Field(40, description="One number literal as written (a 0x... integer of any size, "
                                                   "a float's digits).")
    compressed_bytes: Positive = Field(4_000, description="Every literal and comment of the notebook together, "
                                                          "zlib-compressed.")


@dataclass(frozen=True, config=TABLE)
class AuditSettings:
    """`[audit]`: when the evidence of a hand-in is flagged for the instructor (`grader audit`)."""

    claim_tolerance: PositiveNumber = Field(0.03, description="A score the notebook claims, against its re-run "
                                                              "score (primary metric: 3 points of accuracy).")
    validation_gap: PositiveNumber = Field(0.10, description="Test score and the notebook's own validation "
                                                             "claim further apart than this (either way).")
    split_gap: PositiveNumber = Field(0.10, description="Public and private halves' scores further apart than "
                                                        "this.")
    fast_run_s: PositiveNumber = Field(10.0, description="A top grade from a run shorter than this, in seconds.")
    similarity: PositiveNumber = Field(0.6, description="Share of a hand-in's own code (starter and references "
                                                        "left out) found in another's.")
    verify_tolerance: PositiveNumber = Field(0.01, description="`grader run --verify`: a re-run's score further "
                                                               "than this is non-deterministic.")
    lookup_margin: PositiveNumber = Field(0.03, description="A public hidden set: accuracy on its ordinary items "
                                                            "above that on its canaries by more than this...")
    lookup_p: PositiveNumber = Field(0.001, description="... with a one-sided p-value under this.")


@dataclass(frozen=True, config=TABLE)
class AssignmentEnvironment:
    """`[environment]`: what this assignment's notebooks need beyond the course's packages."""

    packages: Packages = Field((), description="What this assignment's notebooks get beyond the course's packages.")


@dataclass(frozen=True, config=TABLE)
class AssignmentServe:
    """`[serve]`: this assignment in the web service (`grader serve`)."""

    daily_limit: Positive = Field(None, description="Submissions per student and day. Unset: the course's "
                                                    "`[serve] daily_limit`.")


@dataclass(frozen=True, config=TABLE, kw_only=True)  # kw_only: the required [dataset] may follow defaults
class AssignmentFile:
    """One assignment, in its own folder (beside its README templates and starter). Every key but `dataset.name`
    has a default."""

    title: str = Field(None, description="The title students read. Unset: the folder's name.")
    task: Task = Field("classification", description="What the notebook predicts: a class per input, "
                                                               "or the next character of each prompt.")
    deadline: Annotated[When, Expect("a date-time like 2026-12-15T23:59")] = Field(
        None, description="In the course's time zone; a bare date means that day at 23:59. Unset: none.")
    grade_scale: Annotated[tuple[tuple[Number, Number], ...], Field(min_length=2), AfterValidator(_increasing),
                           Expect("a list of at least two [metric, grade] pairs with increasing metrics")] = Field(
        ((0.0, 0.0), (1.0, 10.0)), description="[metric, grade] pairs: the primary metric mapped piecewise-linearly "
                                               "to the grade, clamped at both ends.")
    grade_relative_to: Anchor = Field(
        "none", description="The grade scale's metric is the score minus this run's score (its [reference] "
                            "notebook's).")
    dataset: DatasetTable
    metrics: MetricsTable = Field(default_factory=MetricsTable)
    reference: ReferenceTable = Field(default_factory=ReferenceTable)
    late: LateTable = Field(None, description="This assignment's own late rule. Unset: the course's.")
    leaderboard: LeaderboardTable = Field(default_factory=LeaderboardTable)
    limits: LimitsTable = Field(default_factory=LimitsTable)
    resources: Resources = Field(default_factory=Resources)
    screening: ScreeningLimits = Field(default_factory=ScreeningLimits)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    environment: AssignmentEnvironment = Field(default_factory=AssignmentEnvironment)
    serve: AssignmentServe = Field(default_factory=AssignmentServe)


MODELS = {"course": CourseFile, "assignment": AssignmentFile}
FILES = {"course": "course.toml", "assignment": "assignments/<name>/assignment.toml"}
_ADAPTERS = {model: TypeAdapter(model) for model in MODELS.values()}
File = TypeVar("File", CourseFile, AssignmentFile)


# ---- reading a file ----------------------------------------------------------------------------------

def read(path: Path, model: type[File]) -> File:
    """The file at `path` as `model`; its first fault a ConfigError naming the file, key and expectation."""
    if not path.is_file():
        raise ConfigError(path, "(file)", "an existing TOML file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "(file)", f"valid UTF-8 TOML ({exc})") from exc
    try:
        return _ADAPTERS[model].validate_python(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        if error["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            key = _locate(model, error["loc"][:-1])[0]
            unknown = str(error["loc"][-1])
            close = difflib.get_close_matches(unknown, _known_keys(model, error["loc"][:-1]), n=1)
            expected = "a known key (typo?)" + (f"; did you mean '{close[0]}'?" if close else "")
            raise ConfigError(path, f"{key}.{unknown}" if key else unknown, expected, unknown) from None
        key, field, inside = _locate(model, error["loc"])
        if error["type"] == "missing" and not inside:
            raise ConfigError(path, key, expectation(field) + " (required)") from None
        raise ConfigError(path, key, expectation(field), error["input"]) from None


def _locate(model: type, loc: tuple) -> tuple[str, FieldInfo | None, bool]:
    """The dotted key of an error's location (`policy.groups[0].best`), that key's field (None: a table of an
    array), and whether the error is inside the key's value. Items of a list of values are the list's key:
    the list is what the file names."""
    key, field, table = "", None, model
    for i, part in enumerate(loc):
        if isinstance(part, str) and table is not None and part in table.__pydantic_fields__:
            field = table.__pydantic_fields__[part]
            key = f"{key}.{part}" if key else part
            table = field.annotation if is_dataclass(field.annotation) else None
        elif isinstance(part, int) and field is not None and _items(field) is not None:
            key, table, field = f"{key}[{part}]", _items(field), None
        else:
            return key, field, True
    return key, field, False


def _known_keys(model: type, loc: tuple) -> list[str]:
    """The keys the table at `loc` may hold."""
    table, field = model, None
    for part in loc:
        if isinstance(part, int) and field is not None:  # an item of an array of tables
            table = _items(field)
        elif isinstance(part, str) and table is not None and part in table.__pydantic_fields__:
            field = table.__pydantic_fields__[part]
            table = field.annotation if is_dataclass(field.annotation) else None
        else:
            return []
    return list(table.__pydantic_fields__) if table is not None else []


def _items(field: FieldInfo) -> type | None:
    """The table type of an array of tables (`[[policy.groups]]`), else None."""
    args = get_args(field.annotation) if get_origin(field.annotation) is tuple else ()
    return args[0] if args and is_dataclass(args[0]) else None


def expectation(field: FieldInfo | None) -> str:
    """What a key expects, in words: its Expect, else from its type and bounds."""
    if field is None:
        return "a table"
    said = [m for m in field.metadata if isinstance(m, Expect)]
    if said:
        return str(said[0])
    kind = field.annotation
    if get_origin(kind) is Literal:
        return f"one of {', '.join(get_args(kind))}"
    if is_dataclass(kind):
        return "a table"
    gt = next((m.gt for m in field.metadata if isinstance(m, Gt)), None)
    lt = next((m.lt for m in field.metadata if isinstance(m, Lt)), None)
    name = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[kind]
    if gt is not None and lt is not None:
        return f"a number between {gt} and {lt} (exclusive)"
    if gt == 0:
        return "a positive " + name.split(" ", 1)[1]
    return name


# ---- JSON Schema and the reference ---------------------------------------------------------------------

class _Generator(GenerateJsonSchema):
    """Pydantic's JSON Schema without its generated titles ("Memory Mb") and without `null` defaults: TOML has
    no null, an unset key is an absent one."""

    def field_title_should_be_set(self, schema) -> bool:
        return False

    def default_schema(self, schema):
        if schema.get("default") is None:  # None, or a table's default_factory
            return self.generate_inner(schema["schema"])
        return super().default_schema(schema)


def json_schema(kind: str) -> dict:
    """The JSON Schema of course.toml (`kind` "course") or assignment.toml ("assignment")."""
    model = MODELS[kind]
    schema = _ADAPTERS[model].json_schema(schema_generator=_Generator)
    schema.pop("title", None)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": f"{kind}.toml", **schema}


def write_schemas(course_root: Path, folder: Path | None = None) -> list[Path]:
    """`<course_root>/schema/course.schema.json` and `assignment.schema.json`, the files the `#:schema` lines name
    (into `folder` instead, when given)."""
    folder = Path(folder) if folder is not None else Path(course_root) / "schema"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, name in SCHEMA_FILES.items():
        path = folder / name
        path.write_text(json.dumps(json_schema(kind), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


REFERENCE_HEADER = """\
# Configuration reference

Every key of `course.toml` and `assignments/<name>/assignment.toml`: its table, what it expects, its
default and what it does. Generated from the models in `grader/schema.py` by
`grader schema --reference docs/configuration.md`; a test fails when the two differ, so edit the
models, not this file.

`grader schema` writes the same description as JSON Schema into the course's `schema/` folder. The
first line of course.toml, `{course}`, and of each assignment.toml,
`{assignment}`, names it, so that editors that read it (Taplo,
Even Better TOML) complete and check keys. The grader refuses a file naming it, the key and what the
key expects (this page's "Expects"); an unknown key is refused as a typo. A default of "—" means the
key is unset unless written; its description says what unset means.
"""


def reference_markdown() -> str:
    """docs/configuration.md: every key of both files, table by table."""
    parts = [REFERENCE_HEADER.format(course=COURSE_SCHEMA_LINE, assignment=ASSIGNMENT_SCHEMA_LINE)]
    for kind, model in MODELS.items():
        parts.append(f"## `{FILES[kind]}`\n\n{_doc(model)}\n")  # in code: <name> is no HTML tag
        parts.extend(_tables(model, ""))
    return "\n".join(parts)


def _tables(model: type, prefix: str, array: bool = False) -> list[str]:
    """The section of one table, then those of its sub-tables."""
    title = f"[[{prefix}]]" if array else f"[{prefix}]" if prefix else "Top level"
    rows, below = [], []
    for name, field in model.__pydantic_fields__.items():
        key = f"{prefix}.{name}" if prefix else name
        if is_dataclass(field.annotation):
            below.extend(_tables(field.annotation, key))
        elif _items(field) is not None:
            below.extend(_tables(_items(field), key, array=True))
        else:
            rows.append(f"| `{name}` | {_cell(expectation(field))} | {_default(field)} | "
                        f"{_cell(field.description or '')} |")
    section = [f"### {title}\n\n{_doc(model)}\n"] if prefix else [f"### {title}\n"]
    if rows:
        section.append("| Key | Expects | Default | Description |\n|---|---|---|---|\n" + "\n".join(rows) + "\n")
    return section + below


def _doc(model: type) -> str:
    """The first paragraph of a table's docstring, without the table's name that its heading shows."""
    text = " ".join((model.__doc__ or "").split("\n\n")[0].split())
    if text.startswith("`["):
        text = text.split(": ", 1)[1]
    return text[:1].upper() + text[1:]


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if field.default is None:
        return "—"
    return f"`{_toml(field.default)}`"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
