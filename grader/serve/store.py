"""The service's state, in the gradebook's own file: tokens, sessions, the queue, limits, grants, reveals.

Beside the gradebook's tables, so that a hand-in's submission row and its queue row are committed in
one transaction, and `grader grades`, the export and the audit read what the service collected as
they read `grader run`'s. Every write is one BEGIN IMMEDIATE transaction. Tokens and session ids are
kept only as sha256 digests: a copy of the file signs nobody in.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from itertools import chain, zip_longest
from pathlib import Path
from typing import Iterator
from zoneinfo import ZoneInfo

from grader.course import Course
from grader.gradebook import RETRIED_STATUSES, Gradebook
from grader.submissions import Submission
from grader.times import in_course_zone

# Runs that end as the grader's or the machine's fault: a daily attempt given back.
REFUNDED = RETRIED_STATUSES
QUEUED, RUNNING, DONE = "queued", "running", "done"
STUDENT, INSTRUCTOR = "student", "instructor"
SESSION_HOURS = 12

SCHEMA = """
CREATE TABLE IF NOT EXISTS serve_tokens (
    hash TEXT PRIMARY KEY,  -- sha256 of the token: the token itself is never stored
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    UNIQUE (name, role)
);
CREATE TABLE IF NOT EXISTS serve_sessions (
    hash TEXT PRIMARY KEY,  -- sha256 of the session id
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS serve_queue (
    id INTEGER PRIMARY KEY,
    submission_id INTEGER NOT NULL REFERENCES submissions(id),
    assignment TEXT NOT NULL,
    student TEXT NOT NULL,
    arrived_at TEXT NOT NULL,  -- UTC, the server's clock
    day TEXT NOT NULL,         -- the arrival's date in the course's time zone: the daily limit's day
    state TEXT NOT NULL,       -- queued | running | done
    worker TEXT,
    claimed_at TEXT,
    progress TEXT NOT NULL DEFAULT '{}',
    run_id INTEGER REFERENCES runs(id),
    status TEXT,
    counted INTEGER NOT NULL DEFAULT 1,  -- 0: refunded, not counted against the daily limit
    late_days INTEGER NOT NULL DEFAULT 0,
    tries INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS serve_queue_by_state ON serve_queue (state);
CREATE INDEX IF NOT EXISTS serve_queue_by_day ON serve_queue (student, assignment, day);
CREATE INDEX IF NOT EXISTS serve_queue_by_submission ON serve_queue (submission_id);
CREATE TABLE IF NOT EXISTS serve_grants (
    id INTEGER PRIMARY KEY,
    student TEXT NOT NULL,
    assignment TEXT NOT NULL,
    day TEXT NOT NULL,
    extra INTEGER NOT NULL,
    granted_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS serve_reveals (
    assignment TEXT PRIMARY KEY,  -- a row: the private half of its board is shown
    revealed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS serve_workers (
    name TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    heartbeat TEXT NOT NULL,
    queue_id INTEGER
);
"""


@dataclass
class Identity:
    name: str
    role: str  # student | instructor


@dataclass
class QueueItem:
    id: int
    submission_id: int
    assignment: str
    student: str
    arrived_at: str  # ISO, UTC
    day: str  # YYYY-MM-DD in the course's time zone
    state: str  # queued | running | done
    worker: str | None
    claimed_at: str | None
    progress: dict  # {"cell", "cells", "elapsed_s", "budget_s"} while running
    run_id: int | None
    status: str | None
    counted: bool
    late_days: int
    tries: int


@dataclass
class Allowance:
    used: int  # today's submissions that count: queued, running, or ended not refunded
    limit: int  # the daily limit and today's grants
    resets_at: datetime  # the next midnight in the course's time zone (aware)

    @property
    def left(self) -> int:
        return max(self.limit - self.used, 0)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _stamp(moment: datetime | None = None) -> str:
    """ISO UTC to the microsecond: claims a moment apart still order."""
    return (moment or _now()).astimezone(timezone.utc).isoformat(timespec="microseconds")


class ServeStore:
    """One connection to the gradebook file, usable from the web server's threads (one lock around it)."""

    def __init__(self, course: Course):
        self.course = course
        self.zone = ZoneInfo(course.timezone)
        self.book = Gradebook(course.gradebook_path, threads=True)  # its tables first: the queue refers to them
        self.db = self.book.db
        self._lock = threading.RLock()
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.book.close()

    def __enter__(self) -> "ServeStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One BEGIN IMMEDIATE transaction; the store's writes inside it join it (grader.serve.intake checks
        the limits and commits the hand-in in one)."""
        with self._lock:
            if self.db.in_transaction:
                yield
                return
            with self.book.transaction():
                yield

    def _read(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self.db.execute(sql, params).fetchall()

    # ---- tokens and sessions ----------------------------------------------------------------------

    def issue_tokens(self, names: list[str], renew: bool = False) -> dict[str, str]:
        """A sign-in token for each student who has none (every one named, with `renew`); name -> token."""
        issued = {}
        with self.transaction():
            have = {r["name"] for r in self.db.execute("SELECT name FROM serve_tokens WHERE role=?", (STUDENT,))}
            for name in names:
                if renew or name not in have:
                    issued[name] = self._issue(name, STUDENT)
        return issued

    def issue_instructor_token(self) -> str:
        """A new instructor token; the previous one stops working."""
        with self.transaction():
            return self._issue(INSTRUCTOR, INSTRUCTOR)

    def _issue(self, name: str, role: str) -> str:
        token = "-"
        while token.startswith("-"):  # a spreadsheet reads a leading "-" as a formula: the mail merge would break it
            token = secrets.token_urlsafe(24)
        self.db.execute("DELETE FROM serve_tokens WHERE name=? AND role=?", (name, role))
        self.db.execute("DELETE FROM serve_sessions WHERE name=? AND role=?", (name, role))  # the old token's too
        self.db.execute("INSERT INTO serve_tokens (hash, name, role, issued_at) VALUES (?, ?, ?, ?)",
                        (digest(token), name, role, _stamp()))
        return token

    def identity(self, token: str) -> Identity | None:
        rows = self._read("SELECT name, role FROM serve_tokens WHERE hash=?", (digest(token),))
        return Identity(rows[0]["name"], rows[0]["role"]) if rows else None

    def open_session(self, who: Identity) -> tuple[str, str]:
        """A new session for `who`: (session id, its CSRF token)."""
        session_id = secrets.token_urlsafe(32)
        now = _now()
        with self.transaction():
            self.db.execute("DELETE FROM serve_sessions WHERE expires_at < ?", (_stamp(now),))
            self.db.execute("INSERT INTO serve_sessions (hash, name, role, expires_at) VALUES (?, ?, ?, ?)",
                            (digest(session_id), who.name, who.role, _stamp(now + timedelta(hours=SESSION_HOURS))))
        return session_id, _csrf(session_id)

    def session(self, session_id: str) -> tuple[Identity, str] | None:
        rows = self._read("SELECT name, role FROM serve_sessions WHERE hash=? AND expires_at > ?",
                          (digest(session_id), _stamp()))
        return (Identity(rows[0]["name"], rows[0]["role"]), _csrf(session_id)) if rows else None

    def close_session(self, session_id: str) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM serve_sessions WHERE hash=?", (digest(session_id),))

    # ---- the queue --------------------------------------------------------------------------------

    def items(self, student: str | None = None, assignment: str | None = None,
              states: tuple[str, ...] | None = None) -> list[QueueItem]:
        """Queue items, in arrival order."""
        clauses, params = [], []
        for column, value in (("student", student), ("assignment", assignment)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if states is not None:
            clauses.append(f"state IN ({','.join('?' * len(states))})")
            params.extend(states)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return [_item(r) for r in self._read(f"SELECT * FROM serve_queue {where} ORDER BY arrived_at, id",
                                             tuple(params))]

    def item(self, queue_id: int) -> QueueItem | None:
        rows = self._read("SELECT * FROM serve_queue WHERE id=?", (queue_id,))
        return _item(rows[0]) if rows else None

    def position(self, queue_id: int) -> int | None:
        """1: the next to run; None when the item is not queued."""
        with self._lock:
            order = self._fair_order()
        return next((i for i, item in enumerate(order, 1) if item.id == queue_id), None)

    def claim(self, worker: str) -> QueueItem | None:
        """The fair next item, now running on `worker`; None when nothing is queued."""
        with self.transaction():
            order = self._fair_order()
            if not order:
                return None
            self.db.execute("UPDATE serve_queue SET state=?, worker=?, claimed_at=?, tries=tries+1, progress='{}' "
                            "WHERE id=?", (RUNNING, worker, _stamp(), order[0].id))
            return _item(self.db.execute("SELECT * FROM serve_queue WHERE id=?", (order[0].id,)).fetchone())

    def _fair_order(self) -> list[QueueItem]:
        """The queued items in the order they will run: one student's many never starve the others.

        Students are ordered by their items running now, then by their last claim (never claimed
        first, then the longest ago), then by their first arrival; the queue takes one item of each
        student in turn, each student's in arrival order."""
        queued = [_item(r) for r in self.db.execute(
            "SELECT * FROM serve_queue WHERE state=? ORDER BY arrived_at, id", (QUEUED,))]
        running: Counter[str] = Counter()
        last_claim: dict[str, str] = {}
        for r in self.db.execute("SELECT student, SUM(state=?) AS running, MAX(claimed_at) AS last FROM serve_queue "
                                 "GROUP BY student", (RUNNING,)):
            running[r["student"]], last_claim[r["student"]] = r["running"], r["last"]
        by_student: dict[str, list[QueueItem]] = {}
        for item in queued:
            by_student.setdefault(item.student, []).append(item)
        students = sorted(by_student, key=lambda s: (running[s], last_claim[s] is not None, last_claim[s] or "",
                                                     by_student[s][0].arrived_at, by_student[s][0].id))
        rounds = zip_longest(*(by_student[s] for s in students))
        return [item for item in chain.from_iterable(rounds) if item is not None]

    def set_progress(self, queue_id: int, progress: dict) -> None:
        with self.transaction():
            self.db.execute("UPDATE serve_queue SET progress=? WHERE id=?", (json.dumps(progress), queue_id))

    def finish(self, queue_id: int, run_id: int | None, status: str, refunded: bool | None = None) -> None:
        """The item is done; a refunded one (the grader's fault; default: a REFUNDED status) does not count
        against the limit."""
        refunded = status in REFUNDED if refunded is None else refunded
        with self.transaction():
            self.db.execute("UPDATE serve_queue SET state=?, run_id=?, status=?, counted=? WHERE id=?",
                            (DONE, run_id, status, int(not refunded), queue_id))

    def requeue(self, worker: str | None = None) -> int:
        """The items running on `worker` (None: on any) queued again; how many."""
        where, params = ("AND worker=?", (worker,)) if worker is not None else ("", ())
        with self.transaction():
            cur = self.db.execute(f"UPDATE serve_queue SET state=?, worker=NULL, claimed_at=NULL, progress='{{}}' "
                                  f"WHERE state=? {where}", (QUEUED, RUNNING, *params))
            return cur.rowcount

    def enqueue(self, assignment: str, student: str, path: Path, sha256: str, arrived_at: datetime,
                late_days: int) -> QueueItem:
        """The hand-in's submission row (the gradebook's) and its queue row, in one transaction."""
        arrived = arrived_at.astimezone(timezone.utc).isoformat(timespec="seconds")
        with self.transaction():
            submission_id = self.book.register(assignment, student, str(path), sha256, arrived)
            cur = self.db.execute(
                "INSERT INTO serve_queue (submission_id, assignment, student, arrived_at, day, state, late_days) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (submission_id, assignment, student, arrived, self.day(arrived_at).isoformat(), QUEUED, late_days))
            return _item(self.db.execute("SELECT * FROM serve_queue WHERE id=?", (cur.lastrowid,)).fetchone())

    def prior(self, assignment: str, student: str, sha256: str) -> tuple[str, str] | None:
        """What became of this exact notebook when this student handed it in before: (queued, running or its
        last run's status; when it was handed in); None when it was not, or its runs were all refunded."""
        with self._lock:
            sub = self.db.execute("SELECT id, submitted_at FROM submissions WHERE assignment=? AND student=? "
                                  "AND sha256=?", (assignment, student, sha256)).fetchone()
            if sub is None:
                return None
            waiting = self.db.execute("SELECT state, arrived_at FROM serve_queue WHERE submission_id=? AND state IN "
                                      "(?, ?) ORDER BY id LIMIT 1", (sub["id"], QUEUED, RUNNING)).fetchone()
            if waiting is not None:
                return waiting["state"], waiting["arrived_at"]
            run = self.last_run(sub["id"])
        return None if run is None else (run[1], sub["submitted_at"])

    def last_run(self, submission_id: int) -> tuple[int, str] | None:
        """The submission's last run that counts, (id, status): neither a verification nor refunded."""
        marks = ",".join("?" * len(REFUNDED))
        rows = self._read(f"SELECT id, status FROM runs WHERE submission_id=? AND verifies IS NULL AND status NOT IN "
                          f"({marks}) ORDER BY id DESC LIMIT 1", (submission_id, *REFUNDED))
        return (rows[0]["id"], rows[0]["status"]) if rows else None

    def submission(self, item: QueueItem) -> Submission:
        """The hand-in a queue item grades, as `grader run` finds one in a folder."""
        row = self._read("SELECT path, sha256, submitted_at FROM submissions WHERE id=?", (item.submission_id,))[0]
        path = Path(row["path"])
        return Submission(item.assignment, item.student, path, row["sha256"], row["submitted_at"], notebooks=[path])

    # ---- limits -----------------------------------------------------------------------------------

    def day(self, moment: datetime | None = None) -> date:
        """The date of a moment (aware; default now) in the course's time zone."""
        return in_course_zone(moment or _now(), self.course.timezone).date()

    def allowance(self, student: str, assignment: str, now: datetime | None = None) -> Allowance:
        """Today's (the course's day of `now`) submissions of a student to an assignment against the limit."""
        day = self.day(now)
        with self._lock:
            used, refunded = self.db.execute(
                "SELECT COALESCE(SUM(state != ? OR counted), 0), COALESCE(SUM(state = ? AND NOT counted), 0) "
                "FROM serve_queue WHERE student=? AND assignment=? AND day=?",
                (DONE, DONE, student, assignment, day.isoformat())).fetchone()
            extra = self.db.execute("SELECT COALESCE(SUM(extra), 0) FROM serve_grants WHERE student=? AND "
                                    "assignment=? AND day=?", (student, assignment, day.isoformat())).fetchone()[0]
        limit = self.course.assignment(assignment).daily_limit or self.course.serve.daily_limit
        # At most `limit` attempts a day are given back: a notebook that keeps provoking faults of the grader's
        # cannot run without end.
        used += max(0, refunded - limit)
        return Allowance(used, limit + extra, datetime.combine(day + timedelta(days=1), time(), self.zone))

    def grant(self, student: str, assignment: str, extra: int, day: date | None = None) -> None:
        """`extra` more attempts on `day` (the course's date; default today)."""
        with self.transaction():
            self.db.execute("INSERT INTO serve_grants (student, assignment, day, extra, granted_at) "
                            "VALUES (?, ?, ?, ?, ?)", (student, assignment, (day or self.day()).isoformat(), extra,
                                                       _stamp()))

    # ---- reveals ----------------------------------------------------------------------------------

    def reveal(self, assignment: str, revealed: bool = True) -> None:
        """Show the private half of an assignment's board (or hide it again)."""
        with self.transaction():
            if revealed:
                self.db.execute("INSERT OR IGNORE INTO serve_reveals (assignment, revealed_at) VALUES (?, ?)",
                                (assignment, _stamp()))
            else:
                self.db.execute("DELETE FROM serve_reveals WHERE assignment=?", (assignment,))

    def revealed(self, assignment: str) -> bool:
        return bool(self._read("SELECT 1 FROM serve_reveals WHERE assignment=?", (assignment,)))

    # ---- workers ----------------------------------------------------------------------------------

    def beat(self, worker: str, pid: int, queue_id: int | None) -> None:
        """A worker's heartbeat: alive now, running `queue_id` (None: idle); a new pid starts it anew."""
        now = _stamp()
        with self.transaction():
            self.db.execute(
                "INSERT INTO serve_workers (name, pid, started_at, heartbeat, queue_id) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET started_at=CASE WHEN pid=excluded.pid THEN started_at "
                "ELSE excluded.started_at END, pid=excluded.pid, heartbeat=excluded.heartbeat, "
                "queue_id=excluded.queue_id", (worker, pid, now, now, queue_id))

    def workers(self) -> list[dict]:
        return [dict(r) for r in self._read("SELECT name, pid, started_at, heartbeat, queue_id FROM serve_workers "
                                            "ORDER BY name")]


def _csrf(session_id: str) -> str:
    """The session's CSRF token, derived from its id: nothing more to store, and no use without the cookie."""
    return hmac.new(session_id.encode(), b"csrf", hashlib.sha256).hexdigest()


def _item(row: sqlite3.Row) -> QueueItem:
    values = dict(row)
    return QueueItem(**values | {"progress": json.loads(values["progress"]), "counted": bool(values["counted"])})
