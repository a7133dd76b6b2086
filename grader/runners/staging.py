"""A sandboxed run's folders, the same for every sandbox (docker container, bubblewrap).

The sandbox sees fixed paths: the data and test inputs read-only, its input (the notebook and the
job description) read-only, and one writable run folder. Before the run, `stage` fills
`<run_dir>/input` and makes `<run_dir>/sandbox`; after it, `collect` moves what the notebook
left into the run folder's usual layout, taking only regular files and a real output folder (a
link planted there may point at any file of the grader's machine).

The notebook a sandbox gets is a copy stripped to its cells' sources: a run can read its own
input file, so outputs, attachments and metadata there would be a hiding place for carried data
that the screening (grader.screening) does not read.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import nbformat

from grader.runners.base import Job

IN_SANDBOX = {"data": "/grader/data", "test": "/grader/test", "input": "/grader/input", "run": "/grader/run"}
KEPT_NOTEBOOK_METADATA = ("kernelspec", "language_info")


def input_dir(job: Job) -> Path:
    return job.run_dir / "input"


def sandbox_dir(job: Job) -> Path:
    return job.run_dir / "sandbox"


def stripped_notebook(source: Path) -> nbformat.NotebookNode:
    """The notebook with only what runs: cell sources and tags, no outputs, attachments or metadata."""
    nb = nbformat.read(source, as_version=4)
    nb.metadata = nbformat.NotebookNode({k: nb.metadata[k] for k in KEPT_NOTEBOOK_METADATA if k in nb.metadata})
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        cell.metadata = nbformat.NotebookNode({"tags": tags} if tags else {})
        cell.pop("attachments", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def stage(job: Job, device: str, owner: int | None = None) -> None:
    """input/ (the stripped notebook and job.json, as the sandbox will see them) and sandbox/output."""
    inputs, sandbox = input_dir(job), sandbox_dir(job)
    for folder in (inputs, sandbox):  # left by an attempt whose worker died: the retry starts afresh
        shutil.rmtree(folder, ignore_errors=True)
    inputs.mkdir(parents=True)
    nbformat.write(stripped_notebook(job.notebook), inputs / "notebook.ipynb")
    run = IN_SANDBOX["run"]
    spec = {
        "key": job.key, "notebook": f"{IN_SANDBOX['input']}/notebook.ipynb", "run_dir": run,
        "executed_notebook": f"{run}/executed.ipynb", "output_dir": f"{run}/output",
        "parameters": {**job.parameters, "data_dir": IN_SANDBOX["data"], "test_dir": IN_SANDBOX["test"],
                       "output_dir": f"{run}/output", "device": device},
        "cell_timeout_s": job.cell_timeout_s,
    }
    (inputs / "job.json").write_text(json.dumps(spec), encoding="utf-8")
    for path in (inputs, inputs / "notebook.ipynb", inputs / "job.json"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    (sandbox / "output").mkdir(parents=True)
    if owner is not None:  # the sandbox's user must own its writable folder
        for path in (sandbox, sandbox / "output"):
            os.chown(path, owner, owner)


def _regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def collect(job: Job) -> None:
    """Move what the sandbox wrote into the run folder's usual layout, links left behind."""
    sandbox = sandbox_dir(job)
    output = sandbox / "output"
    if output.is_dir() and not output.is_symlink():
        os.replace(output, job.output_dir)
    else:
        job.output_dir.mkdir(exist_ok=True)
    for name, target in (("executed.ipynb", job.executed_notebook), ("result.json", job.result_path)):
        if _regular_file(sandbox / name):
            os.replace(sandbox / name, target)
    shutil.rmtree(sandbox, ignore_errors=True)  # rmtree removes links without following them
