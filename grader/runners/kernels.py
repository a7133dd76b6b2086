"""The kernel alone in the sandbox: jupyter_client kernel provisioners for bubblewrap and docker.

The executor (papermill and nbclient, grader.runners.execute) runs outside the sandbox, in the
grader's process tree; only the Jupyter kernel runs inside. It reaches the kernel over ZMQ `ipc`
sockets that the kernel binds in /grader/kernel, a small tmpfs of the sandbox's own, which the
executor opens from outside: bubblewrap's through `/proc/<sandbox pid>/root`, docker's through
the engine's mount point of a tmpfs volume. So:

- the notebook file never enters the sandbox: its markdown, tags and metadata stay outside, and
  only code cells reach the kernel, as execute requests;
- the executed notebook, result.json and the environment record are written by the executor in
  the run folder, which no sandbox mounts;
- output_dir is a tmpfs of `output_mb` in the sandbox (a disk quota that the host's disk never
  sees); the executor copies it out, bounded, before it stops the kernel;
- there is no network in the sandbox, not even to the executor: sockets are files.

A provisioner takes its sandbox's description (`spec`) from the job, as the runner wrote it.
"""

from __future__ import annotations

import json
import os
import select
import signal
import stat
import subprocess
import uuid
from pathlib import Path
from typing import Any

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning.local_provisioner import LocalProvisioner
from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase

# Where things are inside every sandbox.
IN_SANDBOX = {"data": "/grader/data", "test": "/grader/test", "output": "/grader/run/output",
              "kernel": "/grader/kernel", "connection": "/grader/kernel.json"}
SOCKET_PREFIX = "k"  # the kernel's sockets: /grader/kernel/k-1 ... k-5
PORTS = {"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5}
KERNEL_DIR_MB = 1  # sockets only
KERNEL_MODULE = "ipykernel_launcher"
LINK_TARGET = "link-not-followed"  # what a link the notebook planted in output_dir points to once copied out
# What is copied out of output_dir besides its bytes: an empty folder costs nothing in the sandbox's tmpfs.
MAX_ENTRIES = 10_000
MAX_DEPTH = 32
START_TIMEOUT_S = 60


def kernel_command(python: str) -> list[str]:
    return [python, "-m", KERNEL_MODULE, "-f", IN_SANDBOX["connection"]]


def copy_out(source: Path, target: Path, limit_bytes: int) -> int:
    """Copy what a sandbox left in `source` to `target`: regular files and folders, at most `limit_bytes`,
    MAX_ENTRIES entries and MAX_DEPTH levels. Returns the bytes copied.

    The sandbox may still change `source` while this reads it, and a link it plants would be
    resolved from the host's root: every folder and file is opened relative to its parent's
    descriptor with O_NOFOLLOW, so nothing is followed, whatever is swapped in between. A link is
    kept as a link to nowhere, so that the scorer can still say "predictions.csv is a symbolic link".
    """
    target.mkdir(parents=True, exist_ok=True)
    copied = entries = 0
    try:
        root = os.open(source, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return 0
    folders = [(root, target, 0)]
    while folders:
        folder, into, depth = folders.pop()
        try:
            for entry in os.scandir(folder):
                entries += 1
                if entries > MAX_ENTRIES or copied >= limit_bytes:
                    break
                copied += _copy_entry(folder, entry, into, depth, limit_bytes - copied, folders)
        except OSError:
            pass
        finally:
            os.close(folder)
    for folder, _, _ in folders:  # left by the entry limit
        os.close(folder)
    return copied


def _copy_entry(folder: int, entry: os.DirEntry, into: Path, depth: int, room: int, folders: list) -> int:
    destination = into / entry.name
    try:
        mode = entry.stat(follow_symlinks=False).st_mode
        if stat.S_ISLNK(mode):
            os.symlink(LINK_TARGET, destination)
        elif stat.S_ISDIR(mode) and depth < MAX_DEPTH:
            child = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
            destination.mkdir()
            folders.append((child, destination, depth + 1))
        elif stat.S_ISREG(mode):
            fd = os.open(entry.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY, dir_fd=folder)
            with os.fdopen(fd, "rb") as src:
                if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):  # swapped between scandir and open
                    return 0
                with open(destination, "wb") as dst:
                    copied = 0
                    while copied < room and (chunk := src.read(min(1 << 20, room - copied))):
                        dst.write(chunk)
                        copied += len(chunk)
                    return copied
    except OSError:  # swapped or gone while it was read: not copied
        pass
    return 0


class EnvironmentKernel(LocalProvisioner):
    """A kernel on this machine, unsandboxed (the local runner), run by the course environment's Python
    (`spec["python"]`, grader.envs) instead of the executor's."""

    spec: dict[str, Any] = {}  # set by the executor before the kernel starts

    def output_folder(self) -> Path | None:
        return None  # the kernel writes output_dir in place: nothing to copy out

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        kwargs = await super().pre_launch(**kwargs)
        python = self.spec["python"]
        kwargs["cmd"] = [python, "-m", KERNEL_MODULE, "-f", os.path.realpath(self.parent.connection_file)]
        env = {k: v for k, v in kwargs.get("env", os.environ).items() if k != "VIRTUAL_ENV"}
        # Its own bin first: a notebook's subprocess or `!python` finds the environment's Python too.
        env["PATH"] = os.pathsep.join([str(Path(python).parent), env.get("PATH", os.defpath)])
        kwargs["env"] = env
        return kwargs


class SandboxProvisioner(KernelProvisionerBase):
    """A kernel in a sandbox, reached over ipc sockets; subclasses start and stop the sandbox."""

    spec: dict[str, Any] = {}  # set by the executor before the kernel starts

    def _socket_folder(self) -> str:
        """The sandbox's /grader/kernel as the executor reaches it (known once the sandbox runs)."""
        raise NotImplementedError

    def output_folder(self) -> Path | None:
        """The sandbox's output_dir as the executor reaches it, or None when the sandbox is gone."""
        raise NotImplementedError

    async def start_sandbox(self, cmd: list[str]) -> None:
        raise NotImplementedError

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        km = self.parent
        km.transport = "ipc"
        km.ip = f"{IN_SANDBOX['kernel']}/{SOCKET_PREFIX}"
        for name, port in PORTS.items():
            setattr(km, name, port)
        km.write_connection_file()
        self.connection_info = km.get_connection_info()
        # The kernel's own copy: in the sandbox's view, read-only there; the manager may rewrite its file.
        self.sandbox_connection_file = Path(km.connection_file).with_name("kernel-sandbox.json")
        info = dict(self.connection_info, key=self.connection_info["key"].decode())
        self.sandbox_connection_file.write_text(json.dumps(info), encoding="utf-8")
        self.sandbox_connection_file.chmod(0o644)
        kwargs.pop("env", None)  # the sandbox's environment is the runner's, never the grader's
        return {**kwargs, "cmd": kernel_command(self.spec["python"])}

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        await self.start_sandbox(cmd)
        host_ip = f"{self._socket_folder()}/{SOCKET_PREFIX}"
        self.parent.ip = host_ip
        self.connection_info = dict(self.connection_info, ip=host_ip)
        return self.connection_info

    async def cleanup(self, restart: bool = False) -> None:
        self.sandbox_connection_file.unlink(missing_ok=True)

    def get_shutdown_wait_time(self, recommended: float = 5.0) -> float:
        return min(recommended, 2.0)  # the kernel's state is worth nothing once the notebook ran


class BwrapKernel(SandboxProvisioner):
    """The kernel in bubblewrap: `spec["argv"]` is bwrap with its options, up to the command."""

    process: subprocess.Popen | None = None
    sandbox_pid: int | None = None

    @property
    def has_process(self) -> bool:
        return self.process is not None

    def _socket_folder(self) -> str:
        return f"/proc/{self.sandbox_pid}/root{IN_SANDBOX['kernel']}"

    def output_folder(self) -> Path | None:
        if self.process is None or self.process.poll() is not None:
            return None
        return Path(f"/proc/{self.sandbox_pid}/root{IN_SANDBOX['output']}")

    async def start_sandbox(self, cmd: list[str]) -> None:
        status_read, status_write = os.pipe()
        binary, *options = self.spec["argv"]  # options end with the root made read-only: bind the file before
        argv = [binary, "--ro-bind", str(self.sandbox_connection_file), IN_SANDBOX["connection"], *options,
                "--json-status-fd", str(status_write), "--", *cmd]
        try:
            # An empty environment: bwrap's own processes are visible inside, with their /proc/<pid>/environ.
            self.process = subprocess.Popen(argv, env={}, cwd="/", stdin=subprocess.DEVNULL, pass_fds=(status_write,),
                                            start_new_session=True)
        finally:
            os.close(status_write)
        try:
            self.sandbox_pid = _read_child_pid(status_read)
        finally:
            os.close(status_read)
        if self.sandbox_pid is None:
            code = self.process.wait(timeout=10)
            raise RuntimeError(f"bubblewrap did not start the kernel's sandbox (exit code {code})")

    async def poll(self) -> int | None:
        return self.process.poll() if self.process else 0

    async def wait(self) -> int | None:
        if self.process is None:
            return 0
        code = self.process.wait()
        self.process = None
        return code

    async def send_signal(self, signum: int) -> None:
        if self.process and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signum)  # bwrap's session: it dies, and its sandbox with it
            except ProcessLookupError:
                pass

    async def kill(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGKILL)

    async def terminate(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGTERM)


def _read_child_pid(fd: int) -> int | None:
    """bwrap's first status line names the sandbox's first process; None if bwrap ended before it."""
    data = b""
    while b"\n" not in data and len(data) < 4096:
        ready, _, _ = select.select([fd], [], [], START_TIMEOUT_S)
        if not ready:
            return None
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    try:
        return int(json.loads(data.split(b"\n")[0])["child-pid"])
    except (ValueError, KeyError, TypeError):
        return None


class DockerKernel(SandboxProvisioner):
    """The kernel in a docker container: `spec["container"]` is what `containers.create` gets, as JSON.

    /grader/kernel and output_dir are tmpfs volumes of the engine, mounted on this host while the
    container runs: the executor reaches them at their mount points (the engine's folder, which
    only root may enter). Docker's own verdicts (OOMKilled) are read before the container goes.
    """

    container = None
    oom_killed = False

    @property
    def has_process(self) -> bool:
        return self.container is not None

    def _client(self):
        from grader.runners.docker_runner import connect

        if getattr(self, "client", None) is None:
            self.client = connect()
        return self.client

    def _volume(self, role: str, size_mb: int):
        spec = self.spec
        return self._client().volumes.create(
            name=f"grader-{uuid.uuid4().hex[:16]}-{role}", driver="local", labels=spec["labels"],
            driver_opts={"type": "tmpfs", "device": "tmpfs",
                         "o": f"size={size_mb}m,uid={spec['uid']},gid={spec['gid']},mode=0700,nosuid,nodev"})

    def _socket_folder(self) -> str:
        return self.mountpoints["kernel"]

    def output_folder(self) -> Path | None:
        return Path(self.mountpoints["output"]) if self.container is not None else None

    async def start_sandbox(self, cmd: list[str]) -> None:
        from docker.types import DeviceRequest, LogConfig, Mount

        spec, options = self.spec, dict(self.spec["container"])
        self.volumes = {"kernel": self._volume("kernel", KERNEL_DIR_MB), "output": self._volume("output", spec["output_mb"])}
        mounts = [Mount(target, source, type="bind", read_only=True) for target, source in spec["binds"]]
        mounts += [Mount(IN_SANDBOX[role], volume.name, type="volume") for role, volume in self.volumes.items()]
        mounts.append(Mount(IN_SANDBOX["connection"], str(self.sandbox_connection_file), type="bind", read_only=True))
        if spec.get("gpu") is not None:
            options["device_requests"] = [DeviceRequest(device_ids=[spec["gpu"]], capabilities=[["gpu"]])]
        options["log_config"] = LogConfig(type=LogConfig.types.JSON, config=options["log_config"])
        self.container = self._client().containers.create(command=cmd, mounts=mounts, **options)
        self.container.start()
        self.mountpoints = {}
        for role, volume in self.volumes.items():
            volume.reload()
            self.mountpoints[role] = volume.attrs["Mountpoint"]

    async def poll(self) -> int | None:
        if self.container is None:
            return 0
        from docker.errors import NotFound

        try:
            self.container.reload()
        except NotFound:
            return -1
        state = self.container.attrs["State"]
        if state.get("Running"):
            return None
        self.oom_killed = self.oom_killed or bool(state.get("OOMKilled"))
        return int(state.get("ExitCode", -1))

    async def wait(self) -> int | None:
        import asyncio

        while (code := await self.poll()) is None:
            await asyncio.sleep(0.1)
        return code

    async def send_signal(self, signum: int) -> None:
        if self.container is not None:
            try:
                self.container.kill(signal=signum)
            except Exception:  # already stopped: nothing to signal
                pass

    async def kill(self, restart: bool = False) -> None:
        await self.poll()  # OOMKilled is read before the container goes
        self.remove()

    async def terminate(self, restart: bool = False) -> None:
        await self.kill(restart)

    def remove(self) -> None:
        from grader.runners.docker_runner import remove_container, remove_volume

        if self.container is not None:
            remove_container(self.container)
            self.container = None
        for volume in getattr(self, "volumes", {}).values():
            remove_volume(volume)
        self.volumes = {}

    async def cleanup(self, restart: bool = False) -> None:
        self.remove()
        await super().cleanup(restart)


PROVISIONERS = {"bwrap": BwrapKernel, "docker": DockerKernel}
