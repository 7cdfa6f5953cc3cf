#!/usr/bin/env bash
# The test command: type-check, then every uvu file (unit and end to end) with a final "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
tsc -p tsconfig.json
exec node scripts/run-tests.ts "$@"
