#!/usr/bin/env bash
# scripts/run.sh: `make run`. Provisions PostgreSQL and Redis under .data/ unless
# DATABASE_URL / REDIS_URL are set, creates one database per service and the dev
# certificates, starts the five services and the gateway, and stops them all on
# Ctrl-C. Logs go to .data/log/<service>.log.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
root=$(pwd -P)
data=${PYTHORIX_DATA_DIR:-$root/.data}
export PYTHORIX_DATA_DIR=$data

# Assign first: a failing `up` then stops this script (eval "$(...)" would not).
devenv=$(scripts/devenv.sh up)
eval "$devenv"

bin=$data/bin
mkdir -p "$bin" "$data/log" "$data/mail"
echo "run: building binaries" >&2
go build -o "$bin/" ./platform/cmd/pythorix-certs ./platform/cmd/pythorix-devdb \
  github.com/pythorix/pythorix/services/identity/cmd/pythorix-identity \
  github.com/pythorix/pythorix/services/tenancy/cmd/pythorix-tenancy \
  github.com/pythorix/pythorix/services/scanning/cmd/pythorix-scanning \
  github.com/pythorix/pythorix/services/audit/cmd/pythorix-audit \
  github.com/pythorix/pythorix/services/audit/cmd/pythorix-audit-verify \
  github.com/pythorix/pythorix/services/integrations/cmd/pythorix-integrations \
  github.com/pythorix/pythorix/services/gateway/cmd/pythorix-gateway

"$bin/pythorix-certs" -dir "$data/pki"
declare -A dburl
while IFS='=' read -r svc url; do dburl[$svc]=$url; done < <("$bin/pythorix-devdb")

# Development secrets, made once each and kept with the rest of .data/ (mode 600).
secrets=$data/secrets.env
key() { head -c 32 /dev/urandom | base64 | tr -d '\n'; }
(umask 077 && touch "$secrets")
has() { grep -q "^$1=" "$secrets"; }
has PYTHORIX_JWT_KEYS || echo "PYTHORIX_JWT_KEYS=dev1:$(key)" >>"$secrets"
has PYTHORIX_KEK || echo "PYTHORIX_KEK=dev1:$(key)" >>"$secrets"
has PYTHORIX_IDENTITY_PEPPER || echo "PYTHORIX_IDENTITY_PEPPER=$(key)" >>"$secrets"
has PYTHORIX_CSRF_KEY || echo "PYTHORIX_CSRF_KEY=$(key)" >>"$secrets"
if ! has PYTHORIX_AUDIT_SIGNING_KEY; then
  "$bin/pythorix-audit-verify" -keygen pythorix-audit-dev | {
    read -r skey
    read -r vkey
    echo "PYTHORIX_AUDIT_SIGNING_KEY=$skey"
    echo "# audit checkpoint verifier key: $vkey"
  } >>"$secrets"
fi
set -a
# shellcheck disable=SC1090
. "$secrets"
set +a
export PYTHORIX_MAIL_DIR=$data/mail
# Local mode: scans and ownership checks may reach this machine.
export PYTHORIX_EGRESS_ALLOW_CIDRS=${PYTHORIX_EGRESS_ALLOW_CIDRS:-127.0.0.0/8,::1/128}
pids=()
stopping=
stop() {
  stopping=1
  trap - INT TERM HUP EXIT
  echo "run: stopping" >&2
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait "${pids[@]}" 2>/dev/null || true
  echo "run: stopped (PostgreSQL and Redis keep running: scripts/devenv.sh down stops them)" >&2
}
trap stop INT TERM HUP EXIT

for svc in identity tenancy scanning audit integrations; do
  DATABASE_URL=${dburl[$svc]} "$bin/pythorix-$svc" >>"$data/log/$svc.log" 2>&1 &
  pids+=($!)
done
"$bin/pythorix-gateway" >>"$data/log/gateway.log" 2>&1 &
pids+=($!)

addr=${PYTHORIX_GATEWAY_ADDR:-127.0.0.1:8443}
url="https://${addr/127.0.0.1/localhost}"
for _ in $(seq 1 100); do
  if curl -fsS --cacert "$data/pki/ca.crt" "$url/readyz" >/dev/null 2>&1; then break; fi
  for p in "${pids[@]}"; do
    kill -0 "$p" 2>/dev/null || { echo "run: a process exited early; see $data/log/" >&2; tail -n 5 "$data"/log/*.log >&2; exit 1; }
  done
  sleep 0.2
done
echo "run: Pythorix is up at $url (CA: $data/pki/ca.crt, logs: $data/log/). Ctrl-C stops it." >&2
echo "$url"
wait -n "${pids[@]}" || true
[ -n "$stopping" ] || echo "run: a process exited; see $data/log/" >&2
