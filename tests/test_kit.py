"""The student kit: what students may have, and `grader check --kit` where only the kit and a notebook are."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from grader.course import load_course
from grader.data import layout, prepare, read_labels
from grader.kit import write_kit

REPO = Path(__file__).resolve().parents[1]
GRADER = [sys.executable, "-c", "from grader.cli import app; app()"]


def test_a_fresh_folder_with_only_the_kit_and_the_starter_passes_grader_check(tmp_path, monkeypatch):
    shutil.copytree(REPO / "demo", tmp_path / "course", ignore=shutil.ignore_patterns(".grader", "submissions"))
    monkeypatch.setenv("GRADER_SECRET", "c3" * 32)
    course = load_course(tmp_path / "course")
    prepare(course, course.assignment("digits"))
    kit = write_kit(course, "digits", tmp_path / "out" / "digits-kit.zip")

    # Nothing hidden in it: no hidden test id, no hidden input file, no label file of the hidden split, no secret.
    data = layout(course, course.assignment("digits"))
    hidden_ids = list(read_labels(data.labels))
    hidden_files = {p.read_bytes() for p in data.test_dir.rglob("*") if p.is_file()}
    with zipfile.ZipFile(kit) as archive:
        names = archive.namelist()
        contents = [archive.read(n) for n in names if not n.endswith("/")]
    assert {"digits-kit/kit.json", "digits-kit/starter.ipynb", "digits-kit/README.md", "digits-kit/data/train.npz",
            "digits-kit/practice/test/test.npz", "digits-kit/practice/labels.csv"} <= set(names)
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
