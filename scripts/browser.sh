#!/usr/bin/env bash
# Install Debian's headless Chromium for the leaderboard page tests when it is missing.
# Prints nothing and succeeds when Chromium is already there; needs root or password-less sudo.
set -euo pipefail
command -v chromium >/dev/null && exit 0
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo -n"
if ! command -v apt-get >/dev/null; then
  echo "warning: no apt-get: install Chromium yourself for the page tests (they skip without it)" >&2
  exit 0
fi
echo "installing Debian's chromium for the page tests" >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
  || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
