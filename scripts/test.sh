#!/usr/bin/env bash
# The "test it" command: installs what is missing, checks formatting and lints, runs the
# native unit tests, builds the Worker, and runs the integration tests against it on local
# workerd with real local receivers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false CLOUDFLARE_CF_FETCH_ENABLED=false

echo "==> cargo fmt --check"
cargo fmt --check
echo "==> cargo clippy (wasm32 and native, warnings are errors)"
cargo clippy --target wasm32-unknown-unknown --all-targets -- -D warnings
cargo clippy --all-targets -- -D warnings
echo "==> unit tests (native)"
cargo test
echo "==> build the Worker"
bash scripts/build.sh
echo "==> integration tests (local workerd)"
SLUICE_SKIP_BUILD=1 node --test --test-concurrency=1 tests/
