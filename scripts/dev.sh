#!/usr/bin/env bash
# The "run it" command: installs what running needs and is missing (scripts/setup.sh run: no
# test backends), builds, applies the D1 migrations to the local database and starts Sluice
# on http://127.0.0.1:8787 (admin key: sluice-dev-admin-key).
# Fully offline: local D1, local Durable Objects, no telemetry.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh run
export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false CLOUDFLARE_CF_FETCH_ENABLED=false
bash scripts/build.sh
CI=true npx wrangler d1 migrations apply sluice --local
SLUICE_SKIP_BUILD=1 exec npx wrangler dev --ip 127.0.0.1 --port "${PORT:-8787}" "$@"
