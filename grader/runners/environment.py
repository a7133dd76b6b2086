"""What a run ran on, recorded with its result: two runs that differ in score can be told apart.

Read inside the run's own process (the sandbox or container), without importing torch (a second
of start-up): package versions from their metadata, CUDA from torch's version file, the GPU and
its driver from the NVIDIA driver's /proc files, the CPU from /proc/cpuinfo. The runner adds what
only it knows (the image, the runner) and the pipeline the grader's version and the seed.
"""

from __future__ import annotations

import platform
import re
from importlib import metadata, util
from pathlib import Path


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


# The libraries a notebook of these practicals may import, by distribution name; a run records which
# of them it has, so that a missing-package hint lists what the execution image really holds.
PRACTICAL_PACKAGES = ("numpy", "pandas", "torch", "torchvision", "torchaudio", "scikit-learn", "scipy", "matplotlib",
                      "seaborn", "pillow", "tqdm", "opencv-python-headless")


def packages() -> dict[str, str]:
    """The practicals' libraries this process can import, with their versions."""
    found = {name: _version(name) for name in PRACTICAL_PACKAGES}
    return {name: version for name, version in found.items() if version}


def _torch_cuda() -> str | None:
    spec = util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    version_file = Path(next(iter(spec.submodule_search_locations))) / "version.py"
    try:
        found = re.search(r"^cuda\s*(?::\s*\S+)?\s*=\s*['\"]([^'\"]+)['\"]", version_file.read_text(), re.M)
    except OSError:
        return None
    return found.group(1) if found else None


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def _gpus() -> tuple[list[str], str | None]:
    models = []
    for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
        found = re.search(r"^Model:\s*(.+)$", _read(str(info)), re.M)
        if found:
            models.append(found.group(1).strip())
    driver = re.search(r"Kernel Module\s+(\S+)", _read("/proc/driver/nvidia/version"))
    return models, driver.group(1) if driver else None


def _cpu() -> str:
    found = re.search(r"^model name\s*:\s*(.+)$", _read("/proc/cpuinfo"), re.M)
    return found.group(1).strip() if found else platform.processor() or platform.machine()


def describe() -> dict[str, object]:
    """This process's environment: Python, the numeric stack, CUDA, GPUs or CPU."""
    gpus, driver = _gpus()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": _version("torch"),
        "torchvision": _version("torchvision"),
        "numpy": _version("numpy"),
        "papermill": _version("papermill"),
        "cuda": _torch_cuda(),
        "gpus": gpus,
        "nvidia_driver": driver,
        "cpu": _cpu(),
        "packages": packages(),
    }


def summary(environment: dict) -> str:
    """One line for tables: what decides a score's reproducibility."""
    if not environment:
        return ""
    parts = [f"python {environment.get('python')}"]
    if environment.get("torch"):
        parts.append(f"torch {environment['torch']}" + (f"+cu{environment['cuda']}" if environment.get("cuda") else ""))
    parts.append(", ".join(environment.get("gpus") or []) + (f" (driver {environment['nvidia_driver']})"
                                                               if environment.get("nvidia_driver") else "")
                 if environment.get("gpus") else f"CPU {environment.get('cpu')}")
    if environment.get("image"):
        parts.append(f"image {environment['image']} {str(environment.get('image_id', ''))[:19]}")
    parts.append(f"{environment.get('runner', '?')} runner, grader {environment.get('grader', '?')}, "
                 f"seed {environment.get('seed', '?')}")
    return "; ".join(parts)
