"""Execute one notebook with papermill and write how it ended to result.json.

Runs as `python -m grader.runners.execute JOB_JSON` in a process of its own (the local runner's
child, or the entry point inside a container). It only orchestrates: read, parameterize, run
the engine, classify the outcome, write.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import nbformat
import papermill
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.exceptions import PapermillExecutionError

from grader.runners.cells import student_cell
from grader.runners.environment import describe
from grader.runners.base import (DEAD_KERNEL, ERROR, FAILED, OK, OOM, TIMEOUT, RunResult, exception_fields,
                                 now_utc)

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
# A notebook may print without bound; the executed notebook keeps this much output in all.
DEFAULT_OUTPUT_LIMIT = 2 * 1024 * 1024


class BoundedOutputClient(PapermillNotebookClient):
    """papermill's client with a cap on the output kept, and the running cell remembered."""

    output_limit = DEFAULT_OUTPUT_LIMIT

    def __init__(self, nb_man, **kwargs):
        super().__init__(nb_man, **kwargs)
        self.output_kept = 0
        self.output_dropped = 0
        self.current_cell: int | None = None

    def execute_cell(self, cell, cell_index, *args, **kwargs):
        # papermill calls the synchronous wrapper, which nbclient binds to its own coroutine.
        self.current_cell = cell_index
        return super().execute_cell(cell, cell_index, *args, **kwargs)

    def output(self, outs, msg, display_id, cell_index):
        size = _message_size(msg)
        if self.output_kept + size <= self.output_limit or msg["msg_type"] == "error":
            self.output_kept += size
            return super().output(outs, msg, display_id, cell_index)
        if self.output_dropped == 0:
            outs.append(nbformat.v4.new_output(
                "stream", name="stderr",
                text=f"[grader] output truncated: more than {self.output_limit // 1024} KiB printed\n"))
        self.output_dropped += size
        return None


def _message_size(msg: dict) -> int:
    content = msg.get("content", {})
    if "text" in content:
        return len(content["text"])
    return sum(len(str(v)) for v in content.get("data", {}).values())


class BoundedOutputEngine(NBClientEngine):
    """The nbclient engine, with BoundedOutputClient; registered with papermill as 'grader'."""

    client: BoundedOutputClient | None = None

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                 stderr_file=None, start_timeout=60, execution_timeout=None, **kwargs):
        kwargs.pop("input_path", None)
        cls.client = BoundedOutputClient(
            nb_man, timeout=execution_timeout, startup_timeout=start_timeout, kernel_name=kernel_name,
            log=papermill.log.logger, log_output=log_output, stdout_file=stdout_file,
            stderr_file=stderr_file, **kwargs)
        return cls.client.execute()


papermill_engines.register("grader", BoundedOutputEngine)


def execute(job: dict) -> RunResult:
    output_nb = Path(job["executed_notebook"])
    result = RunResult(job["key"], OK, Path(job["run_dir"]), started_at=now_utc(), environment=describe())
    start = time.monotonic()
    BoundedOutputClient.output_limit = job.get("output_limit", DEFAULT_OUTPUT_LIMIT)
    try:
        papermill.execute_notebook(
            job["notebook"], str(output_nb), parameters=job["parameters"],
            engine_name="grader", kernel_name="python3", language="python", cwd=job["output_dir"],
            execution_timeout=job["cell_timeout_s"], start_timeout=120,
            progress_bar=False, request_save_on_cell_execute=True)
    except PapermillExecutionError as exc:
        result.status = OOM if exc.ename == "MemoryError" else FAILED
        result.cell, result.ename, result.evalue = student_cell(output_nb, exc.cell_index), exc.ename, exc.evalue
        result.detail = ANSI_ESCAPE.sub("", "\n".join(exc.traceback))[-8000:]
    except CellTimeoutError as exc:
        result.status, result.ename, result.limit = TIMEOUT, "CellTimeoutError", job["cell_timeout_s"]
        result.cell, result.evalue = _current_cell(output_nb), str(exc)
    except DeadKernelError as exc:
        result.status, result.ename, result.evalue = DEAD_KERNEL, "DeadKernelError", str(exc)
        result.cell = _current_cell(output_nb)
    except Exception as exc:  # kernel failed to start, unreadable notebook...
        result.status = ERROR
        for name, value in exception_fields(exc).items():
            setattr(result, name, value)
    result.duration_s = time.monotonic() - start
    result.finished_at = now_utc()
    return result


def _current_cell(output_nb: Path) -> int | None:
    client = BoundedOutputEngine.client
    return student_cell(output_nb, client.current_cell if client else None)


def main(job_path: str) -> None:
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    result = execute(job)
    # Write then rename: the runner never reads half a result.
    target = Path(job["run_dir"]) / "result.json"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(result.to_json(), encoding="utf-8")
    os.replace(tmp, target)


if __name__ == "__main__":
    main(sys.argv[1])
