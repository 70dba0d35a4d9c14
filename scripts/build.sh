#!/usr/bin/env bash
# Builds the Worker with the locally installed tools, so that worker-build never tries to
# download them, and puts the entry module beside its output: build/entry.mjs (from
# src/entry.mjs: the Durable Object classes as the runtime offers RPC on them) importing
# build/index.js (the Rust Worker and its wasm). wrangler runs this as its build command.
#   SLUICE_SKIP_BUILD=1   do nothing (the test harness built already)
#   SLUICE_OPTIMIZE=1     run wasm-opt (smaller wasm for deploys; ~20 s slower, more on a busy
#                         machine), with the flags below
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
worker-build --release --out-dir "$out" --no-opt
if [ "${SLUICE_OPTIMIZE:-0}" = 1 ]; then
  # wasm-opt run here rather than by worker-build, which adds `--debuginfo` and so keeps a
  # name section (14 KB, 1.8 KB gzipped) naming only wasm-bindgen's glue: Rust's names are
  # stripped (Cargo.toml, `strip`). The features are worker-build's list: what rustc's
  # wasm32 target emits and wasm-bindgen's catch wrappers use, nothing newer than workerd
  # runs. `-Os` without `inlining-optimizing` and `local-cse`: binaryen's inliner copies
  # small functions into their callers, which gzip then compresses worse (bench/README.md,
  # "Wasm size history").
  "$WASM_OPT_BIN" "$out/index_bg.wasm" -o "$out/index_bg.wasm" \
    -Os --skip-pass=inlining-optimizing --skip-pass=local-cse \
    --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
    --enable-bulk-memory --enable-multivalue --enable-reference-types \
    --enable-exception-handling
fi
cp src/entry.mjs "$out/entry.mjs"
