"""The one way a notebook of an assignment becomes a Job, and the folder each run writes into.

Shared by `grader run` (grader.pipeline), `grader check` (grader.check) and the references
(grader.reference). Kept apart from the pipeline so that a student's `grader check --kit` loads
neither the gradebook nor the audit (and its copydetect).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from grader.runners.base import Job

if TYPE_CHECKING:
    from grader.course import Assignment, Course
    from grader.data import DataLayout
    from grader.kit import Kit


def slug(name: str) -> str:
    """A file-system-safe folder name for any student name, unique by its hash suffix."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_name).strip("._")[:40] or "student"
    return f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def new_run_dir(course: Course, assignment: str, student: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    path = course.workdir / "runs" / assignment / slug(student) / f"{stamp}-{secrets.token_hex(3)}"
    path.mkdir(parents=True)
    return path


def make_job(a: Assignment, data: DataLayout | Kit, key: str, notebook: Path, run_dir: Path, *, smoke: bool,
             time_limit: float, test_dir: Path | None = None, python: str = "") -> Job:
    """The one way a notebook of an assignment is run: graded, self-checked or as a reference.
    `python`: the kernel's (grader.envs.job_python); "" for the runner's own."""
    return Job(
        key=key, notebook=notebook, run_dir=run_dir, data_dir=data.data_dir, test_dir=test_dir or data.test_dir,
        parameters={"seed": a.seed, "smoke": smoke, "time_budget_s": time_limit},
        time_limit_s=time_limit, cell_timeout_s=min(a.cell_timeout_s, time_limit),
        memory_mb=a.resources.memory_mb, cpus=a.resources.cpus, gpu=a.resources.gpu,
        pids_limit=a.resources.pids, tmp_mb=a.resources.tmp_mb, shm_mb=a.resources.shm_mb,
        output_mb=a.resources.output_mb, python=python)
