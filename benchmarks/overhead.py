"""Grader overhead against raw papermill, and the speed-up of --jobs 2, measured in one run.

The same 20 short notebooks go (1) through the `papermill` CLI one after another, (2) through
`grader run --jobs 1` and (3) through `grader run --jobs 2` (local runner). Prints the ratio of
grader to papermill wall time (goal <= 1.10) and the jobs-2 speed-up (goal >= 1.7 on 2 cores).

    .venv/bin/python benchmarks/overhead.py [--notebooks 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repository: its tests.helpers

from grader.course import load_course  # noqa: E402
from grader.data import layout, prepare  # noqa: E402
from tests.helpers import make_course  # noqa: E402
from tests.helpers.notebooks import GOOD, write_notebook  # noqa: E402

BIN = Path(sys.executable).parent


def timed(cmd: list[str], **kwargs) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notebooks", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="grader-bench-"))
    try:
        root = make_course(work / "course")
        course = load_course(root)
        prepare(course, course.assignment("digits"))
        data = layout(course, course.assignment("digits"))
        subs = work / "subs" / "digits"
        notebooks = [write_notebook(subs / f"student{i:02d}.ipynb", GOOD) for i in range(args.notebooks)]

        out = work / "papermill-out"
        out.mkdir()
        papermill = sum(timed([str(BIN / "papermill"), str(nb), str(out / nb.name), "-k", "python3",
                               "-p", "data_dir", str(data.data_dir), "-p", "test_dir", str(data.test_dir),
                               "-p", "output_dir", str(out), "--cwd", str(out)]) for nb in notebooks)
        grader = [str(BIN / "grader"), "run", str(subs.parent), "--course", str(root), "--force", "--format", "json",
                  "--unsandboxed"]  # papermill runs unsandboxed too: the same work on both sides
        jobs1 = timed([*grader, "--jobs", "1"])
        jobs2 = timed([*grader, "--jobs", "2"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"machine: {os.cpu_count()} cores; {args.notebooks} notebooks")
    print(f"papermill CLI, one after another: {papermill:7.2f} s")
    print(f"grader run --jobs 1:              {jobs1:7.2f} s   ratio to papermill {jobs1 / papermill:.3f} (goal <= 1.10)")
    print(f"grader run --jobs 2:              {jobs2:7.2f} s   speed-up over --jobs 1 {jobs1 / jobs2:.2f} (goal >= 1.7)")


if __name__ == "__main__":
    main()
