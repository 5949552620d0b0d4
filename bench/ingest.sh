#!/usr/bin/env bash
# Sustained Kafka ingest: go-livepeer `create_signed_ticket` envelopes already waiting in a topic
# of a real Kafka-protocol broker (tansu), consumed by `tollhouse serve` and stored (deduped,
# valued exactly, attributed, rollups and consumption updated, offsets committed after each
# batch's transaction) into PostgreSQL and into SQLite. Prints events/s and PASS/FAIL against
# >= 50,000 events/s into PostgreSQL (SQLite is reported, without a target).
#
# Usage: bench/ingest.sh            (see bench/README.md)
#
# Tunables (environment):
#   BENCH_EVENTS=500000      envelopes produced (distinct ids) per database
#   BENCH_USERS=300          users of the app (1% of events come from an unknown user)
#   BENCH_DAYS=1             days the timestamps span, in order (a live topic: the last day)
#   BENCH_DBS="postgres sqlite"
#   PG_BASE=postgres://postgres@127.0.0.1:5432/test   (a fresh schema per run, dropped after)
#   TOLLHOUSE_BIN=path USAGE_BENCH_BIN=path   use these binaries, skip `cargo build --release`
#   TANSU=path               the broker (default ~/.cargo/bin/tansu, installed by scripts/setup)
#   BENCH_STRICT=1           exit 3 if the PostgreSQL target FAILs
#   BENCH_KEEP=1             keep the temp dir (server logs, SQLite file)
set -euo pipefail

BENCH_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd -- "$BENCH_DIR/.." && pwd)

BENCH_EVENTS=${BENCH_EVENTS:-500000}
BENCH_USERS=${BENCH_USERS:-300}
BENCH_DAYS=${BENCH_DAYS:-1}
BENCH_DBS=${BENCH_DBS:-postgres sqlite}
PG_BASE=${PG_BASE:-postgres://postgres@127.0.0.1:5432/test}
BENCH_STRICT=${BENCH_STRICT:-0}
BENCH_KEEP=${BENCH_KEEP:-0}
TARGET_PG=50000
PRICE=3456.78

BENCH_NAME=ingest.sh
# shellcheck source=lib/usage_common.sh
source "$BENCH_DIR/lib/usage_common.sh"

now() { date +%s.%N; }

# A counter or gauge from /metrics (0 if absent).
metric() { # base name
  curl -s --max-time 2 "$1/metrics" | awk -v n="$2" '$1 == n { print $2; found=1 } END { if (!found) print 0 }'
}

command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required"
command -v psql >/dev/null || [[ " $BENCH_DBS " != *" postgres "* ]] || die "psql is required for PostgreSQL"

TANSU=${TANSU:-$HOME/.cargo/bin/tansu}
[[ -x "$TANSU" ]] || TANSU=$(command -v tansu || true)
[[ -n "$TANSU" && -x "$TANSU" ]] || die "tansu not found (scripts/setup installs it into ~/.cargo/bin)"

build_binaries

# ---------------------------------------------------------------- broker
K_PORT=$(free_port)
"$TANSU" broker --listener-url "tcp://127.0.0.1:$K_PORT" --advertised-listener-url "tcp://127.0.0.1:$K_PORT" \
  --storage-engine memory://tansu/ >"$WORK/tansu.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$K_PORT") 2>/dev/null && break
  sleep 0.1
done
BROKERS="127.0.0.1:$K_PORT"
log "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); tansu $("$TANSU" --version 2>/dev/null | head -n1) on $BROKERS (memory storage)"

declare -A RESULT

run_db() { # postgres|sqlite
  local db=$1 port base client basic topic pid
  setup_app_with_users "$db"
  client=$APP_CLIENT basic=$APP_BASIC
  port=$(free_port)
  base="http://127.0.0.1:$port"

  topic="usage-bench-$db-$$"
  log "$db: producing $BENCH_EVENTS envelopes to $topic"
  "$GEN" produce --brokers "$BROKERS" --topic "$topic" --client-id "$client" --count "$BENCH_EVENTS" \
    --users "$BENCH_USERS" --days "$BENCH_DAYS" >"$WORK/$db-produce.out" || die "producer failed"
  log "$db: $(cat "$WORK/$db-produce.out")"

  # The measured part: the consumer drains the backlog into the database.
  log "$db: tollhouse serve --kafka-brokers $BROKERS --kafka-topic $topic (store: $db)"
  local t_start t_first="" c_first=0 t_end="" count=0 last=0 stalled=0
  t_start=$(now)
  "$BIN" serve --listen "127.0.0.1:$port" --kafka-brokers "$BROKERS" --kafka-topic "$topic" \
    --kafka-group "bench-$db" --eth-usd-price "$PRICE" >"$WORK/$db-serve.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_http_200 "$base/healthz" "$pid" "$db-serve"
  while :; do
    kill -0 "$pid" 2>/dev/null || die "$db: server exited: $(tail -n 20 "$WORK/$db-serve.log")"
    count=$(metric "$base" 'tollhouse_usage_events_total{outcome="ingested"}')
    if [[ -z "$t_first" && "$count" != 0 ]]; then t_first=$(now); c_first=$count; fi
    if ((count >= BENCH_EVENTS)); then t_end=$(now); break; fi
    if ((count == last)); then stalled=$((stalled + 1)); else stalled=0; fi
    ((stalled < 600)) || die "$db: no progress for 60 s at $count of $BENCH_EVENTS: $(tail -n 20 "$WORK/$db-serve.log")"
    last=$count
    sleep 0.1
  done
  local dup
  dup=$(metric "$base" 'tollhouse_usage_events_total{outcome="duplicate"}')
  stop_pid "$pid"
  local sustained overall
  sustained=$(awk -v n="$((count - c_first))" -v a="$t_first" -v b="$t_end" 'BEGIN { printf "%.0f", (b > a) ? n / (b - a) : 0 }')
  overall=$(awk -v n="$count" -v a="$t_start" -v b="$t_end" 'BEGIN { printf "%.0f", n / (b - a) }')
  RESULT[$db]="$count $sustained $overall $(awk -v a="$t_start" -v b="$t_end" 'BEGIN { printf "%.1f", b - a }') $dup"
  log "$db: stored $count (duplicates $dup); sustained $sustained events/s, $overall events/s from process start"
  unset TOLLHOUSE_DATABASE_URL TOLLHOUSE_DATA_DIR
}

for db in $BENCH_DBS; do
  run_db "$db"
done

echo
echo "Kafka ingest (tansu, 1 partition) -> tollhouse serve -> database; $BENCH_EVENTS distinct envelopes waiting in the topic,"
echo "$BENCH_USERS users (+1% unknown), 4 pipeline/model pairs, 3 streams per user per day, $BENCH_DAYS days; $(nproc) cores shared by broker, server and database"
printf '%-9s | %9s | %13s | %16s | %7s | %s\n' database events "events/s" "from start/s" secs check
printf '%s\n' "----------+-----------+---------------+------------------+---------+------"
ANY_FAIL=0
for db in $BENCH_DBS; do
  read -r n sustained overall secs _ <<<"${RESULT[$db]}"
  check="(no target)"
  if [[ $db == postgres ]]; then
    if ((sustained >= TARGET_PG)); then check="PASS (target >= $TARGET_PG/s)"; else check="FAIL (target >= $TARGET_PG/s)"; ANY_FAIL=1; fi
  fi
  printf '%-9s | %9s | %13s | %16s | %7s | %s\n' "$db" "$n" "$sustained" "$overall" "$secs" "$check"
done
if [[ "$BENCH_STRICT" == 1 && "$ANY_FAIL" == 1 ]]; then exit 3; fi
exit 0
