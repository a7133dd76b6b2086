"""Grade exports, registered by name: `moodle` (Moodle's grade import CSV) and `csv` (every component).

Moodle's CSV import (Grades > Import > CSV file) aborts the whole file on one bad row, so the
`moodle` exporter writes only rows Moodle accepts and names every student it left out.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Callable

from grader.course import Course
from grader.grades import PENDING, CourseGrades, StudentGrades, feedback, number
from grader.i18n import translator
from grader.screening import flags_text
from grader.text import spreadsheet_cell

# Moodle's own export headers for the fields its import can match users by.
IDENTIFIERS = {"id_number": "ID number", "email": "Email address"}
FINAL_COLUMN = "final"
FEEDBACK_COLUMN = "feedback"


@dataclass
class Export:
    text: str
    rows: int
    warnings: list[str] = field(default_factory=list)


Exporter = Callable[[CourseGrades, Course, str], Export]
EXPORTERS: dict[str, Exporter] = {}


def register(name: str) -> Callable[[Exporter], Exporter]:
    def add(exporter: Exporter) -> Exporter:
        EXPORTERS[name] = exporter
        return exporter
    return add


def export(grades: CourseGrades, course: Course, fmt: str, identifier: str = "id_number") -> Export:
    if fmt not in EXPORTERS:
        raise ValueError(f"unknown export format '{fmt}' (known: {', '.join(EXPORTERS)})")
    if identifier not in IDENTIFIERS:
        raise ValueError(f"unknown identifier '{identifier}' (known: {', '.join(IDENTIFIERS)})")
    return EXPORTERS[fmt](grades, course, identifier)


def _csv(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180, what spreadsheets and Moodle expect
    writer.writerow(header)
    # Names and feedback hold student text; feedback is whole (explain cut each message), so not cut again.
    writer.writerows([spreadsheet_cell(cell, limit=None) for cell in row] for row in rows)
    return out.getvalue()


def group_columns(grades: CourseGrades) -> list[str]:
    """Groups worth a column of their own: those that combine more than one assignment."""
    return [g.name for g in grades.groups if len(g.assignments) > 1]


@register("moodle")
def moodle_csv(grades: CourseGrades, course: Course, identifier: str) -> Export:
    """One row per student Moodle knows: identifier, full name, one column per grade item, final, feedback."""
    t = translator(course.language, course.root)
    groups = group_columns(grades)
    header = [IDENTIFIERS[identifier], "Full name", *grades.assignments, *groups, FINAL_COLUMN, FEEDBACK_COLUMN]
    rows, warnings = [], list(grades.warnings)
    for s in grades.students:
        key = s.id_number if identifier == "id_number" else s.email
        if not key:
            warnings.append(f"{s.student}: left out of the Moodle file: no {IDENTIFIERS[identifier]} (record "
                            "Moodle's participants list, which has it, with `grader moodle roster PARTICIPANTS.csv`)")
            continue
        if s.pending:
            pending = [a for a, c in s.components.items() if c.state == PENDING]
            warnings.append(f"{s.student}: left out of the Moodle file: not graded yet ({', '.join(pending)}); "
                            "run `grader run` again")
            continue
        group_grades = {g.name: g.grade for g in s.groups}
        rows.append([key, s.student, *(number(s.components[a].grade) for a in grades.assignments),
                     *(number(group_grades[g]) for g in groups), number(s.final),
                     feedback(s, course.policy, t)])
    return Export(_csv(header, rows), len(rows), warnings)


def component_columns(assignment: str) -> list[str]:
    return [f"{assignment}_{c}" for c in ("state", "status", "score", "scale_grade", "submitted_at",
                                          "late_days", "penalty", "grade", "counted", "flags")]


def component_values(s: StudentGrades, assignment: str) -> list[str]:
    c = s.components[assignment]
    chosen = c.chosen
    return [c.state, chosen.status or "" if chosen else "", number(chosen.primary_score) if chosen else "",
            number(chosen.grade) if chosen else "", chosen.submitted_at.isoformat() if chosen else "",
            str(chosen.lateness.days) if chosen else "", number(chosen.lateness.penalty) if chosen else "",
            number(c.grade), "yes" if c.counted else "no", flags_text(chosen.flags) if chosen else ""]


@register("csv")
def plain_csv(grades: CourseGrades, course: Course, identifier: str) -> Export:
    """Every student (pending ones too) with every component: score, grades, lateness, what counted."""
    groups = [g.name for g in grades.groups]
    header = ["student", "participant", "id_number", "email",
              *(col for a in grades.assignments for col in component_columns(a)),
              *groups, "final_unrounded", FINAL_COLUMN]
    rows = []
    for s in grades.students:
        group_grades = {g.name: g.grade for g in s.groups}
        rows.append([s.student, s.participant or "", s.id_number or "", s.email or "",
                     *(v for a in grades.assignments for v in component_values(s, a)),
                     *(number(group_grades[g]) for g in groups), number(s.final_unrounded), number(s.final)])
    return Export(_csv(header, rows), len(rows), list(grades.warnings))
