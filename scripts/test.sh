#!/usr/bin/env bash
# The "test it" command: installs what is missing (scripts/setup.sh test), checks formatting
# and lints, runs the native unit tests, builds the Worker as it is deployed (wasm-opt) and
# bundles it with `wrangler deploy --dry-run` (offline), then runs the integration tests
# against that build on local workerd (Miniflare's API) with real local receivers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
# No telemetry, no cf fetch, no banner (its update check asks the npm registry).
export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_HIDE_BANNER=true

step() { printf '==> %s\n' "$*"; }
started=$SECONDS
took() { printf '    (%d s)\n' $((SECONDS - started)); started=$SECONDS; }

step "cargo fmt --check"
cargo fmt --check
took
step "cargo clippy (wasm32 and native, warnings are errors)"
cargo clippy --target wasm32-unknown-unknown --all-targets -- -D warnings
cargo clippy --all-targets -- -D warnings
took
step "unit tests (native)"
cargo test
took
step "build the Worker as deployed (wasm-opt), and bundle it: wrangler deploy --dry-run"
SLUICE_OPTIMIZE=1 bash scripts/build.sh
bundle=$(mktemp -d)
trap 'rm -rf "$bundle"' EXIT
SLUICE_SKIP_BUILD=1 npx wrangler deploy --dry-run --outdir "$bundle"
echo "    build/index_bg.wasm: $(wc -c < build/index_bg.wasm) B, gzipped (level 9) $(gzip -9 -c build/index_bg.wasm | wc -c) B"
took
step "integration tests (local workerd through Miniflare's API, on the deploy build)"
SLUICE_SKIP_BUILD=1 node --test --test-concurrency=1 tests/
took
