"""Publishing the leaderboards of a large course: 200 students x 6 assignments, measured in one run.

Fills a fresh gradebook with 200 students handing in 1-4 scored submissions to each of 6
assignments (about 3,000 runs), then times `publish` (ranking, pages, CSV/JSON, 12 plots) and,
as the baseline in the same run, the ranking alone; prints both and their ratio.

    .venv/bin/python benchmarks/leaderboard.py [--students 200] [--assignments 6]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from grader.course import load_course
from grader.gradebook import Gradebook
from grader.leaderboard import boards, publish


def build(root: Path, students: int, assignments: int) -> int:
    for i in range(assignments):
        folder = root / "assignments" / f"practica-{i + 1}"
        folder.mkdir(parents=True)
        (folder / "assignment.toml").write_text('deadline = "2027-01-15"\n[dataset]\nname = "digits"\n'
                                                '[leaderboard]\nbaseline = 0.6\nreference = 0.95\n')
    (root / "course.toml").write_text('name = "Benchmark"\nlanguage = "es"\n')
    course = load_course(root)
    rng = random.Random(0)
    start = datetime(2026, 12, 1, tzinfo=timezone.utc)
    runs = 0
    with Gradebook(course.gradebook_path) as book:
        for a in course.assignments:
            for s in range(students):
                skill = rng.gauss(0.8, 0.08)
                for k in range(rng.randint(1, 4)):
                    when = (start + timedelta(hours=rng.randint(0, 24 * 40))).isoformat()
                    sub = book.register(a, f"Student {s:03d}", "nb.ipynb", f"{a}-{s}-{k}", when)
                    score = min(0.999, max(0.0, skill + rng.gauss(0, 0.02)))
                    book.record(sub, "v1", "local", {"status": "ok", "duration_s": rng.uniform(30, 900)},
                                {"public": {"accuracy": score}, "private": {"accuracy": score - 0.01}})
                    runs += 1
    return runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--assignments", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "course"
        runs = build(root, args.students, args.assignments)
        course = load_course(root)
        now = datetime(2027, 1, 10, tzinfo=timezone.utc)
        t0 = time.perf_counter()
        boards(course, now=now)
        ranking = time.perf_counter() - t0
        t0 = time.perf_counter()
        publish(course, Path(tmp) / "site", now=now)
        total = time.perf_counter() - t0
        files = sum(1 for p in (Path(tmp) / "site").rglob("*") if p.is_file())
    print(f"machine: {os.cpu_count()} cores; {args.students} students x {args.assignments} assignments, "
          f"{runs} scored runs")
    print(f"ranking only (baseline):  {ranking:6.2f} s")
    print(f"publish (whole site):     {total:6.2f} s   {files} files; ratio to ranking {total / ranking:.1f}")


if __name__ == "__main__":
    main()
