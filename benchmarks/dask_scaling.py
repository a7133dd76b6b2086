"""The dask runner on 1 and on 2 workers of a LocalCluster, measured in one run.

The same 16 short notebooks are graded on a cluster of 1 worker, then on a cluster of 2 (worker
processes, one job at a time each). Prints both wall times and the speed-up (goal >= 1.7 on 2
cores). Cluster start-up is not timed: a real cluster is up before a batch.

    .venv/bin/python benchmarks/dask_scaling.py [--notebooks 16] [--transfer shared|task]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repository: its tests.helpers

from grader import pipeline  # noqa: E402
from grader.course import load_course  # noqa: E402
from grader.data import prepare  # noqa: E402
from grader.runners.dask_runner import DaskRunner  # noqa: E402
from tests.helpers import make_course  # noqa: E402
from tests.helpers.notebooks import GOOD, write_notebook  # noqa: E402


def graded_on(workers: int, course, subs: Path, transfer: str) -> float:
    from distributed import LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        runner = DaskRunner(cluster.scheduler_address, transfer=transfer)
        start = time.perf_counter()
        report = pipeline.run(course, subs, runner=runner, force=True)
        elapsed = time.perf_counter() - start
        runner.client.close()
    assert all(row.status == "ok" for row in report.rows), [row.message for row in report.rows]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notebooks", type=int, default=16)
    parser.add_argument("--transfer", choices=["shared", "task"], default="shared")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="grader-bench-"))
    try:
        course = load_course(make_course(work / "course"))
        prepare(course, course.assignment("digits"))
        subs = work / "subs"
        for i in range(args.notebooks):
            write_notebook(subs / "digits" / f"student{i:02d}.ipynb", GOOD)
        one = graded_on(1, course, subs, args.transfer)
        two = graded_on(2, course, subs, args.transfer)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"machine: {os.cpu_count()} cores; {args.notebooks} notebooks; transfer {args.transfer}")
    print(f"dask runner, 1 worker:  {one:7.2f} s")
    print(f"dask runner, 2 workers: {two:7.2f} s   speed-up {one / two:.2f} (goal >= 1.7)")


if __name__ == "__main__":
    main()
