#!/usr/bin/env bash
# A WebSocket MCP upstream: odock mcp connects with the configured headers,
# lists and calls its tools namespaced, governs the calls, and survives the
# upstream going away.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mcp_lib.bash"
mcp_need_node
P=$(free_port)
export WS_TOKEN=ws-upstream-token-123
node "$ROOT/testdata/mcp/ws_bridge.mjs" --port "$P" --log "$T/ws.log" -- node "$FAKE" > "$T/bridge.out" 2>&1 &
BR=$!; _pids+=($BR)
wait_port "$P" || { fail "ws bridge did not start"; exit 1; }
DEAD=$(free_port)
cat >"$T/odock.json" <<JSON
{"database": "$T/ledger.db",
 "mcp_servers": [
   {"name": "wsfake", "transport": "websocket", "url": "ws://127.0.0.1:$P/mcp",
    "headers": {"Authorization": "Bearer \${WS_TOKEN}"}, "timeout_ms": 4000},
   {"name": "gone", "transport": "websocket", "url": "ws://127.0.0.1:$DEAD/mcp"}
 ]}
JSON
export ODOCK_API_KEY=$(mcp_key ws --tools 'wsfake/*,!wsfake/leak_secret')

{
  echo '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}'
  echo '{"jsonrpc":"2.0","method":"notifications/initialized"}'
  sleep 1
  echo '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
  echo '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"wsfake__hello","arguments":{"name":"ws"}}}'
  echo '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"wsfake__leak_secret","arguments":{}}}'
  echo '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"wsfake__echo_args","arguments":{"big":"'"$(head -c 200000 /dev/zero | tr '\0' 'y')"'"}}}'
  sleep 1
} | timeout 40 "$ODOCK" mcp --config "$T/odock.json" >"$T/out" 2>"$T/err"
rc=$?
eq "odock mcp exits cleanly" "$rc" 0
ans() { jq -c "select(.id == $1)" "$T/out"; }
check "initialize answered" test -n "$(ans 0 | jq -r '.result.protocolVersion // empty')"
tools=$(ans 1 | jq -r '[.result.tools[].name] | sort | join(",")')
check "tools of the websocket upstream are listed, namespaced" grep -q 'wsfake__hello' <<<"$tools"
check "a tool the key may not use is not listed" bash -c "! grep -q 'wsfake__leak_secret' <<<'$tools'"
eq "tools/call over websocket" "$(ans 2 | jq -r '.result.content[0].text')" "hello ws from fake"
eq "grant denial over websocket" "$(ans 3 | jq -r '.error.data.reason')" tool_not_allowed
eq "a 200 KB message crosses intact (fragmented frames)" "$(ans 4 | jq -r '.result.content[0].text | fromjson | .big | length')" 200000
check "the configured header reached the upstream handshake" \
  test "$(jq -r .auth_sha256 "$T/ws.log" | head -1)" = "$(printf 'Bearer %s' "$WS_TOKEN" | sha256sum | cut -d' ' -f1)"
check "the odock key never reached the upstream" bash -c "! grep -q '$ODOCK_API_KEY' '$T/ws.log' '$T/bridge.out'"
check "an unreachable websocket upstream is logged, not fatal" grep -q 'gone' "$T/err"
eq "ledger: one event per governed call" "$(sqlite3 "$T/ledger.db" "SELECT count(*) FROM events WHERE target LIKE 'wsfake/%'")" 3
eq "ledger: the denial is recorded" "$(sqlite3 "$T/ledger.db" "SELECT reason FROM events WHERE target = 'wsfake/leak_secret'")" tool_not_allowed
