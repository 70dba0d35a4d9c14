#!/usr/bin/env bash
# Bytes per event in a log shard and an index object (native, release; SQLite as in a Durable Object).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --release --example shard_bytes
