"""Student READMEs rendered from assignment.toml and course.toml: one source for every fact students read.

An assignment keeps only its own prose (what to build, hints on its data) in one `README.md.j2`
beside its assignment.toml, for every language. It extends the shared template
(grader/templates/readme/student.md.j2), which writes every fact from the configuration: deadline,
limits, grade scale, group and late rules, the injected parameters, the data layout, the classes
exactly as in classes.txt, the predictions contract, the sandbox and the checks.

Both are translated with Jinja's i18n extension: their text is English msgids, in `{% trans %}`
blocks. The shared template's messages are the grader's catalogs' (grader.i18n); an assignment's
prose is translated by a catalog of its course, `<course>/locale/<lang>/LC_MESSAGES/course.po`,
merged over the grader's. One template and a catalog per language, rather than a template per
language: a course adds a language by adding catalogs, and a translation can never miss a fact,
which only the shared template states. README.md is rendered in the course language,
README.<lang>.md in English (the templates' own language) and in each other language the course
has a course.po for. A message with no translation there stops the render, naming it: a README is
never half in another language. `grader new assignment` writes the template and its intro's
translations (grader.scaffold). `grader readme` writes the READMEs; `grader readme --check` (and
the tests) fail on any README that disagrees with its render. An assignment without a template
keeps a hand-written README, which is left alone.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path

import jinja2

from babel.messages.catalog import Message
from babel.messages.extract import extract

from grader import i18n
from grader.course import Assignment, Course
from grader.data import source_facts
from grader.envs import requirements
from grader.metrics import METRICS
from grader.wheel import wheel_name

SHARED_TEMPLATES = Path(__file__).parent / "templates" / "readme"
TEMPLATE = "README.md.j2"  # an assignment's own
# How the README templates are read; Babel's extraction reads them alike, or their msgids would differ.
OPTIONS = {"keep_trailing_newline": True, "trim_blocks": True, "lstrip_blocks": True}
# What a notebook's parameters cell holds when it runs outside the grader (the kit's folders, no GPU);
# the grader injects the real values. The starters declare exactly these (tests/test_readmes.py).
LOCAL_PARAMETERS = {"data_dir": "data", "test_dir": "test", "output_dir": ".", "device": "cpu"}


def readme_path(course: Course, a: Assignment, language: str) -> Path:
    return a.path / ("README.md" if language == course.language else f"README.{language}.md")


def _number(value: float) -> str:
    return f"{round(value, 6):g}"


def _assign(name: str, value: object, width: int = 25) -> str:
    """One line of the parameters cell, padded so that the comments line up."""
    shown = json.dumps(value) if isinstance(value, str) else repr(value)  # "data", as Python code is written
    return f"{name} = {shown}".ljust(width)


def parameters(a: Assignment) -> dict[str, object]:
    """The parameters cell of a notebook of this assignment, as students should write it."""
    return {**LOCAL_PARAMETERS, "seed": a.seed, "smoke": False, "time_budget_s": int(a.time_limit_s)}


def facts(course: Course, a: Assignment) -> dict:
    """Everything a README states, from the configuration and a generic source's files (nothing is prepared)."""
    source = source_facts(course, a)
    classes = list(source.classes or ())
    groups = [g for g in course.policy.groups if a.name in g.assignments and len(g.assignments) > 1]
    anchor = {"baseline": a.baseline_notebook, "reference": a.reference_notebook}.get(a.relative_to)
    metric = METRICS[a.primary_metric]
    return {
        "a": a, "name": a.name,
        "minutes": round(a.time_limit_s / 60), "cell_minutes": round(a.cell_timeout_s / 60),
        "gpu": a.resources.gpu, "memory_gb": _number(a.resources.memory_mb / 1024),
        "output_mb": a.resources.output_mb, "tmp_mb": a.resources.tmp_mb,
        "metric": a.primary_metric, "lower_is_better": metric.lower_is_better,
        "share": metric.is_share,  # a difference of 0.1 reads as "10 points"
        "titles": {name: m.title for name, m in METRICS.items()},  # msgids of the metrics' names
        "scale": sorted(a.scale.points), "relative_to": a.relative_to,
        "anchor_is_starter": anchor is not None and anchor.resolve() == (a.path / "starter.ipynb").resolve(),
        "group": groups[0] if groups else None,
        "rounding": course.policy.rounding, "counts": course.policy.counts, "missing": course.policy.missing,
        "late": a.late or course.policy.late,
        "parameters": parameters(a),
        "form": source.form if a.task != "next_character" else "text",
        "shape": source.shape, "layout": a.layout, "features": list(source.columns), "label_column": a.label,
        "classes": classes, "n_classes": len(classes) or None,
        "validation_pct": _number(100 * a.validation_fraction),
        "train_pct": _number(100 * (1 - a.validation_fraction)),
        "test_pct": _number(100 * a.test_fraction), "hidden_private": a.hidden_from is not None,
        "context": a.context,
        "probabilities_required": metric.needs_probabilities,
        "probability_metrics": [m for m in a.metrics if METRICS[m].needs_probabilities],
        "screening": a.screening,
        "kit_url": course.kit_address(a.name),
        "serve_url": course.serve.url, "daily_limit": a.daily_limit or course.serve.daily_limit,
        "zone_city": i18n.city(course.timezone, course.language),
        # The kit's own install: the grader that made it, and what the notebooks run with.
        "wheel": wheel_name(), "packages": list(requirements(course, a)),
    }


class MissingTranslations(jinja2.TemplateError):
    """A README's messages that its language's catalogs do not translate."""


def _environment(a: Assignment, found: i18n.Catalogs, lacking: list[str]) -> jinja2.Environment:
    """The templates, translated by `found`; a message it lacks (outside the source language) goes to `lacking`."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([a.path, SHARED_TEMPLATES]), undefined=jinja2.StrictUndefined,
                             autoescape=False, extensions=["jinja2.ext.i18n"], **OPTIONS)
    env.filters.update(num=_number, assign=_assign)
    tr = found.translations

    def known(context: str | None, msgid: str) -> None:
        if found.language != i18n.SOURCE and (context, msgid) not in found.translated:
            lacking.append(msgid if context is None else f"{msgid} (msgctxt {context!r})")

    def gettext(msgid: str) -> str:
        known(None, msgid)
        return tr.gettext(msgid)

    def ngettext(singular: str, plural: str, n: int) -> str:
        known(None, singular)
        return tr.ngettext(singular, plural, n)

    def pgettext(context: str, msgid: str) -> str:
        known(context, msgid)
        return tr.pgettext(context, msgid)

    def npgettext(context: str, singular: str, plural: str, n: int) -> str:
        known(context, singular)
        return tr.npgettext(context, singular, plural, n)

    env.install_gettext_callables(gettext, ngettext, newstyle=False, pgettext=pgettext, npgettext=npgettext)
    return env


def messages(template: Path) -> list[Message]:
    """The messages a template translates (msgid and msgctxt, as Babel extracts them): what its catalogs must hold."""
    options = {key: str(value) for key, value in OPTIONS.items()} | {"extensions": "jinja2.ext.i18n"}
    with Path(template).open("rb") as f:
        return [Message(msgid, context=context)
                for _, msgid, _, context in extract("jinja2.ext:babel_extract", f, options=options)]


def languages(course: Course, a: Assignment) -> list[str]:
    """The languages this assignment's README is rendered in (none without a template): the course's, English
    (its template's) and each language the course has README prose for (course.po)."""
    if not (a.path / TEMPLATE).is_file():
        return []
    return list(dict.fromkeys([course.language, i18n.SOURCE, *i18n.languages(course.root, i18n.COURSE)]))


def render(course: Course, a: Assignment, language: str) -> str:
    context = facts(course, a)
    context["deadline_text"] = (i18n.long_date(a.deadline, language, course.timezone, course.root)
                                if a.deadline else None)
    prose = i18n.catalog_path(course.root, language, i18n.COURSE)
    try:
        i18n.check_language(language, course.root)
    except i18n.LanguageError as exc:
        raise MissingTranslations(f"{readme_path(course, a, language)}: {prose} makes {language} a language of the "
                                  f"READMEs, so expected {exc}") from None
    lacking: list[str] = []
    text = _environment(a, i18n.catalogs(language, course.root), lacking).get_template(TEMPLATE).render(context)
    if lacking:
        lacking = list(dict.fromkeys(lacking))
        shown = "; ".join(repr(m if len(m) <= 70 else m[:67] + "...") for m in lacking[:i18n.SHOWN])
        more = f" and {len(lacking) - i18n.SHOWN} more" if len(lacking) > i18n.SHOWN else ""
        raise MissingTranslations(f"{readme_path(course, a, language)}: {len(lacking)} message(s) of its template "
                                  f"have no translation in {prose}: {shown}{more}")
    return text


def rendered(course: Course, a: Assignment) -> dict[Path, str]:
    """README path -> its text, in every language the assignment is rendered in."""
    return {readme_path(course, a, lang): render(course, a, lang) for lang in languages(course, a)}


@dataclass(frozen=True)
class Stale:
    path: Path
    diff: str  # unified diff from the file to its render

    def __str__(self) -> str:
        return f"{self.path}: disagrees with its assignment (run `grader readme`)\n{self.diff}"


def stale(course: Course, names: list[str]) -> list[Stale]:
    """The READMEs whose text is not what their templates render from the configuration."""
    found = []
    for name in names:
        for path, text in rendered(course, course.assignment(name)).items():
            current = path.read_text(encoding="utf-8") if path.is_file() else ""
            if current != text:
                diff = "".join(difflib.unified_diff(current.splitlines(keepends=True), text.splitlines(keepends=True),
                                                    str(path), "rendered", n=1))
                found.append(Stale(path, diff))
    return found


def write(course: Course, names: list[str]) -> list[Path]:
    """Render the READMEs of these assignments; returns those whose text changed."""
    changed = []
    for name in names:
        for path, text in rendered(course, course.assignment(name)).items():
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
                changed.append(path)
    return changed
