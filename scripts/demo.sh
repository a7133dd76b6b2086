#!/usr/bin/env bash
# Set up, then grade the bundled demo course end to end: prepare data (making the course secret),
# run the submissions in the sandbox, show status, course grades, the Moodle import file and one
# student's report.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/sandbox.sh  # bubblewrap: the demo's hand-ins are graded in its sandbox
export PATH="$PWD/.venv/bin:$PATH"
grader data prepare digits --course demo
grader env build --course demo  # the notebooks' own Python: demo/course.toml's [environment]
grader run demo/submissions --course demo
grader status --course demo
grader moodle roster demo/participants.csv --course demo
grader grades show --course demo
grader grades export --format moodle --course demo
grader audit digits --course demo
grader report "Ana García" --course demo
grader leaderboard publish --course demo --out demo/.grader/leaderboards
