"""Find hand-ins in a submissions folder and check that each is one readable notebook.

Layouts accepted, per assignment folder:
    submissions/<assignment>/<student>/<any name>.ipynb
    submissions/<assignment>/<student>.ipynb
`grader run submissions/<assignment>` (one assignment's folder) works too. What does not fit is
named, with the likely fix: a folder spelled like an assignment, an archive still packed.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import shlex
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import nbformat

IGNORED_PREFIXES = (".", "__")  # .ipynb_checkpoints, .DS_Store, __MACOSX
# Written beside a hand-in by `grader moodle import`: the submission time Moodle recorded.
SIDECAR = ".submission.json"


ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz", ".7z", ".rar")
LAYOUT = "submissions/<assignment>/<student>/<notebook>.ipynb (or submissions/<assignment>/<student>.ipynb)"


class InvalidNotebook(ValueError):
    pass


class NothingToGrade(FileNotFoundError):
    """No hand-in where one was looked for: the message shows the expected layout and what was found."""


@dataclass
class Submission:
    assignment: str
    student: str  # NFC-normalised: the same name whatever file system it came from
    path: Path  # the notebook, or the student's folder when there is no single notebook
    sha256: str
    submitted_at: str  # Moodle's record (SIDECAR) or the file's modification time; never the grader's clock
    # Set when the hand-in is not exactly one notebook: (message key, parameters) for i18n.
    problem: tuple[str, dict] | None = None
    notebooks: list[Path] = field(default_factory=list)


def normalise_name(name: str) -> str:
    """The key two spellings of one person's name share: NFC, case-folded, single spaces."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def names_student(wanted: str, *keys: str | None) -> bool:
    """Whether `wanted` is one of a student's keys (name, ID number, email), in any case or Unicode spelling."""
    key = normalise_name(wanted)
    return any(key == normalise_name(k) for k in keys if k)


class UnknownStudent(LookupError):
    """No student, or more than one, goes by the name, ID number or email given."""


def student_named(wanted: str, names: list[str], roster: dict[str, dict], where: Path) -> str:
    """Which of `names` (with their `roster` entries) `wanted` names: a name in any case or Unicode spelling, an
    ID number or an email, as `grader report` finds them; UnknownStudent, with close names, when no one or several
    match. `where` is the gradebook, named in the message."""
    found = [n for n in names if names_student(wanted, n, roster.get(n, {}).get("id_number"),
                                               roster.get(n, {}).get("email"))]
    if len(found) == 1:
        return found[0]
    if found:
        raise UnknownStudent(f"'{wanted}' names {len(found)} students ({', '.join(map(repr, found))}): give the ID "
                             "number or the email")

    def plain(name: str) -> str:  # closeness without accents: "Zoe Nunez" is close to "Zoë Ñúñez"
        return "".join(c for c in unicodedata.normalize("NFD", normalise_name(name)) if not unicodedata.combining(c))

    keys = {plain(n): n for n in names}
    close = [keys[k] for k in difflib.get_close_matches(plain(wanted), list(keys), n=3)]
    raise UnknownStudent(f"no student '{wanted}' in the roster or the gradebook of {where} (a name, ID number or "
                         "email)" + (f"; did you mean {' or '.join(repr(n) for n in close)}?" if close else ""))


def _visible(name: str) -> bool:
    return not name.startswith(IGNORED_PREFIXES)


def _sha256(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _submitted_at(folder: Path, paths: list[Path]) -> str:
    """The time Moodle recorded when the hand-in came from there, else the files' modification time."""
    try:
        recorded = json.loads((folder / SIDECAR).read_text(encoding="utf-8"))["submitted_at"]
        return datetime.fromisoformat(recorded).astimezone(timezone.utc).isoformat(timespec="seconds")
    except (OSError, ValueError, KeyError, TypeError):
        latest = max((p.stat().st_mtime for p in paths), default=0.0)
        return datetime.fromtimestamp(latest, timezone.utc).isoformat(timespec="seconds")


def discover(root: Path, assignments: set[str]) -> tuple[list[Submission], list[str]]:
    """All submissions under root, and warnings about what is not a hand-in (each with its likely fix).
    NothingToGrade when there is none: its message shows the layout expected and lists what was found."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise NothingToGrade(f"{root}: no such submissions folder; expected {LAYOUT}, {_known(assignments)}")
    if root.name in assignments and not any(p.name in assignments for p in root.iterdir() if p.is_dir()):
        folders = [root]
    else:
        folders = sorted(p for p in root.iterdir() if _visible(p.name))
    submissions, warnings = [], []
    for folder in folders:
        if folder.name not in assignments or not folder.is_dir():
            warnings.append(f"{folder}: skipped: {_not_an_assignment(folder, assignments)}")
            continue
        found, odd = _assignment_submissions(folder)
        submissions.extend(found)
        warnings.extend(odd)
    if not submissions:
        close = _close(root.name, assignments)
        if close and close != root.name:  # submissions/MNIST given for mnist's folder
            warnings.insert(0, f"{root}: the folder given is named like the assignment {close}: rename it {close}")
        what = "\n".join(f"  {w}" for w in warnings) or f"  {root}: an empty folder"
        raise NothingToGrade(f"nothing to grade in {root}: expected {LAYOUT}, {_known(assignments)}; found:\n{what}")
    return submissions, warnings


def of_student(submissions: list[Submission], student: str) -> list[Submission]:
    """The hand-ins of one student (any Unicode spelling of the name); NothingToGrade names close names."""
    student = unicodedata.normalize("NFC", student)
    mine = [s for s in submissions if s.student == student]
    if not mine:
        names = sorted({s.student for s in submissions})
        close = difflib.get_close_matches(student, names, n=3)
        raise NothingToGrade(f"no hand-in of '{student}' among the {len(names)} students found" +
                             (f"; did you mean {' or '.join(repr(n) for n in close)}?" if close else ""))
    return mine


def _known(assignments: set[str]) -> str:
    if not assignments:
        return "and this course has no assignment yet (`grader new assignment NAME`)"
    return f"<assignment> one of this course's: {', '.join(sorted(assignments))}"


def _close(name: str, names: set[str]) -> str | None:
    """The one of `names` that `name` most likely meant (MNIST: mnist), case aside."""
    folded = {n.casefold(): n for n in names}
    match = difflib.get_close_matches(name.casefold(), list(folded), n=1, cutoff=0.75)
    return folded[match[0]] if match else None


def _packed(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVES)


def _unpack_hint(path: Path, assignment: str | None) -> str:
    # Quoted: the file name is a student's, and the command is meant to be pasted into a shell.
    return (f"unpack it, or bring Moodle's 'Download all submissions' zip in with "
            f"`grader moodle import {assignment or '<assignment>'} {shlex.quote(str(path))}`")


def _not_an_assignment(entry: Path, assignments: set[str]) -> str:
    """Why a top-level entry holds no hand-ins, and the likely fix."""
    stem = entry.name.split(".")[0]
    close = _close(stem, assignments)
    if _packed(entry):
        return f"an archive, still packed: {_unpack_hint(entry, close)}"
    if entry.suffix == ".ipynb":
        return "a notebook outside an assignment's folder: move it to <assignment>/<student>.ipynb"
    if entry.is_dir() and any((entry / a).is_dir() for a in assignments):
        return f"a folder of assignments' folders: `grader run {shlex.quote(str(entry))}` grades them"
    what = "a folder" if entry.is_dir() else "a file"
    fix = f"; did you mean {close}?" if close else ""
    return f"{what} not named after an assignment ({', '.join(sorted(assignments)) or 'none yet'}){fix}"


def _assignment_submissions(folder: Path) -> tuple[list[Submission], list[str]]:
    """The hand-ins of one assignment's folder, and warnings about archives that may hold some."""
    by_student: dict[str, list[Path]] = {}
    warnings = []
    for entry in sorted(folder.iterdir()):
        if not _visible(entry.name):
            continue
        if entry.is_dir():
            name = entry.name
            notebooks = sorted(p for p in entry.rglob("*.ipynb")
                               if all(_visible(part) for part in p.relative_to(entry).parts))
            if not notebooks:
                warnings += [f"{entry}: no notebook, but {p.name}, an archive the student handed in: unpack it "
                             "into their folder, or ask them for the notebook"
                             for p in sorted(entry.iterdir()) if _packed(p)]
        elif entry.suffix == ".ipynb":
            name, notebooks = entry.stem, [entry]
        else:
            if _packed(entry):
                warnings.append(f"{entry}: skipped: an archive, still packed: {_unpack_hint(entry, folder.name)}")
            continue
        by_student.setdefault(unicodedata.normalize("NFC", name), []).extend(notebooks)
    subs = []
    for student, notebooks in by_student.items():
        base = folder / student
        submitted_at = _submitted_at(base, notebooks)
        if len(notebooks) == 1:
            subs.append(Submission(folder.name, student, notebooks[0], _sha256(notebooks),
                                   submitted_at, notebooks=notebooks))
            continue
        problem = (("run.no_notebook", {}) if not notebooks else
                   ("run.two_notebooks", {"names": ", ".join(str(p.relative_to(folder)) for p in notebooks)}))
        subs.append(Submission(folder.name, student, base, _sha256(notebooks) if notebooks else "none",
                               submitted_at, problem=problem, notebooks=notebooks))
    return subs, warnings


def load_notebook(path: Path) -> nbformat.NotebookNode:
    """Read and validate a notebook; InvalidNotebook says what is wrong in plain words."""
    try:
        nb = nbformat.read(path, as_version=4)
    except UnicodeDecodeError as exc:
        raise InvalidNotebook(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except Exception as exc:  # nbformat raises JSON, reader and version errors of several kinds
        raise InvalidNotebook(f"not notebook JSON ({type(exc).__name__}: {exc})"[:500]) from None
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        raise InvalidNotebook(f"does not follow the notebook format ({exc.message})"[:500]) from None
    if not any(cell.cell_type == "code" for cell in nb.cells):
        raise InvalidNotebook("has no code cells")
    return nb


def has_parameters_cell(nb: nbformat.NotebookNode) -> bool:
    return any("parameters" in cell.metadata.get("tags", []) for cell in nb.cells)
