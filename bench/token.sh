#!/usr/bin/env bash
# Side-by-side benchmark of OAuth 2.0 client-credentials token issuance:
# `tollhouse serve` vs node's `oidc-provider` (bench/token/peer), same machine,
# same load generator (wrk + bench/token/post_token.lua), one run.
# Also measures the idle RSS of `tollhouse serve`.
#
# Usage: bench/token.sh            (see bench/README.md)
#
# Tunables (environment):
#   WRK_THREADS=2 WRK_CONNECTIONS=32 WRK_DURATION=15s   identical for both servers
#   WARMUP_SECS=3       wrk warm-up per server before its measured run
#   IDLE_SECS=3         wait after /healthz is 200 before reading VmRSS
#   ALGS="RS256 ES256"  signing algs to run
#   BENCH_SCOPE=users:read
#   BENCH_TARGETS="tollhouse peer"   drop one to run only the other
#   TOLLHOUSE_BIN=path  use this binary, skip `cargo build`
#   BENCH_PIN=1         pin servers to CPU 0 and wrk to CPU 1 (taskset)
#   BENCH_STRICT=1      exit 3 if any target FAILs (default: report only)
#   BENCH_KEEP=1        keep the temp dir (server logs, data dirs)
set -euo pipefail

BENCH_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd -- "$BENCH_DIR/.." && pwd)
PEER_DIR="$BENCH_DIR/token/peer"
LUA="$BENCH_DIR/token/post_token.lua"

WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-32}
WRK_DURATION=${WRK_DURATION:-15s}
WARMUP_SECS=${WARMUP_SECS:-3}
IDLE_SECS=${IDLE_SECS:-3}
ALGS=${ALGS:-RS256 ES256}
BENCH_SCOPE=${BENCH_SCOPE:-users:read}
BENCH_TARGETS=${BENCH_TARGETS:-tollhouse peer}
BENCH_PIN=${BENCH_PIN:-0}
BENCH_STRICT=${BENCH_STRICT:-0}
BENCH_KEEP=${BENCH_KEEP:-0}
RSS_TARGET_MB=30

# Throughput targets: Tollhouse rps / peer rps.
target_for() {
  case "$1" in
    RS256) echo 1.5 ;;
    ES256) echo 5 ;;
    *) echo 1 ;;
  esac
}

log() { printf '[token.sh] %s\n' "$*" >&2; }
die() { printf '[token.sh] ERROR: %s\n' "$*" >&2; exit 1; }

want() { [[ " $BENCH_TARGETS " == *" $1 "* ]]; }

# ---------------------------------------------------------------- cleanup
PIDS=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollhouse-bench.XXXXXX")

stop_pid() {
  local pid=$1
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do
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
  local pid
  for pid in "${PIDS[@]}"; do
    stop_pid "$pid"
  done
  if [[ "$BENCH_KEEP" == 1 ]]; then
    log "kept $WORK"
  else
    rm -rf -- "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers
# RFC 6749 2.3.1: client_id and client_secret are form-urlencoded before
# being joined with ':' and base64-encoded.
urlencode() {
  local LC_ALL=C s=$1 out='' c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case "$c" in
      [a-zA-Z0-9.~_-]) out+=$c ;;
      *) printf -v c '%%%02X' "'$c"; out+=$c ;;
    esac
  done
  printf '%s' "$out"
}

basic_auth() { # id secret -> base64 credentials (no "Basic " prefix)
  printf '%s:%s' "$(urlencode "$1")" "$(urlencode "$2")" | base64 | tr -d '\n'
}

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});'
}

rss_kb() { # pid -> VmRSS in kB
  awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

kb_to_mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

wait_http_200() { # url pid name timeout_s
  local url=$1 pid=$2 name=$3 timeout=${4:-30} i code
  for ((i = 0; i < timeout * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || die "$name exited during start-up (log: $(tail -n 20 "$WORK/$name.log" 2>/dev/null))"
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true)
    [[ "$code" == 200 ]] && return 0
    sleep 0.1
  done
  die "$name: $url did not return 200 within ${timeout}s (last: ${code:-none}); log: $(tail -n 20 "$WORK/$name.log" 2>/dev/null)"
}

# POST one token request, require 200 + a JWT whose header alg is $alg.
preflight() { # name url auth alg
  local name=$1 url=$2 auth=$3 alg=$4 out code body
  out=$(curl -s --max-time 10 -w '\n%{http_code}' -X POST \
    -H "Authorization: Basic $auth" \
    -H 'Content-Type: application/x-www-form-urlencoded' \
    -H 'Accept: application/json' \
    --data-urlencode 'grant_type=client_credentials' \
    --data-urlencode "scope=$BENCH_SCOPE" \
    "$url") || die "$name: token request to $url failed"
  code=${out##*$'\n'}
  body=${out%$'\n'*}
  [[ "$code" == 200 ]] || die "$name: token endpoint returned HTTP $code: $body"
  BODY=$body EXPECT_ALG=$alg node -e '
    let j;
    try { j = JSON.parse(process.env.BODY); } catch { console.error("response is not JSON"); process.exit(1); }
    const t = j.access_token;
    if (typeof t !== "string" || t.split(".").length !== 3) { console.error("access_token is not a compact JWS"); process.exit(1); }
    let h;
    try { h = JSON.parse(Buffer.from(t.split(".")[0], "base64url").toString()); } catch { console.error("JWT header is not JSON"); process.exit(1); }
    if (h.alg !== process.env.EXPECT_ALG) { console.error(`JWT alg ${h.alg}, expected ${process.env.EXPECT_ALG}`); process.exit(1); }
    if (String(j.token_type).toLowerCase() !== "bearer") { console.error(`token_type ${j.token_type}`); process.exit(1); }
  ' || die "$name: bad token response: $body"
  log "$name: preflight OK (200, JWT alg=$alg)"
}

WRK_PIN=()
SRV_PIN=()
if [[ "$BENCH_PIN" == 1 ]]; then
  command -v taskset >/dev/null || die "BENCH_PIN=1 needs taskset (util-linux)"
  WRK_PIN=(taskset -c 1)
  SRV_PIN=(taskset -c 0)
fi

# run_wrk url auth duration -> prints the RESULT line
run_wrk() {
  local url=$1 auth=$2 duration=$3 out line
  out=$(BENCH_BASIC_AUTH=$auth BENCH_SCOPE=$BENCH_SCOPE \
    "${WRK_PIN[@]}" wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$duration" \
    --latency -s "$LUA" "$url" 2>&1) || die "wrk failed: $out"
  line=$(grep '^RESULT ' <<<"$out" | tail -n 1) || true
  [[ -n "$line" ]] || die "wrk printed no RESULT line: $out"
  printf '%s\n' "$line"
}

field() { # line key -> value
  local kv
  for kv in $1; do
    [[ "$kv" == "$2="* ]] && { printf '%s' "${kv#*=}"; return 0; }
  done
  printf 'NA'
}

# ---------------------------------------------------------------- prerequisites
command -v curl >/dev/null || die "curl is required"
command -v node >/dev/null || die "node is required (the peer is node's oidc-provider)"
command -v npm >/dev/null || die "npm is required"

if ! command -v wrk >/dev/null; then
  log "installing wrk (apt)"
  SUDO=()
  [[ $(id -u) -eq 0 ]] || SUDO=(sudo)
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq wrk >/dev/null
fi

if want peer && [[ ! -d "$PEER_DIR/node_modules" ]]; then
  log "npm ci in bench/token/peer"
  (cd "$PEER_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi

BIN=""
if want tollhouse; then
  if [[ -n "${TOLLHOUSE_BIN:-}" ]]; then
    BIN=$TOLLHOUSE_BIN
  else
    log "cargo build --release -p tollhouse-server"
    (cd "$ROOT" && cargo build --release -p tollhouse-server)
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/tollhouse"
  fi
  [[ -x "$BIN" ]] || die "tollhouse binary not found at $BIN"
fi

log "machine: $(nproc) cores; node $(node --version); $(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2)"
log "wrk: -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION (warm-up ${WARMUP_SECS}s), scope '$BENCH_SCOPE', pin=$BENCH_PIN"

# ---------------------------------------------------------------- runs
ROWS=()
RSS_ROWS=()
ANY_FAIL=0

for ALG in $ALGS; do
  log "===== $ALG ====="
  T_RES="" P_RES=""
  T_PID="" P_PID=""

  # --- tollhouse: app create (before serve), serve, idle RSS, preflight
  if want tollhouse; then
    DATA="$WORK/tollhouse-$ALG"
    mkdir -p "$DATA"
    T_PORT=$(free_port)
    T_BASE="http://127.0.0.1:$T_PORT"
    T_URL="$T_BASE/api/v1/oidc/token"

    start_tollhouse() {
      TOLLHOUSE_LOG=warn "${SRV_PIN[@]}" "$BIN" serve \
        --listen "127.0.0.1:$T_PORT" --public-url "$T_BASE" \
        --data-dir "$DATA" --signing-alg "$ALG" \
        >>"$WORK/tollhouse-$ALG.log" 2>&1 &
      T_PID=$!
      PIDS+=("$T_PID")
      wait_http_200 "$T_BASE/healthz" "$T_PID" "tollhouse-$ALG" 30
    }

    # Prefer creating the app before serve (no SQLite lock contention).
    APP_JSON=""
    if APP_JSON=$(TOLLHOUSE_LOG=warn "$BIN" app create --name bench --json --data-dir "$DATA" 2>"$WORK/app-create-$ALG.err"); then
      start_tollhouse
    else
      log "app create before serve failed ($(tail -n 3 "$WORK/app-create-$ALG.err")); retrying with the server up"
      start_tollhouse
      APP_JSON=$(TOLLHOUSE_LOG=warn "$BIN" app create --name bench --json --data-dir "$DATA" 2>"$WORK/app-create-$ALG.err") \
        || die "tollhouse app create failed: $(cat "$WORK/app-create-$ALG.err")"
    fi

    # Idle RSS: a few seconds after start, before any load.
    sleep "$IDLE_SECS"
    T_RSS_KB=$(rss_kb "$T_PID")

    CREDS=$(APP_JSON=$APP_JSON node -e '
      const j = JSON.parse(process.env.APP_JSON);
      if (!j.m2mClientId || !j.m2mClientSecret) { console.error("missing m2mClientId/m2mClientSecret"); process.exit(1); }
      process.stdout.write(`${j.m2mClientId}\n${j.m2mClientSecret}\n`);
    ') || die "unexpected 'app create --json' output: $APP_JSON"
    T_ID=$(sed -n 1p <<<"$CREDS")
    T_SECRET=$(sed -n 2p <<<"$CREDS")
    T_AUTH=$(basic_auth "$T_ID" "$T_SECRET")

    preflight "tollhouse-$ALG" "$T_URL" "$T_AUTH" "$ALG"
    RSS_ROWS+=("$ALG $T_RSS_KB")
    log "tollhouse-$ALG: idle VmRSS $(kb_to_mb "$T_RSS_KB") MiB"
  fi

  # --- peer
  if want peer; then
    P_PORT=$(free_port)
    P_BASE="http://127.0.0.1:$P_PORT"
    P_URL="$P_BASE/token"
    P_ID="bench-peer"
    P_SECRET=$(node -e 'process.stdout.write(require("crypto").randomBytes(24).toString("base64url"))')
    P_AUTH=$(basic_auth "$P_ID" "$P_SECRET")
    (cd "$PEER_DIR" && PORT=$P_PORT PEER_ALG=$ALG PEER_CLIENT_ID=$P_ID PEER_CLIENT_SECRET=$P_SECRET \
      PEER_SCOPE=$BENCH_SCOPE NODE_ENV=production \
      exec "${SRV_PIN[@]}" node server.mjs) >>"$WORK/peer-$ALG.log" 2>&1 &
    P_PID=$!
    PIDS+=("$P_PID")
    wait_http_200 "$P_BASE/.well-known/openid-configuration" "$P_PID" "peer-$ALG" 30
    sleep "$IDLE_SECS"
    P_RSS_KB=$(rss_kb "$P_PID")
    log "peer-$ALG: idle VmRSS $(kb_to_mb "$P_RSS_KB") MiB (for reference)"
    preflight "peer-$ALG" "$P_URL" "$P_AUTH" "$ALG"
  fi

  # --- load: warm-up then measured run, one server after the other
  if want tollhouse; then
    log "tollhouse-$ALG: warm-up ${WARMUP_SECS}s"
    run_wrk "$T_URL" "$T_AUTH" "${WARMUP_SECS}s" >/dev/null
    log "tollhouse-$ALG: measuring $WRK_DURATION"
    T_RES=$(run_wrk "$T_URL" "$T_AUTH" "$WRK_DURATION")
    log "tollhouse-$ALG: $T_RES"
  fi
  if want peer; then
    log "peer-$ALG: warm-up ${WARMUP_SECS}s"
    run_wrk "$P_URL" "$P_AUTH" "${WARMUP_SECS}s" >/dev/null
    log "peer-$ALG: measuring $WRK_DURATION"
    P_RES=$(run_wrk "$P_URL" "$P_AUTH" "$WRK_DURATION")
    log "peer-$ALG: $P_RES"
  fi

  # Servers of this alg are done; stop them before the next alg.
  [[ -n "$T_PID" ]] && stop_pid "$T_PID"
  [[ -n "$P_PID" ]] && stop_pid "$P_PID"

  ROWS+=("$ALG|$T_RES|$P_RES")
done

# ---------------------------------------------------------------- report
echo
echo "Client-credentials token issuance: tollhouse vs oidc-provider $(node -p 'require(process.argv[1]).version' "$PEER_DIR/node_modules/oidc-provider/package.json" 2>/dev/null || echo '?')"
echo "wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION, $(nproc) cores shared by wrk and the server under test, pin=$BENCH_PIN"
printf '%-6s | %10s %9s %9s | %10s %9s %9s | %7s | %7s | %s\n' \
  alg th_rps th_p50ms th_p99ms peer_rps p_p50ms p_p99ms ratio target result
printf '%s\n' "-------+--------------------------------+--------------------------------+---------+---------+-------"
for row in "${ROWS[@]}"; do
  IFS='|' read -r alg tres pres <<<"$row"
  t_rps=$(field "$tres" rps); t_p50=$(field "$tres" p50_ms); t_p99=$(field "$tres" p99_ms); t_bad=$(field "$tres" non2xx); t_err=$(field "$tres" socket_errors)
  p_rps=$(field "$pres" rps); p_p50=$(field "$pres" p50_ms); p_p99=$(field "$pres" p99_ms); p_bad=$(field "$pres" non2xx); p_err=$(field "$pres" socket_errors)
  target=$(target_for "$alg")
  ratio=NA
  result=NA
  if [[ "$t_rps" != NA && "$p_rps" != NA ]]; then
    ratio=$(awk -v a="$t_rps" -v b="$p_rps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "NA" }')
    if [[ "$t_bad" != 0 || "$p_bad" != 0 ]]; then
      result="INVALID(non2xx th=$t_bad peer=$p_bad)"
      ANY_FAIL=1
    elif [[ "$ratio" != NA ]] && awk -v r="$ratio" -v t="$target" 'BEGIN { exit !(r >= t) }'; then
      result=PASS
    else
      result=FAIL
      ANY_FAIL=1
    fi
  fi
  [[ "$t_err" != NA && "$t_err" != 0 ]] && result+=" (th socket errors: $t_err)"
  [[ "$p_err" != NA && "$p_err" != 0 ]] && result+=" (peer socket errors: $p_err)"
  printf '%-6s | %10s %9s %9s | %10s %9s %9s | %7s | %7s | %s\n' \
    "$alg" "$t_rps" "$t_p50" "$t_p99" "$p_rps" "$p_p50" "$p_p99" "$ratio" ">=${target}x" "$result"
done

if ((${#RSS_ROWS[@]})); then
  echo
  for r in "${RSS_ROWS[@]}"; do
    read -r alg kb <<<"$r"
    mb=$(kb_to_mb "$kb")
    if awk -v m="$mb" -v t="$RSS_TARGET_MB" 'BEGIN { exit !(m <= t) }'; then res=PASS; else res=FAIL; ANY_FAIL=1; fi
    printf 'idle RSS tollhouse serve (%s, %ss after /healthz): %s MiB  target <= %s MiB  %s\n' \
      "$alg" "$IDLE_SECS" "$mb" "$RSS_TARGET_MB" "$res"
  done
fi

if [[ "$BENCH_STRICT" == 1 && "$ANY_FAIL" == 1 ]]; then
  exit 3
fi
exit 0
