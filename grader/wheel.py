"""The grader's own wheel, which every student kit carries (`wheels/`): students install the very grader
that made their kit, with no package index for it (`pip install <kit>/wheels/<file>.whl`).

From a source checkout (pyproject.toml beside the package) `pip wheel --no-deps` builds it; from an
installed distribution it is packed again from the installed files, offline. Either is kept in
`<workdir>/wheels/<version>-<digest>/`, the digest of the package's own files, so that a changed
checkout builds anew and an unchanged one never twice.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

DISTRIBUTION = "dl-course-grader"  # the package index's `grader` is an unrelated project
PACKAGE = Path(__file__).resolve().parent
CHECKOUT = PACKAGE.parent
# What a reinstall adds to an installed distribution, and what a wheel must not carry.
INSTALL_ONLY = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"}


class WheelError(RuntimeError):
    """The grader's wheel could not be built."""


def _checkout() -> Path | None:
    """The source checkout this package runs from, or None when it is an installed copy."""
    pyproject = CHECKOUT / "pyproject.toml"
    if not pyproject.is_file():
        return None
    name = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("name")
    return CHECKOUT if name == DISTRIBUTION else None


def version() -> str:
    checkout = _checkout()
    if checkout:
        return tomllib.loads((checkout / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    return importlib.metadata.version(DISTRIBUTION)


def wheel_name() -> str:
    """The file name of this grader's wheel (pure Python: one wheel for every platform)."""
    return f"{DISTRIBUTION.replace('-', '_')}-{version()}-py3-none-any.whl"


def _digest() -> str:
    files = sorted(p for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    checkout = _checkout()
    if checkout:
        files.append(checkout / "pyproject.toml")
    h = hashlib.sha256()
    for path in files:
        h.update(str(path.relative_to(PACKAGE.parent)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def own_wheel(workdir: Path) -> Path:
    """This grader's wheel, built once per version and content into `<workdir>/wheels/`."""
    folder = Path(workdir) / "wheels" / f"{version()}-{_digest()}"
    wheel = folder / wheel_name()
    if wheel.is_file():
        return wheel
    staging = Path(tempfile.mkdtemp(prefix="grader-wheel-"))
    try:
        checkout = _checkout()
        built = _build(checkout, staging) if checkout else _repack(staging)
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{wheel.name}.partial"
        shutil.copyfile(built, partial)
        partial.replace(wheel)  # a kit never picks up a half-written wheel
        return wheel
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _build(checkout: Path, out: Path) -> Path:
    # From a copy of what the wheel is made of: setuptools' build/ folder in the checkout would keep
    # files since deleted from the package, and put them in the wheel.
    source = out / "source"
    shutil.copytree(PACKAGE, source / PACKAGE.name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(checkout / name, source / name)
    # setuptools is the build backend: without a recent enough one here (a new venv of Python 3.11 has
    # setuptools 65, which cannot build from pyproject.toml alone), pip fetches it for an isolated build.
    isolation = ["--no-build-isolation"] if _has_build_backend(checkout) else []
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--disable-pip-version-check",
                           *isolation, "-w", str(out), str(source)], capture_output=True, text=True)
    built = out / wheel_name()
    if done.returncode != 0 or not built.is_file():
        raise WheelError(f"pip wheel {checkout} failed (exit {done.returncode}): "
                         f"{(done.stderr or done.stdout).strip()[-2000:]}")
    return built


def _has_build_backend(checkout: Path) -> bool:
    """Whether this Python already holds what pyproject.toml's [build-system] requires."""
    from packaging.requirements import Requirement

    pyproject = tomllib.loads((checkout / "pyproject.toml").read_text(encoding="utf-8"))
    for text in pyproject.get("build-system", {}).get("requires", []):
        requirement = Requirement(text)
        try:
            held = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            return False
        if not requirement.specifier.contains(held, prereleases=True):
            return False
    return True


def _repack(out: Path) -> Path:
    """A wheel from the installed distribution's own files (its RECORD), as pip installed them."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise WheelError(f"{DISTRIBUTION} is neither installed nor run from its source checkout") from None
    info = f"{DISTRIBUTION.replace('-', '_')}-{dist.version}.dist-info"
    records = []
    wheel = out / wheel_name()
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in dist.files or []:
            name = file.as_posix()
            if name.startswith("..") or "__pycache__" in name or name.endswith(".pyc"):
                continue  # console scripts (../../bin/grader) and bytecode are made by each install
            if name.startswith(info + "/") and file.name in INSTALL_ONLY:
                continue
            data = Path(file.locate()).read_bytes()
            archive.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            records.append(f"{name},sha256={digest},{len(data)}")
        records.append(f"{info}/RECORD,,")
        archive.writestr(f"{info}/RECORD", "\n".join(records) + "\n")
    return wheel
