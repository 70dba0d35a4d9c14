#!/usr/bin/env bash
# Builds the Worker with the locally installed tools, so that worker-build never tries to
# download them, and puts the entry module beside its output: build/entry.mjs (from
# src/entry.mjs: the Durable Object classes as the runtime offers RPC on them) importing
# build/index.js (the Rust Worker and its wasm). wrangler runs this as its build command.
#   SLUICE_SKIP_BUILD=1   do nothing (the test harness built already)
#   SLUICE_OPTIMIZE=1     run wasm-opt (smaller wasm for deploys; ~20 s slower, more on a busy
#                         machine), with the flags in Cargo.toml's
#                         [package.metadata.wasm-pack.profile.release]
#   SLUICE_OUT_DIR=dir    write there instead of build/ (a relative path; scripts/test.sh
#                         makes the deploy build beside the one the tests run)
set -euo pipefail
cd "$(dirname "$0")/.."
# The API document and the type catalogue go out with the dashboard's static assets
# (wrangler.toml, [assets]), not in the wasm: the Worker reads them through the ASSETS
# binding. Copied even when the build is skipped, so that they are never older than the
# committed ones.
mkdir -p dashboard/v1
cp src/api/openapi.json dashboard/v1/openapi.json
cp src/providers/types.json dashboard/v1/destination-types.json
if [ "${SLUICE_SKIP_BUILD:-0}" = 1 ] && [ -f build/index.js ] && [ -f build/entry.mjs ]; then
  exit 0
fi
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen)}"
export ESBUILD_BIN="${ESBUILD_BIN:-$PWD/node_modules/.bin/esbuild}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$PWD/node_modules/.bin/wasm-opt}"
out="${SLUICE_OUT_DIR:-build}"
args=(--release --out-dir "$out")
[ "${SLUICE_OPTIMIZE:-0}" = 1 ] || args+=(--no-opt)
worker-build "${args[@]}"
cp src/entry.mjs "$out/entry.mjs"
