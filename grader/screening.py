"""Read a hand-in before it runs, for data it carries: labels smuggled in as literals.

A notebook can carry the answers it should compute: a 110 KB compressed string, a hex blob, a
literal list of 10,000 labels, a 0x... integer, hundreds of float literals, comments. The screening
reads every code cell's syntax tree and tokens (IPython magics translated first) and every markdown
and raw cell (a run can read its own notebook), and raises a flag past the assignment's
`[screening]` limits: for one literal, comment or cell, and for all of them together, by the
characters of string literals and by the compressed size of every literal and comment (the
information the code carries beyond its code, whatever channel each piece takes). A flag never changes a grade: the run is graded
as usual, and the flag is evidence for the instructor (`grader status`, `grader show`, the
instructor's grades export, the report), never shown on a leaderboard.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import zlib
from dataclasses import asdict, dataclass

import nbformat

from grader.course import ScreeningLimits
from grader.i18n import Translator, translator

# The flags this module raises: about the student's own notebook, shown in the student's report too.
SCREENING_KINDS = ("cell_size", "long_literal", "literal_list", "literal_total", "markdown_size", "long_comment",
                   "long_number", "compressed_literals")
# The tokens whose text is data rather than code: what the compressed total counts.
CARRIER_TOKENS = {tokenize.STRING, tokenize.NUMBER, tokenize.COMMENT}
BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]+$")
HEX = re.compile(r"^[0-9a-fA-F\s]+$")


@dataclass(frozen=True)
class Flag:
    kind: str  # one of SCREENING_KINDS
    cell: int | None  # 1-based, counted as in the student's notebook; None: the whole notebook
    size: int  # characters; constants for literal_list; bytes for compressed_literals
    limit: int
    form: str = ""  # long_literal: text, hex, base64, bytes; literal_list: list, tuple, set, dict

    def as_dict(self) -> dict:
        return asdict(self)


def describe(flag: dict, t: Translator | None = None) -> str:
    """One flag (as stored: its kind and values) in words; English unless a translator is given.

    Screening flags and the audit's (grader.audit) share this form and the `flag.<kind>` messages.
    """
    t = t or translator("en")
    values = {k: v for k, v in flag.items() if k not in ("kind", "cell")}
    if values.get("form"):
        values["form"] = t(f"flag.form.{values['form']}")
    what = t(f"flag.{flag['kind']}", **values)
    return t("flag.in_cell", cell=flag["cell"], what=what) if flag.get("cell") else what


def flags_text(flags: list[dict], t: Translator | None = None) -> str:
    """Flags in one line, for tables and CSV."""
    return "; ".join(describe(f, t) for f in flags)


def _parse(source: str) -> tuple[str, ast.Module] | None:
    """The cell as Python and its syntax tree; magics (`%pip`, `!ls`) first become calls, as IPython runs them."""
    try:
        return source, ast.parse(source)
    except (SyntaxError, ValueError):
        pass
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        python = TransformerManager().transform_cell(source)
        return python, ast.parse(python)
    except Exception:  # the run will say so; a cell that does not parse carries nothing it can use
        return None


def _carriers(python: str) -> list[tokenize.TokenInfo]:
    """The string, number and comment tokens of code that parses."""
    try:
        return [tok for tok in tokenize.generate_tokens(io.StringIO(python).readline) if tok.type in CARRIER_TOKENS]
    except (tokenize.TokenError, SyntaxError):  # what ast accepts and tokenize does not: the tree's literals count
        return []


def _nodes(tree: ast.AST):
    """Every node, depth first: ast.walk without its per-node generators (the screening's hot loop)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, list):
                stack.extend(v for v in value if isinstance(v, ast.AST))
            elif isinstance(value, ast.AST):
                stack.append(value)


def _form(value: str | bytes) -> str:
    if isinstance(value, bytes):
        return "bytes"
    sample = value[:4096]
    if HEX.match(sample):
        return "hex"
    if BASE64.match(sample) and " " not in sample:  # prose has spaces; base64 has none, or line breaks only
        return "base64"
    return "text"


def _literal_items(node: ast.AST) -> int:
    """How many constants a literal display holds, nested ones included; 0 if it is not all constants."""
    if isinstance(node, ast.Constant):
        return 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant):  # -1
        return 1
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        counts = [_literal_items(e) for e in node.elts]
        return sum(counts) if all(counts) else 0
    if isinstance(node, ast.Dict):
        counts = [_literal_items(e) for e in (*node.keys, *node.values) if e is not None]
        return sum(counts) if all(counts) else 0
    return 0


def screen(nb: nbformat.NotebookNode, limits: ScreeningLimits) -> list[Flag]:
    """Every flag the notebook raises, in cell order. Never raises for what the notebook holds."""
    flags: list[Flag] = []
    literal_total = 0
    carried: list[str] = []
    for position, cell in enumerate(nb.cells, start=1):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if cell.get("cell_type") != "code":
            if len(source) > limits.markdown_chars:
                flags.append(Flag("markdown_size", position, len(source), limits.markdown_chars))
            continue
        if len(source) > limits.cell_chars:
            flags.append(Flag("cell_size", position, len(source), limits.cell_chars))
        parsed = _parse(source)
        if parsed is None:
            continue
        python, tree = parsed
        for token in _carriers(python):
            carried.append(token.string)
            if token.type == tokenize.COMMENT and len(token.string) > limits.comment_chars:
                flags.append(Flag("long_comment", position, len(token.string), limits.comment_chars))
            elif token.type == tokenize.NUMBER and len(token.string) > limits.number_chars:
                flags.append(Flag("long_number", position, len(token.string), limits.number_chars))
        counted: set[int] = set()
        for node in _nodes(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
                literal_total += len(node.value)
                if len(node.value) > limits.string_chars:
                    flags.append(Flag("long_literal", position, len(node.value), limits.string_chars,
                                      _form(node.value)))
            elif isinstance(node, (ast.List, ast.Tuple, ast.Set, ast.Dict)) and id(node) not in counted:
                items = _literal_items(node)
                if items > limits.literal_items:
                    # Report the outermost display once, not each nested one again.
                    counted.update(id(n) for n in _nodes(node))
                    flags.append(Flag("literal_list", position, items, limits.literal_items,
                                      type(node).__name__.lower()))
    if literal_total > limits.total_literal_chars:
        flags.append(Flag("literal_total", None, literal_total, limits.total_literal_chars))
    compressed = len(zlib.compress("\n".join(carried).encode("utf-8", "surrogatepass"), 9))
    if compressed > limits.compressed_bytes:
        flags.append(Flag("compressed_literals", None, compressed, limits.compressed_bytes))
    return flags
