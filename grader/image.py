"""`grader image build`: the docker runner's execution image, from the project's Dockerfile.

The build context holds only the Dockerfile and a wheels/ folder. `offline` fills wheels/ on the
host with pip, for the Python and glibc of the base image (which must be on the engine already),
and builds with no network: for engines that reach no package index, or none that their
containers can use. `wheels` takes a folder of wheels made beforehand instead.

When the course declares its notebooks' environment (course.toml `[environment]`, grader.envs), the
image's packages are the course's (ipykernel added), not the Dockerfile's defaults, and the image is
labelled with them, so that `grader run` can tell whether it has what an assignment declares.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections import deque
from pathlib import Path
from typing import Callable

from docker.errors import ContainerError, ImageNotFound

from grader import envs
from grader.course import Course
from grader.runners.docker_runner import DEFAULT_IMAGE, connect

BUILD_STAGE_LABEL = "grader.stage=build"
# Installed by the Dockerfile's TORCH_PACKAGES (left out by --no-torch); every other package by PACKAGES.
TORCH_FAMILY = {"torch", "torchvision", "torchaudio"}


class ImageBuildError(RuntimeError):
    """The image did not build; the message ends with the builder's last lines."""


def project_dockerfile() -> Path:
    """The Dockerfile at the top of the source checkout that holds this package."""
    return Path(__file__).resolve().parent.parent / "Dockerfile"


def dockerfile_defaults(dockerfile: Path) -> dict[str, str]:
    """The `ARG NAME=default` values of a Dockerfile: one list of packages, read by the offline download too."""
    pattern = re.compile(r'^ARG\s+(\w+)=(?:"([^"]*)"|(\S*))', re.MULTILINE)
    return {m[1]: m[2] if m[2] is not None else m[3] for m in pattern.finditer(dockerfile.read_text(encoding="utf-8"))}


def base_python(client, image: str) -> tuple[str, str]:
    """The Python version ("3.11") and glibc version ("2.36") of an image on the engine."""
    probe = "import platform, sys; print('%d.%d' % sys.version_info[:2], platform.libc_ver()[1])"
    try:
        answer = client.containers.run(image, ["python3", "-c", probe], network_mode="none", remove=True)
    except ImageNotFound:
        raise ImageBuildError(f"an offline build needs its base image on the engine: {image} is not there "
                              f"(docker load or docker import it first)") from None
    except ContainerError as exc:
        raise ImageBuildError(f"{image}: python3 does not run in it ({exc})") from None
    python, glibc = answer.decode().split()
    return python, glibc


def download_wheels(packages: list[str], into: Path, python: str, glibc: str) -> None:
    """Binary wheels of `packages` and their dependencies for CPython `python` on Linux with `glibc`."""
    machine = platform.machine()
    # pip takes only the platform tags it is given: every glibc the image runs, down to 2.5, and
    # the legacy names that some wheels carry alone (manylinux2014 is glibc 2.17).
    major, minor = (int(part) for part in glibc.split(".")[:2])
    tags = [f"manylinux_{major}_{m}" for m in range(minor, 4, -1)]
    tags += [legacy for legacy, m in (("manylinux2014", 17), ("manylinux2010", 12), ("manylinux1", 5)) if m <= minor]
    platforms = [arg for tag in tags for arg in ("--platform", f"{tag}_{machine}")]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
               "--only-binary=:all:", "--implementation", "cp", "--python-version", python,
               *platforms, "--dest", str(into), *packages]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ImageBuildError(f"pip could not download wheels for Python {python} and glibc {glibc}: "
                              f"{(done.stderr or done.stdout).strip()[-2000:]}")


def course_packages(course: Course, torch: bool = True) -> tuple[dict[str, str], dict[str, str]]:
    """The build args PACKAGES and TORCH_PACKAGES from the course's declared environment, and the image's
    labels; ({}, {}) when the course declares none (the Dockerfile's defaults)."""
    if not course.environment.declared:
        return {}, {}
    declared = envs.image_requirements(course)
    family = [r for r in declared if envs.names([r]) <= TORCH_FAMILY]
    if family and not torch:
        raise ImageBuildError(f"--no-torch: the course declares {', '.join(family)} ([environment] in "
                              f"{course.root / 'course.toml'}), which the image must hold")
    others = [r for r in declared if r not in family]
    # One word per requirement: the Dockerfile passes them to pip unquoted.
    packages = [r.replace(" ", "") for r in (envs.KERNEL, *others)]
    args = {"PACKAGES": " ".join(packages), "TORCH_PACKAGES": " ".join(r.replace(" ", "") for r in family)}
    return args, envs.image_labels(course)


def build_image(tag: str = DEFAULT_IMAGE, *, base_image: str | None = None, torch: bool = True,
                offline: bool = False, dockerfile: Path | None = None,
                build_args: dict[str, str] | None = None, on_line: Callable[[str], None] | None = None,
                client=None, course: Course | None = None, wheels: Path | None = None) -> str:
    """Build the execution image and tag it; returns the image id.

    `build_args` set the Dockerfile's ARGs, e.g. TORCH_PACKAGES="torch==2.9.1 torchvision==0.24.1";
    `course` sets PACKAGES and TORCH_PACKAGES from its declared environment, and labels the image;
    `wheels`: a folder of wheels to build from with no network.
    """
    dockerfile = dockerfile or project_dockerfile()
    if not dockerfile.is_file():
        raise ImageBuildError(f"{dockerfile}: no Dockerfile there (give one with --file)")
    if wheels is not None and not wheels.is_dir():
        raise ImageBuildError(f"--wheels {wheels}: no such folder")
    build_args = dict(build_args or {})
    declared, labels = course_packages(course, torch) if course else ({}, {})
    overridden = sorted(set(declared) & set(build_args))
    if overridden:
        raise ImageBuildError(f"--build-arg {overridden[0]}: the course declares the notebooks' packages "
                              f"([environment] in {course.root / 'course.toml'}): change them there")
    build_args |= declared
    client = client or connect()
    if base_image:
        build_args["BASE_IMAGE"] = base_image
    if not torch:
        build_args["TORCH_PACKAGES"] = ""
    args = {**dockerfile_defaults(dockerfile), **build_args}
    offline = offline or wheels is not None
    with tempfile.TemporaryDirectory(prefix="grader-image-") as tmp:
        context = Path(tmp)
        shutil.copyfile(dockerfile, context / "Dockerfile")
        (context / "wheels").mkdir()
        if wheels is not None:
            for wheel in wheels.iterdir():
                if wheel.is_file():
                    shutil.copyfile(wheel, context / "wheels" / wheel.name)
            build_args["PIP_OPTIONS"] = "--no-index"
        elif offline:
            packages = args.get("PACKAGES", "").split() + args.get("TORCH_PACKAGES", "").split()
            python, glibc = base_python(client, args["BASE_IMAGE"])
            if on_line:
                on_line(f"downloading wheels for Python {python}, glibc {glibc}: {' '.join(packages)}")
            download_wheels(packages, context / "wheels", python, glibc)
            build_args["PIP_OPTIONS"] = "--no-index"
        log: deque[str] = deque(maxlen=15)  # the lines an error message ends with
        image_id = None
        try:
            stream = client.api.build(path=str(context), tag=tag, buildargs=build_args, rm=True, forcerm=True,
                                      network_mode="none" if offline else None, decode=True, labels=labels or None)
            for chunk in stream:
                if "error" in chunk:
                    raise ImageBuildError(f"building {tag} failed: {chunk['error'].strip()}\n{''.join(log)}")
                line = chunk.get("stream", "")
                if line:
                    log.append(line)
                    if on_line and line.strip():
                        on_line(line.rstrip())
                if "aux" in chunk and "ID" in chunk["aux"]:
                    image_id = chunk["aux"]["ID"]
        finally:  # built or not, the build stage's layers are left untagged
            client.images.prune(filters={"dangling": True, "label": BUILD_STAGE_LABEL})
    if image_id is None:
        image_id = client.images.get(tag).id
    return image_id


__all__ = ["ImageBuildError", "build_image", "course_packages", "dockerfile_defaults", "project_dockerfile"]
