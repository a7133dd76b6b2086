"""Find hand-ins in a submissions folder and check that each is one readable notebook.

Layouts accepted, per assignment folder:
    submissions/<assignment>/<student>/<any name>.ipynb
    submissions/<assignment>/<student>.ipynb
`grader run submissions/<assignment>` (one assignment's folder) works too.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import nbformat

IGNORED_PREFIXES = (".", "__")  # .ipynb_checkpoints, .DS_Store, __MACOSX
# Written beside a hand-in by `grader moodle import`: the submission time Moodle recorded.
SIDECAR = ".submission.json"


class InvalidNotebook(ValueError):
    pass


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
    """All submissions under root, and warnings about folders that are not an assignment's."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such submissions folder")
    if root.name in assignments and not any(p.name in assignments for p in root.iterdir() if p.is_dir()):
        folders = [root]
    else:
        folders = sorted(p for p in root.iterdir() if _visible(p.name))
    submissions, warnings = [], []
    for folder in folders:
        if folder.name not in assignments or not folder.is_dir():
            known = ", ".join(sorted(assignments))
            warnings.append(f"{folder}: skipped: not a folder named after an assignment ({known})")
            continue
        submissions.extend(_assignment_submissions(folder))
    return submissions, warnings


def _assignment_submissions(folder: Path) -> list[Submission]:
    by_student: dict[str, list[Path]] = {}
    for entry in sorted(folder.iterdir()):
        if not _visible(entry.name):
            continue
        if entry.is_dir():
            name = entry.name
            notebooks = sorted(p for p in entry.rglob("*.ipynb")
                               if all(_visible(part) for part in p.relative_to(entry).parts))
        elif entry.suffix == ".ipynb":
            name, notebooks = entry.stem, [entry]
        else:
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
    return subs


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
