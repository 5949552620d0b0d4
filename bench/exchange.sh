#!/usr/bin/env bash
# Token-exchange throughput: user JWT -> opaque signer session, and API key -> signer session,
# on SQLite and on PostgreSQL. Every exchange writes a session row, so this measures the write
# path too. Target: >= 2,000 exchanges/s for each, on this 2-core machine with wrk beside it.
#
#   bench/exchange.sh     (WRK_CONNECTIONS=32 WRK_DURATION=10s TOLLHOUSE_BIN=… BACKENDS="sqlite postgres")
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
LUA="$ROOT/bench/lib/post_form.lua"
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-32}
WRK_DURATION=${WRK_DURATION:-10s}
BACKENDS=${BACKENDS:-sqlite postgres}
PG_BASE=${PG_BASE:-postgres://postgres@127.0.0.1:5432/test}
TARGET=2000
export PGOPTIONS="--client-min-messages=warning"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [[ -z "${TOLLHOUSE_BIN:-}" ]]; then
  cargo build --release -p tollhouse-server --manifest-path "$ROOT/Cargo.toml" >&2
  TOLLHOUSE_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/tollhouse"
fi
WORK=$(mktemp -d)
PID=""
SCHEMA=""
cleanup() {
  [[ -n "$PID" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  [[ -n "$SCHEMA" ]] && psql -q "$PG_BASE" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
field() { python3 -c "import sys,json; print(json.load(sys.stdin)$1)"; }
run_wrk() { # url form [authorization]
  BENCH_FORM="$2" BENCH_AUTHORIZATION="${3:-}" wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$WRK_DURATION" -s "$LUA" "$1" | grep '^RESULT'
}

declare -a ROWS
for backend in $BACKENDS; do
  dir="$WORK/$backend"; mkdir -p "$dir"
  if [[ "$backend" == postgres ]]; then
    SCHEMA="bench_$RANDOM$RANDOM"
    psql -q "$PG_BASE" -c "CREATE SCHEMA $SCHEMA" >/dev/null
    db="$PG_BASE?options=-c%20search_path%3D$SCHEMA"
  else
    db="sqlite://$dir/tollhouse.db?mode=rwc"
  fi
  port=$(free_port); base="http://127.0.0.1:$port"
  app=$("$TOLLHOUSE_BIN" app create --name bench --json --data-dir "$dir" --database-url "$db" --public-url "$base" 2>/dev/null)
  client=$(field "['clientId']" <<<"$app"); m2m=$(field "['m2mClientId']" <<<"$app"); secret=$(field "['m2mClientSecret']" <<<"$app")
  TOLLHOUSE_LOG=warn "$TOLLHOUSE_BIN" serve --listen "127.0.0.1:$port" --data-dir "$dir" --database-url "$db" >"$dir/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done
  basic="Basic $(printf '%s:%s' "$m2m" "$secret" | base64 -w0)"
  A="$base/api/v1/apps/$client"
  curl -fs -H "Authorization: $basic" -H 'content-type: application/json' -d '{"externalUserId":"bench-user"}' "$A/users" >/dev/null
  jwt=$(curl -fs -H "Authorization: $basic" -H 'content-type: application/json' -d '{}' "$A/users/bench-user/token" | field "['access_token']")
  key=$(curl -fs -H "Authorization: $basic" -H 'content-type: application/json' -d '{"label":"bench"}' "$A/users/bench-user/keys" | field "['apiKey']")
  session_form="grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&subject_token=$jwt"
  key_form="grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token_type=urn%3Apymthouse%3Aoauth%3Atoken-type%3Aapi_key&subject_token=$key"
  # Warm-up, then the two measured runs.
  BENCH_FORM="$session_form" BENCH_AUTHORIZATION="$basic" wrk -t1 -c4 -d2s -s "$LUA" "$base/api/v1/oidc/token" >/dev/null
  s=$(run_wrk "$base/api/v1/oidc/token" "$session_form" "$basic")
  k=$(run_wrk "$A/oidc/token" "$key_form")
  ROWS+=("$backend|user JWT -> signer session|$s" "$backend|API key -> signer session|$k")
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  if [[ -n "$SCHEMA" ]]; then psql -q "$PG_BASE" -c "DROP SCHEMA $SCHEMA CASCADE" >/dev/null; SCHEMA=""; fi
done

printf '\nToken exchange throughput (wrk -t%s -c%s -d%s, wrk and server share 2 cores)\n' "$WRK_THREADS" "$WRK_CONNECTIONS" "$WRK_DURATION"
printf '%-9s | %-27s | %9s | %7s | %7s | %6s | %s\n' backend exchange rps p50_ms p99_ms non2xx "target >= $TARGET/s"
for row in "${ROWS[@]}"; do
  IFS='|' read -r backend what result <<<"$row"
  rps=$(sed -E 's/.*rps=([0-9.]+).*/\1/' <<<"$result"); p50=$(sed -E 's/.*p50_ms=([0-9.]+).*/\1/' <<<"$result")
  p99=$(sed -E 's/.*p99_ms=([0-9.]+).*/\1/' <<<"$result"); bad=$(sed -E 's/.*non2xx=([0-9]+).*/\1/' <<<"$result")
  verdict=$(python3 -c "print('PASS' if $rps >= $TARGET and $bad == 0 else 'FAIL')")
  printf '%-9s | %-27s | %9s | %7s | %7s | %6s | %s\n' "$backend" "$what" "$rps" "$p50" "$p99" "$bad" "$verdict"
done
