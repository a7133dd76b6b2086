"""`grader audit A`: every hand-in of an assignment with its evidence, worst first, for the instructor.

What each row shows comes from three places: the screening before the run (grader.screening),
the evidence read when the run was scored (grader.audit.evidence: claims against the re-run,
odd runs, what ran it), and what only the whole assignment shows (grader.audit.similarity:
similar hand-ins, here). Similar pairs found here are stored in the gradebook, so `grader show`,
the instructor's grades export and the instructor's report show them too. A run's message (why it
failed: the cell and the exception, with its hint) shows beside its status. Times are the
course's local time. Flags never change a grade, and nothing here is ever published.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import jinja2
from markupsafe import Markup

from grader.audit.similarity import Pair, Source, boilerplate_of, notebook_code, similar_pairs
from grader.course import Course
from grader.gradebook import Gradebook
from grader.runners.environment import summary
from grader.screening import describe
from grader.text import html_templates, plain_text
from grader.times import shown_time

# How much each kind weighs when rows are sorted worst first.
SEVERITY = {"lookup": 5, "similar": 5, "similar_archive": 5, "claim_mismatch": 4, "long_literal": 4,
            "literal_list": 4, "long_number": 4, "long_comment": 4, "above_validation": 4, "non_deterministic": 3,
            "literal_total": 3, "compressed_literals": 3, "cell_size": 2, "markdown_size": 2, "split_gap": 2,
            "not_executed": 1, "fast_top": 1}
TEMPLATES = html_templates(jinja2.PackageLoader("grader.audit", "templates"))


@dataclass
class AuditRow:
    student: str
    submission_id: int
    submitted_at: str
    status: str | None
    message: str | None  # the run's: why it failed (the cell, the exception, a hint), or a warning
    score: float | None
    grade: float | None
    duration_s: float | None
    flags: list[dict]
    environment: dict

    @property
    def severity(self) -> int:
        return sum(SEVERITY.get(f["kind"], 1) for f in self.flags)

    def as_dict(self) -> dict:
        return {"student": self.student, "submission_id": self.submission_id, "submitted_at": self.submitted_at,
                "status": self.status, "message": self.message, "score": self.score, "grade": self.grade,
                "duration_s": self.duration_s,
                "severity": self.severity, "flags": self.flags, "flags_text": "; ".join(map(describe, self.flags)),
                "environment": summary(self.environment)}


@dataclass
class AuditReport:
    assignment: str
    title: str
    rows: list[AuditRow]
    pairs: list[Pair]
    threshold: float
    seconds: float
    timezone: str  # the course's: the page's times are local
    archive: Path | None = None
    pages: dict[int, str] = field(default_factory=dict)  # pair index -> its page's file name


def audit(course: Course, name: str, archive: Path | None = None) -> AuditReport:
    """Compare every hand-in of `name` (and, optionally, an archive of earlier notebooks); store the pairs."""
    start = time.perf_counter()
    a = course.assignment(name)
    boilerplate = boilerplate_of([p for p in (a.path / "starter.ipynb", a.reference_notebook, a.baseline_notebook)
                                  if p is not None])
    with Gradebook(course.gradebook_path) as book:
        submissions = book.latest(assignment=name)
        student_of = {str(s["submission_id"]): s["student"] for s in submissions}
        sources = [Source(str(s["submission_id"]), notebook_code(Path(s["path"]))) for s in submissions
                   if Path(s["path"]).is_file()]
        pairs = [p for p in similar_pairs(sources, a.audit.similarity, boilerplate)
                 if student_of[p.first] != student_of[p.second]]  # one student's resubmissions resemble each other
        if archive is not None:
            earlier = [Source(str(p.relative_to(archive)), notebook_code(p)) for p in sorted(archive.rglob("*.ipynb"))]
            pairs += similar_pairs(sources, a.audit.similarity, boilerplate, against=earlier)
        found: dict[int, list[dict]] = {}
        for i, p in enumerate(pairs):
            page = f"pair-{i + 1}.html"
            if p.second in student_of:
                for me, other in ((p.first, p.second), (p.second, p.first)):
                    found.setdefault(int(me), []).append({"kind": "similar", "other": student_of[other],
                                                          "similarity": round(p.similarity, 3), "pair": page})
            else:
                found.setdefault(int(p.first), []).append({"kind": "similar_archive", "other": p.second,
                                                           "similarity": round(p.similarity, 3), "pair": page})
        book.set_audit_flags([s["submission_id"] for s in submissions], found)
        rows = [AuditRow(s["student"], s["submission_id"], s["submitted_at"], s["status"], s["message"],
                         s["primary_score"], s["grade"], s["duration_s"], s["flags"], s["environment"])
                for s in book.latest(assignment=name)]
    rows.sort(key=lambda r: (-r.severity, r.student, r.submitted_at))
    for p in pairs:  # pages name students, not submission ids
        p.first, p.second = student_of.get(p.first, p.first), student_of.get(p.second, p.second)
    return AuditReport(name, a.title, rows, pairs, a.audit.similarity, time.perf_counter() - start, course.timezone,
                       archive)


def _parts(code: str, ranges: list[tuple[int, int]]) -> list[tuple[Markup, bool]]:
    """The code cut into (text, shared) pieces, for the side-by-side view. Each piece is made plain and
    escaped here, and shown whole: the pages' own plain text would cut a long one."""
    parts, at = [], 0
    for begin, end in sorted(ranges):
        begin = max(begin, at)
        if begin > at:
            parts.append((code[at:begin], False))
        if end > begin:
            parts.append((code[begin:end], True))
        at = max(at, end)
    parts.append((code[at:], False))
    return [(Markup.escape(plain_text(text, limit=None)), shared) for text, shared in parts]


def write_site(report: AuditReport, out: Path) -> Path:
    """index.html (one row per hand-in) and one side-by-side page per similar pair; returns the index."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for i, p in enumerate(report.pairs):
        sides = [{"name": p.first, "parts": _parts(p.first_code, p.first_slices)},
                 {"name": p.second, "parts": _parts(p.second_code, p.second_slices)}]
        (out / f"pair-{i + 1}.html").write_text(TEMPLATES.get_template("pair.html.j2").render(
            first=p.first, second=p.second, similarity=p.similarity, shares=p.shares, sides=sides), encoding="utf-8")
    rows = [{"student": r.student, "submitted_at": shown_time(r.submitted_at, report.timezone), "status": r.status,
             "message": r.message or "", "score": "-" if r.score is None else f"{r.score:.4f}",
             "grade": "-" if r.grade is None else f"{r.grade:.2f}",
             "duration": "-" if r.duration_s is None else f"{r.duration_s:.1f} s", "severity": r.severity,
             "environment": summary(r.environment),
             "flags": [{"text": describe(f), "pair": f.get("pair")} for f in r.flags]} for r in report.rows]
    index = out / "index.html"
    index.write_text(TEMPLATES.get_template("audit.html.j2").render(
        title=report.title, rows=rows, pairs=report.pairs, threshold=report.threshold, seconds=report.seconds,
        archive=report.archive, when=shown_time(datetime.now(timezone.utc), report.timezone)), encoding="utf-8")
    return index
