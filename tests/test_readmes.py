"""What students read agrees with what the grader does: READMEs, starters and assignment.toml."""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest
from typer.testing import CliRunner

from grader import readme
from grader.cli import app
from grader.course import load_course
from grader.data import load_source
from grader.data.sources import SOURCE_FACTS
from tests.helpers import PRACTICALS, REPO, SHARED_DATASETS

# "Hand in 2 of the 3, the best 2 count" governs these; a group of several where all count, those.
BEST_OF = {a for g in load_course(REPO).policy.groups if g.best < len(g.assignments) for a in g.assignments}
ALL_COUNT = {a for g in load_course(REPO).policy.groups if g.best == len(g.assignments) > 1 for a in g.assignments}


def defaults(source: str) -> dict[str, object]:
    """The `name = literal` assignments of a parameters block."""
    return {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(source).body
            if isinstance(node, ast.Assign)}


def readme_parameters(path: Path) -> dict[str, object]:
    block = re.search(r"```python\n(data_dir = .*?)```", path.read_text(encoding="utf-8"), re.S)
    assert block, f"{path}: no parameters block"
    return defaults(block.group(1))


@pytest.mark.parametrize("course_root", [REPO, REPO / "demo"], ids=["course", "demo"])
def test_every_readme_is_what_its_assignment_renders(course_root):
    course = load_course(course_root)
    for name in course.assignments:
        assert readme.languages(course, course.assignment(name)) == ["es", "en"], f"{name}: no README template"
    stale = readme.stale(course, sorted(course.assignments))
    assert not stale, "\n".join(map(str, stale))


def test_a_changed_assignment_makes_its_readme_disagree_until_rendered_again(tmp_path):
    root = tmp_path / "course"
    shutil.copytree(REPO / "demo", root, ignore=shutil.ignore_patterns(".grader", "submissions"))
    toml = root / "assignments" / "digits" / "assignment.toml"
    toml.write_text(toml.read_text().replace('deadline = "2026-12-15T23:59"', 'deadline = "2026-12-20T12:00"')
                    .replace("time_limit_s = 300", "time_limit_s = 600")
                    .replace("memory_mb = 2048", "memory_mb = 2048\noutput_mb = 8"))
    cli = CliRunner()
    checked = cli.invoke(app, ["readme", "--check", "--course", str(root)])
    assert checked.exit_code == 1 and "README.md: disagrees with its assignment (run `grader readme`)" in checked.stderr
    assert "+- Fecha límite: 20 de diciembre de 2026 a las 12:00 (hora de Madrid)." in checked.stderr
    assert "+- Deadline: 20 December 2026 at 12:00 (Madrid time)." in checked.stderr
    listed = cli.invoke(app, ["readme", "--check", "--format", "json", "--course", str(root)])
    assert listed.exit_code == 1 and sorted(Path(row["path"]).name for row in json.loads(listed.stdout)) == [
        "README.en.md", "README.md"]
    assert cli.invoke(app, ["readme", "--course", str(root)]).exit_code == 0
    assert cli.invoke(app, ["readme", "--check", "--course", str(root)]).exit_code == 0
    text = (root / "assignments" / "digits" / "README.md").read_text(encoding="utf-8")
    assert "time_budget_s = 600" in text and "10 minutos" in text and "`output_dir` (como mucho 8 MB)" in text
    # The starter still says 300: the parameters test below is what catches that.
    course = load_course(root)
    assert readme.parameters(course.assignment("digits"))["time_budget_s"] == 600


def test_the_course_language_decides_which_readme_is_readme_md(tmp_path):
    root = tmp_path / "course"
    shutil.copytree(REPO / "demo", root, ignore=shutil.ignore_patterns(".grader", "submissions"))
    toml = root / "course.toml"
    toml.write_text(toml.read_text().replace('language = "es"', 'language = "en"'))
    written = {p.name for p in readme.write(load_course(root), ["digits"])}
    assert written == {"README.md", "README.es.md"}
    assert (root / "assignments" / "digits" / "README.md").read_text(encoding="utf-8").startswith(
        "# Handwritten digits (demo)")


@pytest.mark.parametrize("course_root", [REPO, REPO / "demo"], ids=["course", "demo"])
def test_starters_declare_the_parameters_their_readmes_give(course_root):
    course = load_course(course_root)
    for name in course.assignments:
        a = course.assignment(name)
        starter = nbformat.read(a.path / "starter.ipynb", as_version=4)
        (cell,) = [c for c in starter.cells if "parameters" in c.metadata.get("tags", [])]
        assert defaults(cell.source) == readme.parameters(a), f"{name}: starter.ipynb and assignment.toml disagree"
        for path in readme.rendered(course, a):
            assert readme_parameters(path) == readme.parameters(a), f"{path} and assignment.toml disagree"


@pytest.mark.parametrize("name", PRACTICALS)
def test_the_group_rule_is_in_the_readmes_of_every_practical_it_governs(name):
    spanish = (REPO / "assignments" / name / "README.md").read_text(encoding="utf-8")
    english = (REPO / "assignments" / name / "README.en.md").read_text(encoding="utf-8")
    governed = name in BEST_OF
    assert ("cuentan las dos mejores" in spanish) is governed and ("the best two count" in english) is governed
    averaged = name in ALL_COUNT
    assert ("cuentan todas" in spanish) is averaged and ("all count" in english) is averaged


# The source files in ../shared/datasets, where present, for the sources whose classes the READMEs name.
SHARED_SOURCES = {"mnist": "mnist", "cifar10": "cifar10/cifar10_subset.npz", "cifar100": "cifar100/cifar100_subset.npz",
                  "imagenette": "imagenette"}


@pytest.mark.parametrize("source", sorted(SHARED_SOURCES))
def test_the_classes_and_image_shapes_the_readmes_give_are_the_sources_own(source):
    path = SHARED_DATASETS / SHARED_SOURCES[source]
    if not path.exists():
        pytest.skip(f"{path} is not here")
    raw = load_source(source, path, verify=False)
    facts = SOURCE_FACTS[source]
    assert list(facts.classes) == raw.classes
    if facts.form == "arrays":
        assert np.asarray(raw.x_train).shape[1:] == facts.shape


@pytest.mark.parametrize("name", PRACTICALS)
def test_readmes_name_the_classes_exactly_as_the_prepared_data_will(name):
    course = load_course(REPO)
    a = course.assignment(name)
    classes = readme.source_facts(course, a).classes
    for path in (a.path / "README.md", a.path / "README.en.md"):
        text = path.read_text(encoding="utf-8")
        if a.task == "next_character":
            # The classes are the text's characters, known only once the corpus is read: the READMEs send
            # students to vocab.json for them, give the prompts' length, and ask for one probability each.
            assert classes is None, f"{name}: a text source fixes no classes before its corpus is read"
            assert "`data_dir/vocab.json`" in text and "classes.txt" not in text, path
            assert f"{a.context} " in text and "p_0,...,p_{V-1}" in text, path
        else:
            assert classes, f"{name}: its source fixes no classes, so the READMEs cannot name them"
            missing = [c for c in classes if f"`{c}`" not in text]
            assert not missing, f"{path} does not name {missing} as classes.txt does"
            assert "`data_dir/classes.txt`" in text and "vocab.json" not in text, path


@pytest.mark.parametrize("name", PRACTICALS)
def test_every_starter_training_loop_stops_on_its_time_budget(name):
    starter = nbformat.read(REPO / "assignments" / name / "starter.ipynb", as_version=4)
    (training,) = [c.source for c in starter.cells if c.cell_type == "code" and "optimizer.step()" in c.source]
    after_step = training.split("optimizer.step()", 1)[1]
    # Checked after each step (a long epoch cannot overrun) and derived from the budget it is given.
    assert after_step.lstrip().startswith("if time.time() - start > train_seconds:"), name
    setup = "\n".join(c.source for c in starter.cells if c.cell_type == "code")
    assert "train_seconds = 0.7 * time_budget_s" in setup


@pytest.mark.parametrize("name", PRACTICALS)
def test_readmes_say_plainly_whether_probabilities_are_required(name):
    a = load_course(REPO).assignment(name)
    required = a.primary_metric in ("bits_per_char", "log_loss", "top3", "top5")
    spanish = (a.path / "README.md").read_text(encoding="utf-8")
    english = (a.path / "README.en.md").read_text(encoding="utf-8")
    assert ("son **opcionales**" in spanish) is not required and ("are **optional**" in english) is not required
    if required:
        assert "p_0,...,p_{V-1}" in spanish and "p_0,...,p_{V-1}" in english


def test_a_readme_without_a_deadline_states_no_late_rule(tmp_path):
    target = tmp_path / "course"
    shutil.copytree(REPO / "demo", target, ignore=shutil.ignore_patterns(".grader", "submissions"))
    toml = target / "assignments" / "digits" / "assignment.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('deadline = "2026-12-15T23:59"\n', ""), encoding="utf-8")
    course = load_course(target)
    texts = readme.rendered(course, course.assignment("digits"))
    english = next(text for path, text in texts.items() if path.name == "README.en.md")
    assert "deadline" not in english.lower() and "late hand-in" not in english.lower()
