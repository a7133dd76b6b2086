#!/usr/bin/env bash
# Bring up a Docker engine and build the docker runner's test image, with no Docker Hub:
#   1. Debian's docker.io (and gVisor's runsc, registered as runtime "runsc"), dockerd started
#      in the background when no engine answers (these machines have no systemd);
#   2. a base image with python3 made from the Debian mirror (mmdebstrap | docker import);
#   3. the project's Dockerfile built on it without torch, from wheels downloaded on the host
#      (grader image build --offline), tagged grader-test:latest.
# Idempotent: each step is skipped when its result exists. Needs root for apt and dockerd.
# Knobs: BASE_TAG, TEST_TAG, REBUILD=1 (rebuild both images).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_TAG=${BASE_TAG:-grader-base:bookworm}
TEST_TAG=${TEST_TAG:-grader-test:latest}
export DEBIAN_FRONTEND=noninteractive
T0=$(date +%s)
step() { echo "[docker.sh $(( $(date +%s) - T0 ))s] $*"; }
sudo_if_needed() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v runsc >/dev/null || missing+=(runsc)
if (( ${#missing[@]} )); then
  step "apt-get install ${missing[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# gVisor needs its own --network=none (Docker's "none" network alone makes runsc refuse to start), and
# --host-uds=create: the kernel binds its ipc sockets in a volume that the grader connects to from the host.
changed=$(sudo_if_needed python3 - <<'PY'
import json, pathlib, shutil
path = pathlib.Path("/etc/docker/daemon.json")
config = json.loads(path.read_text()) if path.is_file() and path.read_text().strip() else {}
runsc = shutil.which("runsc")
wanted = {"path": runsc, "runtimeArgs": ["--network=none", "--host-uds=create"]}
if runsc and config.get("runtimes", {}).get("runsc") != wanted:
    config.setdefault("runtimes", {})["runsc"] = wanted
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    print("changed")
PY
)
if docker info >/dev/null 2>&1; then
  [[ -n $changed ]] && { step "runtimes changed: dockerd reloads its configuration"; sudo_if_needed pkill -HUP -x dockerd; sleep 1; }
else
  step "starting dockerd (log: /tmp/dockerd.log)"
  sudo_if_needed bash -c 'nohup dockerd >/tmp/dockerd.log 2>&1 &'
  for _ in $(seq 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null || { tail -20 /tmp/dockerd.log; echo "dockerd did not start" >&2; exit 1; }
fi
step "docker engine $(docker version -f '{{.Server.Version}}'), runtimes: $(docker info -f '{{range $k, $v := .Runtimes}}{{$k}} {{end}}')"

if [[ -n ${REBUILD:-} ]] || ! docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
  step "base image $BASE_TAG: Debian bookworm minbase + python3 from the apt mirror"
  MIRROR=${MIRROR:-$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | awk '{print $2}')}
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
  ROOTFS=$(mktemp -d)/rootfs.tar
  sudo_if_needed mmdebstrap --quiet --variant=minbase --include=python3,python3-venv \
    --customize-hook='rm -rf "$1"/usr/share/doc/* "$1"/usr/share/man/* "$1"/usr/share/locale/*' \
    bookworm "$ROOTFS" "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" \
    "deb ${MIRROR%/debian}/debian-security bookworm-security main"
  docker import --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' "$ROOTFS" "$BASE_TAG" >/dev/null
  rm -rf "$(dirname "$ROOTFS")"
fi

if [[ -n ${REBUILD:-} ]] || ! docker image inspect "$TEST_TAG" >/dev/null 2>&1; then
  step "test image $TEST_TAG: the project's Dockerfile without torch, built offline"
  .venv/bin/grader image build --tag "$TEST_TAG" --base-image "$BASE_TAG" --no-torch --offline
fi
step "ready: $(docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^($BASE_TAG|$TEST_TAG) " | tr '\n' ' ')"
