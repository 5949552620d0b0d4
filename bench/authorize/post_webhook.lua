-- wrk script: go-livepeer remote-signer identity webhook calls (bench/authorize.sh).
--
--   BENCH_TOKENS_FILE=/tmp/tokens.txt BENCH_WEBHOOK_SECRET=... \
--   wrk -t2 -c32 -d10s --latency -s bench/authorize/post_webhook.lua http://127.0.0.1:PORT/authorize
--
-- Environment (read with os.getenv in every wrk thread):
--   BENCH_TOKENS_FILE     required: one end-user JWT per line; requests rotate through them
--                         (each thread starts at a different offset)
--   BENCH_WEBHOOK_SECRET  required: the caller secret, sent as `X-Api-Key: <secret>`
--                         (what `-remoteSignerWebhookHeaders X-Api-Key:<secret>` makes
--                         go-livepeer send; accepted by both servers)
--
-- Body: the signer's webhook body (signer-wire.md section 1): compact JSON, `headers` with the
-- gateway's MIME-canonical headers as arrays (keys sorted), `state` with Go field names.
--
-- Both servers answer HTTP 200 for a rejected credential too (the verdict is the body's
-- `status`), so response() counts, besides non-2xx, every 2xx answer whose body does not say
-- `"status":200` ("denied"). done() prints one parseable line on stdout:
--   RESULT rps=<req/s> p50_ms=<ms> p99_ms=<ms> requests=<n> non2xx=<n> denied=<n> socket_errors=<n> first_non2xx_status=<n>
-- and, if anything was denied, a line `DENIED_SAMPLE <first denied body>`.

local function fail(msg)
  -- error() would only disable the script (wrk then runs plain GETs and exits 0).
  io.stderr:write("post_webhook.lua: " .. msg .. "\n")
  os.exit(2)
end

local tokens_file = os.getenv("BENCH_TOKENS_FILE")
if tokens_file == nil or tokens_file == "" then fail("BENCH_TOKENS_FILE is not set") end
local secret = os.getenv("BENCH_WEBHOOK_SECRET")
if secret == nil or secret == "" then fail("BENCH_WEBHOOK_SECRET is not set") end

local tokens = {}
local fh = io.open(tokens_file, "r")
if fh == nil then fail("cannot read " .. tokens_file) end
for line in fh:lines() do
  line = line:gsub("%s+$", "")
  if line ~= "" then
    if not line:match("^[%w%-_%.]+$") then fail("line " .. (#tokens + 1) .. " is not a compact JWS") end
    table.insert(tokens, line)
  end
end
fh:close()
if #tokens == 0 then fail(tokens_file .. " holds no tokens") end

-- One pre-built request per token (payment session i belongs to user i). Built in init(): wrk
-- sets the Host header (wrk.headers.Host) just before calling it.
local requests_by_token = {}
local function build_requests()
  for i, jwt in ipairs(tokens) do
    local body = string.format(
      '{"headers":{"Authorization":["Bearer %s"],"Content-Type":["application/json"],'
        .. '"User-Agent":["Go-http-client/1.1"],"X-Request-Id":["bench-%04d"]},'
        .. '"state":{"StateID":"%08x","PMSessionID":"0x%064x","LastUpdate":"2026-08-18T10:00:00.123456789Z",'
        .. '"OrchestratorAddress":"0x%040x","App":"","AuthExpiry":0,"SenderNonce":3,"Balance":"500",'
        .. '"InitialPricePerUnit":1200,"InitialPixelsPerUnit":1,"Type":"lv2v","SequenceNumber":0,"AuthID":""}}',
      jwt, i, 0x1a2b3c00 + i, i, 0xabcdef00 + i)
    requests_by_token[i] = wrk.format("POST", nil, {
      ["Host"] = wrk.headers["Host"],
      ["Content-Type"] = "application/json",
      ["User-Agent"] = "Go-http-client/1.1",
      ["X-Api-Key"] = secret,
    }, body)
  end
end

-- Thread bookkeeping: setup() runs in the main Lua state once per thread, so done() can read
-- each thread's counters back with thread:get().
local threads = {}
local next_thread_id = 0

function setup(thread)
  thread:set("thread_id", next_thread_id)
  next_thread_id = next_thread_id + 1
  table.insert(threads, thread)
end

-- Per-thread state (each wrk thread has its own Lua state).
non2xx = 0
denied = 0
first_bad_status = 0
first_denied = ""
local cursor = 0

function init(args)
  build_requests()
  cursor = (thread_id or 0) * 7
end

function request()
  cursor = cursor % #requests_by_token + 1
  return requests_by_token[cursor]
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_bad_status == 0 then first_bad_status = status end
  elseif body == nil or not body:find('"status"%s*:%s*200[^%d]') then
    denied = denied + 1
    if first_denied == "" then first_denied = (body or "<no body>"):sub(1, 300) end
  end
end

function done(summary, latency, requests)
  local bad, den, first_bad, sample = 0, 0, 0, ""
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non2xx") or 0)
    den = den + (t:get("denied") or 0)
    local fb = t:get("first_bad_status") or 0
    if first_bad == 0 and fb ~= 0 then first_bad = fb end
    local fd = t:get("first_denied") or ""
    if sample == "" and fd ~= "" then sample = fd end
  end
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  local secs = summary.duration / 1e6
  local rps = 0
  if secs > 0 then rps = summary.requests / secs end
  io.write(string.format(
    "RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f requests=%d non2xx=%d denied=%d socket_errors=%d first_non2xx_status=%d\n",
    rps, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, bad, den, socket_errors, first_bad))
  if sample ~= "" then
    io.write("DENIED_SAMPLE " .. sample:gsub("[\r\n]", " ") .. "\n")
  end
end
