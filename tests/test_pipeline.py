"""`grader run` end to end on real papermill kernels: every status, idempotence, parallel runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader import pipeline
from grader.course import load_course
from grader.gradebook import Gradebook
from tests.helpers import make_course
from tests.helpers.notebooks import GOOD, LOAD, WEAK, predictions_cells, write_notebook


def latest(course) -> dict[str, dict]:
    with Gradebook(course.gradebook_path) as book:
        return {row["student"]: row for row in book.latest()}


@pytest.fixture
def batch(course_dir, tmp_path):
    """A folder with a notebook of every kind, one per student."""
    subs = tmp_path / "submissions" / "digits"
    write_notebook(subs / "good" / "model.ipynb", GOOD)
    write_notebook(subs / "weak.ipynb", WEAK)
    write_notebook(subs / "Zoë Ñúñez.ipynb", GOOD)  # unicode name, <student>.ipynb layout
    write_notebook(subs / "no_params.ipynb", GOOD, parameters=False)
    write_notebook(subs / "crash.ipynb", [LOAD, "raise RuntimeError('boom')"])
    write_notebook(subs / "loop.ipynb", [LOAD, "while True:\n    pass"])
    write_notebook(subs / "memory.ipynb", ["import numpy as np, time\nblocks = []\nfor _ in range(40):\n"
                                           "    blocks.append(np.ones(2**27, dtype=np.uint8))\n    time.sleep(0.05)"])
    write_notebook(subs / "dead.ipynb", ["import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"])
    write_notebook(subs / "huge.ipynb", ["import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(200):\n"
                                         "    sys.stdout.write(chunk)", *GOOD])
    write_notebook(subs / "no_predictions.ipynb", [LOAD])
    write_notebook(subs / "bad_ids.ipynb", predictions_cells("'id,label\\nnope,1\\n'"))
    write_notebook(subs / "symlink.ipynb", [LOAD, "import os\nos.symlink('/etc/passwd', Path(output_dir) / 'predictions.csv')"])
    (subs / "broken_json.ipynb").write_text('{"cells": [', encoding="utf-8")
    write_notebook(subs / "twice" / "a.ipynb", GOOD)
    write_notebook(subs / "twice" / "b.ipynb", WEAK)
    (subs / "empty_folder").mkdir()
    return subs.parent


EXPECTED = {
    "good": "ok", "weak": "ok", "Zoë Ñúñez": "ok", "no_params": "ok", "huge": "ok",
    "crash": "failed", "loop": "timeout", "memory": "oom", "dead": "dead_kernel",
    "no_predictions": "invalid_predictions", "bad_ids": "invalid_predictions", "symlink": "invalid_predictions",
    "broken_json": "invalid_notebook", "twice": "invalid_submission", "empty_folder": "invalid_submission",
}


def test_batch_of_every_kind_gets_each_status_and_completes(course, batch):
    report = pipeline.run(course, batch, jobs=2, timeout=25)
    assert len(report.rows) == len(EXPECTED)
    rows = latest(course)
    assert {s: r["status"] for s, r in rows.items()} == EXPECTED

    good, weak = rows["good"], rows["weak"]
    assert 0.85 < good["primary_score"] <= 1.0 and 0 < good["grade"] <= 10
    assert weak["primary_score"] < 0.2 and weak["grade"] == 0.0
    assert rows["Zoë Ñúñez"]["primary_score"] == good["primary_score"]
    assert "cell 3 raised RuntimeError: boom" in rows["crash"]["message"]
    assert "time limit of 25 s" in rows["loop"]["message"] and "cell 3" in rows["loop"]["message"]
    assert "more than 1500 MB" in rows["memory"]["message"]
    assert "predictions.csv was not written" in rows["no_predictions"]["message"]
    assert "not in the test set ('nope')" in rows["bad_ids"]["message"]
    assert "symbolic link" in rows["symlink"]["message"]
    assert "broken_json.ipynb is not a valid notebook" in rows["broken_json"]["message"]
    assert "twice/a.ipynb, twice/b.ipynb" in rows["twice"]["message"]
    assert "Zoë Ñúñez" in rows and rows["Zoë Ñúñez"]["status"] == "ok"

    # Artifacts are kept per run; a notebook printing 200 MB does not sink the grader.
    executed = Path(rows["huge"]["artifacts"]) / "executed.ipynb"
    assert executed.stat().st_size < 5 * 2**20
    assert "output truncated" in executed.read_text()
    assert (Path(good["artifacts"]) / "output" / "predictions.csv").is_file()

    with Gradebook(course.gradebook_path) as book:
        runs = {r["student"]: r for r in book.runs()}
    assert set(runs["good"]["scores"]) == {"public", "private", "all"}
    assert runs["good"]["scores"]["all"]["log_loss"] is not None


def test_second_run_is_idempotent_force_and_student_rerun(course, tmp_path):
    subs = tmp_path / "subs" / "digits"
    write_notebook(subs / "ana.ipynb", GOOD)
    write_notebook(subs / "ben.ipynb", [LOAD, "raise ValueError('x')"])
    assert len(pipeline.run(course, subs.parent).rows) == 2
    again = pipeline.run(course, subs.parent)
    assert again.rows == [] and again.skipped == 2
    only_ben = pipeline.run(course, subs.parent, student="ben")
    assert [r.student for r in only_ben.rows] == ["ben"]
    assert len(pipeline.run(course, subs.parent, force=True).rows) == 2
    with Gradebook(course.gradebook_path) as book:
        counts = {}
        for run in book.runs():
            counts[run["student"]] = counts.get(run["student"], 0) + 1
    assert counts == {"ana": 2, "ben": 3}


def test_changed_notebook_or_assignment_version_is_graded_again(course_dir, tmp_path):
    course = load_course(course_dir)
    subs = tmp_path / "subs" / "digits"
    nb = write_notebook(subs / "ana.ipynb", WEAK)
    pipeline.run(course, subs.parent)
    write_notebook(nb, GOOD)  # a resubmission: new content, new submission row
    assert [r.status for r in pipeline.run(course, subs.parent).rows] == ["ok"]
    toml = course_dir / "assignments" / "digits" / "assignment.toml"
    toml.write_text(toml.read_text().replace("[[0.5, 0.0], [1.0, 10.0]]", "[[0.6, 0.0], [1.0, 10.0]]"))
    course = load_course(course_dir)
    regraded = pipeline.run(course, subs.parent)  # same notebook, new assignment version
    assert [(r.student, r.status) for r in regraded.rows] == [("ana", "ok")]
    assert pipeline.run(course, subs.parent).skipped == 1


def test_parallel_jobs_overlap_in_time(course, tmp_path):
    subs = tmp_path / "subs" / "digits"
    for name in ("a", "b", "c", "d"):
        write_notebook(subs / f"{name}.ipynb", ["import time\ntime.sleep(3)", LOAD, *GOOD[1:]])
    report = pipeline.run(course, subs.parent, jobs=2)
    assert [r.status for r in report.rows] == ["ok"] * 4
    with Gradebook(course.gradebook_path) as book:
        spans = sorted((r["started_at"], r["finished_at"]) for r in book.runs())
    # With two slots, the second job starts before the first one ends.
    assert spans[1][0] < spans[0][1]


def test_missing_data_is_one_clear_warning_and_nothing_recorded(tmp_path):
    root = make_course(tmp_path / "fresh")
    subs = tmp_path / "subs" / "digits"
    write_notebook(subs / "ana.ipynb", GOOD)
    report = pipeline.run(load_course(root), subs.parent)
    assert report.rows == []
    assert any("data not prepared" in w and "grader data prepare digits" in w for w in report.warnings)


def test_results_serialise_for_scripts(course, tmp_path):
    subs = tmp_path / "subs" / "digits"
    write_notebook(subs / "ana.ipynb", GOOD)
    pipeline.run(course, subs.parent)
    with Gradebook(course.gradebook_path) as book:
        assert json.loads(json.dumps(book.runs(), default=str))[0]["status"] == "ok"


def test_per_cell_limit_names_the_cell(tmp_path):
    from grader.data import prepare
    root = make_course(tmp_path / "c", time_limit=120, cell_timeout=4)
    course = load_course(root)
    prepare(course, course.assignment("digits"))
    subs = tmp_path / "subs" / "digits"
    write_notebook(subs / "slow.ipynb", [LOAD, "import time\ntime.sleep(60)"])
    (row,) = pipeline.run(course, subs.parent).rows
    assert row.status == "timeout"
    assert row.message == "cell 3 ran past the per-cell limit of 4 s"
    assert row.duration_s < 60


def test_a_kernel_that_sends_unreadable_messages_fails_the_run_and_is_no_grader_fault(course, tmp_path):
    """A message built by hand that the executor cannot read, once the cells have begun, is the notebook's doing:
    a failed run that counts (`grader serve` refunds only the grader's faults)."""
    subs = tmp_path / "subs" / "digits"
    write_notebook(subs / "forged.ipynb", [*GOOD, "dp = get_ipython().display_pub\n"
                                           "dp.session.send(dp.pub_socket, 'stream', {'name': 'stdout'}, "
                                           "parent=dp.parent_header)"])
    [row] = pipeline.run(course, subs.parent).rows
    assert row.status == "failed" and not row.grader_fault
    assert "messages the grader cannot read (it was in cell 5)" in row.message
