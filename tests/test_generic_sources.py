"""An instructor's own data declared in assignment.toml: image folders, an .npz, a CSV or Parquet table, a text.

Each is prepared from small generated files: the classes come from the data into classes.txt, the
manifest and the READMEs; no label reaches test/; the source's checksums are recorded at the first
prepare and a changed file is refused after. A table notebook is graded end to end in the sandbox.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from grader import pipeline
from grader.check import check
from grader.cli import app
from grader.course import load_course
from grader.data import DataError, layout, prepare, read_labels, source_facts
from grader.data.lock import LOCK_FILE, sealed
from grader.data.tables import header
from grader.gradebook import Gradebook
from grader.kit import write_kit
from grader.readme import render
from grader.secret import load_secret
from tests.helpers import make_course
from tests.helpers.notebooks import write_notebook

CLASSES = ["cat", "dog", "fox"]
README_TEMPLATE = '{% extends "student.md.j2" %}\n{% block intro %}Our own data.{% endblock %}\n'


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
    """A course whose assignments have these [dataset] tables (and a README template each)."""
    root = make_course(tmp_path / "course")
    for name, dataset in assignments.items():
        folder = root / "assignments" / name
        folder.mkdir()
        task = 'task = "next_character"\n' if '"text"' in dataset else ""
        (folder / "assignment.toml").write_text(
            f'{task}grade_scale = [[0.5, 0.0], [1.0, 10.0]]\n[dataset]\n{dataset}\n'
            '[limits]\ntime_limit_s = 120\ncell_timeout_s = 120\n[resources]\nmemory_mb = 1500\n')
        (folder / "README.md.j2").write_text(README_TEMPLATE)
    return load_course(root)


def locked(a) -> dict[str, str]:
    return json.loads((a.path / LOCK_FILE).read_text())["files"]


def as_locked(course, checksums: dict[str, str]) -> dict[str, str]:
    """Checksums as the lock holds them: keyed from the course secret."""
    return sealed(load_secret(course.workdir), checksums)


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
    # (which names clash depends on the secret's carve-out; with 20 names per class, some always do)
    assert any(re.fullmatch(rf"{re.escape(r['label'])}-\d+", r["id"]) for r in rows)
    assert sorted(p.stem for p in (data.data_dir / "images").iterdir()) == sorted(r["id"] for r in rows)


def test_a_class_subset_of_image_folders_keeps_their_order(tmp_path):
    image_folders(tmp_path / "course" / "photos", split=False)
    course = course_with(tmp_path, {"photos": 'name = "image-folders"\npath = "photos"\nclasses = ["fox", "cat"]'})
    a = course.assignment("photos")
    assert source_facts(course, a).classes == ("fox", "cat")
    prepare(course, a)
    assert public_classes(course, "photos") == ["fox", "cat"]
    assert sorted(p.name for p in (layout(course, a).data_dir / "train").iterdir()) == ["cat", "fox"]
    sources = layout(course, a).manifest()["sources"]
    assert set(sources) == {f"{c}/{i}.png" for c in ("cat", "fox") for i in range(20)}
    assert locked(a) == as_locked(course, sources)


def test_checksums_are_recorded_at_the_first_prepare_and_a_changed_file_is_refused(tmp_path):
    photos = image_folders(tmp_path / "course" / "photos", split=False)
    course = course_with(tmp_path, {"photos": 'name = "image-folders"\npath = "photos"'})
    a = course.assignment("photos")
    first = prepare(course, a)
    lock = json.loads((a.path / LOCK_FILE).read_text())
    assert lock["dataset"] == "image-folders" and len(first["sources"]) == 60
    assert lock["files"] == as_locked(course, first["sources"])
    assert prepare(course, a)["sha256"] == first["sha256"]  # the same data: verified, the same prepared data

    Image.new("RGB", (6, 6), (255, 0, 0)).save(photos / "dog" / "3.png")
    Image.new("RGB", (6, 6), (0, 255, 0)).save(photos / "dog" / "extra.png")
    (photos / "fox" / "7.png").unlink()  # the lock names no file: a missing one is counted
    with pytest.raises(DataError, match=r"dog/3\.png: changed; dog/extra\.png: new; 1 recorded file missing.*"
                                        r"--no-verify"):
        prepare(course, a)
    assert layout(course, a).manifest()["sha256"] == first["sha256"]  # nothing was written
    result = CliRunner().invoke(app, ["data", "prepare", "photos", "--course", str(course.root)])
    assert result.exit_code == 1 and "dog/3.png: changed" in result.output and "--no-verify" in result.output

    result = CliRunner().invoke(app, ["data", "prepare", "photos", "--no-verify", "--course", str(course.root)])
    assert result.exit_code == 0, result.output
    # The instructor's own photos: not called a public source, yet defended in case they are a public copy.
    assert "come from your files" in result.output and "public source" not in result.output
    assert len(locked(a)) == 60  # recorded again
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
        assert locked(a) == as_locked(course, manifest["sources"])
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
    assert locked(a) == as_locked(course, {path.name: manifest["sources"][path.name]})

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
    assert locked(a) == as_locked(course, manifest["sources"])


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


def hidden_rows(course, name) -> set[tuple]:
    return set(pd.read_csv(layout(course, course.assignment(name)).test_dir / "test.csv",
                           dtype=str).drop(columns="id").itertuples(index=False))


@pytest.mark.parametrize("name, write, column", [
    ("iris.csv", lambda frame, path: frame.to_csv(path), "Unnamed: 0"),  # pandas' index, written by default
    ("iris.csv", lambda frame, path: frame.rename(columns={"id": "Id"}).to_csv(path, index=False), "Id"),
    ("iris.csv", lambda frame, path: frame.rename(columns={"id": "_ID"}).to_csv(path, index=False), "_ID"),
    ("iris.parquet", lambda frame, path: frame.set_axis(np.arange(len(frame)) + 100).to_parquet(path),
     "__index_level_0__"),  # an index that is not a range: stored as a column
], ids=["csv-index", "Id", "_ID", "parquet-index"])
def test_columns_that_number_the_rows_are_never_default_features(tmp_path, name, write, column):
    # Sorted by class, as iris.csv is: a row's number would tell a hidden row's class.
    frame = table().drop(columns=["id", "colour", "note"]).sort_values("species").reset_index(drop=True)
    path = tmp_path / "course" / name
    path.parent.mkdir()
    write(frame.assign(id=np.arange(len(frame))), path)
    assert column in header(path)
    course = course_with(tmp_path, {"iris": f'name = "table"\npath = "{name}"\nlabel = "species"'})
    a = course.assignment("iris")
    assert source_facts(course, a).columns == ("length", "width")
    prepare(course, a)
    data = layout(course, a)
    assert list(pd.read_csv(data.test_dir / "test.csv").columns) == ["id", "length", "width"]
    assert list(pd.read_csv(data.data_dir / "train.csv").columns) == ["length", "width", "species"]


def test_a_column_that_is_a_row_number_is_refused_unless_named_as_a_feature(tmp_path):
    (tmp_path / "course").mkdir()
    table().drop(columns="id").assign(row=lambda f: [f"n{i:04d}" for i in range(len(f))]).to_csv(
        tmp_path / "course" / "iris.csv", index=False)
    course = course_with(tmp_path, {"iris": 'name = "table"\npath = "iris.csv"\nlabel = "species"',
                                    "named": 'name = "table"\npath = "iris.csv"\nlabel = "species"\n'
                                             'features = ["length", "row"]'})
    with pytest.raises(DataError, match=r"iris\.csv: the column 'row' holds a different value in each row, in "
                                        r"order down the file: a row number.*features = \[\"length\", \"width\", "
                                        r"\"colour\", \"note\"\]"):
        prepare(course, course.assignment("iris"))
    assert prepare(course, course.assignment("named"))["columns"] == ["length", "row"]  # the instructor's choice


def test_the_hidden_rows_of_a_source_without_a_test_split_are_drawn_with_the_course_secret(tmp_path):
    """With the public seed, whoever holds the source knows which rows are hidden: another secret, other rows."""
    courses = []
    for copy in ("one", "two"):
        (tmp_path / copy / "course").mkdir(parents=True)
        table().to_csv(tmp_path / copy / "course" / "iris.csv", index=False)
        rng = np.random.default_rng(4)
        np.savez(tmp_path / copy / "course" / "x.npz", x=rng.integers(0, 255, (80, 4, 4), dtype=np.uint8),
                 y=np.array(["a", "b"])[rng.integers(0, 2, 80)])
        courses.append(course_with(tmp_path / copy, {"iris": 'name = "table"\npath = "iris.csv"\nlabel = "species"',
                                                     "x": 'name = "arrays"\npath = "x.npz"'}))
    for course in courses:
        for name in ("iris", "x"):
            prepare(course, course.assignment(name))
    one, two = courses
    assert load_secret(one.workdir) != load_secret(two.workdir)
    assert hidden_rows(one, "iris") != hidden_rows(two, "iris")
    prepare(one, one.assignment("iris"))
    assert hidden_rows(one, "iris") == hidden_rows(load_course(one.root), "iris")  # the same secret, the same rows

    def public(course) -> set[bytes]:  # the images left for training and validation
        data = layout(course, course.assignment("x")).data_dir
        return {image.tobytes() for part in ("train", "valid") for image in np.load(data / f"{part}.npz")["x"]}

    assert public(one) != public(two) and len(public(one)) == len(public(two))


def _photo(path, level: int, rng) -> None:
    pixels = np.clip(level + rng.normal(0, 10, (8, 8, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    options = {"icc_profile": b"the colour profile of this camera"}
    tags = Image.Exif()
    tags[0x0132], tags[0x0110] = f"2026:10:{level % 28 + 1:02d} 10:00:00", "Pixel 8"  # the day each class was shot
    options["exif"] = tags.tobytes()
    if path.suffix == ".png":
        from PIL import PngImagePlugin

        text = PngImagePlugin.PngInfo()
        text.add_text("Comment", f"screenshot of a {path.parent.name}")
        options["pnginfo"] = text
    image.save(path, **options)


def test_every_hidden_image_is_a_jpeg_named_by_its_id_with_no_metadata(tmp_path):
    """The cats came as PNG screenshots, the dogs as camera JPEGs: neither the format nor EXIF may tell."""
    rng = np.random.default_rng(5)
    for folder in ("photos", "split/train", "split/test", "private"):
        for name, level, suffix in (("cat", 60, ".png"), ("dog", 160, ".jpg")):
            (tmp_path / "course" / folder / name).mkdir(parents=True)
            for i in range(12):
                _photo(tmp_path / "course" / folder / name / f"IMG_{i:04d}{suffix}", level, rng)
    course = course_with(tmp_path, {"carved": 'name = "image-folders"\npath = "photos"',
                                    "given": 'name = "image-folders"\npath = "split"',
                                    "private": 'name = "image-folders"\npath = "photos"\nhidden_from = "private"'})
    for source in (tmp_path / "course" / "photos" / "cat" / "IMG_0000.png", tmp_path / "course" / "private" / "dog" /
                   "IMG_0000.jpg"):
        with Image.open(source) as image:
            assert image.getexif() and "icc_profile" in image.info
    for name in ("carved", "given", "private"):
        prepare(course, course.assignment(name))
        images = sorted((layout(course, course.assignment(name)).test_dir / "images").iterdir())
        assert images and {p.suffix for p in images} == {".jpg"}, name
        assert sorted(p.stem for p in images) == sorted(read_labels(layout(course, course.assignment(name)).labels))
        for path in images:
            with Image.open(path) as image:
                assert image.format == "JPEG", path
                assert not {"exif", "icc_profile", "comment", "Comment"} & set(image.info), (name, image.info)
                assert not image.getexif() and [marker for marker, _ in image.applist] == ["APP0"]  # JFIF alone


def test_the_lock_names_no_file_and_holds_no_digest_a_student_could_match(tmp_path, monkeypatch):
    """A tiny table: with its plain sha256 in the public lock, its few hidden labels could be tried until it
    matched."""
    (tmp_path / "course" / "tables").mkdir(parents=True)
    path = tmp_path / "course" / "tables" / "small.csv"
    table(40).drop(columns="id").to_csv(path, index=False)
    course = course_with(tmp_path, {"small": 'name = "table"\npath = "tables/small.csv"\nlabel = "species"'})
    a = course.assignment("small")
    manifest = prepare(course, a)
    text = (a.path / LOCK_FILE).read_text()
    assert "small.csv" not in text and manifest["sources"]["small.csv"] not in text
    assert hashlib.sha256(path.read_bytes()).hexdigest() not in text
    # An earlier grader's plain lock is verified as it is, then keyed; a practical's stays plain (public files).
    (a.path / LOCK_FILE).write_text(json.dumps({"dataset": "table", "files": manifest["sources"]}))
    prepare(course, a)
    assert (a.path / LOCK_FILE).read_text() == text

    path.write_text(path.read_text().replace("setosa", "Setosa", 1))
    with pytest.raises(DataError, match=r"small\.csv: changed.*--no-verify"):
        prepare(course, a)  # still named: the lock is looked up by the HMAC of the paths at hand
    monkeypatch.setenv("GRADER_SECRET", "ab" * 32)  # another secret: the lock cannot be verified with it
    with pytest.raises(DataError, match=r"data\.lock\.json: recorded with another course secret"):
        prepare(course, a)
