"""What students write is shown as text.

Exception names and messages, tracebacks, printed output, notebook names and code all come from
a student's notebook. Shown raw, they could drive the instructor's terminal (ANSI CSI/OSC escape
sequences clear the screen, retitle the window or plant hyperlinks), carry rich markup that the
terminal renders as styles and links, reorder what is read (bidi overrides, "Trojan Source"),
run as a formula in a spreadsheet, or act as HTML. Every place that shows such text goes
through this module: `plain_text` for any output, `escaped` inside rich markup, `spreadsheet_cell`
for CSV, `html_templates` for HTML pages. The gradebook keeps what the student's run produced,
untouched, as evidence; only what is shown is cleaned, and cut to `FIELD_LIMIT` characters.
"""

from __future__ import annotations

import re
from typing import Any

import jinja2
from markupsafe import Markup
from rich.markup import escape

# What one shown field may hold: a message with a traceback's last frames, about a screenful.
FIELD_LIMIT = 4000

# Terminal control sequences (ECMA-48), longest form first, each with its 8-bit C1 introducer:
# control strings (OSC, DCS, SOS, PM, APC) up to their terminator, or to the end when unterminated;
# CSI sequences; any other escape sequence; then single C0 (but \t and \n), DEL and C1 controls,
# the bidi embeddings, overrides, isolates and marks that make text read other than it is stored, and
# the invisible characters that make two names look alike (zero-width, soft hyphen, line and paragraph
# separators, byte-order mark, tag characters).
CONTROL = re.compile(
    r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[\s\S]*?(?:\x07|\x1b\\|\x9c|\Z)"
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|\x1b[ -/]*[0-~]"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff"
    r"\U000e0000-\U000e007f]")

FORMULA_START = ("=", "+", "-", "@", "\t")  # OWASP's formula starts; the \r it also lists never outlives plain_text
NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def plain_text(value: object, limit: int | None = FIELD_LIMIT) -> str:
    """Any value as printable text: no control sequences or characters, at most `limit` characters."""
    text = CONTROL.sub("", str(value))
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]}… (cut: {len(text) - limit} more characters)"
    return text


def plain_data(value: Any, limit: int | None = FIELD_LIMIT) -> Any:
    """Every string in nested dicts and lists (JSON-like data: flags, a notebook) as plain text."""
    if isinstance(value, str):
        return plain_text(value, limit)
    if isinstance(value, dict):
        return {key: plain_data(item, limit) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(item, limit) for item in value]
    return value


def escaped(value: object) -> str:
    """Text to put inside rich markup: plain, and its brackets shown as brackets, never read as styles."""
    return escape(plain_text(value))


def spreadsheet_cell(value: object, limit: int | None = FIELD_LIMIT) -> object:
    """A CSV cell: plain text, and kept text when a spreadsheet opens it ('=HYPERLINK(...)' gets a
    leading apostrophe); numbers stay numbers, for Moodle's import."""
    if not isinstance(value, str):
        return value
    text = plain_text(value, limit)
    return "'" + text if text.startswith(FORMULA_START) and not NUMBER.fullmatch(text) else text


def _shown(value: Any) -> Any:
    """Every {{ value }} of an HTML page: plain text before autoescaping; markup the grader made stays."""
    return value if not isinstance(value, str) or isinstance(value, Markup) else plain_text(value)


def html_templates(loader: jinja2.BaseLoader | None = None) -> jinja2.Environment:
    """The Jinja environment of every HTML page that can show student text: autoescaped, plain text."""
    return jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined, finalize=_shown)
