#!/usr/bin/env bash
# Set up, then run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
GRADER_EXTRAS="${GRADER_EXTRAS:-dev,torch}" ./scripts/setup.sh  # torch: the reference solutions
./scripts/browser.sh  # headless Chromium opens the published leaderboards
exec .venv/bin/python -m pytest -q "$@"
