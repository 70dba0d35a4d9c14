#!/usr/bin/env bash
# What the tests need beside Sluice, each skipped when present: local stand-ins for the
# destination types' services, on 127.0.0.1 only (moto from PyPI into .venv, Debian's
# rabbitmq-server with its management plugin from apt), schemathesis (the API fuzzer of
# tests/fuzz.test.mjs) into the same .venv, and Debian's chromium (the dashboard's
# end-to-end test drives it through playwright-core; Playwright's browser download is never
# used).
#   bash scripts/backends.sh install      install what is missing
#   bash scripts/backends.sh start PORT   start moto (SQS, EventBridge, S3) in the background
#   bash scripts/backends.sh stop         stop what `start` started
# The integration tests start and stop moto and a private RabbitMQ node themselves
# (tests/helpers/moto.mjs, tests/helpers/rabbitmq.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION=5.2.5
SCHEMATHESIS_VERSION=4.32.5
VENV=.venv

install() {
  if [ ! -x "$VENV/bin/moto_server" ] || [ "$("$VENV/bin/python" -c 'import moto; print(moto.__version__)' 2>/dev/null)" != "$MOTO_VERSION" ]; then
    echo "==> installing moto[server] $MOTO_VERSION into $VENV (AWS SQS, EventBridge and S3 stand-in)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  fi
  if [ "$("$VENV/bin/schemathesis" --version 2>/dev/null | awk '{print $NF}')" != "$SCHEMATHESIS_VERSION" ]; then
    echo "==> installing schemathesis $SCHEMATHESIS_VERSION into $VENV (API fuzzing from the OpenAPI document)"
    [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  fi
  apt_install rabbitmq-server "$RABBITMQ_SERVER"
  apt_install chromium /usr/bin/chromium
}

# The script the tests run directly (Debian's /usr/sbin wrapper switches to the rabbitmq
# user and the system's dirs). The package's own service, if the machine starts it, is not
# used: the tests run a node of their own on free ports.
RABBITMQ_SERVER=/usr/lib/rabbitmq/bin/rabbitmq-server

# apt-get install PACKAGE unless PATH is there (as root, or through sudo).
apt_install() {
  local package="$1" path="$2"
  [ -x "$path" ] && return
  echo "==> installing $package from apt"
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo > /dev/null || { echo "$package is missing and installing it needs root" >&2; exit 1; }
    sudo=(sudo)
  fi
  local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
  # Stale package lists make the install fail: refresh them then, and only then.
  if ! "${apt[@]}" install -y --no-install-recommends "$package"; then
    "${apt[@]}" update
    "${apt[@]}" install -y --no-install-recommends "$package"
  fi
  [ -x "$path" ] || { echo "$package installed, but $path is missing" >&2; exit 1; }
}

case "${1:-}" in
  install) install ;;
  start)
    install
    port="${2:-5000}"
    "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" > "$VENV/moto.log" 2>&1 &
    echo $! > "$VENV/moto.pid"
    echo "moto on http://127.0.0.1:$port (pid $(cat "$VENV/moto.pid"))"
    ;;
  stop)
    if [ -f "$VENV/moto.pid" ]; then kill "$(cat "$VENV/moto.pid")" 2>/dev/null || true; rm -f "$VENV/moto.pid"; fi
    ;;
  *) echo "usage: $0 install | start [PORT] | stop" >&2; exit 2 ;;
esac
