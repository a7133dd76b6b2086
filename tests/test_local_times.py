"""Every time a person reads is the course's local time, named: the gradebook stores UTC, and a hand-in made
at 23:58 in Madrid must read 23:58 beside its 23:59 deadline, not 22:58. (The audit page's and the leaderboard
plot's times are checked in test_audit.py and test_leaderboard.py; the report's in test_report.py.)"""

from __future__ import annotations

import json

from typer.testing import CliRunner

from grader.cli import app
from grader.times import shown_time
from tests.helpers.policy import hand_in, policy_course

IN_WINTER = "2027-01-15T22:58:00+00:00"  # 23:58 CET
IN_SUMMER = "2027-07-15T22:58:00+00:00"  # 00:58 CEST, the next day


def test_a_moment_reads_in_the_course_zone_with_its_name():
    assert shown_time(IN_WINTER, "Europe/Madrid") == "2027-01-15 23:58 CET"
    assert shown_time(IN_SUMMER, "Europe/Madrid") == "2027-07-16 00:58 CEST"
    assert shown_time("2027-01-15T22:58:00", "America/Bogota") == "2027-01-15 17:58 -05"  # naive: UTC
    assert shown_time(None, "Europe/Madrid") == ""


def test_show_and_the_tables_give_local_times_and_scripts_get_utc(tmp_path):
    course = policy_course(tmp_path / "course")  # Europe/Madrid
    hand_in(course, "ana", "mnist", 8.0, when=IN_WINTER, started_at="2027-01-16T08:00:00+00:00",
            scores={split: {"accuracy": 0.8} for split in ("public", "private")})
    cli = CliRunner()
    shown = cli.invoke(app, ["show", "ana", "-C", str(course.root)], terminal_width=120)
    assert shown.exit_code == 0, shown.output
    assert "submitted  2027-01-15 23:58 CET" in shown.stdout and "ran        2027-01-16 09:00 CET" in shown.stdout
    board = cli.invoke(app, ["leaderboard", "show", "mnist", "-C", str(course.root)], terminal_width=200)
    assert board.exit_code == 0, board.output
    assert "2027-01-15 23:58 CET" in board.stdout and "22:58" not in board.stdout
    as_json = cli.invoke(app, ["show", "ana", "--format", "json", "-C", str(course.root)])
    assert json.loads(as_json.stdout)[0]["submitted_at"] == IN_WINTER  # as stored, for scripts
