"""Runners, registered by name: each takes one Job and returns one RunResult.

The registry below is the one list of runners. The names course.toml may write (`runner`,
`worker_runner`, grader.schema), what `--runner` builds (grader.pipeline, through `get_runner`), and
whether a runner keeps hand-ins in a sandbox (`Runner.sandboxed`) all come from it. A runner's module
is imported when it is asked for: a batch loads only the runner it uses.
"""

from dataclasses import dataclass
from importlib import import_module

from grader.runners.base import STATUSES, Job, Runner, RunResult


@dataclass(frozen=True)
class RunnerEntry:
    name: str
    module: str
    cls: str
    # Whether a notebook run by it is kept from the labels, the shared data, other runs and the network
    # (Runner.sandboxed). The dask runner is as sandboxed as the runner that runs each job on its worker.
    sandboxed: bool
    description: str  # what it runs notebooks in and what it needs to start (the configuration reference shows it)
    on_worker: bool = True  # runs a job where it is, so it can run a dask job on its worker


RUNNERS: dict[str, RunnerEntry] = {}  # by name, in the order registered (the order the schema lists them)


def register(name: str, module: str, cls: str, *, sandboxed: bool, description: str,
             on_worker: bool = True) -> None:
    """Register the runner class `module.cls` as `name`."""
    if name in RUNNERS:
        raise ValueError(f"the runner '{name}' is registered twice")
    RUNNERS[name] = RunnerEntry(name, module, cls, sandboxed, description, on_worker)


register("bwrap", "grader.runners.bwrap_runner", "BwrapRunner", sandboxed=True,
         description="each notebook in a bubblewrap sandbox (needs bwrap and unprivileged user namespaces)")
register("docker", "grader.runners.docker_runner", "DockerRunner", sandboxed=True,
         description="each notebook in a container of the execution image (needs a Docker engine and the "
                     "image: `grader image build`)")
register("local", "grader.runners.local", "LocalRunner", sandboxed=False,
         description="notebooks unsandboxed, and only with `--unsandboxed` typed on the command line")
register("dask", "grader.runners.dask_runner", "DaskRunner", sandboxed=False, on_worker=False,
         description="each job on a worker of a Dask cluster, run there by `worker_runner` (needs `cluster`)")

WORKER_RUNNERS = tuple(name for name, entry in RUNNERS.items() if entry.on_worker)


def get_runner(name: str, **options) -> Runner:
    """The runner registered as `name`, built with `options`; a runner that cannot start here raises its own
    error saying why (no engine, no bwrap, no scheduler)."""
    if name not in RUNNERS:
        raise ValueError(f"unknown runner '{name}' (known: {', '.join(RUNNERS)})")
    entry = RUNNERS[name]
    return getattr(import_module(entry.module), entry.cls)(**options)


__all__ = ["RUNNERS", "STATUSES", "WORKER_RUNNERS", "Job", "Runner", "RunResult", "RunnerEntry", "get_runner",
           "register"]
