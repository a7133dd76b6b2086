"""The bwrap runner: each notebook's kernel in a bubblewrap sandbox, on machines without a Docker engine.

bubblewrap (Debian's `bubblewrap`, the sandbox Flatpak uses) needs no daemon. The executor runs
outside, on this machine (grader.runners.execute); the kernel alone runs inside
(grader.runners.kernels.BwrapKernel). What the kernel sees:

- the system (/usr, the library links, a short list of /etc files) and the kernel's Python,
  read-only: the course's environment (grader.envs: a venv of its own, and its base install) when the
  course declares one, so the grader's own venv is not there at all; else the grader's Python
  installation. Where the kernel's Python is a venv, its base install's site-packages (and Debian's
  dist-packages) are empty folders: a notebook that appends them to sys.path finds nothing the
  course did not declare. Nothing else of the machine: no home folders, no course folder, no public
  copies of the datasets;
- /grader/data and /grader/test (the prepared data and hidden test inputs) read-only; the labels,
  the gradebook, the secret and other students' runs are not in the sandbox at all;
- no host folder it can write: output_dir (/grader/run/output) is a tmpfs of the assignment's
  `output_mb` that the executor copies out after the run, /tmp one of `tmp_mb`, /dev/shm one of
  `shm_mb`; its own notebook is not there at all;
- a network namespace of its own (only `lo`), its own PID, IPC and UTS namespaces, a user
  namespace with no capabilities and no further user namespaces, a new session (no terminal
  injection), and no environment but what the run needs: bwrap itself starts with an empty one,
  so no process visible inside holds a variable of the grader's.

The grader watches it as the local runner does (wall clock, the kernel's memory as PSS, the whole
process tree), and it dies with the executor (`--die-with-parent`), which dies with the grader.
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

from grader import envs
from grader.runners.base import Job
from grader.runners.kernels import IN_SANDBOX, KERNEL_DIR_MB
from grader.runners.local import LocalRunner, device, kernel_python

SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# What Python, the dynamic linker, matplotlib and TLS read from /etc; never shadow, keys or the like.
ETC = ("passwd", "group", "nsswitch.conf", "hosts", "localtime", "timezone", "ld.so.cache", "ld.so.conf",
       "ld.so.conf.d", "ssl/certs", "ca-certificates", "ca-certificates.conf", "alternatives", "fonts", "mime.types",
       "matplotlibrc", "os-release", "protocols", "services")
SANDBOX_UID = 65534  # nobody, inside the sandbox's own user namespace


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot make its namespaces on this machine."""


@functools.cache
def bwrap_fault() -> str | None:
    """Why bubblewrap cannot sandbox here, or None when it can (tried once per process)."""
    binary = shutil.which("bwrap")
    if binary is None:
        return "bubblewrap is not installed (Debian: apt-get install bubblewrap)"
    probe = [binary, "--unshare-all", "--unshare-user", "--die-with-parent", "--ro-bind", "/", "/", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap does not run: {exc}"
    if done.returncode != 0:
        return (f"bubblewrap cannot create its namespaces here: {done.stderr.decode(errors='replace').strip()} "
                "(unprivileged user namespaces may be disabled: sysctl kernel.unprivileged_userns_clone=1)")
    return None


def _inside(path: Path, folder: str) -> bool:
    return path == Path(folder) or Path(folder) in path.parents


def _venv(python: str) -> envs.Venv | None:
    try:
        return envs.read_venv(python)
    except envs.EnvError as exc:
        raise SandboxUnavailable(str(exc)) from None


@functools.cache
def python_prefixes(python: str) -> tuple[str, ...]:
    """Where a Python lives: its prefix (a venv's own folder) and its base installation's. The grader's own
    Python says so itself; another (the course's environment) is read from its pyvenv.cfg, never run outside
    the sandbox (grader.envs.read_venv)."""
    if python == sys.executable:
        return tuple(dict.fromkeys((sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)))
    venv = _venv(python)
    if venv is None:
        raise SandboxUnavailable(f"the kernel's Python {python} is not in a virtual environment (no pyvenv.cfg "
                                 "beside its bin/): build the course's with `grader env build`")
    return str(venv.prefix), str(venv.base)


@functools.cache
def masked_site_packages(python: str) -> tuple[str, ...]:
    """The folders shown empty in the sandbox: the base install's package folders, when the kernel's Python
    is a venv that leaves them out of its sys.path."""
    venv = _venv(python)
    if venv is None or venv.system_site:
        return ()
    return tuple(str(p) for p in venv.base_site_packages())


def course_check_runner() -> LocalRunner:
    """The runner of the course's own `grader check NOTEBOOK --assignment A`: this sandbox where it runs, so that
    the notebook cannot write into the course's shared environment; else the local runner, whose writes there
    stop the next batch (grader.envs.verify)."""
    return BwrapRunner() if bwrap_fault() is None else LocalRunner()


class BwrapRunner(LocalRunner):
    name = "bwrap"

    def __init__(self, output_limit: int | None = None):
        fault = bwrap_fault()
        if fault:
            raise SandboxUnavailable(fault)
        super().__init__(output_limit)
        self.binary = shutil.which("bwrap")

    @staticmethod
    def visible_system(python: str = sys.executable) -> list[str]:
        """The host paths shown read-only: the system, and the kernel's Python (its venv and its base install)."""
        paths = [p for p in SYSTEM if os.path.lexists(p)]
        paths += [f"/etc/{name}" for name in ETC if os.path.lexists(f"/etc/{name}")]
        for prefix in python_prefixes(python):
            if not any(_inside(Path(prefix), p) for p in SYSTEM):
                paths.append(prefix)
        return paths

    def kernel(self, job: Job) -> tuple[dict, dict[str, str]]:
        python = kernel_python(job)
        shown = self.visible_system(python)
        guarded = [job.run_dir, job.data_dir.parent, job.test_dir.parent]
        for path in shown:
            exposed = [str(g) for g in guarded if _inside(g.resolve(), os.path.realpath(path))]
            if exposed:
                raise SandboxUnavailable(f"{exposed[0]} lies inside {path}, which the sandbox shows to notebooks: "
                                         "keep the course's work folder outside the Python installation and /usr")
        job.output_dir.mkdir(parents=True, exist_ok=True)  # filled from the sandbox's output_dir after the run
        run_device = device(job)
        argv = [self.binary, "--die-with-parent", "--new-session", "--unshare-all", "--unshare-user",
                "--disable-userns", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--cap-drop", "ALL",
                "--clearenv", "--proc", "/proc", "--dev", "/dev",
                "--size", str(job.tmp_mb << 20), "--tmpfs", "/tmp",
                "--size", str(job.shm_mb << 20), "--tmpfs", "/dev/shm",
                "--size", str(job.output_mb << 20), "--tmpfs", IN_SANDBOX["output"],
                "--size", str(KERNEL_DIR_MB << 20), "--tmpfs", IN_SANDBOX["kernel"]]
        for path in shown:
            if os.path.islink(path) and os.path.dirname(path) == "/":  # /lib -> usr/lib on merged-/usr systems
                argv += ["--symlink", os.readlink(path), path]
            else:
                argv += ["--ro-bind", path, path]
        for path in masked_site_packages(python):  # an empty, read-only file system over each
            argv += ["--size", str(1 << 20), "--tmpfs", path, "--remount-ro", path]
        if run_device == "cuda":
            for node in sorted(glob.glob("/dev/nvidia*")):
                argv += ["--dev-bind", node, node]
        argv += ["--ro-bind", str(job.data_dir), IN_SANDBOX["data"], "--ro-bind", str(job.test_dir), IN_SANDBOX["test"],
                 "--remount-ro", "/",  # the sandbox's own root (where /etc's few files are bound) too
                 "--chdir", IN_SANDBOX["output"]]
        threads = str(max(1, int(job.cpus)))
        env = {"PATH": f"{Path(python).parent}:/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp",
               "USER": "grader", "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
               "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
               "OPENBLAS_NUM_THREADS": threads}
        for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # this machine's numeric-library fixes
            if name in os.environ:
                env[name] = os.environ[name]
        for name, value in env.items():
            argv += ["--setenv", name, value]
        paths = {"data_dir": IN_SANDBOX["data"], "test_dir": IN_SANDBOX["test"], "output_dir": IN_SANDBOX["output"],
                 "device": run_device}
        return {"sandbox": "bwrap", "argv": argv, "python": python}, paths
