"""The docker runner's overhead per notebook against the local runner, measured in one run.

The same 20 short notebooks (the digits nearest-centroid model) run one at a time through the
local runner, then through the docker runner. Each run's wall time is taken around
`runner.run(job)`: for the docker runner that is container create, start, papermill inside,
wait, logs and removal. Prints both medians and their difference (goal: under 0.5 s).

    scripts/docker.sh   # engine and test image
    .venv/bin/python benchmarks/docker_overhead.py [--notebooks 20] [--image grader-test:latest]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from conftest import make_course  # noqa: E402
from notebooks import GOOD, write_notebook  # noqa: E402

from grader.course import load_course  # noqa: E402
from grader.data import layout, prepare  # noqa: E402
from grader.pipeline import make_job  # noqa: E402
from grader.runners import Runner  # noqa: E402
from grader.runners.docker_runner import DockerRunner  # noqa: E402
from grader.runners.local import LocalRunner  # noqa: E402


def durations(runner: Runner, notebooks: list[Path], work: Path, assignment, data) -> list[float]:
    times = []
    for i, notebook in enumerate(notebooks):
        run_dir = work / runner.name / f"{i:02d}"
        run_dir.mkdir(parents=True)
        job = make_job(assignment, data, str(i), notebook, run_dir, smoke=False, time_limit=120)
        start = time.perf_counter()
        result = runner.run(job)
        times.append(time.perf_counter() - start)
        if result.status != "ok":
            raise SystemExit(f"{runner.name} runner: {notebook.name} ended {result.status}: {result.evalue}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notebooks", type=int, default=20)
    parser.add_argument("--image", default="grader-test:latest")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="grader-bench-docker-"))
    try:
        course = load_course(make_course(work / "course"))
        assignment = course.assignment("digits")
        prepare(course, assignment)
        data = layout(course, assignment)
        notebooks = [write_notebook(work / "subs" / f"student{i:02d}.ipynb", GOOD) for i in range(args.notebooks)]
        docker = DockerRunner(image=args.image, gpus="none")
        durations(docker, notebooks[:1], work / "warm-up", assignment, data)  # image layers into the page cache
        local = durations(LocalRunner(), notebooks, work, assignment, data)
        contained = durations(docker, notebooks, work, assignment, data)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    local_median, docker_median = statistics.median(local), statistics.median(contained)
    print(f"notebooks: {args.notebooks}, one at a time")
    print(f"local runner:  median {local_median:.2f} s (min {min(local):.2f}, max {max(local):.2f})")
    print(f"docker runner: median {docker_median:.2f} s (min {min(contained):.2f}, max {max(contained):.2f})")
    print(f"overhead per notebook: {docker_median - local_median:+.2f} s (goal < 0.5 s); "
          f"ratio docker/local: {docker_median / local_median:.2f}")


if __name__ == "__main__":
    main()
