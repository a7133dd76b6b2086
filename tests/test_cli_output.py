"""The CLI as a person meets it: tables that fit the terminal, errors that say what to do, exit codes."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys

import pytest
import typer.main
from rich.console import Console
from typer.testing import CliRunner

from grader import cli
from grader.cli import _cell
from grader.course import load_course
from grader.gradebook import Gradebook
from grader.grades import number
from grader.kit import write_kit
from tests.helpers import make_course
from tests.helpers.notebooks import GOOD, LOAD, write_notebook

ANA = "Ana María Fernández"
LONG_MESSAGE = "the column " + "that the notebook expected to find " * 8


def shown(monkeypatch, width: int, *args: str):
    """The command's output on a terminal `width` columns wide."""
    monkeypatch.setattr(cli, "console", Console(width=width))
    return CliRunner().invoke(cli.app, list(args))


def line_of(output: str, text: str) -> str:
    (line,) = [line for line in output.splitlines() if text in line]
    return line


def header_of(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("┃"))


def assert_fits(output: str, width: int) -> None:
    assert max(len(line) for line in output.splitlines()) <= width, output


@pytest.fixture
def graded(course_dir, tmp_path):
    """A course where one hand-in scored and one failed with a long message; both carry flags."""
    subs = tmp_path / "subs" / "digits"
    write_notebook(subs / f"{ANA}.ipynb", GOOD)
    write_notebook(subs / "ben.ipynb", [LOAD, f"raise KeyError({LONG_MESSAGE!r})"])
    return course_dir, subs.parent


@pytest.mark.parametrize("width", [80, 120])
def test_result_tables_keep_student_status_score_and_grade_whole(graded, monkeypatch, width):
    course_dir, subs = graded
    course = ["--course", str(course_dir)]
    ran = shown(monkeypatch, width, "run", str(subs), *course)
    assert ran.exit_code == 0, ran.output
    rows = {r["student"]: r for r in json.loads(CliRunner().invoke(cli.app, ["status", *course, "-f", "json"]).stdout)}
    assert rows[ANA]["status"] == "ok" and rows["ben"]["status"] == "failed" and rows["ben"]["flags"]

    for output in (ran.stdout, shown(monkeypatch, width, "status", *course).stdout):
        assert_fits(output, width)
        header = header_of(output)
        assert all(name in header for name in ("student", "status", "score", "grade"))
        ana = line_of(output, ANA)
        assert "ok" in ana and _cell(rows[ANA]["primary_score"]) in ana and _cell(rows[ANA]["grade"]) in ana
        assert "failed" in line_of(output, "ben")
        assert "grader show STUDENT" in output  # where the text that did not fit is whole
        if width == 120:  # room for the long texts, cut after a few lines
            assert "message" in header and "flags" in header
            assert LONG_MESSAGE not in output and "…" in output and "cut to fit" in output
        else:
            assert "not shown at 80 columns:" in output

    # `grader show` is where the whole text is.
    whole = shown(monkeypatch, width, "show", "ben", *course).stdout
    assert " ".join(LONG_MESSAGE.split()) in " ".join(whole.split())

    grades = shown(monkeypatch, width, "grades", "show", *course).stdout
    assert_fits(grades, width)
    assert all(name in header_of(grades) for name in ("student", "digits", "final"))
    assert number(rows[ANA]["grade"]) in line_of(grades, ANA)

    board = shown(monkeypatch, width, "leaderboard", "show", "digits", "--names", "--reveal", *course).stdout
    assert_fits(board, width)
    assert all(name in header_of(board) for name in ("rank", "pseudonym", "student", "score"))
    assert re.search(r"│ 1 +│ \S+ +│ " + ANA + r" +│ 0\.\d{4} ", line_of(board, ANA))  # first, with a score


def test_reference_and_doctor_tables_fit_80_and_120_columns(course_dir, monkeypatch):
    with Gradebook(course_dir / ".grader" / "gradebook.sqlite") as book:
        book.record_reference({"assignment": "digits", "role": "baseline", "mode": "smoke", "data_sha256": "x",
                               "notebook": "baseline.ipynb", "notebook_sha256": "y", "runner": "local",
                               "device": "cpu", "status": "failed", "message": LONG_MESSAGE, "duration_s": 2.5,
                               "primary_metric": "accuracy", "primary_score": None, "grade": None})
    for width in (80, 120):
        refs = shown(monkeypatch, width, "reference", "show", "--course", str(course_dir)).stdout
        assert_fits(refs, width)
        assert all(name in header_of(refs) for name in ("role", "status", "score", "grade"))
        assert "failed" in line_of(refs, "baseline") and "--format json" in refs
        doctor = shown(monkeypatch, width, "doctor", "--course", str(course_dir))
        assert_fits(doctor.stdout, width)
        assert "fix:" in doctor.stdout


def test_outside_a_course_the_error_names_course_and_its_variable(tmp_path, monkeypatch):
    for args, env in ((["status", "--course", str(tmp_path)], {}), (["status"], {"GRADER_COURSE": str(tmp_path)})):
        done = CliRunner().invoke(cli.app, args, env=env)
        assert done.exit_code == 2
        assert "not a course folder" in done.stderr and "--course" in done.stderr
        assert "$GRADER_COURSE" in done.stderr


def test_a_wrong_layout_shows_the_expected_one_and_the_likely_fix(course_dir, tmp_path):
    course = ["--course", str(course_dir)]
    cli_runner = CliRunner()
    misspelt = tmp_path / "subs" / "DIGITS"
    write_notebook(misspelt / "ana.ipynb", GOOD)
    done = cli_runner.invoke(cli.app, ["run", str(misspelt.parent), *course])
    assert done.exit_code == 1
    assert "submissions/<assignment>/<student>/" in done.stderr and "did you mean digits?" in done.stderr
    done = cli_runner.invoke(cli.app, ["run", str(misspelt), *course])
    assert done.exit_code == 1 and "named like the assignment digits" in done.stderr

    packed = tmp_path / "packed"
    (packed / "digits.zip").parent.mkdir()
    (packed / "digits.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    done = cli_runner.invoke(cli.app, ["run", str(packed), *course])
    assert done.exit_code == 1 and "an archive, still packed" in done.stderr
    assert f"grader moodle import digits {packed / 'digits.zip'}" in done.stderr

    # A student's folder holding a zip and no notebook: graded as no notebook, the zip named.
    zipped = tmp_path / "zipped" / "digits" / "carla"
    zipped.mkdir(parents=True)
    (zipped / "carla.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    # A student's file name is no shell code: a command the grader suggests quotes every path in it.
    hostile = tmp_path / "hostile" / "hw.zip; touch pwned; .zip"
    hostile.parent.mkdir()
    hostile.write_bytes(b"PK\x05\x06" + bytes(18))
    done = cli_runner.invoke(cli.app, ["run", str(hostile.parent), *course])
    assert f"grader moodle import <assignment> '{hostile}'" in " ".join(done.stderr.split()), done.stderr
    done = cli_runner.invoke(cli.app, ["run", str(zipped.parent.parent), *course, "-f", "json"])
    assert done.exit_code == 0, done.output
    assert [r["status"] for r in json.loads(done.stdout)] == ["invalid_submission"]
    assert "carla: no notebook, but carla.zip" in done.stderr and "ask them for the notebook" in done.stderr

    done = cli_runner.invoke(cli.app, ["run", str(zipped.parent.parent), *course, "--student", "Carla"])
    assert done.exit_code == 1 and "did you mean 'carla'?" in done.stderr


def test_exit_codes_two_for_usage_and_configuration_one_for_a_failed_operation(course_dir, tmp_path):
    cli_runner = CliRunner()
    course = ["--course", str(course_dir)]
    notebook = write_notebook(tmp_path / "mine.ipynb", GOOD)
    usage = {
        "no name nor --all": ["reference", "run", *course],
        "unknown runner": ["run", str(tmp_path), *course, "--runner", "nonsense"],
        "unknown assignment": ["check", str(notebook), "-a", "nope", *course],
        "bad --build-arg": ["image", "build", "--build-arg", "NOVALUE", *course],
    }
    for why, args in usage.items():
        done = cli_runner.invoke(cli.app, args)
        assert done.exit_code == 2 and "\nerror: " in f"\n{done.stderr}", (why, done.output)
    unprepared = make_course(tmp_path / "unprepared")
    failed = {
        "data not prepared": ["check", str(notebook), "-a", "digits", "--course", str(unprepared)],
        "no such student": ["show", "nobody", *course],
        "nothing to grade": ["run", str(tmp_path / "nowhere"), *course],
    }
    for why, args in failed.items():
        done = cli_runner.invoke(cli.app, args)
        assert done.exit_code == 1 and "\nerror: " in f"\n{done.stderr}", (why, done.output)


def test_the_moodle_export_points_a_missing_id_number_to_the_roster(graded):
    course_dir, subs = graded
    course = ["--course", str(course_dir)]
    assert CliRunner().invoke(cli.app, ["run", str(subs), *course]).exit_code == 0
    exported = CliRunner().invoke(cli.app, ["grades", "export", *course])
    assert exported.exit_code == 0, exported.output
    assert "no ID number" in exported.stderr and "grader moodle roster PARTICIPANTS.csv" in exported.stderr


def test_grader_check_with_a_kit_loads_neither_the_audit_nor_copydetect(course, tmp_path):
    kit = write_kit(course, "digits", tmp_path / "kit")
    notebook = write_notebook(tmp_path / "mine.ipynb", ["print('no predictions')"])
    loaded = ("sorted(m for m in sys.modules if m == 'copydetect' or m.startswith(('grader.audit', "
              "'grader.pipeline', 'grader.gradebook')))")
    # The API, then the command: both run the notebook, score it and fail it (no predictions).
    probe = f"""import sys
from pathlib import Path
from grader.check import check_kit
print(check_kit(Path({str(kit)!r}), Path({str(notebook)!r})).passed, {loaded})
from grader.cli import app
try:
    app(['check', {str(notebook)!r}, '--kit', {str(kit)!r}])
except SystemExit as exc:
    print('exit', exc.code, [m for m in {loaded} if 'audit' in m or m == 'copydetect'])
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    lines = done.stdout.splitlines()
    assert "False []" in lines and lines[-1] == "exit 1 []", done.stdout + done.stderr


def test_serve_grant_finds_a_student_as_grader_report_does(course_dir):
    course = ["--course", str(course_dir)]
    with Gradebook(load_course(course_dir).gradebook_path) as book:
        book.set_student(ANA, id_number="X123", email="ana@example.org")
        book.set_student("Bruno Díaz")
    for spelling in ["ana maría  FERNÁNDEZ", "X123", "Ana@Example.org"]:
        done = CliRunner().invoke(cli.app, ["serve", "grant", spelling, "digits", "-n", "2", *course])
        assert done.exit_code == 0 and done.stdout.startswith(f"{ANA}: 2 more"), (spelling, done.output)
    unknown = CliRunner().invoke(cli.app, ["serve", "grant", "Ana Maria Fernandez", "digits", *course])
    assert unknown.exit_code == 1 and f"did you mean '{ANA}'?" in unknown.stderr, unknown.output


def test_help_paragraphs_are_one_line_each_so_they_wrap_to_the_terminal():
    # rich keeps a docstring's single newlines in a command list and in every paragraph after the first.
    def paragraphs(command, path):
        yield path, inspect.cleandoc(command.help or "").split("\n\n")
        for name, sub in getattr(command, "commands", {}).items():
            yield from paragraphs(sub, f"{path} {name}")

    broken = [path for path, texts in paragraphs(typer.main.get_command(cli.app), "grader")
              if any("\n" in text for text in texts)]
    assert not broken
    tokens = CliRunner().invoke(cli.app, ["serve", "tokens", "--help"], env={"COLUMNS": "100"}).stdout
    assert "<csv|json>" in line_of(tokens, "--format")  # not table, which it refuses


def test_grader_submit_to_a_wrong_address_says_to_check_server(tmp_path):
    import http.server
    import socket
    import threading

    class NotTheService(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body = b"<html>a page</html>"
            self.send_response(404 if self.path.startswith("/wrong/") else 200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    notebook = write_notebook(tmp_path / "mine.ipynb", GOOD)
    web = http.server.HTTPServer(("127.0.0.1", 0), NotTheService)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{closed.getsockname()[1]}"
    try:
        url = f"http://127.0.0.1:{web.server_port}"
        said = {}
        for server in [nobody, f"{url}/wrong", url]:
            done = CliRunner().invoke(cli.app, ["submit", str(notebook), "--server", server, "--token", "t"])
            assert done.exit_code == 1 and "check --server (the address your README gives" in done.stderr
            said[server] = done.stderr
    finally:
        web.shutdown()
    assert f"no grader service answers at {nobody} " in said[nobody]
    assert f"no grader service at {url}/wrong (/api/me: 404" in said[f"{url}/wrong"]
    assert f"no grader service at {url} " in said[url]
