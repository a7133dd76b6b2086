"""Course grades: the gradebook's results put through the course policy, one student at a time.

For each student and assignment: which submission counts (last on time, or best), how late it
was and what that cost; then each group's "best k of n", the weighted final grade and its
rounding. Every decision is kept with its reason, for the export and the student's report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from grader.course import Course
from grader.gradebook import Gradebook
from grader.i18n import Translator
from grader.policy import Group, Lateness, Policy, best_of, clamp, local_deadline, mean, parse_when
from grader.runners.base import ERROR, OK
from grader.submissions import normalise_name
from grader.text import plain_text

GRADED, MISSING, REJECTED, PENDING = "graded", "missing", "rejected", "pending"


@dataclass
class Attempt:
    """One submission of one assignment with its latest run."""

    submission_id: int
    submitted_at: datetime
    status: str | None  # None: not run yet
    grade: float | None  # from the grade scale, before any late penalty
    metric: str | None
    primary_score: float | None
    message: str
    artifacts: str | None
    lateness: Lateness
    sample: str | None = None  # text-generation: the start of the generated text
    flags: list[dict] = field(default_factory=list)  # the screening's, for the instructor (never published)
    duration_s: float | None = None  # how long its run took
    public_score: float | None = None  # the primary metric on the public half: all a student sees before reveal

    @property
    def pending(self) -> bool:
        return self.status is None or self.status == ERROR

    @property
    def worth(self) -> float:
        """The grade this attempt earns: a run that did not produce predictions earns 0."""
        if self.status != OK or self.grade is None:
            return 0.0
        return max(self.grade - self.lateness.penalty, 0.0)


@dataclass
class Component:
    """One assignment in one student's grade."""

    assignment: str
    state: str  # graded | missing | rejected | pending
    grade: float | None  # what counts towards the group; None while pending
    chosen: Attempt | None = None
    attempts: list[Attempt] = field(default_factory=list)
    counted: bool = False
    deadline: datetime | None = None
    dropped: bool = False  # graded, and left out by its group's "best k of n" rule


@dataclass
class GroupResult:
    name: str
    best: int
    assignments: tuple[str, ...]
    counted: list[str]
    grade: float | None  # None while a component is pending


@dataclass
class StudentGrades:
    student: str
    participant: str | None
    id_number: str | None
    email: str | None
    components: dict[str, Component]
    groups: list[GroupResult]
    final_unrounded: float | None
    final: float | None

    @property
    def pending(self) -> bool:
        return self.final is None

    def as_dict(self) -> dict:
        """Plain data for `--format json`."""
        def attempt(x: Attempt) -> dict:
            return {"submission_id": x.submission_id, "submitted_at": x.submitted_at.isoformat(),
                    "status": x.status, "score": x.primary_score, "scale_grade": x.grade, "grade": x.worth,
                    "late_days": x.lateness.days, "penalty": x.lateness.penalty,
                    "rejected": x.lateness.rejected, "message": x.message, "flags": x.flags}
        return {
            "student": self.student, "participant": self.participant, "id_number": self.id_number,
            "email": self.email, "final": self.final, "final_unrounded": self.final_unrounded,
            "groups": [{"name": g.name, "best": g.best, "assignments": list(g.assignments),
                        "counted": g.counted, "grade": g.grade} for g in self.groups],
            "assignments": {a: {"state": c.state, "grade": c.grade, "counted": c.counted,
                                "chosen": c.chosen.submission_id if c.chosen else None,
                                "attempts": [attempt(x) for x in c.attempts]}
                            for a, c in self.components.items()},
        }


@dataclass
class CourseGrades:
    students: list[StudentGrades]
    assignments: list[str]  # the columns: every assignment of the course and of its groups
    groups: tuple[Group, ...]
    warnings: list[str]


def compute(course: Course, book: Gradebook) -> CourseGrades:
    policy = course.policy
    known = list(course.assignments)
    groups = policy.groups_for(known)
    listed = [a for g in groups for a in g.assignments]
    assignments = list(dict.fromkeys([*known, *listed]))
    warnings = [f"policy group '{g.name}' lists '{a}', which has no assignments/{a}/assignment.toml: "
                "counted as not handed in" for g in groups for a in g.assignments if a not in course.assignments]
    configs = {a: course.assignment(a) for a in known}
    deadlines = {a: c.deadline for a, c in configs.items()}
    late_rules = {a: c.late or policy.late for a, c in configs.items()}

    attempts: dict[tuple[str, str], list[dict]] = {}
    for row in book.latest():
        attempts.setdefault((row["student"], row["assignment"]), []).append(row)
    # A roster name and a folder name written differently ("ana garcía") are one student.
    roster = {normalise_name(name): row for name, row in book.roster().items()}
    students = {normalise_name(student): student for student, _ in attempts}
    for key, row in roster.items():
        students.setdefault(key, row["name"])

    results = []
    for key, student in sorted(students.items()):
        who = roster.get(key, {})
        names = identities(student, who)
        components = {}
        for a in assignments:
            deadline = policy.extension(a, names) or deadlines.get(a)
            deadline = local_deadline(deadline, course.timezone)
            rule = late_rules.get(a, policy.late)
            tried = [Attempt(r["submission_id"], parse_when(r["submitted_at"]), r["status"], r["grade"],
                             r["primary_metric"], r["primary_score"], r["message"] or "", r["artifacts"],
                             rule.judge(parse_when(r["submitted_at"]), deadline), r["sample"], r["flags"],
                             r["duration_s"], r["public_score"])
                     for r in attempts.get((student, a), [])]
            components[a] = _component(a, tried, policy, deadline)
        group_results = [_group(g, components) for g in groups]
        final_unrounded = _final(groups, group_results, policy)
        final = None if final_unrounded is None else clamp(policy.rounding(final_unrounded), policy.max_grade)
        results.append(StudentGrades(student, who.get("participant"), who.get("id_number"), who.get("email"),
                                     components, group_results, final_unrounded, final))
    return CourseGrades(results, assignments, groups, warnings)


def identities(student: str, who: dict) -> set[str]:
    """What an extension may name a student by (grader.policy.Extension): the name, and the roster's
    ID number and email (`who`, the student's roster entry, or {})."""
    return {student, *(v for v in (who.get("id_number"), who.get("email")) if v)}


def _component(assignment: str, tried: list[Attempt], policy: Policy, deadline: datetime | None) -> Component:
    tried.sort(key=lambda x: (x.submitted_at, x.submission_id))
    accepted = [x for x in tried if not x.lateness.rejected]
    if not accepted:
        state = REJECTED if tried else MISSING
        return Component(assignment, state, policy.missing, None, tried, deadline=deadline)
    if policy.counts == "best":
        if any(x.pending for x in accepted):
            return Component(assignment, PENDING, None, None, tried, deadline=deadline)
        # The earliest of equal grades: it reached that grade first.
        chosen = max(accepted, key=lambda x: (x.worth, -x.submitted_at.timestamp()))
    else:
        on_time = [x for x in accepted if x.lateness.days == 0]
        chosen = (on_time or accepted)[-1]
    if chosen.pending:
        return Component(assignment, PENDING, None, chosen, tried, deadline=deadline)
    return Component(assignment, GRADED, clamp(chosen.worth, policy.max_grade), chosen, tried, deadline=deadline)


def _group(group: Group, components: dict[str, Component]) -> GroupResult:
    members = [components[a] for a in group.assignments]
    if any(c.grade is None for c in members):
        return GroupResult(group.name, group.best, group.assignments, [], None)
    counted = best_of([(c.assignment, c.grade) for c in members], group.best)
    for c in members:
        c.counted = c.assignment in counted
        c.dropped = not c.counted
    grade = group.rounding(mean([components[a].grade for a in counted]))
    return GroupResult(group.name, group.best, group.assignments, counted, grade)


def _final(groups: tuple[Group, ...], results: list[GroupResult], policy: Policy) -> float | None:
    if any(r.grade is None for r in results):
        return None
    total = sum(g.weight for g in groups)
    return sum(g.weight * r.grade for g, r in zip(groups, results)) / total if total else 0.0


def number(value: float | None) -> str:
    """A grade as people and Moodle read it: '.' decimals, at most two, no trailing zeros."""
    if value is None:
        return ""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def explain(component: Component, group: GroupResult | None, policy: Policy, t: Translator) -> str:
    """Why this assignment is worth what it is, in the student's language."""
    if component.state == MISSING:
        text = t("grades.missing")
    elif component.state == REJECTED:
        text = t("grades.rejected", count=component.attempts[-1].lateness.days)
    elif component.state == PENDING:
        text = t("grades.pending")
    else:
        chosen = component.chosen
        text = t("grades.graded", grade=number(component.grade))
        if chosen.metric and chosen.primary_score is not None:
            text += f" ({chosen.metric} {chosen.primary_score:.4f})"
        if chosen.status != OK:  # the message is cut here: the rest of the feedback must follow it
            text += " (" + (plain_text(chosen.message) or t(f"status.{chosen.status}")) + ")"
        if chosen.lateness.days:
            text += "; " + t("grades.late", count=chosen.lateness.days, penalty=number(chosen.lateness.penalty))
        if len(component.attempts) > 1:
            text += "; " + _which(component, policy, t)
    if group is not None and group.grade is not None and len(group.assignments) > group.best:
        text += "; " + (t("grades.counted") if component.counted else
                        t("grades.dropped", count=group.best, n=len(group.assignments)))
    return text


def _which(component: Component, policy: Policy, t: Translator) -> str:
    """Which of several submissions counted, and among how many of those that could (as _component picks it)."""
    accepted = [x for x in component.attempts if not x.lateness.rejected]
    if policy.counts == "best":
        return t("grades.which_best", count=len(accepted))
    on_time = [x for x in accepted if x.lateness.days == 0]
    return t("grades.which_last", count=len(on_time)) if on_time else t("grades.which_last_late", count=len(accepted))


def final_line(grades: StudentGrades, policy: Policy, t: Translator) -> str:
    if grades.final is None:
        return t("grades.final_pending")
    if policy.rounding.mode != "none" and grades.final != grades.final_unrounded:
        return t("grades.final_rounded", final=number(grades.final), unrounded=number(grades.final_unrounded),
                 how=t(f"grades.round_{policy.rounding.mode}"))
    return t("grades.final", final=number(grades.final))


def feedback(grades: StudentGrades, policy: Policy, t: Translator) -> str:
    """One paragraph for the student: every assignment, which counted and why, and the final grade."""
    group_of = {a: g for g in grades.groups for a in g.assignments}
    parts = [f"{a}: {explain(c, group_of.get(a), policy, t)}" for a, c in grades.components.items()
             if c.state != MISSING or a in group_of]
    return ". ".join([*parts, final_line(grades, policy, t)]) + "."
