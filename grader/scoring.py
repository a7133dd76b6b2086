"""Read a notebook's predictions.csv strictly and score it against the hidden labels with the metrics of
grader.metrics.

Every fault is collected (not only the first), so a student sees all that is wrong at once.
"""

from __future__ import annotations

import csv
import io
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from grader.i18n import Translator
from grader.metrics import METRICS
from grader.text import plain_text

MAX_PREDICTIONS_BYTES = 256 * 1024 * 1024
EXTRA_ROWS = 1000  # rows past one per test id that are still read (and named as faults) before reading stops
EXAMPLES_SHOWN = 5
EXAMPLE_CHARS = 40  # of one faulty id or label, quoted in the feedback
HEADER_CHARS = 200  # of a wrong header line, quoted in the feedback


class InvalidPredictions(ValueError):
    """The faults in words, and for hints (grader.hints) their message keys, the header and unknown ids."""

    def __init__(self, path: Path, faults: list[str], kinds: tuple[str, ...] = (), header: str = "",
                 unknown_ids: tuple[str, ...] = ()):
        self.path, self.faults = path, faults
        self.kinds, self.header, self.unknown_ids = kinds, header, unknown_ids
        super().__init__(f"{path.name}: " + "; ".join(faults))


@dataclass
class Predictions:
    ids: list[str]
    labels: np.ndarray  # class indices, aligned with ids
    probabilities: np.ndarray | None  # (n, n_classes), rows sum to 1
    renormalised: int = 0  # rows whose sum was off by their rounding only, scaled to 1


def read_bytes_no_symlink(path: Path, limit: int, t: Translator) -> bytes:
    """Read a file the notebook wrote without following a symlink it may have planted."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise InvalidPredictions(path, [t("pred.missing", name=path.name)]) from None
    if stat.S_ISLNK(info.st_mode):
        raise InvalidPredictions(path, [t("pred.symlink", name=path.name)])
    if not stat.S_ISREG(info.st_mode):
        raise InvalidPredictions(path, [t("pred.not_file", name=path.name)])
    if info.st_size > limit:
        raise InvalidPredictions(path, [t("pred.too_big", name=path.name, mb=f"{limit / 2**20:.1f}")])
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as fh:
        return fh.read(limit + 1)


def _examples(items: list) -> str:
    """A few of the faulty items, each cut short: the text is the notebook's, and feedback must not carry much
    of it out (`grader serve` shows it during the window)."""
    shown = ", ".join(repr(plain_text(i, EXAMPLE_CHARS)) if isinstance(i, str) else repr(i)
                      for i in items[:EXAMPLES_SHOWN])
    return shown + (f", ... ({len(items)})" if len(items) > EXAMPLES_SHOWN else "")


# Rows of probabilities written with fixed decimals ("%.4f") sum to 1 only within what rounding each
# value explains: half a unit of the last digit per class (65 classes at "%.4f": 0.00325). Within
# that bound the intent is plain, so the row is scaled to 1 and counted in a warning; past it, or
# for values written in full, a sum off by more than EXACT_TOLERANCE is an error.
EXACT_TOLERANCE = 1e-3


def predictions_budget(n_ids: int, n_classes: int) -> int:
    """The most bytes a predictions.csv of these ids and classes may take: room for an id, a label and a
    probability per class written in full on each row, twice over; at least 1 MB, at most MAX_PREDICTIONS_BYTES.
    Sized from the test set: a file of millions of blank or stray lines costs the scorer (and every report that
    reads it again) memory and time out of proportion to its bytes."""
    return min(MAX_PREDICTIONS_BYTES, max(1 << 20, 2 * n_ids * (64 + 32 * n_classes)))


def _rows(text: str, path: Path, t: Translator) -> Iterator[list[str]]:
    """The file's rows that hold anything, read one at a time (never all of them at once)."""
    try:
        for row in csv.reader(io.StringIO(text, newline="")):  # newline="" accepts CRLF and LF
            if any(cell.strip() for cell in row):
                yield row
    except csv.Error as exc:  # a field past the csv module's limit, a NUL byte: the notebook's fault, not ours
        raise InvalidPredictions(path, [t("pred.csv", detail=str(exc))]) from None


def read_predictions(path: Path, expected_ids: list[str], classes: list[str], t: Translator,
                     need_probabilities: bool = False) -> Predictions:
    data = read_bytes_no_symlink(path, predictions_budget(len(expected_ids), len(classes)), t)
    try:
        text = data.decode("utf-8-sig")  # Excel and Windows tools write a BOM
    except UnicodeDecodeError as exc:
        raise InvalidPredictions(path, [t("pred.encoding", detail=str(exc))]) from None
    rows = _rows(text, path, t)
    first = next(rows, None)
    if first is None:
        raise InvalidPredictions(path, [t("pred.empty")])
    header = [h.strip() for h in first]
    if "id" not in header or "label" not in header:
        shown = plain_text(",".join(header), HEADER_CHARS)
        raise InvalidPredictions(path, [t("pred.header", header=shown)], ("pred.header",), shown)
    id_col, label_col = header.index("id"), header.index("label")
    prob_cols = _probability_columns(header, classes, path, t)
    if need_probabilities and prob_cols is None:
        raise InvalidPredictions(path, [t("pred.prob_needed", first=f"p_{classes[0]}", last=f"p_{classes[-1]}")])

    faults: list[str] = []
    kinds: list[str] = []
    class_index = {name: i for i, name in enumerate(classes)}
    seen: dict[str, int] = {}
    duplicates, unknown_ids, unknown_labels, nan_labels, short_rows, bad_probs = [], [], [], [], [], []
    logits, renormalised = 0, 0
    labels = np.full(len(expected_ids), -1, dtype=np.int64)
    probs = np.zeros((len(expected_ids), len(classes))) if prob_cols else None
    position = {pid: i for i, pid in enumerate(expected_ids)}
    too_many = False
    for line, row in enumerate(rows, start=2):
        if line > len(expected_ids) + EXTRA_ROWS + 1:
            too_many = True
            break
        if len(row) != len(header):
            short_rows.append(line)
            continue
        pid, raw_label = row[id_col].strip(), row[label_col].strip()
        if pid in seen:
            duplicates.append(pid)
            continue
        seen[pid] = line
        if pid not in position:
            unknown_ids.append(pid)
            continue
        label = _parse_label(raw_label, class_index, len(classes))
        if label is None:
            if raw_label.lower() in ("", "nan", "na", "none", "null"):
                nan_labels.append(line)
            else:
                unknown_labels.append(f"{line}:{raw_label}")
            continue
        labels[position[pid]] = label
        if prob_cols:
            values, fault = _parse_probabilities(row, prob_cols)
            if values is None:
                bad_probs.append(line)
                logits += fault == "logits"
            else:
                probs[position[pid]] = values
                renormalised += fault == "rounded"
    missing = [pid for pid in expected_ids if pid not in seen]
    for items, key in ((short_rows, "pred.columns"), (duplicates, "pred.duplicate"),
                       (unknown_ids, "pred.extra"), (missing, "pred.missing_ids"),
                       (nan_labels, "pred.nan"), (unknown_labels, "pred.unknown_label"),
                       (bad_probs, "pred.bad_probs")):
        if items:
            faults.append(t(key, count=len(items), examples=_examples(items), n_classes=len(classes)))
            kinds.append(key)
    if logits:
        faults.append(t("pred.logits", count=logits))
        kinds.append("pred.logits")
    if too_many:
        faults.append(t("pred.too_many_rows", count=len(expected_ids)))
        kinds.append("pred.too_many_rows")
    if faults:
        raise InvalidPredictions(path, faults, tuple(kinds), ",".join(header), tuple(unknown_ids[:50]))
    return Predictions(list(expected_ids), labels, probs, renormalised)


def _parse_label(raw: str, class_index: dict[str, int], n_classes: int) -> int | None:
    if raw in class_index:
        return class_index[raw]
    try:
        value = float(raw)
    except ValueError:
        return None
    if math.isnan(value) or not value.is_integer() or not 0 <= value < n_classes:
        return None
    return int(value)


def _probability_columns(header: list[str], classes: list[str], path: Path, t: Translator) -> list[int] | None:
    """Column positions of p_<class> (class name or index) for every class, or None if absent."""
    named = {h[2:]: i for i, h in enumerate(header) if h.startswith("p_")}
    if not named:
        return None
    columns = []
    for index, name in enumerate(classes):
        column = named.get(name, named.get(str(index)))
        if column is None:
            raise InvalidPredictions(path, [t("pred.prob_columns", missing=f"p_{name}")])
        columns.append(column)
    return columns


def _parse_probabilities(row: list[str], columns: list[int]) -> tuple[np.ndarray | None, str]:
    """(the row's probabilities summing to 1, or None) and what was off: "", "rounded", "logits" or "bad"."""
    try:
        values = np.array([float(row[c]) for c in columns])
    except ValueError:
        return None, "bad"
    if not np.all(np.isfinite(values)):
        return None, "bad"
    off = abs(values.sum() - 1)
    if np.any(values < 0) or off > max(EXACT_TOLERANCE, _rounding_bound([row[c] for c in columns])):
        # Scores of a network's last layer: negative, or summing to anything. Exponentials they need.
        return None, "logits" if np.any(values < 0) or np.any(values > 1) else "bad"
    return values / values.sum(), "rounded" if off > EXACT_TOLERANCE else ""


def _rounding_bound(cells: list[str]) -> float:
    """How far from 1 a row's sum can be from rounding alone, given the decimals it was written with."""
    cells = [c.strip().lower() for c in cells]
    if any("e" in c for c in cells):  # scientific notation keeps significant digits: no fixed rounding
        return 0.0
    decimals = max((len(c.split(".", 1)[1]) for c in cells if "." in c), default=0)
    return 0.0 if decimals == 0 else len(cells) * 0.5 * 10.0 ** -decimals


SPLITS = ("public", "private", "all")


def canary_counts(pred: Predictions, truth: dict[str, tuple[int, str]],
                  canaries: set[str]) -> dict[str, list[int]] | None:
    """[correct labels, items] on the canaries of a public hidden set and on its other items; None without canaries."""
    if not canaries:
        return None
    correct = pred.labels == np.array([truth[pid][0] for pid in pred.ids])
    canary = np.array([pid in canaries for pid in pred.ids])
    return {"items": [int(correct[~canary].sum()), int((~canary).sum())],
            "canaries": [int(correct[canary].sum()), int(canary.sum())]}


def score(pred: Predictions, truth: dict[str, tuple[int, str]], metrics: tuple[str, ...]) -> dict[str, dict[str, float | None]]:
    """Metrics on the public and private parts of the hidden test set, and on all of it."""
    y = np.array([truth[pid][0] for pid in pred.ids])
    split = np.array([truth[pid][1] for pid in pred.ids])
    result: dict[str, dict[str, float | None]] = {}
    for name in SPLITS:
        rows = np.flatnonzero(split == name) if name != "all" else np.arange(len(y))
        if len(rows) == 0:
            continue
        result[name] = {m: METRICS[m].value(y, pred, rows) for m in metrics}
    return result
