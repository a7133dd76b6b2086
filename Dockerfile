# The execution image of the docker runner: a Python kernel and the libraries the practicals use.
# Only the kernel runs in the container (the grader's executor drives it from outside), so this
# image holds no grader code and does not change with the grader's version.
#
# Build it with `grader image build` (it sends only this file and wheels/ to the engine).
# GPU hosts: the default base is a CUDA build of PyTorch, which brings torch and torchvision.
# Any Debian or Ubuntu base with python3 and python3-venv works as well, e.g. on a CPU host:
#   grader image build --base-image debian-python3:bookworm
# Written for the legacy builder that the docker SDK drives: no `# syntax` line, no RUN --mount.
ARG BASE_IMAGE=pytorch/pytorch:2.9.0-cuda12.8-cudnn9-runtime

FROM ${BASE_IMAGE} AS build
# The builder leaves this stage behind as an untagged image; the label lets `grader image build`
# remove it without touching other images.
LABEL grader.stage=build
ARG PACKAGES="ipykernel numpy pandas scikit-learn matplotlib"
ARG TORCH_PACKAGES="torch torchvision"
# "--no-index" for a build with no network, from the wheels in wheels/ (grader image build --offline).
ARG PIP_OPTIONS=""
# wheels/ may be absent: the Dockerfile is listed too, so that COPY always has a source.
COPY Dockerfile wheels* /wheels/
# --system-site-packages: the torch of a PyTorch base image stays visible in the venv.
RUN python3 -m venv --system-site-packages /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check $PIP_OPTIONS --find-links /wheels \
      $PACKAGES $TORCH_PACKAGES

FROM ${BASE_IMAGE}
COPY --from=build /opt/venv /opt/venv
RUN id -u 1000 >/dev/null 2>&1 || useradd -u 1000 -M -d /tmp -s /usr/sbin/nologin grader
# HOME on the container's tmpfs: the root filesystem is read-only when a notebook runs.
ENV PATH=/opt/venv/bin:$PATH HOME=/tmp MPLBACKEND=Agg PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 1000:1000
WORKDIR /tmp
