"""What students read agrees with what the grader does: READMEs, starters and assignment.toml."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from grader.course import load_course

REPO = Path(__file__).resolve().parents[1]
PRACTICALS = sorted(p.name for p in (REPO / "assignments").iterdir() if (p / "assignment.toml").is_file())
GROUPED = {a for g in load_course(REPO).policy.groups for a in g.assignments}


def defaults(source: str) -> dict[str, object]:
    """The `name = literal` assignments of a parameters block."""
    return {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(source).body
            if isinstance(node, ast.Assign)}


def readme_parameters(path: Path) -> dict[str, object]:
    block = re.search(r"```python\n(data_dir = .*?)```", path.read_text(encoding="utf-8"), re.S)
    assert block, f"{path}: no parameters block"
    return defaults(block.group(1))


@pytest.mark.parametrize("name", PRACTICALS)
def test_readmes_and_starter_declare_the_assignments_parameters(name):
    a = load_course(REPO).assignment(name)
    starter = nbformat.read(a.path / "starter.ipynb", as_version=4)
    (cell,) = [c for c in starter.cells if "parameters" in c.metadata.get("tags", [])]
    declared = defaults(cell.source)
    assert declared["time_budget_s"] == a.time_limit_s and declared["seed"] == a.seed
    for readme in ("README.md", "README.en.md"):
        assert readme_parameters(a.path / readme) == declared, f"{name}/{readme} and starter.ipynb disagree"


@pytest.mark.parametrize("name", PRACTICALS)
def test_the_group_rule_is_in_the_readmes_of_every_practical_it_governs(name):
    spanish = (REPO / "assignments" / name / "README.md").read_text(encoding="utf-8")
    english = (REPO / "assignments" / name / "README.en.md").read_text(encoding="utf-8")
    governed = name in GROUPED
    assert ("cuentan las dos mejores" in spanish) is governed and ("the best two count" in english) is governed


# What classes.txt holds for each practical whose README names its classes (from the sources' own lists).
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.mark.parametrize("name", ["cifar10", "imagenet-subset", "dog-breeds"])
def test_readmes_name_the_classes_exactly_as_classes_txt(name):
    from grader.data.images import IMAGENETTE_CLASSES

    a = load_course(REPO).assignment(name)
    classes = {"cifar10": CIFAR10, "imagenet-subset": sorted(IMAGENETTE_CLASSES.values())}.get(name, a.classes)
    for readme in ("README.md", "README.en.md"):
        text = (a.path / readme).read_text(encoding="utf-8")
        missing = [c for c in classes if f"`{c}`" not in text]
        assert not missing, f"{name}/{readme} does not name {missing} as classes.txt does"


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
