"""Leaderboards: Kaggle-style ranking, privacy, escaping, and the published site in a real Chromium."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import matplotlib.dates as mdates
import pytest
from typer.testing import CliRunner

from grader.cli import app
from grader.course import load_course
from grader.gradebook import Gradebook
from grader.leaderboard import board, publish
from grader.leaderboard.site import progress_figure
from tests.helpers.browser import CHROMIUM_ARGS, chromium_page

BEFORE = datetime(2027, 1, 10, tzinfo=timezone.utc)
AFTER = datetime(2027, 2, 1, tzinfo=timezone.utc)
HOSTILE = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
STUDENTS = {  # name: (email, ID number)
    "Ana García": ("ana@uni.es", "A001"), "Bruno Díaz": ("bruno@uni.es", "A002"),
    "Carla Ruiz": ("carla@uni.es", "A003"), "Dani Soto": ("dani@uni.es", "A004"),
}


@pytest.fixture
def course(tmp_path):
    root = tmp_path / "course"
    for name, extra in (("mnist", '[leaderboard]\nbaseline = 0.5\nreference = 0.95\n'),
                        ("text-generation", '[metrics]\nprimary = "log_loss"\n')):
        (root / "assignments" / name).mkdir(parents=True)
        (root / "assignments" / name / "assignment.toml").write_text(
            f'title = "Práctica {name}"\ndeadline = "2027-01-15"\n[dataset]\nname = "digits"\n{extra}')
    (root / "course.toml").write_text('name = "Aprendizaje Profundo"\nlanguage = "es"\n')
    course = load_course(root)
    with Gradebook(course.gradebook_path) as book:
        for name, (email, id_number) in STUDENTS.items():
            book.set_student(name, f"9{id_number[1:]}", id_number, email)
    return course


def scored(course, assignment, student, public, private, when, status="ok", metric="accuracy"):
    with Gradebook(course.gradebook_path) as book:
        sub = book.register(assignment, student, "nb.ipynb", f"{student}{when}{public}", when)
        book.record(sub, "v1", "local", {"status": status, "duration_s": 12.0},
                    {} if status != "ok" else {"public": {metric: public}, "private": {metric: private}})


def fill(course):
    scored(course, "mnist", "Ana García", 0.90, 0.80, "2027-01-05T10:00:00+00:00")
    scored(course, "mnist", "Ana García", 0.85, 0.99, "2027-01-06T10:00:00+00:00")  # worse public: not chosen
    scored(course, "mnist", "Bruno Díaz", 0.92, 0.70, "2027-01-07T10:00:00+00:00")
    scored(course, "mnist", "Carla Ruiz", 0.90, 0.85, "2027-01-04T10:00:00+00:00")  # ties Ana, earlier
    scored(course, "mnist", "Dani Soto", None, None, "2027-01-03T10:00:00+00:00", status="failed")
    for student, loss in (("Ana García", 1.9), ("Bruno Díaz", 1.5)):
        scored(course, "text-generation", student, loss, loss, "2027-01-05T10:00:00+00:00", metric="log_loss")


def ranking(course, assignment, **kw):
    with Gradebook(course.gradebook_path) as book:
        b = board(course, book, assignment, **kw)
    return [(e.student, e.score) for e in b.entries], b


def test_public_split_ranks_before_the_deadline_private_after(course):
    fill(course)
    before, b = ranking(course, "mnist", now=BEFORE)
    assert b.split == "public"
    assert before == [("Bruno Díaz", 0.92), ("Carla Ruiz", 0.90), ("Ana García", 0.90)]  # tie: earlier first
    after, b = ranking(course, "mnist", now=AFTER)
    # Each student's submission with the best public score, scored on the private split.
    assert b.split == "private" and after == [("Carla Ruiz", 0.85), ("Ana García", 0.80), ("Bruno Díaz", 0.70)]
    assert ranking(course, "mnist", now=BEFORE, reveal=True)[0] == after
    assert [e.submissions for e in b.entries] == [1, 2, 1]


def test_lower_is_better_for_log_loss(course):
    fill(course)
    assert ranking(course, "text-generation", now=BEFORE)[0] == [("Bruno Díaz", 1.5), ("Ana García", 1.9)]


def test_pseudonyms_are_stable_and_nicknames_replace_them(course):
    fill(course)
    first = ranking(course, "mnist", now=BEFORE)[1].entries[0].pseudonym
    assert first == ranking(course, "mnist", now=BEFORE)[1].entries[0].pseudonym
    assert "Bruno" not in first
    cli = CliRunner()
    result = cli.invoke(app, ["leaderboard", "nickname", "Bruno Díaz", "TurboNet", "-C", str(course.root)])
    assert result.exit_code == 0, result.output
    assert ranking(course, "mnist", now=BEFORE)[1].entries[0].pseudonym == "TurboNet"
    taken = cli.invoke(app, ["leaderboard", "nickname", "Ana García", "TurboNet", "-C", str(course.root)])
    assert taken.exit_code == 1 and "already taken" in taken.output


def test_show_prints_for_scripts_and_names_only_on_request(course):
    fill(course)
    cli = CliRunner()
    plain = cli.invoke(app, ["leaderboard", "show", "mnist", "--format", "json", "-C", str(course.root)])
    rows = json.loads(plain.stdout)
    assert [r["rank"] for r in rows] == [1, 2, 3] and "student" not in rows[0]
    named = cli.invoke(app, ["leaderboard", "show", "mnist", "--names", "--format", "csv", "-C", str(course.root)])
    assert named.stdout.splitlines()[0].startswith("rank,pseudonym,student,score")
    assert "Bruno Díaz" in named.stdout


def published_site(course, tmp_path, **kw) -> Path:
    fill(course)
    with Gradebook(course.gradebook_path) as book:
        book.set_nickname("Carla Ruiz", HOSTILE)
    out = tmp_path / "site"
    publish(course, out, now=BEFORE, **kw)
    return out


def test_no_name_email_or_id_in_any_published_file(course, tmp_path):
    out = published_site(course, tmp_path)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.relative_to(out).as_posix() for p in files} >= {
        "index.html", "standing.html", "style.css", "mnist/index.html", "mnist/leaderboard.csv",
        "mnist/leaderboard.json", "mnist/scores.png", "mnist/progress.png"}
    for path in files:
        data = path.read_bytes()
        for name, (email, id_number) in STUDENTS.items():
            for secret in (name, name.split()[0], email, id_number):
                assert secret.encode() not in data, (path, secret)
    entries = json.loads((out / "mnist" / "leaderboard.json").read_text())["entries"]
    assert entries[1]["pseudonym"] == HOSTILE  # data files carry the nickname as it is, for tools


def test_published_site_in_headless_chromium(course, tmp_path):
    chromium, sync_playwright = chromium_page()
    out = published_site(course, tmp_path)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto((out / "index.html").as_uri())
        assert page.locator("#assignments tbody tr").count() == 2
        page.click("text=Práctica mnist")
        page.wait_for_load_state("load")
        rows = page.locator("#leaderboard tbody tr")
        assert rows.count() == 3
        assert [rows.nth(i).locator("td").nth(2).inner_text() for i in range(3)] == ["0.9200", "0.9000", "0.9000"]
        # The hostile nickname is shown as text and runs nothing.
        assert rows.nth(1).locator("td.who").inner_text() == HOSTILE
        assert page.evaluate("window.pwned") is None
        # Both plots load from the site itself.
        sizes = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
        assert len(sizes) == 2 and all(done and width > 100 for done, width in sizes)
        page.goto((out / "standing.html").as_uri())
        assert page.locator("#standing tbody tr").count() == 3
        assert page.evaluate("window.pwned") is None
        browser.close()


def test_only_a_boards_leader_is_bold_never_the_first_row_of_a_list(course, tmp_path):
    chromium, sync_playwright = chromium_page()
    for student, loss in (("Ana García", 1.9), ("Bruno Díaz", 1.5)):  # mnist, first in the index, has none
        scored(course, "text-generation", student, loss, loss, "2027-01-05T10:00:00+00:00", metric="log_loss")
    publish(course, tmp_path / "site", now=BEFORE)
    weight = "(cell) => getComputedStyle(cell).fontWeight"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto((tmp_path / "site" / "index.html").as_uri())
        first = page.locator("#assignments tbody tr").first
        assert "mnist" in first.inner_text() and first.locator("td").nth(3).inner_text() == "0"
        assert [first.locator("td").nth(i).evaluate(weight) for i in range(5)] == ["400"] * 5
        page.goto((tmp_path / "site" / "text-generation" / "index.html").as_uri())
        rows = page.locator("#leaderboard tbody tr")
        assert [rows.nth(i).locator("td").nth(2).evaluate(weight) for i in range(2)] == ["700", "400"]
        browser.close()


def test_one_submission_gets_a_time_axis_of_hours_in_the_course_zone(course):
    scored(course, "mnist", "Ana García", 0.90, 0.80, "2027-01-05T10:00:00+00:00")
    with Gradebook(course.gradebook_path) as book:
        b = board(course, book, "mnist", now=BEFORE)
    fig = progress_figure(b, course.timezone)
    fig.canvas.draw()
    (ax,) = fig.axes
    low, high = (mdates.num2date(x) for x in ax.get_xlim())
    assert timedelta(0) < high - low <= timedelta(days=2)  # not the four years matplotlib would spread it over
    # The course is in Madrid: 10:00 UTC reads 11:00, and the axis says in which zone.
    assert "11:00" in [label.get_text() for label in ax.get_xticklabels()]
    assert ax.get_xlabel() == course.timezone == "Europe/Madrid"


def test_republishing_removes_what_is_gone_and_keeps_other_files(course, tmp_path):
    out = published_site(course, tmp_path)
    (out / "README.md").write_text("kept")
    shutil.rmtree(course.root / "assignments" / "text-generation")
    publish(load_course(course.root), out, now=BEFORE)
    assert not (out / "text-generation" / "index.html").exists()
    assert (out / "README.md").read_text() == "kept" and (out / "mnist" / "index.html").exists()


def test_a_formula_nickname_stays_text_in_the_csv(course, tmp_path):
    fill(course)
    with Gradebook(course.gradebook_path) as book:
        book.set_nickname("Bruno Díaz", '=HYPERLINK("http://evil","x")')
    publish(course, tmp_path / "site", now=BEFORE)
    first = (tmp_path / "site" / "mnist" / "leaderboard.csv").read_text().splitlines()[1]
    assert first.startswith("1,\"'=HYPERLINK(")


def test_boards_name_the_metric_in_the_course_language(course, tmp_path):
    out = published_site(course, tmp_path)
    page = (out / "mnist" / "index.html").read_text(encoding="utf-8")
    assert "Se ordena por exactitud" in page and "<th>exactitud</th>" in page  # not the metric's id, accuracy
