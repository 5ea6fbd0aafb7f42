#!/usr/bin/env bash
# Governance of MCP traffic: tool grants filter tools/list and deny calls
# with reason tool_not_allowed; guardrails mask and block tool results; every
# call, denials included, leaves one ledger row.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mcp_lib.bash"
mcp_need_node
mcp_config "$T/odock.json"
GOVKEY=$(mcp_key mcp-gov --tools 'everything/*,!everything/get-sum,fake/*')
export ODOCK_API_KEY=$GOVKEY
[ -n "$ODOCK_API_KEY" ] && ok "a key with tool grants" || fail "a key with tool grants"

run_client governed "$T/odock.json"

q() { sqlite3 "$T/ledger.db" "$1"; }
eq "ledger: the denied call is recorded" "$(q "SELECT status||' '||reason FROM events WHERE target='everything/get-sum'")" "denied tool_not_allowed"
eq "ledger: the blocked result is recorded" "$(q "SELECT count(*) FROM events WHERE target='fake/leak_secret' AND reason LIKE 'guardrail%'")" "1"
eq "ledger: the masked result is an ok call" "$(q "SELECT status FROM events WHERE target='fake/leak_email'")" "ok"
eq "ledger: one row per call" "$(q "SELECT count(*) FROM events WHERE kind='tool'")" "4"
eq "ledger: every answered call has its bytes in and out" \
  "$(q "SELECT count(*) FROM events WHERE kind='tool' AND status='ok' AND bytes_in > 40 AND bytes_out > 40")" "2"
check "odock audit --by tool lists MCP calls" sh -c "'$ODOCK' audit --db '$T/ledger.db' --by tool --format json | grep -q 'fake/hello'"

# a key with no MCP grant sees no tools at all
export ODOCK_API_KEY=$(mcp_key mcp-none --tools 'nothing/*')
CALL2='{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"fake__hello","arguments":{}}}'
{
  echo '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}'
  echo '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
  echo "$CALL2"
} | timeout 40 "$ODOCK" mcp --config "$T/odock.json" --db "$T/ledger.db" >"$T/none.out" 2>"$T/none.err"
check "a key without grants gets an empty tools/list" node -e '
  const l = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse);
  const a = l.find((m) => m.id === 1); process.exit(a && a.result.tools.length === 0 ? 0 : 1)' "$T/none.out"
check "and its calls are denied with error.data.reason" node -e '
  const l = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse);
  const a = l.find((m) => m.id === 2); process.exit(a && a.error.code === -32001 && a.error.data.reason === "tool_not_allowed" ? 0 : 1)' "$T/none.out"
# bytes in and out are the messages' sizes, as for model calls (the body and the answer)
eq "ledger: bytes_in is the request message's size" \
  "$(q "SELECT bytes_in FROM events WHERE target='fake/hello' AND reason='tool_not_allowed'")" "${#CALL2}"
eq "ledger: bytes_out is the answer's size" \
  "$(q "SELECT bytes_out FROM events WHERE target='fake/hello' AND reason='tool_not_allowed'")" \
  "$(grep '"id":2' "$T/none.out" | tr -d '\n' | wc -c)"

# A result goes to the client as the server wrote it (no second printing), but
# only when that text says exactly what the guardrails inspected: with a
# \u0000 (U+FFFD in the inspected tree) it is printed from the tree.
export ODOCK_API_KEY=$(mcp_key mcp-raw --tools 'fake/*')
{
  echo '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}'
  n=1; for w in spaced nul dupkey esckey badreq; do
    echo '{"jsonrpc":"2.0","id":'$n',"method":"tools/call","params":{"name":"fake__raw","arguments":{"which":"'$w'"}}}'
    n=$((n + 1))
  done
} | timeout 40 "$ODOCK" mcp --config "$T/odock.json" --db "$T/ledger.db" >"$T/raw.out" 2>"$T/raw.err"
check "an unchanged result is relayed byte for byte" grep -qF \
  '"id":1,"result":{"content": [ {"type": "text", "text": "spaced out"} ] , "isError": false}}' "$T/raw.out"
check "a result with \\u0000 is inspected whole: the key after it is blocked" grep -q \
  '"id":2,"error":{"code":-32001,"message":"Blocked by guardrail aws_key"' "$T/raw.out"
# a name given twice (however written) is not JSON odock accepts, from an
# upstream either: the message is dropped and the call ends in an error
check "a result given twice: refused, and the call it answers ends at once with an error" grep -qF \
  '"id":3,"error":{"code":-32002,"message":"Upstream sent an unreadable answer (Parse error: \"result\" given twice in one object)"' "$T/raw.out"
check "a result under an escaped key, given twice: refused; its id is not trusted (an escaped key could be another id), so the call ends at its timeout" grep -q '"id":4,"error"' "$T/raw.out"
check "an unreadable request of the server's own under a call's id does not end that call" grep -q \
  '"id":5,"result":{"content":\[{"type":"text","text":"answered"}\]}' "$T/raw.out"
check "... and odock says why" grep -q 'unparsable message (Parse error: "result" given twice in one object)' "$T/raw.err"
check "the key never reaches the client" sh -c "! grep -q AKIA '$T/raw.out'"

# A name given twice in one object: odock would read the first, a server's
# JSON parser (JavaScript's among them) keeps the last. Routing and grants
# would see one tool and the server run another, or guardrails inspect one
# set of arguments and the server get the other: refused as a parse error.
export ODOCK_API_KEY=$GOVKEY
{
  echo '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}'
  echo '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"everything__echo","arguments":{"a":1,"b":2},"name":"get-sum"}}'
  echo '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"fake__echo_args","arguments":{"x":"fine"},"arguments":{"x":"'"$AWS_EXAMPLE"'"}}}'
  echo '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"fake__echo_args","arguments":{"x":"fine"}}}'
} | timeout 40 "$ODOCK" mcp --config "$T/odock.json" --db "$T/ledger.db" >"$T/dup.out" 2>"$T/dup.err"
errors_of() { node -e '
  const l = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse);
  console.log(l.filter((m) => m.error && m.id === null).map((m) => m.error.code + " " + m.error.message).join("|"))' "$T/dup.out"; }
eq "a tool or its arguments given twice: parse errors naming them" "$(errors_of)" \
  '-32700 Parse error: "name" given twice in one object|-32700 Parse error: "arguments" given twice in one object'
check "... the denied tool never ran" sh -c "! grep -q 'sum of' '$T/dup.out'"
check "... and the second arguments never reached the server" sh -c "! grep -q AKIA '$T/dup.out'"
check "the same call without the second member runs" grep -q '"id":3,"result"' "$T/dup.out"

# A client's \u0000: the tree has U+FFFD there, so the server would get other
# text than the client wrote. The request is answered with an error under its
# id; a notification is dropped; the text \\u0000 (a backslash) is fine.
{
  echo '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}'
  echo '{"jsonrpc":"2.0","id":"n1","method":"tools/call","params":{"name":"fake__echo_args","arguments":{"x":"a\u0000'"$AWS_EXAMPLE"'"}}}'
  echo '{"jsonrpc":"2.0","method":"notifications/x\u0000"}'
  echo '{"jsonrpc":"2.0","id":"n2","method":"tools/call","params":{"name":"fake__echo_args","arguments":{"x":"a\\u0000b"}}}'
} | timeout 40 "$ODOCK" mcp --config "$T/odock.json" --db "$T/ledger.db" >"$T/nul.out" 2>"$T/nul.err"
check "a client's \\u0000: Invalid Request under the request's id" grep -qF \
  '"id":"n1","error":{"code":-32600,"message":"Invalid Request: \\u0000 in a string is not accepted"' "$T/nul.out"
check "... nothing else under that id, no answer to the notification, the escaped backslash passed" \
  test "$(grep -c '"id":"n1"' "$T/nul.out"),$(grep -c . "$T/nul.out"),$(grep -c '"id":"n2","result"' "$T/nul.out")" = "1,3,1"
