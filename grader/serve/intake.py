"""One upload, accepted or refused: the checks, then the file stored and the hand-in queued, committed.

In order: a known assignment with its data prepared, the size cap (never more than the cap read), at most
MAX_CELLS cells, a readable notebook, the late rule on arrival (the server's clock), this exact notebook
not handed in already, the daily limit. What passes is written to disk (fsync, then renamed into place)
and its submission and queue rows are committed in one transaction before `accept` returns, so what the
student is told was received is never lost. A refusal stores nothing; its message key and parameters are the
student's (grader.i18n), each saying what to change.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from grader.course import Course
from grader.data import DataError, layout
from grader.grades import identities
from grader.i18n import translator
from grader.jobs import slug
from grader.policy import local_deadline
from grader.serve.store import QUEUED, RUNNING, QueueItem, ServeStore
from grader.submissions import InvalidNotebook, load_notebook

MB = 1 << 20
MAX_CELLS = 2000  # far above any hand-in's; a notebook past it is refused before it is validated


class Refused(Exception):
    """An upload not accepted: t(key, **params) tells the student why and what to change; `http` the status."""

    def __init__(self, key: str, params: dict, http: int):
        super().__init__(key)
        self.key, self.params, self.http = key, params, http


def accept(course: Course, store: ServeStore, student: str, assignment: str, filename: str,
           stream: BinaryIO | bytes, now: datetime | None = None) -> QueueItem:
    """Check one upload and queue it, committed; Refused with the student's reason otherwise."""
    now = now or datetime.now(timezone.utc)
    name = Path(filename).name
    if assignment not in course.assignments:
        raise Refused("serve.unknown_assignment", {"assignment": assignment,
                                                   "known": ", ".join(sorted(course.assignments))}, 404)
    a = course.assignment(assignment)
    try:  # prepared: its hidden test inputs are there to run on
        layout(course, a).manifest()
    except DataError:
        raise Refused("serve.not_open", {"assignment": a.title}, 503) from None
    data = _capped(stream, cap_bytes(course))
    if data is None:
        raise too_large(course, name)
    if _cells(data) > MAX_CELLS:  # counted before nbformat validates it: that takes seconds for 100,000 cells
        raise Refused("serve.too_many_cells", {"name": name, "count": MAX_CELLS}, 422)
    with tempfile.NamedTemporaryFile(suffix=".ipynb") as tmp:  # load_notebook reads a path
        tmp.write(data)
        tmp.flush()
        try:
            load_notebook(Path(tmp.name))
        except InvalidNotebook as exc:
            raise Refused("serve.invalid_notebook", {"name": name, "detail": str(exc)}, 422) from None

    sha256 = hashlib.sha256(data).hexdigest()  # of the bytes alone: the stored file's name changes at each upload
    with store.transaction():  # the checks and the rows at once: two uploads at a time cannot both pass the limit
        who = store.book.roster().get(student, {})
        deadline = local_deadline(course.policy.extension(assignment, identities(student, who)) or a.deadline,
                                  course.timezone)
        lateness = (a.late or course.policy.late).judge(now, deadline)
        if lateness.rejected:
            raise Refused("serve.late", {"assignment": a.title, "deadline": course.local_time(deadline)}, 403)
        prior = store.prior(assignment, student, sha256)
        if prior is not None:
            state, at = prior
            if state in (QUEUED, RUNNING):
                raise Refused("serve.duplicate_queued", {"when": course.local_time(at)}, 409)
            t = translator(course.language, course.root)
            raise Refused("serve.duplicate_graded", {"when": course.local_time(at), "status": t(f"status.{state}")},
                          409)
        allowance = store.allowance(student, assignment, now)
        if allowance.used >= allowance.limit:
            raise Refused("serve.daily_limit", {"assignment": a.title, "used": allowance.used, "count": allowance.limit,
                                                "resets": course.local_time(allowance.resets_at)}, 429)
        path = _store(course.workdir / "serve" / "uploads" / assignment / slug(student),
                      f"{now.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}-{sha256[:8]}.ipynb", data)
        try:
            return store.enqueue(assignment, student, path, sha256, now, lateness.days)
        except BaseException:  # not committed: the file is nobody's
            path.unlink(missing_ok=True)
            raise


def cap_bytes(course: Course) -> int:
    """The largest upload accepted, in bytes (`[serve] upload_mb`)."""
    return int(course.serve.upload_mb * MB)


def too_large(course: Course, name: str) -> Refused:
    """The refusal of an upload over the cap (the web app's too, before it reads the form)."""
    return Refused("serve.too_large", {"name": name, "limit": f"{course.serve.upload_mb:g}"}, 413)


def _cells(data: bytes) -> int:
    """How many cells the upload's JSON holds (0 when it is not a notebook's JSON: load_notebook says why)."""
    try:
        cells = json.loads(data).get("cells")
    except (ValueError, AttributeError):
        return 0
    return len(cells) if isinstance(cells, list) else 0


def _capped(stream: BinaryIO | bytes, cap: int) -> bytes | None:
    """The upload's bytes; None when it is larger than `cap` (one byte past it read, no more)."""
    data = stream[:cap + 1] if isinstance(stream, bytes) else stream.read(cap + 1)
    return None if len(data) > cap else data


def _store(folder: Path, name: str, data: bytes) -> Path:
    """Write the file whole or not at all: a temporary name, fsync, rename, and the folder's entry synced."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    tmp = folder / f".{name}.tmp"
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return path
