"""The student kit: what students may have, and `grader check --kit` where only the kit and a notebook are."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import pytest

from grader.course import load_course
from grader.data import layout, prepare, read_labels
from grader.data.sources import DataError
from grader.kit import open_kit, write_kit
from tests.helpers import GRADER, REPO



def test_a_fresh_folder_with_only_the_kit_and_the_starter_passes_grader_check(tmp_path, monkeypatch):
    shutil.copytree(REPO / "demo", tmp_path / "course", ignore=shutil.ignore_patterns(".grader", "submissions"))
    monkeypatch.setenv("GRADER_SECRET", "c3" * 32)
    course = load_course(tmp_path / "course")
    prepare(course, course.assignment("digits"))
    # A deadline moved after the READMEs were last rendered: the kit still tells students the new one.
    toml = tmp_path / "course" / "assignments" / "digits" / "assignment.toml"
    toml.write_text(toml.read_text().replace('deadline = "2026-12-15T23:59"', 'deadline = "2026-12-22T23:59"'))
    kit = write_kit(course, "digits", tmp_path / "out" / "digits-kit.zip")

    # Nothing hidden in it: no hidden test id, no hidden input file, no label file of the hidden split, no secret.
    data = layout(course, course.assignment("digits"))
    hidden_ids = list(read_labels(data.labels))
    hidden_files = {p.read_bytes() for p in data.test_dir.rglob("*") if p.is_file()}
    with zipfile.ZipFile(kit) as archive:
        names = archive.namelist()
        contents = [archive.read(n) for n in names if not n.endswith("/")]
    assert {"digits-kit/kit.json", "digits-kit/starter.ipynb", "digits-kit/README.md", "digits-kit/README.en.md",
            "digits-kit/data/train.npz", "digits-kit/practice/test/test.npz", "digits-kit/practice/labels.csv"} <= set(names)
    with zipfile.ZipFile(kit) as archive:
        assert "22 de diciembre de 2026" in archive.read("digits-kit/README.md").decode()
        assert "22 December 2026" in archive.read("digits-kit/README.en.md").decode()
    for content in contents:
        assert content not in hidden_files and (data.labels.read_bytes() != content)
        assert not any(pid.encode() in content for pid in hidden_ids)
        assert b"c3c3c3c3" not in content and b"hidden_from" not in content

    # A student's machine: a fresh folder, the kit and the starter; no course folder, no secret, no data.
    student = tmp_path / "student"
    student.mkdir()
    shutil.copyfile(kit, student / "digits-kit.zip")
    with zipfile.ZipFile(kit) as archive:
        (student / "mi_practica.ipynb").write_bytes(archive.read("digits-kit/starter.ipynb"))
    env = {k: v for k, v in os.environ.items() if k not in ("GRADER_SECRET", "GRADER_COURSE")}
    done = subprocess.run([*GRADER, "check", "mi_practica.ipynb", "--kit", "digits-kit.zip", "--format", "json"],
                          cwd=student, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["passed"] and "cumple el contrato" in report["verdict"]  # the course's language, from the kit
    assert report["scores"]["all"]["accuracy"] > 0.5
    assert sorted(p.name for p in student.iterdir()) == ["digits-kit.zip", "mi_practica.ipynb"]


def test_the_kit_command_writes_a_folder_and_names_how_students_use_it(tmp_path, monkeypatch):
    shutil.copytree(REPO / "demo", tmp_path / "course", ignore=shutil.ignore_patterns(".grader", "submissions"))
    course = load_course(tmp_path / "course")
    prepare(course, course.assignment("digits"))
    done = subprocess.run([*GRADER, "kit", "digits", "--out", str(tmp_path / "kit"), "--course", str(course.root)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "grader check NOTEBOOK --kit kit" in done.stdout
    assert (tmp_path / "kit" / "practice" / "labels.csv").is_file() and (tmp_path / "kit" / "data").is_dir()
    missing = subprocess.run([*GRADER, "check", str(tmp_path / "kit" / "starter.ipynb")], capture_output=True,
                             text=True, cwd=tmp_path)
    assert missing.returncode == 2 and "--kit" in missing.stderr


def test_the_starter_runs_unchanged_outside_the_grader_by_fetching_its_kit(tmp_path, monkeypatch):
    """As in Colab or on a laptop: only the starter, no data_dir; it downloads and unpacks the kit."""
    import papermill

    shutil.copytree(REPO / "demo", tmp_path / "course", ignore=shutil.ignore_patterns(".grader", "submissions"))
    published = tmp_path / "published"  # the course's kit page; a file:// address stands in for https://
    toml = tmp_path / "course" / "course.toml"
    toml.write_text(toml.read_text() + f'\n[kit]\nurl = "{published.as_uri()}"\n')
    course = load_course(tmp_path / "course")
    prepare(course, course.assignment("digits"))
    write_kit(course, "digits", published / "digits-kit.zip")
    with zipfile.ZipFile(published / "digits-kit.zip") as archive:  # the README says where the kit is
        assert f"{published.as_uri()}/digits-kit.zip" in archive.read("digits-kit/README.md").decode()

    laptop = tmp_path / "laptop"
    laptop.mkdir()
    with zipfile.ZipFile(published / "digits-kit.zip") as archive:
        (laptop / "starter.ipynb").write_bytes(archive.read("digits-kit/starter.ipynb"))
    papermill.execute_notebook(str(laptop / "starter.ipynb"), str(laptop / "ran.ipynb"), cwd=str(laptop),
                               kernel_name="python3", progress_bar=False)
    assert (laptop / "digits-kit" / "data" / "train.npz").is_file()  # fetched and unpacked beside it
    predictions = (laptop / "predictions.csv").read_text().splitlines()
    practice = (laptop / "digits-kit" / "practice" / "labels.csv").read_text().splitlines()
    assert len(predictions) == len(practice)  # one row per practice-test item

    # Offline, with the kit beside the notebook (downloaded by hand), and the repository's starter.
    offline = tmp_path / "offline"
    offline.mkdir()
    shutil.copyfile(published / "digits-kit.zip", offline / "digits-kit.zip")
    shutil.copyfile(REPO / "demo" / "assignments" / "digits" / "starter.ipynb", offline / "starter.ipynb")
    papermill.execute_notebook(str(offline / "starter.ipynb"), str(offline / "ran.ipynb"), cwd=str(offline),
                               kernel_name="python3", progress_bar=False)
    assert (offline / "predictions.csv").is_file()


def test_a_kit_zip_that_escapes_its_folder_is_refused_before_anything_is_written(tmp_path):
    forged = tmp_path / "digits-kit.zip"
    with zipfile.ZipFile(forged, "w") as archive:
        archive.writestr("digits-kit/kit.json", "{}")
        archive.writestr("../outside.txt", "written where it should not be")
    with pytest.raises(DataError, match="'..' escapes the target folder"):
        open_kit(forged)
    assert not (Path(tempfile.gettempdir()) / "outside.txt").exists()  # kits unpack into a temporary folder
