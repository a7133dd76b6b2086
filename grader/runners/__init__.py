"""Runners, registered by name: each takes one Job and returns one RunResult."""

from importlib import import_module

from grader.runners.base import STATUSES, Job, Runner, RunResult

# name -> (module, class), imported when asked for: a batch loads only the runner it uses.
RUNNERS: dict[str, tuple[str, str]] = {
    "local": ("grader.runners.local", "LocalRunner"),
    "bwrap": ("grader.runners.bwrap_runner", "BwrapRunner"),
    "docker": ("grader.runners.docker_runner", "DockerRunner"),
    "dask": ("grader.runners.dask_runner", "DaskRunner"),
}


def get_runner(name: str, **options) -> Runner:
    if name not in RUNNERS:
        raise ValueError(f"unknown runner '{name}' (known: {', '.join(sorted(RUNNERS))})")
    module, cls = RUNNERS[name]
    return getattr(import_module(module), cls)(**options)


__all__ = ["RUNNERS", "STATUSES", "Job", "Runner", "RunResult", "get_runner"]
