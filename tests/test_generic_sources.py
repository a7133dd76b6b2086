"""An instructor's own data declared in assignment.toml: image folders, an .npz, a CSV or Parquet table, a text.

Each is prepared from small generated files: the classes come from the data into classes.txt, the
manifest and the READMEs; no label reaches test/; the source's checksums are recorded at the first
prepare and a changed file is refused after. A table notebook is graded end to end in the sandbox.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import make_course
from grader import pipeline
from grader.check import check
from grader.cli import app
from grader.course import load_course
from grader.data import DataError, layout, prepare, read_labels, source_facts
from grader.data.lock import LOCK_FILE
from grader.gradebook import Gradebook
from grader.kit import write_kit
from grader.readme import render
from notebooks import write_notebook

CLASSES = ["cat", "dog", "fox"]
README_TEMPLATE = '{{% extends "student.{lang}.md.j2" %}}\n{{% block intro %}}Our own data.{{% endblock %}}\n'


def _pngs(folder, rng, count: int, level: int) -> None:
    folder.mkdir(parents=True)
    for i in range(count):
        pixels = np.clip(level + rng.normal(0, 10, (6, 6, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")  # the same names in every class folder


def image_folders(root, split: bool):
    rng = np.random.default_rng(0)
    for k, name in enumerate(CLASSES):
        if split:
            _pngs(root / "train" / name, rng, 14, 40 + 80 * k)
            _pngs(root / "test" / name, rng, 5, 40 + 80 * k)
        else:
            _pngs(root / name, rng, 20, 40 + 80 * k)
    return root


def table(n: int = 150) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    species = rng.integers(0, 3, n)
    return pd.DataFrame({"id": np.arange(n), "length": np.round(species * 3 + rng.normal(0, 0.5, n), 3),
                         "width": np.round(species * 2 + rng.normal(0, 0.5, n), 3),
                         "colour": rng.choice(["red", "green"], n), "note": ["x"] * n,
                         "species": np.array(["setosa", "versicolor", "virginica"])[species]})


def write_table(frame: pd.DataFrame, path) -> None:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)


def course_with(tmp_path, assignments: dict[str, str]):
    """A course whose assignments have these [dataset] tables (and README templates in both languages)."""
    root = make_course(tmp_path / "course")
    for name, dataset in assignments.items():
        folder = root / "assignments" / name
        folder.mkdir()
        task = 'task = "next_character"\n' if '"text"' in dataset else ""
        (folder / "assignment.toml").write_text(
            f'{task}grade_scale = [[0.5, 0.0], [1.0, 10.0]]\n[dataset]\n{dataset}\n'
            '[limits]\ntime_limit_s = 120\ncell_timeout_s = 120\n[resources]\nmemory_mb = 1500\n')
        for lang in ("en", "es"):
            (folder / f"README.{lang}.md.j2").write_text(README_TEMPLATE.format(lang=lang))
    return load_course(root)


def public_classes(course, name) -> list[str]:
    return (layout(course, course.assignment(name)).data_dir / "classes.txt").read_text().splitlines()


def no_labels_in(folder, classes) -> None:
    """test/ holds inputs only: no labels file, and no file or column named after a class."""
    for path in folder.rglob("*"):
        assert "label" not in path.name and not any(c in path.name for c in classes), path
        if path.suffix == ".csv":
            header = path.read_text().splitlines()[0].split(",")
            assert "label" not in header and "species" not in header, path


@pytest.mark.parametrize("split", [False, True], ids=["class-folders", "train-test-folders"])
def test_image_folders_give_their_classes_and_a_hidden_test_without_labels(tmp_path, split):
    image_folders(tmp_path / "course" / "photos", split)
    course = course_with(tmp_path, {"photos": 'name = "image-folders"\npath = "photos"\nlayout = "csv"'})
    a = course.assignment("photos")
    assert source_facts(course, a).classes == tuple(CLASSES)  # from the folders, before any prepare
    manifest = prepare(course, a)
    data = layout(course, a)
    assert public_classes(course, "photos") == CLASSES == manifest["classes"]
    assert manifest["dataset"] == "image-folders" and manifest["form"] == "files"
    no_labels_in(data.test_dir, CLASSES)
    labels = read_labels(data.labels)
    assert sorted(p.stem for p in (data.test_dir / "images").iterdir()) == sorted(labels)
    assert {label for label, _ in labels.values()} == {0, 1, 2}
    counts = manifest["counts"]
    if split:  # the given test/ images (15) and some held-out training ones as canaries: a secret share of each
        assert counts["train"] + counts["valid"] == 42 - round(15 * 0.2) and counts["test"] <= 15 + 3
    else:
        assert counts["train"] + counts["valid"] + counts["test"] <= 60 and counts["test"] >= 15
    # cat/0.png and dog/0.png share a name: in the one images/ folder of layout "csv" each keeps its class.
    rows = []
    for part in ("train", "valid"):
        with open(data.data_dir / f"{part}.csv", newline="") as fh:
            rows += list(csv.DictReader(fh))
    assert len({r["id"] for r in rows}) == len(rows) == counts["train"] + counts["valid"]
    assert any(r["id"] == f"{r['label']}-0" for r in rows)
    assert sorted(p.stem for p in (data.data_dir / "images").iterdir()) == sorted(r["id"] for r in rows)


def test_a_class_subset_of_image_folders_keeps_their_order(tmp_path):
    image_folders(tmp_path / "course" / "photos", split=False)
    course = course_with(tmp_path, {"photos": 'name = "image-folders"\npath = "photos"\nclasses = ["fox", "cat"]'})
    a = course.assignment("photos")
    assert source_facts(course, a).classes == ("fox", "cat")
    prepare(course, a)
    assert public_classes(course, "photos") == ["fox", "cat"]
    assert sorted(p.name for p in (layout(course, a).data_dir / "train").iterdir()) == ["cat", "fox"]
    assert set(json.loads((a.path / LOCK_FILE).read_text())["files"]) == {f"{c}/{i}.png" for c in ("cat", "fox")
                                                                          for i in range(20)}


def test_checksums_are_recorded_at_the_first_prepare_and_a_changed_file_is_refused(tmp_path):
    photos = image_folders(tmp_path / "course" / "photos", split=False)
    course = course_with(tmp_path, {"photos": 'name = "image-folders"\npath = "photos"'})
    a = course.assignment("photos")
    first = prepare(course, a)
    lock = json.loads((a.path / LOCK_FILE).read_text())
    assert lock["dataset"] == "image-folders" and len(lock["files"]) == 60 and lock["files"] == first["sources"]
    assert prepare(course, a)["sha256"] == first["sha256"]  # the same data: verified, the same prepared data

    Image.new("RGB", (6, 6), (255, 0, 0)).save(photos / "dog" / "3.png")
    Image.new("RGB", (6, 6), (0, 255, 0)).save(photos / "dog" / "extra.png")
    with pytest.raises(DataError, match=r"dog/3\.png: changed; dog/extra\.png: new.*--no-verify"):
        prepare(course, a)
    assert layout(course, a).manifest()["sha256"] == first["sha256"]  # nothing was written
    result = CliRunner().invoke(app, ["data", "prepare", "photos", "--course", str(course.root)])
    assert result.exit_code == 1 and "dog/3.png: changed" in result.output and "--no-verify" in result.output

    result = CliRunner().invoke(app, ["data", "prepare", "photos", "--no-verify", "--course", str(course.root)])
    assert result.exit_code == 0, result.output
    assert len(json.loads((a.path / LOCK_FILE).read_text())["files"]) == 61  # recorded again
    prepare(course, a)  # and verified against the new record


def test_an_npz_of_images_with_class_names_or_integer_labels(tmp_path):
    rng = np.random.default_rng(2)
    root = tmp_path / "course"
    root.mkdir()
    y = rng.integers(0, 3, 90)
    x = (y[:, None, None, None] * 70 + rng.integers(0, 30, (90, 8, 8, 3))).astype(np.uint8)
    np.savez(root / "named.npz", x=x, y=np.array(CLASSES)[y])
    np.savez(root / "indexed.npz", x=x[:60], y=y[:60], x_test=x[60:], y_test=y[60:])
    course = course_with(tmp_path, {"named": 'name = "arrays"\npath = "named.npz"',
                                    "indexed": 'name = "arrays"\npath = "indexed.npz"\nclasses = ["a", "b", "c"]'})
    for name, classes in (("named", CLASSES), ("indexed", ["a", "b", "c"])):
        a = course.assignment(name)
        facts = source_facts(course, a)
        assert (facts.form, facts.shape, facts.classes) == ("arrays", (8, 8, 3), tuple(classes))
        manifest = prepare(course, a)
        data = layout(course, a)
        assert public_classes(course, name) == classes == manifest["classes"] and manifest["shape"] == [8, 8, 3]
        test = np.load(data.test_dir / "test.npz")
        assert set(test.files) == {"id", "x"}
        train = np.load(data.data_dir / "train.npz")
        # The class of each training image is still the one its brightness says.
        assert np.all(train["x"].reshape(len(train["x"]), -1).mean(1) // 70 == train["y"])
        assert json.loads((a.path / LOCK_FILE).read_text())["files"] == manifest["sources"]
    # The given test split is the hidden set: 30 images and a secret share of 20% more as canaries.
    assert layout(course, course.assignment("indexed")).manifest()["counts"]["test"] <= 30 + 6

    np.savez(root / "unnamed.npz", x=x, y=y)
    course = course_with(tmp_path / "2", {"unnamed": f'name = "arrays"\npath = "{root / "unnamed.npz"}"'})
    with pytest.raises(DataError, match=r"unnamed\.npz: integer labels need class names.*classes = \[\.\.\.\]"):
        prepare(course, course.assignment("unnamed"))


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_table_gives_csv_files_with_its_columns_and_a_hidden_test_without_labels(tmp_path, suffix):
    frame = table()
    path = tmp_path / "course" / f"iris.{suffix}"
    path.parent.mkdir()
    write_table(frame, path)
    course = course_with(tmp_path, {"iris": f'name = "table"\npath = "iris.{suffix}"\nlabel = "species"\n'
                                            'features = ["length", "width", "colour"]'})
    a = course.assignment("iris")
    facts = source_facts(course, a)
    assert (facts.form, facts.classes, facts.columns) == ("table", ("setosa", "versicolor", "virginica"),
                                                         ("length", "width", "colour"))
    manifest = prepare(course, a)
    data = layout(course, a)
    assert public_classes(course, "iris") == ["setosa", "versicolor", "virginica"] == manifest["classes"]
    train, valid = pd.read_csv(data.data_dir / "train.csv"), pd.read_csv(data.data_dir / "valid.csv")
    test, practice = pd.read_csv(data.test_dir / "test.csv"), pd.read_csv(data.check_test_dir / "test.csv")
    assert list(train.columns) == list(valid.columns) == ["length", "width", "colour", "species"]
    assert list(test.columns) == list(practice.columns) == ["id", "length", "width", "colour"]
    no_labels_in(data.test_dir, [])
    labels = read_labels(data.labels)
    assert test["id"].tolist() == list(labels) and test["id"].map(type).eq(str).all()  # ids read as text
    assert len(train) + len(valid) + len(test) == 150 and manifest["counts"]["test"] == 45
    # Every row is the source's own, with its class name.
    source = {tuple(r) for r in frame[["length", "width", "colour", "species"]].itertuples(index=False)}
    assert {tuple(r) for r in train.itertuples(index=False)} <= source
    assert manifest["hidden"]["defended"] is False and not (data.labels.parent / "canaries.txt").exists()
    assert json.loads((a.path / LOCK_FILE).read_text())["files"] == {path.name: manifest["sources"][path.name]}

    changed = frame.assign(length=frame["length"] + 1)
    write_table(changed, path)
    with pytest.raises(DataError, match=rf"iris\.{suffix}: changed.*--no-verify"):
        prepare(course, a)


def test_a_private_hidden_table_replaces_the_rows_carved_out(tmp_path):
    (tmp_path / "course").mkdir()
    table().to_csv(tmp_path / "course" / "iris.csv", index=False)
    private = table(40).assign(length=lambda f: f["length"] + 100)  # rows that are not in the public table
    private.to_parquet(tmp_path / "new-flowers.parquet")
    course = course_with(tmp_path, {"iris": 'name = "table"\npath = "iris.csv"\nlabel = "species"'})
    manifest = prepare(course, course.assignment("iris"), hidden_from=tmp_path / "new-flowers.parquet")
    test = pd.read_csv(layout(course, course.assignment("iris")).test_dir / "test.csv")
    assert manifest["hidden"]["public"] is False and len(test) == 40 and (test["length"] > 50).all()
    assert manifest["counts"]["train"] + manifest["counts"]["valid"] == 150  # the whole public table
    private.drop(columns="width").to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match=r"bad\.csv: no column width: a private hidden table has the source"):
        prepare(course, course.assignment("iris"), hidden_from=tmp_path / "bad.csv")


def test_table_labels_that_are_numbers_sort_as_numbers_and_missing_columns_are_named(tmp_path):
    frame = table().assign(species=lambda f: f["species"].map({"setosa": 2, "versicolor": 10, "virginica": 1}))
    frame.to_csv(tmp_path / "t.csv", index=False)
    course = course_with(tmp_path, {"t": f'name = "table"\npath = "{tmp_path / "t.csv"}"\nlabel = "species"',
                                    "bad": f'name = "table"\npath = "{tmp_path / "t.csv"}"\nlabel = "kind"'})
    facts = source_facts(course, course.assignment("t"))
    assert facts.classes == ("1", "2", "10") and facts.columns == ("length", "width", "colour", "note")  # not id
    with pytest.raises(DataError, match=r"t\.csv: no label column 'kind' \(columns: id, length.*label = "):
        prepare(course, course.assignment("bad"))


def test_a_text_corpus(tmp_path):
    (tmp_path / "course").mkdir()
    (tmp_path / "course" / "poems.txt").write_text("el mar, la mar, el mar. ¡Solo la mar!\n" * 150, encoding="utf-8")
    course = course_with(tmp_path, {"poems": 'name = "text"\npath = "poems.txt"\ncontext = 32'})
    a = course.assignment("poems")
    assert source_facts(course, a).form == "text"
    manifest = prepare(course, a)
    data = layout(course, a)
    assert json.loads((data.data_dir / "vocab.json").read_text()) == manifest["vocab"] and "¡" in manifest["vocab"]
    prompts = json.loads((data.test_dir / "prompts.json").read_text())
    assert prompts and all(len(p["prompt"]) == 32 for p in prompts)
    assert json.loads((a.path / LOCK_FILE).read_text())["files"] == manifest["sources"]


def test_readmes_list_the_datas_classes_and_say_where_missing_data_should_be(tmp_path):
    image_folders(tmp_path / "course" / "photos", split=True)
    table().to_parquet(tmp_path / "course" / "iris.parquet")
    course = course_with(tmp_path, {"photos": 'name = "image-folders"\npath = "photos"',
                                    "iris": 'name = "table"\npath = "iris.parquet"\nlabel = "species"',
                                    "later": 'name = "table"\npath = "not-yet/iris.csv"',
                                    "nopath": 'name = "arrays"'})
    english = render(course, course.assignment("photos"), "en")
    assert "The classes, exactly as in `classes.txt` (line i is class i): `cat`, `dog`, `fox`." in english
    spanish = render(course, course.assignment("iris"), "es")
    assert "`setosa`, `versicolor`, `virginica`" in spanish
    assert "`length`, `width`, `colour`, `note` y la columna `species`" in spanish and "`test_dir/test.csv`" in spanish
    assert 'pd.read_csv(f"{test_dir}/test.csv")' in render(course, course.assignment("iris"), "en")

    with pytest.raises(DataError, match=r"not-yet/iris\.csv: no such file.*grader data prepare later --from PATH"):
        render(course, course.assignment("later"), "en")
    with pytest.raises(DataError, match=r"nopath: .*no `path`.*grader data prepare nopath --from PATH"):
        source_facts(course, course.assignment("nopath"))
    # Prepared with --from and no path: the prepared data says the same.
    np.savez(tmp_path / "a.npz", x=np.zeros((40, 4, 4), np.uint8), y=np.arange(40) % 2, classes=np.array(["no", "yes"]))
    prepare(course, course.assignment("nopath"), tmp_path / "a.npz")
    facts = source_facts(course, course.assignment("nopath"))
    assert (facts.form, facts.shape, facts.classes) == ("arrays", (4, 4), ("no", "yes"))
    result = CliRunner().invoke(app, ["readme", "later", "--course", str(course.root)])
    assert result.exit_code == 1 and "not-yet/iris.csv" in result.output


TABLE_NOTEBOOK = ['''from pathlib import Path
import numpy as np
import pandas as pd
train = pd.read_csv(Path(data_dir) / "train.csv")
test = pd.read_csv(Path(test_dir) / "test.csv")
classes = (Path(data_dir) / "classes.txt").read_text().split()
features = ["length", "width"]
centroids = np.stack([train.loc[train["species"] == c, features].to_numpy().mean(axis=0) for c in classes])
distances = ((test[features].to_numpy()[:, None, :] - centroids[None]) ** 2).sum(-1)
scores = np.exp(-(distances - distances.min(axis=1, keepdims=True)))
out = pd.DataFrame({"id": test["id"], "label": [classes[i] for i in distances.argmin(axis=1)]})
for i, name in enumerate(classes):
    out[f"p_{name}"] = scores[:, i] / scores.sum(axis=1)
out.to_csv(Path(output_dir) / "predictions.csv", index=False)''']


def test_a_table_notebook_is_graded_in_the_sandbox_and_checked_against_the_kit(tmp_path):
    (tmp_path / "course").mkdir()
    table(300).to_csv(tmp_path / "course" / "iris.csv", index=False)
    course = course_with(tmp_path, {"iris": 'name = "table"\npath = "iris.csv"\nlabel = "species"'})
    prepare(course, course.assignment("iris"))
    subs = tmp_path / "submissions" / "iris"
    write_notebook(subs / "ana.ipynb", TABLE_NOTEBOOK)
    write_notebook(subs / "ben.ipynb", [TABLE_NOTEBOOK[0].replace('classes[i] for i in', 'classes[0] for i in')])
    pipeline.run(course, subs.parent, timeout=120)
    with Gradebook(course.gradebook_path) as book:
        rows = {row["student"]: row for row in book.latest()}
        runs = {run["student"]: run for run in book.runs()}
    assert rows["ana"]["status"] == "ok" and rows["ana"]["primary_score"] > 0.9 and rows["ana"]["grade"] > 8
    assert rows["ben"]["status"] == "ok" and rows["ben"]["primary_score"] < 0.5 and rows["ben"]["grade"] == 0
    assert set(runs["ana"]["scores"]) == {"public", "private", "all"}

    report = check(course, subs / "ana.ipynb", "iris")  # the practice test: the validation rows
    assert report.passed and report.assessment.status == "ok", [i.text for i in report.items]
    kit = write_kit(course, "iris", tmp_path / "iris-kit")
    assert (kit / "data" / "classes.txt").read_text().split() == ["setosa", "versicolor", "virginica"]
    assert pd.read_csv(kit / "practice" / "test" / "test.csv").columns[0] == "id"
    assert "species" in pd.read_csv(kit / "data" / "train.csv").columns
    assert "`test_dir/test.csv`" in (kit / "README.md").read_text()
