#!/usr/bin/env bash
# `GET /api/v1/apps/{clientId}/usage` latency over 10 million stored usage events, for each
# groupBy (none, user, pipeline_model, daily_pipeline with userId, manifest), over the whole
# seeded period. Prints p50/p99 and PASS/FAIL against p99 <= 25 ms for each.
#
# The events are stored through Tollhouse's own ingest path (`usage_bench seed`: the envelope
# parser, attribution, exact valuation and the set-based batch writes of the Kafka consumer),
# so the rows and rollups are those a real consumer would have written.
#
# Usage: bench/usage_api.sh            (see bench/README.md)
#
# Tunables (environment):
#   BENCH_EVENTS=10000000   events seeded
#   BENCH_USERS=300 BENCH_DAYS=60 BENCH_STREAMS=3   the shape (see usage_bench.rs)
#   BENCH_DBS=postgres      and/or sqlite
#   PG_BASE=postgres://postgres@127.0.0.1:5432/test   (a fresh schema per run, dropped after)
#   WRK_THREADS=2 WRK_CONNECTIONS=4 WRK_DURATION=10s WARMUP_SECS=2
#   TOLLHOUSE_BIN=path USAGE_BENCH_BIN=path   use these binaries, skip `cargo build --release`
#   BENCH_STRICT=1          exit 3 if a target FAILs
#   BENCH_KEEP=1            keep the temp dir and the PostgreSQL schema (printed)
#   BENCH_REUSE=DIR:SCHEMA  measure a kept run's app and events again instead of seeding
#                           (PostgreSQL only; BENCH_EVENTS etc. then only label the table)
set -euo pipefail

BENCH_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd -- "$BENCH_DIR/.." && pwd)

BENCH_EVENTS=${BENCH_EVENTS:-10000000}
BENCH_USERS=${BENCH_USERS:-300}
BENCH_DAYS=${BENCH_DAYS:-60}
BENCH_STREAMS=${BENCH_STREAMS:-3}
BENCH_DBS=${BENCH_DBS:-postgres}
PG_BASE=${PG_BASE:-postgres://postgres@127.0.0.1:5432/test}
WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-4}
WRK_DURATION=${WRK_DURATION:-10s}
WARMUP_SECS=${WARMUP_SECS:-2}
BENCH_STRICT=${BENCH_STRICT:-0}
BENCH_KEEP=${BENCH_KEEP:-0}
BENCH_REUSE=${BENCH_REUSE:-}
P99_TARGET_MS=25

BENCH_NAME=usage_api.sh
# shellcheck source=lib/usage_common.sh
source "$BENCH_DIR/lib/usage_common.sh"

# wrk's latency percentile line ("  99%   12.34ms") in milliseconds.
percentile_ms() { # wrk-output pct
  awk -v p="$2%" '$1 == p {
    v = $2; unit = v; sub(/[0-9.]+/, "", unit); sub(/[a-z]+$/, "", v);
    if (unit == "us") v /= 1000; else if (unit == "s") v *= 1000; else if (unit == "m") v *= 60000;
    printf "%.2f", v }' <<<"$1"
}

command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required"
if ! command -v wrk >/dev/null; then
  log "installing wrk (apt)"
  SUDO=()
  [[ $(id -u) -eq 0 ]] || SUDO=(sudo)
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq wrk >/dev/null
fi

build_binaries
log "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

START_DATE=$(date -u -d "-${BENCH_DAYS} days" +%F)
END_DATE=$(date -u -d "+1 day" +%F)
QUERIES=(
  "none|groupBy=none"
  "user|groupBy=user"
  "pipeline_model|groupBy=pipeline_model"
  "daily_pipeline|groupBy=daily_pipeline&userId=bench-user-0007"
  "manifest|groupBy=manifest"
  "manifest_user|groupBy=manifest&userId=bench-user-0007"
)
ROWS=()

run_db() {
  local db=$1 url port base client basic pid
  if [[ -n "$BENCH_REUSE" ]]; then
    reuse_app "$db"
    log "$db: reusing the events seeded in $BENCH_REUSE"
  else
    setup_app_with_users "$db"
  fi
  url=$DB_URL client=$APP_CLIENT basic=$APP_BASIC
  port=$(free_port)
  base="http://127.0.0.1:$port"

  if [[ -z "$BENCH_REUSE" ]]; then
    log "$db: seeding $BENCH_EVENTS events through the ingest path ($BENCH_USERS users, $BENCH_DAYS days)"
    "$GEN" seed --database-url "$url" --client-id "$client" --count "$BENCH_EVENTS" --users "$BENCH_USERS" \
      --days "$BENCH_DAYS" --streams "$BENCH_STREAMS" >"$WORK/$db-seed.out" 2>"$WORK/$db-seed.err" \
      || die "seed failed: $(tail -n 5 "$WORK/$db-seed.err")"
    log "$db: $(cat "$WORK/$db-seed.out")"
  fi
  if [[ $db == postgres ]]; then
    # What autovacuum does between ingest bursts (the seed rewrites rollup rows thousands of times).
    psql -q "$url" -c "VACUUM ANALYZE" >/dev/null
    log "$db: $(psql -At "$url" -c "SELECT 'events ' || (SELECT count(*) FROM usage_events) || ', rollups ' || (SELECT count(*) FROM usage_rollups) || ', manifest rollups ' || (SELECT count(*) FROM usage_manifest_rollups) || ', database ' || pg_size_pretty(pg_database_size(current_database()))")"
  fi

  "$BIN" serve --listen "127.0.0.1:$port" >"$WORK/$db-serve.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_http_200 "$base/healthz" "$pid" "$db-serve"
  local entry name query target body code out p50 p99 rps
  for entry in "${QUERIES[@]}"; do
    name=${entry%%|*}
    query=${entry#*|}
    target="$base/api/v1/apps/$client/usage?startDate=$START_DATE&endDate=$END_DATE&$query"
    body=$(curl -s --max-time 60 -w '\n%{http_code}' -H "Authorization: $basic" "$target")
    code=${body##*$'\n'}
    body=${body%$'\n'*}
    [[ "$code" == 200 ]] || die "$db $name: HTTP $code: ${body:0:300}"
    log "$db $name: $(json_get "$body" '"requestCount " + str(j["totals"]["requestCount"]) + ", networkFeeUsdMicros " + j["totals"]["networkFeeUsdMicros"] + ", rows " + str(sum(len(v) for k, v in j.items() if k.startswith("by") and isinstance(v, list)))'), $(printf '%s' "$body" | wc -c) bytes"
    wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${WARMUP_SECS}s" -H "Authorization: $basic" "$target" >/dev/null 2>&1 || true
    out=$(wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$WRK_DURATION" --timeout 60s --latency -H "Authorization: $basic" "$target" 2>&1) \
      || die "wrk failed: $out"
    if grep -q 'Non-2xx' <<<"$out"; then die "$db $name: non-2xx answers under load: $out"; fi
    p50=$(percentile_ms "$out" 50)
    p99=$(percentile_ms "$out" 99)
    rps=$(awk '$1 == "Requests/sec:" { printf "%.0f", $2 }' <<<"$out")
    done_n=$(awk '$2 == "requests" && $3 == "in" { print $1 }' <<<"$out")
    [[ "${done_n:-0}" -gt 0 ]] || { p50=NA; p99=NA; }
    ROWS+=("$db|$name|$rps|$p50|$p99")
    log "$db $name: $rps req/s, p50 $p50 ms, p99 $p99 ms"
  done
  stop_pid "$pid"
  unset TOLLHOUSE_DATABASE_URL TOLLHOUSE_DATA_DIR
}

for db in $BENCH_DBS; do
  run_db "$db"
done

echo
echo "GET A/usage over $BENCH_EVENTS stored events ($BENCH_USERS users +1% unknown, 4 pipeline/model pairs, $BENCH_STREAMS streams per user per day,"
echo "$BENCH_DAYS days; range $START_DATE..$END_DATE); wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION on the same $(nproc) cores as the server and database"
printf '%-9s | %-15s | %8s | %8s | %8s | %s\n' database groupBy "req/s" p50_ms p99_ms check
printf '%s\n' "----------+-----------------+----------+----------+----------+------"
ANY_FAIL=0
for row in "${ROWS[@]}"; do
  IFS='|' read -r db name rps p50 p99 <<<"$row"
  if [[ "$p99" == NA ]]; then check="INVALID (no request completed)"; ANY_FAIL=1
  elif awk -v p="$p99" -v t="$P99_TARGET_MS" 'BEGIN { exit !(p <= t) }'; then check="PASS (p99 <= $P99_TARGET_MS ms)"; else check="FAIL (p99 <= $P99_TARGET_MS ms)"; ANY_FAIL=1; fi
  printf '%-9s | %-15s | %8s | %8s | %8s | %s\n' "$db" "$name" "$rps" "$p50" "$p99" "$check"
done
if [[ "$BENCH_STRICT" == 1 && "$ANY_FAIL" == 1 ]]; then exit 3; fi
exit 0
