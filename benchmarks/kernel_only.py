"""The kernel-only sandbox against the runners it replaced, and the grader's memory under a flood.

1. Per short notebook (the digits nearest-centroid model), the runners of this tree (executor
   outside, kernel alone in the sandbox) against the same runners of a baseline commit (papermill
   inside the sandbox), in one run: for each notebook the baseline's runner, then this tree's,
   alternating, each in a fresh process that imports its own tree; the time is taken around
   `runner.run(job)` only. Prints medians and the difference per runner (goal: at most +0.2 s).
2. The grader's memory while a notebook floods it: 2 GB written to output_dir, 60 display updates
   of 3 MB, 40 MB in one message, 300 MB printed. Prints the peak RSS of the grading process and of
   the executor (goal: the grader under 300 MB; the executor is stopped past EXECUTOR_MEMORY_MB).

    git worktree add /tmp/grader-baseline <commit>   # e.g. the commit before the change
    .venv/bin/python benchmarks/kernel_only.py --baseline /tmp/grader-baseline [--notebooks 10] [--docker]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from runs import HERE, digits_batch

from grader.jobs import make_job
from grader.runners import get_runner
from tests.helpers.notebooks import GOOD, write_notebook

# Runs one job with one tree's runner, in a process of its own; prints the seconds around run().
ONE_RUN = '''import dataclasses, json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from grader.runners import get_runner, Job
spec = json.loads(sys.argv[2])
runner = get_runner(spec["runner"], **spec["options"])
known = {f.name for f in dataclasses.fields(Job)}  # an older tree's Job lacks some fields, and has defaults for them
fields = {k: Path(v) if k in ("notebook", "run_dir", "data_dir", "test_dir") else v for k, v in spec["job"].items()}
job = Job(**{k: v for k, v in fields.items() if k in known})
start = time.perf_counter()
result = runner.run(job)
print(json.dumps({"seconds": time.perf_counter() - start, "status": result.status, "evalue": result.evalue}))'''

FLOOD = '''import os
from IPython.display import display
with open(os.path.join(output_dir, "big.bin"), "wb") as f:
    try:
        for _ in range(2048):
            f.write(b"w" * (1 << 20))
    except OSError:
        pass
handle = display("small", display_id=True)
for _ in range(60):
    handle.update("u" * (3 << 20))
print("p" * (40 << 20))
line = "x" * ((1 << 20) - 1)
for _ in range(300):
    print(line)'''


def one_run(tree: Path, runner: str, options: dict, job) -> float:
    fields = {name: str(value) if isinstance(value, Path) else value for name, value in vars(job).items()}
    spec = {"runner": runner, "options": options, "job": fields}
    done = subprocess.run([sys.executable, "-c", ONE_RUN, str(tree), json.dumps(spec)], capture_output=True,
                          text=True, cwd=tree)
    try:
        outcome = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise SystemExit(f"{tree} {runner}: no result\n{done.stderr[-2000:]}")
    if outcome["status"] != "ok":
        raise SystemExit(f"{tree} {runner}: {outcome['status']}: {outcome['evalue']}")
    return outcome["seconds"]


def overhead(baseline: Path, work: Path, count: int, runners: dict[str, dict]) -> None:
    assignment, data, notebooks = digits_batch(work, count)
    trees = {"baseline": baseline, "kernel-only": HERE.parent}
    times = {(tree, runner): [] for tree in trees for runner in runners}
    for runner, options in runners.items():
        for i, notebook in enumerate([notebooks[0], *notebooks]):  # the first is a warm-up
            for tree, root in trees.items():
                run_dir = work / runner / tree / f"{i:02d}"
                run_dir.mkdir(parents=True)
                job = make_job(assignment, data, run_dir.name, notebook, run_dir, smoke=False, time_limit=120)
                seconds = one_run(root, runner, options, job)
                if i:
                    times[(tree, runner)].append(seconds)
    print(f"notebooks: {count} per runner, baseline and kernel-only alternating")
    for runner in runners:
        base, new = statistics.median(times[("baseline", runner)]), statistics.median(times[("kernel-only", runner)])
        print(f"{runner:7s} baseline median {base:.3f} s, kernel-only median {new:.3f} s: "
              f"{new - base:+.3f} s per notebook (goal <= +0.2 s), ratio {new / base:.3f}")


def flood_memory(work: Path, runner: str, options: dict) -> None:
    assignment, data, _ = digits_batch(work / "flood", 0)
    notebook = write_notebook(work / "flood.ipynb", [FLOOD, *GOOD])
    run_dir = work / "flood-run"
    run_dir.mkdir()
    job = make_job(assignment, data, "flood", notebook, run_dir, smoke=False, time_limit=300)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result = get_runner(runner, **options).run(job)
    elapsed = time.perf_counter() - start
    grader_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    executor_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    kept = sum(p.stat().st_size for p in run_dir.rglob("*") if p.is_file())
    print(f"flood ({runner}): {result.status} in {elapsed:.1f} s; grader peak RSS {grader_mb:.0f} MB "
          f"(before the run {before / 1024:.0f} MB; goal < 300 MB), executor peak RSS {executor_mb:.0f} MB; "
          f"run folder {kept / 2**20:.0f} MB (output_mb {job.output_mb})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", type=Path, required=True, help="a checkout of the commit to compare with")
    parser.add_argument("--notebooks", type=int, default=10)
    parser.add_argument("--docker", action="store_true", help="the docker runner too (engine and test image)")
    args = parser.parse_args()
    runners = {"bwrap": {}}
    if args.docker:
        runners["docker"] = {"image": os.environ.get("GRADER_TEST_IMAGE", "grader-test:latest")}
    work = Path(tempfile.mkdtemp(prefix="grader-bench-kernel-"))
    try:
        overhead(args.baseline.resolve(), work, args.notebooks, runners)
        flood_memory(work, "bwrap", {})
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
