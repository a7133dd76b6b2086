"""`grader init` and `grader new assignment`: a course and its assignments agree from the first command,
and a student installs the grader from the kit alone."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import nbformat
import pytest
from typer.testing import CliRunner

from grader import readme
from grader.cli import app
from grader.course import load_course
from grader.data import prepare
from grader.doctor import diagnose
from grader.kit import write_kit
from grader.scaffold import TEMPLATES, ScaffoldError, init_course, new_assignment
from grader.schema import ASSIGNMENT_SCHEMA_LINE, COURSE_SCHEMA_LINE, json_schema
from grader.wheel import own_wheel, wheel_name

from tests.helpers import REPO
from tests.helpers.datasets import SHAPES, SPECIES, shape_images, species_table


def _parameters(a) -> dict:
    nb = nbformat.read(a.path / "starter.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    return {n.targets[0].id: ast.literal_eval(n.value) for n in ast.parse(cell.source).body}


def _kit_line(a) -> str:
    nb = nbformat.read(a.path / "starter.ipynb", as_version=4)
    (line,) = [line for c in nb.cells for line in c.source.splitlines() if line.startswith("KIT = ")]
    return line


def _consistent(course, name: str) -> None:
    """What the doctor and `grader readme --check` would say of the assignment, less the unbuilt environment."""
    a = course.assignment(name)
    assert readme.stale(course, [name]) == []
    assert _parameters(a) == readme.parameters(a)
    assert _kit_line(a) == f'KIT = "{name}-kit"'
    assert any(name in g.assignments for g in course.policy.groups), "it would never count"
    findings = [f for f in diagnose(course) if f.where.startswith(f"assignments/{name}/")]
    assert findings == [], findings


def _keys(schema: dict, node: dict | None = None) -> set[str]:
    """Every property name of a JSON Schema, through its $defs."""
    node = schema if node is None else node
    if "$ref" in node:
        return _keys(schema, schema["$defs"][node["$ref"].rsplit("/", 1)[1]])
    found = set()
    for name, sub in node.get("properties", {}).items():
        found |= {name} | _keys(schema, sub)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            found |= _keys(schema, node[key])
    for key in ("anyOf", "allOf", "oneOf"):
        for sub in node.get(key, []):
            found |= _keys(schema, sub)
    return found


@pytest.mark.parametrize("kind", ["course", "assignment"])
def test_the_templates_show_every_key_of_the_schema(kind):
    text = (TEMPLATES / f"{kind}.toml.j2").read_text(encoding="utf-8")
    missing = sorted(k for k in _keys(json_schema(kind))
                     if not re.search(rf"(^|[\s\"#]){k} =", text, re.M) and not re.search(rf"\[[\w.]*\b{k}\]", text))
    assert missing == [], f"{kind}.toml.j2 neither sets nor shows {missing}"


def test_init_writes_a_course_whose_first_assignment_agrees_with_itself(tmp_path):
    done = CliRunner().invoke(app, ["init", str(tmp_path / "course"), "--language", "en", "--name", "Deep learning"])
    assert done.exit_code == 0, done.output
    root = tmp_path / "course"
    course = load_course(root)
    assert course.name == "Deep learning" and course.language == "en" and list(course.assignments) == ["digits"]
    assert course.environment.declared and "torch==2.14.1" in course.environment.packages
    assert (root / "course.toml").read_text().splitlines()[0] == COURSE_SCHEMA_LINE
    toml = root / "assignments" / "digits" / "assignment.toml"
    assert toml.read_text().splitlines()[0] == ASSIGNMENT_SCHEMA_LINE
    assert (root / "schema" / "course.schema.json").is_file() and (root / "schema" / "assignment.schema.json").is_file()
    ignored = (root / ".gitignore").read_text().splitlines()
    assert {".grader/", "*-kit.zip", "submissions/", "/*.csv", "leaderboards/"} <= set(ignored)
    _consistent(course, "digits")
    a = course.assignment("digits")
    assert a.scale.points == ((0.1, 0.0), (1.0, 10.0))  # chance with ten classes is a 0
    assert "Handwritten digits" in (a.path / "README.md").read_text()


def test_init_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ScaffoldError, match="not an empty folder"):
        init_course(tmp_path)
    done = CliRunner().invoke(app, ["init", str(tmp_path)])
    assert done.exit_code == 2 and "not an empty folder" in done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_new_assignments_on_own_data_take_their_classes_from_the_data(tmp_path):
    course = init_course(tmp_path / "course", "es")
    images, table = shape_images(tmp_path / "shapes"), species_table(tmp_path / "penguins.csv")
    cli = CliRunner()
    done = cli.invoke(app, ["new", "assignment", "shapes", "--data", str(images), "--course", str(course.root)])
    assert done.exit_code == 0, done.output
    done = cli.invoke(app, ["new", "assignment", "penguins", "--data", str(table), "--label", "species",
                            "--course", str(course.root)])
    assert done.exit_code == 0, done.output
    text = tmp_path / "play.txt"
    text.write_text("to be or not to be, that is the question. " * 50)
    new_assignment(load_course(course.root), "play", data=text)

    course = load_course(course.root)
    for name in ("digits", "shapes", "penguins", "play"):
        _consistent(course, name)
    assert course.policy.groups[0].assignments == ("digits", "shapes", "penguins", "play")
    # Every README of the group names its four practicals: the earlier ones were rendered again.
    assert "`digits`, `shapes`, `penguins`, `play`" in (course.root / "assignments" / "digits" / "README.md").read_text()

    shapes, penguins, play = (course.assignment(n) for n in ("shapes", "penguins", "play"))
    assert (shapes.dataset, shapes.data_path) == ("image-folders", images.resolve())
    assert (penguins.dataset, penguins.label) == ("table", "species")
    assert (play.dataset, play.task, play.primary_metric) == ("text", "next_character", "bits_per_char")
    assert penguins.scale.points[0] == (0.33, 0.0)
    for a, classes in ((shapes, SHAPES), (penguins, SPECIES)):
        listed = ", ".join(f"`{c}`" for c in classes)
        assert listed in (a.path / "README.md").read_text() and listed in (a.path / "README.en.md").read_text()
        starter = nbformat.read(a.path / "starter.ipynb", as_version=4)
        assert any(listed in c.source for c in starter.cells if c.cell_type == "markdown")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_labelled_data_in_the_course_folder_is_kept_out_of_git(tmp_path):
    """The hidden test is drawn from it: committed with the course, it would be the answer key."""
    course = init_course(tmp_path / "course", "en")
    subprocess.run(["git", "init", "-q", str(course.root)], check=True)

    def ignored(path: str) -> bool:
        return subprocess.run(["git", "-C", str(course.root), "check-ignore", "-q", path]).returncode == 0

    (course.root / "data").mkdir()
    assert ignored(str(species_table(course.root / "data" / "penguins.csv").relative_to(course.root)))
    images = shape_images(course.root / "shapes")
    (course.root / "tables").mkdir()
    table = species_table(course.root / "tables" / "birds [2026].csv")
    assert not ignored("shapes/circle/000.png") and not ignored("tables/birds [2026].csv")
    made = new_assignment(course, "shapes", data=images)
    assert course.root / ".gitignore" in made.written
    new_assignment(load_course(course.root), "birds", data=table, label="species")
    lines = (course.root / ".gitignore").read_text().splitlines()
    assert "/shapes/" in lines and "/tables/birds \\[2026].csv" in lines
    assert ignored("shapes/circle/000.png") and ignored("tables/birds [2026].csv")
    before = (course.root / ".gitignore").read_text()
    made = new_assignment(load_course(course.root), "elsewhere", data=species_table(tmp_path / "penguins.csv"),
                          label="species")
    assert (course.root / ".gitignore").read_text() == before and course.root / ".gitignore" not in made.written
    course = load_course(course.root)
    assert not [f for f in diagnose(course) if f.where.endswith("dataset.path")]


def test_new_assignment_like_a_practical_of_the_bundled_course(tmp_path):
    course = init_course(tmp_path / "course", "es")
    made = new_assignment(course, "mnist-2027", like="mnist")
    course = load_course(course.root)
    _consistent(course, "mnist-2027")
    mnist, copy = load_course(REPO).assignment("mnist"), course.assignment("mnist-2027")
    for field in ("title", "dataset", "scale", "deadline", "time_limit_s", "resources", "metrics"):
        assert getattr(copy, field) == getattr(mnist, field), field
    assert "where every assignment counts" in made.counts
    # Its own starter, not mnist's: the kit's name and the parameters are this assignment's.
    assert _kit_line(copy) == 'KIT = "mnist-2027-kit"'
    # A scale relative to the given model (dog-breeds' starter) is measured against this assignment's own.
    new_assignment(course, "dogs", like="dog-breeds")
    dogs = load_course(course.root).assignment("dogs")
    assert dogs.relative_to == "baseline" and dogs.baseline_notebook == dogs.path / "starter.ipynb"
    _consistent(load_course(course.root), "dogs")


def test_a_course_with_a_best_of_group_gives_a_new_assignment_a_group_of_its_own(tmp_path):
    course = init_course(tmp_path / "course", "en")
    toml = course.root / "course.toml"
    toml.write_text(toml.read_text().replace("# best = 2 ", "best = 1   "))
    made = new_assignment(load_course(course.root), "extra", like="digits")
    course = load_course(course.root)
    assert [g.assignments for g in course.policy.groups] == [("digits",), ("extra",)]
    assert "of its own, 'extra-group'" in made.counts
    _consistent(course, "extra")


def test_a_failed_new_assignment_leaves_the_course_as_it_was(tmp_path):
    course = init_course(tmp_path / "course", "es")
    before = (course.root / "course.toml").read_text()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScaffoldError, match="one sub-folder per class"):
        new_assignment(course, "nothing", data=tmp_path / "empty")
    with pytest.raises(ScaffoldError, match="only a table"):
        new_assignment(course, "shapes", data=shape_images(tmp_path / "shapes"), label="species")
    with pytest.raises(ScaffoldError, match="already exists"):
        new_assignment(course, "digits")
    with pytest.raises(ScaffoldError, match="--like nope"):
        new_assignment(course, "other", like="nope")
    assert (course.root / "course.toml").read_text() == before
    assert sorted(p.name for p in (course.root / "assignments").iterdir()) == ["digits"]


@pytest.fixture
def kit(tmp_path, monkeypatch) -> Path:
    """The first assignment's kit of a new course (scikit-learn's digits: no download)."""
    monkeypatch.setenv("GRADER_SECRET", "5e" * 32)
    course = init_course(tmp_path / "course", "en")
    prepare(course, course.assignment("digits"))
    return write_kit(course, "digits", tmp_path / "out" / "digits-kit.zip")


def test_the_kit_carries_the_wheel_of_the_grader_that_made_it_and_its_readme_says_how_to_install_it(kit):
    with zipfile.ZipFile(kit) as archive:
        names = set(archive.namelist())
        readme_text = archive.read("digits-kit/README.md").decode()
        starter = archive.read("digits-kit/starter.ipynb").decode()
    assert f"digits-kit/wheels/{wheel_name()}" in names
    assert f"pip install digits-kit/wheels/{wheel_name()}" in readme_text
    assert "grader check my_notebook.ipynb --kit digits-kit.zip" in readme_text
    assert "--assignment" not in readme_text + starter and "plantilla" not in starter
    assert "reference/" not in readme_text


def test_an_installed_grader_packs_the_same_wheel_again(tmp_path):
    """Without its source checkout (installed from a wheel), the grader packs its own installed files."""
    built = own_wheel(tmp_path / "work")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check",
                    "--target", str(tmp_path / "site"), str(built)], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    done = subprocess.run([sys.executable, "-c", "import sys; from grader import wheel; "
                           "assert wheel._checkout() is None, wheel.CHECKOUT; "
                           "print(wheel.own_wheel(sys.argv[1]))", str(tmp_path / "again")],
                          env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    repacked = Path(done.stdout.strip())
    assert repacked.name == built.name
    with zipfile.ZipFile(built) as a, zipfile.ZipFile(repacked) as b:
        files = {n for n in a.namelist() if not n.endswith("/RECORD")}
        assert files == {n for n in b.namelist() if not n.endswith("/RECORD")}
        assert all(a.read(n) == b.read(n) for n in files)


@pytest.mark.slow
def test_a_fresh_venv_with_the_kits_wheel_checks_the_starter(kit, tmp_path):
    student = tmp_path / "student"
    student.mkdir()
    (student / "digits-kit.zip").write_bytes(kit.read_bytes())
    zipfile.ZipFile(student / "digits-kit.zip").extractall(student)
    (student / "my_notebook.ipynb").write_bytes((student / "digits-kit" / "starter.ipynb").read_bytes())
    subprocess.run([sys.executable, "-m", "venv", str(student / "venv")], check=True)
    subprocess.run([str(student / "venv" / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                    f"digits-kit/wheels/{wheel_name()}"], cwd=student, check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k not in ("GRADER_SECRET", "GRADER_COURSE", "PYTHONPATH")}
    done = subprocess.run([str(student / "venv" / "bin" / "grader"), "check", "my_notebook.ipynb", "--kit",
                           "digits-kit.zip"], cwd=student, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "honours the contract" in done.stdout
    metadata = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert metadata["name"] == "dl-course-grader" and metadata["scripts"]["grader"] == "grader.cli:app"


def test_the_wheel_builds_in_isolation_when_this_pythons_setuptools_is_too_old(monkeypatch):
    """A fresh Python 3.11 venv holds setuptools 65, which cannot build from pyproject.toml alone."""
    import importlib.metadata

    from grader import wheel

    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "65.5.0" if name == "setuptools" else real(name))
    assert not wheel._has_build_backend(wheel.CHECKOUT)
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "84.2.1" if name == "setuptools" else real(name))
    assert wheel._has_build_backend(wheel.CHECKOUT)
