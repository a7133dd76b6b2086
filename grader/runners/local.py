"""The local runner: the executor (papermill, grader.runners.execute) in a child process on this
machine, watched by the grader: wall clock, the kernel's memory, and the whole process tree.

Here the kernel runs on this machine too: for trusted notebooks (reference solutions, a student's
self-check on their kit) it isolates nothing. Student hand-ins run with the kernel alone in a
sandbox (the bwrap and docker runners, subclasses of this one, which change only `kernel`); `grader
run` uses this runner only when the instructor types `--unsandboxed`, and the course's `grader
check` only where bwrap cannot run. A kernel run here on the course's environment could write into
it: it writes no bytecode there, and grader.envs.verify stops the next batch on anything else.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from grader.runners.base import EXECUTOR_MEMORY_MB, Job, Runner, RunResult, now_utc
from grader.runners.gpus import gpu_visible
from grader.secret import ENV as SECRET_ENV

LOG_HEAD_BYTES = 1024 * 1024
LOG_TAIL_BYTES = 256 * 1024
POLL_S = 0.1
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    # If the grader is killed (even with SIGKILL) its children go too, so no orphan keeps running.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class BoundedLog(threading.Thread):
    """Copies a pipe to a file, keeping the first and last bytes of an output of any size."""

    def __init__(self, pipe, path: Path):
        super().__init__(daemon=True)
        self.pipe, self.path = pipe, path
        self.total = 0

    def run(self) -> None:
        tail = bytearray()
        with open(self.path, "wb") as out:
            for chunk in iter(lambda: self.pipe.read1(65536), b""):
                head_room = max(0, LOG_HEAD_BYTES - self.total)
                out.write(chunk[:head_room])
                tail += chunk[head_room:]
                del tail[:-LOG_TAIL_BYTES]
                self.total += len(chunk)
            if self.total > LOG_HEAD_BYTES:
                skipped = self.total - LOG_HEAD_BYTES - len(tail)
                if skipped > 0:
                    out.write(f"\n[grader] ... {skipped} bytes of log omitted ...\n".encode())
                out.write(tail)


def _gone(p: psutil.Process) -> bool:
    """Dead: a zombie waits only for a parent (maybe this machine's init) to reap it, it runs nothing."""
    try:
        return p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def kill_all(family: list[psutil.Process], timeout: float = 5.0) -> None:
    for p in family:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    deadline = time.monotonic() + timeout
    while not all(_gone(p) for p in family) and time.monotonic() < deadline:
        time.sleep(0.01)


def process_tree(proc: psutil.Process) -> list[psutil.Process]:
    """A process and every descendant (the kernel runs in a session of its own)."""
    try:
        return [proc] + proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def pss_mb(processes: list[psutil.Process]) -> float:
    """Memory as the kernel counts it for a group of processes: each shared page split among its users.

    RSS summed over processes counts shared memory once per process: five DataLoader workers reading
    one 1.6 GB shared batch would look like 8 GB.
    """
    total_kb = 0
    for p in processes:
        try:
            with open(f"/proc/{p.pid}/smaps_rollup", "rb") as rollup:
                for line in rollup:
                    if line.startswith(b"Pss:"):
                        total_kb += int(line.split()[1])
                        break
        except (OSError, ValueError):  # gone, or not ours to read
            pass
    return total_kb / 1024


def device(job: Job) -> str:
    return "cuda" if job.gpu and gpu_visible() else "cpu"


def kernel_python(job: Job) -> str:
    """The Python the job's kernel runs on: the course's environment, else this process's."""
    if job.python and not os.access(job.python, os.X_OK):  # e.g. a dask worker on a machine without it
        raise FileNotFoundError(f"the kernel's Python {job.python} is not on this machine: build the course's "
                                f"environment here (grader env build)")
    return job.python or sys.executable


class LocalRunner(Runner):
    name = "local"

    def __init__(self, output_limit: int | None = None):
        self.output_limit = output_limit
        self._live: set[subprocess.Popen] = set()
        self._lock = threading.Lock()

    def kernel(self, job: Job) -> tuple[dict, dict[str, str]]:
        """Where the kernel runs (the executor's `kernel` spec) and the paths it is given.

        Here: a plain kernel on this machine's paths, writing its output in place, run by the course
        environment's Python when the job names one.
        """
        python = kernel_python(job)
        job.output_dir.mkdir(parents=True, exist_ok=True)
        spec = {"python": python} if python != sys.executable else {}
        return spec, {"data_dir": str(job.data_dir), "test_dir": str(job.test_dir), "output_dir": str(job.output_dir),
                      "device": device(job)}

    def command(self, job: Job) -> list[str]:
        """Write the job's description for the executor; return the command that runs it."""
        for stale in (job.result_path, job.executed_notebook):  # left by an attempt whose worker died
            stale.unlink(missing_ok=True)
        kernel, paths = self.kernel(job)
        spec = {
            "key": job.key, "notebook": str(job.notebook), "run_dir": str(job.run_dir),
            "executed_notebook": str(job.executed_notebook), "output_dir": str(job.output_dir),
            "parameters": {**job.parameters, **paths}, "cell_timeout_s": job.cell_timeout_s,
            "output_mb": job.output_mb, "memory_mb": job.memory_mb, "kernel": kernel,
            "cwd": None if kernel.get("sandbox") else str(job.output_dir),
        }
        if self.output_limit:
            spec["output_limit"] = self.output_limit
        job_file = job.run_dir / "job.json"
        job_file.write_text(json.dumps(spec), encoding="utf-8")
        return [sys.executable, "-m", "grader.runners.execute", str(job_file)]

    def finish(self, job: Job) -> None:
        """After the run, before its result is read: what the runner must clean up itself."""

    def run(self, job: Job) -> RunResult:
        command = self.command(job)
        started_at, start = now_utc(), time.monotonic()
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=self._environment(job), start_new_session=True, preexec_fn=die_with_parent)
        with self._lock:
            self._live.add(proc)
        log = BoundedLog(proc.stdout, job.log_path)
        log.start()
        try:
            verdict = self._watch(proc, job, start)
        finally:
            with self._lock:
                self._live.discard(proc)
            log.join(timeout=10)
        duration = time.monotonic() - start
        self.finish(job)
        if verdict is not None:
            return RunResult.stopped(job, verdict, started_at, duration)
        return RunResult.read(job, proc.returncode, started_at, duration)

    def _watch(self, proc: subprocess.Popen, job: Job, start: float) -> str | None:
        """Wait for the executor; kill its whole tree at the wall-clock limit, or when the kernel's
        processes (the executor's descendants, the grader's own memory left out) pass the memory limit."""
        ps = psutil.Process(proc.pid)
        family: list[psutil.Process] = [ps]
        while proc.poll() is None:
            family = process_tree(ps) or family
            reason = ("wall_clock" if time.monotonic() - start > job.time_limit_s
                      else "memory" if pss_mb(family[1:]) > job.memory_mb
                      else "flood" if pss_mb(family[:1]) > EXECUTOR_MEMORY_MB else None)
            if reason:
                kill_all(family)
                return reason
            time.sleep(POLL_S)
        kill_all(family[1:])  # a kernel left behind by a child that crashed
        return None

    def _environment(self, job: Job) -> dict[str, str]:
        # Even a trusted run never holds the course secret.
        env = {k: v for k, v in os.environ.items() if k != SECRET_ENV}  # the executor's: a sandbox gets none of it
        # Parallel jobs on few cores: each numeric library gets its share, not every core.
        threads = str(max(1, int(job.cpus)))
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env.setdefault(var, threads)
        env.setdefault("MPLBACKEND", "Agg")
        env["PYTHONUNBUFFERED"] = "1"
        if job.python:  # the course's environment: a kernel run here writes no bytecode into it (grader.envs.verify)
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        return env

    def close(self) -> None:
        with self._lock:
            live = list(self._live)
        for proc in live:
            try:
                kill_all(process_tree(psutil.Process(proc.pid)))
            except psutil.NoSuchProcess:
                pass
