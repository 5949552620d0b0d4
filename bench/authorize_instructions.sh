#!/usr/bin/env bash
# Instructions the server executes for N identity-webhook calls (one user's RS256 JWT, the
# session's AuthID set, as go-livepeer sends it after the first payment), counted by
# `valgrind --tool=callgrind`: repeatable whatever else the machine does, so two builds can be
# compared where wall-clock runs are too noisy. Startup is counted too: run it for two values of
# N and take the difference, e.g.
#   bench/authorize_instructions.sh target/release/tollhouse 10
#   bench/authorize_instructions.sh target/release/tollhouse 1010
#   -> (second − first) / 1000 instructions per call
# Needs valgrind, curl and python3.
set -euo pipefail
BIN=$1; N=$2
W=$(mktemp -d); PORT=$((20000 + RANDOM % 20000)); BASE=http://127.0.0.1:$PORT
SECRET=cg-secret-0123456789
APP=$(TOLLHOUSE_LOG=warn $BIN app create --name cg --json --data-dir $W --public-url $BASE --signing-alg RS256)
CID=$(echo "$APP" | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientId"])')
MID=$(echo "$APP" | python3 -c 'import json,sys; print(json.load(sys.stdin)["m2mClientId"])')
MSEC=$(echo "$APP" | python3 -c 'import json,sys; print(json.load(sys.stdin)["m2mClientSecret"])')
# Mint the user token with a plain server first.
TOLLHOUSE_LOG=warn TOLLHOUSE_WEBHOOK_SECRET=$SECRET $BIN serve --listen 127.0.0.1:$PORT --public-url $BASE --data-dir $W >/dev/null 2>&1 & P=$!
for _ in $(seq 50); do curl -fs $BASE/healthz >/dev/null && break; sleep 0.2; done
curl -fs -u "$MID:$MSEC" -H 'content-type: application/json' -d '{"externalUserId":"u1"}' $BASE/api/v1/apps/$CID/users >/dev/null
JWT=$(curl -fs -u "$MID:$MSEC" -H 'content-type: application/json' -d '{"scope":"sign:job"}' $BASE/api/v1/apps/$CID/users/u1/token | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
kill $P; wait $P 2>/dev/null || true
printf '{"headers":{"Authorization":["Bearer %s"]},"state":{"AuthID":"%s:u1"}}' "$JWT" "$CID" > $W/body.json
TOLLHOUSE_LOG=warn TOLLHOUSE_WEBHOOK_SECRET=$SECRET valgrind --tool=callgrind --callgrind-out-file=$W/cg.out $BIN serve --listen 127.0.0.1:$PORT --public-url $BASE --data-dir $W >/dev/null 2>$W/vg.err & P=$!
for _ in $(seq 300); do curl -fs $BASE/healthz >/dev/null 2>&1 && break; sleep 0.5; done
python3 - "$BASE/authorize" "$SECRET" "$W/body.json" "$N" <<'PY'
import sys, http.client, urllib.parse
url, secret, body_file, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
body = open(body_file, 'rb').read()
u = urllib.parse.urlparse(url)
c = http.client.HTTPConnection(u.hostname, u.port)
ok = 0
for _ in range(n):
    c.request('POST', u.path, body, {'X-Api-Key': secret, 'Content-Type': 'application/json'})
    r = c.getresponse(); data = r.read()
    ok += b'"status":200' in data
print('allowed', ok, 'of', n, file=sys.stderr)
PY
kill -INT $P; wait $P 2>/dev/null || true
grep -o "summary: [0-9]*" $W/cg.out || grep "^totals:" $W/cg.out
rm -rf $W
