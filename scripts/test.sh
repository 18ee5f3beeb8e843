#!/usr/bin/env bash
# scripts/test.sh: `make test`. Every module's tests against a throwaway PostgreSQL
# and Redis (provisioned under .data/ unless DATABASE_URL / REDIS_URL are set).
# Tests clone their databases from migrated templates, so packages run in parallel.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
# Assign first: a failing `up` then stops this script (eval "$(...)" would not).
devenv=$(scripts/devenv.sh up)
eval "$devenv"
export PYTHORIX_TEST_DATABASE_URL=$DATABASE_URL PYTHORIX_TEST_REDIS_URL=$REDIS_URL
mapfile -t mods < <(go list -m -f '{{.Path}}/...' | grep -v -e '/tools/' -e '/gen/')
go test -count=1 -timeout 20m "$@" "${mods[@]}"
# Every fuzz target, briefly, beyond its seed corpus (make fuzz runs them longer).
if [ "$#" -eq 0 ]; then FUZZTIME=${FUZZTIME:-2s} scripts/fuzz.sh; fi
# The fault suite (make faults), once the rest has passed: it takes about a minute.
if [ "$#" -eq 0 ]; then go test -count=1 -timeout 10m -tags faults -run '^TestFaults$' github.com/pythorix/pythorix/e2e; fi
