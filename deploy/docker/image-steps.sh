#!/bin/sh
# `make image-steps`: the Dockerfile's build, step by step, where no container builder runs (no Docker daemon).
# A fresh venv stands in for each stage's `python:3.12-slim` base. Same order, files and commands as the Dockerfile:
#   build stage: COPY pyproject.toml constraints.txt README.md LICENSE, src, build-wheels.sh; RUN build-wheels.sh
#   run stage:   COPY --from=build /wheels; RUN install-wheels.sh (here with no network at all when root: `unshare
#                -n`), the config at /etc/wardgate/wardgate.yaml; then ENTRYPOINT dumb-init + CMD wardgate serve,
#                HEALTHCHECK's own command, and SIGTERM through dumb-init (exit 0).
# tests/deploy/test_image_steps.py checks that these steps are the Dockerfile's, and runs this script when
# WARDGATE_IMAGE_STEPS=1. Usage: sh deploy/docker/image-steps.sh [WORKDIR]
set -eu
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="${1:-$(mktemp -d)}"
python="${PYTHON_IMAGE_PYTHON:-}"  # the base image's interpreter: 3.12 when this machine has one
if [ -z "$python" ]; then
  if python3.12 --version > /dev/null 2>&1; then python=python3.12; else python=python3; fi
fi
echo "image steps in $work with $($python --version)"

# --- build stage -------------------------------------------------------------------------------------------------
mkdir -p "$work/build/src/deploy/docker"
cp "$root/pyproject.toml" "$root/constraints.txt" "$root/README.md" "$root/LICENSE" "$work/build/src/"
cp -R "$root/src" "$work/build/src/src"
cp "$root/deploy/docker/build-wheels.sh" "$work/build/src/deploy/docker/"
"$python" -m venv "$work/build/python"
(cd "$work/build/src" && PATH="$work/build/python/bin:$PATH" sh deploy/docker/build-wheels.sh "$work/build/src" "$work/wheels")

# --- run stage ---------------------------------------------------------------------------------------------------
"$python" -m venv "$work/run/python"
mkdir -p "$work/run/lib" "$work/run/etc"
cp "$root/deploy/docker/install-wheels.sh" "$work/run/lib/install-wheels.sh"
install="PATH='$work/run/python/bin:$PATH' PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 sh '$work/run/lib/install-wheels.sh' '$work/wheels'"
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
  unshare -n sh -c "$install"  # no route at all: the run stage installs from the wheels alone
else
  sh -c "$install"
fi
cp "$root/deploy/docker/wardgate.yaml" "$work/run/etc/wardgate.yaml"
export PATH="$work/run/python/bin:$PATH" PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
export WARDGATE_METRICS_DIR="$work/run/tmp/wardgate-metrics"
export WARDGATE_MASTER_KEY="sk-image-steps-master" WARDGATE_STORE_URL="sqlite:///$work/run/tmp/wardgate.db"
export WARDGATE_REDIS_URL="${WARDGATE_REDIS_URL:-redis://127.0.0.1:6379/0}"
mkdir -p "$work/run/tmp"
wardgate --version
wardgate config check "$work/run/etc/wardgate.yaml"
port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
dumb-init -- wardgate serve --config "$work/run/etc/wardgate.yaml" --host 127.0.0.1 --port "$port" --workers 2 \
  > "$work/run/serve.log" 2>&1 &
pid=$!
healthy=1
for _ in $(seq 1 300); do  # the HEALTHCHECK's own command, as Docker runs it (start period 20 s)
  if python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:$port/health/live', timeout=2).status != 200)" 2>/dev/null; then
    healthy=0
    break
  fi
  sleep 0.1
done
kill -TERM "$pid"  # as `docker stop`: SIGTERM to PID 1 (dumb-init), which passes it on
status=0
wait "$pid" || status=$?
if [ "$healthy" != 0 ]; then
  cat "$work/run/serve.log"
  echo "HEALTHCHECK never passed"
  exit 1
fi
echo "HEALTHCHECK passed; SIGTERM through dumb-init: exit $status"
exit "$status"
