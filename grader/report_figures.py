"""What a student can learn from a graded run, using only what the student may see.

- per-class accuracy and the confusion matrix, on the *public* half of the hidden test set only
  (never a private-half label, never an answer per item: counts per pair of classes);
- where the score sits in the course's distribution (the leaderboard's split), with the baseline
  and the reference, as a plot;
- the run time against the assignment's budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from grader.assess import PREDICTIONS_FILE  # noqa: E402
from grader.course import Assignment, Course  # noqa: E402
from grader.data import layout, read_labels  # noqa: E402
from grader.gradebook import Gradebook  # noqa: E402
from grader.i18n import Translator  # noqa: E402
from grader.leaderboard import board  # noqa: E402
from grader.leaderboard.site import plot_scores, png  # noqa: E402
from grader.runners.base import RunArtifacts  # noqa: E402
from grader.scoring import InvalidPredictions, read_predictions  # noqa: E402

CONFUSION_MAX_CLASSES = 20  # past this a matrix is unreadable: the table lists the weakest classes


@dataclass
class PublicBreakdown:
    classes: list[str]
    per_class: list[tuple[str, float, int]]  # (class, accuracy, items) on the public half
    confusion: np.ndarray  # counts: true class (rows) x predicted class (columns), public half


def public_breakdown(course: Course, a: Assignment, artifacts: str, t: Translator) -> PublicBreakdown | None:
    """Per-class accuracy and confusion on the public half; None for text, without predictions, or without the
    prepared data (not prepared on this machine)."""
    if a.task == "next_character":
        return None
    data = layout(course, a)
    try:
        truth = read_labels(data.labels)
        predictions = read_predictions(RunArtifacts(Path(artifacts)).output_dir / PREDICTIONS_FILE, list(truth),
                                       data.classes, t)
    except (InvalidPredictions, OSError):
        return None
    public = np.array([split == "public" for _, split in truth.values()])
    y = np.array([label for label, _ in truth.values()])[public]
    guess = predictions.labels[public]
    n = len(data.classes)
    confusion = np.zeros((n, n), dtype=int)
    np.add.at(confusion, (y, guess), 1)
    counts = confusion.sum(axis=1)
    per_class = [(name, float(confusion[i, i] / counts[i]), int(counts[i]))
                 for i, name in enumerate(data.classes) if counts[i]]
    return PublicBreakdown(list(data.classes), per_class, confusion)


def confusion_png(b: PublicBreakdown, t: Translator) -> bytes | None:
    n = len(b.classes)
    if n > CONFUSION_MAX_CLASSES:
        return None
    fig, ax = plt.subplots(figsize=(1.2 + 0.45 * n, 1.0 + 0.45 * n))
    ax.imshow(b.confusion, cmap="Blues")
    ax.set_xticks(range(n), b.classes, rotation=45, ha="right")
    ax.set_yticks(range(n), b.classes)
    ax.set_xlabel(t("report.predicted"))
    ax.set_ylabel(t("report.true"))
    top = b.confusion.max() or 1
    for i in range(n):
        for j in range(n):
            if b.confusion[i, j]:
                ax.text(j, i, str(b.confusion[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if b.confusion[i, j] > top / 2 else "black")
    return png(fig)


def standing_png(course: Course, a: Assignment, student: str, t: Translator,
                 split: str | None = None) -> bytes | None:
    """The course's distribution on the leaderboard's split (or `split`), this student's entry marked."""
    with Gradebook(course.gradebook_path) as book:
        b = board(course, book, a.name, split=split)
    if not b.entries:
        return None
    mine = next((e.score for e in b.entries if e.student == student), None)
    return plot_scores(b, t, you=mine)
