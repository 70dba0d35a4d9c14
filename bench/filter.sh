#!/usr/bin/env bash
# Filter evaluation micro-benchmark (native, release). Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --release --example filter_eval
