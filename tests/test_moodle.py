"""Moodle in and out: safe unpacking of the submissions zip, identity from the participants list,
real runs, the grade import CSV parsed back by Moodle's rules, and the student's report."""

from __future__ import annotations

import csv
import io
import json
import re
import stat
import unicodedata
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grader.cli import app
from grader.course import load_course
from grader.data import prepare
from grader.archive import Limits, UnsafeArchive
from grader.moodle import ingest, parse_moodle_time, read_participants
from tests.helpers import PRACTICAS_GROUP
from tests.helpers.notebooks import GOOD, WEAK, write_notebook

WORKSHEET = '''Identifier,Full name,Email address,ID number,Status,Grade,Last modified (submission)
Participant 12345,Ana García,ana@uni.es,A001,Submitted for grading,,"Friday, 15 January 2027, 11:58 PM"
Participant 12346,Bruno Díaz,bruno@uni.es,A002,Submitted for grading,,"viernes, 15 de enero de 2027, 23:00"
Participant 12347,Íñigo Muñoz,inigo@uni.es,A003,No submission,,-
'''


def moodle_zip(path: Path, files: dict[str, bytes], when=(2027, 1, 14, 10, 30, 0)) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(zipfile.ZipInfo(name, when), data)
    return path


def notebook_bytes(tmp_path: Path, cells) -> bytes:
    return write_notebook(tmp_path / "nb.ipynb", cells).read_bytes()


@pytest.fixture
def moodle_course(tmp_path):
    root = tmp_path / "course"
    for name in PRACTICAS_GROUP:
        (root / "assignments" / name).mkdir(parents=True)
        (root / "assignments" / name / "assignment.toml").write_text(
            'deadline = "2027-01-15"\ngrade_scale = [[0.5, 0.0], [1.0, 10.0]]\n'
            '[dataset]\nname = "digits"\n[limits]\ntime_limit_s = 120\n[resources]\nmemory_mb = 1500\n')
    (root / "course.toml").write_text('''name = "Aprendizaje Profundo"
language = "es"
timezone = "Europe/Madrid"
[policy]
rounding = "up"
[policy.late]
mode = "penalty"
penalty_per_day = 1
[[policy.groups]]
name = "practicas"
assignments = ["mnist", "imagenet-subset", "text-generation"]
best = 2
''')
    (root / "participants.csv").write_text(WORKSHEET, encoding="utf-8")
    return load_course(root)


def test_zip_slip_symlink_and_absolute_paths_are_refused_whole(moodle_course, tmp_path):
    bad = {"Ana García_12345_assignsubmission_file_/../../escape.ipynb": b"{}",
           "C:\\Windows\\evil.ipynb": b"{}", "/etc/cron.d/evil": b"x"}
    archive = moodle_zip(tmp_path / "bad.zip", bad)
    with zipfile.ZipFile(archive, "a") as zf:
        link = zipfile.ZipInfo("Bruno Díaz_12346_assignsubmission_file_/nb.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(UnsafeArchive) as info:
        ingest(moodle_course, "mnist", archive, into=tmp_path / "subs")
    message = str(info.value)
    assert str(archive) in message
    for fault in ("'..' escapes the target folder", "an absolute path", "a symbolic link"):
        assert fault in message
    assert len(info.value.faults) == 4
    assert not (tmp_path / "subs").exists() and not (tmp_path / "escape.ipynb").exists()


def test_oversized_and_too_many_files_are_refused(moodle_course, tmp_path):
    archive = moodle_zip(tmp_path / "big.zip", {f"A_{i}_assignsubmission_file_/nb.ipynb": b"x" * 1000
                                                for i in range(5)})
    with pytest.raises(UnsafeArchive, match="more than the limit of 4000"):
        ingest(moodle_course, "mnist", archive, into=tmp_path / "subs", limits=Limits(max_bytes=4000))
    with pytest.raises(UnsafeArchive, match="5 entries, more than the limit of 3"):
        ingest(moodle_course, "mnist", archive, into=tmp_path / "subs", limits=Limits(max_files=3))
    with pytest.raises(UnsafeArchive, match="1000 bytes, more than the limit of 999"):
        ingest(moodle_course, "mnist", archive, into=tmp_path / "subs", limits=Limits(max_file_bytes=999))
    not_zip = tmp_path / "notes.zip"
    not_zip.write_text("hello")
    with pytest.raises(UnsafeArchive, match="not a readable zip file"):
        ingest(moodle_course, "mnist", not_zip, into=tmp_path / "subs")


def test_accents_windows_separators_and_flat_downloads(moodle_course, tmp_path):
    nfd = unicodedata.normalize("NFD", "Íñigo Muñoz")
    archive = moodle_zip(tmp_path / "subs.zip", {
        f"{nfd}_12347_assignsubmission_file_\\entrega\\práctica 1.ipynb": b"{}",  # made on Windows
        "Ana García_12345_assignsubmission_file_mi notebook.ipynb": b"{}",  # "download in folders" off
        "Zoe Unknown_99999_assignsubmission_file_/nb.ipynb": b"{}",
        "notes.txt": b"not a submission",
    })
    report = ingest(moodle_course, "mnist", archive, moodle_course.root / "participants.csv",
                    into=tmp_path / "subs")
    target = tmp_path / "subs" / "mnist"
    assert (target / "Íñigo Muñoz" / "entrega" / "práctica 1.ipynb").is_file()
    assert (target / "Ana García" / "mi notebook.ipynb").is_file()
    assert {i.student: i.in_roster for i in report.imported} == {
        "Ana García": True, "Íñigo Muñoz": True, "Zoe Unknown": False}
    assert any("Zoe Unknown (participant 99999): not in the participants list" in w for w in report.warnings)
    assert any("notes.txt: skipped" in w for w in report.warnings)
    # Times: the worksheet's record first (Madrid wall clock), else the zip entry's time.
    times = {i.student: (i.submitted_at, i.time_source) for i in report.imported}
    assert times["Ana García"] == ("2027-01-15T22:58:00+00:00", "worksheet")
    assert times["Íñigo Muñoz"] == ("2027-01-14T09:30:00+00:00", "archive")
    sidecar = json.loads((target / "Ana García" / ".submission.json").read_text())
    assert (sidecar["id_number"], sidecar["email"]) == ("A001", "ana@uni.es")


def test_participants_files_in_english_spanish_and_semicolons(tmp_path):
    spanish = tmp_path / "es.csv"
    spanish.write_text("\ufeffNombre;Apellido(s);Número de ID;Dirección de correo\nAna;García López;A001;a@u.es\n",
                       encoding="utf-8")
    [ana] = read_participants(spanish)
    assert (ana.name, ana.id_number, ana.email) == ("Ana García López", "A001", "a@u.es")
    bad = tmp_path / "bad.csv"
    bad.write_text("Student,Mark\nAna,7\n")
    with pytest.raises(ValueError, match=re.escape(f"{bad}: no name column")):
        read_participants(bad)
    assert parse_moodle_time("Friday, 15 January 2027, 11:58 PM").isoformat() == "2027-01-15T23:58:00"
    assert parse_moodle_time("viernes, 15 de enero de 2027, 23:00").isoformat() == "2027-01-15T23:00:00"
    assert parse_moodle_time("-") is None


def parse_like_moodle(text: str, known_users: dict[str, str], identifier: str) -> dict[str, dict[str, float | None]]:
    """Moodle's CSV grade import rules (grade/import/csv), as the README lists them.

    UTF-8 (a BOM is dropped); the first row names the columns, each non-empty and unique after
    trimming; every row has as many fields as the header; the identifier column maps each row
    to an existing user, and one unknown or empty identifier aborts the whole import; a grade
    cell is '' or '-' (no grade) or a plain decimal number, at most 100 (gradepointmax).
    """
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    header = [h.strip() for h in rows[0]]
    assert all(header) and len(set(header)) == len(header), header
    id_col = header.index(identifier)
    grade_cols = [i for i, h in enumerate(header) if h not in (identifier, "Full name", "feedback")]
    result = {}
    for row in rows[1:]:
        assert len(row) == len(header), row
        user = row[id_col].strip()
        assert user in known_users, f"Moodle would abort the import: unknown user {user!r}"
        grades = {}
        for i in grade_cols:
            value = row[i].strip()
            assert value in ("", "-") or re.fullmatch(r"-?\d+(\.\d+)?", value), (header[i], value)
            grades[header[i]] = None if value in ("", "-") else float(value)
            assert grades[header[i]] is None or grades[header[i]] <= 100
        grades["feedback"] = row[header.index("feedback")]
        result[known_users[user]] = grades
    return result


def test_moodle_round_trip_with_real_runs(moodle_course, tmp_path):
    course = moodle_course
    for name in PRACTICAS_GROUP[:2]:
        prepare(course, course.assignment(name))
    good, weak = notebook_bytes(tmp_path, GOOD), notebook_bytes(tmp_path, WEAK)
    mnist_zip = moodle_zip(tmp_path / "mnist.zip", {
        "Ana García_12345_assignsubmission_file_/practica.ipynb": good,
        "Bruno Díaz_12346_assignsubmission_file_/practica.ipynb": weak,
        "Zoe Unknown_99999_assignsubmission_file_/nb.ipynb": good})
    imagenet_zip = moodle_zip(tmp_path / "imagenet.zip", {
        "Ana García_12345_assignsubmission_file_/practica.ipynb": good})
    cli = CliRunner()
    common = ["--course", str(course.root)]
    subs = tmp_path / "submissions"
    for name, archive in (("mnist", mnist_zip), ("imagenet-subset", imagenet_zip)):
        result = cli.invoke(app, ["moodle", "import", name, str(archive), "--participants",
                                  str(course.root / "participants.csv"), "--into", str(subs), "--format", "json",
                                  *common])
        assert result.exit_code == 0, result.output
    result = cli.invoke(app, ["run", str(subs), "--jobs", "2", "--format", "json", *common])
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)
    assert sorted((r["assignment"], r["student"], r["status"]) for r in runs) == [
        ("imagenet-subset", "Ana García", "ok"), ("mnist", "Ana García", "ok"),
        ("mnist", "Bruno Díaz", "ok"), ("mnist", "Zoe Unknown", "ok")]
    scale = {(r["assignment"], r["student"]): r["grade"] for r in runs}

    out = tmp_path / "moodle.csv"
    result = cli.invoke(app, ["grades", "export", "--format", "moodle", "--out", str(out), *common])
    assert result.exit_code == 0, result.output
    assert "Zoe Unknown: left out of the Moodle file" in result.output
    users = {"A001": "Ana García", "A002": "Bruno Díaz", "A003": "Íñigo Muñoz"}
    parsed = parse_like_moodle(out.read_text(encoding="utf-8"), users, "ID number")
    assert set(parsed) == set(users.values())  # every participant, hand-ins or not; never the unknown one
    ana_mnist, ana_imagenet = scale[("mnist", "Ana García")], scale[("imagenet-subset", "Ana García")]
    # Ana: on time (23:58 Madrid), two hand-ins: their mean, rounded up.
    assert parsed["Ana García"]["mnist"] == pytest.approx(ana_mnist, abs=0.005)
    assert parsed["Ana García"]["final"] == -(-round((ana_mnist + ana_imagenet) / 2, 6) // 1)
    # Bruno: 23:00 on the deadline day is on time; one weak hand-in and two missing.
    bruno = parsed["Bruno Díaz"]
    assert bruno["imagenet-subset"] == 0 and bruno["text-generation"] == 0
    assert bruno["final"] == -(-round(scale[("mnist", "Bruno Díaz")] / 2, 6) // 1)
    assert parsed["Íñigo Muñoz"]["final"] == 0
    assert "no entregada" in parsed["Íñigo Muñoz"]["feedback"]
    assert "Nota final" in parsed["Ana García"]["feedback"]

    plain = cli.invoke(app, ["grades", "export", "--format", "csv", *common]).stdout
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO(plain))}
    assert rows["Zoe Unknown"]["mnist_state"] == "graded" and rows["Zoe Unknown"]["id_number"] == ""
    assert rows["Ana García"]["mnist_counted"] == "yes" and rows["Ana García"]["mnist_late_days"] == "0"

    report_dir = tmp_path / "report"
    result = cli.invoke(app, ["report", "A001", "--out", str(report_dir), *common])
    assert result.exit_code == 0, result.output
    page = (report_dir / "index.html").read_text(encoding="utf-8")
    assert "Notas de Ana García" in page and "notebook ejecutado" in page
    executed = re.findall(r'href="([^"]+\.html)"', page)
    assert len(executed) == 2 and all((report_dir / name).is_file() for name in executed)
    result = cli.invoke(app, ["report", "nobody", *common])
    assert result.exit_code == 1 and "no student 'nobody'" in result.output


def test_a_resubmission_keeps_history_and_the_last_on_time_counts(moodle_course, tmp_path):
    course = moodle_course
    prepare(course, course.assignment("mnist"))
    participants = course.root / "participants.csv"
    participants.write_text(WORKSHEET.replace('"Friday, 15 January 2027, 11:58 PM"', "-"), encoding="utf-8")
    subs = tmp_path / "submissions"
    first = moodle_zip(tmp_path / "1.zip", {"Ana García_12345_assignsubmission_file_/a.ipynb":
                                            notebook_bytes(tmp_path, GOOD)}, when=(2027, 1, 10, 9, 0, 0))
    second = moodle_zip(tmp_path / "2.zip", {"Ana García_12345_assignsubmission_file_/b.ipynb":
                                             notebook_bytes(tmp_path, WEAK)}, when=(2027, 1, 16, 9, 0, 0))
    from grader.gradebook import Gradebook
    from grader.grades import compute
    from grader.pipeline import run
    for archive in (first, second):
        ingest(course, "mnist", archive, participants, into=subs)
        run(course, subs)
    assert not (subs / "mnist" / "Ana García" / "a.ipynb").exists()  # Moodle keeps only the latest file
    with Gradebook(course.gradebook_path) as book:
        ana = next(s for s in compute(course, book).students if s.student == "Ana García")
    mnist = ana.components["mnist"]
    assert len(mnist.attempts) == 2
    assert mnist.chosen.submitted_at.isoformat() == "2027-01-10T08:00:00+00:00"  # the on-time one
    assert mnist.attempts[1].lateness.days == 1
