#!/usr/bin/env bash
# Set up, then grade the bundled demo course end to end: prepare data, run submissions, show status.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
grader data prepare digits --course demo
grader run demo/submissions --course demo
grader status --course demo
