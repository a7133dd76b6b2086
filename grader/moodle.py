"""Moodle in: an assignment's "Download all submissions" zip (or its unpacked folder) and the
participants list become `submissions/<assignment>/<student>/` folders and roster entries.

Moodle names each hand-in `Full Name_<participant id>_assignsubmission_file_` (a folder, or a
prefix of each file when "download submissions in folders" is off). The archive is untrusted:
it is checked entry by entry before anything is written, and refused whole when one entry is
unsafe (a path escaping the target, a link, a device, too big, too many files).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from grader.archive import Entry, Limits, copy_entry, folder_entries, zip_entries
from grader.course import Course
from grader.gradebook import Gradebook
from grader.i18n import month_numbers
from grader.submissions import SIDECAR, normalise_name

MOODLE_ENTRY = re.compile(r"^(?P<name>.+?)_(?P<participant>\d+)_assign(?:submission|feedback)_(?P<plugin>[a-z]+)_(?P<rest>.*)$")


class ParticipantsError(ValueError):
    pass


@dataclass
class Participant:
    name: str
    participant: str | None = None  # the number in Moodle's folder names ("Participant 12345")
    id_number: str | None = None
    email: str | None = None
    submitted_at: datetime | None = None  # "Last modified (submission)" of a grading worksheet


@dataclass
class Imported:
    student: str
    participant: str
    files: list[str]
    submitted_at: str
    time_source: str  # worksheet | archive | file
    in_roster: bool


@dataclass
class ImportReport:
    target: Path
    imported: list[Imported] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    roster: int = 0


# ---------------------------------------------------------------- participants

HEADERS = {
    "name": ("full name", "nombre completo", "fullname"),
    "first": ("first name", "nombre"),
    "last": ("last name", "surname", "apellido(s)", "apellidos"),
    "id_number": ("id number", "número de id", "numero de id", "idnumber"),
    "email": ("email address", "email", "e-mail", "dirección de correo", "dirección email",
              "dirección de correo electrónico", "correo electrónico"),
    "participant": ("identifier", "identificador"),
    "submitted_at": ("last modified (submission)", "última modificación (entrega)"),
}
MONTHS = month_numbers()  # every language with catalogs (Babel's data): Moodle dates are in its site's language
MOODLE_TIME = re.compile(r"(\d{1,2})\s+(?:de\s+)?([^\W\d_]+)\s+(?:de\s+)?(\d{4}),?\s+(\d{1,2}):(\d{2})\s*([AaPp]\.?\s?[Mm]\.?)?")


def parse_moodle_time(text: str) -> datetime | None:
    """A naive wall-clock time from ISO text or Moodle's 'Monday, 15 January 2027, 11:58 PM' (en/es)."""
    text = text.strip()
    if not text or text == "-":
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        pass
    m = MOODLE_TIME.search(text)
    if not m or m.group(2).casefold() not in MONTHS:
        return None
    day, month, year, hour, minute = int(m[1]), MONTHS[m[2].casefold()], int(m[3]), int(m[4]), int(m[5])
    if m[6]:
        hour = hour % 12 + (12 if m[6][0] in "Pp" else 0)
    return datetime(year, month, day, hour, minute)


def read_participants(path: Path) -> list[Participant]:
    """Moodle's participants export or an assignment's grading worksheet (English or Spanish headers)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ParticipantsError(f"{path}: cannot read it as UTF-8 CSV ({exc})") from None
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    rows = list(csv.reader(text.splitlines(), delimiter=delimiter))
    if not rows:
        raise ParticipantsError(f"{path}: empty file")
    header = [h.strip().casefold() for h in rows[0]]
    column = {key: next((header.index(a) for a in aliases if a in header), None) for key, aliases in HEADERS.items()}
    if column["name"] is None and (column["first"] is None or column["last"] is None):
        raise ParticipantsError(f"{path}: no name column: expected 'Full name', or 'First name' and 'Last name' "
                                f"(found: {', '.join(rows[0])})")
    if column["id_number"] is None and column["email"] is None:
        raise ParticipantsError(f"{path}: no identity column: expected 'ID number' or 'Email address' "
                                f"(found: {', '.join(rows[0])})")

    def cell(row: list[str], key: str) -> str | None:
        i = column[key]
        value = row[i].strip() if i is not None and i < len(row) else ""
        return value or None

    people = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(v.strip() for v in row):
            continue
        if len(row) != len(header):
            raise ParticipantsError(f"{path}: line {line}: {len(row)} fields, the header has {len(header)}")
        name = cell(row, "name") or " ".join(filter(None, (cell(row, "first"), cell(row, "last"))))
        if not name:
            raise ParticipantsError(f"{path}: line {line}: no name")
        participant = re.sub(r"\D", "", cell(row, "participant") or "") or None
        people.append(Participant(unicodedata.normalize("NFC", " ".join(name.split())), participant,
                                  cell(row, "id_number"), cell(row, "email"),
                                  parse_moodle_time(cell(row, "submitted_at") or "")))
    return people


def _student_names(people: list[Participant]) -> dict[int, str]:
    """A folder-safe, unique student name per participant: the full name, plus the ID where two share it."""
    counts: dict[str, int] = {}
    for p in people:
        counts[normalise_name(p.name)] = counts.get(normalise_name(p.name), 0) + 1
    names = {}
    for i, p in enumerate(people):
        name = safe_name(p.name)
        if counts[normalise_name(p.name)] > 1:
            name = f"{name} ({p.id_number or p.email or p.participant})"
        names[i] = name
    return names


def safe_name(name: str) -> str:
    """A student name usable as one folder name on any system."""
    cleaned = re.sub(r'[/\\\x00-\x1f<>:"|?*]', " ", unicodedata.normalize("NFC", name))
    return " ".join(cleaned.split()).lstrip("._ ") or "student"  # a leading . or __ would hide the folder


# ---------------------------------------------------------------- the import

def ingest(course: Course, assignment: str, source: Path, participants: Path | None = None,
           into: Path = Path("submissions"), limits: Limits = Limits()) -> ImportReport:
    """Import one assignment's Moodle download into `into/<assignment>/<student>/`."""
    course.assignment(assignment)  # an unknown assignment is a ConfigError before any work
    source = Path(source)
    people = read_participants(participants) if participants else []
    target = Path(into) / assignment
    report = ImportReport(target)

    archive = None
    if source.is_file():
        entries = zip_entries(source, limits)
        archive = zipfile.ZipFile(source)
    elif source.is_dir():
        entries = folder_entries(source, limits)
    else:
        raise FileNotFoundError(f"{source}: no such file or folder")

    by_participant: dict[str, tuple[str, list[tuple[Entry, list[str]]]]] = {}
    for entry in entries:
        m = MOODLE_ENTRY.match(entry.parts[0])
        if not m:
            report.warnings.append(f"{source}: {'/'.join(entry.parts)}: skipped: not named like a Moodle "
                                   "submission (Full Name_12345_assignsubmission_file_...)")
            continue
        # A folder keeps the file's own path; a flat download puts the file name after the prefix.
        inner = entry.parts[1:] if len(entry.parts) > 1 else [m["rest"] or "submission"]
        by_participant.setdefault(m["participant"], (m["name"], []))[1].append((entry, inner))

    by_id = {p.participant: i for i, p in enumerate(people) if p.participant}
    by_name: dict[str, list[int]] = {}
    for i, p in enumerate(people):
        by_name.setdefault(normalise_name(p.name), []).append(i)
    tz = ZoneInfo(course.timezone)

    try:
        with Gradebook(course.gradebook_path) as book:
            names = _record_roster(book, people)
            report.roster = len(people)
            for participant, (moodle_name, files) in sorted(by_participant.items()):
                match = by_id.get(participant)
                if match is None and len(by_name.get(normalise_name(moodle_name), [])) == 1:
                    match = by_name[normalise_name(moodle_name)][0]
                person = people[match] if match is not None else None
                student = names[match] if match is not None else safe_name(moodle_name)
                if person is None:
                    why = "the participants list has two people of that name" if len(
                        by_name.get(normalise_name(moodle_name), [])) > 1 else "not in the participants list"
                    report.warnings.append(f"{moodle_name} (participant {participant}): {why}: imported as "
                                           f"'{student}', left out of the Moodle export until identified")
                    book.set_student(student, participant)
                when, time_source = _submission_time(person, files, tz)
                _write_student(target / student, files, archive, limits, when, {
                    "student": student, "participant": participant,
                    "id_number": person.id_number if person else None,
                    "email": person.email if person else None,
                    "submitted_at": when, "time_source": time_source, "source": str(source.resolve())})
                report.imported.append(Imported(student, participant, ["/".join(inner) for _, inner in files],
                                                when, time_source, person is not None))
    finally:
        if archive:
            archive.close()
    return report


def _submission_time(person: Participant | None, files: list[tuple[Entry, list[str]]],
                     tz: ZoneInfo) -> tuple[str, str]:
    """Moodle's own record first, then the archive's timestamps, then the files'; never the grader's clock."""
    if person and person.submitted_at:
        when, source = person.submitted_at.replace(tzinfo=tz), "worksheet"
    elif all(e.when for e, _ in files):
        when, source = max(e.when for e, _ in files).replace(tzinfo=tz), "archive"
    else:
        when = datetime.fromtimestamp(max(e.source.stat().st_mtime for e, _ in files), timezone.utc)
        source = "file"
    return when.astimezone(timezone.utc).isoformat(timespec="seconds"), source


def _write_student(folder: Path, files: list[tuple[Entry, list[str]]], archive: zipfile.ZipFile | None,
                   limits: Limits, when: str, record: dict) -> None:
    """Write a student's files beside their folder, then swap it in: a failed import leaves the old one."""
    incoming = folder.with_name(f".incoming-{folder.name}")  # hidden: `grader run` never takes it for a student
    shutil.rmtree(incoming, ignore_errors=True)
    try:
        for entry, inner in files:
            copy_entry(entry, archive, incoming.joinpath(*inner), limits)
            stamp = datetime.fromisoformat(when).timestamp()
            os.utime(incoming.joinpath(*inner), (stamp, stamp))
        (incoming / SIDECAR).write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        raise
    if folder.exists():
        shutil.rmtree(folder)
    incoming.rename(folder)


def _record_roster(book: Gradebook, people: list[Participant]) -> dict[int, str]:
    """Every participant into the roster; returns each one's student name."""
    names = _student_names(people)
    for i, p in enumerate(people):
        book.set_student(names[i], p.participant, p.id_number, p.email)
    return names


def import_roster(course: Course, participants: Path) -> int:
    """Record the participants list alone (identity for the Moodle export)."""
    people = read_participants(participants)
    with Gradebook(course.gradebook_path) as book:
        _record_roster(book, people)
    return len(people)
