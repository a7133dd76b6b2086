#!/usr/bin/env bash
# Install Debian's bubblewrap when it is missing and check that it can make its namespaces:
# `grader run` grades student hand-ins in it when no Docker engine with the execution image is there.
# Prints nothing and succeeds when bwrap already works; needs root or password-less sudo to install.
set -euo pipefail
works() { bwrap --unshare-all --unshare-user --die-with-parent --ro-bind / / true >/dev/null 2>&1; }
command -v bwrap >/dev/null && works && exit 0
if ! command -v bwrap >/dev/null; then
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo -n"
  command -v apt-get >/dev/null || { echo "error: no apt-get: install bubblewrap yourself" >&2; exit 1; }
  echo "installing Debian's bubblewrap (the sandbox for student notebooks)" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap >/dev/null 2>&1 \
    || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap >/dev/null; }
fi
works || { echo "error: bwrap is installed but cannot create user namespaces here" \
                 "(try: sysctl kernel.unprivileged_userns_clone=1)" >&2; exit 1; }
