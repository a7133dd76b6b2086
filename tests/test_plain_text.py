"""What students write is shown as text: a notebook's exception, traceback and printed output carry
terminal escapes, rich markup, bidi overrides, HTML and spreadsheet formulas; every command that
shows them shows plain text (the gradebook keeps them as they were).

The gradebook is filled directly (tests.helpers.policy's course and hand_in); the commands run as the
instructor runs them, in a process of their own, so their output is what a terminal would get.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess

import nbformat
import pytest

from grader.gradebook import Gradebook
from grader.i18n import translator
from grader.runners.base import FAILED, INVALID_PREDICTIONS, RunResult
from grader.text import FIELD_LIMIT, plain_text, spreadsheet_cell
from tests.helpers import GRADER
from tests.helpers.policy import hand_in, policy_course

MARKUP = ("[red]x[/red]", "[link=http://evil]y[/link]")
HOSTILE = ("\x1b[31mred\x1b[0m \x1b]8;;http://evil\x07click\x1b]8;;\x07 \x1b[2J\x1b[H over\rwrite \x9b2J \x07"
           f"{MARKUP[0]} {MARKUP[1]} \u202eevil\u2066 <script>alert(1)</script>")
FORMULA = '=HYPERLINK("http://evil","z")'
# What must never reach a terminal, a spreadsheet or a page: C0 but tab and newline, DEL, C1, bidi controls.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize("raw, shown", [
    ("\x1b[1;31mred\x1b[0m", "red"),
    ("\x1b]8;;http://evil\x07link\x1b]8;;\x1b\\", "link"),  # OSC 8 hyperlink, BEL and ST terminated
    ("\x1b[2J\x1b[Hclear", "clear"),
    ("\x1bP1$r0m\x1b\\dcs", "dcs"),
    ("\x1b]0;window title", ""),  # an unterminated string swallows the rest
    ("\x1bcreset \x1b(Bcharset", "reset charset"),
    ("\x9b2J\x9d0;t\x9cc1", "c1"),
    ("over\rwrite\r\n\tkept", "overwrite\n\tkept"),
    ("\u202eevil\u2066isolate\u2069", "evilisolate"),
    ("al\u200bice\u200e \u00adbob\u2028\ufeff\U000e0041", "alice bob"),  # invisible: two names alike
    ("Íñigo Muñoz, 中文", "Íñigo Muñoz, 中文"),
    ("[red]x[/red] [link=http://evil]y[/link]", "[red]x[/red] [link=http://evil]y[/link]"),
])
def test_plain_text_drops_control_sequences_and_keeps_the_text(raw, shown):
    assert plain_text(raw) == shown


def test_long_text_is_cut_with_a_note_and_formulas_stay_text():
    assert plain_text("x" * (FIELD_LIMIT + 5)) == "x" * FIELD_LIMIT + "… (cut: 5 more characters)"
    assert spreadsheet_cell(FORMULA) == "'" + FORMULA
    assert [spreadsheet_cell(v) for v in ("+1+1", "-2+3", "@SUM(A1)", "\tx", "-1.5", "text", 3)] == [
        "'+1+1", "'-2+3", "'@SUM(A1)", "'\tx", "-1.5", "text", 3]


@pytest.fixture
def hostile(tmp_path):
    """Eve's run failed with hostile ename, evalue, traceback, output and a claim flag; her other run's
    message is a formula, and another student's name is one."""
    course = policy_course(tmp_path / "course")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    result = RunResult("1", FAILED, run_dir, cell=2, ename=f"Key{HOSTILE}Error", evalue=HOSTILE,
                       detail=f"Traceback (most recent call last):\n{HOSTILE}")
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print('hi')")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=HOSTILE),
                    nbformat.v4.new_output("error", ename=result.ename, evalue=result.evalue, traceback=[HOSTILE]),
                    nbformat.v4.new_output("display_data", data={"text/html": HOSTILE})]
    notebook.cells = [nbformat.v4.new_markdown_cell(HOSTILE), cell]
    nbformat.write(notebook, result.executed_notebook)
    claim = {"kind": "claim_mismatch", "metric": "accuracy", "claimed": 0.99, "score": 0.5, "tolerance": 0.05,
             "line": HOSTILE}
    hand_in(course, "eve", "mnist", None, status=FAILED, message=result.message(translator("en")), cell=2,
            detail=result.detail, artifacts=str(run_dir), flags=[claim])
    hand_in(course, "eve", "imagenet-subset", None, status=INVALID_PREDICTIONS, message=FORMULA)
    hand_in(course, FORMULA, "mnist", 8)
    with Gradebook(course.gradebook_path) as book:
        book.set_student("eve", "1", "A001")
        book.set_student(FORMULA, "2", "A002")
    return course


def grader(course, *args: str) -> str:
    """A command's output, as a terminal 500 columns wide would receive it (stdout and stderr)."""
    done = subprocess.run([*GRADER, *args, "--course", str(course.root)], capture_output=True, encoding="utf-8",
                          env=os.environ | {"COLUMNS": "500", "PYTHONIOENCODING": "utf-8"}, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def assert_plain(output: str) -> None:
    assert not CONTROL.search(output), repr(CONTROL.findall(output))
    for markup in MARKUP:
        assert markup in output  # shown with its brackets, not rendered as a style or a link


def test_status_and_show_print_student_text_as_plain_text(hostile):
    assert_plain(grader(hostile, "status"))
    show = grader(hostile, "show", "eve")
    assert_plain(show)
    assert "cell 2 raised Keyred click" in show and "its outputs claim accuracy 0.99" in show

    rows = list(csv.DictReader(io.StringIO(grader(hostile, "status", "--format", "csv"))))
    assert {r["message"] for r in rows if r["status"] == INVALID_PREDICTIONS} == {"'" + FORMULA}
    assert_plain(json.dumps([r["message"] for r in rows], ensure_ascii=False))
    (run,) = (r for r in json.loads(grader(hostile, "show", "eve", "--format", "json")) if r["status"] == FAILED)
    assert_plain(run["message"] + run["detail"] + run["flags"][0]["line"])


def test_exports_neutralise_formulas_and_drop_control_characters(hostile, tmp_path):
    moodle = tmp_path / "moodle.csv"
    grader(hostile, "grades", "export", "--format", "moodle", "--out", str(moodle))
    text = moodle.read_text(encoding="utf-8")
    rows = {r["ID number"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows["A002"]["Full name"] == "'" + FORMULA
    assert_plain(rows["A001"]["feedback"])
    assert not CONTROL.search(text.replace("\r\n", ""))  # RFC 4180 line ends are the only ones
    plain = {r["id_number"]: r for r in csv.DictReader(io.StringIO(grader(hostile, "grades", "export",
                                                                           "--format", "csv")))}
    assert plain["A002"]["student"] == "'" + FORMULA
    assert_plain(plain["A001"]["mnist_flags"])


def test_html_pages_escape_student_text_and_drop_control_characters(hostile, tmp_path):
    grader(hostile, "report", "eve", "--instructor", "--out", str(tmp_path / "report"))
    pages = sorted((tmp_path / "report").glob("*.html"))
    assert [p.name for p in pages] == ["index.html", "mnist-1.html"]  # the page and the executed notebook
    grader(hostile, "audit", "mnist", "--out", str(tmp_path / "audit"))
    for page in [*pages, tmp_path / "audit" / "index.html"]:
        html = page.read_text(encoding="utf-8")
        assert not CONTROL.search(html), (page.name, CONTROL.findall(html))
        assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert all(markup in (tmp_path / "report" / "index.html").read_text(encoding="utf-8") for markup in MARKUP)


def test_a_huge_message_is_shown_cut(tmp_path):
    course = policy_course(tmp_path / "course")
    hand_in(course, "max", "mnist", None, status=FAILED, message="x" * 100_000)
    with Gradebook(course.gradebook_path) as book:
        book.set_student("max", "1", "A001")
    (row,) = json.loads(grader(course, "status", "--format", "json"))
    assert row["message"] == "x" * FIELD_LIMIT + "… (cut: 96000 more characters)"
    assert len(grader(course, "status")) < 3 * FIELD_LIMIT
    # The message is cut inside Moodle's feedback, and the rest of the feedback still follows it.
    (moodle,) = csv.DictReader(io.StringIO(grader(course, "grades", "export", "--format", "moodle")))
    assert "x… (cut: 96000 more characters))" in moodle["feedback"]
    assert moodle["feedback"].endswith("Final grade: 0.") and len(moodle["feedback"]) < 2 * FIELD_LIMIT
