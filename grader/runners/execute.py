"""Execute one notebook with papermill and write how it ended to result.json.

Runs as `python -m grader.runners.execute JOB_JSON`, a child of the runner, outside any sandbox:
it reads the notebook, parameterizes it, drives a kernel (in the sandbox the job names,
grader.runners.kernels) over the Jupyter protocol, and writes the executed notebook and the
result in the run folder, which the kernel cannot reach. It only orchestrates: read,
parameterize, run the engine, classify the outcome, write.

What comes back from the kernel is bounded before it is kept: the outputs of a cell and of the run
(cut with a note), errors, the environment record. Widget (comm) messages are not kept at all. A
message is taken whole by ZMQ before any of this sees it: the runner bounds the executor's own
memory (base.EXECUTOR_MEMORY_MB), and at most RECEIVE_QUEUE messages wait.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import sys
import time
import uuid
from pathlib import Path

import nbformat
import papermill
import zmq
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.exceptions import PapermillExecutionError

from grader.runners import environment
from grader.runners.base import (DEAD_KERNEL, ERROR, FAILED, OK, OOM, PROTOCOL_ERROR, TIMEOUT, RunResult,
                                 exception_fields, now_utc)
from grader.runners.cells import student_cell
from grader.runners.kernels import PROVISIONERS, EnvironmentKernel, copy_out

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
# A notebook may print without bound; the executed notebook keeps this much output in all, and per cell.
DEFAULT_OUTPUT_LIMIT = 2 * 1024 * 1024
CELL_OUTPUT_LIMIT = 512 * 1024
ERROR_TEXT_LIMIT = 16 * 1024  # of one error's traceback, kept even past the output limits
RECEIVE_QUEUE = 2
ENVIRONMENT_LIMIT = 64 * 1024
OUTPUT_TYPES = {"stream", "display_data", "execute_result", "update_display_data", "error"}
PAPERMILL_TAGS = ("injected-parameters",)  # papermill's to write: a hand-in's own would override the grader's


def _bounded(context: zmq.Context) -> zmq.Context:
    """A ZMQ context whose sockets queue few messages."""
    context.setsockopt(zmq.RCVHWM, RECEIVE_QUEUE)
    return context


class BoundedKernelManager(AsyncKernelManager):
    """A kernel manager whose own sockets (control) and whose clients' sockets are bounded."""

    def client(self, **kwargs):
        kc = super().client(**kwargs)
        _bounded(kc.context)
        return kc


def kernel_manager(job: dict) -> AsyncKernelManager:
    """The kernel: local (trusted runs; another Python when the job names one), or in the sandbox the job describes."""
    spec = job.get("kernel") or {}
    km = BoundedKernelManager(kernel_name="python3")
    _bounded(km.context)
    km.connection_file = str(Path(job["run_dir"]) / "kernel.json")
    km.kernel_id = str(uuid.uuid4())
    provisioner = PROVISIONERS[spec["sandbox"]] if spec.get("sandbox") else EnvironmentKernel if spec else None
    if provisioner is not None:
        km.provisioner = provisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)
        km.provisioner.spec = spec
    return km


# Read in the kernel before the first student cell runs: what ran the notebook, never a file it wrote.
ENVIRONMENT_PROBE = ("(lambda ns: (exec({source!r}, ns), __import__('json').dumps(ns['describe']()))[1])"
                     "({{'__name__': 'grader_environment'}})")


class BoundedOutputClient(PapermillNotebookClient):
    """papermill's client with bounded outputs, the running cell remembered, and the sandbox's output copied out."""

    output_limit = DEFAULT_OUTPUT_LIMIT
    job: dict = {}

    def __init__(self, nb_man, **kwargs):
        super().__init__(nb_man, **kwargs)
        self.output_kept = 0
        self.output_dropped = 0
        self.cell_kept: dict[int, int] = {}
        self.current_cell: int | None = None
        self.environment: dict = {}
        self.sandbox = None
        self.output_copied = 0

    def create_kernel_manager(self):
        self.km = kernel_manager(self.job)
        self.sandbox = self.km.provisioner
        return self.km

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        self.environment = await self._probe_environment()
        return kc

    # papermill drives the synchronous wrappers, which nbclient bound to its own coroutines.
    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    async def _probe_environment(self) -> dict:
        source = inspect.getsource(environment)
        msg_id = self.kc.execute("", silent=True, store_history=False,
                                 user_expressions={"env": ENVIRONMENT_PROBE.format(source=source)})
        reply = await self.async_wait_for_reply(msg_id)
        found = ((reply or {}).get("content", {}).get("user_expressions", {}).get("env") or {})
        text = str(found.get("data", {}).get("text/plain", ""))[:ENVIRONMENT_LIMIT]
        try:
            described = json.loads(ast.literal_eval(text))
        except (ValueError, SyntaxError, TypeError):
            return {"probe": "failed"}
        return described if isinstance(described, dict) else {"probe": "failed"}

    def execute_cell(self, cell, cell_index, *args, **kwargs):
        # papermill calls the synchronous wrapper, which nbclient binds to its own coroutine.
        self.current_cell = cell_index
        return super().execute_cell(cell, cell_index, *args, **kwargs)

    def process_message(self, msg, cell, cell_index):
        msg_type = msg["msg_type"]
        if msg_type.startswith("comm_"):  # widget state would grow the notebook's metadata without bound
            return None
        content = msg.get("content", {})
        if not isinstance(content.get("execution_count", 0), (int, type(None))):
            content.pop("execution_count")
        if msg_type in OUTPUT_TYPES and not self._keep(msg, cell_index):
            return None
        return super().process_message(msg, cell, cell_index)

    def _keep(self, msg: dict, cell_index: int) -> bool:
        size = _message_size(msg)
        in_cell = self.cell_kept.get(cell_index, 0)
        if msg["msg_type"] == "error" and not any(o.get("output_type") == "error"
                                                   for o in self.nb.cells[cell_index].outputs):
            _cut_error(msg["content"])  # the cell's first error is the verdict: kept, cut
            return True
        run_room, cell_room = self.output_limit - self.output_kept, CELL_OUTPUT_LIMIT - in_cell
        if size <= min(run_room, cell_room):
            self.output_kept += size
            self.cell_kept[cell_index] = in_cell + size
            return True
        self.output_dropped += size
        if cell_room < 0:  # this cell was cut already
            return False
        where, limit = ("in all", self.output_limit) if run_room < cell_room else ("in this cell", CELL_OUTPUT_LIMIT)
        note = f"[grader] output truncated: more than {limit // 1024} KiB printed {where}\n"
        self.cell_kept[cell_index] = CELL_OUTPUT_LIMIT + 1
        room = min(run_room, cell_room)
        if msg["msg_type"] == "stream" and room > 0:  # printed text: its start is kept, then the note
            self.output_kept += room
            msg["content"]["text"] = str(msg["content"].get("text", ""))[:room] + "\n" + note
            return True
        self.nb.cells[cell_index].outputs.append(nbformat.v4.new_output("stream", name="stderr", text=note))
        return False

    async def _async_cleanup_kernel(self):
        await self._copy_output()
        await super()._async_cleanup_kernel()

    _cleanup_kernel = run_sync(_async_cleanup_kernel)

    async def _copy_output(self) -> None:
        """Before the sandbox goes: its output_dir, bounded, into the run folder."""
        if self.sandbox is None or self.output_copied:
            return
        folder = self.sandbox.output_folder()
        if folder is None:
            return
        try:
            self.output_copied = copy_out(folder, Path(self.job["output_dir"]), self.job["output_mb"] << 20) or 1
        except Exception as exc:  # what the notebook left must never decide the run's status
            print(f"[grader] output_dir not copied: {type(exc).__name__}: {exc}", flush=True)


def _message_size(msg: dict) -> int:
    """What keeping the message would add to the notebook: all of its content (text, data, metadata)."""
    content = msg.get("content") or {}
    return sum(len(value) if isinstance(value, str) else len(str(value)) for value in content.values())


def _cut_error(content: dict) -> None:
    content["ename"] = str(content.get("ename", ""))[:200]
    content["evalue"] = str(content.get("evalue", ""))[:ERROR_TEXT_LIMIT // 4]
    lines, kept = [], 0
    for line in content.get("traceback") or []:
        line = str(line)[:ERROR_TEXT_LIMIT - kept]
        lines.append(line)
        kept += len(line)
        if kept >= ERROR_TEXT_LIMIT:
            break
    content["traceback"] = lines


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


def prepared_notebook(path: Path) -> nbformat.NotebookNode:
    """The hand-in as it will run: no outputs of its own, and no cell where papermill would inject."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.get("tags")
        if isinstance(tags, list) and any(tag in PAPERMILL_TAGS for tag in tags):
            cell.metadata["tags"] = [tag for tag in tags if tag not in PAPERMILL_TAGS]
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def execute(job: dict) -> RunResult:
    output_nb = Path(job["executed_notebook"])
    result = RunResult(job["key"], OK, Path(job["run_dir"]), started_at=now_utc())
    start = time.monotonic()
    BoundedOutputClient.output_limit = job.get("output_limit", DEFAULT_OUTPUT_LIMIT)
    BoundedOutputClient.job = job
    try:
        papermill.execute_notebook(
            prepared_notebook(Path(job["notebook"])), str(output_nb), parameters=job["parameters"],
            engine_name="grader", kernel_name="python3", language="python", cwd=job.get("cwd"),
            execution_timeout=job["cell_timeout_s"], start_timeout=120,
            progress_bar=False, request_save_on_cell_execute=True)
    except PapermillExecutionError as exc:
        result.status = OOM if exc.ename == "MemoryError" else FAILED
        result.cell, result.ename, result.evalue = student_cell(output_nb, exc.cell_index), exc.ename, exc.evalue
        result.detail = ANSI_ESCAPE.sub("", "\n".join(exc.traceback))[-8000:]
    except CellTimeoutError as exc:
        result.status, result.ename, result.limit = TIMEOUT, "CellTimeoutError", job["cell_timeout_s"]
        result.cell, result.evalue = _current_cell(output_nb), str(exc)[:2000]
    except DeadKernelError as exc:
        result.status, result.ename, result.evalue = DEAD_KERNEL, "DeadKernelError", str(exc)
        result.cell = _current_cell(output_nb)
        if getattr(_client_sandbox(), "oom_killed", False):  # the container's cgroup killed it
            result.status, result.ename, result.limit = OOM, "MemoryLimit", job.get("memory_mb")
    except Exception as exc:  # kernel failed to start, unreadable notebook...
        fields = exception_fields(exc)
        if BoundedOutputEngine.client is not None and BoundedOutputEngine.client.current_cell is not None:
            # The notebook's cells had begun: what broke the run came from its kernel (a message built by hand
            # that nbclient cannot read), so it is the notebook's, and counts (`grader serve` refunds errors).
            result.status, result.ename, result.detail = FAILED, PROTOCOL_ERROR, fields["detail"]
            result.cell = _current_cell(output_nb)
        else:
            result.status = ERROR
            for name, value in fields.items():
                setattr(result, name, value)
    client = BoundedOutputEngine.client
    result.environment = client.environment if client else {}
    result.duration_s = time.monotonic() - start
    result.finished_at = now_utc()
    return result


def _client_sandbox():
    client = BoundedOutputEngine.client
    return client.sandbox if client else None


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
