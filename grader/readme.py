"""Student READMEs rendered from assignment.toml and course.toml: one source for every fact students read.

An assignment keeps only its own prose (what to build, hints on its data) in `README.<lang>.md.j2`
beside its assignment.toml. Each extends the shared template of its language
(grader/templates/readme/), which writes every fact from the configuration: deadline, limits, grade
scale, group and late rules, the injected parameters, the data layout, the classes exactly as in
classes.txt, the predictions contract, the sandbox and the checks. README.md is rendered in the
course language, README.<lang>.md in each other language with a template. `grader readme` writes
them; `grader readme --check` (and the tests) fail on any README that disagrees with its render.
An assignment without templates keeps a hand-written README, which is left alone.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path

import jinja2

from grader.course import LANGUAGES, Assignment, Course
from grader.data import source_facts
from grader.envs import requirements
from grader.i18n import long_date
from grader.scoring import LOWER_IS_BETTER, NEEDS_PROBABILITIES
from grader.wheel import wheel_name

SHARED_TEMPLATES = Path(__file__).parent / "templates" / "readme"
# What a notebook's parameters cell holds when it runs outside the grader (the kit's folders, no GPU);
# the grader injects the real values. The starters declare exactly these (tests/test_readmes.py).
LOCAL_PARAMETERS = {"data_dir": "data", "test_dir": "test", "output_dir": ".", "device": "cpu"}
# Metrics whose values are shares, so that a difference of 0.1 reads as "10 points".
SHARES = {"accuracy", "macro_f1", "top3", "top5"}


def template_name(language: str) -> str:
    return f"README.{language}.md.j2"


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
    return {
        "a": a, "name": a.name,
        "minutes": round(a.time_limit_s / 60), "cell_minutes": round(a.cell_timeout_s / 60),
        "gpu": a.resources.gpu, "memory_gb": _number(a.resources.memory_mb / 1024),
        "output_mb": a.resources.output_mb, "tmp_mb": a.resources.tmp_mb,
        "metric": a.primary_metric, "lower_is_better": a.primary_metric in LOWER_IS_BETTER,
        "share": a.primary_metric in SHARES,
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
        "probabilities_required": a.primary_metric in NEEDS_PROBABILITIES,
        "probability_metrics": [m for m in a.metrics if m in NEEDS_PROBABILITIES],
        "screening": a.screening,
        "kit_url": course.kit_address(a.name),
        # The kit's own install: the grader that made it, and what the notebooks run with.
        "wheel": wheel_name(), "packages": list(requirements(course, a)),
    }


def _environment(a: Assignment) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([a.path, SHARED_TEMPLATES]), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False)
    env.filters.update(num=_number, assign=_assign)
    return env


def languages(a: Assignment) -> list[str]:
    """The languages this assignment has a README template in."""
    return [lang for lang in LANGUAGES if (a.path / template_name(lang)).is_file()]


def render(course: Course, a: Assignment, language: str) -> str:
    context = facts(course, a)
    context["deadline_text"] = long_date(a.deadline, language, course.timezone) if a.deadline else None
    return _environment(a).get_template(template_name(language)).render(context)


def rendered(course: Course, a: Assignment) -> dict[Path, str]:
    """README path -> its text, for every language the assignment has a template in."""
    return {readme_path(course, a, lang): render(course, a, lang) for lang in languages(a)}


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
