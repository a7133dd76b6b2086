"""`grader serve`'s queue on real SQLite: intake's checks, the daily limit, grants, refunds, fairness, requeue, and
real workers grading in the bwrap sandbox."""

from __future__ import annotations

import hashlib
import json
import io
import os
import signal
import sqlite3
import time
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from grader.course import load_course
from grader.gradebook import Gradebook
from grader.i18n import translator
from grader.pipeline import grade_submissions
from grader.runners.base import ERROR, FAILED, OK
from grader.serve.intake import Refused, accept
from grader.serve.store import Identity, ServeStore
from grader.serve.workers import Supervisor
from tests.helpers.notebooks import CENTROID, GOOD, LOAD, WEAK, WRITE, write_notebook

# 23:30 on 15 January 2027 in Madrid (CET, UTC+1), and 00:30 the next day there: one UTC date, two course days.
LATE_EVENING = datetime(2027, 1, 15, 22, 30, tzinfo=timezone.utc)
AFTER_MIDNIGHT = datetime(2027, 1, 15, 23, 30, tzinfo=timezone.utc)


def with_serve(root: Path, serve: str = "", assignment: str = "") -> Path:
    """The course's course.toml with a [serve] table, and top-level keys (`assignment`) added to the assignment."""
    (root / "course.toml").write_text((root / "course.toml").read_text() + f"\n[serve]\n{serve}\n")
    toml = root / "assignments" / "digits" / "assignment.toml"
    toml.write_text(assignment + "\n" + toml.read_text())
    return root


def notebook(tmp_path: Path, n: int = 0, cells: list[str] = GOOD) -> bytes:
    """A notebook's bytes; each `n` a different hand-in, the same bytes each time (nbformat draws new cell ids)."""
    path = tmp_path / f"nb{n}.ipynb"
    return (path if path.is_file() else write_notebook(path, [*cells, f"# attempt {n}"])).read_bytes()


@pytest.fixture
def small(course_dir):
    """A course prepared, never graded here: daily limit 1, in Europe/Madrid."""
    root = with_serve(course_dir, "daily_limit = 1\nupload_mb = 0.05")
    course = load_course(root)
    with ServeStore(course) as store:
        yield course, store


def refused(call) -> Refused:
    with pytest.raises(Refused) as info:
        call()
    return info.value


def test_the_daily_limit_is_counted_in_the_course_time_zone(small, tmp_path):
    course, store = small
    accept(course, store, "ana", "digits", "a.ipynb", notebook(tmp_path, 1), now=LATE_EVENING)
    no = refused(lambda: accept(course, store, "ana", "digits", "b.ipynb", notebook(tmp_path, 2),
                                now=LATE_EVENING.replace(minute=50)))
    assert (no.key, no.http, no.params["used"], no.params["count"]) == ("serve.daily_limit", 429, 1, 1)
    # It says when the limit resets, in the course's time zone and language.
    en, es = translator("en"), translator("es")
    assert "from 2027-01-16 00:00 CET" in en(no.key, **no.params)
    assert "1 de 1 entrega hoy" in es(no.key, **no.params)
    # 00:30 in Madrid is the next course day though the same UTC date.
    item = accept(course, store, "ana", "digits", "b.ipynb", notebook(tmp_path, 2), now=AFTER_MIDNIGHT)
    assert item.day == "2027-01-16" and [i.day for i in store.items("ana")] == ["2027-01-15", "2027-01-16"]
    assert store.allowance("ana", "digits", LATE_EVENING).resets_at.isoformat() == "2027-01-16T00:00:00+01:00"
    # Another student's day is their own.
    accept(course, store, "bea", "digits", "a.ipynb", notebook(tmp_path, 1), now=LATE_EVENING)


def test_an_assignment_sets_its_own_daily_limit(course_dir, tmp_path):
    root = with_serve(course_dir, "daily_limit = 1")
    toml = root / "assignments" / "digits" / "assignment.toml"
    toml.write_text(toml.read_text() + "[serve]\ndaily_limit = 2\n")
    course = load_course(root)
    with ServeStore(course) as store:
        assert store.allowance("ana", "digits", LATE_EVENING).limit == 2


def test_a_grant_adds_attempts_on_its_day(small, tmp_path):
    course, store = small
    accept(course, store, "ana", "digits", "a.ipynb", notebook(tmp_path, 1), now=LATE_EVENING)
    assert refused(lambda: accept(course, store, "ana", "digits", "b.ipynb", notebook(tmp_path, 2),
                                  now=LATE_EVENING)).key == "serve.daily_limit"
    store.grant("ana", "digits", 2, day=date(2027, 1, 15))
    store.grant("ana", "digits", 5, day=date(2027, 1, 14))  # another day's grant: not today's attempts
    assert store.allowance("ana", "digits", LATE_EVENING).limit == 3
    accept(course, store, "ana", "digits", "b.ipynb", notebook(tmp_path, 2), now=LATE_EVENING)
    accept(course, store, "ana", "digits", "c.ipynb", notebook(tmp_path, 3), now=LATE_EVENING)
    assert refused(lambda: accept(course, store, "ana", "digits", "d.ipynb", notebook(tmp_path, 4),
                                  now=LATE_EVENING)).params["used"] == 3
    assert store.allowance("bea", "digits", LATE_EVENING).limit == 1  # the grant is Ana's


def test_a_refunded_run_does_not_count_and_its_notebook_may_come_again(small, tmp_path):
    course, store = small
    first = accept(course, store, "ana", "digits", "a.ipynb", notebook(tmp_path, 1), now=LATE_EVENING)
    assert store.claim("w1").id == first.id
    store.finish(first.id, None, ERROR)  # the machine's fault
    assert store.allowance("ana", "digits", LATE_EVENING).used == 0
    # The same notebook is queued again, not refused as a duplicate, and this attempt counts while it waits.
    again = accept(course, store, "ana", "digits", "a.ipynb", notebook(tmp_path, 1), now=LATE_EVENING)
    assert again.submission_id == first.submission_id and again.id != first.id
    assert store.allowance("ana", "digits", LATE_EVENING).used == 1
    store.claim("w1")
    store.finish(again.id, None, FAILED)  # the notebook's fault: counted
    assert [(i.status, i.counted) for i in store.items("ana")] == [(ERROR, False), (FAILED, True)]
    assert store.allowance("ana", "digits", LATE_EVENING).used == 1


def test_refunds_stop_at_the_daily_limit_and_a_scoring_failure_is_no_refund(small, tmp_path):
    """A notebook that keeps provoking the grader's faults cannot run without end; one whose predictions make the
    scorer fail spends its attempt."""
    course, store = small  # daily limit 1
    store.grant("ana", "digits", 3, day=date(2027, 1, 15))
    for n, refunded in ((1, True), (2, True), (3, False)):
        item = accept(course, store, "ana", "digits", "a.ipynb", notebook(tmp_path, n), now=LATE_EVENING)
        store.claim("w1")
        store.finish(item.id, None, ERROR, refunded=refunded)
    # Two refunds, one given back (the limit is 1), plus the scoring failure: two of four used.
    assert store.allowance("ana", "digits", LATE_EVENING).used == 2


def test_a_notebook_handed_in_again_is_refused_saying_what_became_of_it(small, tmp_path):
    course, store = small
    store.grant("ana", "digits", 5, day=date(2027, 1, 15))
    first = accept(course, store, "ana", "digits", "a.ipynb", notebook(tmp_path, 1), now=LATE_EVENING)
    waiting = refused(lambda: accept(course, store, "ana", "digits", "again.ipynb", notebook(tmp_path, 1),
                                     now=LATE_EVENING))
    assert (waiting.key, waiting.http) == ("serve.duplicate_queued", 409)
    assert "2027-01-15 23:30 CET" in translator("en")(waiting.key, **waiting.params)
    # Once graded (here a run recorded as a worker records it), it is refused with the run's status.
    with Gradebook(course.gradebook_path) as book:
        run_id = book.record(first.submission_id, "v1", "bwrap", {"status": OK, "message": ""}, {})
    store.claim("w1")
    store.finish(first.id, run_id, OK)
    graded = refused(lambda: accept(course, store, "ana", "digits", "a.ipynb", notebook(tmp_path, 1),
                                    now=LATE_EVENING))
    assert (graded.key, graded.params["status"]) == ("serve.duplicate_graded", "ok")  # the course's language
    assert "and it was graded: ok" in translator("en")(graded.key, **graded.params)
    # Bea's identical notebook is hers.
    accept(course, store, "bea", "digits", "a.ipynb", notebook(tmp_path, 1), now=LATE_EVENING)


class Counting(io.BytesIO):
    def __init__(self, data: bytes):
        super().__init__(data)
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        chunk = super().read(size)
        self.read_bytes += len(chunk)
        return chunk


def nothing_stored(course) -> None:
    uploads = course.workdir / "serve" / "uploads"
    assert not uploads.exists() or not [p for p in uploads.rglob("*") if p.is_file()]
    db = sqlite3.connect(course.gradebook_path)
    assert db.execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM serve_queue").fetchone()[0] == 0


def test_oversize_and_invalid_uploads_are_refused_before_anything_is_stored(small, tmp_path):
    course, store = small
    cap = int(0.05 * (1 << 20))
    big = Counting(b"x" * (10 * cap))
    too_large = refused(lambda: accept(course, store, "ana", "digits", "big.ipynb", big, now=LATE_EVENING))
    assert (too_large.key, too_large.http, too_large.params["limit"]) == ("serve.too_large", 413, "0.05")
    assert big.read_bytes == cap + 1  # never read whole
    for name, data in [("broken.ipynb", b'{"cells": ['), ("photo.ipynb", b"\x89PNG\r\n"),
                       ("text.ipynb", write_notebook(tmp_path / "md.ipynb", [], parameters=False).read_bytes())]:
        invalid = refused(lambda: accept(course, store, "ana", "digits", name, data, now=LATE_EVENING))
        assert (invalid.key, invalid.http, invalid.params["name"]) == ("serve.invalid_notebook", 422, name)
    unknown = refused(lambda: accept(course, store, "ana", "nope", "a.ipynb", notebook(tmp_path), now=LATE_EVENING))
    assert (unknown.key, unknown.params["known"]) == ("serve.unknown_assignment", "digits")
    nothing_stored(course)
    assert store.allowance("ana", "digits", LATE_EVENING).used == 0


def test_a_late_hand_in_is_rejected_on_arrival_by_the_late_policy(course_dir, tmp_path):
    root = with_serve(course_dir, assignment='deadline = "2027-01-15T23:00"')
    course = load_course(root)
    with ServeStore(course) as store:
        late = refused(lambda: accept(course, store, "ana", "digits", "a.ipynb", notebook(tmp_path, 1),
                                      now=LATE_EVENING))  # 23:30 local, the default rule: reject
        assert (late.key, late.http) == ("serve.late", 403)
        assert translator("en")(late.key, **late.params).startswith("The deadline of Digits was 2027-01-15 23:00 CET")
        nothing_stored(course)
        on_time = accept(course, store, "ana", "digits", "a.ipynb", notebook(tmp_path, 1),
                         now=LATE_EVENING.replace(hour=21, minute=59))
        assert on_time.late_days == 0
    # An extension (by the roster's email) moves the deadline; a penalty rule accepts and counts the days.
    (root / "course.toml").write_text((root / "course.toml").read_text() + (
        '[policy.late]\nmode = "penalty"\npenalty_per_day = 1\nmax_days = 1\n'
        '[[policy.extensions]]\nstudent = "bea@example.org"\nassignment = "digits"\nuntil = "2027-01-16T12:00"\n'))
    course = load_course(root)
    with ServeStore(course) as store:
        store.book.set_student("bea", email="bea@example.org")
        assert accept(course, store, "ana", "digits", "b.ipynb", notebook(tmp_path, 2), now=LATE_EVENING).late_days == 1
        assert accept(course, store, "bea", "digits", "b.ipynb", notebook(tmp_path, 2), now=LATE_EVENING).late_days == 0
        two_days = datetime(2027, 1, 17, 10, tzinfo=timezone.utc)
        assert refused(lambda: accept(course, store, "ana", "digits", "c.ipynb", notebook(tmp_path, 3),
                                      now=two_days)).key == "serve.late"


def test_one_students_ten_never_starve_another(course_dir, tmp_path):
    course = load_course(with_serve(course_dir, "daily_limit = 20"))
    with ServeStore(course) as store:
        ana = [accept(course, store, "ana", "digits", "a.ipynb", notebook(tmp_path, n), now=LATE_EVENING)
               for n in range(10)]
        bea = accept(course, store, "bea", "digits", "b.ipynb", notebook(tmp_path, 99), now=LATE_EVENING)
        positions = {item.id: store.position(item.id) for item in [*ana, bea]}
        assert positions[ana[0].id] == 1 and positions[bea.id] == 2
        assert sorted(positions.values()) == list(range(1, 12))
        claimed = []
        while (item := store.claim("w1")) is not None:
            claimed.append(item.id)
            assert store.position(item.id) is None
            store.finish(item.id, None, OK)
        assert claimed[:2] == [ana[0].id, bea.id]
        assert claimed == sorted(positions, key=positions.get)  # the positions shown were the order of the runs
        # Served longer ago, Bea goes first now; and with two workers, Cid's one runs beside Dan's first.
        ana_more = accept(course, store, "ana", "digits", "a.ipynb", notebook(tmp_path, 10), now=AFTER_MIDNIGHT)
        bea_more = accept(course, store, "bea", "digits", "b.ipynb", notebook(tmp_path, 11), now=AFTER_MIDNIGHT)
        assert [store.position(ana_more.id), store.position(bea_more.id)] == [2, 1]
        assert [store.claim("w1").id, store.claim("w1").id] == [bea_more.id, ana_more.id]
        dan = [accept(course, store, "dan", "digits", "d.ipynb", notebook(tmp_path, n), now=AFTER_MIDNIGHT)
               for n in range(20, 23)]
        cid = accept(course, store, "cid", "digits", "c.ipynb", notebook(tmp_path, 30), now=AFTER_MIDNIGHT)
        assert [store.claim("w1").id, store.claim("w2").id] == [dan[0].id, cid.id]


def test_a_dead_workers_items_are_queued_again(small, tmp_path):
    course, store = small
    first = accept(course, store, "ana", "digits", "a.ipynb", notebook(tmp_path, 1), now=LATE_EVENING)
    second = accept(course, store, "bea", "digits", "b.ipynb", notebook(tmp_path, 2), now=LATE_EVENING)
    assert store.claim("w1").id == first.id and store.claim("w2").id == second.id
    store.set_progress(first.id, {"cell": 3, "cells": 5, "elapsed_s": 2.0, "budget_s": 60})
    assert store.requeue("w1") == 1
    item = store.item(first.id)
    assert (item.state, item.worker, item.progress, store.position(first.id)) == ("queued", None, {}, 1)
    assert store.item(second.id).state == "running"
    assert (store.claim("w3").id, store.item(first.id).tries) == (first.id, 2)
    assert store.requeue() == 2  # a server starting again: everything left running


def test_tokens_and_session_ids_are_stored_only_as_hashes(small):
    course, store = small
    tokens = store.issue_tokens(["ana", "Zoë Ñúñez"])
    instructor = store.issue_instructor_token()
    assert store.identity(tokens["Zoë Ñúñez"]) == Identity("Zoë Ñúñez", "student")
    assert store.identity(instructor) == Identity("instructor", "instructor")
    assert store.identity("made-up") is None
    assert store.issue_tokens(["ana", "bea"]).keys() == {"bea"}  # new ones only, unless renewed
    renewed = store.issue_tokens(["ana"], renew=True)["ana"]
    assert store.identity(tokens["ana"]) is None and store.identity(renewed).name == "ana"
    session, csrf = store.open_session(Identity("ana", "student"))
    assert store.session(session) == (Identity("ana", "student"), csrf)
    secrets = [*tokens.values(), instructor, renewed, session, csrf]
    stored = b"".join(p.read_bytes() for p in course.gradebook_path.parent.glob("gradebook.sqlite*"))
    assert hashlib.sha256(renewed.encode()).hexdigest().encode() in stored
    assert not [s for s in secrets if s.encode() in stored]
    store.close_session(session)
    assert store.session(session) is None
    # A renewed token ends the sessions its old one opened.
    kept, _ = store.open_session(Identity("ana", "student"))
    store.issue_tokens(["ana"], renew=True)
    assert store.session(kept) is None


def test_reveal_and_hide_a_board(small):
    _, store = small
    assert not store.revealed("digits")
    store.reveal("digits")
    store.reveal("digits")
    assert store.revealed("digits")
    store.reveal("digits", revealed=False)
    assert not store.revealed("digits")


def wait_until_done(store: ServeStore, count: int, limit_s: float = 240) -> list:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        items = store.items()
        if len(items) == count and all(i.state == "done" for i in items):
            return items
        time.sleep(0.5)
    raise AssertionError(f"not done in {limit_s} s: {store.items()}")


def test_real_workers_grade_the_queue_in_the_sandbox(course_dir, tmp_path):
    course = load_course(course_dir)
    with ServeStore(course) as store:
        for n, (student, cells) in enumerate([("ana", GOOD), ("bea", WEAK), ("Zoë Ñúñez", GOOD)]):
            accept(course, store, student, "digits", "nb.ipynb", notebook(tmp_path, n, cells))
        supervisor = Supervisor(course, workers=2)
        supervisor.start()
        try:
            items = wait_until_done(store, 3)
        finally:
            supervisor.stop()
        assert {w["name"] for w in store.workers()} == {"w1", "w2"}
    with Gradebook(course.gradebook_path) as book:
        runs = {r["id"]: r for r in book.runs()}
    assert len(runs) == 3
    assert {i.student: (i.status, runs[i.run_id]["student"], runs[i.run_id]["runner"]) for i in items} == {
        s: (OK, s, "bwrap") for s in ("ana", "bea", "Zoë Ñúñez")}
    grades = {i.student: runs[i.run_id]["grade"] for i in items}
    assert grades["ana"] > grades["bea"]
    assert all(i.counted and i.tries == 1 for i in items)


def test_a_requeued_item_graded_already_is_finished_with_its_run_not_run_twice(course_dir, tmp_path):
    course = load_course(course_dir)
    with ServeStore(course) as store:
        item = accept(course, store, "ana", "digits", "nb.ipynb", notebook(tmp_path))
        store.claim("w1")
        # The worker recorded the run, then died before marking the item done.
        report = grade_submissions(course, [store.submission(item)])
        assert store.requeue("w1") == 1
        supervisor = Supervisor(course, workers=1)
        supervisor.start()
        try:
            [done] = wait_until_done(store, 1)
        finally:
            supervisor.stop()
    with Gradebook(course.gradebook_path) as book:
        runs = book.runs()
    assert [r["id"] for r in runs] == [report.rows[0].run_id] == [done.run_id]
    assert (done.status, done.tries) == (OK, 2)


def test_a_worker_killed_mid_run_is_restarted_and_its_hand_in_graded_once(course_dir, tmp_path):
    course = load_course(course_dir)
    with ServeStore(course) as store:
        item = accept(course, store, "ana", "digits", "nb.ipynb",
                      notebook(tmp_path, cells=[LOAD, "import time\ntime.sleep(6)", CENTROID, WRITE]))
        supervisor = Supervisor(course, workers=1)
        supervisor.start()
        try:
            deadline = time.monotonic() + 60
            while not store.item(item.id).progress.get("cell"):  # the sleeping cell, reported by the worker
                assert time.monotonic() < deadline, store.item(item.id)
                time.sleep(0.2)
            progress = store.item(item.id).progress
            assert progress["cells"] == 6 and progress["budget_s"] == 60 and progress["elapsed_s"] > 0
            victim = supervisor.procs["w1"].pid
            os.kill(victim, signal.SIGKILL)
            [done] = wait_until_done(store, 1)
            assert supervisor.procs["w1"].pid != victim
        finally:
            supervisor.stop()
    with Gradebook(course.gradebook_path) as book:
        runs = book.runs()
    assert [r["id"] for r in runs] == [done.run_id] and (done.status, done.tries) == (OK, 2)


def test_an_unprepared_assignment_and_a_notebook_of_too_many_cells_are_refused_storing_nothing(course_dir, tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from tests.helpers import make_course

    unprepared = load_course(make_course(tmp_path / "unprepared"))
    with ServeStore(unprepared) as store:
        closed = refused(lambda: accept(unprepared, store, "ana", "digits", "a.ipynb", notebook(tmp_path, 1)))
    assert (closed.key, closed.http) == ("serve.not_open", 503)
    assert "data is not prepared" in translator("en")(closed.key, **closed.params)
    nothing_stored(unprepared)

    course = load_course(course_dir)
    many = nbformat.writes(new_notebook(cells=[new_code_cell("") for _ in range(2001)])).encode()
    with ServeStore(course) as store:
        crowded = refused(lambda: accept(course, store, "ana", "digits", "a.ipynb", many))
    assert crowded.key == "serve.too_many_cells" and crowded.params["count"] == 2000
    nothing_stored(course)


def test_a_grader_error_is_told_as_such_without_its_own_message(small, tmp_path):
    """An error row's message is the instructor's (it may name paths of the grading machine); the student reads
    whether the attempt was given back."""
    from grader.serve.app import Service

    course, store = small
    store.grant("ana", "digits", 1, day=date(2027, 1, 15))
    service = Service(course, store)
    for n, refunded in ((1, True), (2, False)):
        item = accept(course, store, "ana", "digits", "a.ipynb", notebook(tmp_path, n), now=LATE_EVENING)
        store.claim("w1")
        store.finish(item.id, None, ERROR, refunded=refunded)
        view = service.run_view(store.item(item.id), {"primary_metric": "accuracy", "scores": {},
                                                      "message": f"scoring failed: {course.root}/.grader/x"})
        assert str(course.root) not in json.dumps(view)
        assert ("does not count" in view["message"]) is refunded and ("attempt counts" in view["message"]) is not refunded
