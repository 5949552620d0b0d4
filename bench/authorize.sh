#!/usr/bin/env bash
# Side-by-side benchmark of the go-livepeer remote-signer identity webhook with RS256 user JWTs:
# Tollhouse's webhook (`tollhouse serve`) vs the npm package
# `@pymthouse/clearinghouse-identity-webhook` (bench/authorize/peer, node:http), its OIDC
# verifier pointed at the same Tollhouse issuer/JWKS. Same machine, same load generator
# (wrk + bench/authorize/post_webhook.lua), one run, one server after the other.
#
# Usage: bench/authorize.sh            (see bench/README.md)
#
# Tunables (environment):
#   WRK_THREADS=2 WRK_CONNECTIONS=32 WRK_DURATION=10s   identical for both servers
#   WARMUP_SECS=3       wrk warm-up per server before its measured run
#   BENCH_USERS=16      distinct users (one RS256 user JWT each) the requests rotate through
#   BENCH_TARGETS="tollhouse peer"   drop one to run only the other (the issuer always runs)
#   TH_WEBHOOK_PATHS="/authorize /webhooks/remote-signer"   Tollhouse webhook paths to try, in
#                       order; the first that answers status 200 to the preflight is measured
#   TOLLHOUSE_BIN=path  use this binary, skip `cargo build`
#   BENCH_PIN=1         pin servers to CPU 0 and wrk to CPU 1 (taskset)
#   BENCH_STRICT=1      exit 3 if a target FAILs or a run is INVALID (default: report only)
#   BENCH_KEEP=1        keep the temp dir (server logs, data dir, tokens)
set -euo pipefail

BENCH_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd -- "$BENCH_DIR/.." && pwd)
PEER_DIR="$BENCH_DIR/authorize/peer"
LUA="$BENCH_DIR/authorize/post_webhook.lua"

WRK_THREADS=${WRK_THREADS:-2}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-32}
WRK_DURATION=${WRK_DURATION:-10s}
WARMUP_SECS=${WARMUP_SECS:-3}
BENCH_USERS=${BENCH_USERS:-16}
BENCH_TARGETS=${BENCH_TARGETS:-tollhouse peer}
TH_WEBHOOK_PATHS=${TH_WEBHOOK_PATHS:-/authorize /webhooks/remote-signer}
BENCH_PIN=${BENCH_PIN:-0}
BENCH_STRICT=${BENCH_STRICT:-0}
BENCH_KEEP=${BENCH_KEEP:-0}
RATIO_TARGET=8     # Tollhouse req/s >= 8 x peer req/s
P99_TARGET_MS=3    # Tollhouse p99 <= 3 ms

log() { printf '[authorize.sh] %s\n' "$*" >&2; }
die() { printf '[authorize.sh] ERROR: %s\n' "$*" >&2; exit 1; }
want() { [[ " $BENCH_TARGETS " == *" $1 "* ]]; }

# ---------------------------------------------------------------- cleanup
PIDS=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tollhouse-bench-authorize.XXXXXX")

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
free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});'
}

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

json_get() { # json js-expression-on-j -> value (empty if undefined)
  J=$1 node -e 'const j = JSON.parse(process.env.J); const v = ('"$2"'); process.stdout.write(v === undefined || v === null ? "" : String(v));'
}

# M2M-authenticated Builder call; dies unless the HTTP status is one of $3 (e.g. "200 201").
builder() { # method path want_codes [json body]
  local out code body
  out=$(curl -s --max-time 10 -w '\n%{http_code}' -X "$1" -H "Authorization: $M2M_BASIC" \
    -H 'Content-Type: application/json' ${4:+--data "$4"} "$T_BASE/api/v1/apps/$T_CLIENT$2") \
    || die "Builder $1 $2: request failed"
  code=${out##*$'\n'}
  body=${out%$'\n'*}
  [[ " $3 " == *" $code "* ]] || die "Builder $1 $2: HTTP $code: $body"
  printf '%s' "$body"
}

# The signer's webhook body (signer-wire.md section 1) for end-user credential $1.
webhook_body() {
  printf '{"headers":{"Authorization":["Bearer %s"],"Content-Type":["application/json"],"User-Agent":["Go-http-client/1.1"],"X-Request-Id":["preflight"]},"state":{"StateID":"1a2b3c4d","PMSessionID":"0x%064d","LastUpdate":"2026-08-18T10:00:00.123456789Z","OrchestratorAddress":"0x%040d","App":"","AuthExpiry":0,"SenderNonce":3,"Balance":"500","InitialPricePerUnit":1200,"InitialPixelsPerUnit":1,"Type":"lv2v","SequenceNumber":0,"AuthID":""}}' "$1" 1 1
}

# POST one webhook call; prints "<http code>\n<body>".
webhook_call() { # url caller_secret credential
  curl -s --max-time 10 -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' \
    -H 'User-Agent: Go-http-client/1.1' -H "X-Api-Key: $2" --data "$(webhook_body "$3")" "$1" \
    | { IFS= read -r -d '' all || true; printf '%s\n%s' "${all##*$'\n'}" "${all%$'\n'*}"; }
}

# Preflight: every user's token must be allowed (HTTP 200, body status 200, auth_id
# "<client_id>:<external user id>"); a token with a forged signature must be denied (HTTP 200,
# body status 401/403); a wrong caller secret must get HTTP 401. Returns 1 (with the reason in
# PREFLIGHT_ERR) instead of dying, so the caller can try another path.
preflight() { # name url
  local name=$1 url=$2 i out code body tok want_auth st aid
  PREFLIGHT_ERR=""
  for ((i = 1; i <= BENCH_USERS; i++)); do
    tok=$(sed -n "${i}p" "$TOKENS")
    out=$(webhook_call "$url" "$SECRET" "$tok")
    code=${out%%$'\n'*}
    body=${out#*$'\n'}
    if [[ "$code" != 200 ]]; then PREFLIGHT_ERR="valid token of user $i: HTTP $code: $body"; return 1; fi
    st=$(json_get "$body" 'j.status' 2>/dev/null) || { PREFLIGHT_ERR="valid token of user $i: answer is not JSON: $body"; return 1; }
    if [[ "$st" != 200 ]]; then PREFLIGHT_ERR="valid token of user $i: status $st: $body"; return 1; fi
    want_auth="$T_CLIENT:$(sed -n "${i}p" "$WORK/users.txt")"
    aid=$(json_get "$body" 'j.auth_id')
    if [[ "$aid" != "$want_auth" ]]; then PREFLIGHT_ERR="user $i: auth_id '$aid', expected '$want_auth': $body"; return 1; fi
    [[ $i == 1 ]] && log "$name: allowed:  $body"
  done
  # Same header and claims, signature bytes changed.
  tok=$(sed -n 1p "$TOKENS")
  local forged="${tok%.*}.$(printf '%s' "${tok##*.}" | tr 'A-Za-z' 'B-ZAb-za')"
  out=$(webhook_call "$url" "$SECRET" "$forged")
  code=${out%%$'\n'*}
  body=${out#*$'\n'}
  st=$(json_get "$body" 'j.status' 2>/dev/null || true)
  if [[ "$code" != 200 || "$st" == 200 || -z "$st" ]]; then
    PREFLIGHT_ERR="forged signature: expected HTTP 200 with a non-200 status, got HTTP $code: $body"; return 1
  fi
  log "$name: forged signature -> HTTP $code $body"
  out=$(webhook_call "$url" "not-the-secret" "$tok")
  code=${out%%$'\n'*}
  body=${out#*$'\n'}
  if [[ "$code" != 401 ]]; then PREFLIGHT_ERR="wrong caller secret: expected HTTP 401, got HTTP $code: $body"; return 1; fi
  log "$name: wrong caller secret -> HTTP 401 $body"
  log "$name: preflight OK ($BENCH_USERS users allowed, forged token denied, bad caller 401)"
}

WRK_PIN=()
SRV_PIN=()
if [[ "$BENCH_PIN" == 1 ]]; then
  command -v taskset >/dev/null || die "BENCH_PIN=1 needs taskset (util-linux)"
  WRK_PIN=(taskset -c 1)
  SRV_PIN=(taskset -c 0)
fi

# run_wrk url duration -> prints the RESULT line (and DENIED_SAMPLE, if any)
run_wrk() {
  local url=$1 duration=$2 out
  out=$(BENCH_TOKENS_FILE=$TOKENS BENCH_WEBHOOK_SECRET=$SECRET \
    "${WRK_PIN[@]}" wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$duration" \
    --latency -s "$LUA" "$url" 2>&1) || die "wrk failed: $out"
  grep -q '^RESULT ' <<<"$out" || die "wrk printed no RESULT line: $out"
  grep -E '^(RESULT|DENIED_SAMPLE) ' <<<"$out"
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
command -v node >/dev/null || die "node is required (the peer and the JSON checks use it)"
command -v npm >/dev/null || die "npm is required"

if ! command -v wrk >/dev/null; then
  log "installing wrk (apt)"
  SUDO=()
  [[ $(id -u) -eq 0 ]] || SUDO=(sudo)
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq wrk >/dev/null
fi

if want peer && [[ ! -d "$PEER_DIR/node_modules" ]]; then
  log "npm ci in bench/authorize/peer"
  (cd "$PEER_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi

if [[ -n "${TOLLHOUSE_BIN:-}" ]]; then
  BIN=$TOLLHOUSE_BIN
else
  log "cargo build --release -p tollhouse-server"
  (cd "$ROOT" && cargo build --release -p tollhouse-server)
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/tollhouse"
fi
[[ -x "$BIN" ]] || die "tollhouse binary not found at $BIN"

PEER_VERSION=$(node -p 'require(process.argv[1]).version' "$PEER_DIR/node_modules/@pymthouse/clearinghouse-identity-webhook/package.json" 2>/dev/null || echo '?')
log "machine: $(nproc) cores; node $(node --version); $(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2); peer package $PEER_VERSION"
log "wrk: -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION (warm-up ${WARMUP_SECS}s), $BENCH_USERS users, pin=$BENCH_PIN"

# ---------------------------------------------------------------- Tollhouse (issuer, and webhook under test)
SECRET=$(node -e 'process.stdout.write(require("crypto").randomBytes(32).toString("base64url"))')
DATA="$WORK/tollhouse"
mkdir -p "$DATA"
T_PORT=$(free_port)
T_BASE="http://127.0.0.1:$T_PORT"

start_tollhouse() {
  # The webhook secret goes through the environment (never a flag, so it stays out of `ps`).
  TOLLHOUSE_LOG=warn TOLLHOUSE_WEBHOOK_SECRET=$SECRET "${SRV_PIN[@]}" "$BIN" serve \
    --listen "127.0.0.1:$T_PORT" --public-url "$T_BASE" \
    --data-dir "$DATA" --signing-alg RS256 \
    >>"$WORK/tollhouse.log" 2>&1 &
  T_PID=$!
  PIDS+=("$T_PID")
  wait_http_200 "$T_BASE/healthz" "$T_PID" tollhouse 30
}

# Prefer creating the app before serve (no SQLite lock contention).
if APP_JSON=$(TOLLHOUSE_LOG=warn "$BIN" app create --name bench-authorize --json --data-dir "$DATA" --public-url "$T_BASE" --signing-alg RS256 2>"$WORK/app-create.err"); then
  start_tollhouse
else
  log "app create before serve failed ($(tail -n 3 "$WORK/app-create.err")); retrying with the server up"
  start_tollhouse
  APP_JSON=$(TOLLHOUSE_LOG=warn "$BIN" app create --name bench-authorize --json --data-dir "$DATA" --public-url "$T_BASE" --signing-alg RS256 2>"$WORK/app-create.err") \
    || die "tollhouse app create failed: $(cat "$WORK/app-create.err")"
fi
T_CLIENT=$(json_get "$APP_JSON" 'j.clientId')
M2M_ID=$(json_get "$APP_JSON" 'j.m2mClientId')
M2M_SECRET=$(json_get "$APP_JSON" 'j.m2mClientSecret')
[[ -n "$T_CLIENT" && -n "$M2M_ID" && -n "$M2M_SECRET" ]] || die "unexpected 'app create --json' output: $APP_JSON"
M2M_BASIC="Basic $(printf '%s:%s' "$M2M_ID" "$M2M_SECRET" | base64 | tr -d '\n')"

DISCOVERY=$(curl -fs --max-time 5 "$T_BASE/.well-known/openid-configuration") || die "no discovery document"
ISSUER=$(json_get "$DISCOVERY" 'j.issuer')
[[ -n "$ISSUER" ]] || die "discovery has no issuer: $DISCOVERY"
log "tollhouse: issuer $ISSUER, app $T_CLIENT"

# Users, a balance each (so a balance-checking webhook allows them), one RS256 user JWT
# with scope sign:job each (Builder API: POST A/users, A/users/{ext}/allowances, A/users/{ext}/token).
TOKENS="$WORK/tokens.txt"
: >"$TOKENS"
: >"$WORK/users.txt"
for ((i = 1; i <= BENCH_USERS; i++)); do
  ext=$(printf 'bench-user-%02d' "$i")
  builder POST /users "200 201" "{\"externalUserId\":\"$ext\"}" >/dev/null
  builder POST "/users/$ext/allowances" "200 201" '{"amountUsdMicros":"100000000","source":"manual"}' >/dev/null
  minted=$(builder POST "/users/$ext/token" "200" '{"scope":"sign:job"}')
  jwt=$(json_get "$minted" 'j.access_token')
  scope=$(json_get "$minted" 'j.scope')
  [[ " $scope " == *" sign:job "* ]] || die "user token for $ext has scope '$scope', not sign:job"
  hdr_alg=$(J="$jwt" node -e 'try { process.stdout.write(String(JSON.parse(Buffer.from(process.env.J.split(".")[0], "base64url")).alg)); } catch {}')
  [[ "$hdr_alg" == RS256 ]] || die "user token for $ext is $hdr_alg, not RS256"
  printf '%s\n' "$jwt" >>"$TOKENS"
  printf '%s\n' "$ext" >>"$WORK/users.txt"
done
log "tollhouse: $BENCH_USERS RS256 user JWTs (scope sign:job, 900 s) in $TOKENS"

# Which path serves Tollhouse's webhook.
T_URL=""
if want tollhouse; then
  for p in $TH_WEBHOOK_PATHS; do
    if preflight tollhouse "$T_BASE$p"; then
      T_URL="$T_BASE$p"
      break
    fi
    log "tollhouse: $p: $PREFLIGHT_ERR"
  done
  [[ -n "$T_URL" ]] || die "tollhouse: no webhook path of '$TH_WEBHOOK_PATHS' passed the preflight (is the webhook built in, and does it read TOLLHOUSE_WEBHOOK_SECRET?)"
  log "tollhouse: measuring $T_URL"
fi

# ---------------------------------------------------------------- peer
P_URL=""
if want peer; then
  P_PORT=$(free_port)
  P_BASE="http://127.0.0.1:$P_PORT"
  P_URL="$P_BASE/authorize"
  (cd "$PEER_DIR" && PORT=$P_PORT PEER_ISSUER=$ISSUER PEER_WEBHOOK_SECRET=$SECRET \
    PEER_REQUIRED_SCOPES=sign:job NODE_ENV=production \
    exec "${SRV_PIN[@]}" node server.mjs) >>"$WORK/peer.log" 2>&1 &
  P_PID=$!
  PIDS+=("$P_PID")
  wait_http_200 "$P_BASE/health" "$P_PID" peer 30
  preflight peer "$P_URL" || die "peer: $PREFLIGHT_ERR (log: $(tail -n 5 "$WORK/peer.log"))"
fi

# ---------------------------------------------------------------- load: warm-up, then measure, one server after the other
T_RES="" P_RES=""
if [[ -n "$T_URL" ]]; then
  log "tollhouse: warm-up ${WARMUP_SECS}s"
  run_wrk "$T_URL" "${WARMUP_SECS}s" >/dev/null
  log "tollhouse: measuring $WRK_DURATION"
  T_RES=$(run_wrk "$T_URL" "$WRK_DURATION")
  log "tollhouse: $T_RES"
fi
if [[ -n "$P_URL" ]]; then
  log "peer: warm-up ${WARMUP_SECS}s"
  run_wrk "$P_URL" "${WARMUP_SECS}s" >/dev/null
  log "peer: measuring $WRK_DURATION"
  P_RES=$(run_wrk "$P_URL" "$WRK_DURATION")
  log "peer: $P_RES"
fi

# ---------------------------------------------------------------- report
ANY_FAIL=0
verdict_of() { # result-line -> "" when valid, else INVALID(...)
  local bad den err
  bad=$(field "$1" non2xx); den=$(field "$1" denied); err=$(field "$1" socket_errors)
  if [[ "$bad" != 0 || "$den" != 0 || "$err" != 0 ]]; then
    printf 'INVALID(non2xx=%s denied=%s socket_errors=%s)' "$bad" "$den" "$err"
  fi
}

echo
echo "Identity webhook (go-livepeer remote signer), RS256 user JWTs, $BENCH_USERS users rotating:"
echo "tollhouse ${T_URL:+$(basename "$T_URL")} vs @pymthouse/clearinghouse-identity-webhook $PEER_VERSION (node $(node --version), node:http)"
echo "wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION, $(nproc) cores shared by wrk and the server under test, pin=$BENCH_PIN"
printf '%-10s | %10s | %9s | %9s | %8s | %6s | %s\n' server rps p50_ms p99_ms requests denied check
printf '%s\n' "-----------+------------+-----------+-----------+----------+--------+------"
for who in tollhouse peer; do
  res=$T_RES
  [[ $who == peer ]] && res=$P_RES
  [[ -z "$res" ]] && continue
  line=$(grep '^RESULT ' <<<"$res")
  check=$(verdict_of "$line")
  if [[ -n "$check" ]]; then
    ANY_FAIL=1
    sample=$(grep '^DENIED_SAMPLE ' <<<"$res" | cut -c15- || true)
    [[ -n "$sample" ]] && check+=" first denied: $sample"
  else
    check=valid
  fi
  printf '%-10s | %10s | %9s | %9s | %8s | %6s | %s\n' "$who" "$(field "$line" rps)" \
    "$(field "$line" p50_ms)" "$(field "$line" p99_ms)" "$(field "$line" requests)" "$(field "$line" denied)" "$check"
done

if [[ -n "$T_RES" && -n "$P_RES" ]]; then
  t_line=$(grep '^RESULT ' <<<"$T_RES"); p_line=$(grep '^RESULT ' <<<"$P_RES")
  t_rps=$(field "$t_line" rps); p_rps=$(field "$p_line" rps); t_p99=$(field "$t_line" p99_ms)
  ratio=$(awk -v a="$t_rps" -v b="$p_rps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "NA" }')
  if [[ -n "$(verdict_of "$t_line")$(verdict_of "$p_line")" ]]; then
    r_res=INVALID; p_res=INVALID
  else
    r_res=FAIL; p_res=FAIL
    awk -v r="$ratio" -v t="$RATIO_TARGET" 'BEGIN { exit !(r != "NA" && r >= t) }' && r_res=PASS
    awk -v p="$t_p99" -v t="$P99_TARGET_MS" 'BEGIN { exit !(p <= t) }' && p_res=PASS
  fi
  [[ $r_res == PASS && $p_res == PASS ]] || ANY_FAIL=1
  echo
  printf 'throughput ratio tollhouse/peer: %sx   target >= %sx   %s\n' "$ratio" "$RATIO_TARGET" "$r_res"
  printf 'tollhouse p99: %s ms             target <= %s ms   %s\n' "$t_p99" "$P99_TARGET_MS" "$p_res"
fi

if [[ "$BENCH_STRICT" == 1 && "$ANY_FAIL" == 1 ]]; then
  exit 3
fi
exit 0
