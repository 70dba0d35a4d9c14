#!/usr/bin/env bash
# The "test it" command: installs what is missing (scripts/setup.sh test), checks formatting,
# builds the Worker, runs the integration tests against it on local workerd (Miniflare's API)
# with real local receivers while the deploy build (wasm-opt, bundled by `wrangler deploy
# --dry-run`, offline), clippy (wasm32 and native) and the native unit tests' compile run
# beside them; then the native unit tests. Exits non-zero if any step failed.
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
step "build the Worker"
bash scripts/build.sh
took

# The integration tests mostly wait (on retries, timeouts, receivers), so they run beside the
# deploy build, the lints and the unit tests' compile, which get the CPU only when the tests
# leave it (nice). Three test files at a time, each with a workerd of its own; the longest
# first.
step "integration tests (local workerd through Miniflare's API), in the background"
mkdir -p tests/artifacts
log=tests/artifacts/integration.log
files=()
for f in dataplane fuzz delivery chaos security; do files+=("tests/$f.test.mjs"); done
for f in tests/*.test.mjs; do
  case " ${files[*]} " in *" $f "*) ;; *) files+=("$f") ;; esac
done
SLUICE_SKIP_BUILD=1 node --test --test-concurrency=3 "${files[@]}" > "$log" 2>&1 &
integration=$!
bundle=
trap 'rm -rf "$bundle"; [ -z "$integration" ] || kill "$integration" 2>/dev/null || true' EXIT
integration_started=$SECONDS

status=0
# The deploy build: the same cargo build, then wasm-opt, into a folder of its own (the tests
# run build/), bundled offline as `wrangler deploy` would upload it.
step "the deploy build (wasm-opt) into .wrangler/deploy, bundled: wrangler deploy --dry-run"
deploy=.wrangler/deploy
WASM_BUDGET=700000
bundle=$(mktemp -d)
if SLUICE_OPTIMIZE=1 SLUICE_OUT_DIR="$deploy" nice -n 10 bash scripts/build.sh \
  && SLUICE_SKIP_BUILD=1 nice -n 10 npx wrangler deploy "$deploy/entry.mjs" --dry-run --outdir "$bundle"; then
  gzipped=$(gzip -9 -c "$deploy/index_bg.wasm" | wc -c)
  echo "    $deploy/index_bg.wasm: $(wc -c < "$deploy/index_bg.wasm") B, gzipped (level 9) $gzipped B"
  # The size budget (issue 15): what a cold start loads and compiles. Over it, find what grew
  # with twiggy (bench/README.md, "Wasm size history", has how and what was cut before).
  if [ "$gzipped" -gt "$WASM_BUDGET" ]; then
    echo "    over the budget of $WASM_BUDGET B gzipped"
    status=1
  fi
else
  status=1
fi
took
step "cargo clippy (wasm32 and native, warnings are errors)"
nice -n 10 cargo clippy --target wasm32-unknown-unknown --all-targets -- -D warnings || status=1
nice -n 10 cargo clippy --all-targets -- -D warnings || status=1
took
step "unit tests (native): compile"
nice -n 10 cargo test --no-run || status=1
took

step "integration tests: waiting for them ($log)"
wait "$integration" || status=1
integration=
cat "$log"
printf '    (integration tests: %d s in all)\n' $((SECONDS - integration_started))
started=$SECONDS

# Run alone: some property tests bound the time a parser may take.
step "unit tests (native): run"
cargo test || status=1
took
exit $status
