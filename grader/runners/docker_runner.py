"""The docker runner: each notebook's kernel runs alone in a locked-down container.

The executor (papermill, grader.runners.execute) runs on this machine, as in the bwrap runner; it
starts the container through the kernel provisioner (grader.runners.kernels.DockerKernel) and
drives the kernel in it over ipc sockets. What the kernel sees inside its container:
- /grader/data and /grader/test: the assignment's prepared data and hidden test inputs, read-only.
  The labels and the gradebook live in other folders of the grader's work folder: never mounted.
- /grader/run/output (output_dir): a tmpfs volume of the assignment's `output_mb`, and
  /grader/kernel, a small one for the sockets. No host folder is writable; its notebook is not there.
- /tmp: a small tmpfs. The rest of the filesystem is read-only.
- No network (sockets are files), no capabilities, no new privileges, a non-root user, and the
  assignment's memory (swap included), CPU, process and /tmp limits.

Verdicts come from the engine and the executor, not from the notebook: the wall-clock limit is
enforced by killing the executor and removing the job's containers, and the engine's `OOMKilled`
means oom. The image needs only Python with ipykernel and the course's packages.
"""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager, nullcontext
from queue import Queue
from typing import Iterable, Iterator

import docker
import psutil
from docker.errors import DockerException, ImageNotFound, NotFound

from grader.course import DockerSettings
from grader.runners.base import Job, RunResult
from grader.runners.gpus import gpu_indices
from grader.runners.kernels import IN_SANDBOX
from grader.runners.local import LocalRunner

DEFAULT_IMAGE = DockerSettings.image  # the course's default, named once
RUNNER_LABEL = "grader.runner"  # on every container this runner starts
OWNER_LABEL = "grader.owner"  # host:pid:start time of the grader process that started it
JOB_LABEL = "grader.job"
SANDBOX_UID = 1000  # the image's user, taken when the grader itself runs as root
RUNSC_MIN_PIDS = 4096  # gVisor's own threads count against the pids limit
# What the engine keeps of a container's stdout and stderr: a notebook may print without bound.
LOG_ROTATION = {"max-size": "1m", "max-file": "2"}


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


def remove_container(container) -> None:
    """Remove a container, killing what still runs in it (faster than `kill` under a fork bomb)."""
    try:
        container.remove(force=True)
    except NotFound:
        pass


def remove_volume(volume) -> None:
    try:
        volume.remove(force=True)
    except NotFound:
        pass


class DockerRunner(LocalRunner):
    name = "docker"

    def __init__(self, image: str = DEFAULT_IMAGE, gpus: str | None = None, gpu_slots: int = 1,
                 runtime: str | None = None, client=None, output_limit: int | None = None):
        super().__init__(output_limit)
        self.client = client or connect()
        self.image, self.runtime = image, runtime
        self._check_engine()
        self.gpus = GpuSlots(parse_gpus(gpus), gpu_slots)
        self.owner = owner_id()
        self.leftovers_removed = self.remove_leftovers()
        self._gpu_of: dict[str, str | None] = {}  # job key -> the GPU its slot holds

    def _check_engine(self) -> None:
        """Faults of the set-up, found once before the batch instead of once per submission."""
        try:
            image = self.client.images.get(self.image)
            # Recorded with every run: the id names the exact image, the digest where it came from.
            self.image_facts = {"image": self.image, "image_id": image.id,
                                "image_digest": (image.attrs.get("RepoDigests") or [None])[0]}
            # What it was built with (grader.envs.image_labels).
            self.image_labels = (image.attrs.get("Config") or {}).get("Labels") or {}
        except ImageNotFound:
            raise DockerUnavailable(f"the image '{self.image}' is not on this Docker engine: build it with "
                                    f"`grader image build --tag {self.image}`, or name another with --image") from None
        except DockerException as exc:  # e.g. not a valid image name
            raise DockerUnavailable(f"the image '{self.image}': {exc}") from None
        info = self.client.info()
        volumes = os.path.join(info.get("DockerRootDir", "/var/lib/docker"), "volumes")
        if not os.access(volumes, os.X_OK):  # where the kernel's sockets and output_dir are reached
            raise DockerUnavailable(f"the docker runner reaches each kernel through the engine's volume folder "
                                    f"{volumes}, which this user cannot enter: run the grader as root")
        if self.runtime:
            known = sorted(info.get("Runtimes", {}))
            if self.runtime not in known:
                raise DockerUnavailable(f"the runtime '{self.runtime}' is not registered with the Docker engine "
                                        f"(known: {', '.join(known)}); for gVisor see the README")

    def _labelled(self, **labels: str) -> dict[str, str]:
        return {"label": [f"{k}={v}" for k, v in {RUNNER_LABEL: self.name, **labels}.items()]}

    def _remove_labelled(self, filters: dict, alive=lambda labels: False) -> int:
        removed = 0
        for container in self.client.containers.list(all=True, filters=filters):
            if not alive(container.labels):
                remove_container(container)
                removed += 1
        for volume in self.client.volumes.list(filters=filters):
            if not alive(volume.attrs.get("Labels") or {}):
                remove_volume(volume)
        return removed

    def remove_leftovers(self) -> int:
        """Remove the containers and volumes of grader processes that are gone (a crashed or killed run)."""
        return self._remove_labelled(self._labelled(), alive=lambda labels: owner_alive(labels.get(OWNER_LABEL, "")))

    def run_many(self, jobs: Iterable[Job], parallel: int = 1) -> Iterator[RunResult]:
        """As many jobs at once as asked, and at least one per GPU slot when jobs want a GPU."""
        jobs = list(jobs)
        if any(job.gpu for job in jobs):
            parallel = max(parallel, self.gpus.size)
        return super().run_many(jobs, parallel)

    def run(self, job: Job) -> RunResult:
        slot = self.gpus.take() if job.gpu and self.gpus.size else nullcontext(None)
        with slot as gpu:  # the time limit starts when the container does, not while it waits
            self._gpu_of[job.key] = gpu
            try:
                result = super().run(job)
            finally:
                self._gpu_of.pop(job.key, None)
        result.environment.update(self.image_facts)
        return result

    def kernel(self, job: Job) -> tuple[dict, dict[str, str]]:
        """The container, described for the executor's DockerKernel: the sandbox, in one place."""
        gpu = self._gpu_of.get(job.key)
        job.output_dir.mkdir(parents=True, exist_ok=True)
        uid = os.getuid() or SANDBOX_UID
        gid = os.getgid() if os.getuid() else SANDBOX_UID
        threads = str(max(1, int(job.cpus)))
        pids = max(job.pids_limit, RUNSC_MIN_PIDS) if self.runtime == "runsc" else job.pids_limit
        labels = {RUNNER_LABEL: self.name, OWNER_LABEL: self.owner, JOB_LABEL: job.key}
        container = dict(
            image=self.image, user=f"{uid}:{gid}", working_dir=IN_SANDBOX["output"],
            # USER: the uid may have no passwd entry in the image, and getpass.getuser() needs a name.
            environment={"HOME": "/tmp", "USER": "grader", "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1",
                         "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads},
            labels=labels, network_mode="none", read_only=True,
            tmpfs={"/tmp": f"rw,nosuid,nodev,size={job.tmp_mb}m,mode=1777"}, shm_size=f"{job.shm_mb}m",
            mem_limit=f"{job.memory_mb}m", memswap_limit=f"{job.memory_mb}m", nano_cpus=int(job.cpus * 1e9),
            pids_limit=pids, cap_drop=["ALL"], security_opt=["no-new-privileges"], ipc_mode="private",
            log_config=LOG_ROTATION, runtime=self.runtime,
            init=True)  # the kernel is not PID 1, which ignores even its own SIGKILL: a dying kernel dies
        spec = {"sandbox": "docker", "python": "python", "container": container, "labels": labels,
                "binds": [[IN_SANDBOX["data"], str(job.data_dir)], [IN_SANDBOX["test"], str(job.test_dir)]],
                "uid": uid, "gid": gid, "output_mb": job.output_mb, "gpu": gpu}
        paths = {"data_dir": IN_SANDBOX["data"], "test_dir": IN_SANDBOX["test"], "output_dir": IN_SANDBOX["output"],
                 "device": "cpu" if gpu is None else "cuda"}
        return spec, paths

    def finish(self, job: Job) -> None:
        """The executor removes its container; one it left (killed at the wall-clock limit) goes here."""
        self._remove_labelled(self._labelled(**{OWNER_LABEL: self.owner, JOB_LABEL: job.key}))

    def close(self) -> None:
        """Kill the batch's executors and remove their containers (the batch was interrupted)."""
        super().close()
        self._remove_labelled(self._labelled(**{OWNER_LABEL: self.owner}))
