"""Turn a finished run into an assessment: predictions scored, the grade applied, one message.

Shared by `grader run` (hidden test labels), `grader check` (public validation labels) and
`grader reference run`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from grader.course import Assignment
from grader.data import read_labels
from grader.data.public_hidden import read_canaries
from grader.i18n import Translator
from grader.hints import predictions_hints, run_hint, with_hints
from grader.runners.base import FAILED, INVALID_PREDICTIONS, OK, SHOWN_EVALUE_CHARS, RunResult
from grader.metrics import METRICS
from grader.text import plain_text
from grader.scoring import InvalidPredictions, canary_counts, read_bytes_no_symlink, read_predictions, score

PREDICTIONS_FILE = "predictions.csv"
# A text-generation notebook also writes what its model generates; the gradebook keeps the start.
SAMPLE_FILE = "sample.txt"
SAMPLE_KEPT_CHARS = 2000


@dataclass
class Assessment:
    status: str
    message: str = ""
    scores: dict[str, dict[str, float | None]] = field(default_factory=dict)
    primary_score: float | None = None
    grade: float | None = None
    sample: str | None = None
    canaries: dict[str, list[int]] | None = None  # scoring.canary_counts: for the audit's `lookup` flag


def assess(result: RunResult, assignment: Assignment, labels_path: Path, classes: list[str],
           t: Translator, anchor: float | None = None, declared: tuple[str, ...] | None = None) -> Assessment:
    """`anchor`: the baseline or reference score a relative grade scale subtracts; `declared`: what the
    course's environment offers (grader.envs.requirements), None when the course declares none."""
    if result.status != OK:
        # On the text the message quotes, cut as it is (the rest is the notebook's, and stays the instructor's).
        shown = plain_text(result.evalue, SHOWN_EVALUE_CHARS)
        hint = (run_hint(result.ename, shown, t, result.environment.get("packages"), assignment.resources, declared)
                if result.status == FAILED else "")
        return Assessment(result.status, with_hints(result.message(t), [hint], t))
    truth = read_labels(labels_path)
    try:
        predictions = read_predictions(result.output_dir / PREDICTIONS_FILE, list(truth), classes, t,
                                       need_probabilities=METRICS[assignment.primary_metric].needs_probabilities)
        sample = _sample(result.output_dir / SAMPLE_FILE, t) if assignment.task == "next_character" else None
    except InvalidPredictions as exc:
        hints = predictions_hints(exc.kinds, exc.header, exc.unknown_ids, classes, t)
        return Assessment(INVALID_PREDICTIONS, with_hints(f"{exc.path.name}: " + "; ".join(exc.faults), hints, t))
    scores = score(predictions, truth, assignment.metrics)
    primary = scores["all"][assignment.primary_metric]
    if assignment.relative_to == "none":
        grade = assignment.scale.grade(primary)
    else:  # no anchor measured yet: no grade rather than a wrong one
        grade = None if primary is None or anchor is None else assignment.scale.grade(primary - anchor)
    warning = t("pred.renormalised", count=predictions.renormalised) if predictions.renormalised else ""
    return Assessment(OK, warning, scores, primary, grade, sample, canary_counts(predictions, truth,
                                                                                read_canaries(labels_path)))


def _sample(path: Path, t: Translator) -> str:
    data = read_bytes_no_symlink(path, 1 << 20, t)
    return data.decode("utf-8", errors="replace")[:SAMPLE_KEPT_CHARS]
