"""Where in the student's notebook a run stopped, read from the notebook papermill saved."""

from __future__ import annotations

from pathlib import Path

import nbformat

ERROR_MARKER_TAG = "papermill-error-cell-tag"  # papermill.execute's banner cells


def student_cell(nb_path: Path, index: int | None) -> int | None:
    """The 1-based position of executed cell `index` in the student's own notebook.

    papermill inserts an `injected-parameters` cell; students count without it.
    """
    if index is None:
        return None
    try:
        nb = nbformat.read(nb_path, as_version=4)
    except Exception:
        return index + 1
    # papermill's index predates the error banner cells it adds on failure: leave those out too.
    cells = [c for c in nb.cells if ERROR_MARKER_TAG not in c.metadata.get("tags", [])]
    injected = sum(1 for c in cells[:index] if "injected-parameters" in c.metadata.get("tags", []))
    return index - injected + 1


def running_cell(nb_path: Path) -> int | None:
    """The cell papermill marked as running in a notebook saved mid-run (the run was killed)."""
    try:
        nb = nbformat.read(nb_path, as_version=4)
    except Exception:
        return None
    for index, cell in enumerate(nb.cells):
        if cell.metadata.get("papermill", {}).get("status") == "running":
            return student_cell(nb_path, index)
    return None
