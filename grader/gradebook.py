"""The gradebook: submissions, runs and scores in SQLite (WAL).

Only the process that orchestrates a batch writes here, one transaction per finished run, so a
crash loses at most the runs still in flight, and those run again next time.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Iterator

from grader.runners.base import ERROR

# What every run ends with, graded or reference.
OUTCOME = """status TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    started_at TEXT,
    finished_at TEXT,
    duration_s REAL,
    primary_metric TEXT,
    primary_score REAL,
    grade REAL,
    artifacts TEXT"""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY,
    assignment TEXT NOT NULL,
    student TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    UNIQUE (assignment, student, sha256)
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    submission_id INTEGER NOT NULL REFERENCES submissions(id),
    assignment_version TEXT NOT NULL,
    runner TEXT NOT NULL,
    {OUTCOME},
    cell INTEGER,
    detail TEXT NOT NULL DEFAULT '',
    sample TEXT,  -- the start of a text-generation notebook's sample.txt
    flags TEXT NOT NULL DEFAULT '[]',  -- JSON: evidence for the instructor (grader.screening, grader.audit)
    environment TEXT NOT NULL DEFAULT '{{}}',  -- JSON: what ran it (grader.runners.environment)
    verifies INTEGER REFERENCES runs(id)  -- set on a `grader run --verify` re-run: the run it checks
);
CREATE INDEX IF NOT EXISTS runs_by_submission ON runs (submission_id, assignment_version);
-- The roster: who a student is outside the grader (Moodle's participant id, ID number, email).
CREATE TABLE IF NOT EXISTS students (
    name TEXT PRIMARY KEY,
    participant TEXT,
    id_number TEXT,
    email TEXT
);
-- What a student chose to be called on the leaderboards (instead of a pseudonym).
CREATE TABLE IF NOT EXISTS nicknames (
    name TEXT PRIMARY KEY,
    nickname TEXT NOT NULL UNIQUE
);
-- Runs of the reference solutions and baselines (`grader reference run`), scored like any run.
CREATE TABLE IF NOT EXISTS reference_runs (
    id INTEGER PRIMARY KEY,
    assignment TEXT NOT NULL,
    role TEXT NOT NULL,            -- reference | baseline
    mode TEXT NOT NULL,            -- full | smoke
    data_sha256 TEXT NOT NULL,     -- the prepared data it was scored on
    notebook TEXT NOT NULL,
    notebook_sha256 TEXT NOT NULL,
    runner TEXT NOT NULL,
    device TEXT NOT NULL,
    {OUTCOME},
    scores TEXT NOT NULL DEFAULT '{{}}'  -- JSON: split -> metric -> value
);
-- What `grader audit` found across an assignment's hand-ins (similar pairs), replaced at each audit.
CREATE TABLE IF NOT EXISTS audit_flags (
    submission_id INTEGER NOT NULL REFERENCES submissions(id),
    flag TEXT NOT NULL  -- JSON, as runs.flags items
);
CREATE TABLE IF NOT EXISTS scores (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    split TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (run_id, split, metric)
);
"""

# Runs that ended this way were the grader's fault, not the notebook's: a later batch retries them.
RETRIED_STATUSES = (ERROR,)


class Gradebook:
    def __init__(self, path: Path, threads: bool = False):
        """`threads`: the connection may be used from several threads, which the caller serialises
        (grader.serve.store: a web server's and its workers')."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=not threads)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # a committed result survives power loss too
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(SCHEMA)
        # Gradebooks made before these columns existed gain them in place.
        columns = {r["name"] for r in self.db.execute("PRAGMA table_info(runs)")}
        for column, kind in (("sample", "TEXT"), ("flags", "TEXT NOT NULL DEFAULT '[]'"),
                             ("environment", "TEXT NOT NULL DEFAULT '{}'"), ("verifies", "INTEGER")):
            if column not in columns:
                self.db.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Gradebook":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def register(self, assignment: str, student: str, path: str, sha256: str, submitted_at: str) -> int:
        self.db.execute(
            "INSERT OR IGNORE INTO submissions (assignment, student, path, sha256, submitted_at) "
            "VALUES (?, ?, ?, ?, ?)", (assignment, student, path, sha256, submitted_at))
        row = self.db.execute("SELECT id FROM submissions WHERE assignment=? AND student=? AND sha256=?",
                              (assignment, student, sha256)).fetchone()
        return int(row["id"])

    def set_student(self, name: str, participant: str | None = None, id_number: str | None = None,
                    email: str | None = None) -> None:
        """Add or update a roster entry; a value not given keeps what was known."""
        self.db.execute(
            "INSERT INTO students (name, participant, id_number, email) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET participant=COALESCE(excluded.participant, participant), "
            "id_number=COALESCE(excluded.id_number, id_number), email=COALESCE(excluded.email, email)",
            (name, participant, id_number, email))

    def roster(self) -> dict[str, dict[str, str | None]]:
        return {r["name"]: dict(r) for r in self.db.execute("SELECT * FROM students ORDER BY name")}

    def set_nickname(self, name: str, nickname: str) -> None:
        self.db.execute("INSERT INTO nicknames (name, nickname) VALUES (?, ?) "
                        "ON CONFLICT(name) DO UPDATE SET nickname=excluded.nickname", (name, nickname))

    def nicknames(self) -> dict[str, str]:
        return {r["name"]: r["nickname"] for r in self.db.execute("SELECT name, nickname FROM nicknames")}

    def students(self) -> list[str]:
        """Everyone the gradebook knows: the roster's students and whoever handed something in."""
        return [r[0] for r in self.db.execute(
            "SELECT name FROM students UNION SELECT student FROM submissions ORDER BY 1")]

    def is_graded(self, submission_id: int, version: str) -> bool:
        return self.graded_run(submission_id, version) is not None

    def graded_run(self, submission_id: int, version: str) -> dict[str, Any] | None:
        """The run that graded a submission under this version (never a verification), or None."""
        marks = ",".join("?" * len(RETRIED_STATUSES))
        row = self.db.execute(
            f"SELECT * FROM runs WHERE submission_id=? AND assignment_version=? AND verifies IS NULL "
            f"AND status NOT IN ({marks}) ORDER BY id DESC LIMIT 1",
            (submission_id, version, *RETRIED_STATUSES)).fetchone()
        return None if row is None else dict(row)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        """All of it or nothing: a crash mid-way leaves the gradebook as it was."""
        with closing(self.db.cursor()) as cur:
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def set_audit_flags(self, submission_ids: list[int], flags: dict[int, list[dict]]) -> None:
        """Replace what an audit found for these submissions, in one transaction."""
        with self.transaction() as cur:
            cur.executemany("DELETE FROM audit_flags WHERE submission_id=?", [(i,) for i in submission_ids])
            cur.executemany("INSERT INTO audit_flags (submission_id, flag) VALUES (?, ?)",
                            [(i, json.dumps(f)) for i, found in flags.items() for f in found])

    def _submission_flags(self) -> dict[int, list[dict]]:
        """Flags of each submission beyond its run's own: its verification runs' and the last audit's.

        Read in two queries for all submissions (both tables stay small), not two per row."""
        found: dict[int, list[dict]] = {}
        for r in self.db.execute("SELECT submission_id, flags FROM runs WHERE verifies IS NOT NULL ORDER BY id"):
            found.setdefault(r["submission_id"], []).extend(json.loads(r["flags"]))
        for r in self.db.execute("SELECT submission_id, flag FROM audit_flags ORDER BY rowid"):
            found.setdefault(r["submission_id"], []).append(json.loads(r["flag"]))
        return found

    def _with_submission_flags(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Decode each run row; a graded run (not a verification) also carries its submission's other flags."""
        extra = self._submission_flags()
        for row in rows:
            _decoded(row)
            if row.get("verifies") is None:
                row["flags"] = row["flags"] + extra.get(row["submission_id"], [])
        return rows

    def record(self, submission_id: int, version: str, runner: str, row: dict[str, Any],
               scores: dict[str, dict[str, float | None]]) -> int:
        """Store one finished run and its scores in a single transaction."""
        row = row | {"flags": json.dumps(row.get("flags", [])), "environment": json.dumps(row.get("environment", {}))}
        columns = ["submission_id", "assignment_version", "runner", *row]
        values = [submission_id, version, runner, *row.values()]
        with self.transaction() as cur:
            cur.execute(f"INSERT INTO runs ({','.join(columns)}) VALUES ({','.join('?' * len(values))})", values)
            run_id = int(cur.lastrowid)
            cur.executemany("INSERT INTO scores (run_id, split, metric, value) VALUES (?, ?, ?, ?)",
                            [(run_id, split, metric, value) for split, metrics in scores.items()
                             for metric, value in metrics.items()])
        return run_id

    def record_reference(self, row: dict[str, Any]) -> int:
        row = row | {"scores": json.dumps(row.get("scores", {}))}
        cur = self.db.execute(f"INSERT INTO reference_runs ({','.join(row)}) VALUES ({','.join('?' * len(row))})",
                              list(row.values()))
        return int(cur.lastrowid)

    def reference_runs(self, assignment: str | None = None, latest: bool = True) -> list[dict[str, Any]]:
        """Reference and baseline runs, oldest first; `latest`: only the last of each assignment, role and mode."""
        last_of_each = "id IN (SELECT MAX(id) FROM reference_runs GROUP BY assignment, role, mode)"
        where, params = _where({"assignment": assignment}, *([last_of_each] if latest else []))
        rows = [dict(r) for r in self.db.execute(
            f"SELECT * FROM reference_runs {where} ORDER BY assignment, role, mode, id", params)]
        for row in rows:
            row["scores"] = json.loads(row["scores"])
        return rows

    def anchor_score(self, assignment: str, role: str, data_sha256: str) -> float | None:
        """The last full-mode score of a baseline or reference on this data: what relative grades subtract."""
        row = self.db.execute(
            "SELECT primary_score FROM reference_runs WHERE assignment=? AND role=? AND mode='full' AND status='ok' "
            "AND data_sha256=? ORDER BY id DESC LIMIT 1", (assignment, role, data_sha256)).fetchone()
        return None if row is None else row["primary_score"]

    def latest(self, assignment: str | None = None, student: str | None = None) -> list[dict[str, Any]]:
        """Each submission with its latest run (or none yet), oldest submission first."""
        where, params = _where({"s.assignment": assignment, "s.student": student})
        rows = self.db.execute(f"""
            SELECT s.id AS submission_id, s.assignment, s.student, s.path, s.sha256, s.submitted_at,
                   r.id AS run_id, r.status, r.message, r.cell, r.primary_metric, r.primary_score,
                   r.grade, r.duration_s, r.finished_at, r.artifacts, r.assignment_version, r.runner, r.sample,
                   r.flags, r.environment,
                   (SELECT value FROM scores WHERE run_id = r.id AND split = 'public'
                    AND metric = r.primary_metric) AS public_score
            FROM submissions s
            LEFT JOIN runs r ON r.id = (SELECT MAX(id) FROM runs WHERE submission_id = s.id AND verifies IS NULL)
            {where} ORDER BY s.assignment, s.student, s.submitted_at, s.id""", params).fetchall()
        return self._with_submission_flags([dict(r) for r in rows])

    def runs(self, assignment: str | None = None, student: str | None = None) -> list[dict[str, Any]]:
        """Every run, with its scores, oldest first."""
        where, params = _where({"s.assignment": assignment, "s.student": student})
        rows = [dict(r) for r in self.db.execute(f"""
            SELECT s.assignment, s.student, s.path, s.sha256, s.submitted_at, r.*
            FROM runs r JOIN submissions s ON s.id = r.submission_id {where} ORDER BY r.id""", params)]
        for row in self._with_submission_flags(rows):
            row["scores"] = {}
            for score in self.db.execute("SELECT split, metric, value FROM scores WHERE run_id=?", (row["id"],)):
                row["scores"].setdefault(score["split"], {})[score["metric"]] = score["value"]
        return rows


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    """A run row with its flags (a list of dicts) and environment (a dict) decoded; empty before any run."""
    row["flags"] = json.loads(row.get("flags") or "[]")
    row["environment"] = json.loads(row.get("environment") or "{}")
    return row


def _where(equal: dict[str, Any], *conditions: str) -> tuple[str, tuple]:
    """A WHERE clause: `column = ?` for each value given (None: no filter), and raw conditions."""
    given = {column: value for column, value in equal.items() if value is not None}
    clauses = [f"{column} = ?" for column in given] + list(conditions)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", tuple(given.values())
