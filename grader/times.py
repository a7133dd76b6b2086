"""Moments as a person reads them: in the course's time zone, with the zone's name.

The gradebook stores UTC (ISO 8601); deadlines are wall-clock times in course.toml's `timezone`.
What a person reads (`grader show`, the tables, the audit page, the leaderboard's pages and time
axis) is in the course's zone, so that a hand-in made at 23:58 in Madrid reads 23:58 CET beside
its 23:59 deadline, not 22:58. Student-facing pages use grader.i18n.local_time, in the course's
language; CSV and JSON keep the stored UTC times, for scripts.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from grader.policy import parse_when

INSTRUCTOR_FORMAT = "%Y-%m-%d %H:%M %Z"  # 2027-01-15 23:58 CET: sorts as text, and names its zone


def in_course_zone(value: str | datetime, timezone: str) -> datetime:
    """The gradebook's ISO text (naive: UTC) or an aware datetime, in the course's zone."""
    return (parse_when(value) if isinstance(value, str) else value).astimezone(ZoneInfo(timezone))


def shown_time(value: str | datetime | None, timezone: str) -> str:
    """A moment for the instructor's terminal and pages; "" for none (a run not finished, a date not known)."""
    if value is None or value == "":
        return ""
    return in_course_zone(value, timezone).strftime(INSTRUCTOR_FORMAT)


def shown_times(rows: list[dict], columns: list[str], timezone: str) -> list[dict]:
    """Table rows with their time columns as `shown_time` (the rows given are left as they are)."""
    return [row | {c: shown_time(row.get(c), timezone) for c in columns if c in row} for row in rows]
