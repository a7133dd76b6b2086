"""The notebooks' Python environment: declared once in course.toml, built by `grader env build`.

course.toml `[environment]` lists pip requirements (`packages`, and a `requirements` file beside it);
an assignment's own `[environment] packages` add to them. The bwrap and local runners run each
kernel with the Python of a venv that holds these and ipykernel alone, built from the grader's base
Python under `<workdir>/envs/<key>/`, one per distinct requirement set: notebooks see the course's
packages, never the grader's. The docker runner's image is built from the same list (grader.image)
and labelled with it. A course with no `[environment]` table runs notebooks in the grader's own
Python, as before. A requirement may not carry credentials in its URL (`pkg @
https://user:token@host/...`): pip's own ways (netrc, keyring, PIP_INDEX_URL) keep them off the
course's files.

The build's record (`<workdir>/envs/<key>.json`: the requirements, `pip freeze`, and the stat
signature of every file the build left) lies beside the environment, not in it: the sandbox shows
the environment to notebooks, never what the grader writes about it.

What an environment holds is read from its site-packages' metadata, never by importing it, so that
`grader run` can refuse a batch whose assignment declares what the environment lacks before anything
runs, instead of failing every hand-in. Nor does the grader run the environment's Python outside a
sandbox to learn where it lives: its pyvenv.cfg says (`read_venv`). Before each batch (`grader run`,
`grader reference run`, the course's `grader check`) every file of the environment is compared with
the signatures recorded at its build (grader.data.integrity: size, inode, mtime, ctime, mode;
nobody can set an inode or a ctime back): a notebook run outside the sandbox that wrote into it (a
.pth file runs in every later kernel) stops the batch until `grader env build --force` builds it
again.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from grader.course import Assignment, ConfigError, Course
from grader.data.integrity import entries, stat_signature

ENVS_FOLDER = "envs"  # under the course's workdir
RECORD_SUFFIX = ".json"  # the record <key>.json beside <key>/, written last: an environment without it is not built
SHOWN = 5  # changed files named in an error
KERNEL = "ipykernel"  # what the kernel itself runs on, in every environment
# The image's labels: the sha256 of its requirement set, and the set itself (a JSON list).
IMAGE_SHA_LABEL = "grader.requirements"
IMAGE_PACKAGES_LABEL = "grader.packages"
PIP_TAIL_LINES = 20  # of pip's output, in a failed build's error


class EnvError(RuntimeError):
    """An environment could not be built; the message ends with pip's last lines."""


class EnvMissing(EnvError):
    """The environment a batch would run in lacks what an assignment declares."""


class EnvChanged(EnvError):
    """A built environment's files are not those its build left."""


def _requirement(text: str, path: Path, key: str) -> Requirement:
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        why = str(exc).splitlines()[0]  # packaging's next lines draw a caret under the fault
        raise ConfigError(path, key, f"a pip requirement like \"torch==2.14.1\" ({why})", text) from None
    parts = urlsplit(requirement.url or "")
    if parts.username is not None or parts.password is not None:
        # Committed with the course, and recorded by pip in the environment: never repeat it, not even here.
        shown = text.replace(parts.netloc, "***@" + parts.netloc.rpartition("@")[2])
        raise ConfigError(path, key, "a requirement URL without a user or token in it (they would be committed "
                          "with the course and kept in the environment): give pip the credentials in ~/.netrc, "
                          "a keyring, or an index in PIP_INDEX_URL / PIP_EXTRA_INDEX_URL in the grader's "
                          "environment, and write the requirement without them", shown)
    return requirement


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


def record_path(env: Path) -> Path:
    """The build's record of an environment: beside it, outside what the sandbox shows."""
    return env.with_name(env.name + RECORD_SUFFIX)


@dataclass(frozen=True)
class Venv:
    """A virtual environment, as its pyvenv.cfg describes it."""

    prefix: Path  # its own folder
    base: Path  # the prefix of the Python installation it was made from
    version: str  # "3.11"
    system_site: bool  # include-system-site-packages: the base's packages are on its sys.path

    def base_site_packages(self) -> list[Path]:
        """The base installation's package folders (site-packages; Debian's dist-packages), from sysconfig's
        schemes and site's rules for the base prefix: what a notebook could append to sys.path to import
        packages the course never declared."""
        prefixes = {"base": str(self.base), "platbase": str(self.base), "installed_base": str(self.base),
                    "installed_platbase": str(self.base), "py_version_short": self.version}
        found = [Path(sysconfig.get_paths(scheme, vars=prefixes)[kind]) for scheme in
                 dict.fromkeys((sysconfig.get_default_scheme(), "posix_prefix")) for kind in ("purelib", "platlib")]
        found += [Path(p) for p in site.getsitepackages([str(self.base)])]
        return [p for p in dict.fromkeys(found) if p.is_dir() and not p.is_relative_to(self.prefix)]


def read_venv(python: str) -> Venv | None:
    """The venv `python` lies in (its bin/), read from its pyvenv.cfg without running it; None when it lies in
    none. The base prefix is where that Python finds its standard library from `home`, as Python itself
    searches: the first folder upwards that holds lib/pythonX.Y/os.py."""
    prefix = Path(python).parent.parent
    try:
        lines = (prefix / "pyvenv.cfg").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    config = {}
    for line in lines:
        key, equals, value = line.partition("=")
        if equals:
            config[key.strip().lower()] = value.strip()
    home, version = Path(config.get("home", "")), ".".join(config.get("version", "").split(".")[:2])
    landmarks = [Path(lib) / f"python{version}" / "os.py" for lib in dict.fromkeys(("lib", sys.platlibdir))]
    base = None
    if home.is_absolute() and version:
        base = next((folder for folder in (home, *home.parents)
                     if any((folder / landmark).is_file() for landmark in landmarks)), None)
    if base is None:
        raise EnvError(f"{prefix / 'pyvenv.cfg'}: names no Python installation whose standard library is found "
                       f"(home = {config.get('home')}, version = {config.get('version')}); build the environment "
                       "again")
    return Venv(prefix, base, version, config.get("include-system-site-packages", "false").lower() == "true")


def installed(env: Path) -> set[str]:
    """The distributions a built environment holds, by normalised name, from their METADATA files."""
    if not record_path(env).is_file():
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


def changes(env: Path) -> list[str]:
    """What differs in a built environment from its build's record: each changed, added or missing file."""
    try:
        expected = json.loads(record_path(env).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"{record_path(env)}: not a record written by `grader env build` ({exc})"]
    found = entries(env)
    faults = []
    for name in sorted(found - set(expected)):
        faults.append(f"{name}: added" + (" (a .pth file: Python runs its import lines at every start)"
                                          if name.endswith(".pth") else ""))
    for name in sorted(set(expected) & found):
        try:
            same = stat_signature(env / name) == expected[name]
        except OSError:
            same = False
        if not same:
            faults.append(f"{name}: changed")
    faults += [f"{name}: missing" for name in sorted(set(expected) - found)]
    return faults


def verify(course: Course, assignments: list[Assignment]) -> None:
    """EnvChanged naming what changed, since their build, in the built environments these assignments run in
    (see the module docstring); an environment not built is `missing`'s to report."""
    if not course.environment.declared:
        return
    for env in dict.fromkeys(env_dir(course, a) for a in assignments):
        if not record_path(env).is_file():
            continue
        faults = changes(env)
        if faults:
            shown = "; ".join(faults[:SHOWN]) + (f"; and {len(faults) - SHOWN} more" if len(faults) > SHOWN else "")
            raise EnvChanged(f"the notebooks' environment {env} is not as `grader env build` left it ({shown}): a "
                             "notebook run outside the sandbox may have written into it, and every later kernel "
                             f"would run what it wrote. Nothing was run. Build it again: {fix_command(course)} "
                             "--force")


def requirement_sets(course: Course) -> dict[Path, tuple[str, ...]]:
    """Each distinct environment the course's assignments run in (the course's own when it has none)."""
    sets: dict[Path, tuple[str, ...]] = {}
    for name in sorted(course.assignments):
        a = course.assignment(name)
        sets.setdefault(env_dir(course, a), requirements(course, a))
    return sets or {env_dir(course): requirements(course)}


def build(course: Course, wheels: Path | None = None, on_line: Callable[[str], None] | None = None,
          on_env: Callable[[Path, tuple[str, ...]], None] | None = None, force: bool = False) -> list[Path]:
    """Build every environment the course's assignments need that is not built yet (with `force`, every one
    again); returns them all.

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
        if not force and not _lacking(target, [Requirement(r) for r in declared]):
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
        record_path(target).unlink(missing_ok=True)  # not built from here on, until the new record is written
        old = None
        if target.exists():  # unfinished, lacking a package, or rebuilt (--force): not in use without its record
            old = target.with_name(f"{staging.name}-old")
            target.rename(old)
        staging.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        record["files"] = {name: stat_signature(target / name) for name in sorted(entries(target))}
        written = record_path(target).with_name(f".{target.name}{RECORD_SUFFIX}.tmp")
        written.write_text(json.dumps(record) + "\n", encoding="utf-8")
        written.replace(record_path(target))
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
