"""The notebooks' Python environment: declared once in course.toml, built by `grader env build`.

course.toml `[environment]` lists pip requirements (`packages`, and a `requirements` file beside it);
an assignment's own `[environment] packages` add to them. The bwrap and local runners run each
kernel with the Python of a venv that holds these and ipykernel alone, built from the grader's base
Python under `<workdir>/envs/<key>/`, one per distinct requirement set: notebooks see the course's
packages, never the grader's. The docker runner's image is built from the same list (grader.image)
and labelled with it. A course with no `[environment]` table runs notebooks in the grader's own
Python, as before.

What an environment holds is read from its site-packages' metadata, never by importing it, so that
`grader run` can refuse a batch whose assignment declares what the environment lacks before anything
runs, instead of failing every hand-in.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from grader.course import Assignment, ConfigError, Course

ENVS_FOLDER = "envs"  # under the course's workdir
RECORD = "grader-env.json"  # written last: an environment without it is not built
KERNEL = "ipykernel"  # what the kernel itself runs on, in every environment
# The image's labels: the sha256 of its requirement set, and the set itself (a JSON list).
IMAGE_SHA_LABEL = "grader.requirements"
IMAGE_PACKAGES_LABEL = "grader.packages"
PIP_TAIL_LINES = 20  # of pip's output, in a failed build's error


class EnvError(RuntimeError):
    """An environment could not be built; the message ends with pip's last lines."""


class EnvMissing(EnvError):
    """The environment a batch would run in lacks what an assignment declares."""


def _requirement(text: str, path: Path, key: str) -> Requirement:
    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        why = str(exc).splitlines()[0]  # packaging's next lines draw a caret under the fault
        raise ConfigError(path, key, f"a pip requirement like \"torch==2.14.1\" ({why})", text) from None


def _canonical(requirement: Requirement) -> str:
    """One spelling per requirement: "NumPy >=2" and "numpy>=2" are the same environment."""
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    marker = f"; {requirement.marker}" if requirement.marker else ""
    url = f" @ {requirement.url}" if requirement.url else ""
    return f"{canonicalize_name(requirement.name)}{extras}{requirement.specifier}{url}{marker}"


def _requirements_file(course: Course) -> list[Requirement]:
    path = course.environment.requirements
    if path is None:
        return []
    if not path.is_file():
        raise ConfigError(course.root / "course.toml", "environment.requirements",
                          "a requirements file, relative to the course folder", str(path))
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.split(" #")[0].strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("-"):  # -r, -c, --index-url...: the set would not be the file's alone
            raise ConfigError(path, f"line {number}", "a pip requirement (pip options such as -r or "
                              "--index-url are not read: list the packages themselves)", text)
        found.append(_requirement(text, path, f"line {number}"))
    return found


def _parsed(course: Course, assignment: Assignment | None) -> list[Requirement]:
    found = [_requirement(p, course.root / "course.toml", "environment.packages")
             for p in course.environment.packages]
    found += _requirements_file(course)
    if assignment is not None:
        found += [_requirement(p, assignment.path / "assignment.toml", "environment.packages")
                  for p in assignment.packages]
    unique: dict[str, Requirement] = {}
    for requirement in found:
        unique.setdefault(_canonical(requirement), requirement)
    return list(unique.values())


def requirements(course: Course, assignment: Assignment | None = None) -> tuple[str, ...]:
    """What the notebooks of `assignment` get (the course's, then the assignment's own), as declared;
    ipykernel not included. () when the course declares no environment and the assignment adds nothing."""
    return tuple(str(r) for r in _parsed(course, assignment))


def names(declared: tuple[str, ...] | list[str]) -> set[str]:
    """The distribution names of requirements, normalised (PEP 503)."""
    return {canonicalize_name(Requirement(r).name) for r in declared}


def key(declared: tuple[str, ...] | list[str]) -> str:
    """The folder name of a requirement set's environment: changes with the set and the base Python."""
    canonical = sorted(_canonical(Requirement(r)) for r in declared)
    identity = json.dumps({"python": platform.python_version(), "machine": platform.machine(),
                           "requirements": canonical})
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def requirements_sha256(declared: tuple[str, ...] | list[str]) -> str:
    """The identity of a requirement set, whatever its order or spelling (the image's label)."""
    canonical = sorted(_canonical(Requirement(r)) for r in declared)
    return hashlib.sha256("\n".join(canonical).encode()).hexdigest()


def env_dir(course: Course, assignment: Assignment | None = None) -> Path:
    return course.workdir / ENVS_FOLDER / key(requirements(course, assignment))


def python(course: Course, assignment: Assignment | None = None) -> str:
    """The kernel's Python: the environment's, or this process's when the course declares none."""
    return job_python(course, assignment) or sys.executable


def job_python(course: Course, assignment: Assignment | None = None) -> str:
    """What a job carries (runners.base.Job.python): the environment's Python, or "" when the course
    declares none, so that each runner (also a dask worker's, on another machine) uses its own."""
    if not course.environment.declared:
        return ""
    return str(env_dir(course, assignment) / "bin" / "python")


def installed(env: Path) -> set[str]:
    """The distributions a built environment holds, by normalised name, from their METADATA files."""
    if not (env / RECORD).is_file():
        return set()
    found = set()
    for metadata in env.glob("lib/python*/site-packages/*.dist-info/METADATA"):
        try:
            with open(metadata, encoding="utf-8", errors="replace") as text:
                for line in text:
                    if not line.strip():  # the headers end here
                        break
                    if line.lower().startswith("name:"):
                        found.add(canonicalize_name(line.split(":", 1)[1].strip()))
                        break
        except OSError:
            continue
    return found


def _applies(requirement: Requirement) -> bool:
    return requirement.marker is None or requirement.marker.evaluate(default_environment())


def missing(course: Course, assignment: Assignment | None = None) -> list[str]:
    """The declared requirements (and ipykernel) that the built environment lacks, by name: every one when
    it is not built; [] when the course declares no environment."""
    if not course.environment.declared:
        return []
    return _lacking(env_dir(course, assignment), _parsed(course, assignment))


def _lacking(env: Path, declared: list[Requirement]) -> list[str]:
    held = installed(env)
    needed = [r for r in declared if _applies(r)] + [Requirement(KERNEL)]
    return [str(r) for r in needed if canonicalize_name(r.name) not in held]


def image_requirements(course: Course) -> tuple[str, ...]:
    """What the docker image holds: the course's requirements and every assignment's own (one image
    serves the whole course)."""
    found = list(requirements(course))
    for name in sorted(course.assignments):
        found += requirements(course, course.assignment(name))
    return tuple(dict.fromkeys(found))


def image_labels(course: Course) -> dict[str, str]:
    declared = image_requirements(course)
    return {IMAGE_SHA_LABEL: requirements_sha256(declared), IMAGE_PACKAGES_LABEL: json.dumps(list(declared))}


def missing_from_image(course: Course, assignment: Assignment | None, labels: dict[str, str] | None) -> list[str]:
    """The declared requirements an image's labels do not list; [] when the course declares no environment."""
    if not course.environment.declared:
        return []
    try:
        held = json.loads((labels or {}).get(IMAGE_PACKAGES_LABEL) or "[]")
        held = {_canonical(Requirement(r)) for r in held}
    except (ValueError, TypeError, InvalidRequirement):  # a label that is not ours
        held = set()
    return [str(r) for r in _parsed(course, assignment) if _canonical(r) not in held]


def fix_command(course: Course, image: str | None = None) -> str:
    """The command that builds what is missing: the environment, or the docker image `image`."""
    where = "" if course.root == Path.cwd().resolve() else f" --course {course.root}"
    return f"grader image build{where} --tag {image}" if image else f"grader env build{where}"


def requirement_sets(course: Course) -> dict[Path, tuple[str, ...]]:
    """Each distinct environment the course's assignments run in (the course's own when it has none)."""
    sets: dict[Path, tuple[str, ...]] = {}
    for name in sorted(course.assignments):
        a = course.assignment(name)
        sets.setdefault(env_dir(course, a), requirements(course, a))
    return sets or {env_dir(course): requirements(course)}


def build(course: Course, wheels: Path | None = None, on_line: Callable[[str], None] | None = None,
          on_env: Callable[[Path, tuple[str, ...]], None] | None = None) -> list[Path]:
    """Build every environment the course's assignments need that is not built yet; returns them all.

    `wheels`: a folder of wheels to install from, with no package index (offline). `on_env` is told
    which environment is being built, `on_line` each line pip prints.
    """
    if not course.environment.declared:
        raise EnvError(f"{course.root / 'course.toml'} declares no environment: add an [environment] table with "
                       "packages = [...] (the notebooks' pip requirements); without it notebooks run in the "
                       "grader's own Python")
    if wheels is not None and not wheels.is_dir():
        raise EnvError(f"--wheels {wheels}: no such folder")
    sets = requirement_sets(course)
    for target, declared in sets.items():
        if not _lacking(target, [Requirement(r) for r in declared]):
            continue
        if on_env:
            on_env(target, declared)
        _build_one(target, declared, wheels, on_line)
    return list(sets)


def _build_one(target: Path, declared: tuple[str, ...], wheels: Path | None,
               on_line: Callable[[str], None] | None) -> None:
    """Build beside the target, then rename: a failed build never leaves half an environment in use."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        staging.chmod(0o755)  # mkdtemp's 0700 would hide it from a dask worker of another user
        # From the grader's base Python (venv creates from it even inside the grader's venv), with no
        # pip of its own: the grader's pip installs into it, and notebooks get no installer.
        _run("python -m venv", [sys.executable, "-m", "venv", "--without-pip", str(staging)], on_line)
        pip = [sys.executable, "-m", "pip", "--python", str(staging / "bin" / "python")]
        options = ["--disable-pip-version-check", "--no-input", "--progress-bar", "off"]
        source = ["--no-index", "--find-links", str(wheels.resolve())] if wheels else []
        _run("pip install", [*pip, "install", *options, *source, KERNEL, *declared], on_line)
        freeze = _run("pip freeze", [*pip, "freeze", "--disable-pip-version-check"], None)
        _relocate(staging, target)
        record = {"key": target.name, "python": platform.python_version(), "requirements": list(declared),
                  "kernel": KERNEL, "wheels": str(wheels.resolve()) if wheels else None,
                  "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "freeze": freeze}
        (staging / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        old = None
        if target.exists():  # an unfinished one (no record, or lacking a package): never one in use
            old = target.with_name(f"{staging.name}-old")
            target.rename(old)
        staging.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except EnvError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise EnvError(f"building the environment {target} failed ({', '.join(declared) or 'ipykernel alone'}), "
                       f"nothing changed: {exc}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _run(what: str, command: list[str], on_line: Callable[[str], None] | None) -> list[str]:
    """Run a command, telling `on_line` each line; returns its lines; EnvError with its last lines on failure."""
    lines: list[str] = []
    tail: deque[str] = deque(maxlen=PIP_TAIL_LINES)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                          text=True, errors="replace", env=env) as proc:
        for line in proc.stdout:
            line = line.rstrip()
            lines.append(line)
            tail.append(line)
            if on_line and line.strip():
                on_line(line)
    if proc.returncode != 0:
        raise EnvError(f"{what} exited with code {proc.returncode}; its last lines:\n" + "\n".join(tail))
    return lines


def _relocate(staging: Path, target: Path) -> None:
    """Point bin/'s scripts (shebangs, activate) at the folder the environment will live in."""
    old, new = str(staging).encode(), str(target).encode()
    for path in [*(staging / "bin").iterdir(), staging / "pyvenv.cfg"]:
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if old in data:
            path.write_bytes(data.replace(old, new))
