"""What `grader serve` collected, beside a Moodle zip's hand-ins: grades, the Moodle export and the audit
read them together, unchanged."""

from __future__ import annotations

import csv
import io
import json
import time

from typer.testing import CliRunner

from grader.cli import app
from grader.serve.intake import accept
from grader.serve.store import DONE, ServeStore
from grader.serve.workers import Supervisor
from tests.helpers.notebooks import GOOD, WEAK, write_notebook
from tests.test_moodle import moodle_zip

PARTICIPANTS = '''Identifier,Full name,Email address,ID number,Status,Grade,Last modified (submission)
Participant 12345,Ana García,ana@uni.es,A001,Submitted for grading,,-
Participant 12346,Bruno Díaz,bruno@uni.es,A002,Submitted for grading,,-
'''


def test_grades_export_and_audit_read_service_and_moodle_hand_ins_together(course, tmp_path):
    cli, common = CliRunner(), ["--course", str(course.root)]
    (tmp_path / "participants.csv").write_text(PARTICIPANTS, encoding="utf-8")
    assert cli.invoke(app, ["moodle", "roster", str(tmp_path / "participants.csv"), *common]).exit_code == 0

    # Ana hands in through the service; a worker of the server's kind grades it in the sandbox.
    with ServeStore(course) as store:
        item = accept(course, store, "Ana García", "digits", "ana.ipynb",
                      write_notebook(tmp_path / "ana.ipynb", GOOD).read_bytes())
        supervisor = Supervisor(course, 1, runner="bwrap")
        supervisor.start()
        try:
            stop = time.monotonic() + 180
            while store.item(item.id).state != DONE and time.monotonic() < stop:
                time.sleep(0.5)
        finally:
            supervisor.stop()
        assert store.item(item.id).status == "ok"

    # Bruno's comes in Moodle's "Download all submissions" zip and is graded by `grader run`.
    archive = moodle_zip(tmp_path / "digits.zip", {"Bruno Díaz_12346_assignsubmission_file_/p.ipynb":
                                                   write_notebook(tmp_path / "bruno.ipynb", WEAK).read_bytes()})
    subs = tmp_path / "submissions"
    result = cli.invoke(app, ["moodle", "import", "digits", str(archive), "--into", str(subs), *common])
    assert result.exit_code == 0, result.output
    result = cli.invoke(app, ["run", str(subs), "--format", "json", *common])
    assert result.exit_code == 0, result.output
    assert [(r["student"], r["status"]) for r in json.loads(result.stdout)] == [("Bruno Díaz", "ok")]

    result = cli.invoke(app, ["grades", "show", "--format", "json", *common])
    graded = {s["student"]: s["assignments"]["digits"] for s in json.loads(result.stdout)}
    assert graded["Ana García"]["state"] == graded["Bruno Díaz"]["state"] == "graded"
    assert graded["Ana García"]["grade"] > graded["Bruno Díaz"]["grade"]

    result = cli.invoke(app, ["grades", "export", "--format", "moodle", *common])
    assert result.exit_code == 0, result.output
    rows = {r["ID number"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert set(rows) == {"A001", "A002"} and all(r["final"] for r in rows.values())

    result = cli.invoke(app, ["audit", "digits", "--format", "json", *common])
    assert result.exit_code == 0, result.output
    assert sorted(r["student"] for r in json.loads(result.stdout)) == ["Ana García", "Bruno Díaz"]
