"""The course's grading policy: small rules composed in course.toml `[policy]`.

Each rule is a pure object with one job (a late rule, a rounding, a "best k of n" group), so a
course changes its policy by configuration and every rule can be checked by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

LATE_MODES = ("accept", "penalty", "reject")
ROUNDING_MODES = ("none", "up", "nearest", "down")
COUNTS = ("last", "best")


@dataclass(frozen=True)
class Lateness:
    days: int  # started days past the deadline; 0 = on time
    penalty: float  # grade points taken off
    rejected: bool


@dataclass(frozen=True)
class LatePolicy:
    """What a submission after the deadline is worth.

    `days` counts started days: one minute late is one day late. `penalty` mode takes
    `penalty_per_day` grade points per day; past `max_days` (or any lateness in `reject` mode) the
    submission is rejected and counts as not handed in.
    """

    mode: str = "reject"
    penalty_per_day: float = 0.0
    max_days: int | None = None
    grace_minutes: float = 0.0

    def judge(self, submitted_at: datetime, deadline: datetime | None) -> Lateness:
        if deadline is None:
            return Lateness(0, 0.0, False)
        late_s = (submitted_at - deadline).total_seconds() - self.grace_minutes * 60
        if late_s <= 0:
            return Lateness(0, 0.0, False)
        days = math.ceil(late_s / 86400)
        if self.mode == "reject" or (self.max_days is not None and days > self.max_days):
            return Lateness(days, 0.0, True)
        penalty = self.penalty_per_day * days if self.mode == "penalty" else 0.0
        return Lateness(days, penalty, False)


@dataclass(frozen=True)
class Rounding:
    """Round to a multiple of `step`: up (ceiling), nearest (halves go up), down, or not at all."""

    mode: str = "none"
    step: float = 1.0

    def __call__(self, value: float) -> float:
        if self.mode == "none":
            return value
        # Grades come out of float arithmetic: 7.000000000000001 is 7, not a reason to round up.
        exact = Decimal(repr(value)).quantize(Decimal("1e-9"), rounding=ROUND_HALF_UP)
        step = Decimal(repr(self.step))
        how = {"up": ROUND_CEILING, "nearest": ROUND_HALF_UP, "down": ROUND_FLOOR}[self.mode]
        return float((exact / step).quantize(Decimal(1), rounding=how) * step)


@dataclass(frozen=True)
class Group:
    """`best` of the listed assignments count, averaged; the rest are dropped."""

    name: str
    assignments: tuple[str, ...]
    best: int
    weight: float = 1.0
    rounding: Rounding = Rounding()


@dataclass(frozen=True)
class Extension:
    student: str  # a name, ID number or email from the roster
    assignment: str
    until: datetime  # naive, in the course's time zone


@dataclass(frozen=True)
class Policy:
    max_grade: float = 10.0
    missing: float = 0.0  # what an assignment not handed in (or rejected) is worth
    counts: str = "last"  # which of several submissions counts: last on time, or best
    late: LatePolicy = LatePolicy()
    rounding: Rounding = Rounding()  # of the final grade
    groups: tuple[Group, ...] = ()
    extensions: tuple[Extension, ...] = field(default_factory=tuple)

    def groups_for(self, assignments: list[str]) -> tuple[Group, ...]:
        """The configured groups, or by default every assignment on its own, equally weighted."""
        if self.groups:
            return self.groups
        return tuple(Group(name, (name,), 1) for name in assignments)

    def extension(self, assignment: str, identities: set[str]) -> datetime | None:
        dates = [e.until for e in self.extensions if e.assignment == assignment and e.student in identities]
        return max(dates) if dates else None


def local_deadline(deadline: datetime | None, tz: str) -> datetime | None:
    """A deadline written in the course's wall-clock time, as an aware datetime."""
    if deadline is None:
        return None
    return deadline if deadline.tzinfo else deadline.replace(tzinfo=ZoneInfo(tz))


def parse_when(text: str) -> datetime:
    """An aware UTC datetime from the ISO text the gradebook stores."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def parse_deadline(value: str | date) -> datetime:
    """The course's rule for deadlines: a bare date means that day at 23:59."""
    if isinstance(value, datetime):
        return value
    text = value.isoformat() if isinstance(value, date) else value
    if len(text) == 10:
        text += "T23:59"
    return datetime.fromisoformat(text)


def best_of(grades: list[tuple[str, float]], k: int) -> list[str]:
    """Names of the k best grades; a tie goes to the assignment listed first, so results are stable."""
    order = sorted(range(len(grades)), key=lambda i: (-grades[i][1], i))
    return [grades[i][0] for i in order[:k]]


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def clamp(value: float, top: float) -> float:
    return min(max(value, 0.0), top)
