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
import tempfile
from pathlib import Path

from runs import digits_batch, timed_run

from grader.runners import Runner
from grader.runners.docker_runner import DockerRunner
from grader.runners.local import LocalRunner


def durations(runner: Runner, notebooks: list[Path], work: Path, assignment, data) -> list[float]:
    return [timed_run(runner, notebook, work / runner.name / f"{i:02d}", assignment, data)
            for i, notebook in enumerate(notebooks)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notebooks", type=int, default=20)
    parser.add_argument("--image", default="grader-test:latest")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="grader-bench-docker-"))
    try:
        assignment, data, notebooks = digits_batch(work, args.notebooks)
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
