#!/usr/bin/env bash
# scripts/fuzz.sh: `make fuzz`. Runs every fuzz target of every module for
# FUZZTIME each (default 10s; CI runs them for 2s from scripts/test.sh).
# The seed corpora (f.Add in each target, and testdata/fuzz/ when a run
# finds a failing input) always run with the plain tests too.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}
mapfile -t dirs < <(go list -m -f '{{.Dir}}' | grep -v -e '/tools$' -e '/gen$')
failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for dir in "${dirs[@]}"; do
  while IFS=: read -r file name; do
    pkg=./$(dirname "${file#"$dir"/}")
    name=${name#func }
    name=${name%%(*}
    echo "fuzz: $pkg $name ($fuzztime)" >&2
    for try in 1 2; do
      if (cd "$dir" && go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" >"$out" 2>&1); then
        break
      fi
      # A failing input is a finding; anything else (the engine's own
      # worker hiccups under a very short -fuzztime) is tried once more.
      if grep -q "Failing input written to" "$out" || [ "$try" = 2 ]; then
        tail -n 30 "$out" >&2
        echo "fuzz: $pkg $name FAILED" >&2
        failed=1
        break
      fi
    done
  done < <(grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*(' "$dir" | sed 's/($//')
done
exit $failed
