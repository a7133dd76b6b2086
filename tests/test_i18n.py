"""Translations are catalogs: every language has every message, and a course adds a language with files alone."""

from __future__ import annotations

import re
import shutil
from datetime import datetime

import pytest
from babel.messages.catalog import Catalog
from typer.testing import CliRunner

from grader import i18n, readme
from grader.cli import app
from grader.course import ConfigError, load_course
from grader.policy import COUNTS, ROUNDING_MODES
from grader.runners.base import STATUSES
from grader.scaffold import init_course, new_assignment
from tests.helpers import REPO

PLACEHOLDER = re.compile(r"\{(\w+)[^}]*\}|%\((\w+)\)s")  # str.format's in the code's messages, Jinja's in templates


def placeholders(text: str) -> set[str]:
    return {a or b for a, b in PLACEHOLDER.findall(text)}


def forms(value) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


@pytest.mark.parametrize("language", [lang for lang in i18n.languages() if lang != i18n.SOURCE])
def test_every_language_of_the_grader_has_every_message_and_every_plural_form(language):
    catalog = i18n.read_catalog(i18n.catalog_path(i18n.PACKAGE, language))
    source = {(m.context, i18n.message_id(m)) for m in i18n.source_catalog() if m.id}
    have = {(m.context, i18n.message_id(m)): m for m in catalog if m.id}
    assert i18n.missing(language) == [], i18n.named(i18n.missing(language))
    assert set(have) == source, f"messages en/grader.po no longer has: {sorted(set(have) - source)}"
    for key, m in have.items():
        assert i18n.is_translated(m, catalog.num_plurals), key
        # A translation names the parameters its msgid passes, no others (a plural's "one" form may leave the
        # number out); a typo there would raise at the student's run.
        for translated in forms(m.string):
            assert placeholders(translated) <= placeholders(" ".join(forms(m.id))), (key, translated)


def test_the_source_catalog_has_every_message_the_code_and_templates_use():
    source = {(m.context, i18n.message_id(m)) for m in i18n.source_catalog() if m.id}
    keys = {context for context, _ in source if context}
    templates = [*i18n.PACKAGE.glob("templates/**/*.j2")]
    used = {(m.context, i18n.message_id(m)) for path in templates for m in readme.messages(path)}
    assert used <= source, sorted(used - source)
    # The keys the code names (t("pred.duplicate", ...)), and those it builds from a status, a rule or a mode.
    code = "\n".join(p.read_text(encoding="utf-8") for p in [*i18n.PACKAGE.rglob("*.py"), *templates])
    named = set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_.0-9]+)["']\s*[,)]""", code))
    built = ({f"status.{s}" for s in STATUSES} | {f"grades.which_{c}" for c in COUNTS}
             | {f"grades.round_{m}" for m in ROUNDING_MODES if m != "none"}
             | {f"board.{kind}{split}" for kind in ("split_", "split_note_") for split in ("public", "private")})
    assert named and named | built <= keys, sorted((named | built) - keys)
    # A metric's name is its registered title (grader.metrics), said alone and after "grade by".
    from grader.metrics import METRICS
    assert {(c, m.title) for m in METRICS.values() for c in (None, "grade by")} <= source


def test_plural_forms_follow_the_count():
    en, es = i18n.translator("en"), i18n.translator("es")
    assert en("pred.duplicate", count=1, examples="'a'") == "1 id appears more than once ('a')"
    assert en("pred.duplicate", count=3, examples="'a'") == "3 ids appear more than once ('a')"
    assert es("grades.late", count=1, penalty="1") == "1 día de retraso, 1 puntos menos"
    assert es("grades.late", count=2, penalty="2") == "2 días de retraso, 2 puntos menos"


def test_dates_take_month_names_and_the_city_from_babel():
    moment = datetime(2027, 1, 15, 23, 59)
    assert i18n.long_date(moment, "es", "America/New_York") == "15 de enero de 2027 a las 23:59 (hora de Nueva York)"
    assert i18n.long_date(moment, "en", "Europe/Madrid") == "15 January 2027 at 23:59 (Madrid time)"
    assert i18n.month_numbers()["septiembre"] == 9


def french(messages: dict[tuple[str | None, str], object] | None = None) -> Catalog:
    """A French catalog of the grader's messages: the English text, but for the few given in French. Babel's rule
    for French has three plural forms (one, many: "1 000 000 de", other)."""
    catalog = i18n.new_catalog("fr", i18n.GRADER)
    for m in i18n.source_catalog():
        if m.id:
            english = (m.id[0], m.id[1], m.id[1]) if isinstance(m.id, tuple) else m.id
            catalog.add(m.id, (messages or {}).get((m.context, i18n.message_id(m)), english), context=m.context)
    return catalog


@pytest.fixture
def course(tmp_path):
    """The demo course, copied, its students reading French."""
    root = tmp_path / "course"
    shutil.copytree(REPO / "demo", root, ignore=shutil.ignore_patterns(".grader", "submissions"))
    toml = root / "course.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('language = "es"', 'language = "fr"'), encoding="utf-8")
    return root


def test_a_course_adds_french_with_catalogs_alone(course):
    # Without a catalog, French is refused, and the error says where one goes.
    with pytest.raises(ConfigError, match=r"key 'language'.*no .*locale/fr/LC_MESSAGES/grader\.po"):
        load_course(course)
    i18n.write_catalog(i18n.catalog_path(course, "fr"), french({
        ("pred.duplicate", "{count} id appears more than once ({examples})"):
            ("{count} identifiant apparaît plusieurs fois ({examples})",
             "{count} d'identifiants apparaissent plusieurs fois ({examples})",
             "{count} identifiants apparaissent plusieurs fois ({examples})"),
        ("date.long", "{date} at {time} ({city} time)"): "{date} à {time} (heure de {city})",
        ("pseudonyms", i18n.message_id(i18n.source_catalog().get("Lynx, Otter, Falcon, Heron, Badger, Ibex, Marten, "
                                                                 "Gecko, Puffin, Bison, Koala, Tapir, Okapi, Quokka, "
                                                                 "Stoat, Wren", context="pseudonyms"))):
            "Lynx, Loutre, Faucon",
    }), "French")
    loaded = load_course(course)
    t = i18n.translator(loaded.language, loaded.root)
    assert t("pred.duplicate", count=2, examples="'a'") == "2 identifiants apparaissent plusieurs fois ('a')"
    assert i18n.pseudonym_words("fr", course) == ["Lynx", "Loutre", "Faucon"]
    # Its READMEs: README.md in French once course.po translates the assignment's own prose; until then the
    # render stops, naming the message.
    checked = CliRunner().invoke(app, ["readme", "--check", "--course", str(course)])
    assert checked.exit_code != 0 and "locale/fr/LC_MESSAGES/course.po" in checked.stderr
    assert "'Handwritten digits (demo)'" in checked.stderr
    spanish = i18n.read_catalog(i18n.catalog_path(course, "es", i18n.COURSE))
    prose = i18n.new_catalog("fr", i18n.COURSE)
    for m in spanish:
        if m.id:
            prose.add(m.id, "Chiffres manuscrits (démo)" if m.id == "Handwritten digits (demo)" else "Classez.\n")
    i18n.write_catalog(i18n.catalog_path(course, "fr", i18n.COURSE), prose, "French prose")
    loaded = load_course(course)
    assert readme.languages(loaded, loaded.assignment("digits")) == ["fr", "en", "es"]
    written = {p.name: p for p in readme.write(loaded, ["digits"])}
    assert set(written) == {"README.md", "README.es.md"}  # README.en.md was already what it renders
    text = written["README.md"].read_text(encoding="utf-8")
    assert text.startswith("# Chiffres manuscrits (démo)\n\nClassez.\n")
    assert "15 décembre 2026 à 23:59 (heure de Madrid)" in text  # Babel's French months


def test_a_course_catalog_that_lacks_messages_is_refused_naming_them(course):
    catalog = french()
    for key in ("status.failed", "pred.duplicate"):
        catalog.delete(next(m for m in catalog if m.context == key).id, context=key)
    i18n.write_catalog(i18n.catalog_path(course, "fr"), catalog, "French, two short")
    with pytest.raises(ConfigError, match=r"lacks 2 of \d+ .*: status\.failed, pred\.duplicate, got 'fr'"):
        load_course(course)
    refused = CliRunner().invoke(app, ["readme", "--check", "--course", str(course)])
    assert refused.exit_code != 0 and "status.failed" in refused.stderr


def test_a_new_assignment_that_cannot_be_translated_leaves_the_catalogs_as_they_were(tmp_path):
    course = init_course(tmp_path / "course", "es")
    prose = i18n.catalog_path(course.root, "es", i18n.COURSE)
    before = prose.read_text(encoding="utf-8")
    # French README prose, but no catalog of the grader's messages in French: no README.fr.md can be made.
    i18n.write_catalog(i18n.catalog_path(course.root, "fr", i18n.COURSE), i18n.new_catalog("fr", i18n.COURSE), "fr")
    with pytest.raises(readme.MissingTranslations, match=r"README\.fr\.md: .*course\.po makes fr a language of the "
                                                         r"READMEs, so expected .*locale/fr/LC_MESSAGES/grader\.po"):
        new_assignment(load_course(course.root), "more")
    assert prose.read_text(encoding="utf-8") == before and not (course.root / "assignments" / "more").exists()
