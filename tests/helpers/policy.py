"""A course of three practicals under a policy, and hand-ins recorded straight into its gradebook.

The policy tests compute grades from such rows by hand; other tests use them to have something to
show (plain text, times) without running notebooks.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from grader.course import load_course
from grader.gradebook import Gradebook
from tests.helpers import PRACTICAS_GROUP

COURSE = '''name = "Aprendizaje Profundo"
language = "{language}"
timezone = "Europe/Madrid"
[policy]
counts = "{counts}"
rounding = "{rounding}"
rounding_step = {step}
[policy.late]
mode = "{late}"
penalty_per_day = 1.0
max_days = 3
[[policy.groups]]
name = "practicas"
assignments = ["mnist", "imagenet-subset", "text-generation"]
best = 2
{extra}
'''
_sha = itertools.count()


def policy_course(root: Path, *, counts="last", rounding="up", step=1, late="penalty", extra="",
                  language="en"):
    for name in PRACTICAS_GROUP:
        folder = root / "assignments" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "assignment.toml").write_text('deadline = "2027-01-15"\n[dataset]\nname = "digits"\n')
    (root / "course.toml").write_text(COURSE.format(counts=counts, rounding=rounding, step=step, late=late,
                                                    extra=extra, language=language))
    return load_course(root)


def hand_in(course, student, assignment, grade, when="2027-01-10T12:00:00+00:00", status="ok", scores=None, **run):
    """One submission with one finished run, as `grader run` records it; grade None = not run yet.
    `scores`: {split: {metric: value}} (the leaderboards read them); `run`: more of the run's columns
    (message, detail, flags, artifacts...)."""
    with Gradebook(course.gradebook_path) as book:
        sub = book.register(assignment, student, f"{student}.ipynb", f"sha{next(_sha)}", when)
        if status is not None:
            book.record(sub, "v1", "local", {"status": status, "grade": grade if status == "ok" else None,
                                              "primary_metric": "accuracy",
                                              "primary_score": grade / 10 if grade is not None else None} | run, scores or {})
