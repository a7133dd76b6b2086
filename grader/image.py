"""`grader image build`: the docker runner's execution image, from the project's Dockerfile.

The build context holds only the Dockerfile and a wheels/ folder. `offline` fills wheels/ on the
host with pip (for the image's Python) and builds with no network: for engines that reach no
package index, or none that their containers can use.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

from grader.runners.docker_runner import DEFAULT_IMAGE, DockerUnavailable, connect

BUILD_STAGE_LABEL = "grader.stage=build"


class ImageBuildError(RuntimeError):
    """The image did not build; the message ends with the builder's last lines."""


def project_dockerfile() -> Path:
    """The Dockerfile at the top of the source checkout that holds this package."""
    return Path(__file__).resolve().parent.parent / "Dockerfile"


def dockerfile_defaults(dockerfile: Path) -> dict[str, str]:
    """The `ARG NAME=default` values of a Dockerfile: one list of packages, read by the offline download too."""
    pattern = re.compile(r'^ARG\s+(\w+)=(?:"([^"]*)"|(\S*))', re.MULTILINE)
    return {m[1]: m[2] if m[2] is not None else m[3] for m in pattern.finditer(dockerfile.read_text(encoding="utf-8"))}


def download_wheels(packages: list[str], into: Path, python_version: str) -> None:
    """Binary wheels of `packages` and their dependencies for CPython `python_version` on Linux."""
    machine = platform.machine()
    # pip takes only the platform tags it is given: list every glibc from 2.28 (Debian 10 and
    # newer, Ubuntu 20.04 and newer) down.
    platforms = [arg for minor in range(28, 4, -1) for arg in ("--platform", f"manylinux_2_{minor}_{machine}")]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
               "--only-binary=:all:", "--implementation", "cp", "--python-version", python_version,
               *platforms, "--dest", str(into), *packages]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ImageBuildError(f"pip could not download wheels for Python {python_version}: "
                              f"{(done.stderr or done.stdout).strip()[-2000:]}")


def build_image(tag: str = DEFAULT_IMAGE, *, base_image: str | None = None, torch: bool = True,
                offline: bool = False, python_version: str = "3.11", dockerfile: Path | None = None,
                on_line: Callable[[str], None] | None = None, client=None) -> str:
    """Build the execution image and tag it; returns the image id."""
    dockerfile = dockerfile or project_dockerfile()
    if not dockerfile.is_file():
        raise ImageBuildError(f"{dockerfile}: no Dockerfile there (give one with --file)")
    client = client or connect()
    defaults = dockerfile_defaults(dockerfile)
    build_args = {"BASE_IMAGE": base_image} if base_image else {}
    if not torch:
        build_args["TORCH_PACKAGES"] = ""
    with tempfile.TemporaryDirectory(prefix="grader-image-") as tmp:
        context = Path(tmp)
        shutil.copyfile(dockerfile, context / "Dockerfile")
        (context / "wheels").mkdir()
        if offline:
            packages = defaults.get("PACKAGES", "").split() + (defaults.get("TORCH_PACKAGES", "").split() if torch else [])
            if on_line:
                on_line(f"downloading wheels for Python {python_version}: {' '.join(packages)}")
            download_wheels(packages, context / "wheels", python_version)
            build_args["PIP_OPTIONS"] = "--no-index"
        log: list[str] = []
        image_id = None
        stream = client.api.build(path=str(context), tag=tag, buildargs=build_args, rm=True, forcerm=True,
                                  network_mode="none" if offline else None, decode=True)
        for chunk in stream:
            if "error" in chunk:
                tail = "".join(log[-15:])
                raise ImageBuildError(f"building {tag} failed: {chunk['error'].strip()}\n{tail}")
            line = chunk.get("stream", "")
            if line:
                log.append(line)
                if on_line and line.strip():
                    on_line(line.rstrip())
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
    client.images.prune(filters={"dangling": True, "label": BUILD_STAGE_LABEL})
    if image_id is None:
        image_id = client.images.get(tag).id
    return image_id


__all__ = ["ImageBuildError", "DockerUnavailable", "build_image", "dockerfile_defaults", "project_dockerfile"]
