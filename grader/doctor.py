"""`grader doctor`: what would break the term, found before the term does.

Each check is one small function, registered once (`@check`) with the commands whose output it
would make wrong: `grader run` (grades), `grader kit` (what students get) and `grader grades
export` (what Moodle gets) stop on the errors of the checks that guard them, before doing any work,
and print their warnings. `grader doctor` runs every check and exits 1 on an error.

Every finding names the file (and key) at fault and the fix. A fault in assignment.toml itself is
a finding too, and that assignment's other checks wait for it to load.
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
import shutil
import subprocess
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import jinja2
import nbformat

from grader import envs, readme
from grader.course import Assignment, ConfigError, Course
from grader.data import DataError, layout
from grader.data.sources import PEEKS
from grader.kit import kit_name
from grader.metrics import METRICS
from grader.secret import ENV as SECRET_ENV
from grader.secret import SecretError, backup_note, read_secret_file, secret_path

ERROR, WARNING = "error", "warning"
RUN, KIT, EXPORT = "run", "kit", "export"  # the commands a check may guard
KIT_LINE = re.compile(r"^KIT\s*=\s*([\"'])(.*?)\1", re.M)  # the starter's kit folder (grader/kit.py)


@dataclass(frozen=True)
class Finding:
    level: str  # error | warning
    where: str  # the file at fault, relative to the course folder, and its key when there is one
    message: str
    fix: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Check:
    function: Callable[..., Iterable[Finding]]
    guards: frozenset[str]  # the commands that stop on its errors and print its warnings
    each_assignment: bool  # called as function(course, assignment), else function(course)


CHECKS: list[Check] = []


def check(*guards: str, each_assignment: bool = True):
    """Register a check; `guards`: the commands (RUN, KIT, EXPORT) whose work its findings concern."""
    def register(function):
        CHECKS.append(Check(function, frozenset(guards), each_assignment))
        return function
    return register


def diagnose(course: Course, command: str | None = None, assignments: Iterable[str] | None = None) -> list[Finding]:
    """The findings of every check (only those guarding `command`, when given) on these assignments
    (default: all of the course's), errors first."""
    names = sorted(course.assignments) if assignments is None else sorted(set(assignments) & set(course.assignments))
    checks = [c for c in CHECKS if command is None or command in c.guards]
    findings = [f for c in checks if not c.each_assignment for f in _safely(course, c)]
    for name in names:
        try:
            a = course.assignment(name)
        except ConfigError as exc:  # every command needs the assignment to load
            findings.append(_config_finding(course, exc))
            continue
        findings += [f for c in checks if c.each_assignment for f in _safely(course, c, a)]
    unique = list(dict.fromkeys(findings))
    return [f for f in unique if f.level == ERROR] + [f for f in unique if f.level != ERROR]


def _safely(course: Course, c: Check, a: Assignment | None = None) -> list[Finding]:
    """A check's findings; a configuration or data fault it runs into is a finding, not a crash."""
    try:
        return list(c.function(course, a) if c.each_assignment else c.function(course))
    except ConfigError as exc:
        return [_config_finding(course, exc)]
    except DataError as exc:  # only an assignment's checks read its data
        return [Finding(ERROR, _toml(course, a, "dataset"), str(exc),
                        f"correct what it names, then run `grader data prepare {a.name}`")]


def _config_finding(course: Course, exc: ConfigError) -> Finding:
    return Finding(ERROR, _where(course, exc.path, exc.key), str(exc).removeprefix(f"{exc.path}: key '{exc.key}': "),
                   f"correct '{exc.key}' in {_where(course, exc.path)}")


def _where(course: Course, path: Path, key: str | None = None) -> str:
    try:
        shown = str(Path(path).resolve().relative_to(course.root))
    except ValueError:
        shown = str(path)
    return f"{shown}: {key}" if key else shown


def _course_toml(course: Course, key: str | None = None) -> str:
    return _where(course, course.root / "course.toml", key)


def _toml(course: Course, a: Assignment, key: str | None = None) -> str:
    return _where(course, a.path / "assignment.toml", key)


# --- course and policy ---------------------------------------------------------------------------

@check(EXPORT)
def in_a_group(course: Course, a: Assignment) -> Iterator[Finding]:
    groups = course.policy.groups
    if groups and not any(a.name in g.assignments for g in groups):
        yield Finding(ERROR, _course_toml(course, "policy.groups"),
                      f"'{a.name}' is in no [[policy.groups]]: it never counts towards the final grade, yet the "
                      "Moodle export sends its column (0 for whoever did not hand it in)",
                      f"add \"{a.name}\" to the assignments of a group ({', '.join(g.name for g in groups)}), "
                      f"or give it a [[policy.groups]] of its own, or remove assignments/{a.name}")


@check(RUN, EXPORT, each_assignment=False)
def groups_name_assignments(course: Course) -> Iterator[Finding]:
    for i, group in enumerate(course.policy.groups):
        unknown = [name for name in group.assignments if name not in course.assignments]
        if unknown:
            yield Finding(ERROR, _course_toml(course, f"policy.groups[{i}].assignments"),
                          f"group '{group.name}' lists {', '.join(unknown)}, which the course does not have "
                          "(no assignments/<name>/assignment.toml): it counts as not handed in for every student",
                          f"remove {', '.join(repr(n) for n in unknown)} from the group's assignments, then run "
                          "`grader readme` (the READMEs name the group's assignments)")


@check(EXPORT, each_assignment=False)
def extensions_name_assignments(course: Course) -> Iterator[Finding]:
    for i, e in enumerate(course.policy.extensions):
        if e.assignment not in course.assignments:
            yield Finding(ERROR, _course_toml(course, f"policy.extensions[{i}].assignment"),
                          f"the extension of '{e.student}' is for '{e.assignment}', which is not an assignment of "
                          "the course: it never applies",
                          f"write one of {', '.join(sorted(course.assignments)) or '(none)'}")


@check(RUN, KIT, EXPORT)
def scale_in_range(course: Course, a: Assignment) -> Iterator[Finding]:
    """A scale whose points lie outside what its metric can be grades everybody alike, or nobody to the top."""
    metric = METRICS[a.primary_metric]
    lo, hi = metric.range
    what = a.primary_metric
    if a.relative_to != "none":  # the score minus the anchor's: a difference of two values in the range
        lo, hi = lo - hi, hi - lo
        what = f"{a.primary_metric} minus the {a.relative_to}'s"
    xs = [x for x, _ in a.scale.points]
    top = max(y for _, y in a.scale.points)
    # A piecewise-linear scale is at its highest on the range's ends or on a point inside it.
    reachable = max(a.scale.grade(m) for m in (lo, hi, *(min(max(x, lo), hi) for x in xs)))
    span = f"[{_number(lo)}, {_number(hi)}]"
    fix = f"write grade_scale's metric values within {span}"
    if metric.is_share and a.relative_to == "none" and all(1 < x <= 100 for x in xs):
        fix += f" ({what} is a share, not a percentage: " + ", ".join(
            f"[{_number(x / 100)}, {_number(y)}]" for x, y in a.scale.points) + ")"
    if all(x < lo for x in xs) or all(x > hi for x in xs):
        yield Finding(ERROR, _toml(course, a, "grade_scale"),
                      f"every point ({', '.join(map(_number, xs))}) lies outside what {what} can be, {span}: "
                      f"every student gets {_number(a.scale.grade(lo))}", fix)
    elif reachable < top - 1e-9:
        yield Finding(ERROR, _toml(course, a, "grade_scale"),
                      f"its top grade {_number(top)} needs {what} outside {span}: the best possible run gets "
                      f"{_number(reachable)}", fix)
    if top > course.policy.max_grade:
        yield Finding(ERROR, _toml(course, a, "grade_scale"),
                      f"its top grade {_number(top)} is above the course's max_grade "
                      f"{_number(course.policy.max_grade)}: every grade above it is cut to it",
                      "scale the grades to max_grade, or raise max_grade in course.toml [policy]")


def _number(value: float) -> str:
    return "inf" if value == math.inf else "-inf" if value == -math.inf else f"{round(value, 6):g}"


# --- what students get: README, starter, kit -------------------------------------------------------

@check(KIT)
def has_readme_and_starter(course: Course, a: Assignment) -> Iterator[Finding]:
    if not (a.path / readme.TEMPLATE).is_file() and not (a.path / "README.md").is_file():
        yield Finding(ERROR, _where(course, a.path / "README.md"),
                      f"'{a.name}' has no README in the course language ({course.language}): its kit would "
                      "tell students nothing",
                      f"write assignments/{a.name}/{readme.TEMPLATE} (the assignment's own "
                      f"prose; copy another assignment's) and run `grader readme {a.name}`")
    if not (a.path / "starter.ipynb").is_file():
        yield Finding(ERROR, _where(course, a.path / "starter.ipynb"),
                      f"'{a.name}' has no starter.ipynb: its kit would have no notebook to start from",
                      f"write assignments/{a.name}/starter.ipynb with a cell tagged 'parameters' (copy another "
                      f"assignment's and set its parameters and KIT = \"{kit_name(a.name)}\")")


@check(KIT)
def starter_agrees(course: Course, a: Assignment) -> Iterator[Finding]:
    """The starter's defaults are what the grader injects, and it fetches this assignment's kit."""
    path = a.path / "starter.ipynb"
    if not path.is_file():
        return  # has_readme_and_starter says so
    where = _where(course, path)
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError) as exc:
        yield Finding(ERROR, where, f"not a readable notebook ({exc})", f"save {where} again from Jupyter")
        return
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    expected = readme.parameters(a)
    cell = "\n".join(f"{key} = {_python(value)}" for key, value in expected.items())
    if not cells:
        yield Finding(ERROR, where, "no cell tagged 'parameters': students do not see the values the grader "
                      "injects", f"tag the cell of the defaults 'parameters' and write in it:\n{cell}")
    else:
        try:
            declared = _literals(cells[0].source)
        except SyntaxError as exc:
            declared = None
            yield Finding(ERROR, f"{where}: parameters", f"the parameters cell is not Python ({exc.msg})",
                          f"write in it:\n{cell}")
        wrong = [key for key, value in expected.items()
                 if declared is not None and not _same(declared.get(key, _ABSENT), value)]
        if wrong:
            said = ", ".join(f"{key} = {_python(declared[key])}" if key in declared else f"no {key}" for key in wrong)
            want = ", ".join(f"{key} = {_python(expected[key])}" for key in wrong)
            yield Finding(ERROR, f"{where}: parameters", f"the parameters cell has {said}; assignment.toml "
                          f"gives {want}", f"write in the starter's parameters cell: {want}")
    kit = kit_name(a.name)
    for name in sorted({m.group(2) for c in nb.cells if c.cell_type == "code" for m in KIT_LINE.finditer(c.source)}):
        if name != kit:
            yield Finding(ERROR, f"{where}: KIT", f"the starter fetches KIT = \"{name}\", not this assignment's "
                          f"kit \"{kit}\": outside the grader it opens another assignment's data",
                          f"write KIT = \"{kit}\" in the starter")


_ABSENT = object()


def _literals(source: str) -> dict[str, object]:
    """The `name = value` lines of a parameters cell: the literal, or the expression as written."""
    values = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                values[node.targets[0].id] = _Code(ast.get_source_segment(source, node.value))
    return values


class _Code(str):
    """An expression in a parameters cell, where a literal belongs."""


def _python(value: object) -> str:
    """A value as a parameters cell writes it: "data", not 'data'."""
    return value if isinstance(value, _Code) else json.dumps(value) if isinstance(value, str) else repr(value)


def _same(declared: object, expected: object) -> bool:
    """Equal and of one kind: `smoke = 0` is not `smoke = False`."""
    return declared == expected and isinstance(declared, bool) == isinstance(expected, bool)


@check(KIT)
def readme_classes_are_the_datas(course: Course, a: Assignment) -> Iterator[Finding]:
    data = layout(course, a)
    if a.task == "next_character" or not data.manifest_path.is_file():
        return  # text has no class names; unprepared data has nothing to compare with yet
    named, actual = list(readme.facts(course, a)["classes"]), list(data.classes)
    if named and named != actual:
        fix = (f"prepare the data again (`grader data prepare {a.name}`): it was prepared before [dataset] "
               "classes changed" if a.classes else
               f"list the data's classes in assignment.toml, [dataset] classes = {json.dumps(actual)}, then run "
               f"`grader readme {a.name}`")
        yield Finding(ERROR, _where(course, readme.readme_path(course, a, course.language)),
                      f"the READMEs name the classes {_listed(named)}; the prepared data's classes.txt has "
                      f"{_listed(actual)}", fix)


def _listed(names: list[str], shown: int = 6) -> str:
    return ", ".join(names[:shown]) + (f", ... ({len(names)})" if len(names) > shown else "")


@check()
def readme_is_rendered(course: Course, a: Assignment) -> Iterator[Finding]:
    try:
        stale = readme.stale(course, [a.name])
    except readme.MissingTranslations as exc:
        yield Finding(ERROR, _where(course, a.path / readme.TEMPLATE), str(exc),
                      "translate them in that catalog (msgid: the template's text, msgstr: its translation)")
        return
    except jinja2.TemplateError as exc:
        yield Finding(ERROR, _where(course, a.path / readme.TEMPLATE),
                      f"the README template does not render: {exc}", "correct the template")
        return
    for item in stale:
        yield Finding(ERROR, _where(course, item.path), "disagrees with what assignment.toml and course.toml "
                      "render", f"run `grader readme {a.name}` (README templates: edit the .j2, never the .md)")


@check(each_assignment=False)
def built_kits_are_whole(course: Course) -> Iterator[Finding]:
    """A kit built earlier and lying in the course folder (where `grader kit` writes it), before it is handed out."""
    kits = sorted(p for p in course.root.glob(kit_name("*") + "*") if p.suffix == ".zip" or (p / "kit.json").is_file())
    for kit in kits:
        where = _where(course, kit)
        try:
            names = ({Path(n).name for n in zipfile.ZipFile(kit).namelist() if n.count("/") <= 1}
                     if kit.suffix == ".zip" else {p.name for p in kit.iterdir()})
        except (OSError, zipfile.BadZipFile) as exc:
            yield Finding(ERROR, where, f"not a readable kit ({exc})", "remove it, or build it again with `grader kit`")
            continue
        name = kit.name.removesuffix(".zip").removesuffix(kit_name(""))
        for document in ("README.md", "starter.ipynb"):
            if document not in names:
                yield Finding(ERROR, where, f"the kit has no {document}",
                              f"complete assignments/{name} (`grader doctor` names what it lacks), then run "
                              f"`grader kit {name} --out {where}` again")


# --- the data ---------------------------------------------------------------------------------------

@check(RUN, KIT)
def labelled_data_is_not_committed(course: Course, a: Assignment) -> Iterator[Finding]:
    """The course folder is committed, often published: labelled data in it that git does not ignore gives the
    hidden test's labels away. That is a generic source's files when the hidden test is carved out of them
    (no `hidden_from`), and a private hidden set always."""
    held = [("dataset.hidden_from", a.hidden_from)]
    if a.dataset in PEEKS and a.hidden_from is None:
        held.append(("dataset.path", a.data_path))
    for key, path in held:
        if path is None or not Path(path).resolve().is_relative_to(course.root) or not Path(path).exists():
            continue
        shown = Path(path).resolve().relative_to(course.root).as_posix()
        why = _published_by_git(course.root, shown)
        if why is None:
            continue
        what = "the private hidden set" if key == "dataset.hidden_from" else "the data the hidden test is drawn from"
        fix = f"add /{shown} to .gitignore (in the course folder), or move the data outside the course folder"
        if why == "committed":
            fix += (f"; it is committed already: `git rm -r --cached {shown}`, and remove it from the repository's "
                    "history (git filter-repo) wherever it was pushed")
        yield Finding(ERROR, _toml(course, a, key),
                      f"{shown} ({what}, with its labels) lies in the course folder and git "
                      f"{'holds it' if why == 'committed' else 'does not ignore it'}: committed and published "
                      "with the course, it gives the hidden labels away", fix)


def _published_by_git(root: Path, path: str) -> str | None:
    """"committed" when git tracks files under `path` (relative to root), "not ignored" when it would add them,
    None when it ignores them, or root is in no git work tree (or there is no git)."""
    git = shutil.which("git")
    if git is None:
        return None

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([git, "-C", str(root), *args], capture_output=True, text=True, timeout=60)

    try:
        if run("rev-parse", "--is-inside-work-tree").stdout.strip() != "true":
            return None
        if run("ls-files", "--", path).stdout.strip():
            return "committed"
        return "not ignored" if run("check-ignore", "-q", "--", path).returncode == 1 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


# --- the notebooks' environment and the secret -------------------------------------------------------

@check(RUN, each_assignment=False)
def environment_declared(course: Course) -> Iterator[Finding]:
    if not course.environment.declared:
        yield Finding(WARNING, _course_toml(course), "no [environment]: the notebooks run in the grader's own "
                      "Python, with whatever packages it happens to have",
                      "declare what the notebooks need in course.toml, [environment] packages = [\"numpy\", "
                      "\"torch\", ...], then run `grader env build`")


@check(RUN)
def packages_have_an_environment(course: Course, a: Assignment) -> Iterator[Finding]:
    if a.packages and not course.environment.declared:
        yield Finding(ERROR, _toml(course, a, "environment.packages"), "never installed: course.toml has no "
                      "[environment], so the notebooks run in the grader's own Python",
                      "add an [environment] table to course.toml (`packages = []` will do), then run "
                      "`grader env build`")


@check(each_assignment=False)  # `grader run` refuses such a batch itself, knowing which runner it uses
def environments_have_packages(course: Course) -> Iterator[Finding]:
    if not course.environment.declared or course.runner == "docker" or (
            course.runner == "dask" and course.worker_runner == "docker"):
        return  # none declared (see above), or the docker image holds them: `grader run` checks its labels
    lacking: dict[tuple[str, ...], list[str]] = {}  # what an environment lacks -> the assignments run in it
    for name in sorted(course.assignments):
        try:
            a = course.assignment(name)
        except ConfigError:
            continue  # a finding of its own
        missing = tuple(envs.missing(course, a))
        if missing:
            lacking.setdefault(missing, []).append(name)
    for missing, names in lacking.items():
        yield Finding(ERROR, _course_toml(course, "environment"),
                      f"the notebooks' environment of {', '.join(names)} lacks {', '.join(missing)}: every hand-in "
                      "run by bwrap or local would fail",
                      f"run `{envs.fix_command(course)}` (the docker runner uses its image: "
                      f"`{envs.fix_command(course, course.docker.image)}`)")


@check(RUN, each_assignment=False)
def secret_has_a_backup(course: Course) -> Iterator[Finding]:
    path = secret_path(course.workdir)
    if os.environ.get(SECRET_ENV, "").strip() or not path.is_file():
        return  # held outside the work folder already, or not made yet
    where = _where(course, path)
    try:
        secret = read_secret_file(path)
    except SecretError as exc:
        yield Finding(ERROR, where, str(exc), "restore the file from your backup")
        return
    note = backup_note(course.workdir, secret)
    if note is None:
        yield Finding(WARNING, where, "no backup of the course secret is noted: without it no hidden split can be "
                      "prepared again, and no grade checked again",
                      "copy it off this machine: `grader secret backup --to PATH` (another disk, a password "
                      "manager's folder), which notes the date")
