"""The service's workers: processes in the server's own tree that take the queue and grade, one hand-in each.

A worker claims the fair next item (grader.serve.store), grades it as `grader run` does
(grader.pipeline.grade_submissions, in the sandbox), and marks it done with its gradebook run; while
it runs, a thread reports the running cell and the time against the budget. A hand-in graded
already under its assignment's version (its worker died after the run was recorded) is marked done
with that run, never run twice. Each worker dies with the server (PDEATHSIG), and its executor and
sandbox with it (theirs); the Supervisor restarts a worker that died and queues again what it held.
`python -m grader.serve.workers COURSE NAME` runs one.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

from grader.course import Course, load_course
from grader.pipeline import grade_submissions, refuse_missing_environment, sandboxed_runner
from grader.runners import Job, Runner
from grader.runners.base import ERROR
from grader.runners.cells import running_cell
from grader.runners.local import die_with_parent
from grader.serve.store import QueueItem, ServeStore
from grader.submissions import load_notebook

POLL_S = 0.25  # an idle worker looks at the queue this often
PROGRESS_S = 2.0  # a running one reports its cell and heartbeat this often
WATCH_S = 1.0  # the supervisor looks for dead workers this often
PROGRESS_MAX_BYTES = 32 << 20  # a larger executed notebook is not read for its running cell
MAX_TRIES = 3  # an item whose worker died this often is ended refunded: it never blocks a worker for good


def work(course_root: Path, name: str, runner: str | None, cluster: str | None, unsandboxed: bool = False) -> None:
    """Claim, grade and finish queue items until the parent (the server) dies."""
    parent = os.getppid()
    course = load_course(course_root)
    chosen = sandboxed_runner(course, runner, unsandboxed, cluster)
    try:
        with ServeStore(course) as store:
            beaten = 0.0
            while os.getppid() == parent:  # PDEATHSIG is set after the fork: a parent gone before it is seen here
                if time.monotonic() - beaten > PROGRESS_S:
                    store.beat(name, os.getpid(), None)
                    beaten = time.monotonic()
                item = store.claim(name)
                if item is None:
                    time.sleep(POLL_S)
                    continue
                _grade(course, store, chosen, item, name, unsandboxed)
                beaten = 0.0
    finally:
        chosen.close()


def _grade(course: Course, store: ServeStore, runner: Runner, item: QueueItem, name: str, unsandboxed: bool) -> None:
    """One queue item graded and finished; a fault of the grader's ends it refunded."""
    store.beat(name, os.getpid(), item.id)
    if item.tries > MAX_TRIES:
        print(f"worker {name}: queue item {item.id} ended refunded: its workers died {MAX_TRIES} times",
              file=sys.stderr)
        store.finish(item.id, None, ERROR)
        return
    progress = _Progress(store, item, name)
    try:
        report = grade_submissions(course, [store.submission(item)], runner=runner, jobs=1, unsandboxed=unsandboxed,
                                   on_job=progress.watch)
    except Exception:  # the environment, the data or the stored file, not the notebook: an attempt given back
        traceback.print_exc()
        store.finish(item.id, None, ERROR)
        return
    finally:
        progress.stop()
    if report.rows:
        row = report.rows[0]
        store.finish(item.id, row.run_id, row.status, refunded=row.grader_fault)
        return
    graded = store.last_run(item.submission_id) if report.skipped else None
    if graded is None:  # the assignment cannot be graded now (the warnings say why)
        print(f"worker {name}: queue item {item.id} not graded: {'; '.join(report.warnings) or report.stopped}",
              file=sys.stderr)
        store.finish(item.id, None, ERROR)
    else:
        store.finish(item.id, *graded)


class _Progress(threading.Thread):
    """Every PROGRESS_S while the job runs: its running cell and elapsed time into the queue, and a heartbeat."""

    def __init__(self, store: ServeStore, item: QueueItem, worker: str):
        super().__init__(daemon=True)
        self.store, self.item, self.worker = store, item, worker
        self.job: Job | None = None
        self.cells = 0
        self.started = 0.0
        self.done = threading.Event()

    def watch(self, job: Job) -> None:
        """grade_submissions' on_job: the job is about to run (its notebook checked already)."""
        self.job, self.cells, self.started = job, len(load_notebook(job.notebook).cells), time.monotonic()
        self.start()

    def run(self) -> None:
        while True:  # at once, then every PROGRESS_S: the budget shows from the start
            notebook = self.job.executed_notebook
            try:
                small = notebook.stat().st_size <= PROGRESS_MAX_BYTES
            except OSError:  # not written yet
                small = False
            self.store.set_progress(self.item.id, {
                "cell": running_cell(notebook) if small else None, "cells": self.cells,
                "elapsed_s": round(time.monotonic() - self.started, 1), "budget_s": self.job.time_limit_s})
            self.store.beat(self.worker, os.getpid(), self.item.id)
            if self.done.wait(PROGRESS_S):
                return

    def stop(self) -> None:
        self.done.set()
        if self.is_alive():
            self.join()


class Supervisor:
    """`workers` worker processes, kept running: one that dies is started again and what it held is queued again."""

    def __init__(self, course: Course, workers: int, runner: str | None = None, cluster: str | None = None,
                 unsandboxed: bool = False):
        # Refused here, before the server listens: no sandbox to run hand-ins in (pipeline.SandboxRequired), or an
        # environment that lacks what the assignments declare (envs.EnvMissing), which would fail every hand-in.
        chosen = sandboxed_runner(course, runner, unsandboxed, cluster)
        try:
            refuse_missing_environment(course, chosen, [course.assignment(a) for a in course.assignments])
        finally:
            chosen.close()
        self.course, self.count = course, workers
        self.options = [*(["--runner", runner] if runner else []), *(["--cluster", cluster] if cluster else []),
                        *(["--unsandboxed"] if unsandboxed else [])]
        self.procs: dict[str, subprocess.Popen] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="grader-supervisor", daemon=True)

    def start(self) -> None:
        """Queue again what an earlier server left running, then start the workers."""
        with ServeStore(self.course) as store:
            store.requeue()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _watch(self) -> None:
        # The workers are started from this thread, which outlives them: PDEATHSIG follows the thread that forked.
        with ServeStore(self.course) as store:
            try:
                while not self._stop.is_set():
                    for name in (f"w{i}" for i in range(1, self.count + 1)):
                        proc = self.procs.get(name)
                        if proc is not None and proc.poll() is None:
                            continue
                        if proc is not None:
                            print(f"worker {name} (pid {proc.pid}) ended with code {proc.returncode}: started again, "
                                  f"and its hand-in queued again", file=sys.stderr)
                            store.requeue(name)
                        self.procs[name] = subprocess.Popen(
                            [sys.executable, "-m", "grader.serve.workers", str(self.course.root), name, *self.options],
                            stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent)
                    self._stop.wait(WATCH_S)
            finally:
                self._end_workers()
                for name in self.procs:
                    store.requeue(name)

    def _end_workers(self) -> None:
        for proc in self.procs.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for proc in self.procs.values():
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()


def _signal_group(proc: subprocess.Popen, signum: int) -> None:
    """The worker and its process group (its executor dies with it: PDEATHSIG)."""
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m grader.serve.workers", description=__doc__.splitlines()[0])
    parser.add_argument("course", type=Path)
    parser.add_argument("name")
    parser.add_argument("--runner")
    parser.add_argument("--cluster")
    parser.add_argument("--unsandboxed", action="store_true")
    args = parser.parse_args(argv)
    work(args.course, args.name, args.runner, args.cluster, args.unsandboxed)


if __name__ == "__main__":
    main()
