"""The metrics, each one registered object: its name, function, direction, range, the names notebooks
print it by, and the words students read.

Everything that depends on a metric reads it from here: the names assignment.toml may write
(grader.schema), scoring (grader.scoring), the claims read from a notebook's outputs
(grader.audit.claims), leaderboard order, READMEs and the doctor's range checks. A metric is added by
registering its function, as papermill registers its engines by name:

    @register("accuracy", "accuracy", claims=r"val_accuracy|accuracy|acc")
    def accuracy(y, pred, rows): ...

This module imports neither grader.course nor grader.schema: the schema reads it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    from grader.scoring import Predictions

# (true labels, predictions, the rows scored) -> the metric on those rows.
Function = Callable[[np.ndarray, "Predictions", np.ndarray], float]
SHARE = (0.0, 1.0)
LOSS = (0.0, math.inf)


@dataclass(frozen=True)
class Metric:
    name: str  # as assignment.toml's [metrics] writes it
    function: Function
    # Its name as students read it, a msgid: READMEs show its translation (e.g. "macro F1", "F1 macro").
    title: str
    range: tuple[float, float]  # what it can be, low to high
    # Its names as notebooks print them, Spanish included (grader.audit.claims): regex alternatives, the
    # longest first so that "val_accuracy" is not read as "acc".
    claims: str
    lower_is_better: bool = False
    # It needs the p_<class> columns: without them it has no value, and as the primary metric it requires them.
    needs_probabilities: bool = False

    @property
    def is_share(self) -> bool:
        """A value from 0 to 1: a difference of 0.1 reads as 10 points, and people print 0.98 as 98 % too."""
        return self.range == SHARE

    @property
    def best(self) -> float:
        """What a perfect prediction scores: the end of the range that is better."""
        return self.range[0] if self.lower_is_better else self.range[1]

    def value(self, y: np.ndarray, pred: Predictions, rows: np.ndarray) -> float | None:
        """The metric on `rows`; None when it needs probabilities and the predictions have none."""
        if self.needs_probabilities and pred.probabilities is None:
            return None
        return self.function(y, pred, rows)


METRICS: dict[str, Metric] = {}  # by name, in the order registered (the order the schema lists them)


def register(name: str, title: str, *, claims: str, range: tuple[float, float] = SHARE,
             lower_is_better: bool = False, needs_probabilities: bool = False) -> Callable[[Function], Function]:
    """Register the decorated function as the metric `name`."""
    def add(function: Function) -> Function:
        if name in METRICS:
            raise ValueError(f"the metric '{name}' is registered twice")
        METRICS[name] = Metric(name, function, title, range, claims, lower_is_better, needs_probabilities)
        return function
    return add


@register("accuracy", "accuracy",
          claims=r"val_accuracy|val_acc|accuracy|exactitud|precisi[oó]n|acierto|acc")
def accuracy(y: np.ndarray, pred: Predictions, rows: np.ndarray) -> float:
    return float(np.mean(pred.labels[rows] == y[rows]))


@register("macro_f1", "macro F1", claims=r"macro[-_ ]?f1|f1[-_ ]?macro|f1")
def macro_f1(y: np.ndarray, pred: Predictions, rows: np.ndarray) -> float:
    truth, guess = y[rows], pred.labels[rows]
    scores = []
    for c in np.union1d(truth, guess):
        tp = np.sum((guess == c) & (truth == c))
        fp = np.sum((guess == c) & (truth != c))
        fn = np.sum((guess != c) & (truth == c))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


@register("log_loss", "log-loss", claims=r"log[-_ ]?loss|cross[-_ ]?entropy|entrop[ií]a cruzada", range=LOSS,
          lower_is_better=True, needs_probabilities=True)
def log_loss(y: np.ndarray, pred: Predictions, rows: np.ndarray) -> float:
    p = np.clip(pred.probabilities[rows, y[rows]], 1e-15, 1.0)
    return float(-np.mean(np.log(p)))


def top_k(k: int) -> Function:
    def metric(y: np.ndarray, pred: Predictions, rows: np.ndarray) -> float:
        # The predicted label always counts as the first guess; probabilities rank the rest.
        ranked = np.argsort(-pred.probabilities[rows], axis=1, kind="stable")[:, :k]
        hit = (ranked == y[rows, None]).any(axis=1) | (pred.labels[rows] == y[rows])
        return float(np.mean(hit))
    return metric


register("top3", "top-3", claims=r"top[-_ ]?3(?:[-_ ]?acc(?:uracy)?)?", needs_probabilities=True)(top_k(3))
register("top5", "top-5", claims=r"top[-_ ]?5(?:[-_ ]?acc(?:uracy)?)?", needs_probabilities=True)(top_k(5))


@register("bits_per_char", "bits per character", claims=r"bits[-_ /]?per[-_ ]?char(?:acter)?|bits/char|bpc",
          range=LOSS, lower_is_better=True, needs_probabilities=True)
def bits_per_char(y: np.ndarray, pred: Predictions, rows: np.ndarray) -> float:
    return log_loss(y, pred, rows) / math.log(2)
