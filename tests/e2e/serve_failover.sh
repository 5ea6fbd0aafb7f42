#!/usr/bin/env bash
# Routing: retries, failover (500, 429 + Retry-After, timeout, refused), the
# circuit breaker, streams failing before and after their first byte.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_helpers.bash"
need_npm
start_fake
DEAD=$(free_port)
U="http://127.0.0.1:$FAKE_PORT/v1"
cat >"$T/odock.json" <<JSON
{"database": "$ODOCK_DB",
 "guardrails": {"pii": {"action": "flag"}, "secrets": {"action": "flag"}},
 "router": {"retry_base_ms": 20, "breaker_failures": 2, "breaker_cooldown_ms": 6000,
            "ttft_timeout_ms": 700, "request_timeout_ms": 2500},
 "providers": [
   {"name": "bad",   "type": "openai", "base_url": "$U", "api_key": "\${FAKE_OPENAI_KEY}", "max_retries": 1},
   {"name": "good",  "type": "openai", "base_url": "$U", "api_key": "\${FAKE_OPENAI_KEY}"},
   {"name": "slowp", "type": "openai", "base_url": "$U", "api_key": "\${FAKE_OPENAI_KEY}", "timeout_ms": 800, "max_retries": 0},
   {"name": "dead",  "type": "openai", "base_url": "http://127.0.0.1:$DEAD/v1", "api_key": "x", "max_retries": 0}],
 "models": [
   {"name": "f500",     "deployments": [{"provider": "bad", "model": "gpt-4o-fail-500"}, {"provider": "good", "model": "gpt-4o"}]},
   {"name": "f429",     "deployments": [{"provider": "bad", "model": "gpt-4o-fail-429"}, {"provider": "good", "model": "gpt-4o"}]},
   {"name": "ftimeout", "deployments": [{"provider": "slowp", "model": "gpt-4o-hang"}, {"provider": "good", "model": "gpt-4o"}]},
   {"name": "frefused", "deployments": [{"provider": "dead", "model": "gpt-4o"}, {"provider": "good", "model": "gpt-4o"}]},
   {"name": "fbreaker", "deployments": [{"provider": "bad", "model": "gpt-4o-brk-fail-500"}, {"provider": "good", "model": "gpt-4o"}]},
   {"name": "fprio",    "strategy": "failover", "deployments": [{"provider": "good", "model": "gpt-4o-second", "priority": 2}, {"provider": "good", "model": "gpt-4o-first", "priority": 1}]},
   {"name": "allbad",   "deployments": [{"provider": "bad", "model": "gpt-4o-fail-503"}]},
   {"name": "only429",  "deployments": [{"provider": "bad", "model": "gpt-4o-solo-fail-429"}]},
   {"name": "fstream",  "deployments": [{"provider": "bad", "model": "gpt-4o-s-fail-500"}, {"provider": "good", "model": "gpt-4o"}]},
   {"name": "fttft",    "deployments": [{"provider": "good", "model": "gpt-4o-hang"}, {"provider": "good", "model": "gpt-4o"}]},
   {"name": "fdeadline", "deployments": [{"provider": "good", "model": "gpt-4o-slow-20000"}]},
   {"name": "cut",      "deployments": [{"provider": "good", "model": "gpt-4o-stream-cut"}, {"provider": "good", "model": "gpt-4o"}]},
   {"name": "spaced",   "deployments": [{"provider": "good", "model": "gpt-4o-spaced"}]},
   {"name": "nulkey",   "deployments": [{"provider": "good", "model": "gpt-4o-nulkey"}]}]}
JSON
KEY=$(mkkey router)
start_serve "$T/odock.json"
stat() { curl -s "http://127.0.0.1:$FAKE_PORT/__stats" | jget "models.$1"; }
attempts_of() { wait_events 1 "WHERE request_id='$1'"; events attempts "WHERE request_id='$1'"; }

r=$(client chat f500 "x")
eq "500: second deployment answers" "$(echo "$r" | jget provider)" good
eq "500: retried once, then failed over (x-odock-attempts)" "$(echo "$r" | jget attempts)" 3
eq "500: ledger shows the attempts" "$(attempts_of "$(echo "$r" | jget request_id)")" 3

r=$(client chat f429 "x")
eq "429: fails over at once" "$(echo "$r" | jget provider),$(echo "$r" | jget attempts)" good,2

t0=$(date +%s%N)
r=$(client chat ftimeout "x")
el=$(( ($(date +%s%N) - t0) / 1000000 ))
eq "timeout: second deployment answers" "$(echo "$r" | jget provider),$(echo "$r" | jget attempts)" good,2
check "timeout: bounded by the provider timeout (${el} ms)" test "$el" -lt 15000

r=$(client chat frefused "x")
eq "refused: second deployment answers" "$(echo "$r" | jget provider),$(echo "$r" | jget attempts)" good,2
eq "refused: ledger attempts" "$(attempts_of "$(echo "$r" | jget request_id)")" 2

r=$(client chat fprio "x")
eq "priority orders deployments" "$(tail -1 "$FAKE_LOG" | jget model)" gpt-4o-first

# circuit breaker: 2 consecutive failures open it; while open the deployment is skipped
client chat fbreaker "x" >/dev/null
eq "breaker: first request tried the bad deployment twice" "$(stat gpt-4o-brk-fail-500)" 2
r=$(client chat fbreaker "x"); client chat fbreaker "x" >/dev/null
eq "breaker: open circuit skipped" "$(stat gpt-4o-brk-fail-500),$(echo "$r" | jget attempts)" 2,1
sleep 6.2  # the cool-down; generous so that slow client start-ups on a loaded machine stay inside it
client chat fbreaker "x" >/dev/null
eq "breaker: one probe after the cool-down" "$(stat gpt-4o-brk-fail-500)" 3
client chat fbreaker "x" >/dev/null
eq "breaker: failed probe reopens it" "$(stat gpt-4o-brk-fail-500)" 3

r=$(client chat allbad "x")
eq "all deployments failing: 502 upstream_error" "$(echo "$r" | jget status),$(echo "$r" | jget code)" 502,upstream_error
post /v1/chat/completions "$KEY" '{"model":"only429","messages":[{"role":"user","content":"x"}]}' >/dev/null
eq "429 exhausted: 429 to the client" "$(status)" 429
eq "429 exhausted: Retry-After passed on" "$(header retry-after)" 1

r=$(client stream fstream "stream please")
eq "stream: fails over before the first byte" "$(echo "$r" | jget text),$(echo "$r" | jget provider)" "echo: stream please,good"

t0=$(date +%s%N)
r=$(client stream fttft "first token please")
el=$(( ($(date +%s%N) - t0) / 1000000 ))
eq "stream: TTFT timeout fails over" "$(echo "$r" | jget text),$(echo "$r" | jget provider)" "echo: first token please,good"
check "stream: TTFT timeout bounded (${el} ms)" test "$el" -lt 15000

body=$(post /v1/chat/completions "$KEY" '{"model":"cut","stream":true,"messages":[{"role":"user","content":"a long enough answer to be cut in the middle of the stream"}]}')
eq "stream cut after first byte: 200 already sent" "$(status)" 200
check "stream cut after first byte: ends with an error event" grep -q '^data: {"error":' <<<"$body"
check "stream cut after first byte: no [DONE]" bash -c "! grep -q 'DONE' <<<'$body'"
# an OpenAI upstream's chunks reach the client as written when nothing in
# them changes (output guardrails only flag here): the fake's spacing survives
body=$(post /v1/chat/completions "$KEY" '{"model":"spaced","stream":true,"messages":[{"role":"user","content":"one two three four five"}]}')
eq "stream relayed verbatim: every chunk as the upstream spaced it" \
   "$(grep -c '^data: {"id": "chatcmpl-fake' <<<"$body"),$(grep -c '^data: {' <<<"$body")" "$(grep -c '^data: {' <<<"$body"),$(grep -c '^data: {' <<<"$body")"
check "... more than two of them" test "$(grep -c '^data: {' <<<"$body")" -gt 2
check "... the usage chunk odock asked for is not passed on" bash -c "! grep -q '\"usage\": {' <<<'$body'"
check "... and [DONE] ends it" grep -q '^data: \[DONE\]' <<<"$body"
# but not a chunk whose text holds a \u0000: the inspected tree has U+FFFD
# there (its strings are C strings), and what goes out is what was inspected
body=$(post /v1/chat/completions "$KEY" '{"model":"nulkey","stream":true,"messages":[{"role":"user","content":"hi"}]}')
check "a chunk with \\u0000 is printed from the tree: U+FFFD in its place, the rest whole" \
  grep -qF '"content":"ok'$'\xef\xbf\xbd'' the key is '"$AWS_EXAMPLE"'"' <<<"$body"
check "... and the guardrails read what followed it (flagged in the ledger)" \
  wait_events 1 "WHERE target='nulkey' AND findings LIKE '%aws%'"
r=$(client stream cut "a long enough answer to be cut in the middle of the stream")
eq "stream cut: the SDK raises an error" "$(echo "$r" | jget ok)" false
check "stream cut: recorded as an upstream error" wait_events 1 "WHERE target='cut' AND status='error' AND reason='upstream_error'"

t0=$(date +%s%N)
b=$(post /v1/chat/completions "$KEY" '{"model":"fdeadline","messages":[{"role":"user","content":"x"}]}')
el=$(( ($(date +%s%N) - t0) / 1000000 ))
eq "request timeout: 504 upstream_timeout" "$(status),$(echo "$b" | jget error.code)" 504,upstream_timeout
check "request timeout: bounded (${el} ms)" test "$el" -lt 15000

curl -s "$BASE/metrics" >"$T/metrics"
check "metrics: failovers counted" grep -q 'odock_failovers_total{model="f500"} 1' "$T/metrics"
check "metrics: upstream errors by kind" grep -q 'odock_upstream_errors_total{provider="slowp",kind="timeout"} 1' "$T/metrics"
stop_serve
