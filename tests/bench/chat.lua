-- tests/bench/chat.lua — wrk script: POST /v1/chat/completions with a
-- realistic ~1 KB chat request (system prompt, a prior turn, a question;
-- nothing a guardrail would block or mask), then one JSON summary line.
-- Every request's question is new (a ticket number in it), as in real
-- traffic, where the system prompt and the history repeat and only the last
-- turn is new: odock remembers the guardrail verdicts of texts it has seen,
-- so a benchmark sending one body over and over would measure a cache.
-- Environment:
--   BENCH_PATH    request path (default /v1/chat/completions)
--   BENCH_MODEL   model name (default gpt-4o-mini)
--   BENCH_STREAM  1 for "stream": true (with stream_options.include_usage)
--   BENCH_KEY     sent as "Authorization: Bearer ..." (default sk-bench)
--   BENCH_PORTKEY_HOST  when set, adds x-portkey-provider: openai and
--                 x-portkey-custom-host: <value> (Portkey's gateway)
local path = os.getenv("BENCH_PATH") or "/v1/chat/completions"
local model = os.getenv("BENCH_MODEL") or "gpt-4o-mini"
local stream = os.getenv("BENCH_STREAM") == "1"
local key = os.getenv("BENCH_KEY") or "sk-bench"
local portkey = os.getenv("BENCH_PORTKEY_HOST")

local system = "You are a careful assistant for the operations team of a mid-sized logistics company. " ..
  "Answer in plain English, in at most five short bullet points, and say so when you are not sure. " ..
  "Prefer concrete numbers from the conversation over general advice, and never invent figures."
local prior_q = "Our warehouse in Rotterdam reported 3.2% damaged goods in August against 2.7% in July. " ..
  "The new pallet wrap was introduced on the 9th of August. What should we look at first?"
local prior_a = "Compare damage rates before and after the 9th, split by product category and by shift; " ..
  "check whether the increase is concentrated on the lines that switched wrap first."
local question = "Thanks. The split by shift shows the night shift at 4.1% and the day shift at 2.6%. " ..
  "(ticket 00000000) " ..
  "Summarise what this suggests and propose two low-cost checks we can run next week, with owners."

local body = '{"model":"' .. model .. '",' ..
  '"messages":[' ..
  '{"role":"system","content":"' .. system .. '"},' ..
  '{"role":"user","content":"' .. prior_q .. '"},' ..
  '{"role":"assistant","content":"' .. prior_a .. '"},' ..
  '{"role":"user","content":"' .. question .. '"}],' ..
  '"temperature":0.2,"max_tokens":256,"user":"bench-ops-1"' ..
  (stream and ',"stream":true,"stream_options":{"include_usage":true}' or '') .. '}'

wrk.method = "POST"
wrk.path = path
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
if portkey and portkey ~= "" then
  wrk.headers["x-portkey-provider"] = "openai"
  wrk.headers["x-portkey-custom-host"] = portkey
end

-- The request is formatted once; each one only changes the ticket's eight
-- digits (same length, so Content-Length holds). Measured: 1 % fewer
-- requests/s than a static body with wrk and the fake upstream on one
-- core, where wrk.format per request cost 11 %.
local head, tail, n = nil, nil, 0
function init(args)
  head, tail = wrk.format():match("^(.*%(ticket )00000000(%).*)$")
end
function request()
  n = n + 1
  return head .. string.format("%08d", n % 100000000) .. tail
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"rps":%.1f,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,"body_bytes":%d}\n',
    summary.requests, summary.duration, summary.bytes, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout, #body))
end
