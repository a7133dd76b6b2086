"""`grader audit` on 200 and on 1,000 hand-ins of one assignment, similarity included, in one run.

A gradebook is filled with generated hand-ins (no notebook is run: the audit reads the gradebook
and the notebooks). Each hand-in is the starter's cells around five cells of the student's own
code (about 30 statements of 14 shapes, with their own names, numbers and order); 2% of the
students hand in a renamed copy of another's notebook. Prints the time of each audit
(goal: under 30 s for 200 on 2 cores), the pairs found, and the ratio of the two times against
the ratio of the pair counts (25x), to show how it grows.

    .venv/bin/python benchmarks/audit_scale.py [--sizes 200 1000]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repository: its tests.helpers

from grader.audit import audit  # noqa: E402
from grader.course import load_course  # noqa: E402
from grader.gradebook import Gradebook  # noqa: E402
from tests.helpers import make_course  # noqa: E402
from tests.helpers.notebooks import LOAD, WRITE, write_notebook  # noqa: E402

# Statement shapes a student's own code is made of; names, numbers and order vary per student.
SHAPES = [
    "{v} = {w} * {x} + {y}", "{v} = np.{f}({w}, axis={i})", "for {v} in range({i}):\n    {w} = {w} - {x} * {v}",
    "if {v}.mean() > {x}:\n    {w} = {v} / {y}", "{v} = [{w}[{i}], {w}[{j}], {x}]",
    "def {v}({w}):\n    return {w} ** {i} - {x}", "{v} = {w}.reshape({i}, -1)[:, :{j}]", "print('{s}', {v}, {x})",
    "{v} = np.where({w} > {x}, {w}, {y})", "{v} = {w} @ {w}.T / {i}", "while {v} < {i}:\n    {v} += {x}",
    "{v} = {{'{s}': {x}, '{t}': {j}}}", "{v} = np.clip({w}, {x}, {y}).sum()", "{v} = sorted({w}, key=lambda q: q * {x})",
]
FUNCTIONS = ["mean", "sum", "max", "min", "std", "median", "argmax", "cumsum"]
NAMES = ["datos", "modelo", "pesos", "media", "escala", "dist", "vecinos", "probs", "clf", "tmp", "res", "feat",
         "centro", "grupo", "lote", "red", "capa", "norma", "valor", "idx", "cuenta", "tabla", "total", "aux"]
WORDS = ["loss", "acc", "paso", "epoca", "lote", "media", "tasa", "peso"]
FALLBACK = "labels = labels if 'labels' in dir() else np.zeros(len(X_test), int)\nproba = np.eye(len(classes))[labels]"
STARTER = [LOAD, FALLBACK, WRITE]


def hand_in(rng: random.Random) -> list[str]:
    """The starter's cells around 30 statements of the student's own."""
    def statement() -> str:
        v, w = rng.sample(NAMES, 2)
        return rng.choice(SHAPES).format(v=v, w=w, f=rng.choice(FUNCTIONS), i=rng.randint(2, 99), j=rng.randint(2, 99),
                                         x=round(rng.uniform(0, 10), 3), y=round(rng.uniform(0, 10), 3),
                                         s=rng.choice(WORDS), t=rng.choice(WORDS))
    own = ["\n".join(statement() for _ in range(rng.randint(4, 8))) for _ in range(5)]
    return [LOAD, *own, FALLBACK, WRITE]


def course_of(root: Path, count: int, rng: random.Random):
    course = load_course(make_course(root))
    write_notebook(course.assignment("digits").path / "starter.ipynb", STARTER)
    cells: dict[str, list[str]] = {}
    with Gradebook(course.gradebook_path) as book:
        for i in range(count):
            student = f"student{i:04d}"
            if i and rng.random() < 0.02:  # a copy of an earlier hand-in, renamed
                source = cells[f"student{rng.randrange(i):04d}"]
                cells[student] = [c.replace("datos", "mis_datos").replace("modelo", "mi_modelo") for c in source]
            else:
                cells[student] = hand_in(rng)
            path = write_notebook(root / "subs" / "digits" / f"{student}.ipynb", cells[student])
            sub = book.register("digits", student, str(path), f"{i:064x}", "2026-11-20T10:00:00+00:00")
            book.record(sub, "v1", "bwrap", {"status": "ok", "primary_metric": "accuracy",
                                             "primary_score": rng.uniform(0.5, 0.99), "grade": 5.0,
                                             "duration_s": rng.uniform(5, 600)}, {})
    return course


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 1000])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="grader-bench-audit-"))
    times, pairs = {}, {}
    try:
        for size in args.sizes:
            course = course_of(work / str(size), size, random.Random(size))
            start = time.perf_counter()
            report = audit(course, "digits")
            times[size], pairs[size] = time.perf_counter() - start, len(report.pairs)
            flagged = sum(1 for r in report.rows if any(f["kind"] == "similar" for f in r.flags))
            print(f"{size:5d} hand-ins: audit {times[size]:6.2f} s, {len(report.pairs)} similar pairs, "
                  f"{flagged} hand-ins flagged as similar")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    small, large = min(args.sizes), max(args.sizes)
    if small != large:
        print(f"growth {small} -> {large} hand-ins: time x{times[large] / times[small]:.1f} "
              f"(pairs of hand-ins x{(large * (large - 1)) / (small * (small - 1)):.0f}); goal for 200: under 30 s")


if __name__ == "__main__":
    main()
