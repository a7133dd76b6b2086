"""Rank each assignment's submissions, Kaggle-style, under pseudonyms.

Each student's entry is their submission with the best public score (the earlier of equal
scores). Before the deadline it ranks by that public score; after it (or on `reveal`) by the
same submission's private score, so the hidden half decides without being chosen on. Ties go
to the earlier submission.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone

from grader.course import Assignment, Course
from grader.data import DataError, layout
from grader.gradebook import Gradebook
from grader.i18n import pseudonym_words
from grader.metrics import METRICS
from grader.policy import local_deadline, parse_when
from grader.runners.base import OK

@dataclass
class Entry:
    rank: int
    pseudonym: str
    score: float
    submissions: int
    last_submission: str
    runtime_s: float | None
    submitted_at: str  # of the ranked submission: the tie-break
    student: str = field(repr=False)  # for the instructor's local view only; never published

    def public(self) -> dict:
        return {"rank": self.rank, "pseudonym": self.pseudonym, "score": self.score,
                "submissions": self.submissions, "last_submission": self.last_submission,
                "runtime_s": self.runtime_s}


@dataclass
class Board:
    assignment: str
    title: str
    metric: str
    split: str  # public | private
    deadline: str | None
    entries: list[Entry]
    timeline: list[tuple[datetime, float]]  # every scored submission on the split, oldest first
    baseline: float | None = None
    reference: float | None = None
    by_reveal: bool = False  # the instructor's reveal switches the split (`grader serve`), not the deadline

    @property
    def lower_is_better(self) -> bool:
        return METRICS[self.metric].lower_is_better


def salt(course: Course) -> str:
    """A secret kept beside the gradebook: pseudonyms are stable, and nobody can recompute them from names."""
    path = course.workdir / "pseudonym.salt"
    if not path.exists():
        course.workdir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(16))
    return path.read_text().strip()


def pseudonym(student: str, secret: str, words: list[str]) -> str:
    """One of `words` (the course language's, grader.i18n.pseudonym_words) and four hex digits, from a salted hash."""
    digest = hashlib.sha256(f"{secret}:{student}".encode()).hexdigest()
    return f"{words[int(digest[:2], 16) % len(words)]}-{digest[2:6]}"


class NicknameError(ValueError):
    pass


def set_nickname(book: Gradebook, student: str, nickname: str) -> None:
    """A nickname is shown as plain text wherever it appears; it only has to be short, printable and unique."""
    nickname = " ".join(nickname.split())
    if not 1 <= len(nickname) <= 40 or not nickname.isprintable():
        raise NicknameError(f"nickname {nickname!r}: expected 1 to 40 printable characters")
    if student not in {r["student"] for r in book.latest()} | set(book.roster()):
        raise NicknameError(f"no student '{student}' in {book.path}")
    taken = {nick: name for name, nick in book.nicknames().items()}
    if taken.get(nickname, student) != student:
        raise NicknameError(f"nickname {nickname!r} is already taken")
    book.set_nickname(student, nickname)


def board(course: Course, book: Gradebook, assignment: str, reveal: bool = False,
          now: datetime | None = None, split: str | None = None) -> Board:
    """`split` overrides the rule above: `grader serve` shows the public half until the instructor reveals."""
    a = course.assignment(assignment)
    deadline = local_deadline(a.deadline, course.timezone)
    now = now or datetime.now(timezone.utc)
    forced = split
    split = split or ("private" if reveal or (deadline is not None and now > deadline) else "public")
    lower = METRICS[a.primary_metric].lower_is_better
    secret, words = salt(course), pseudonym_words(course.language, course.root)
    nicknames = book.nicknames()

    latest: dict[int, dict] = {}
    for run in book.runs(assignment=assignment):
        if run["verifies"] is None:  # a verification re-run never replaces the graded run
            latest[run["submission_id"]] = run  # runs come oldest first: the last one stands
    by_student: dict[str, list[dict]] = {}
    for run in latest.values():
        by_student.setdefault(run["student"], []).append(run)

    def value(run: dict, which: str) -> float | None:
        return run["scores"].get(which, {}).get(a.primary_metric) if run["status"] == OK else None

    def better(x: float) -> float:
        return x if lower else -x

    entries, timeline = [], []
    for student, runs in by_student.items():
        scored = [r for r in runs if value(r, "public") is not None]
        timeline += [(parse_when(r["submitted_at"]), value(r, split)) for r in scored if value(r, split) is not None]
        if not scored:
            continue
        chosen = min(scored, key=lambda r: (better(value(r, "public")), r["submitted_at"]))
        score = value(chosen, split)
        if score is None:
            continue
        entries.append(Entry(0, nicknames.get(student) or pseudonym(student, secret, words), score,
                             len(runs), max(r["submitted_at"] for r in runs), chosen["duration_s"],
                             chosen["submitted_at"], student))
    entries.sort(key=lambda e: (better(e.score), e.submitted_at))
    for i, e in enumerate(entries, start=1):
        e.rank = i
    timeline.sort()
    baseline = a.baseline if a.baseline is not None else measured(course, book, a, "baseline", split)
    reference = a.reference if a.reference is not None else measured(course, book, a, "reference", split)
    return Board(assignment, a.title, a.primary_metric, split, deadline.isoformat() if deadline else None,
                 entries, timeline, baseline, reference, by_reveal=forced is not None)


def measured(course: Course, book: Gradebook, a: Assignment, role: str, split: str) -> float | None:
    """The last full-mode `grader reference run` score of a baseline or reference on the current data."""
    try:
        data_sha = layout(course, a).manifest()["sha256"]
    except DataError:
        return None
    runs = [r for r in book.reference_runs(a.name, latest=False)
            if r["role"] == role and r["mode"] == "full" and r["status"] == OK and r["data_sha256"] == data_sha]
    return runs[-1]["scores"].get(split, {}).get(a.primary_metric) if runs else None


def boards(course: Course, reveal: bool = False, now: datetime | None = None) -> list[Board]:
    with Gradebook(course.gradebook_path) as book:
        return [board(course, book, name, reveal, now) for name in course.assignments]
