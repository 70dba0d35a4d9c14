#!/usr/bin/env bash
# Payload transform micro-benchmark (native, release). Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --release --example transform_apply
