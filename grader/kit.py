"""`grader kit A`: what students may have for an assignment, and nothing else.

    kit.json              the assignment's name, the course's language and name, the kit's version
    assignment.toml       the assignment's settings, without the paths of the data and of the private hidden set
    README.md, README.<lang>.md  rendered from the assignment's templates (grader.readme), else copied
    starter.ipynb         with KIT_URL set when course.toml has `[kit] url`
    locale/               the course's own catalog of the grader's messages in its language, if it has one
                          (grader.i18n): `grader check` speaks the course's language
    wheels/               the wheel of the grader that made the kit (grader.wheel), to `pip install` offline
    data/                 the notebook's data_dir: training and validation data, classes.txt (or vocab.json)
    practice/test/        a practice test built from the validation split, in the hidden test's layout
    practice/labels.csv   its answers, for self-checking

No hidden test input, no hidden label, no course secret: everything comes from `public/` and
`check/` of the prepared data, drawn with the public seed from what the hidden test leaves. `grader check NOTEBOOK
--kit KIT` runs a notebook against a kit (a folder or its zip) on a machine that has only the
grader package, installed from the kit's own wheel, and the kit.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader.archive import Limits, UnsafeArchive, extract_zip
from grader.course import Assignment, Course, load_assignment
from grader.data import layout
from grader.data.sources import DataError
from grader.i18n import catalog_path
from grader.readme import rendered as rendered_readmes
from grader.wheel import own_wheel

KIT_VERSION = 1
# Lines of assignment.toml a kit leaves out: where the instructor's data and private hidden set lie
# (paths of their machine), and the schema line, whose file the kit does not carry.
PRIVATE_SETTING = re.compile(r"^\s*(hidden_from|path)\s*=|^#:schema ")
# A kit holds a whole training set: many more files than a Moodle download, but never without end.
KIT_LIMITS = Limits(max_files=500_000, max_bytes=8 << 30, max_file_bytes=2 << 30)


def kit_name(assignment: str) -> str:
    """The kit's folder, inside its zip and beside a student's notebook (the starter's `KIT`)."""
    return f"{assignment}-kit"


@dataclass
class Kit:
    root: Path
    assignment: Assignment
    language: str

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def test_dir(self) -> Path:
        return self.root / "practice" / "test"

    @property
    def labels(self) -> Path:
        return self.root / "practice" / "labels.csv"

    @property
    def classes(self) -> list[str]:
        vocab = self.data_dir / "vocab.json"
        if vocab.is_file():  # text: class i is character i of the vocabulary
            return [str(i) for i in range(len(json.loads(vocab.read_text(encoding="utf-8"))))]
        return (self.data_dir / "classes.txt").read_text(encoding="utf-8").splitlines()


def write_kit(course: Course, name: str, out: Path) -> Path:
    """The kit as a folder, or as a zip when `out` ends in .zip; returns what was written."""
    a = course.assignment(name)
    data = layout(course, a)
    data.manifest()  # a clear DataError when the data is not prepared
    staging = Path(tempfile.mkdtemp(prefix=f"grader-kit-{name}-"))
    root = staging / kit_name(name)
    try:
        shutil.copytree(data.data_dir, root / "data")
        shutil.copytree(data.check_test_dir, root / "practice" / "test")
        shutil.copyfile(data.check_labels, root / "practice" / "labels.csv")
        wheel = own_wheel(course.workdir)
        (root / "wheels").mkdir()
        shutil.copyfile(wheel, root / "wheels" / wheel.name)
        # READMEs rendered now, so that a kit never carries one older than its assignment.toml.
        readmes = {path.name: text for path, text in rendered_readmes(course, a).items()}
        for document in sorted(set(readmes) | {p.name for p in a.path.glob("README*.md")}) + ["starter.ipynb"]:
            if document in readmes:
                (root / document).write_text(readmes[document], encoding="utf-8")
            elif (a.path / document).is_file():
                shutil.copyfile(a.path / document, root / document)
        own = catalog_path(course.root, course.language)
        if own.is_file():
            catalog_path(root, course.language).parent.mkdir(parents=True)
            shutil.copyfile(own, catalog_path(root, course.language))
        if course.kit_url and (root / "starter.ipynb").is_file():
            _point_starter_at(root / "starter.ipynb", course.kit_address(name))
        settings = (a.path / "assignment.toml").read_text(encoding="utf-8").splitlines(keepends=True)
        (root / "assignment.toml").write_text("".join(line for line in settings if not PRIVATE_SETTING.match(line)),
                                              encoding="utf-8")
        (root / "kit.json").write_text(json.dumps({"kit": KIT_VERSION, "assignment": name, "course": course.name,
                                                   "language": course.language}, ensure_ascii=False, indent=2),
                                       encoding="utf-8")
        out = Path(out)
        if out.suffix == ".zip":
            out.parent.mkdir(parents=True, exist_ok=True)
            partial = out.with_name(f".{out.name}.partial")
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in sorted(root.rglob("*")):
                    archive.write(path, path.relative_to(staging))
            partial.replace(out)
        else:
            if out.exists():
                shutil.rmtree(out)
            shutil.move(str(root), out)
        return out
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _point_starter_at(starter: Path, url: str) -> None:
    """The kit's starter downloads this kit when it runs without data_dir (Colab, a student's machine)."""
    nb = nbformat.read(starter, as_version=4)
    for cell in nb.cells:
        cell.source = cell.source.replace('KIT_URL = ""', f"KIT_URL = {json.dumps(url)}")
    nbformat.write(nb, starter)


def open_kit(path: Path) -> Kit:
    """A kit folder, or a kit zip unpacked to a temporary folder; DataError names what is wrong."""
    path = Path(path)
    if path.is_file() and path.suffix == ".zip":
        path = _unpack(path)
    manifest = path / "kit.json"
    if not manifest.is_file():
        raise DataError(f"{path}: not a kit (no kit.json); get it with `grader kit ASSIGNMENT` or from your course")
    facts = json.loads(manifest.read_text(encoding="utf-8"))
    a = load_assignment(path / "assignment.toml", course_root=path, name=facts["assignment"], references=False)
    return Kit(path, a, facts.get("language", "es"))


def _unpack(archive: Path) -> Path:
    target = Path(tempfile.mkdtemp(prefix="grader-kit-"))
    try:
        extract_zip(archive, target, KIT_LIMITS)
    except UnsafeArchive as exc:
        raise DataError(f"not a kit: {exc}") from None
    roots = [p for p in target.iterdir() if p.is_dir()]
    return roots[0] if len(roots) == 1 and not (target / "kit.json").exists() else target
