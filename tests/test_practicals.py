"""The course's six practicals: data layouts, starter notebooks, reference solutions run by the grader."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tests.helpers import PRACTICALS, REPO
from tests.helpers.datasets import dataset_for
from grader.check import check
from grader.data.public_hidden import read_canaries
from grader.cli import app
from grader.course import load_course
from grader.data import layout, prepare
from grader.gradebook import Gradebook



@pytest.fixture(scope="session")
def sources(tmp_path_factory) -> dict[str, tuple[Path, bool]]:
    scratch = tmp_path_factory.mktemp("datasets")
    return {name: dataset_for(name, scratch) for name in PRACTICALS}


@pytest.fixture(scope="session")
def practicals(tmp_path_factory, sources) -> Path:
    """A copy of this repository's course with the data of every practical prepared."""
    root = tmp_path_factory.mktemp("practicals") / "course"
    root.mkdir()
    # Without its [environment]: the references run in the test venv, which holds the course's packages (the
    # `torch` extra); building the course's own (torch: GBs) is the instructor's; test_envs builds a small one.
    toml = (REPO / "course.toml").read_text(encoding="utf-8")
    (root / "course.toml").write_text(re.sub(r"(?ms)^\[environment\]\n.*?(?=^\[|\Z)", "", toml), encoding="utf-8")
    for folder in ("assignments", "reference"):
        shutil.copytree(REPO / folder, root / folder)
    course = load_course(root)
    for name, (source, verify) in sources.items():
        prepare(course, course.assignment(name), source, verify=verify)
    return root


def test_course_has_the_six_practicals_each_with_readmes_starter_and_reference():
    course = load_course(REPO)
    assert sorted(course.assignments) == sorted(PRACTICALS)
    for name in PRACTICALS:
        a = course.assignment(name)
        assert (a.path / "README.md").is_file() and (a.path / "README.en.md").is_file(), name
        assert (a.path / "starter.ipynb").is_file(), name
        assert a.reference_notebook is not None and a.reference_notebook.is_file(), name
    assert course.assignment("dog-breeds").baseline_notebook == course.assignment("dog-breeds").path / "starter.ipynb"


@pytest.mark.parametrize("name", PRACTICALS)
def test_every_starter_notebook_passes_grader_check(practicals, name):
    course = load_course(practicals)
    report = check(course, course.assignment(name).path / "starter.ipynb", name)
    assert report.passed, [item.text for item in report.items]
    assert report.assessment.status == "ok"


def test_reference_run_all_smoke_is_scored_by_the_grader(practicals):
    result = CliRunner().invoke(app, ["reference", "run", "--all", "--smoke", "--course", str(practicals),
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {(r["assignment"], r["role"]) for r in rows} == {
        *((name, "reference") for name in PRACTICALS), ("cifar10", "baseline"), ("dog-breeds", "baseline")}
    assert all(r["status"] == "ok" and r["mode"] == "smoke" for r in rows)

    course = load_course(practicals)
    with Gradebook(course.gradebook_path) as book:
        recorded = book.reference_runs()
    assert len(recorded) == len(rows)
    for row in recorded:
        # The score is the grader's: recomputed here from the notebook's predictions and the hidden labels.
        data = layout(course, course.assignment(row["assignment"]))
        truth = {r["id"]: int(r["label"]) for r in csv.DictReader(open(data.labels, encoding="utf-8"))}
        with open(Path(row["artifacts"]) / "output" / "predictions.csv", encoding="utf-8") as fh:
            predictions = list(csv.DictReader(fh))
        if row["primary_metric"] == "accuracy":
            expected = np.mean([int(p["label"]) == truth[p["id"]] for p in predictions])
        else:  # bits per character, from the probability of the true next character
            expected = np.mean([-np.log2(max(float(p[f"p_{truth[p['id']]}"]), 1e-15)) for p in predictions])
        assert row["primary_score"] == pytest.approx(expected, abs=1e-4), row["assignment"]
        assert set(row["scores"]) == {"public", "private", "all"}
    text_run = next(r for r in recorded if r["assignment"] == "text-generation")
    sample = (Path(text_run["artifacts"]) / "output" / "sample.txt").read_text(encoding="utf-8")
    vocab = json.loads((layout(course, course.assignment("text-generation")).data_dir / "vocab.json").read_text())
    assert len(sample) > 40 and set(sample) <= set(vocab)  # generated from the model's own characters

    shown = CliRunner().invoke(app, ["reference", "show", "--course", str(practicals), "--format", "csv"])
    assert shown.exit_code == 0 and shown.stdout.count("\n") == len(rows) + 1


def test_text_prompts_never_hold_an_answer_and_answers_follow_prompts(practicals, sources):
    course = load_course(practicals)
    a = course.assignment("text-generation")
    data = layout(course, a)
    text = next(sources["text-generation"][0].glob("*.txt")).read_text(encoding="utf-8")
    vocab = json.loads((data.data_dir / "vocab.json").read_text(encoding="utf-8"))
    prompts = json.loads((data.test_dir / "prompts.json").read_text(encoding="utf-8"))
    labels = {r["id"]: int(r["label"]) for r in csv.DictReader(open(data.labels, encoding="utf-8"))}
    assert len(prompts) == len(labels) and all(len(p["prompt"]) == a.context for p in prompts)
    public = (data.data_dir / "train.txt").read_text(encoding="utf-8") + (data.data_dir / "valid.txt").read_text(
        encoding="utf-8")
    assert text.startswith(public)
    hidden = text[len(public):]
    assert len(hidden) == round(len(text) * a.test_fraction)
    # A canary prompt's first half is another passage's (grader.data.public_hidden): its own text is the rest.
    canaries, half = read_canaries(data.labels), a.context // 2
    assert canaries and all(p["prompt"] not in hidden for p in prompts if p["id"] in canaries)
    spans = sorted((hidden.index(p["prompt"][half:]) - half if p["id"] in canaries else hidden.index(p["prompt"]),
                    labels[p["id"]]) for p in prompts)
    for (start, answer), (next_start, _) in zip(spans, spans[1:]):
        assert hidden[start + a.context] == vocab[answer]  # the label is the character after the prompt
        assert next_start > start + a.context  # windows do not overlap: no prompt holds this answer


def test_image_layouts_give_class_folders_or_csvs_and_opaque_test_ids(practicals):
    course = load_course(practicals)
    nette = layout(course, course.assignment("imagenet-subset"))
    classes = (nette.data_dir / "classes.txt").read_text(encoding="utf-8").splitlines()
    assert classes == sorted(classes)  # torchvision's ImageFolder gives the same indices
    assert sorted(p.name for p in (nette.data_dir / "train").iterdir()) == classes
    test_files = list((nette.test_dir / "images").iterdir())
    labels = {r["id"]: r for r in csv.DictReader(open(nette.labels, encoding="utf-8"))}
    assert {p.stem for p in test_files} == set(labels)
    assert all(len(p.stem) == 12 and p.suffix == ".jpg" for p in test_files)  # nothing of the source's name

    dogs = layout(course, course.assignment("dog-breeds"))
    manifest = dogs.manifest()
    assert manifest["classes"] == ["beagle", "samoyed"]
    counts = manifest["counts"]
    # Half held out: a secret share of it hidden, with canaries from the other half (grader.data.public_hidden).
    assert counts["canaries"] > 0 and counts["test"] > counts["train"] + counts["valid"]
    for part in ("train", "valid"):
        rows = list(csv.DictReader(open(dogs.data_dir / f"{part}.csv", encoding="utf-8")))
        assert rows and all((dogs.data_dir / "images" / f"{r['id']}.jpg").is_file() for r in rows)
        assert {r["label"] for r in rows} <= {"beagle", "samoyed"}
    assert not (dogs.test_dir / "labels.csv").exists() and not list(dogs.test_dir.rglob("*.csv"))


def test_stanford_dogs_folders_keep_the_two_breeds_the_assignment_names(tmp_path):
    images = tmp_path / "Images"
    for i, breed in enumerate(["n02088364-beagle", "n02111889-Samoyed", "n02085620-Chihuahua"]):
        (images / breed).mkdir(parents=True)
        for k in range(6):
            Image.new("RGB", (40, 30), (40 * i, 80, 120)).save(images / breed / f"{breed[:9]}_{k}.jpg")
    course = load_course(REPO)
    root = tmp_path / "course"
    (root / "assignments").mkdir(parents=True)
    shutil.copy(REPO / "course.toml", root)
    shutil.copytree(course.assignment("dog-breeds").path, root / "assignments" / "dog-breeds")
    course = load_course(root)
    manifest = prepare(course, course.assignment("dog-breeds"), images)
    assert manifest["classes"] == ["beagle", "samoyed"]  # the Chihuahuas are left out
    # 6 held out as hidden, 1 more as the canaries' pool; a secret share of each is hidden.
    assert 5 <= manifest["counts"]["test"] <= 7 and manifest["counts"]["train"] + manifest["counts"]["valid"] == 5
