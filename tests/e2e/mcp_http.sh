#!/usr/bin/env bash
# odock mcp in front of HTTP upstreams: the reference server over Streamable
# HTTP, over legacy HTTP+SSE, and a server configured as "http" that only
# speaks legacy SSE (odock falls back); plus one that is down.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mcp_lib.bash"
mcp_need_node
P1=$(free_port); P2=$(free_port); P3=$(free_port)
PORT=$P1 bg node "$EVERY" streamableHttp >"$T/s1.log" 2>&1
PORT=$P2 bg node "$EVERY" sse >"$T/s2.log" 2>&1
wait_port "$P1" && wait_port "$P2" || { fail "reference servers listen"; exit 1; }
cat >"$T/odock.json" <<JSON
{"database": "$T/ledger.db",
 "mcp_servers": [
   {"name": "shttp", "transport": "http", "url": "http://127.0.0.1:$P1/mcp"},
   {"name": "legacy", "transport": "sse", "url": "http://127.0.0.1:$P2/sse"},
   {"name": "fallback", "transport": "http", "url": "http://127.0.0.1:$P2/sse"},
   {"name": "down", "transport": "http", "url": "http://127.0.0.1:$P3/mcp"}
 ]}
JSON
export ODOCK_API_KEY=$(mcp_key mcp-http)
{
  echo '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}'
  echo '{"jsonrpc":"2.0","method":"notifications/initialized"}'
  echo '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
  echo '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"shttp__echo","arguments":{"message":"via http"}}}'
  echo '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"legacy__echo","arguments":{"message":"via sse"}}}'
  echo '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"fallback__echo","arguments":{"message":"via fallback"}}}'
  echo '{"jsonrpc":"2.0","id":5,"method":"resources/read","params":{"uri":"shttp+demo://resource/static/document/features.md"}}'
  sleep 1
} | timeout 40 "$ODOCK" mcp --config "$T/odock.json" --db "$T/ledger.db" >"$T/out" 2>"$T/err"
eq "odock mcp exits 0" "$?" "0"
answer() {
  node -e '
    const l = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse);
    const a = l.find((m) => m.id === Number(process.argv[2]));
    process.exit((() => { try { return eval(process.argv[3]); } catch { return false; } })() ? 0 : (console.log(JSON.stringify(a).slice(0, 300)), 1));
  ' "$T/out" "$1" "$2"
}
check "tools of the HTTP upstreams are listed" answer 1 '["shttp__echo","legacy__echo","fallback__echo"].every((n) => a.result.tools.some((t) => t.name === n))'
check "Streamable HTTP upstream call" answer 2 'a.result.content[0].text === "Echo: via http"'
check "legacy SSE upstream call" answer 3 'a.result.content[0].text === "Echo: via sse"'
check "http upstream falling back to legacy SSE" answer 4 'a.result.content[0].text === "Echo: via fallback"'
check "resources/read over Streamable HTTP" answer 5 'a.result.contents[0].uri === "shttp+demo://resource/static/document/features.md" && a.result.contents[0].text.length > 0'
check "the upstream that is down is logged and retried" grep -q "mcp down: .*restarting in" "$T/err"
if grep -qE "AddressSanitizer|runtime error:" "$T/err"; then fail "no sanitizer report"; grep -A20 AddressSanitizer "$T/err" | head -30 | sed 's/^/    # /'; else ok "no sanitizer report"; fi
