"""`grader init` and `grader new assignment`: a course, and assignments in it, consistent from the start.

`init_course` writes course.toml (every key set or commented with its default, the course's
environment declared), a .gitignore for what must never be committed (the work folder with the
secret, kits, hand-ins, exports, published boards), the JSON Schemas the TOML files point at, and a
first assignment on scikit-learn's digits, which needs no download.

`new_assignment` writes assignments/NAME/: assignment.toml, the README template (a short intro in
English; the shared template writes every fact) with the intro's translations in the course's
catalogs (locale/<lang>/LC_MESSAGES/course.po, for each other language the grader's catalogs
translate it into; grader.readme), the READMEs rendered from them, and a starter in the course's
language rendered from a template of the data's form (grader/templates/course/starter/), whose
kit name, parameters cell and classes come from the assignment itself: nothing is copied from
another assignment's notebook. Its data comes from one of:

- nothing: scikit-learn's digits, a placeholder to replace in `[dataset]`;
- `data`: the instructor's own files, read by a generic source chosen by their form (a folder of
  class folders: image-folders; .npz: arrays; .csv or .parquet: table, with its `label` column;
  .txt: text, next-character prediction). The grade scale starts at chance level (0) and ends at a
  perfect score (10), or for text at 1.5 bits per character (10) and 4 (0): a start, to set. Files
  inside the course folder are added to its .gitignore: the hidden test is drawn from them, and
  committed they would give its labels away (`grader doctor` stops `grader run` and `grader kit`
  while git would commit them);
- `like`: another assignment's settings, README template and its translations, from this course
  or else the bundled course (this repository's assignments/). Notebooks of the course's own (`[reference]`)
  are not copied, except the one a relative grade scale is measured against, which becomes this
  assignment's (its starter, when the other's anchor was its starter).

So that the new assignment counts (only assignments in a policy group do, once the course has
groups): a course without groups counts every assignment already; one whose only group counts all
its assignments (no `best`) gets it added there; any other gets a group of its own for it,
`NAME-group`, weighted as each other group. Anything that fails leaves the course as it was.
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

import jinja2
import nbformat

from babel import Locale
from babel.messages.catalog import Message

from grader import i18n, readme
from grader.course import Assignment, Course, load_course
from grader.kit import kit_name
from grader.schema import ASSIGNMENT_SCHEMA_LINE, COURSE_SCHEMA_LINE, LimitsTable, Resources, write_schemas
from grader.data.tables import TABLE_SUFFIXES

TEMPLATES = Path(__file__).parent / "templates" / "course"
# A source checkout: the course of this repository, whose assignments `--like` may copy.
BUNDLED_COURSE = Path(__file__).resolve().parents[1]
# What every notebook of a new course gets (`grader env build`): the course's practicals need these.
PACKAGES = ("numpy", "pandas", "scikit-learn", "matplotlib", "torch==2.14.1", "torchvision==0.29.1")
FIRST = "digits"  # `grader init`'s first assignment, on scikit-learn's digits
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")  # a folder, a kit's name, a column of the grades export
# The generic source that reads each kind of file (grader.data), and the task it serves.
SUFFIXES = {".npz": "arrays", ".txt": "text", **{suffix: "table" for suffix in TABLE_SUFFIXES}}
SOURCE_NOTES = {
    "digits": "scikit-learn's handwritten digits, no download: a placeholder for your data's source",
    "image-folders": "your images: one folder per class (or train/ and test/ with class folders)",
    "arrays": "your .npz: x (uint8 images), y, and optionally classes, x_test, y_test",
    "table": "your CSV or Parquet table: one row per example",
    "text": "your text: the notebook predicts each next character",
}
TEXT_SCALE = ((1.5, 10.0), (4.0, 0.0))  # bits per character: lower is better


class ScaffoldError(ValueError):
    """What `grader init` or `grader new assignment` was asked cannot be done; nothing was written."""


@dataclass(frozen=True)
class NewAssignment:
    folder: Path
    written: list[Path]
    counts: str  # how the assignment counts towards the final grade: its policy group


def _environment(found: i18n.Catalogs | None) -> jinja2.Environment:
    """The templates, their text translated by `found` (None: English, the msgids' language)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([TEMPLATES, TEMPLATES / "starter"]),
                             undefined=jinja2.StrictUndefined, autoescape=False, extensions=["jinja2.ext.i18n"],
                             **readme.OPTIONS)
    env.install_gettext_translations((found or i18n.catalogs(i18n.SOURCE)).translations, newstyle=False)
    # A TOML basic string is a JSON string: the same escapes, and UTF-8 as it is.
    env.filters.update(toml=lambda value: json.dumps(value, ensure_ascii=False), num=readme._number,
                       assign=readme._assign, pad=lambda text: f"{text} ".ljust(34))
    env.globals["code_list"] = lambda items: ", ".join(f"`{item}`" for item in items)
    return env


def _render(template: str, found: i18n.Catalogs | None = None, **context) -> str:
    return _environment(found).get_template(template).render(**context)


def init_course(root: Path, language: str = "es", name: str | None = None) -> Course:
    """A new course in `root` (missing or empty), with its first assignment; returns it loaded."""
    root = Path(root).resolve()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ScaffoldError(f"{root}: not an empty folder; `grader init` makes a new course in a new or empty "
                            "folder (to add an assignment to a course: `grader new assignment NAME`)")
    try:
        i18n.check_language(language)  # a course adds a language in its folder, once it has one
    except i18n.LanguageError as exc:
        raise ScaffoldError(f"--language {language}: expected {exc}") from None
    made = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    try:
        (root / "course.toml").write_text(_render(
            "course.toml.j2", schema_line=COURSE_SCHEMA_LINE, name=name or root.name, language=language,
            packages=PACKAGES, group=i18n.translator(language)("scaffold.group"), first=FIRST), encoding="utf-8")
        (root / ".gitignore").write_text(_render("gitignore.j2"), encoding="utf-8")
        write_schemas(root)
        new_assignment(load_course(root), FIRST)
    except BaseException:
        if made:
            shutil.rmtree(root, ignore_errors=True)
        else:
            for path in list(root.iterdir()):
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        raise
    return load_course(root)


def source_of(path: Path) -> str:
    """The generic source that reads these files, from their form."""
    path = Path(path)
    if path.is_dir():
        if any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir()):
            return "image-folders"
        raise ScaffoldError(f"--data {path}: a folder of images needs one sub-folder per class")
    if not path.is_file():
        raise ScaffoldError(f"--data {path}: no such file or folder")
    if path.suffix.lower() not in SUFFIXES:
        raise ScaffoldError(f"--data {path}: expected a folder of class folders (images), a .npz (arrays), "
                            f"a .csv or .parquet (a table) or a .txt (text), got '{path.suffix}'")
    return SUFFIXES[path.suffix.lower()]


def _check_name(course: Course, name: str) -> None:
    if not NAME.match(name):
        raise ScaffoldError(f"'{name}': an assignment's name is a folder name of letters, digits, '-' and '_'")
    if (course.root / "assignments" / name).exists():
        raise ScaffoldError(f"{course.root / 'assignments' / name}: already exists")
    if name == "final" or name in {g.name for g in course.policy.groups}:
        raise ScaffoldError(f"'{name}' names a policy group (or the final grade) in {course.root / 'course.toml'}")


def new_assignment(course: Course, name: str, data: Path | None = None, like: str | None = None,
                   label: str = "label") -> NewAssignment:
    """assignments/NAME/ with its settings, README templates, READMEs and starter, all in agreement."""
    if data is not None and like is not None:
        raise ScaffoldError("give --data or --like, not both")
    _check_name(course, name)
    folder = course.root / "assignments" / name
    course_toml, ignore = course.root / "course.toml", course.root / ".gitignore"
    before = course_toml.read_text(encoding="utf-8")
    ignored = ignore.read_text(encoding="utf-8") if ignore.is_file() else None
    folder.mkdir(parents=True)
    created: list[Path] = []  # outside the folder
    catalogs: dict[Path, str | None] = {}  # the course's catalogs changed: their text before (None: new)
    try:
        if like is not None:
            templates = _copy_like(course, name, like, folder, created, catalogs)
        else:
            _write_settings(course, name, folder, data, label)
            templates = []
        ignores = [ignore] if data is not None and _ignore(course, name, data) else []
        counts = _count(course, name)
        course = load_course(course.root)  # the folder and its group, as any later command reads them
        a = course.assignment(name)
        if not templates:
            templates = [_write_readme(course, a, catalogs)]
        # The group rule of each README names the group's assignments: theirs change too.
        fellows = {m for g in course.policy.groups if name in g.assignments for m in g.assignments}
        written = readme.write(course, sorted({name} | (fellows & set(course.assignments))))
        nbformat.write(starter(course, a), folder / "starter.ipynb")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        for path in created:
            path.unlink(missing_ok=True)
        for path, text in catalogs.items():
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(text, encoding="utf-8")
        course_toml.write_text(before, encoding="utf-8")
        if ignored is None:
            ignore.unlink(missing_ok=True)
        else:
            ignore.write_text(ignored, encoding="utf-8")
        raise
    return NewAssignment(folder, [folder / "assignment.toml", *templates, *catalogs, *written,
                                  folder / "starter.ipynb", *ignores], counts)


def _ignore(course: Course, name: str, data: Path) -> bool:
    """Add `data` to the course's .gitignore when it lies in the course folder (see the module docstring);
    whether the file changed."""
    path = Path(data).resolve()
    if not path.is_relative_to(course.root) or path == course.root:
        return False
    # Anchored at the course folder, with gitignore's wildcards escaped: this path and nothing else.
    relative = re.sub(r"([*?\[\\])", r"\\\1", path.relative_to(course.root).as_posix())
    line = f"/{relative}{'/' if path.is_dir() else ''}"
    ignore = course.root / ".gitignore"
    text = ignore.read_text(encoding="utf-8") if ignore.is_file() else ""
    if line in text.splitlines():
        return False
    if text and not text.endswith("\n"):
        text += "\n"
    ignore.write_text(f"{text}# the labelled data of {name} (`grader new assignment --data`): its hidden test is "
                      f"drawn from it\n{line}\n", encoding="utf-8")
    return True


def _write_settings(course: Course, name: str, folder: Path, data: Path | None, label: str) -> None:
    """assignment.toml from the template: first with no classes known, then with the data's own."""
    source = source_of(data) if data is not None else "digits"
    if label != "label" and source != "table":
        raise ScaffoldError(f"--label {label}: only a table (.csv, .parquet) has a label column")
    task = "next_character" if source == "text" else "classification"
    title = name if data is not None else i18n.translator(course.language, course.root)("scaffold.digits")
    context = {"schema_line": ASSIGNMENT_SCHEMA_LINE, "name": name, "task": task, "source": source,
               "source_note": SOURCE_NOTES[source], "path": _course_path(course, data) if data else None,
               "label": label, "title": title,
               "limits": LimitsTable(), "resources": Resources()}  # their defaults, written in the template
    if task == "next_character":
        context |= {"metric": "bits_per_char", "report": ["bits_per_char", "accuracy", "top5"],
                    "scale": TEXT_SCALE, "n_classes": None}
        (folder / "assignment.toml").write_text(_render("assignment.toml.j2", **context), encoding="utf-8")
        return
    context |= {"metric": "accuracy", "scale": ((0.0, 0.0), (1.0, 10.0)), "n_classes": None,
                "report": ["accuracy", "macro_f1", "log_loss"]}
    (folder / "assignment.toml").write_text(_render("assignment.toml.j2", **context), encoding="utf-8")
    a = load_course(course.root).assignment(name)
    n = readme.facts(course, a)["n_classes"]  # the data's own classes (a clear error when the data is not right)
    if n:
        context |= {"n_classes": n, "scale": ((round(1 / n, 2), 0.0), (1.0, 10.0)),
                    "report": ["accuracy", "macro_f1", *(["top3"] if n > 5 else []), "log_loss"]}
        (folder / "assignment.toml").write_text(_render("assignment.toml.j2", **context), encoding="utf-8")


def _course_path(course: Course, path: Path) -> str:
    """`[dataset] path`: relative to the course folder when inside it (the course moves with it), else absolute."""
    path = Path(path).resolve()
    return path.relative_to(course.root).as_posix() if path.is_relative_to(course.root) else str(path)


def _like(course: Course, like: str) -> tuple[Course, Assignment]:
    if like in course.assignments:
        return course, course.assignment(like)
    if (BUNDLED_COURSE / "course.toml").is_file() and BUNDLED_COURSE.resolve() != course.root:
        bundled = load_course(BUNDLED_COURSE)
        if like in bundled.assignments:
            return bundled, bundled.assignment(like)
    raise ScaffoldError(f"--like {like}: no assignments/{like}/assignment.toml in {course.root}"
                        + (f" nor in the bundled course ({BUNDLED_COURSE})" if (BUNDLED_COURSE / "course.toml")
                           .is_file() else " (the bundled course is only in a source checkout of the grader)"))


def _copy_like(course: Course, name: str, like: str, folder: Path, created: list[Path],
               catalogs: dict[Path, str | None]) -> list[Path]:
    """The other assignment's settings (its text and comments), README template and that template's translations
    (from the other course's catalogs); returns the template. A notebook it copies into the course's reference/
    is added to `created`, one already there is kept; the catalogs it changes, to `catalogs`."""
    origin, other = _like(course, like)
    lines = (other.path / "assignment.toml").read_text(encoding="utf-8").splitlines(keepends=True)
    if lines and lines[0].startswith("#:schema"):
        lines = lines[1:]
    lines = _without_table(lines, "reference")
    if origin.root != course.root:  # the data's paths, from this course's folder
        for key, value in (("path", other.data_path), ("hidden_from", other.hidden_from)):
            if value is not None:
                lines = [re.sub(rf"^(\s*{key}\s*=\s*)(\"[^\"]*\"|'[^']*')", lambda m: m.group(1) + json.dumps(
                    _course_path(course, value), ensure_ascii=False), line) for line in lines]
    anchor = {"baseline": other.baseline_notebook, "reference": other.reference_notebook}.get(other.relative_to)
    if anchor is not None:
        if anchor.resolve() == (other.path / "starter.ipynb").resolve():
            kept = folder / "starter.ipynb"  # the given model is the starter: this assignment's own
        else:
            kept = course.root / "reference" / f"{name}{'-baseline' if other.relative_to == 'baseline' else ''}.ipynb"
            if not kept.exists():
                kept.parent.mkdir(exist_ok=True)
                shutil.copyfile(anchor, kept)
                created.append(kept)
        lines.append(f"\n[reference]  # what the grade scale is measured against (grade_relative_to)\n"
                     f"{'notebook' if other.relative_to == 'reference' else 'baseline'} = "
                     f"{json.dumps(kept.relative_to(course.root).as_posix())}\n")
    (folder / "assignment.toml").write_text(ASSIGNMENT_SCHEMA_LINE + "\n" + "".join(lines), encoding="utf-8")
    source = other.path / readme.TEMPLATE
    if not source.is_file():
        return []
    shutil.copyfile(source, folder / readme.TEMPLATE)
    if origin.root != course.root:  # within a course, its catalogs translate the template already
        used = {(i18n.message_id(m), m.context) for m in readme.messages(source)}
        for language in i18n.languages(origin.root, i18n.COURSE):
            theirs = i18n.read_catalog(i18n.catalog_path(origin.root, language, i18n.COURSE))
            found = [m for m in theirs if (i18n.message_id(m), m.context) in used
                     and i18n.is_translated(m, theirs.num_plurals)]
            if found:
                _translate(course, folder, language, found, catalogs)
    return [folder / readme.TEMPLATE]


def _write_readme(course: Course, a: Assignment, catalogs: dict[Path, str | None]) -> Path:
    """README.md.j2 with the intro of the assignment's task, in English; the intro in each other language the
    course's catalogs translate goes to its catalog of README prose (changes noted in `catalogs`)."""
    intro = _render("intro.md.j2", task=a.task)
    path = a.path / readme.TEMPLATE
    path.write_text(_render("readme.md.j2", intro=intro), encoding="utf-8")
    for language in i18n.languages(course.root):
        found = i18n.catalogs(language, course.root)
        if language != i18n.SOURCE and (None, intro) in found.translated:
            _translate(course, a.path, language, [Message(intro, _render("intro.md.j2", found, task=a.task))],
                       catalogs)
    return path


def _translate(course: Course, folder: Path, language: str, messages: list[Message],
               catalogs: dict[Path, str | None]) -> None:
    """Add an assignment's messages to the course's catalog of README prose in `language`; its text before goes to
    `catalogs` (None: it is new), for new_assignment to put back on failure."""
    path = i18n.catalog_path(course.root, language, i18n.COURSE)
    catalogs.setdefault(path, path.read_text(encoding="utf-8") if path.is_file() else None)
    where = [(f"{folder.relative_to(course.root).as_posix()}/{readme.TEMPLATE}", None)]
    i18n.add_messages(path, language, [Message(m.id, m.string, where, context=m.context) for m in messages],
                      f"{course.name}: the prose of its READMEs in {Locale.parse(language).english_name} "
                      "(grader.readme).")


def _without_table(lines: list[str], table: str) -> list[str]:
    """The TOML lines without `[table]` and its keys (up to the next table's header)."""
    header = re.compile(r"^\s*\[")
    kept, inside = [], False
    for line in lines:
        if header.match(line):
            inside = re.match(rf"^\s*\[\s*{re.escape(table)}\s*\]", line) is not None
        if not inside:
            kept.append(line)
    return kept


def _count(course: Course, name: str) -> str:
    """Make the new assignment count (course.toml's [[policy.groups]]); says how it does."""
    path = course.root / "course.toml"
    text = path.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    groups = data.get("policy", {}).get("groups", [])
    for group in groups:
        if name in group.get("assignments", []):
            return f"in the policy group '{group['name']}'"
    if not groups:
        return "on its own, as every assignment of a course without [[policy.groups]]"
    if len(groups) == 1 and "best" not in groups[0]:
        joined = _joined(text, data, name)
        if joined is not None:
            path.write_text(joined, encoding="utf-8")
            return f"in the policy group '{groups[0]['name']}', where every assignment counts"
    group = f"{name}-group"
    path.write_text(text.rstrip("\n") + f"\n\n# Added by `grader new assignment {name}`: it counts on its own, "
                    f"weighted as each other group.\n[[policy.groups]]\nname = {json.dumps(group)}\n"
                    f"assignments = [{json.dumps(name)}]\n", encoding="utf-8")
    return f"in a policy group of its own, '{group}' (course.toml), weighted as each other group"


def _joined(text: str, data: dict, name: str) -> str | None:
    """course.toml with `name` added to its only group's list, comments kept; None if the list is not plain."""
    group = data["policy"]["groups"][0]
    start = re.search(r"^\s*\[\[\s*policy\.groups\s*\]\]", text, re.M)
    found = re.compile(r"^(\s*assignments\s*=\s*)\[[^\]]*\]", re.M).search(text, start.end()) if start else None
    if found is None:
        return None
    listed = [*group["assignments"], name]
    joined = f"{text[:found.start()]}{found.group(1)}{json.dumps(listed, ensure_ascii=False)}{text[found.end():]}"
    expected = json.loads(json.dumps(data, default=str))
    expected["policy"]["groups"][0]["assignments"] = listed
    try:  # the same file but for that list, or nothing
        same = json.loads(json.dumps(tomllib.loads(joined), default=str)) == expected
    except tomllib.TOMLDecodeError:
        return None
    return joined if same else None


def starter(course: Course, a: Assignment) -> nbformat.NotebookNode:
    """The assignment's starter notebook, from the template of its data's form (what its README says)."""
    facts = readme.facts(course, a)
    form = facts["layout"] if facts["form"] == "files" else facts["form"]  # files: folders or csv
    text = _render(f"{form}.j2", i18n.catalogs(course.language, course.root), a=a, form=form, kit=kit_name(a.name),
                   parameters=facts["parameters"], classes=facts["classes"], shape=facts["shape"])
    cells = []
    for chunk in re.split(r"^#%% ", text, flags=re.M)[1:]:
        kind, _, body = chunk.partition("\n")
        source = "\n".join(line.rstrip() for line in body.strip("\n").splitlines())
        if kind == "markdown":
            cells.append(nbformat.v4.new_markdown_cell(source))
        else:
            cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": ["parameters"]}
                                                    if kind == "parameters" else {}))
    nb = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}})
    for cell in nb.cells:  # stable ids: the same assignment renders the same file
        cell.pop("id", None)
    nb.nbformat_minor = 4
    return nb

