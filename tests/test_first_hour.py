"""The instructor's first hour, as docs/index.md ("Your first course") tells it, on the instructor's own
data and no Python.

Every step is the installed `grader` command in a fresh folder: a new course, two assignments on
generated data (a folder of images, a CSV table), the notebooks' own environment, the doctor, the
data, the kit, a student's self-check from the kit alone (a fresh venv with the kit's wheel), the
graded batch, Moodle's participants list, the grade export and the leaderboard. `GRADER_FIRST_HOUR_TIMINGS=FILE` writes each
step's seconds as JSON (benchmarks/RESULTS.md records them).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.helpers import GRADER_COMMAND
from tests.helpers.datasets import SHAPES, SPECIES, shape_images, species_table


def _grader(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([GRADER_COMMAND, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=1200)
    assert done.returncode == 0, f"grader {' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.slow
def test_first_hour_of_a_new_course_without_python(tmp_path):
    images, table = shape_images(tmp_path / "shapes", per_class=24, size=16), species_table(tmp_path / "penguins.csv", rows=300)
    course = tmp_path / "my-course"
    timings: dict[str, float] = {}

    def step(name: str, *args: str, cwd: Path = course) -> subprocess.CompletedProcess:
        start = time.perf_counter()
        done = _grader(*args, cwd=cwd)
        timings[name] = round(time.perf_counter() - start, 1)
        return done

    step("init", "init", str(course), "--language", "es", cwd=tmp_path)
    step("new assignment (images)", "new", "assignment", "shapes", "--data", str(images))
    step("new assignment (table)", "new", "assignment", "penguins", "--data", str(table), "--label", "species")
    step("env build", "env", "build")
    doctor = step("doctor", "doctor", "--format", "json")
    assert [f for f in json.loads(doctor.stdout) if f["level"] == "error"] == []
    for name in ("shapes", "penguins"):
        step(f"data prepare {name}", "data", "prepare", name)
    classes = (course / ".grader" / "data" / "shapes" / "public" / "classes.txt").read_text().split()
    assert classes == list(SHAPES)
    readme = (course / "assignments" / "penguins" / "README.md").read_text(encoding="utf-8")
    assert all(f"`{species}`" in readme for species in SPECIES)
    step("kit", "kit", "penguins", "--out", str(tmp_path / "kits" / "penguins-kit.zip"))

    # A student: an empty folder, the kit's zip, a fresh venv with the grader wheel the kit carries.
    student = tmp_path / "student"
    student.mkdir()
    shutil.copy(tmp_path / "kits" / "penguins-kit.zip", student)
    zipfile.ZipFile(student / "penguins-kit.zip").extractall(student)
    settings = (student / "penguins-kit" / "assignment.toml").read_text(encoding="utf-8")
    assert str(tmp_path) not in settings  # where the instructor keeps the data is not the students' business
    wheels = sorted((student / "penguins-kit" / "wheels").glob("*.whl"))
    assert len(wheels) == 1, wheels
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(student / "venv")], check=True)
    subprocess.run([str(student / "venv" / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                    str(wheels[0])], check=True, capture_output=True)
    timings["student install"] = round(time.perf_counter() - start, 1)
    start = time.perf_counter()
    check = subprocess.run([str(student / "venv" / "bin" / "grader"), "check", "penguins-kit/starter.ipynb",
                            "--kit", "penguins-kit.zip"], cwd=student, capture_output=True, text=True,
                           env={k: v for k, v in os.environ.items() if k != "GRADER_COURSE"})
    timings["student check"] = round(time.perf_counter() - start, 1)
    assert check.returncode == 0, check.stdout + check.stderr

    # Hand-ins: the starters, as two students would first hand them in.
    for name in ("shapes", "penguins"):
        for who in ("ana", "luis"):
            target = course / "submissions" / name / who
            target.mkdir(parents=True)
            shutil.copy(course / "assignments" / name / "starter.ipynb", target / "entrega.ipynb")
    run = step("run", "run", "submissions", "--format", "json")
    rows = json.loads(run.stdout)
    assert sorted((r["assignment"], r["student"], r["status"]) for r in rows) == [
        (name, who, "ok") for name in ("penguins", "shapes") for who in ("ana", "luis")]
    (tmp_path / "participants.csv").write_text("Full name,ID number,Email address\n"
                                               "ana,U001,ana@example.org\nluis,U002,luis@example.org\n")
    step("moodle roster", "moodle", "roster", str(tmp_path / "participants.csv"))
    step("grades export", "grades", "export", "--format", "moodle", "--out", str(tmp_path / "moodle.csv"))
    exported = (tmp_path / "moodle.csv").read_text(encoding="utf-8")
    assert "U001" in exported and "U002" in exported
    step("leaderboard publish", "leaderboard", "publish", "--out", str(tmp_path / "board"))
    assert (tmp_path / "board" / "index.html").is_file()
    if os.environ.get("GRADER_FIRST_HOUR_TIMINGS"):
        Path(os.environ["GRADER_FIRST_HOUR_TIMINGS"]).write_text(json.dumps(timings, indent=2))
