#!/usr/bin/env bash
# The benchmark: builds the Worker, then runs bench/harness.mjs against it on local workerd.
#   bash bench/run.sh           full run (~4 minutes): prints the tables and writes them to
#                               bench/README.md with the date, the machine and the commit
#   bash bench/run.sh --smoke   ~10 s with tiny numbers; asserts only that the harness works
#                               (non-zero throughput, every published event arrived)
#   SLUICE_SKIP_BUILD=1         use build/ as it is (must exist)
# Everything listens on 127.0.0.1. Needs `scripts/setup.sh test` done (moto, rabbitmq-server for
# the per-type figures; those are skipped with a note when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false CLOUDFLARE_CF_FETCH_ENABLED=false
if [ "${SLUICE_SKIP_BUILD:-0}" != 1 ] || [ ! -f build/entry.mjs ]; then
  SLUICE_SKIP_BUILD=0 bash scripts/build.sh >&2
fi
# The filter micro-benchmark's native release build (minutes the first time), outside the
# measured part.
case " $* " in
  *" --smoke "*) ;;
  *) cargo build --quiet --release --example filter_eval >&2 ;;
esac
SLUICE_SKIP_BUILD=1 exec node bench/harness.mjs "$@"
