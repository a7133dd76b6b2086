"""The NVIDIA GPUs this machine shows, read with nvidia-smi: no torch import, no CUDA context."""

from __future__ import annotations

import functools
import shutil
import subprocess


@functools.cache
def _query(field: str) -> tuple[str, ...]:
    if not shutil.which("nvidia-smi"):
        return ()
    probe = subprocess.run(["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader"], capture_output=True,
                           text=True, check=False)
    return tuple(line.strip() for line in probe.stdout.splitlines() if line.strip()) if probe.returncode == 0 else ()


def gpu_name() -> str | None:
    """The first GPU's name, e.g. "NVIDIA H100 80GB HBM3"."""
    names = _query("name")
    return names[0] if names else None


def gpu_indices() -> list[str]:
    """Every GPU's index as nvidia-smi numbers them ("0", "1", ...)."""
    return list(_query("index"))


def gpu_visible() -> bool:
    return gpu_name() is not None
