#!/usr/bin/env bash
# Installs what Sluice needs, skipping what is already there. Safe to run repeatedly; never
# downloads binaries from outside the package registries.
#   bash scripts/setup.sh [run]   to build and run it (scripts/dev.sh, deploys): the wasm32
#                                 target, worker-build and the matching wasm-bindgen-cli (from
#                                 crates.io), the pinned npm packages, the local .dev.vars
#   bash scripts/setup.sh test    that, and the test backends (scripts/test.sh): moto and
#                                 schemathesis into .venv (PyPI), Debian's rabbitmq-server and
#                                 chromium (apt)
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-run}"
case "$what" in
  run | test) ;;
  *) echo "usage: $0 [run | test]" >&2; exit 2 ;;
esac

WORKER_BUILD_VERSION=0.8.7
# Must equal the `wasm-bindgen` version pinned in Cargo.toml.
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' Cargo.toml)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# The version a tool reports: the last word of its --version line ("0.8.7", "wasm-bindgen 0.2.130").
installed_version() { "$1" --version 2>/dev/null | head -n1 | awk '{print $NF}'; }

if [ "$(installed_version worker-build)" != "$WORKER_BUILD_VERSION" ]; then
  say "installing worker-build $WORKER_BUILD_VERSION (a few minutes, once)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked
fi

if [ "$(installed_version wasm-bindgen)" != "$WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
  # Not --locked: its lockfile names a crate version the registry may lack.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# A copy of the lockfile marks what node_modules was installed from.
if [ ! -x node_modules/.bin/wrangler ] || ! cmp -s package-lock.json node_modules/.sluice-installed-lock 2>/dev/null; then
  say "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.sluice-installed-lock
fi

if [ ! -f .dev.vars ]; then
  say "creating .dev.vars from .dev.vars.example (local secrets)"
  cp .dev.vars.example .dev.vars
fi

[ "$what" = test ] || exit 0

# The test backends: moto (AWS), RabbitMQ, schemathesis (API fuzzing) and Chromium (the
# dashboard's end-to-end test).
bash scripts/backends.sh install
