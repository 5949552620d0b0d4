# Shared by bench/ingest.sh and bench/usage_api.sh (sourced, not run): logging, child processes
# and schemas cleaned up on exit, the release binaries, and an app with BENCH_USERS users on a
# fresh PostgreSQL schema or SQLite file. The sourcing script sets BENCH_NAME, ROOT, PG_BASE,
# BENCH_USERS and BENCH_KEEP first.

log() { printf '[%s] %s\n' "$BENCH_NAME" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$BENCH_NAME" "$*" >&2; exit 1; }

PIDS=()
SCHEMAS=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollhouse-bench-${BENCH_NAME%.sh}.XXXXXX")

stop_pid() {
  local pid=$1
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pid schema
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  if [[ "$BENCH_KEEP" == 1 ]]; then
    log "kept $WORK (schemas: ${SCHEMAS[*]:-none})"
  else
    for schema in "${SCHEMAS[@]}"; do
      psql -q "$PG_BASE" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
    done
    rm -rf -- "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
json_get() { python3 -c 'import json,sys; v=json.load(sys.stdin); print(eval(sys.argv[1], {"j": v}))' "$2" <<<"$1"; }

wait_http_200() { # url pid name
  local i code
  for ((i = 0; i < 300; i++)); do
    kill -0 "$2" 2>/dev/null || die "$3 exited during start-up: $(tail -n 20 "$WORK/$3.log" 2>/dev/null)"
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1" || true)
    [[ "$code" == 200 ]] && return 0
    sleep 0.1
  done
  die "$3: $1 did not answer 200 within 30 s"
}

# BIN (tollhouse) and GEN (the usage_bench example), built in release unless both are given.
build_binaries() {
  if [[ -n "${TOLLHOUSE_BIN:-}" && -n "${USAGE_BENCH_BIN:-}" ]]; then
    BIN=$TOLLHOUSE_BIN
    GEN=$USAGE_BENCH_BIN
  else
    log "cargo build --release -p tollhouse-server --bin tollhouse --example usage_bench"
    (cd "$ROOT" && cargo build --release -p tollhouse-server --bin tollhouse --example usage_bench)
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/tollhouse"
    GEN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/usage_bench"
  fi
  [[ -x "$BIN" && -x "$GEN" ]] || die "binaries not found ($BIN, $GEN)"
}

# For database $1 (postgres|sqlite): a fresh store, an app and BENCH_USERS users created through
# the Builder API. Sets DB_URL, DB_DATA, APP_CLIENT and APP_BASIC, and exports the store settings
# for the `tollhouse` commands that follow.
setup_app_with_users() { # db
  local db=$1 schema port base app m2m secret pid
  DB_DATA="$WORK/$db"
  mkdir -p "$DB_DATA"
  if [[ $db == postgres ]]; then
    schema="bench_${BENCH_NAME%.sh}_$$_$RANDOM"
    psql -q "$PG_BASE" -c "CREATE SCHEMA $schema" >/dev/null || die "cannot create schema in $PG_BASE"
    SCHEMAS+=("$schema")
    local sep='?'
    [[ "$PG_BASE" == *\?* ]] && sep='&'
    DB_URL="${PG_BASE}${sep}options=-c%20search_path%3D${schema}"
  else
    DB_URL="sqlite://$DB_DATA/tollhouse.db?mode=rwc"
  fi
  export TOLLHOUSE_DATABASE_URL=$DB_URL TOLLHOUSE_DATA_DIR=$DB_DATA TOLLHOUSE_LOG=${BENCH_LOG:-warn}
  app=$("$BIN" app create --name "bench-${BENCH_NAME%.sh}" --json 2>"$WORK/$db-app.err") || die "app create: $(cat "$WORK/$db-app.err")"
  APP_CLIENT=$(json_get "$app" 'j["clientId"]')
  m2m=$(json_get "$app" 'j["m2mClientId"]')
  secret=$(json_get "$app" 'j["m2mClientSecret"]')
  APP_BASIC="Basic $(printf '%s:%s' "$m2m" "$secret" | base64 | tr -d '\n')"

  port=$(free_port)
  base="http://127.0.0.1:$port"
  "$BIN" serve --listen "127.0.0.1:$port" >"$WORK/$db-setup.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_http_200 "$base/healthz" "$pid" "$db-setup"
  for ((i = 0; i < BENCH_USERS; i++)); do
    printf '{"externalUserId":"bench-user-%04d"}\n' "$i"
  done | xargs -d '\n' -P 4 -I{} curl -s -o /dev/null -w '%{http_code}\n' -X POST -H "Authorization: $APP_BASIC" \
    -H 'Content-Type: application/json' --data '{}' "$base/api/v1/apps/$APP_CLIENT/users" >"$WORK/$db-users.codes"
  grep -qv '^20[01]$' "$WORK/$db-users.codes" && die "creating users failed: $(sort "$WORK/$db-users.codes" | uniq -c)"
  stop_pid "$pid"
}

# For BENCH_REUSE=DIR:SCHEMA, the PostgreSQL schema and data directory of a run kept with
# BENCH_KEEP=1 (both printed at its end): its app, with the secret rotated for this run, and its
# seeded events. Seeding 10 million events takes 10 to 20 minutes; re-measuring a change to the
# read path does not need it. Nothing is seeded, and the schema is kept.
reuse_app() { # db
  [[ $1 == postgres ]] || die "BENCH_REUSE works with BENCH_DBS=postgres only"
  local dir=${BENCH_REUSE%%:*} schema=${BENCH_REUSE#*:} sep='?' apps app m2m secret
  [[ -d "$dir/postgres" && -n "$schema" && "$schema" != "$BENCH_REUSE" ]] ||
    die "BENCH_REUSE=$BENCH_REUSE: expected KEPT_DIR:SCHEMA, as a BENCH_KEEP=1 run prints"
  [[ "$PG_BASE" == *\?* ]] && sep='&'
  DB_URL="${PG_BASE}${sep}options=-c%20search_path%3D${schema}"
  DB_DATA="$dir/postgres"
  export TOLLHOUSE_DATABASE_URL=$DB_URL TOLLHOUSE_DATA_DIR=$DB_DATA TOLLHOUSE_LOG=${BENCH_LOG:-warn}
  apps=$("$BIN" app list --json 2>"$WORK/reuse.err") || die "app list: $(cat "$WORK/reuse.err")"
  APP_CLIENT=$(json_get "$apps" '[a["clientId"] for a in j if a["name"].startswith("bench-")][0]')
  app=$("$BIN" app rotate-secret "$APP_CLIENT" --json 2>"$WORK/reuse.err") || die "rotate-secret: $(cat "$WORK/reuse.err")"
  m2m=$(json_get "$app" 'j["m2mClientId"]')
  secret=$(json_get "$app" 'j["m2mClientSecret"]')
  APP_BASIC="Basic $(printf '%s:%s' "$m2m" "$secret" | base64 | tr -d '\n')"
}
