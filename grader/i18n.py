"""What students read, in the course's language (course.toml `language`): gettext catalogs, read with Babel.

grader/locale/<lang>/LC_MESSAGES/grader.po holds every message a student reads from the grader:
feedback, hints, reports, leaderboards, the shared README (grader/templates/readme/student.md.j2)
and what `grader new assignment` writes. Its msgids are English, the source language:
en/grader.po lists every message with empty msgstrs (gettext gives the msgid) and is what a new
language starts from, as a translated copy. A message the code names carries its key as msgctxt
("pred.duplicate"): the code, and the hints matched on a fault, go by the key, the catalog words it.
A message with plural forms (msgid_plural) takes its number from its `count` parameter; the
Python messages are str.format text ({count}), the templates' are Jinja's (%(count)s).

A course adds a language, or rewords one, in its own folder and with no Python:
<course>/locale/<lang>/LC_MESSAGES/grader.po, merged over the grader's (course.po, the prose of its
READMEs, is grader.readme's). A language is one whose catalogs translate every message of
en/grader.po, plural forms included: `check_language` refuses any other, naming what is missing.
The pseudonyms' words are a message too; dates take their month names and a time zone's city from
Babel's locale data, through patterns the catalogs give.

The .po files are read as they are (no compiled .mo): a fresh checkout works with no build step.
Instructor-facing text (logs, CLI help, config errors) stays in English.
"""

from __future__ import annotations

import functools
import io
import itertools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time, get_month_names, get_timezone_location
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po, write_po
from babel.support import NullTranslations, Translations

from grader.times import in_course_zone

Translator = Callable[..., str]

PACKAGE = Path(__file__).parent  # its locale/ holds the grader's catalogs; a course's, its folder's
SOURCE = "en"  # the language of every msgid
GRADER, COURSE = "grader", "course"  # the catalogs' domains: the grader's messages, a course's README prose
SHOWN = 8  # missing messages named in an error before "and N more"


class LanguageError(ValueError):
    """A language without complete catalogs; the message says what it lacks and where it would go."""


def catalog_path(base: Path, language: str, domain: str = GRADER) -> Path:
    """The catalog of `domain` in `language` under `base` (the grader package, or a course's folder)."""
    return Path(base) / "locale" / language / "LC_MESSAGES" / f"{domain}.po"


@functools.lru_cache(maxsize=64)
def _read(path: Path, stamp: tuple[int, int]) -> Catalog:
    with path.open("rb") as f:
        try:
            return read_po(f, domain=path.stem, abort_invalid=True)
        except (PoFileError, ValueError) as exc:
            raise LanguageError(f"{path}: not a valid .po file ({exc})") from None


def read_catalog(path: Path) -> Catalog | None:
    """The catalog in this .po file (read again when the file changes), or None when there is none."""
    path = Path(path)
    if not path.is_file():
        return None
    stat = path.stat()
    return _read(path, (stat.st_mtime_ns, stat.st_size))


def new_catalog(language: str, domain: str) -> Catalog:
    """An empty catalog of `domain` in `language`: the plural rule of the grader's catalog of it, else Babel's."""
    grader = read_catalog(catalog_path(PACKAGE, language))
    rule = grader.plural_forms if grader is not None else Catalog(locale=language).plural_forms
    catalog = Catalog(locale=language, domain=domain, fuzzy=False)
    catalog.mime_headers = [("Language", language), ("Plural-Forms", rule)]
    return catalog


def write_catalog(path: Path, catalog: Catalog, comment: str) -> None:
    """The catalog as a .po file: a header of its language and plural rule only (no dates to churn), then its
    messages in their order; `comment` opens the file."""
    body = io.BytesIO()
    write_po(body, catalog, width=0, omit_header=True, include_lineno=False)  # one line of text, one line
    header = "".join(f"# {line}\n" for line in comment.splitlines()) + (
        f'msgid ""\nmsgstr ""\n"Language: {catalog.locale_identifier}\\n"\n'
        f'"Plural-Forms: {catalog.plural_forms}\\n"\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n')
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + body.getvalue().decode("utf-8").lstrip("\n"), encoding="utf-8")


def add_messages(path: Path, language: str, messages: list[Message], comment: str) -> None:
    """Add (or replace) these messages in the catalog at `path`, made with `comment` when it is new (an existing
    one keeps its own opening comment)."""
    path = Path(path)
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        catalog = read_po(io.BytesIO(text.encode("utf-8")), domain=path.stem)
        opening = itertools.takewhile(lambda line: line.startswith("# "), text.splitlines())
        comment = "\n".join(line[2:] for line in opening) or comment
    else:
        catalog = new_catalog(language, path.stem)
    for m in messages:
        catalog.add(m.id, m.string, locations=m.locations, context=m.context, auto_comments=m.auto_comments)
    write_catalog(path, catalog, comment)


def languages(course_root: Path | None = None, domain: str = GRADER) -> tuple[str, ...]:
    """The languages with a catalog of `domain`: the grader's, and the course's own when given."""
    bases = [PACKAGE] + ([Path(course_root)] if course_root is not None else [])
    return tuple(sorted({p.parts[-3] for base in bases for p in (base / "locale").glob(f"*/LC_MESSAGES/{domain}.po")}))


def message_id(message: Message) -> str:
    """The singular msgid of a message (a plural one has a tuple)."""
    return message.id[0] if isinstance(message.id, (tuple, list)) else message.id


def is_translated(message: Message, plurals: int) -> bool:
    """Every form of the message has a translation, and none is marked fuzzy (a guess to review)."""
    forms = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
    needed = plurals if isinstance(message.id, (tuple, list)) else 1
    return not message.fuzzy and len(forms) >= needed and all(forms[:needed])


def source_catalog() -> Catalog:
    """en/grader.po: every message of the grader, English msgids, no translation."""
    return read_catalog(catalog_path(PACKAGE, SOURCE))


@dataclass(frozen=True)
class Catalogs:
    """One language's messages: the course's catalogs merged over the grader's."""

    language: str
    files: tuple[Path, ...]  # the .po files read, the grader's first
    translations: NullTranslations
    translated: frozenset[tuple[str | None, str]]  # (msgctxt, msgid) of every message with a translation


def catalogs(language: str, course_root: Path | None = None) -> Catalogs:
    """`language`'s catalogs: grader/locale's grader.po, then the course's grader.po and course.po over it."""
    candidates = [catalog_path(PACKAGE, language)]
    if course_root is not None:
        candidates += [catalog_path(course_root, language, GRADER), catalog_path(course_root, language, COURSE)]
    files = tuple((p, p.stat().st_mtime_ns) for p in candidates if p.is_file())
    return _merged(language, files)


@functools.lru_cache(maxsize=32)
def _merged(language: str, files: tuple[tuple[Path, int], ...]) -> Catalogs:
    translations: NullTranslations = NullTranslations()
    translated: set[tuple[str | None, str]] = set()
    for i, (path, _) in enumerate(files):
        catalog = read_catalog(path)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        loaded = Translations(compiled, domain=catalog.domain)
        # The first file's plural rule governs: the grader's for its languages, else the course's grader.po.
        translations = loaded if i == 0 else translations.merge(loaded)
        translated |= {(m.context, message_id(m)) for m in catalog if m.id and is_translated(m, catalog.num_plurals)}
    return Catalogs(language, tuple(path for path, _ in files), translations, frozenset(translated))


def missing(language: str, course_root: Path | None = None) -> list[Message]:
    """The grader's messages that `language`'s catalogs leave untranslated (none for the source language)."""
    if language == SOURCE:
        return []
    have = catalogs(language, course_root).translated
    return [m for m in source_catalog() if m.id and (m.context, message_id(m)) not in have]


def named(messages: list[Message], shown: int = SHOWN) -> str:
    """Messages as an error names them: the key (or the start of the text), a few, then how many more."""
    def name(m: Message) -> str:
        text = message_id(m)
        return m.context or repr(text if len(text) <= 50 else text[:47] + "...")
    more = f" and {len(messages) - shown} more" if len(messages) > shown else ""
    return ", ".join(name(m) for m in messages[:shown]) + more


def check_language(language: str, course_root: Path | None = None) -> None:
    """A LanguageError unless `language`'s catalogs (the grader's and the course's) translate every message."""
    if language == SOURCE:
        return
    own = catalog_path(course_root, language) if course_root is not None else None
    if language in languages() and (own is None or not own.is_file()):
        return  # the grader's catalogs are complete (tests/test_i18n.py)
    if not catalogs(language, course_root).files:
        where = f"{own}" if own is not None else f"<course>/locale/{language}/LC_MESSAGES/grader.po"
        raise LanguageError(f"one of {', '.join(languages())}, or a language the course adds with a catalog: "
                            f"no {where} (a translated copy of {catalog_path(PACKAGE, SOURCE)})")
    lacking = missing(language, course_root)
    if lacking:
        raise LanguageError(f"a language whose catalogs translate every message: {own} lacks {len(lacking)} of "
                            f"{sum(1 for m in source_catalog() if m.id)} (msgctxt or msgid): {named(lacking)}")


@functools.lru_cache(maxsize=4)
def _keys(source: Catalog) -> dict[str, str | tuple[str, str]]:
    """msgctxt -> msgid (a tuple with its plural) of the messages the code names by key."""
    return {m.context: m.id for m in source if m.context}


def translator(language: str, course_root: Path | None = None) -> Translator:
    """t(key, **params): the message of that key (its msgctxt) in `language`, formatted with `params`."""
    found = catalogs(language, course_root).translations
    english = _keys(source_catalog())

    def t(key: str, **params: object) -> str:
        if "n_classes" in params:
            params["n_classes_1"] = int(params["n_classes"]) - 1
        msgid = english[key]
        if isinstance(msgid, tuple):
            text = found.npgettext(key, msgid[0], msgid[1], int(params["count"]))
        else:
            text = found.pgettext(key, msgid)
        return text.format(**params)

    return t


def pseudonym_words(language: str, course_root: Path | None = None) -> list[str]:
    """The words pseudonyms are made of ("Lynx-3f2a"): the message "pseudonyms", a comma-separated list."""
    return [word.strip() for word in translator(language, course_root)("pseudonyms").split(",")]


def month_numbers() -> dict[str, int]:
    """Month names (casefolded, as dates write them) -> 1-12, in each language with catalogs (Babel's data)."""
    return {name.casefold(): number for code in languages()
            for number, name in get_month_names("wide", locale=code).items()}


def city(timezone: str, language: str) -> str:
    """A time zone as people name it: its city in the language ("Nueva York" for America/New_York in es)."""
    return get_timezone_location(ZoneInfo(timezone), locale=language, return_city=True)


def long_date(moment: datetime, language: str, timezone: str, course_root: Path | None = None) -> str:
    """A deadline as a sentence says it: "15 de enero de 2027 a las 23:59 (hora de Madrid)"."""
    t = translator(language, course_root)
    return t("date.long", date=format_date(moment, t("date.long_pattern"), locale=language),
             time=format_time(moment, t("date.time_pattern"), locale=language), city=city(timezone, language))


def local_time(value: str | datetime | None, language: str, timezone: str, course_root: Path | None = None) -> str:
    """A moment as the course's students read it: in the course's time zone and the language's format."""
    if value is None or value == "":
        return ""
    local = in_course_zone(value, timezone)
    pattern = translator(language, course_root)("date.short_pattern")
    return f"{format_datetime(local, pattern, tzinfo=local.tzinfo, locale=language)} {local.tzname()}"
