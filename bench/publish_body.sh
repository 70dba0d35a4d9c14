#!/usr/bin/env bash
# Publish-body micro-benchmark (native, release): data kept as text vs parsed and re-serialised.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --release --example publish_body
