"""Tables for people, at the terminal's width.

A table never squeezes a column to nothing: the key columns (who, in which state, with which score
and grade) show whole at any width; the long texts (messages, flags) take what is left, at least
MIN_TEXT wide, and are cut after MAX_LINES lines; the other columns follow at their full width while
they fit. Whatever is cut or left out is said under the table, with where to read it whole.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

KEY = ("student", "status", "primary_score", "score", "grade", "final", "rank", "pseudonym", "role", "level")
LONG_TEXT = ("message", "why", "files", "flags", "flags_text", "environment", "fix", "text", "diff")
# Shorter headers than the field names (which JSON and CSV keep), so that more columns fit.
HEADERS = {"primary_score": "score", "primary_metric": "metric", "duration_s": "time_s", "runtime_s": "time_s",
           "submission_id": "id", "flags_text": "flags", "last_submission": "last"}
MAX_LINES = 3  # of a long text: the rest is one command away
MIN_TEXT = 14  # a long-text column any narrower is left out rather than shown a few letters at a time
MIN_KEY = 8  # a key column wider than the terminal folds down to this, no further
KEY_SHARE = 4  # a key column (a long name) folds beyond a quarter of the width, to leave room for the rest
CUT = "…"


def table(cells: list[list[str]], columns: list[str], width: int, console: Console, *, title: str = "",
          more: str = "") -> Table:
    """The rows (each cell already text) as a table at most `width` wide; `more` says where a row is whole
    (`grader show STUDENT`)."""
    widths = _widths(cells, columns, width)
    shown = [i for i in range(len(columns)) if i in widths]
    cut = False
    out = Table(title=Text(title) if title else None, caption_justify="left")
    for i in shown:  # key columns and long texts wrap; the others are whole at their width
        wraps = columns[i] in KEY or columns[i] in LONG_TEXT
        out.add_column(HEADERS.get(columns[i], columns[i]), width=widths[i], no_wrap=not wraps, overflow="fold")
    for row in cells:
        texts = []
        for i in shown:
            text = Text(row[i])  # Text: a cell's brackets are shown, never read as markup
            if columns[i] in LONG_TEXT:
                text, was_cut = _lines(text, widths[i], console)
                cut |= was_cut
            texts.append(text)
        out.add_row(*texts)
    left_out = [HEADERS.get(c, c) for i, c in enumerate(columns) if i not in widths]
    notes = []
    if left_out:
        notes.append(f"not shown at {width} columns: {', '.join(left_out)}")
    if cut:
        notes.append(f"{CUT} cut to fit")
    out.caption = Text("; ".join(notes) + (f" ({more})" if more else "")) if notes else None
    return out


def _natural(cells: list[list[str]], columns: list[str], i: int) -> int:
    header = cell_len(HEADERS.get(columns[i], columns[i]))
    return max([header, *(cell_len(line) for row in cells for line in row[i].splitlines() or [""])])


def _widths(cells: list[list[str]], columns: list[str], width: int) -> dict[int, int]:
    """Each shown column's width (a column left out has none): the key columns first (a long one folded),
    then the long texts at MIN_TEXT, then the others whole while they fit; what is left widens the long
    texts."""
    natural = [_natural(cells, columns, i) for i in range(len(columns))]
    chosen = {i: min(natural[i], max(MIN_KEY, width // KEY_SHARE)) for i, c in enumerate(columns) if c in KEY}

    def room() -> int:  # a rich table's frame: a rule before each column and the last, padding 1 each side
        return width - sum(chosen.values()) - 3 * len(chosen) - 1

    while room() < 0 and chosen and max(chosen.values()) > MIN_KEY:
        widest = max(chosen, key=chosen.get)
        chosen[widest] -= 1
    texts = [i for i, c in enumerate(columns) if c in LONG_TEXT]
    for i in texts:
        if room() >= min(natural[i], MIN_TEXT) + 3:
            chosen[i] = min(natural[i], MIN_TEXT)
    for i in range(len(columns)):
        if i not in chosen and i not in texts and room() >= natural[i] + 3:
            chosen[i] = natural[i]
    growing = [i for i in texts if i in chosen]
    while room() > 0 and any(chosen[i] < natural[i] for i in growing):
        for i in growing:
            if room() > 0 and chosen[i] < natural[i]:
                chosen[i] += 1
    return chosen


def _lines(text: Text, width: int, console: Console) -> tuple[Text, bool]:
    """The text wrapped to `width`, at most MAX_LINES lines, the last ending in CUT when there was more."""
    lines = text.wrap(console, width, overflow="fold")
    if len(lines) <= MAX_LINES:
        return text, False
    last = lines[MAX_LINES - 1]
    last.truncate(width - 1)
    last.rstrip()
    last.append(CUT)
    return Text("\n").join(lines[:MAX_LINES]), True
