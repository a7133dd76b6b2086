"""What the student's own run claims: the metrics printed in the outputs of the uploaded notebook.

The course asks for the executed notebook, "where the results that come out when it runs can be
seen". Its outputs are the student's evidence; the grader's re-run is its own. Metrics are
printed in many forms, all read here:

    Test accuracy: 98.1 %      acc=0.981      precisión 0,98      val_accuracy: 0.9800
    a pandas or Keras table whose header names the metric, numbers below it
    bits per char 1.93         bpc: 1.93      log loss 0.41

A claim remembers its label (test, validation, training or none): training claims never count
as the result, validation claims are what the test score is compared with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import nbformat

from grader.metrics import METRICS

NUMBER = r"(\d+(?:[.,]\d+)?)\s*(%)?"
LABELS = (("train", r"train|entrenamiento|training"), ("validation", r"val|valid|validation|validaci[oó]n"),
          ("test", r"test|prueba"))


@dataclass(frozen=True)
class Claim:
    metric: str
    value: float
    label: str  # test | validation | train | "" (not said)
    text: str  # the line it came from, for the instructor


def _label(context: str, name: str) -> str:
    text = (context + " " + name).lower()
    for label, pattern in LABELS:
        if re.search(rf"(?<![a-z])(?:{pattern})(?![a-z])", text):  # whole words: "value" is no validation
            return label
    return ""


def _value(metric: str, number: str, percent: str | None) -> float | None:
    value = float(number.replace(",", "."))
    if METRICS[metric].is_share:  # printed as 0.98 or as 98 %
        if percent or value > 1:
            value /= 100
        if not 0 <= value <= 1:
            return None
    return value


def output_text(nb: nbformat.NotebookNode) -> list[str]:
    """The text of every output of every code cell, as the student saw it."""
    texts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if output.get("output_type") == "stream":
                texts.append("".join(output.get("text", "")))
            elif output.get("output_type") in ("execute_result", "display_data"):
                data = output.get("data", {})
                text = data.get("text/plain", "")
                texts.append("".join(text) if isinstance(text, list) else str(text))
    return texts


def executed(nb: nbformat.NotebookNode) -> bool:
    """Whether the student ran it: some code cell has outputs or an execution count."""
    return any(c.get("cell_type") == "code" and (c.get("outputs") or c.get("execution_count"))
               for c in nb.cells)


def claims(nb: nbformat.NotebookNode, metric: str) -> list[Claim]:
    """Every value of `metric` the outputs print, in order."""
    names = METRICS[metric].claims  # its names as people print them
    inline = re.compile(rf"(?i)(?P<before>[\w .-]{{0,24}}?)(?P<name>(?<![a-z])(?:{names}))(?![a-z])"
                        rf"(?P<between>[^\d\n%]{{0,24}}?)[:=]?\s*{NUMBER}")
    found: list[Claim] = []
    for text in output_text(nb):
        lines = text.splitlines()
        for i, line in enumerate(lines):
            for match in inline.finditer(line):
                value = _value(metric, match.group(4), match.group(5))
                if value is None:
                    continue
                label = _label(match.group("before") + " " + match.group("between"), match.group("name"))
                if not label and "val_" in line.lower():  # Keras: the unprefixed metric is the training one
                    label = "train"
                found.append(Claim(metric, value, label, line.strip()[:200]))
            found += _table_column(metric, names, line, lines[i + 1:i + 200])
    return found


def _table_column(metric: str, names: str, header: str, rows: list[str]) -> list[Claim]:
    """A header line naming the metric (pandas, Keras history), and the numbers under it."""
    columns = header.split()
    at = [j for j, c in enumerate(columns) if re.fullmatch(rf"(?i)(?:{names})", c.strip("|"))]
    if not at or len(columns) < 2 or re.search(r"\d", header):
        return []
    found = []
    for row in rows:
        cells = row.split()
        if len(cells) not in (len(columns), len(columns) + 1):  # pandas puts the index first
            break
        shift = len(cells) - len(columns)
        for j in at:
            cell = cells[j + shift].strip("|")
            if re.fullmatch(NUMBER.replace(r"\s*", ""), cell):
                number = re.fullmatch(NUMBER.replace(r"\s*", ""), cell)
                value = _value(metric, number.group(1), number.group(2))
                if value is not None:
                    found.append(Claim(metric, value, _label(" ".join(cells[:shift + 1]), columns[j]),
                                       f"{header.strip()} | {row.strip()}"[:200]))
    return found


def best(found: list[Claim], lower_is_better: bool, label: str | None = None) -> Claim | None:
    """The best claim about the result (never a training one); `label`: only claims with that label."""
    usable = [c for c in found if c.label != "train" and (label is None or c.label == label)]
    if not usable:
        return None
    return min(usable, key=lambda c: c.value) if lower_is_better else max(usable, key=lambda c: c.value)
