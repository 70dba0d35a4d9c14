#!/usr/bin/env bash
# Local stand-ins for the destination types' services, for tests and benchmarks, on
# 127.0.0.1 only. Installed from PyPI into .venv (skipped when present).
#   bash scripts/backends.sh install      install what is missing
#   bash scripts/backends.sh start PORT   start moto (SQS, EventBridge, S3) in the background
#   bash scripts/backends.sh stop         stop what `start` started
# The integration tests start and stop moto themselves (tests/helpers/moto.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION=5.2.5
VENV=.venv

install() {
  if [ ! -x "$VENV/bin/moto_server" ] || [ "$("$VENV/bin/python" -c 'import moto; print(moto.__version__)' 2>/dev/null)" != "$MOTO_VERSION" ]; then
    echo "==> installing moto[server] $MOTO_VERSION into $VENV (AWS SQS, EventBridge and S3 stand-in)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  fi
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
