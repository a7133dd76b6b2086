"""The bubblewrap sandbox's cost per notebook against the unsandboxed local runner, and the screening's cost.

1. The same 20 short notebooks (the digits nearest-centroid model) run one at a time through the
   local runner, then through the bwrap runner, alternating local/bwrap per notebook so that
   machine noise falls on both. Each wall time is taken around `runner.run(job)`: for the bwrap
   runner that includes staging the stripped notebook, bwrap's namespaces and mounts, papermill
   inside, and collecting the output. Prints both medians and their difference (goal: at most
   0.15 s more).
2. The screening of a 5 MB notebook, median of 20 (goal: under 50 ms), in two shapes: a typical
   one (60 code cells whose outputs are plots and training logs: the bytes are outputs, which the
   screening does not parse) and a code-heavy one (135 cells of 3 KB of code, each with a 3,000-
   character literal, and logs). Reading the notebook from disk is printed beside each as the
   baseline, since every run pays that anyway.

    .venv/bin/python benchmarks/sandbox_overhead.py [--notebooks 20]
"""

from __future__ import annotations

import argparse
import base64
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import nbformat
from runs import digits_batch, timed_run

from grader.course import ScreeningLimits
from grader.runners.bwrap_runner import BwrapRunner
from grader.runners.local import LocalRunner
from grader.screening import screen
from tests.helpers.notebooks import GOOD


def big_notebook(path: Path, code_heavy: bool, megabytes: float = 5.0) -> Path:
    """A notebook of about `megabytes`, of plots and logs, or of code with long literals and logs."""
    nb = nbformat.v4.new_notebook()
    cell = "\n".join(GOOD)
    log = "epoch 1/10 loss 0.1234 acc 0.9876\n" * 700
    plot = base64.b64encode(random.Random(0).randbytes(60_000)).decode()  # a PNG's size, as notebooks store it
    while len(nbformat.writes(nb)) < megabytes * 1e6:
        if code_heavy:
            code = nbformat.v4.new_code_cell(cell + f"\nnote = '{'ab' * 1500}'")
            code.outputs = [nbformat.v4.new_output("stream", text=log)]
        else:
            code = nbformat.v4.new_code_cell(cell)
            code.outputs = [nbformat.v4.new_output("stream", text=log[:2000]),
                            nbformat.v4.new_output("display_data", data={"image/png": plot, "text/plain": "<Figure>"})]
        nb.cells.append(code)
        nb.cells.append(nbformat.v4.new_markdown_cell("## Resultados\n" + "texto " * 200))
    nbformat.write(nb, path)
    return path


def screening_times(path: Path) -> tuple[float, float, int, int]:
    """Median seconds to read and to screen, and the notebook's cells and flags."""
    reads, screens = [], []
    for _ in range(20):
        start = time.perf_counter()
        nb = nbformat.read(path, as_version=4)
        reads.append(time.perf_counter() - start)
        start = time.perf_counter()
        flags = screen(nb, ScreeningLimits())
        screens.append(time.perf_counter() - start)
    return statistics.median(reads), statistics.median(screens), len(nb.cells), len(flags)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notebooks", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="grader-bench-bwrap-"))
    try:
        assignment, data, notebooks = digits_batch(work, args.notebooks)
        local_runner, bwrap_runner = LocalRunner(), BwrapRunner()
        timed_run(bwrap_runner, notebooks[0], work / "warm-up", assignment, data)  # page cache, imports
        local, sandboxed = [], []
        for i, notebook in enumerate(notebooks):
            local.append(timed_run(local_runner, notebook, work / "local" / f"{i:02d}", assignment, data))
            sandboxed.append(timed_run(bwrap_runner, notebook, work / "bwrap" / f"{i:02d}", assignment, data))

        screenings = {}
        for shape in ("typical", "code-heavy"):
            big = big_notebook(work / f"{shape}.ipynb", code_heavy=shape == "code-heavy")
            screenings[shape] = (big.stat().st_size / 1e6, *screening_times(big))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    local_median, bwrap_median = statistics.median(local), statistics.median(sandboxed)
    print(f"notebooks: {args.notebooks}, one at a time, local and bwrap alternating")
    print(f"local runner (no sandbox): median {local_median:.3f} s (min {min(local):.3f}, max {max(local):.3f})")
    print(f"bwrap runner:              median {bwrap_median:.3f} s (min {min(sandboxed):.3f}, "
          f"max {max(sandboxed):.3f})")
    print(f"sandbox cost per notebook: {bwrap_median - local_median:+.3f} s (goal <= +0.15 s); "
          f"ratio bwrap/local: {bwrap_median / local_median:.3f}")
    for shape, (size_mb, read_s, screen_s, cells, flags) in screenings.items():
        print(f"screening a {size_mb:.1f} MB {shape} notebook ({cells} cells, {flags} flags): median "
              f"{screen_s * 1000:.1f} ms (goal < 50 ms); reading it: {read_s * 1000:.1f} ms; "
              f"ratio screening/reading {screen_s / read_s:.2f}")


if __name__ == "__main__":
    main()
