"""The docker runner: each notebook runs under papermill in a locked-down container.

What a notebook sees inside its container:
- /grader/data and /grader/test: the assignment's prepared data and hidden test inputs, read-only.
  The labels and the gradebook live in other folders of the grader's work folder: never mounted.
- /grader/input: its own notebook (stripped to its sources) and the job description, read-only.
- /grader/run: the one writable folder (papermill's executed notebook, result.json, output/).
- /tmp: a small tmpfs. The rest of the filesystem is read-only.
- No network but `lo`, no capabilities, no new privileges, a non-root user, and the assignment's
  memory (swap included), CPU, process and /tmp limits.
- The grader's own code, read-only under /opt/grader: the container runs the same
  `grader.runners.execute` as the local runner, so the image need not change with the grader.

Verdicts come from the engine, not from the notebook: the wall-clock limit is enforced by removing
the container, and the engine's `OOMKilled` means oom. Of what the notebook left in /grader/run,
the grader takes only regular files and a real folder: a symlink there may point at any host file.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from queue import Queue
from typing import Iterable, Iterator

import docker
import psutil
import requests
from docker.errors import DockerException, ImageNotFound, NotFound
from docker.types import DeviceRequest, LogConfig, Mount

from grader.course import DockerSettings
from grader.runners.base import OOM, TIMEOUT, Job, Runner, RunResult, now_utc
from grader.runners.gpus import gpu_indices
from grader.runners.staging import IN_SANDBOX, collect, input_dir, sandbox_dir, stage

DEFAULT_IMAGE = DockerSettings.image  # the course's default, named once
RUNNER_LABEL = "grader.runner"  # on every container this runner starts
OWNER_LABEL = "grader.owner"  # host:pid:start time of the grader process that started it
JOB_LABEL = "grader.job"
SANDBOX_UID = 1000  # the image's user, taken when the grader itself runs as root
RUNSC_MIN_PIDS = 4096  # gVisor's own threads count against the pids limit
# What the engine keeps of a container's stdout and stderr: a notebook may print without bound.
LOG_ROTATION = {"max-size": "1m", "max-file": "2"}
GRADER_CODE = "/opt/grader"  # in the container
GRADER_PACKAGE = Path(__file__).resolve().parents[1]  # this grader/ folder, mounted there


class DockerUnavailable(RuntimeError):
    """The engine cannot take the batch: unreachable, image missing, runtime or GPU unknown."""


def connect():
    """A client of the Docker engine that DOCKER_HOST (default: the local socket) names."""
    try:
        # Each running container holds a connection while the runner waits on it.
        client = docker.from_env(max_pool_size=64)
        client.ping()
    except DockerException as exc:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise DockerUnavailable(f"cannot reach the Docker engine at {where}: {exc}. Start dockerd "
                                f"(scripts/docker.sh does) or point DOCKER_HOST at one") from exc
    return client


def parse_gpus(spec: str | None) -> list[str]:
    """`all`, `none` or GPU indices like `0,1`; None means every GPU nvidia-smi shows here."""
    if spec is None:
        return gpu_indices()
    spec = spec.strip().lower()
    if spec in ("", "none"):
        return []
    if spec == "all":
        found = gpu_indices()
        if not found:
            raise DockerUnavailable("--gpus all: nvidia-smi shows no GPU on this machine")
        return found
    ids = [part.strip() for part in spec.split(",")]
    if not all(part.isdigit() for part in ids) or len(set(ids)) != len(ids):
        raise ValueError(f"--gpus: expected all, none or distinct GPU indices like 0,1; got {spec!r}")
    return ids


class GpuSlots:
    """Each GPU offered `per_gpu` times at once; a job takes a slot, waiting while none is free."""

    def __init__(self, ids: Iterable[str], per_gpu: int = 1):
        if per_gpu < 1:
            raise ValueError(f"GPU slots per GPU: expected at least 1, got {per_gpu}")
        self.ids = list(ids)
        self.size = len(self.ids) * per_gpu
        self._free: Queue[str] = Queue()
        for _ in range(per_gpu):
            for gpu in self.ids:
                self._free.put(gpu)

    @contextmanager
    def take(self) -> Iterator[str]:
        gpu = self._free.get()
        try:
            yield gpu
        finally:
            self._free.put(gpu)


def device_requests(gpu: str) -> list[DeviceRequest]:
    """The request that gives a container one GPU, as `docker run --gpus device=N` does."""
    return [DeviceRequest(device_ids=[gpu], capabilities=[["gpu"]])]


def owner_id() -> str:
    me = psutil.Process()
    return f"{socket.gethostname()}:{me.pid}:{me.create_time():.0f}"


def owner_alive(owner: str) -> bool:
    """Whether the grader process that labelled a container still runs (on another host: assume so)."""
    host, _, rest = owner.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname():
        return True
    try:
        return pid.isdigit() and f"{psutil.Process(int(pid)).create_time():.0f}" == started
    except psutil.NoSuchProcess:
        return False


def _remove(container) -> None:
    """Remove a container, killing what still runs in it (faster than `kill` under a fork bomb)."""
    try:
        container.remove(force=True)
    except NotFound:
        pass


class DockerRunner(Runner):
    name = "docker"
    sandboxed = True

    def __init__(self, image: str = DEFAULT_IMAGE, gpus: str | None = None, gpu_slots: int = 1,
                 runtime: str | None = None, client=None):
        self.client = client or connect()
        self.image, self.runtime = image, runtime
        self._check_engine()
        self.gpus = GpuSlots(parse_gpus(gpus), gpu_slots)
        self.owner = owner_id()
        self.leftovers_removed = self.remove_leftovers()
        self._live: dict[str, object] = {}
        self._lock = threading.Lock()

    def _check_engine(self) -> None:
        """Faults of the set-up, found once before the batch instead of once per submission."""
        try:
            image = self.client.images.get(self.image)
            # Recorded with every run: the id names the exact image, the digest where it came from.
            self.image_facts = {"image": self.image, "image_id": image.id,
                                "image_digest": (image.attrs.get("RepoDigests") or [None])[0]}
        except ImageNotFound:
            raise DockerUnavailable(f"the image '{self.image}' is not on this Docker engine: build it with "
                                    f"`grader image build --tag {self.image}`, or name another with --image") from None
        except DockerException as exc:  # e.g. not a valid image name
            raise DockerUnavailable(f"the image '{self.image}': {exc}") from None
        if self.runtime:
            known = sorted(self.client.info().get("Runtimes", {}))
            if self.runtime not in known:
                raise DockerUnavailable(f"the runtime '{self.runtime}' is not registered with the Docker engine "
                                        f"(known: {', '.join(known)}); for gVisor see the README")

    def remove_leftovers(self) -> int:
        """Remove the containers of grader processes that are gone (a crashed or killed run)."""
        removed = 0
        for container in self.client.containers.list(all=True, filters={"label": RUNNER_LABEL}):
            if not owner_alive(container.labels.get(OWNER_LABEL, "")):
                _remove(container)
                removed += 1
        return removed

    def run_many(self, jobs: Iterable[Job], parallel: int = 1) -> Iterator[RunResult]:
        """As many jobs at once as asked, and at least one per GPU slot when jobs want a GPU."""
        jobs = list(jobs)
        if any(job.gpu for job in jobs):
            parallel = max(parallel, self.gpus.size)
        return super().run_many(jobs, parallel)

    def run(self, job: Job) -> RunResult:
        slot = self.gpus.take() if job.gpu and self.gpus.size else nullcontext(None)
        with slot as gpu:  # the time limit starts when the container does, not while it waits
            return self._run(job, gpu)

    def container_options(self, job: Job, gpu: str | None) -> dict:
        """Everything `containers.create` gets: the sandbox, in one place."""
        uid = os.getuid() or SANDBOX_UID
        gid = os.getgid() if os.getuid() else SANDBOX_UID
        threads = str(max(1, int(job.cpus)))
        pids = max(job.pids_limit, RUNSC_MIN_PIDS) if self.runtime == "runsc" else job.pids_limit
        mounts = [
            Mount(IN_SANDBOX["data"], str(job.data_dir), type="bind", read_only=True),
            Mount(IN_SANDBOX["test"], str(job.test_dir), type="bind", read_only=True),
            Mount(IN_SANDBOX["input"], str(input_dir(job)), type="bind", read_only=True),
            Mount(IN_SANDBOX["run"], str(sandbox_dir(job)), type="bind", read_only=False),
            Mount(f"{GRADER_CODE}/grader", str(GRADER_PACKAGE), type="bind", read_only=True),
        ]
        return dict(
            image=self.image, command=["python", "-m", "grader.runners.execute", f"{IN_SANDBOX['input']}/job.json"],
            user=f"{uid}:{gid}", working_dir=f"{IN_SANDBOX['run']}/output",
            # USER: the uid may have no passwd entry in the image, and getpass.getuser() needs a name.
            environment={"PYTHONPATH": GRADER_CODE, "HOME": "/tmp", "USER": "grader", "MPLBACKEND": "Agg",
                         "PYTHONUNBUFFERED": "1",
                         "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads},
            labels={RUNNER_LABEL: self.name, OWNER_LABEL: self.owner, JOB_LABEL: job.key},
            network_mode="none", read_only=True, mounts=mounts,
            tmpfs={"/tmp": f"rw,nosuid,nodev,size={job.tmp_mb}m,mode=1777"}, shm_size=f"{job.shm_mb}m",
            mem_limit=f"{job.memory_mb}m", memswap_limit=f"{job.memory_mb}m", nano_cpus=int(job.cpus * 1e9),
            pids_limit=pids, cap_drop=["ALL"], security_opt=["no-new-privileges"], ipc_mode="private",
            log_config=LogConfig(type=LogConfig.types.JSON, config=LOG_ROTATION),
            device_requests=device_requests(gpu) if gpu is not None else None, runtime=self.runtime,
        )

    def _run(self, job: Job, gpu: str | None) -> RunResult:
        stage(job, "cpu" if gpu is None else "cuda", SANDBOX_UID if os.getuid() == 0 else None)
        container = self.client.containers.create(**self.container_options(job, gpu))
        with self._lock:
            self._live[container.id] = container
        started_at, start = now_utc(), time.monotonic()
        timed_out = oom_killed = False
        exit_code = None
        try:
            container.start()
            try:
                exit_code = container.wait(timeout=job.time_limit_s)["StatusCode"]
            except requests.exceptions.RequestException:  # the wait outlived the wall-clock limit
                timed_out = True
            else:
                container.reload()
                oom_killed = container.attrs["State"].get("OOMKilled", False)
            job.log_path.write_bytes(container.logs(stdout=True, stderr=True))
        finally:
            _remove(container)
            duration = time.monotonic() - start
            with self._lock:
                self._live.pop(container.id, None)
        collect(job)
        if timed_out:
            return RunResult.stopped(job, TIMEOUT, started_at, duration)
        result = RunResult.read(job, exit_code, started_at, duration)
        result.environment.update(self.image_facts)
        if oom_killed:  # whichever process the kernel chose: often the Jupyter kernel, papermill saw it die
            return RunResult.stopped(job, OOM, started_at, duration, cell=result.cell)
        return result

    def close(self) -> None:
        """Kill the batch's containers still running (the batch was interrupted)."""
        with self._lock:
            live = list(self._live.values())
        for container in live:
            _remove(container)
