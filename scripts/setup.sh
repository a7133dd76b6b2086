#!/usr/bin/env bash
# Create .venv (Python >= 3.11) and install grader with its test dependencies. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-}
if [[ -z $PYTHON ]]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      PYTHON=$candidate; break
    fi
  done
fi
[[ -n $PYTHON ]] || { echo "error: Python >= 3.11 is required" >&2; exit 1; }
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
# The distribution was called `grader` before it became dl-course-grader: an old .venv drops it first.
if .venv/bin/python -m pip show -q grader >/dev/null 2>&1; then .venv/bin/python -m pip uninstall -q -y grader; fi
# Extras: GRADER_EXTRAS="dev,torch" also installs torch/torchvision for the reference solutions.
# setuptools >= 68 (pyproject's build backend) in the venv itself: `grader kit` builds the grader's wheel
# from this checkout without fetching a build environment.
.venv/bin/python -m pip install -q --disable-pip-version-check "setuptools>=68" -e ".[${GRADER_EXTRAS:-dev}]" 2>&1 \
  | { grep -v "is ignored: it is neither" || true; }
