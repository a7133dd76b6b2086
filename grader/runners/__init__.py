"""Runners, registered by name: each takes one Job and returns one RunResult."""

from grader.runners.base import STATUSES, Job, Runner, RunResult
from grader.runners.dask_runner import DaskRunner
from grader.runners.local import LocalRunner

RUNNERS: dict[str, type[Runner]] = {"local": LocalRunner, "dask": DaskRunner}


def get_runner(name: str, **options) -> Runner:
    if name not in RUNNERS:
        raise ValueError(f"unknown runner '{name}' (known: {', '.join(sorted(RUNNERS))})")
    return RUNNERS[name](**options)


__all__ = ["RUNNERS", "STATUSES", "DaskRunner", "Job", "LocalRunner", "Runner", "RunResult", "get_runner"]
