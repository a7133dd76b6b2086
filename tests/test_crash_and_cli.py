"""Resume after a real SIGKILL of a real grader process, and the CLI's outputs for people and scripts."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import time

import psutil
from typer.testing import CliRunner

from grader.cli import app
from tests.helpers import GRADER
from tests.helpers.notebooks import GOOD, LOAD, write_notebook



def graded_runs(db) -> list[tuple[str, str]]:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT s.student, r.status FROM runs r JOIN submissions s ON s.id = r.submission_id"
                                ).fetchall()
    except sqlite3.OperationalError:  # not created yet, or its schema not written yet
        return []


def test_sigkill_mid_batch_then_rerun_grades_each_submission_exactly_once(course_dir, tmp_path):
    subs = tmp_path / "subs" / "digits"
    students = [f"s{i}" for i in range(6)]
    for name in students:
        write_notebook(subs / f"{name}.ipynb", ["import time\ntime.sleep(1.5)", LOAD, *GOOD[1:]])
    db = course_dir / ".grader" / "gradebook.sqlite"
    cmd = [*GRADER, "run", str(subs.parent), "--course", str(course_dir), "--jobs", "1", "--format", "json"]
    proc = subprocess.Popen(cmd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(graded_runs(db)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    children = psutil.Process(proc.pid).children(recursive=True)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = graded_runs(db)
    assert 2 <= len(before) < len(students), "the kill must land mid-batch"
    # The in-flight notebook and its kernel die with the grader: nothing keeps running or writing.
    psutil.wait_procs(children, timeout=15)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]

    rerun = subprocess.run(cmd,
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    after = graded_runs(db)
    assert sorted(s for s, _ in after) == students  # every submission once: none lost, none twice
    assert set(before) <= set(after) and {status for _, status in after} == {"ok"}
    assert len(json.loads(rerun.stdout)) == len(students) - len(before)


def test_cli_run_status_show_in_every_format(course_dir, tmp_path):
    subs = tmp_path / "subs" / "digits"
    write_notebook(subs / "Ana María.ipynb", GOOD)
    write_notebook(subs / "ben.ipynb", [LOAD, "raise KeyError('oops')"])
    cli = CliRunner()
    args = ["--course", str(course_dir)]
    result = cli.invoke(app, ["run", str(subs.parent), *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["student"]: r for r in json.loads(result.stdout)}
    assert rows["Ana María"]["status"] == "ok" and rows["ben"]["status"] == "failed"

    status = cli.invoke(app, ["status", *args, "--format", "csv"])
    table = list(csv.DictReader(io.StringIO(status.stdout)))
    assert [(r["student"], r["status"]) for r in table] == [("Ana María", "ok"), ("ben", "failed")]
    assert float(table[0]["primary_score"]) == rows["Ana María"]["primary_score"]

    human = cli.invoke(app, ["status", *args])
    assert "Ana María" in human.stdout and "failed" in human.stdout

    show = cli.invoke(app, ["show", "ben", *args, "--format", "json"])
    (run,) = json.loads(show.stdout)
    assert "KeyError" in run["message"] and "oops" in run["detail"]
    assert cli.invoke(app, ["show", "ben", *args]).exit_code == 0
    assert cli.invoke(app, ["show", "nobody", *args]).exit_code == 1


def test_check_says_plainly_whether_the_contract_holds(course_dir, tmp_path):
    cli = CliRunner()
    good = write_notebook(tmp_path / "mine.ipynb", GOOD, parameters=False)
    result = cli.invoke(app, ["check", str(good), "--assignment", "digits", "--course", str(course_dir)])
    assert result.exit_code == 0, result.output
    assert "honours the contract" in result.stdout and "no cell tagged 'parameters'" in result.stdout
    assert "validation accuracy" in result.stdout

    bad = write_notebook(tmp_path / "bad.ipynb", [LOAD, "Path(output_dir, 'predictions.csv').write_text('id,label\\n')"])
    result = cli.invoke(app, ["check", str(bad), "-a", "digits", "--course", str(course_dir), "--format", "json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["passed"] is False
    assert any("have no prediction" in item["text"] for item in report["items"] if item["passed"] is False)


def test_rounded_probabilities_pass_with_a_warning_and_logits_get_the_softmax_hint(course_dir, tmp_path):
    cli = CliRunner()
    rounded = GOOD[:2] + [GOOD[2].replace("index=False)", "index=False, float_format='%.2f')")]
    notebook = write_notebook(tmp_path / "rounded.ipynb", rounded)
    result = cli.invoke(app, ["check", str(notebook), "-a", "digits", "--course", str(course_dir), "-f", "json"])
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["passed"], result.output
    (warning,) = [i["text"] for i in report["items"] if "summed to 1 only within the rounding" in i["text"]]
    assert warning.startswith("warning: the probabilities of ") and "%.7g" in warning
    logits = GOOD[:2] + ["proba = -distances  # scores, not probabilities", GOOD[2]]
    notebook = write_notebook(tmp_path / "logits.ipynb", logits)
    result = cli.invoke(app, ["check", str(notebook), "-a", "digits", "--course", str(course_dir), "-f", "json"])
    assert result.exit_code == 1
    assert any("did you forget the softmax?" in i["text"] for i in json.loads(result.stdout)["items"])


def test_check_speaks_spanish_in_a_spanish_course(course_dir, tmp_path):
    toml = course_dir / "course.toml"
    toml.write_text(toml.read_text().replace('language = "en"', 'language = "es"'))
    crash = write_notebook(tmp_path / "x.ipynb", [LOAD, "1/0"])
    result = CliRunner().invoke(app, ["check", str(crash), "-a", "digits", "--course", str(course_dir)])
    assert result.exit_code == 1
    assert "la celda 3 lanzó ZeroDivisionError" in result.stdout and "todavía no cumple" in result.stdout


def test_unknown_assignment_and_bad_course_are_clear_errors(course_dir, tmp_path):
    cli = CliRunner()
    nb = write_notebook(tmp_path / "x.ipynb", GOOD)
    result = cli.invoke(app, ["check", str(nb), "-a", "nope", "--course", str(course_dir)])
    assert result.exit_code == 2 and "known: digits" in result.output
    result = cli.invoke(app, ["status", "--course", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "course.toml" in result.output
