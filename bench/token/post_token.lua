-- wrk script: OAuth 2.0 client-credentials token requests (bench/token.sh).
--
--   BENCH_BASIC_AUTH=<base64 of urlenc(id):urlenc(secret)> \
--   BENCH_SCOPE="users:read" \
--   wrk -t2 -c32 -d15s -s bench/token/post_token.lua http://127.0.0.1:PORT/token
--
-- Environment (read with os.getenv in every wrk thread):
--   BENCH_BASIC_AUTH  required: the credentials part of "Authorization: Basic ..."
--                     (token.sh computes it; RFC 6749 2.3.1 form-urlencodes
--                     client_id and client_secret before base64)
--   BENCH_SCOPE       optional: scope to request (default "users:read");
--                     set it to "" to send no scope parameter
--
-- done() prints one parseable line on stdout:
--   RESULT rps=<req/s> p50_ms=<ms> p99_ms=<ms> requests=<n> non2xx=<n> socket_errors=<n>
-- non2xx is counted in response() (every status outside 200..299), summed
-- over threads in done().

local auth = os.getenv("BENCH_BASIC_AUTH")
if auth == nil or auth == "" then
  -- error() would only disable the script (wrk then runs plain GETs and
  -- exits 0), so stop wrk itself.
  io.stderr:write("post_token.lua: BENCH_BASIC_AUTH is not set\n")
  os.exit(2)
end

local scope = os.getenv("BENCH_SCOPE")
if scope == nil then
  scope = "users:read"
end

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

local body = "grant_type=client_credentials"
if scope ~= "" then
  body = body .. "&scope=" .. urlencode(scope)
end

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. auth
wrk.headers["Accept"] = "application/json"

-- Thread bookkeeping: setup() runs in the main Lua state once per thread, so
-- done() can read each thread's counters back with thread:get().
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

-- Per-thread state (each wrk thread has its own Lua state).
non2xx = 0
first_bad_status = 0

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_bad_status == 0 then
      first_bad_status = status
    end
  end
end

function done(summary, latency, requests)
  local bad = 0
  local first_bad = 0
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non2xx") or 0)
    local fb = t:get("first_bad_status") or 0
    if first_bad == 0 and fb ~= 0 then
      first_bad = fb
    end
  end
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  local secs = summary.duration / 1e6
  local rps = 0
  if secs > 0 then
    rps = summary.requests / secs
  end
  io.write(string.format(
    "RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f requests=%d non2xx=%d socket_errors=%d first_non2xx_status=%d\n",
    rps,
    latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    summary.requests,
    bad,
    socket_errors,
    first_bad))
end
