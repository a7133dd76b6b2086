"""Turn a finished run into an assessment: predictions scored, the grade applied, one message.

Shared by `grader run` (hidden test labels) and `grader check` (public validation labels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from grader.course import Assignment
from grader.data import read_labels
from grader.i18n import Translator
from grader.runners.base import INVALID_PREDICTIONS, OK, RunResult
from grader.scoring import InvalidPredictions, read_predictions, score

PREDICTIONS_FILE = "predictions.csv"


@dataclass
class Assessment:
    status: str
    message: str = ""
    scores: dict[str, dict[str, float | None]] = field(default_factory=dict)
    primary_score: float | None = None
    grade: float | None = None


def assess(result: RunResult, assignment: Assignment, labels_path: Path, classes: list[str],
           t: Translator) -> Assessment:
    if result.status != OK:
        return Assessment(result.status, result.message(t))
    truth = read_labels(labels_path)
    try:
        predictions = read_predictions(result.output_dir / PREDICTIONS_FILE, list(truth), classes, t)
    except InvalidPredictions as exc:
        return Assessment(INVALID_PREDICTIONS, f"{PREDICTIONS_FILE}: " + "; ".join(exc.faults))
    scores = score(predictions, truth, assignment.metrics)
    primary = scores["all"][assignment.primary_metric]
    return Assessment(OK, "", scores, primary, assignment.scale.grade(primary))
