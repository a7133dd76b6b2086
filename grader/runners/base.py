"""The runner interface: one job in, one result out, also when the run fails.

A runner executes a notebook somewhere (this process's machine, a container, a cluster) and
reports what happened as a `RunResult`. It never scores and never writes the gradebook: that is
the pipeline's job, so every runner produces the same kind of row.
"""

from __future__ import annotations

import json
import traceback
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import KW_ONLY, asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from grader.i18n import Translator
from grader.runners.cells import running_cell
from grader.text import plain_text

# What a run can end as, before scoring. Scoring adds invalid_predictions.
OK, FAILED, TIMEOUT, OOM, DEAD_KERNEL = "ok", "failed", "timeout", "oom", "dead_kernel"
INVALID_NOTEBOOK, INVALID_PREDICTIONS, INVALID_SUBMISSION, ERROR = (
    "invalid_notebook", "invalid_predictions", "invalid_submission", "error")
STATUSES = (OK, FAILED, TIMEOUT, OOM, DEAD_KERNEL, INVALID_NOTEBOOK, INVALID_PREDICTIONS,
            INVALID_SUBMISSION, ERROR)


# Why a runner stopped a run itself, and the verdict: (status, ename).
STOPS = {"wall_clock": (TIMEOUT, "WallClockTimeout"), "memory": (OOM, "MemoryLimit"), "flood": (FAILED, "OutputFlood")}
# The executor keeps bounded outputs, but ZMQ takes a multipart message whole before the executor sees
# it: past this, the kernel is flooding the grader, and the run stops.
EXECUTOR_MEMORY_MB = 1024
RESULT_LIMIT = 1 << 20  # result.json holds a few KB: anything longer is not the executor's
# A run its kernel broke by sending what the executor cannot read, once the notebook's cells had begun.
PROTOCOL_ERROR = "KernelProtocolError"
# What an exception says, as the student's feedback quotes it: the code that raised it is the student's, and
# during the window (`grader serve`) feedback must not carry the hidden test inputs out. `detail` keeps it whole.
SHOWN_EVALUE_CHARS = 300
SHOWN_ENAME_CHARS = 60  # an exception class's name, which the notebook may define


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def exception_fields(exc: BaseException) -> dict[str, str]:
    return {"ename": type(exc).__name__, "evalue": str(exc),
            "detail": "".join(traceback.format_exception(exc))[-4000:]}


class RunArtifacts:
    """Where a run keeps its files, under `run_dir`: one layout for jobs, results and reports."""

    run_dir: Path

    def __init__(self, run_dir: Path):  # the dataclasses below replace it with their own
        self.run_dir = run_dir

    @property
    def output_dir(self) -> Path:
        return self.run_dir / "output"

    @property
    def executed_notebook(self) -> Path:
        return self.run_dir / "executed.ipynb"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "run.log"

    @property
    def result_path(self) -> Path:
        return self.run_dir / "result.json"

    def log_tail(self, size: int = 4000) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(max(0, log.seek(0, 2) - size))
                return log.read(size).decode("utf-8", "replace")
        except OSError:
            return ""


@dataclass
class Job(RunArtifacts):
    key: str  # the caller's handle for this job (e.g. the submission id)
    notebook: Path
    run_dir: Path  # artifacts: executed.ipynb, run.log, output/
    data_dir: Path
    test_dir: Path
    parameters: dict[str, Any] = field(default_factory=dict)  # seed, smoke, device...
    # The assignment's [limits] and [resources], always given (grader.jobs.make_job): their defaults are
    # grader.schema's, and nowhere else.
    _: KW_ONLY
    time_limit_s: float
    cell_timeout_s: float
    memory_mb: int
    cpus: float
    gpu: bool
    # Enforced by the sandboxes (docker: all; bwrap: tmp, shm and output); the local runner bounds none.
    pids_limit: int
    tmp_mb: int
    shm_mb: int
    output_mb: int
    # The kernel's Python: the course's environment (grader.envs); "" for the runner's own Python.
    python: str = ""


@dataclass
class RunResult(RunArtifacts):
    key: str
    status: str
    run_dir: Path
    started_at: str = ""
    finished_at: str = ""
    duration_s: float = 0.0
    cell: int | None = None  # 1-based position in the student's notebook
    ename: str = ""
    evalue: str = ""
    limit: float | None = None  # the limit that was hit (s or MB)
    detail: str = ""  # free text for the instructor: tracebacks, log tail
    environment: dict = field(default_factory=dict)  # what ran it (grader.runners.environment)

    @classmethod
    def without_results(cls, job: Job, exc: BaseException, status: str = ERROR) -> "RunResult":
        """The result of a job that could not run: a row, never an exception that stops a batch."""
        return cls(job.key, status, job.run_dir, now_utc(), now_utc(), 0.0, **exception_fields(exc))

    @classmethod
    def stopped(cls, job: Job, reason: str, started_at: str, duration: float, cell: int | None = None) -> "RunResult":
        """A run its runner stopped at a limit (a key of STOPS)."""
        status, ename = STOPS[reason]
        limit = {"wall_clock": job.time_limit_s, "memory": job.memory_mb, "flood": EXECUTOR_MEMORY_MB}[reason]
        return cls(job.key, status, job.run_dir, started_at, now_utc(), duration,
                   cell=cell or running_cell(job.executed_notebook), limit=limit, ename=ename)

    @classmethod
    def read(cls, job: Job, exit_code: int | None, started_at: str, duration: float) -> "RunResult":
        """How the executor said the run ended (its result.json, in the run folder that no sandbox
        mounts), read bounded and checked. Without a readable one, an error row with the log's tail."""
        fault = f"the run exited with code {exit_code} without a result"
        if job.result_path.is_file():
            try:
                with open(job.result_path, "rb") as written:
                    result = cls.from_json(written.read(RESULT_LIMIT).decode("utf-8"))
                if result.status not in STATUSES:
                    raise ValueError(f"unknown status {result.status!r}")
                fault = ""
            except (ValueError, TypeError, KeyError) as exc:
                fault = f"the run left an unreadable result.json ({exc})"
        if fault:
            return cls(job.key, ERROR, job.run_dir, started_at, now_utc(), duration, ename="RunnerError",
                       evalue=fault, detail=job.log_tail())
        result.key, result.run_dir = job.key, job.run_dir
        result.started_at, result.duration_s = started_at, duration
        if result.status == OOM:
            result.limit = job.memory_mb
        return result

    def message(self, t: Translator) -> str:
        """What went wrong, in the course's language, for the student's feedback."""
        where = t("run.where", cell=self.cell) if self.cell else ""
        if self.status == FAILED and self.ename == STOPS["flood"][1]:
            return t("run.flood", limit=int(self.limit or 0), where=where)
        if self.status == FAILED and self.ename == PROTOCOL_ERROR:
            return t("run.protocol", where=where)
        if self.status == FAILED:
            return t("run.failed", cell=self.cell or "?", ename=plain_text(self.ename, SHOWN_ENAME_CHARS),
                     evalue=plain_text(self.evalue, SHOWN_EVALUE_CHARS))
        if self.status == TIMEOUT:
            if self.ename == "CellTimeoutError":
                return t("run.timeout_cell", cell=self.cell or "?", limit=self.limit or 0)
            return t("run.timeout_wall", limit=self.limit or 0, where=where)
        if self.status == OOM:
            return t("run.oom", limit=int(self.limit or 0), where=where)
        if self.status == DEAD_KERNEL:
            return t("run.dead_kernel", where=where, detail=plain_text(self.evalue, SHOWN_EVALUE_CHARS))
        return self.evalue

    def to_json(self) -> str:
        data = asdict(self)
        data["run_dir"] = str(self.run_dir)
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> "RunResult":
        data = json.loads(text)
        data["run_dir"] = Path(data["run_dir"])
        return cls(**data)


class Runner(ABC):
    """Runs jobs. Subclasses implement `run`; `run_many` runs up to `parallel` jobs at once."""

    name: str = ""  # its name in the registry (grader.runners)

    @property
    def sandboxed(self) -> bool:
        """Whether a notebook run here is kept from the labels, the shared data, other runs and the network."""
        from grader.runners import RUNNERS  # the registry says; the package imports this module first

        return RUNNERS[self.name].sandboxed

    @abstractmethod
    def run(self, job: Job) -> RunResult:
        """Run one job to completion and describe how it ended; never raise for a notebook's fault."""

    def run_many(self, jobs: Iterable[Job], parallel: int = 1) -> Iterator[RunResult]:
        """Yield each result as soon as its job ends, in completion order."""
        with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix=f"{self.name}-job") as pool:
            futures = [pool.submit(self._run_safely, job) for job in jobs]
            try:
                for future in as_completed(futures):
                    yield future.result()
            finally:
                for future in futures:
                    future.cancel()
                self.close()

    def _run_safely(self, job: Job) -> RunResult:
        try:
            return self.run(job)
        except Exception as exc:  # a grader-side fault is one row, not the end of the batch
            return RunResult.without_results(job, exc)

    def close(self) -> None:
        """Stop work still in flight (the batch was interrupted)."""
