"""The dask runner: each job is a task on a Dask distributed cluster, run there by the local or docker runner.

The grader (the Dask client) submits one task per job and alone writes the gradebook, as each
result comes back. How the notebook, its inputs and its artifacts travel:

- `shared` (default): every worker sees the grader's paths (a shared file system, e.g. NFS on a
  GPU cluster); the job runs on those paths and writes its artifacts in place.
- `task`: nothing is shared. The notebook travels inside the task, the prepared inputs (data_dir
  and test_dir, never the labels) are sent to workers once per batch and cached there by their
  hash, and the run's artifacts come back as an archive that the grader unpacks.

A job that asks for a GPU takes the worker resource `GPU=1`, so a worker started with
`--resources GPU=2` runs two at a time. A worker that dies mid-job is Dask's to handle: the
scheduler runs the task again on another worker (up to `distributed.scheduler.allowed-failures`
times). A notebook that fails is a result, not a retry.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import io
import shutil
import tarfile
import tempfile
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Iterator

from grader.runners import RUNNERS
from grader.runners.base import Job, Runner, RunResult
from grader.schema import TRANSFERS

GPU_RESOURCE = "GPU"


class ClusterError(RuntimeError):
    """The cluster cannot take the batch (unreachable, or no worker has a resource the jobs need)."""


def _pack(folders: dict[str, Path]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, folder in folders.items():
            tar.add(folder, arcname=name)
    return buffer.getvalue()


def _artifact_filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    """Tar's "data" filter (no absolute paths, `..`, devices), and links made harmless.

    The artifacts were written by an untrusted notebook. A link it planted stays a link, so the
    scorer still names it ("predictions.csv is a symbolic link"), but it points nowhere.
    """
    if member.issym() or member.islnk():
        member = copy.copy(member)
        member.type, member.linkname = tarfile.SYMTYPE, "link-not-followed"
    return tarfile.data_filter(member, dest)


def _unpack(archive: bytes, target: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(target, filter=_artifact_filter)


@functools.cache
def _worker_runner(name: str, options: tuple[tuple[str, object], ...]) -> Runner:
    """One runner per worker process and settings: its tasks share the docker runner's GPU slots."""
    from grader.runners import get_runner

    return get_runner(name, **dict(options))


def _worker_runner_fault(name: str, options: tuple) -> str | None:
    """On each worker before a batch: why its runner cannot start (no engine, no image), or None."""
    try:
        _worker_runner(name, options)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _run_shared(job: Job, inner: str, options: tuple) -> RunResult:
    return _worker_runner(inner, options).run(job)


def _run_shipped(job: Job, inner: str, options: tuple, notebook: bytes, inputs: bytes,
                 inputs_id: str) -> tuple[RunResult, bytes]:
    """On the worker: unpack the inputs once (cached by hash), run in a scratch folder, pack the artifacts."""
    cache = Path(tempfile.gettempdir()) / "grader-inputs" / inputs_id
    if not cache.is_dir():
        cache.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{inputs_id}-", dir=cache.parent))
        _unpack(inputs, staging)
        try:
            staging.rename(cache)
        except OSError:  # another task on this machine unpacked the same inputs first
            shutil.rmtree(staging, ignore_errors=True)
    scratch = Path(tempfile.mkdtemp(prefix="grader-run-"))
    try:
        (scratch / job.notebook.name).write_bytes(notebook)
        local = replace(job, notebook=scratch / job.notebook.name, run_dir=scratch / "run",
                        data_dir=cache / "data", test_dir=cache / "test")
        local.run_dir.mkdir()
        result = _worker_runner(inner, options).run(local)
        return replace(result, run_dir=job.run_dir), _pack({".": local.run_dir})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class DaskRunner(Runner):
    name = "dask"

    def __init__(self, address: str | None = None, transfer: str = "shared", worker_runner: str = "bwrap",
                 worker_options: dict | None = None, client=None):
        """`worker_runner` runs each job on its worker ("bwrap", "docker" or "local"), built with `worker_options`."""
        if transfer not in TRANSFERS:
            raise ValueError(f"unknown transfer '{transfer}' (known: {', '.join(TRANSFERS)})")
        from distributed import Client

        self.transfer, self.worker_runner = transfer, worker_runner
        self.worker_options = tuple(sorted((worker_options or {}).items()))
        try:
            self.client = client or Client(address, timeout="20s")
        except OSError as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
        self._futures: list = []

    @property
    def sandboxed(self) -> bool:
        return RUNNERS[self.worker_runner].sandboxed

    @property
    def dashboard_link(self) -> str:
        return self.client.dashboard_link

    def _resources(self, job: Job) -> dict[str, float] | None:
        return {GPU_RESOURCE: 1} if job.gpu else None

    def _check_workers(self) -> None:
        """A runner that cannot start on some worker is one error before the batch, not one per job."""
        faults = self.client.run(_worker_runner_fault, self.worker_runner, self.worker_options)
        broken = {worker: fault for worker, fault in faults.items() if fault}
        if broken:
            worker, fault = next(iter(broken.items()))
            raise ClusterError(f"the {self.worker_runner} runner cannot start on {len(broken)} of {len(faults)} "
                               f"workers (e.g. {worker}: {fault})")

    def _check_resources(self, jobs: list[Job]) -> None:
        if not any(job.gpu for job in jobs):
            return
        workers = self.client.scheduler_info()["workers"].values()
        if not any(w.get("resources", {}).get(GPU_RESOURCE, 0) >= 1 for w in workers):
            raise ClusterError(f"the jobs ask for a GPU but no worker of {self.client.scheduler.address} offers the "
                               f"resource {GPU_RESOURCE}: start workers with `--resources {GPU_RESOURCE}=1`")

    def run(self, job: Job) -> RunResult:
        return next(self.run_many([job]))

    def run_many(self, jobs: Iterable[Job], parallel: int = 1) -> Iterator[RunResult]:
        """Submit every job at once; the cluster's workers (and their resources) set the parallelism."""
        from distributed import as_completed

        jobs = list(jobs)
        self._check_resources(jobs)
        if jobs and self.worker_runner != "local":
            self._check_workers()
        by_future = {}
        shipped_inputs: dict[tuple[Path, Path], tuple] = {}
        for job in jobs:
            key = f"grader-{job.key}-{uuid.uuid4().hex[:8]}"
            if self.transfer == "shared":
                future = self.client.submit(_run_shared, job, self.worker_runner, self.worker_options, key=key,
                                            pure=False, resources=self._resources(job))
            else:
                pair = (job.data_dir, job.test_dir)
                if pair not in shipped_inputs:
                    archive = _pack({"data": job.data_dir, "test": job.test_dir})
                    shipped_inputs[pair] = (self.client.scatter(archive), hashlib.sha256(archive).hexdigest()[:16])
                inputs, inputs_id = shipped_inputs[pair]
                future = self.client.submit(_run_shipped, job, self.worker_runner, self.worker_options,
                                            job.notebook.read_bytes(), inputs, inputs_id, key=key, pure=False,
                                            resources=self._resources(job))
            by_future[future] = job
        self._futures = list(by_future)
        try:
            for future in as_completed(by_future):
                job = by_future[future]
                try:
                    outcome = future.result()
                    if self.transfer == "task":
                        outcome, artifacts = outcome
                        _unpack(artifacts, job.run_dir)
                    if outcome.environment:
                        outcome.environment["worker_runner"] = self.worker_runner
                except Exception as exc:  # e.g. KilledWorker: an error row, retried by the next batch
                    outcome = RunResult.without_results(job, exc)
                yield outcome
        finally:
            self.close()

    def close(self) -> None:
        """Cancel the batch's tasks still queued or running; the client stays up for the next batch."""
        for future in self._futures:
            future.cancel()
        self._futures = []
