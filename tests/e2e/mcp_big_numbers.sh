#!/usr/bin/env bash
# Integers past a double's 53 bits (64-bit IDs, seeds) cross odock mcp digit
# for digit: odock parses every tools/call to govern it and writes it again
# for the server (the request id is odock's own there), and wrote such a
# number as 1.79e+18 before. The server is a Python one: it reads any
# integer exactly and answers with what it got.
source "$(dirname "$0")/lib.sh"
cat >"$T/odock.json" <<JSON
{"database": "$T/ledger.db",
 "mcp_servers": [{"name": "py", "command": "python3", "args": ["$ROOT/testdata/mcp/echo_json.py"]}]}
JSON
export ODOCK_API_KEY=$("$ODOCK" keys create --config "$T/odock.json" --db "$T/ledger.db" --name big --tools '*' --json | jq -r .key)
ARGS='{"tweet_id":1790000000000000123,"seed":-12345678901234567890,"u64":18446744073709551615,"small":42,"f":0.25}'
{ echo '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}'
  echo '{"jsonrpc":"2.0","method":"notifications/initialized"}'
  echo "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"py__echo_json\",\"arguments\":$ARGS}}"
  sleep 2; } | timeout 20 "$ODOCK" mcp --config "$T/odock.json" --db "$T/ledger.db" >"$T/out" 2>"$T/err"
text=$(jq -r 'select(.id == 2) | .result.content[0].text' "$T/out" 2>/dev/null)
eq "the server got every integer as the client wrote it" "$text" "$ARGS"
check "the call is in the ledger as ok" bash -c "[ \"\$(sqlite3 '$T/ledger.db' \"select count(*) from events where kind='tool' and status='ok'\")\" = 1 ]"
