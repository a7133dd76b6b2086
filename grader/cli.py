"""The `grader` command: a thin typer layer over the Python API, with the same defaults."""

from __future__ import annotations

import csv
import difflib
import inspect
import io
import json
import os
import sys
import time
import unicodedata
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import jinja2
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from grader import pipeline, readme, terminal
from grader.check import check, check_kit
from grader.doctor import ERROR, Finding, diagnose
from grader.kit import kit_name, write_kit
from grader.course import ConfigError, Course, load_course
from grader.data import DataError, layout, prepare
from grader.data.sources import PEEKS
from grader.export import EXPORTERS, IDENTIFIERS, export, group_columns
from grader.gradebook import Gradebook
from grader.envs import EnvError, record_path
from grader.envs import build as build_envs
from grader.image import ImageBuildError, build_image
from grader.grades import CourseGrades, compute, number
from grader.leaderboard import board as rank_board
from grader.leaderboard import publish
from grader.leaderboard.ranking import NicknameError, set_nickname
from grader.archive import UnsafeArchive
from grader.moodle import ParticipantsError, import_roster, ingest
from grader.reference import run_references
from grader.runners.bwrap_runner import SandboxUnavailable
from grader.runners.dask_runner import ClusterError, DaskRunner
from grader.runners.docker_runner import DEFAULT_IMAGE, DockerUnavailable
from grader.report import UnknownStudent, report
from grader.runners.environment import summary
from grader.scaffold import ScaffoldError, init_course, new_assignment
from grader.screening import flags_text
from grader.submissions import discover, student_named
from grader.secret import SecretError, backup, load_secret, secret_path
from grader.schema import reference_markdown, write_schemas
from grader.serve.client import SubmitError, submit
from grader.serve.store import ServeStore
from grader.text import escaped, plain_data, plain_text, spreadsheet_cell
from grader.times import shown_time, shown_times
from grader.wheel import WheelError, wheel_name


class UsageError(Exception):
    """The command cannot do what its command line asks, as given."""


class Failed(Exception):
    """The command did its work, and what it was asked for failed."""


USAGE, FAILED = 2, 1
# Exit codes (README, "Exit codes"): 2 when the command cannot start as asked (its options, the course's
# configuration, the set-up it needs); 1 when it started and failed (data, files, a batch that stopped), or
# found what it checks for (doctor, check, readme --check). The most specific class of an error decides.
EXIT_CODES: dict[type[Exception], int] = {
    UsageError: USAGE, ConfigError: USAGE, ScaffoldError: USAGE, jinja2.TemplateError: USAGE, EnvError: USAGE,
    pipeline.SandboxRequired: USAGE, pipeline.RunnerChoiceError: USAGE, SandboxUnavailable: USAGE,
    DockerUnavailable: USAGE, ClusterError: USAGE,
    Failed: FAILED, DataError: FAILED, SecretError: FAILED, WheelError: FAILED, ImageBuildError: FAILED,
    UnknownStudent: FAILED, NicknameError: FAILED, UnsafeArchive: FAILED, ParticipantsError: FAILED,
    SubmitError: FAILED, OSError: FAILED,
}


class _OneErrorPath(typer.core.TyperGroup):
    """Every command's errors end here: one `error:` line, and the exit code of its kind (EXIT_CODES).
    Any other exception is a bug, and keeps its traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except tuple(EXIT_CODES) as exc:
            err.print(f"[red]error:[/] {escaped(exc)}", highlight=False)
            raise typer.Exit(next(EXIT_CODES[k] for k in type(exc).__mro__ if k in EXIT_CODES)) from None


app = typer.Typer(help="Grade deep-learning notebooks: run, score, grade, publish.", no_args_is_help=True,
                  pretty_exceptions_enable=False, cls=_OneErrorPath)


def _group(name: str, help: str, **options: Any) -> typer.Typer:
    """A command group of `grader` (grader data ..., grader moodle ...); `options` for typer.Typer."""
    group = typer.Typer(**{"help": help, "no_args_is_help": True} | options)
    app.add_typer(group, name=name)
    return group


data_app = _group("data", "Prepare assignment data with hidden test labels.")
moodle_app = _group("moodle", "Bring submissions and participants in from Moodle.")
board_app = _group("leaderboard", "Leaderboards under pseudonyms: publish a static site, show a ranking.")
reference_app = _group("reference", "Reference solutions and baselines, run and scored by the grader.")
cluster_app = _group("cluster", "Try the dask runner on a Dask cluster on this machine.")
grades_app = _group("grades", "Course grades under the course policy; exports for Moodle.")
image_app = _group("image", "The docker runner's execution image.")
new_app = _group("new", "Add to a course: a new assignment.")
env_app = _group("env", "The notebooks' Python environment, as course.toml declares it.")
secret_app = _group("secret", "The course secret, which the hidden splits derive from.")
serve_app = _group("serve", "The live benchmark: a web service where students hand in during the window; "
                   "`grader serve` starts it.\n\n"
                   "Hand-ins run in a sandbox (docker or bubblewrap), as `grader run` runs them; without one, the "
                   "service refuses to start.\n\n"
                   "Plain HTTP: TLS is left to a reverse proxy (docs/serve.md).",
                   no_args_is_help=False, invoke_without_command=True)
console = Console()
err = Console(stderr=True, soft_wrap=True)  # errors stay whole lines, for scripts


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def _defaults(function) -> dict[str, Any]:
    """A function's parameters' defaults: a command's options default to its API function's (as otter's CLI
    reads `main.__kwdefaults__`), written once."""
    return {name: p.default for name, p in inspect.signature(function).parameters.items()}


CourseOption = typer.Option(None, "--course", "-C", envvar="GRADER_COURSE",
                            help="Course folder (with course.toml). Default: the current folder.")
FormatOption = typer.Option(Format.table, "--format", "-f", help="table for people; json or csv for scripts.")


def _course(path: Optional[Path]) -> Course:
    root = path or Path(".")
    if not (root / "course.toml").is_file():
        raise UsageError(f"{root.resolve()}: not a course folder (no course.toml). Run grader in the course's folder, "
                         "name it with --course DIR, or set $GRADER_COURSE=DIR; `grader init DIR` starts a course")
    return load_course(root)


def _doctor_first(course, command: str, assignments: Optional[list[str]] = None) -> None:
    """Stop before `command` does any work on the doctor's errors that concern it; print its warnings."""
    findings = diagnose(course, command, assignments)
    for f in findings:
        err.print(f"[{'red' if f.level == ERROR else 'yellow'}]{f.level}:[/] {escaped(f.where)}: "
                  f"{escaped(f.message)}\n  fix: {escaped(f.fix)}", highlight=False)
    errors = sum(f.level == ERROR for f in findings)
    if errors:
        err.print(f"[red]stopped before any work:[/] {errors} problem(s) above; `grader doctor` runs every check",
                  highlight=False)
        raise typer.Exit(USAGE)


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        err.print(f"[yellow]warning:[/] {escaped(warning)}")


def _json(value: Any) -> str:
    """JSON for scripts, its student text as plain text (paths and times too: `default`)."""
    return json.dumps(plain_data(value), ensure_ascii=False, indent=2, default=plain_text) + "\n"


def _serialised(rows: list[dict[str, Any]], columns: list[str], fmt: Format) -> str:
    """Rows as JSON (every field) or CSV (the columns), for scripts; student text as plain text."""
    if fmt is Format.json:
        return _json(rows)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({key: spreadsheet_cell(value) for key, value in row.items()} for row in rows)
    return out.getvalue()


def _emit(rows: list[dict[str, Any]], columns: list[str], fmt: Format, title: str = "",
          more: Optional[str] = None) -> None:
    """Rows for scripts (json, csv), or a table for people at the terminal's width (grader.terminal); `more`
    says where a row's whole text is (default: `grader show STUDENT` where rows are students')."""
    if fmt is not Format.table:
        sys.stdout.write(_serialised(rows, columns, fmt))
        return
    cells = [[plain_text(_cell(row.get(c))) for c in columns] for row in rows]
    more = more or ("grader show STUDENT" if "student" in columns else "--format json")
    console.print(terminal.table(cells, columns, console.width, console, title=plain_text(title), more=more))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)


@data_app.command("prepare")
def data_prepare(
    assignment: str = typer.Argument(..., help="Assignment name (a folder under assignments/)."),
    from_path: Optional[Path] = typer.Option(None, "--from", help="The source's files (instead of the download, "
                                             "or of the assignment's [dataset] path)."),
    verify: bool = typer.Option(_defaults(prepare)["verify"], help="--no-verify: accept data that is not "
                                "byte-identical to the official files (e.g. re-compressed) or to the assignment's "
                                "data.lock.json, and record it there again; the manifest says so."),
    hidden_from: Optional[Path] = typer.Option(None, "--hidden-from", help="A private hidden test set (class "
                                               "folders, .npz or .txt) instead of the source's public one."),
    course_dir: Optional[Path] = CourseOption,
) -> None:
    """Build the public data, the hidden test inputs and the private labels, deterministically.

    The hidden split derives from the assignment's seed and the course secret: the same secret gives the same data.

    The secret is <workdir>/secret, made by the first prepare, or $GRADER_SECRET.
    """
    course = _course(course_dir)
    new_secret = load_secret(course.workdir) is None
    a = course.assignment(assignment)
    with console.status(f"preparing {assignment} from {from_path or 'the official download'}"):
        manifest = prepare(course, a, from_path, verify=verify, hidden_from=hidden_from)
    if new_secret:
        err.print(f"[yellow]new course secret:[/] {secret_path(course.workdir)} (mode 0600). The hidden splits "
                  "derive from it: keep it, and copy it (or set $GRADER_SECRET) to prepare the same data on another "
                  "machine. Never commit or publish it.", highlight=False)
    counts = manifest["counts"]
    where = layout(course, a)
    if a.task == "next_character":
        console.print(f"[green]prepared[/] {assignment}: {counts['train_chars']} training and "
                      f"{counts['valid_chars']} validation characters, {counts['test']} hidden prompts of "
                      f"{counts['context']} characters")
    else:
        console.print(f"[green]prepared[/] {assignment}: train {counts['train']}, validation {counts['valid']}, "
                      f"hidden test {counts['test']} ({counts['test_public']} public / "
                      f"{counts['test_private']} private)")
    console.print(f"  data_dir  {where.data_dir}\n  test_dir  {where.test_dir}\n  labels    {where.labels} (hidden)")
    if manifest["hidden"].get("defended") is False:  # a table: no public copy is assumed (grader.data.prepare)
        console.print(f"  [yellow]the hidden rows come from the source table[/] ({manifest['hidden']['origin']}): "
                      "whoever has that file has their labels; keep it private, or give a private table "
                      "(--hidden-from, or \\[dataset] hidden_from)", highlight=False)
    elif manifest["hidden"]["public"] and a.dataset in PEEKS:  # the instructor's own files, maybe a public copy
        console.print(f"  [yellow]the hidden test inputs come from your files[/] ({manifest['hidden']['origin']}): "
                      "whoever has them has their labels, so keep them private; in case they are a public "
                      "dataset's, they are defended as one (shifted pixels, canaries)", highlight=False)
    elif manifest["hidden"]["public"]:
        console.print(f"  [yellow]the hidden test inputs come from a public source[/] ({manifest['hidden']['origin']}): "
                      "their labels can be looked up; a private set (--hidden-from, or \\[dataset] hidden_from) "
                      "cannot", highlight=False)
    else:
        console.print(f"  hidden test set: private ({manifest['hidden']['origin']})", highlight=False)


RUN = _defaults(pipeline.run)
RESULT_COLUMNS = ["assignment", "student", "status", "primary_score", "grade", "duration_s", "message", "flags"]


@app.command("run")
def run_command(
    submissions: Path = typer.Argument(..., help="Folder of submissions/<assignment>/<student>[.ipynb]."),
    course_dir: Optional[Path] = CourseOption,
    runner: Optional[str] = typer.Option(None, help="Runner name: auto, bwrap, docker, local or dask (default: the "
                                                    "course's; auto: docker if it can, else bwrap); with --cluster, "
                                                    "bwrap, docker or local runs each job on its worker."),
    cluster: Optional[str] = typer.Option(None, help="Dask scheduler address (tcp://host:8786): the dask runner."),
    image: Optional[str] = typer.Option(None, help="Docker runner: the execution image (default: the course's)."),
    gpus: Optional[str] = typer.Option(None, help="Docker runner: GPUs to use, 'all', 'none' or '0,1' "
                                                  "(default: the course's, else every GPU nvidia-smi shows)."),
    runtime: Optional[str] = typer.Option(None, help="Docker runner: the container runtime, e.g. runsc (gVisor)."),
    jobs: Optional[int] = typer.Option(RUN["jobs"], "--jobs", "-j", min=1, help="Notebooks run at once (default: "
                                       "the course's; GPU jobs: at least one per GPU slot)."),
    timeout: Optional[float] = typer.Option(RUN["timeout"], min=1, help="Wall-clock limit in seconds, for this run "
                                            "only."),
    force: bool = typer.Option(RUN["force"], help="Run again submissions already graded under this version."),
    student: Optional[str] = typer.Option(RUN["student"], help="Regrade only this student."),
    unsandboxed: bool = typer.Option(RUN["unsandboxed"], "--unsandboxed", help="Run the hand-ins with the local "
                                     "runner, on this machine as your user, with no sandbox: only for notebooks you "
                                     "trust."),
    verify: int = typer.Option(RUN["verify"], "--verify", min=0, help="Grade nothing new: run N random graded "
                               "hand-ins again and flag those whose score moved (the grade stays the first run's)."),
    verify_student: Optional[str] = typer.Option(None, "--verify-student", help="Like --verify, for every graded "
                                                 "hand-in of this student."),
    fmt: Format = FormatOption,
) -> None:
    """Run, score and grade every submission not graded yet; each result is saved as it ends.

    Hand-ins run in a sandbox (docker or bubblewrap); without one, the command refuses to start.
    """
    course = _course(course_dir)
    try:  # the doctor looks at the assignments handed in; pipeline.run names a missing folder
        handed_in = sorted({s.assignment for s in discover(submissions, set(course.assignments))[0]})
    except FileNotFoundError:
        handed_in = []
    _doctor_first(course, "run", handed_in)
    chosen = pipeline.make_runner(course, runner, cluster, image=image, gpus=gpus, runtime=runtime,
                                  unsandboxed=unsandboxed)
    if isinstance(chosen, DaskRunner):
        err.print(f"Dask dashboard: {chosen.dashboard_link}")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=fmt is not Format.table) as progress:
        task = progress.add_task("grading", total=None)
        report = pipeline.run(
            course, submissions, runner=chosen, jobs=jobs, timeout=timeout, force=force,
            student=verify_student or student, unsandboxed=unsandboxed,
            verify=verify or (pipeline.VERIFY_ALL if verify_student else 0),
            on_start=lambda n: progress.update(task, total=n),
            on_result=lambda row: progress.update(
                task, advance=1, description=escaped(f"{row.assignment}/{row.student}: {row.status}")))
    _warn(report.warnings)
    rows = [vars(r) | {"flags": flags_text(r.flags)} for r in report.rows]
    _emit(rows, RESULT_COLUMNS, fmt,
          title=(f"{len(rows)} re-run to verify" if verify or verify_student
                 else f"{len(rows)} graded, {report.skipped} already graded") + f" ({chosen.name} runner)")
    if report.stopped:
        raise Failed(f"the batch stopped: {report.stopped}")
    if any(w.startswith("assignment ") for w in report.warnings):  # an assignment was left ungraded
        raise typer.Exit(FAILED)


@app.command("status")
def status_command(
    assignment: Optional[str] = typer.Option(None, help="Only this assignment."),
    course_dir: Optional[Path] = CourseOption,
    fmt: Format = FormatOption,
) -> None:
    """Each submission and its latest result."""
    course = _course(course_dir)
    with Gradebook(course.gradebook_path) as book:
        rows = book.latest(assignment=assignment)
    if fmt is not Format.json:
        rows = [r | {"flags": flags_text(r["flags"])} for r in rows]
    columns = list(RESULT_COLUMNS)
    if fmt is not Format.table:
        columns[4:4] = ["primary_metric", "submitted_at", "finished_at", "artifacts"]
    _emit(rows, columns, fmt, title=f"{course.name}: {len(rows)} submissions")


@app.command("show")
def show_command(
    student: str = typer.Argument(..., help="Student name as in the submissions folder."),
    course_dir: Optional[Path] = CourseOption,
    fmt: Format = FormatOption,
) -> None:
    """Every run of one student: status, scores per split, errors and where the artifacts are."""
    course = _course(course_dir)
    with Gradebook(course.gradebook_path) as book:
        runs = book.runs(student=unicodedata.normalize("NFC", student))
        if not runs:
            close = difflib.get_close_matches(student, sorted({r["student"] for r in book.latest()}), n=3)
            raise Failed(f"no submissions from '{student}' in {course.gradebook_path}" +
                         (f"; did you mean {' or '.join(repr(n) for n in close)}?" if close else ""))
    if fmt is not Format.table:
        flat = [{k: v for k, v in r.items() if k != "scores"} | {"flags": flags_text(r["flags"])} | {
            f"{split}_{metric}": value for split, metrics in r["scores"].items() for metric, value in metrics.items()}
            for r in runs] if fmt is Format.csv else runs
        columns = list(dict.fromkeys(k for row in flat for k in row))
        _emit(flat, columns, fmt)
        return
    for r in runs:
        console.rule(escaped(f"{r['assignment']} · {r['student']} · run {r['id']} · {r['status']}"))
        console.print(f"notebook   {plain_text(r['path'])}\n"
                      f"submitted  {shown_time(r['submitted_at'], course.timezone)}\n"
                      f"ran        {shown_time(r['started_at'], course.timezone)} ({_cell(r['duration_s'])} s, "
                      f"{r['runner']} runner)\n"
                      f"grade      {_cell(r['grade'])}\nartifacts  {plain_text(r['artifacts'])}",
                      markup=False, highlight=False)
        if r["verifies"]:
            console.print(f"verifies   run {r['verifies']} (a --verify re-run: the grade stays that run's)")
        if r["environment"]:
            console.print(f"ran on     {escaped(summary(r['environment']))}", highlight=False)
        if r["message"]:
            console.print(f"[red]{escaped(r['message'])}[/]")
        for flag in r["flags"]:
            console.print(f"[yellow]flag[/]       {escaped(flags_text([flag]))}", highlight=False)
        if r.get("sample"):
            console.print("sample     " + plain_text(r["sample"], limit=500).replace("\n", "\n           "),
                          markup=False)
        if r["scores"]:
            metric_names = sorted({m for split in r["scores"].values() for m in split})
            table = Table("split", *metric_names)
            for split, metrics in r["scores"].items():
                table.add_row(split, *(_cell(metrics.get(m)) for m in metric_names))
            console.print(table)


@app.command("check")
def check_command(
    notebook: Path = typer.Argument(..., exists=True, dir_okay=False, help="Your notebook."),
    assignment: Optional[str] = typer.Option(None, "--assignment", "-a", help="The assignment it is for "
                                             "(with a course folder)."),
    kit: Optional[Path] = typer.Option(None, "--kit", exists=True, help="The assignment's student kit (folder or "
                                       ".zip): no course folder needed."),
    course_dir: Optional[Path] = CourseOption,
    timeout: Optional[float] = typer.Option(None, min=1, help="Wall-clock limit in seconds."),
    fmt: Format = FormatOption,
) -> None:
    """Check a notebook before handing it in: smoke mode, scored on the public validation split."""
    if bool(assignment) == bool(kit):
        raise UsageError("give --kit KIT (a student's kit), or --assignment A in a course folder")
    report = check_kit(kit, notebook, timeout) if kit else check(_course(course_dir), notebook, assignment, timeout)
    if fmt is Format.table:
        console.print(f"[bold]{escaped(report.title)}[/]")
        for item in report.items:
            mark = {True: "[green]✓[/]", False: "[red]✗[/]", None: "[cyan]•[/]"}[item.passed]
            console.print(f" {mark} {escaped(item.text)}", highlight=False)
        console.print(f"[bold]{report.verdict}[/]")
    else:
        rows = [{"passed": i.passed, "text": i.text} for i in report.items]
        _emit(rows, ["passed", "text"], fmt) if fmt is Format.csv else sys.stdout.write(_json({
            "passed": report.passed, "verdict": report.verdict, "items": rows,
            "scores": report.assessment.scores if report.assessment else {},
            "run_dir": str(report.run_dir) if report.run_dir else None}))
    raise typer.Exit(0 if report.passed else FAILED)


@app.command("kit")
def kit_command(
    assignment: str = typer.Argument(..., help="Assignment name."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="A folder, or a file ending in .zip "
                                       "(default: <assignment>-kit.zip here)."),
    course_dir: Optional[Path] = CourseOption,
) -> None:
    """Write the student kit: public data, a practice test with its answers, README and starter; nothing hidden."""
    course = _course(course_dir)
    _doctor_first(course, "kit", [assignment])
    written = write_kit(course, assignment, out or Path(f"{kit_name(assignment)}.zip"))
    console.print(f"kit: {written}", highlight=False)
    if course.kit_url:
        console.print(f"publish it as {course.kit_address(assignment)} (course.toml [kit] url)",
                      highlight=False)
    unpacked = kit_name(assignment) if written.suffix == ".zip" else written.name
    console.print(f"students install the grader that made the kit: pip install {unpacked}/wheels/{wheel_name()}\n"
                  f"students: grader check NOTEBOOK --kit {written.name}", highlight=False, soft_wrap=True)


INIT = _defaults(init_course)


@app.command("init")
def init_command(
    folder: Path = typer.Argument(..., help="The new course's folder: missing or empty."),
    language: str = typer.Option(INIT["language"], "--language", help="What students read: a language the grader has "
                                  "catalogs of (grader/locale/)."),
    name: Optional[str] = typer.Option(INIT["name"], "--name", help="The course's name (default: the folder's)."),
) -> None:
    """A new course: course.toml (every key shown), .gitignore, JSON Schemas and a first assignment."""
    course = init_course(folder, language, name)
    console.print(f"course: {course.root}\n  course.toml, .gitignore, schema/, assignments/{', '.join(course.assignments)}/"
                  f"\nnext: grader new assignment NAME --data PATH   (in {course.root})", highlight=False)


@new_app.command("assignment")
def new_assignment_command(
    name: str = typer.Argument(..., help="The assignment's name: its folder under assignments/."),
    data: Optional[Path] = typer.Option(None, "--data", exists=True, help="Your data: a folder of class folders "
                                        "(images), a .npz (arrays), a .csv or .parquet (a table), a .txt (text)."),
    like: Optional[str] = typer.Option(None, "--like", help="Copy this assignment's settings and README templates "
                                       "(from this course, else the bundled course)."),
    label: str = typer.Option(_defaults(new_assignment)["label"], "--label", help="A table's label column."),
    course_dir: Optional[Path] = CourseOption,
) -> None:
    """assignments/NAME/: assignment.toml, README templates and READMEs, and a starter made from them."""
    course = _course(course_dir)
    created = new_assignment(course, name, data, like, label)
    for path in created.written:
        console.print(f"wrote {path}", highlight=False)
    console.print(f"{name} counts {created.counts}", highlight=False)


@app.command("readme")
def readme_command(
    assignments: Optional[list[str]] = typer.Argument(None, help="Assignment names (default: all)."),
    check_only: bool = typer.Option(False, "--check", help="Write nothing; exit 1 if a README disagrees with its "
                                    "assignment.toml and course.toml."),
    course_dir: Optional[Path] = CourseOption,
    fmt: Format = FormatOption,
) -> None:
    """Render the student READMEs from each assignment's templates, assignment.toml and course.toml."""
    course = _course(course_dir)
    names = assignments or sorted(course.assignments)
    found = readme.stale(course, names) if check_only else [readme.Stale(p, "") for p in readme.write(course, names)]
    if fmt is not Format.table:
        _emit([{"path": str(item.path), "diff": item.diff} for item in found], ["path", "diff"], fmt)
    elif check_only:
        for item in found:
            err.print(str(item), markup=False, highlight=False)
        console.print(f"{len(found)} README(s) disagree with their assignment" if found
                      else "READMEs agree with their assignments", highlight=False)
    else:
        for item in found:
            console.print(f"wrote {item.path}", highlight=False)
        console.print(f"{len(found)} README(s) rewritten", highlight=False)
    raise typer.Exit(FAILED if check_only and found else 0)


@app.command("schema")
def schema_command(
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the two schemas into this folder "
                                       "(default: the course's schema/, which the #:schema lines name)."),
    reference: Optional[Path] = typer.Option(None, "--reference", help="Also write the configuration reference, "
                                             "in Markdown, to this file (the grader's own: docs/configuration.md)."),
    course_dir: Optional[Path] = CourseOption,
) -> None:
    """Write the JSON Schema of course.toml and assignment.toml, which editors read from each file's first line."""
    root = course_dir or Path(".")
    if out is None and not (root / "course.toml").is_file():
        raise UsageError(f"no course.toml in {root.resolve()}: give the course with --course, or a folder with --out")
    for path in write_schemas(root, out):
        console.print(f"wrote {path}", highlight=False)
    if reference:
        reference.parent.mkdir(parents=True, exist_ok=True)
        reference.write_text(reference_markdown(), encoding="utf-8")
        console.print(f"wrote {reference}", highlight=False)


@app.command("doctor")
def doctor_command(
    course_dir: Optional[Path] = CourseOption,
    fmt: Format = FormatOption,
) -> None:
    """Every check an instructor needs before the term; exit 1 on an error.

    run, kit and grades export stop on the errors that concern them.
    """
    course = _course(course_dir)
    findings = diagnose(course)
    if fmt is not Format.table:
        _emit([f.as_dict() for f in findings], ["level", "where", "message", "fix"], fmt)
    else:
        _print_findings(findings)
    raise typer.Exit(FAILED if any(f.level == ERROR for f in findings) else 0)


def _print_findings(findings: list[Finding]) -> None:
    """Each finding as a block that wraps within the terminal: where, what, and the fix."""
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column()
    for f in findings:
        style = "red" if f.level == ERROR else "yellow"
        table.add_row(Text(f.level, style=style), Text(plain_text(f.where), style="bold"))
        table.add_row("", Text(plain_text(f.message)))
        table.add_row("", Text("fix: " + plain_text(f.fix), style="green"))
        table.add_row("", "")
    console.print(table)
    errors = sum(f.level == ERROR for f in findings)
    console.print(f"{errors} error(s), {len(findings) - errors} warning(s)" if findings
                  else "no problems found", highlight=False)


@secret_app.command("backup")
def secret_backup(
    to: Path = typer.Option(..., "--to", help="Where the copy goes: a file, or a folder to hold `secret`; off the "
                            "course folder (another disk, a password manager's folder)."),
    course_dir: Optional[Path] = CourseOption,
) -> None:
    """Copy the course secret (mode 0600) and note the copy in <workdir>/secret.backup.json for `grader doctor`."""
    course = _course(course_dir)
    copy = backup(course.workdir, to, keep_out=(course.root,))
    console.print(f"copied {secret_path(course.workdir)} to {copy} (mode 0600); noted in "
                  f"{course.workdir / 'secret.backup.json'}", highlight=False)


@moodle_app.command("import")
def moodle_import(
    assignment: str = typer.Argument(..., help="The assignment these submissions are for."),
    source: Path = typer.Argument(..., exists=True, help="Moodle's 'Download all submissions' zip, or its folder."),
    participants: Optional[Path] = typer.Option(None, "--participants", "-p", exists=True, dir_okay=False,
                                                help="Participants CSV or grading worksheet (identity, times)."),
    into: Path = typer.Option(Path("submissions"), help="Submissions folder to write into."),
    course_dir: Optional[Path] = CourseOption,
    fmt: Format = FormatOption,
) -> None:
    """Unpack a Moodle download safely into INTO/ASSIGNMENT/<student>/, with each submission's time."""
    course = _course(course_dir)
    result = ingest(course, assignment, source, participants, into)
    _warn(result.warnings)
    rows = [vars(i) | {"files": ", ".join(i.files)} for i in result.imported]
    if fmt is Format.table:
        rows = shown_times(rows, ["submitted_at"], course.timezone)
    _emit(rows, ["student", "participant", "submitted_at", "time_source", "in_roster", "files"], fmt,
          title=f"{len(rows)} submissions into {result.target}; {result.roster} participants in the roster")


@moodle_app.command("roster")
def moodle_roster(
    participants: Path = typer.Argument(..., exists=True, dir_okay=False, help="Participants CSV."),
    course_dir: Optional[Path] = CourseOption,
) -> None:
    """Record who the students are (ID number, email) for the Moodle export."""
    course = _course(course_dir)
    count = import_roster(course, participants)
    console.print(f"{count} participants in the roster of {course.gradebook_path}")


def _grades(course) -> CourseGrades:
    with Gradebook(course.gradebook_path) as book:
        grades = compute(course, book)
    return grades


@grades_app.command("show")
def grades_show(
    course_dir: Optional[Path] = CourseOption,
    fmt: Format = FormatOption,
) -> None:
    """Every student's grades: each assignment (counted or not), each group, the final grade."""
    course = _course(course_dir)
    grades = _grades(course)
    _warn(grades.warnings)
    if fmt is Format.csv:
        sys.stdout.write(export(grades, course, "csv").text)
        return
    if fmt is Format.json:
        _emit([s.as_dict() for s in grades.students], [], fmt)
        return
    groups = group_columns(grades)
    rows = []
    for s in grades.students:
        row = {"student": s.student, "final": number(s.final) or "pending"}
        for a, c in s.components.items():
            value = number(c.grade) or "pending"
            row[a] = f"({value})" if c.dropped else value
        row |= {g.name: number(g.grade) or "pending" for g in s.groups if g.name in groups}
        rows.append(row)
    _emit(rows, ["student", *grades.assignments, *groups, "final"], fmt,
          title=f"{course.name}: {len(rows)} students; (x) = not counted", more="--format csv")


ExportFormat = Enum("ExportFormat", {name: name for name in EXPORTERS}, type=str)
Identifier = Enum("Identifier", {name: name for name in IDENTIFIERS}, type=str)


@grades_app.command("export")
def grades_export(
    fmt: ExportFormat = typer.Option("moodle", "--format", "-f", help="moodle: Moodle's grade import CSV; "
                                     "csv: every component for the instructor."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="File to write (default: standard output)."),
    identifier: Identifier = typer.Option(_defaults(export)["identifier"], help="The user field Moodle matches "
                                          "rows by."),
    course_dir: Optional[Path] = CourseOption,
) -> None:
    """Export the course grades (UTF-8 CSV)."""
    course = _course(course_dir)
    _doctor_first(course, "export")
    result = export(_grades(course), course, fmt.value, identifier.value)
    _warn(result.warnings)
    if out is None:
        sys.stdout.write(result.text)
        return
    partial = out.with_name(f".{out.name}.partial")
    partial.write_text(result.text, encoding="utf-8", newline="")
    partial.replace(out)  # never a half-written file where Moodle's import might pick it up
    err.print(f"{result.rows} rows written to {out}")


class AuditFormat(str, Enum):
    html = "html"
    json = "json"
    csv = "csv"


AUDIT_COLUMNS = ["student", "submission_id", "submitted_at", "status", "score", "grade", "duration_s", "severity",
                 "flags_text", "environment"]


@app.command("audit")
def audit_command(
    assignment: str = typer.Argument(..., help="Assignment name."),
    fmt: AuditFormat = typer.Option(AuditFormat.html, "--format", "-f", help="html: the instructor's page with "
                                    "side-by-side views; json or csv: one row per hand-in, for scripts."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="html: the folder (default <workdir>/audit/A); "
                                       "json, csv: a file (default: standard output)."),
    archive: Optional[Path] = typer.Option(None, "--archive", exists=True, file_okay=False,
                                           help="A folder of earlier years' notebooks to compare with too."),
    course_dir: Optional[Path] = CourseOption,
) -> None:
    """Every hand-in of an assignment with its flags, worst first: claims, similarity, carried data, odd runs."""
    from grader.audit import audit, write_site  # copydetect, a second to import: only for this command

    course = _course(course_dir)
    with err.status(f"auditing {assignment}"):
        result = audit(course, assignment, archive)
    flagged = sum(1 for r in result.rows if r.flags)
    err.print(f"{len(result.rows)} hand-ins, {flagged} flagged, {len(result.pairs)} similar pairs "
              f"({result.seconds:.1f} s)", highlight=False)
    if fmt is AuditFormat.html:
        index = write_site(result, out or course.workdir / "audit" / assignment)
        console.print(f"audit: {index}", highlight=False)
        return
    rows = [r.as_dict() for r in result.rows]
    if out is None:
        _emit(rows, AUDIT_COLUMNS, Format(fmt.value))
        return
    out.write_text(_serialised(rows, AUDIT_COLUMNS, Format(fmt.value)), encoding="utf-8")
    err.print(f"{len(rows)} rows written to {out}")


@app.command("report")
def report_command(
    student: str = typer.Argument(..., help="Student name, ID number or email."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for the HTML report "
                                       "(default: <workdir>/reports/<student>, or .../<student>-instructor)."),
    instructor: bool = typer.Option(False, "--instructor", help="The instructor's copy: every audit flag too "
                                    "(similar hand-ins name other students). The student's copy shows only the "
                                    "screening of their own notebook."),
    course_dir: Optional[Path] = CourseOption,
    fmt: Format = FormatOption,
) -> None:
    """One student's feedback: scores, grades, which counted and why, the executed notebooks as HTML."""
    course = _course(course_dir)
    result = report(course, student, out, instructor=instructor)
    if fmt is Format.json:
        sys.stdout.write(_json(result.grades.as_dict() | {"feedback": result.feedback, "report": str(result.index)}))
        return
    if fmt is Format.csv:
        rows = [{"assignment": a} | d | {"attempts": len(d["attempts"])}
                for a, d in result.grades.as_dict()["assignments"].items()]
        _emit(rows, ["assignment", "state", "grade", "counted", "chosen", "attempts"], fmt)
        return
    _emit([{"assignment": a, "grade": number(result.grades.components[a].grade) or "-", "why": why}
           for a, why in result.explanations.items()], ["assignment", "grade", "why"], fmt,
          title=result.grades.student)
    console.print(f"[bold]{escaped(result.final)}[/]\nreport: {escaped(result.index)}", highlight=False)


@board_app.command("publish")
def board_publish(
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Site folder (default: the course's leaderboards/)."),
    reveal: bool = typer.Option(False, help="Rank on the private split now, before the deadline."),
    course_dir: Optional[Path] = CourseOption,
    fmt: Format = FormatOption,
) -> None:
    """Write the static leaderboard site: index, a page per assignment (with CSV, JSON, plots), standing."""
    course = _course(course_dir)
    with err.status("publishing leaderboards"):
        published = publish(course, out, reveal)
    rows = [{"assignment": b.assignment, "split": b.split, "entries": len(b.entries),
             "leader": b.entries[0].pseudonym if b.entries else None} for b in published]
    _emit(rows, ["assignment", "split", "entries", "leader"], fmt,
          title=f"published to {out or course.root / 'leaderboards'}")


@board_app.command("show")
def board_show(
    assignment: str = typer.Argument(..., help="Assignment name."),
    reveal: bool = typer.Option(False, help="Rank on the private split now, before the deadline."),
    names: bool = typer.Option(False, help="Add real names: the instructor's local view, never published."),
    course_dir: Optional[Path] = CourseOption,
    fmt: Format = FormatOption,
) -> None:
    """One assignment's ranking in the terminal (the same as the published page)."""
    course = _course(course_dir)
    with Gradebook(course.gradebook_path) as book:
        b = rank_board(course, book, assignment, reveal)
    rows = [e.public() | ({"student": e.student} if names else {}) for e in b.entries]
    if fmt is Format.table:
        rows = shown_times(rows, ["last_submission"], course.timezone)
    columns = ["rank", "pseudonym", *(["student"] if names else []), "score", "submissions", "last_submission",
               "runtime_s"]
    _emit(rows, columns, fmt, title=f"{b.title}: {b.metric} on the {b.split} split", more="--format json")


@board_app.command("nickname")
def board_nickname(
    student: str = typer.Argument(..., help="Student name as in the gradebook."),
    nickname: str = typer.Argument(..., help="What the leaderboards show instead of the pseudonym."),
    course_dir: Optional[Path] = CourseOption,
) -> None:
    """Record the nickname a student chose for the leaderboards."""
    course = _course(course_dir)
    with Gradebook(course.gradebook_path) as book:
        set_nickname(book, unicodedata.normalize("NFC", student), nickname)
    console.print(f"{student}: nickname recorded", highlight=False)


REFERENCE_COLUMNS = ["assignment", "role", "mode", "status", "primary_metric", "primary_score", "grade",
                     "duration_s", "device", "message"]
REFERENCES = _defaults(run_references)


@reference_app.command("run")
def reference_run(
    name: Optional[str] = typer.Argument(None, help="One assignment; or --all."),
    all_: bool = typer.Option(False, "--all", help="Every assignment that has a reference."),
    smoke: bool = typer.Option(REFERENCES["smoke"], help="Train briefly (smoke = True), as in CI on a CPU."),
    course_dir: Optional[Path] = CourseOption,
    runner: Optional[str] = typer.Option(REFERENCES["runner"], help="Runner name (default: the course's, else "
                                         "local)."),
    jobs: Optional[int] = typer.Option(REFERENCES["jobs"], "--jobs", "-j", min=1, help="Notebooks run at once."),
    timeout: Optional[float] = typer.Option(REFERENCES["timeout"], min=1, help="Wall-clock limit in seconds, per "
                                            "notebook."),
    fmt: Format = FormatOption,
) -> None:
    """Run baselines and references on the hidden test set; the grader scores them and keeps the result."""
    if bool(name) == all_:
        raise UsageError("name one assignment, or give --all")
    course = _course(course_dir)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=fmt is not Format.table) as progress:
        task = progress.add_task("references", total=None)
        rows = run_references(course, [name] if name else None, smoke=smoke, runner=runner, jobs=jobs,
                              timeout=timeout, on_result=lambda row: progress.update(
                                  task, advance=1, description=f"{row.assignment} {row.role}: {row.status}"))
    _emit([vars(r) for r in rows], REFERENCE_COLUMNS, fmt,
          title=f"{len(rows)} reference runs ({'smoke' if smoke else 'full'})")
    if not rows or not all(r.ok for r in rows):
        raise typer.Exit(FAILED)


@reference_app.command("show")
def reference_show(
    name: Optional[str] = typer.Argument(None, help="Only this assignment."),
    history: bool = typer.Option(False, help="Every run, not only the latest of each role and mode."),
    course_dir: Optional[Path] = CourseOption,
    fmt: Format = FormatOption,
) -> None:
    """The recorded reference and baseline runs: scores, runtime, device."""
    course = _course(course_dir)
    with Gradebook(course.gradebook_path) as book:
        rows = book.reference_runs(name, latest=not history)
    columns = REFERENCE_COLUMNS + ["finished_at"] + ([] if fmt is Format.table else ["notebook", "artifacts"])
    if fmt is Format.table:
        rows = shown_times(rows, ["finished_at"], course.timezone)
    _emit(rows, columns, fmt, title=f"{len(rows)} reference runs")


@cluster_app.command("local")
def cluster_local(
    workers: int = typer.Option(2, "--workers", "-n", min=1, help="Worker processes (one job at a time each)."),
    gpus: int = typer.Option(0, "--gpus-per-worker", min=0, help="The GPU resource each worker offers."),
    port: int = typer.Option(8786, help="The scheduler's port."),
    dashboard: str = typer.Option(":8787", help="The dashboard's address."),
) -> None:
    """Start a Dask LocalCluster and keep it up until Ctrl-C; then `grader run DIR --cluster ADDRESS`."""
    from distributed import LocalCluster  # a second to import: only for this command

    resources = {"GPU": gpus} if gpus else None
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, scheduler_port=port,
                      dashboard_address=dashboard, resources=resources) as local:
        console.print(f"scheduler  {local.scheduler_address}\ndashboard  {local.dashboard_link}\n"
                      f"workers    {workers}{f', GPU={gpus} each' if gpus else ''}\n"
                      f"grade with: grader run submissions/ --cluster {local.scheduler_address}", highlight=False)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            console.print("cluster stopped")


IMAGE = _defaults(build_image)


@image_app.command("build")
def image_build(
    tag: Optional[str] = typer.Option(None, help="The image's name (default: the course's, image under "
                                                 f"grader.docker, else {DEFAULT_IMAGE})."),
    base_image: Optional[str] = typer.Option(None, help="FROM this image instead of the Dockerfile's CUDA PyTorch "
                                                        "(any Debian/Ubuntu image with python3 and python3-venv)."),
    torch: bool = typer.Option(IMAGE["torch"], help="--no-torch: leave torch and torchvision out (a small CPU "
                               "image)."),
    offline: bool = typer.Option(IMAGE["offline"], help="Download wheels on this machine and build with no network."),
    wheels: Optional[Path] = typer.Option(None, "--wheels", exists=True, file_okay=False,
                                          help="Build with no network from this folder of wheels (for the image's "
                                               "Python and platform)."),
    dockerfile: Optional[Path] = typer.Option(None, "--file", exists=True, dir_okay=False,
                                              help="Another Dockerfile (default: the project's)."),
    build_arg: list[str] = typer.Option([], help="NAME=VALUE for an ARG of the Dockerfile, e.g. "
                                                 "TORCH_PACKAGES='torch==2.9.1 torchvision==0.24.1'; repeatable."),
    course_dir: Optional[Path] = CourseOption,
) -> None:
    """Build the image that the docker runner runs notebooks in, from the project's Dockerfile.

    Its packages are the course's (the environment table of course.toml) when it declares them.

    The image is labelled with them.
    """
    if any("=" not in arg for arg in build_arg):
        raise UsageError("--build-arg: expected NAME=VALUE")
    # Outside a course folder (and with no --course) the Dockerfile's own packages, as before.
    course = _course(course_dir) if course_dir or Path("course.toml").is_file() else None
    tag = tag or (course.docker.image if course else DEFAULT_IMAGE)
    image_id = build_image(tag, base_image=base_image, torch=torch, offline=offline, dockerfile=dockerfile,
                           build_args=dict(arg.split("=", 1) for arg in build_arg), course=course, wheels=wheels,
                           on_line=lambda line: err.print(escaped(line), style="dim", highlight=False))
    console.print(f"built {tag} ({image_id})", highlight=False)


@env_app.command("build")
def env_build(
    wheels: Optional[Path] = typer.Option(None, "--wheels", exists=True, file_okay=False,
                                          help="Install with no package index, from this folder of wheels "
                                               "(made with `pip download -d DIR ...`)."),
    force: bool = typer.Option(False, "--force", help="Build every environment again, also those built already "
                                                      "(one that changed since its build: `grader run` says so)."),
    course_dir: Optional[Path] = CourseOption,
) -> None:
    """Build the notebooks' environment for the bwrap and local runners, as course.toml declares it.

    The packages are the environment table of course.toml, and each assignment's own.

    Each distinct set gets a venv of its own under <workdir>/envs/.
    """
    course = _course(course_dir)
    started = time.monotonic()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                  transient=True) as progress:
        task = progress.add_task("checking", total=None)

        def building(target: Path, declared: tuple[str, ...]) -> None:
            err.print(f"building {target.name}: ipykernel {' '.join(declared)}", highlight=False)
            progress.update(task, description=f"{target.name}: pip")

        def line(text: str) -> None:
            progress.update(task, description=escaped(f"{text[:100]}"))

        built = build_envs(course, wheels, on_line=line, on_env=building, force=force)
    for path in built:
        console.print(f"ready {path} (record: {record_path(path)})", highlight=False)
    err.print(f"{len(built)} environment(s) in {time.monotonic() - started:.0f} s", highlight=False)


@serve_app.callback()
def serve_command(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="The address to listen on (behind a reverse proxy: 127.0.0.1)."),
    port: int = typer.Option(8000, help="The port to listen on."),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", min=1, help="Notebooks run at once (default: "
                                          "the course's serve.workers, else its jobs)."),
    runner: Optional[str] = typer.Option(None, help="Runner name, as for `grader run` (default: the course's)."),
    cluster: Optional[str] = typer.Option(None, help="Dask scheduler address (tcp://host:8786): the dask runner."),
    unsandboxed: bool = typer.Option(False, "--unsandboxed", help="Run the hand-ins with the local runner, with no "
                                     "sandbox: only for notebooks you trust."),
    forwarded_allow_ips: str = typer.Option("127.0.0.1", "--forwarded-allow-ips", help="Proxies whose "
                                            "X-Forwarded-For and X-Forwarded-Proto are trusted (comma-separated "
                                            "addresses, or *)."),
    course_dir: Optional[Path] = CourseOption,
) -> None:
    """Serve the course: students sign in, hand in notebooks and follow their runs; the board moves as they score.

    `grader serve --help` shows serve_app's help (the group's), which says how it runs.
    """
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn  # the server's parts: only for this command

    from grader.serve.app import make_app

    course = _course(course_dir)
    _doctor_first(course, "run")
    service = make_app(course.root, workers=workers, runner=runner, cluster=cluster, unsandboxed=unsandboxed)
    uvicorn.run(service, host=host, port=port, proxy_headers=True, forwarded_allow_ips=forwarded_allow_ips)


TOKEN_COLUMNS = ["name", "participant", "id_number", "email", "token", "link"]


class TokenFormat(str, Enum):  # no table: the tokens go to a mail merge, not to the screen
    csv = "csv"
    json = "json"


def _sign_in_link(course: Course, token: str) -> str:
    # In the fragment: a browser never sends it, so no server or proxy log holds the token.
    return f"{course.serve.url.rstrip('/')}/login#token={token}" if course.serve.url else ""


@serve_app.command("tokens")
def serve_tokens(
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="The file to write (mode 0600: the tokens are "
                                       "passwords). Default: standard output."),
    renew: bool = typer.Option(False, "--renew", help="A new token for every student; their old ones stop working. "
                               "Default: tokens only for students who have none."),
    fmt: TokenFormat = typer.Option(TokenFormat.csv, "--format", "-f", help="csv (for a mail merge) or json."),
    course_dir: Optional[Path] = CourseOption,
) -> None:
    """Sign-in tokens and links for the roster's students (`grader moodle roster`), for a mail merge.

    Each row has Moodle's identifiers and the student's sign-in link (the course's serve.url).

    Only the tokens' hashes are kept: a token is shown this once.
    """
    course = _course(course_dir)
    with Gradebook(course.gradebook_path) as book:
        roster = book.roster()
    if not roster:
        raise UsageError(f"no students in the roster of {course.gradebook_path}: `grader moodle roster "
                         "participants.csv` records them")
    with ServeStore(course) as store:
        issued = store.issue_tokens(sorted(roster), renew)
    rows = [roster[name] | {"token": token, "link": _sign_in_link(course, token)} for name, token in issued.items()]
    text = _serialised(rows, TOKEN_COLUMNS, Format(fmt.value))
    if out is None:
        sys.stdout.write(text)
    else:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # a file that was there before is narrowed too
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    err.print(f"{len(issued)} new token(s){f' in {escaped(out)}' if out else ''}; {len(roster) - len(issued)} "
              "student(s) keep theirs (--renew replaces them)"
              + ("" if course.serve.url else "; no links: set \\[serve] url in course.toml"), highlight=False)


@serve_app.command("instructor-token")
def serve_instructor_token(course_dir: Optional[Path] = CourseOption) -> None:
    """A new sign-in token for the instructor page (/admin); the previous one stops working."""
    course = _course(course_dir)
    with ServeStore(course) as store:
        token = store.issue_instructor_token()
    sys.stdout.write(token + "\n")
    link = _sign_in_link(course, token)
    err.print(f"sign in at {link}" if link else "sign in with it at the service's /login", highlight=False)


@serve_app.command("grant")
def serve_grant(
    student: str = typer.Argument(..., help="Student name, ID number or email."),
    assignment: str = typer.Argument(..., help="Assignment name."),
    attempts: int = typer.Option(1, "--attempts", "-n", min=1, help="How many more hand-ins."),
    day: Optional[str] = typer.Option(None, "--day", help="The day they are for, YYYY-MM-DD in the course's time "
                                      "zone (default: today)."),
    course_dir: Optional[Path] = CourseOption,
) -> None:
    """Let a student hand in more than the daily limit on one day."""
    course = _course(course_dir)
    course.assignment(assignment)
    try:
        when = date.fromisoformat(day) if day else None
    except ValueError:
        raise UsageError(f"--day {day!r}: expected YYYY-MM-DD") from None
    with Gradebook(course.gradebook_path) as book:
        student = student_named(student, book.students(), book.roster(), course.gradebook_path)
    with ServeStore(course) as store:
        store.grant(student, assignment, attempts, when)
        allowance = store.allowance(student, assignment)
    console.print(f"{student}: {attempts} more hand-in(s) of {assignment} {f'on {when}' if when else 'today'} (today: "
                  f"{allowance.used} of {allowance.limit} used)", highlight=False)


@serve_app.command("reveal")
def serve_reveal(
    assignment: str = typer.Argument(..., help="Assignment name."),
    hide: bool = typer.Option(False, "--hide", help="Show the public half again."),
    course_dir: Optional[Path] = CourseOption,
) -> None:
    """Rank an assignment's board on the private half of the hidden test set; --hide: on the public half again.

    Once revealed, the students' reports on the service show the grades.
    """
    course = _course(course_dir)
    course.assignment(assignment)
    with ServeStore(course) as store:
        store.reveal(assignment, not hide)
    console.print(f"{assignment}: the service shows the {'public' if hide else 'private'} half", highlight=False)


class SubmitFormat(str, Enum):
    text = "text"
    json = "json"


@app.command("submit")
def submit_command(
    notebook: Path = typer.Argument(..., exists=True, dir_okay=False, help="The notebook (.ipynb) to hand in."),
    server: str = typer.Option(..., "--server", envvar="GRADER_SERVER", help="The service's address, like "
                               "https://grader.example.org."),
    token: str = typer.Option(..., "--token", envvar="GRADER_TOKEN", help="Your sign-in token."),
    assignment: Optional[str] = typer.Option(None, help="The assignment (default: the course's one)."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for the result (--no-wait: only hand it in)."),
    fmt: SubmitFormat = typer.Option(SubmitFormat.text, "--format", "-f", help="text for people; json for scripts."),
) -> None:
    """Hand a notebook in to a `grader serve` service, from a terminal or a notebook cell (Colab too).

    It prints the queue position and the progress while the notebook waits and runs, then the result.

    Exits 1 when the server refuses the notebook or its run does not end ok.
    """
    def progress(run: dict) -> None:
        err.print(escaped(run["summary"]), highlight=False)

    run = submit(notebook, server, token, assignment, wait, progress if fmt is SubmitFormat.text else None)
    if fmt is SubmitFormat.json:
        sys.stdout.write(_json(run))
    else:
        console.print(escaped(f"{run['assignment']}: {run['summary']}")
                      + (f"\n{escaped(run['message'])}" if run["message"] else ""), highlight=False)
    if run["state"] == "done" and run["status"] != "ok":
        raise typer.Exit(FAILED)
