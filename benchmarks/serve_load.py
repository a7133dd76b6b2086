"""`grader serve` under a class's load, against `grader run` of the same notebooks, measured in one run.

N students (default 200) each hand in M short notebooks (default 3) to a real `grader serve` on
127.0.0.1, in M bursts of N uploads sent by 50 threads at once (50 concurrent uploads). Then the
same N x M notebooks go through `grader run` in a fresh copy of the course, with as many jobs as
the service has workers. Prints:

- nothing lost: every acknowledged upload has its queue row, its submission and one graded run;
- nothing run twice: no submission with two graded runs;
- errors among the uploads (goal: none) and the server's memory before and after the bursts (goal: flat);
- the median wait in the queue and the median time from upload to score;
- the service's wall time per submission against `grader run`'s (goal: at most 1 s more).

Only 127.0.0.1 is ever contacted, and the run stops after --timeout seconds whatever its state.

    .venv/bin/python benchmarks/serve_load.py [--students 200] [--per-student 3] [--workers 2] [--timeout 3600]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repository: its tests.helpers

from grader.course import load_course  # noqa: E402
from grader.data import prepare  # noqa: E402
from grader.gradebook import Gradebook  # noqa: E402
from grader.serve.client import SubmitError, submit  # noqa: E402
from grader.serve.store import ServeStore  # noqa: E402
from tests.helpers import make_course  # noqa: E402
from tests.helpers.notebooks import GOOD, write_notebook  # noqa: E402

BIN = Path(sys.executable).parent
CONCURRENT_UPLOADS = 50
HOST = "127.0.0.1"  # never anywhere else


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_until_up(url: str, limit_s: float = 60) -> None:
    stop = time.monotonic() + limit_s
    while time.monotonic() < stop:
        try:
            urllib.request.urlopen(url + "/board", timeout=2).read(1)
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the server at {url} did not answer within {limit_s} s")


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--per-student", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3600, help="stop after this many seconds in all")
    args = parser.parse_args()
    deadline = time.monotonic() + args.timeout
    work = Path(tempfile.mkdtemp(prefix="grader-serve-bench-"))
    server = None
    try:
        root = make_course(work / "course")
        with open(root / "course.toml", "a") as toml:
            toml.write(f"[serve]\ndaily_limit = {args.per_student + 1}\nsubmissions_per_minute = 60\n"
                       f"workers = {args.workers}\n")
        course = load_course(root)
        prepare(course, course.assignment("digits"))
        names = [f"student{i:03d}" for i in range(args.students)]
        with Gradebook(course.gradebook_path) as book:
            for name in names:
                book.set_student(name)
        with ServeStore(course) as store:
            tokens = store.issue_tokens(names)
        # Distinct notebooks (a duplicate would be refused), the same work in each.
        notebooks = {(name, k): write_notebook(work / "nb" / f"{name}-{k}.ipynb", [f"# {name} attempt {k}", *GOOD])
                     for k in range(args.per_student) for name in names}
        fresh = work / "batch-course"
        shutil.copytree(root, fresh, ignore=shutil.ignore_patterns("gradebook.sqlite*"))

        port = free_port()
        url = f"http://{HOST}:{port}"
        server = subprocess.Popen([str(BIN / "grader"), "serve", "--course", str(root), "--host", HOST,
                                   "--port", str(port), "--workers", str(args.workers)],
                                  stdout=subprocess.DEVNULL, stderr=open(work / "server.log", "wb"))
        wait_until_up(url)
        memory = [("started", rss_mb(server.pid))]
        acked, errors = {}, []

        def upload(key: tuple[str, int]) -> None:
            try:
                run = submit(notebooks[key], url, tokens[key[0]], "digits", wait=False)
                acked[key] = run["id"]
            except SubmitError as exc:
                errors.append(f"{key}: {exc}")

        started = time.monotonic()
        with ThreadPoolExecutor(CONCURRENT_UPLOADS) as pool:
            for k in range(args.per_student):
                list(pool.map(upload, [(name, k) for name in names]))
                memory.append((f"after burst {k + 1}", rss_mb(server.pid)))
        uploaded = time.monotonic() - started

        with ServeStore(course) as store:
            while time.monotonic() < deadline and store.items(states=("queued", "running")):
                time.sleep(2)
            items = store.items()
        memory.append(("all scored", rss_mb(server.pid)))
        with Gradebook(course.gradebook_path) as book:
            runs = [r for r in book.runs() if r["verifies"] is None]
        service_s = max(when(r["finished_at"]) for r in runs) - min(when(i.arrived_at) for i in items)
        service_s = service_s.total_seconds()

        batch_subs = work / "batch" / "digits"
        batch_subs.mkdir(parents=True)
        for (name, k), path in notebooks.items():
            shutil.copy(path, batch_subs / f"{name}-{k}.ipynb")
        start = time.monotonic()
        subprocess.run([str(BIN / "grader"), "run", str(batch_subs.parent), "--course", str(fresh), "--jobs",
                        str(args.workers), "--format", "json"], check=True, stdout=subprocess.DEVNULL,
                       timeout=max(1.0, deadline - time.monotonic()))
        batch_s = time.monotonic() - start
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        shutil.rmtree(work, ignore_errors=True)

    total = args.students * args.per_student
    by_submission: dict[int, int] = {}
    for r in runs:
        by_submission[r["submission_id"]] = by_submission.get(r["submission_id"], 0) + 1
    done = [i for i in items if i.state == "done"]
    ran = {r["id"]: r for r in runs}
    waits = [(when(i.claimed_at) - when(i.arrived_at)).total_seconds() for i in done if i.claimed_at]
    to_score = [(when(ran[i.run_id]["finished_at"]) - when(i.arrived_at)).total_seconds()
                for i in done if i.run_id in ran]
    print(f"machine: {os.cpu_count()} cores; {args.students} students x {args.per_student} = {total} hand-ins; "
          f"{args.workers} workers; {CONCURRENT_UPLOADS} concurrent uploads")
    print(f"uploads acknowledged: {len(acked)} of {total} in {uploaded:.1f} s; errors: {len(errors)}")
    for line in errors[:5]:
        print(f"  {line}")
    print(f"lost (acknowledged, not done): {len(set(acked.values()) - {i.id for i in done})}; "
          f"queue rows {len(items)}, done {len(done)}, graded runs {len(runs)}")
    print(f"run twice (submissions with more than one graded run): {sum(1 for n in by_submission.values() if n > 1)}")
    print("server memory: " + ", ".join(f"{label} {mb:.0f} MB" for label, mb in memory))
    if waits and to_score:
        print(f"median wait in the queue: {statistics.median(waits):.1f} s; median upload to score: "
              f"{statistics.median(to_score):.1f} s")
    print(f"grader serve, first upload to last score: {service_s:8.1f} s ({service_s / total:.3f} s per hand-in)")
    print(f"grader run, the same notebooks:           {batch_s:8.1f} s ({batch_s / total:.3f} s per hand-in)")
    print(f"service overhead per hand-in: {(service_s - batch_s) / total:+.3f} s (goal <= +1 s)")


if __name__ == "__main__":
    main()
