"""Hints: the faults students really make, each mapped to a plain sentence that says what to change.

A fault's own message is right and often useless to a student ("No module named 'google'"). The
hint is added after it, in the course's language; the fault stays. Hints are matched on what the
run and the scorer report, never guessed from the notebook's code.
"""

from __future__ import annotations

import re

from packaging.utils import canonicalize_name

from grader.course import Resources
from grader.envs import names
from grader.i18n import Translator
from grader.runners.environment import packages as local_packages

MISSING_MODULE = re.compile(r"No module named '([\w.]+)'")
NETWORK = re.compile(r"(?i)name resolution|Name or service not known|Network is unreachable|urlopen error|"
                     r"Failed to establish a new connection|getaddrinfo failed|URLError|ConnectionError")
NO_GPU = re.compile(r"(?i)no NVIDIA driver|CUDA driver|Torch not compiled with CUDA|no CUDA GPUs are available|"
                    r"cuda.*is not available")
FOREIGN_PATH = re.compile(r"(?i)/content/|MyDrive|[A-Z]:\\\\|/Users/|/home/|Desktop|Downloads|Descargas")
KAGGLE_HEADERS = re.compile(r"(?i)\b(ImageId|Id|Label|Category|Prediction|Predicted|filename|image)\b")
EXTENSION_IDS = re.compile(r"(?i)\.(jpe?g|png|bmp|gif|txt)\b")
# A full tmpfs (output_dir or /tmp): the OS's message, or numpy's short write ("N requested and M written").
NO_SPACE = re.compile(r"No space left on device|\[Errno 28\]|\d+ requested and \d+ written")
# Modules whose distribution has another name: `import sklearn` is the course's scikit-learn.
DISTRIBUTIONS = {"sklearn": "scikit-learn", "PIL": "pillow", "cv2": "opencv-python", "skimage": "scikit-image",
                 "yaml": "pyyaml", "bs4": "beautifulsoup4"}


def _offered(packages: dict[str, str]) -> str:
    return ", ".join(f"{name} {version}" for name, version in packages.items())


MODULE_CHARS = 60  # the longest module name a hint quotes


def _package_hint(module: str, t: Translator, packages: dict[str, str] | None,
                  declared: tuple[str, ...] | None) -> str:
    if len(module) > MODULE_CHARS:  # no package is named so; the name is the notebook's text, quoted back
        return ""
    if declared is None:  # no declared environment: the grader's own Python, as the run recorded it
        return t("hint.package", package=module, offered=_offered(packages or local_packages()))
    top = module.split(".")[0]
    if {canonicalize_name(top), DISTRIBUTIONS.get(top)} & names(declared):
        return t("hint.package_declared", package=top)  # the environment's fault, not the notebook's
    return t("hint.package_course", package=top, offered=", ".join(declared))


def run_hint(ename: str, evalue: str, t: Translator, packages: dict[str, str] | None = None,
             resources: Resources | None = None, declared: tuple[str, ...] | None = None) -> str:
    """A hint for a cell that raised, or "". `packages`: what the run's environment had (its record);
    `resources`: the assignment's, whose output_dir and /tmp sizes a full disk meets; `declared`: the
    requirements of the course's environment (grader.envs), None when the course declares none."""
    text = f"{ename}: {evalue}"
    missing = MISSING_MODULE.search(text) if ename in ("ModuleNotFoundError", "ImportError") else None
    if missing and missing.group(1).split(".")[0] == "google":
        return t("hint.colab")
    if missing:
        return _package_hint(missing.group(1), t, packages, declared)
    if NO_GPU.search(text):
        return t("hint.device")
    if NETWORK.search(text):
        return t("hint.network")
    if ename in ("FileNotFoundError", "NotADirectoryError"):
        path = re.search(r"'([^']+)'", evalue)
        # A path built from data_dir or test_dir is under /grader; anything else was written for another machine.
        if FOREIGN_PATH.search(evalue) or (path and not path.group(1).startswith(("/grader/", "/tmp/"))):
            return t("hint.paths")
    if "Read-only file system" in evalue:
        return t("hint.read_only")
    if resources and NO_SPACE.search(evalue):
        return t("hint.output_full", output_mb=resources.output_mb, tmp_mb=resources.tmp_mb)
    return ""


def predictions_hints(kinds: tuple[str, ...], header: str, unknown_ids: tuple[str, ...], classes: list[str],
                      t: Translator) -> list[str]:
    """Hints for a predictions.csv the scorer refused: its header, its ids, its labels."""
    found = []
    if "pred.header" in kinds and KAGGLE_HEADERS.search(header):
        found.append(t("hint.header", header=header))
    if any(EXTENSION_IDS.search(pid) for pid in unknown_ids):
        found.append(t("hint.extension"))
    elif unknown_ids and all(pid.isdigit() for pid in unknown_ids):  # a DataFrame's index, or range(len(x))
        found.append(t("hint.row_numbers"))
    if "pred.unknown_label" in kinds:
        shown = ", ".join(classes[:30]) + (", ..." if len(classes) > 30 else "")
        found.append(t("hint.labels", last=len(classes) - 1, classes=shown))
    return found


def with_hints(message: str, hints: list[str], t: Translator) -> str:
    hints = [h for h in hints if h]
    return message if not hints else message + " " + " ".join(t("hint.prefix", hint=h) for h in hints)
