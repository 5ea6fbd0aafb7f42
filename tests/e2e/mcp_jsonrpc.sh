#!/usr/bin/env bash
# odock mcp with raw JSON lines: malformed JSON-RPC, unknown methods, bad
# params, oversized messages, batches per protocol version, progress token
# remapping, and stdout carrying nothing but protocol messages.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mcp_lib.bash"
mcp_need_node
mcp_config "$T/odock.json"
export ODOCK_API_KEY=$(mcp_key mcp-raw)

init() { printf '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"%s","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}\n' "$1"; }
# run_raw NAME VERSION: sends $T/NAME.in after initialize; answers in $T/NAME.out
run_raw() {
  { init "$2"; echo '{"jsonrpc":"2.0","method":"notifications/initialized"}'; cat "$T/$1.in"; } |
    timeout 40 "$ODOCK" mcp --config "$T/odock.json" --db "$T/ledger.db" >"$T/$1.out" 2>"$T/$1.err"
  echo $? >"$T/$1.rc"
}
# answer NAME ID EXPR: evaluates EXPR (JS, with `a` = the answer whose id is ID)
answer() {
  node -e '
    const fs = require("fs");
    const lines = fs.readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean);
    const all = lines.map((l) => JSON.parse(l));
    const id = JSON.parse(process.argv[2]);
    const a = all.find((m) => !Array.isArray(m) && JSON.stringify(m.id) === JSON.stringify(id) && (m.result || m.error));
    const ok = (() => { try { return eval(process.argv[3]); } catch (e) { return false; } })();
    if (!ok) { console.log(JSON.stringify(a || null).slice(0, 400)); process.exit(1); }
  ' "$T/$1.out" "$2" "$3"
}

big=$(head -c 5000000 /dev/zero | tr '\0' 'x')
cat >"$T/bad.in" <<IN
this is not json
{"jsonrpc":"2.0","id":1}
{"id":2,"method":"ping"}
{"jsonrpc":"2.0","id":3,"method":"no/such/method"}
{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":42}}
{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"nobody__nothing"}}
{"jsonrpc":"2.0","id":6,"method":"tools/list","params":[1,2]}
{"jsonrpc":"2.0","id":7,"method":"ping","params":{"x":"$big"}}
{"jsonrpc":"2.0","id":8,"method":"ping"}
[{"jsonrpc":"2.0","id":9,"method":"ping"}]
{"jsonrpc":"2.0","id":10,"method":"tools/list","params":{"cursor":"bogus"}}
{"jsonrpc":"2.0","id":"s-11","method":"tools/call","params":{"name":"fake__slow","arguments":{"ms":150},"_meta":{"progressToken":"tok-A"}}}
{"jsonrpc":"2.0","id":12,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}
IN
run_raw bad 2025-06-18
eq "odock mcp exits 0 when stdin closes" "$(cat "$T/bad.rc")" "0"
check "initialize negotiates the client's version" answer bad 0 'a.result.protocolVersion === "2025-06-18" && a.result.serverInfo.name === "odock"'
check "not JSON: -32700 with id null" node -e '
  const l = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse);
  process.exit(l.some((m) => m.id === null && m.error && m.error.code === -32700) ? 0 : 1)' "$T/bad.out"
check "no method nor result: -32600" answer bad 1 'a.error.code === -32600'
check "no jsonrpc member: -32600" answer bad 2 'a.error.code === -32600'
check "unknown method: -32601" answer bad 3 'a.error.code === -32601'
check "tools/call with a non-string name: -32602" answer bad 4 'a.error.code === -32602'
check "tools/call of an unknown tool: -32602" answer bad 5 'a.error.code === -32602'
check "params not an object: -32602" answer bad 6 'a.error.code === -32602'
check "an oversized message gets an error, not a crash" node -e '
  const l = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse);
  process.exit(l.some((m) => m.error && m.error.data && m.error.data.reason === "message_too_large") ? 0 : 1)' "$T/bad.out"
check "the next message after it is answered" answer bad 8 'a.result && Object.keys(a.result).length === 0'
check "a batch under 2025-06-18 is refused with -32600" node -e '
  const l = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse);
  process.exit(l.some((m) => m.id === null && m.error && m.error.code === -32600 && /batch/i.test(m.error.message)) ? 0 : 1)' "$T/bad.out"
check "an unknown cursor: -32602" answer bad 10 'a.error.code === -32602'
check "a second initialize: -32600" answer bad 12 'a.error.code === -32600'
check "tools/call answered with the client's own string id" answer bad '"s-11"' 'a.result.content[0].text === "slow done"'
check "progress notifications carry the client's token" node -e '
  const l = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse);
  const p = l.filter((m) => m.method === "notifications/progress");
  process.exit(p.length === 3 && p.every((m) => m.params.progressToken === "tok-A") ? 0 : 1)' "$T/bad.out"
check "stdout carries only JSON-RPC messages" node -e '
  const l = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean);
  process.exit(l.every((x) => { try { const m = JSON.parse(x); return (Array.isArray(m) ? m : [m]).every((y) => y.jsonrpc === "2.0"); } catch { return false; } }) ? 0 : 1)' "$T/bad.out"
if grep -qE "AddressSanitizer|runtime error:" "$T/bad.err"; then fail "no sanitizer report"; grep -A20 AddressSanitizer "$T/bad.err" | head -30 | sed 's/^/    # /'; else ok "no sanitizer report"; fi

# batches are a 2025-03-26 feature
cat >"$T/batch.in" <<'IN'
[{"jsonrpc":"2.0","id":"b1","method":"ping"},{"jsonrpc":"2.0","id":"b2","method":"tools/call","params":{"name":"fake__hello","arguments":{"name":"batch"}}},{"jsonrpc":"2.0","method":"notifications/whatever"},{"jsonrpc":"2.0","id":"b3","method":"nope"}]
[]
[{"jsonrpc":"2.0","id":"n1","method":"ping","params":{"x":"a\u0000"}},{"jsonrpc":"2.0","id":"n2","method":"ping"},{"jsonrpc":"2.0","method":"notifications/whatever"}]
IN
run_raw batch 2025-03-26
check "a batch under 2025-03-26 gets one array answer" node -e '
  const l = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse);
  const b = l.find((m) => Array.isArray(m) && m.some((x) => x.id === "b1"));
  const by = (id) => b && b.find((m) => m.id === id);
  process.exit(b && b.length === 3 && by("b1").result && by("b2").result.content[0].text === "hello batch from fake" && by("b3").error.code === -32601 ? 0 : 1)' "$T/batch.out"
check "an empty batch: -32600" node -e '
  const l = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse);
  process.exit(l.some((m) => !Array.isArray(m) && m.id === null && m.error && m.error.code === -32600) ? 0 : 1)' "$T/batch.out"
check "a batch holding \\u0000: every request in it answered -32600 (the tree would differ from the text)" node -e '
  const l = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse);
  const b = l.filter((m) => Array.isArray(m)).find((a) => a.some((m) => m.id === "n1"));
  process.exit(b && b.length === 2 && b.every((m) => m.error && m.error.code === -32600 && /u0000/.test(m.error.message)) ? 0 : 1)' "$T/batch.out"

# an unsupported version gets the latest; 2024-11-05 is kept
echo '{"jsonrpc":"2.0","id":1,"method":"ping"}' >"$T/v.in"
run_raw v 1999-01-01
check "an unknown protocol version gets the latest" answer v 0 'a.result.protocolVersion === "2025-11-25"'
run_raw v 2024-11-05
check "2024-11-05 is negotiated as asked" answer v 0 'a.result.protocolVersion === "2024-11-05"'

# no key, a bad key: refused at start with a reason on stderr
expect_fail "odock mcp without a key exits non-zero" "invalid_key|key" env -u ODOCK_API_KEY "$ODOCK" mcp --config "$T/odock.json" --db "$T/ledger.db" </dev/null
expect_fail "odock mcp with a bad key exits non-zero" "invalid_key|key" env ODOCK_API_KEY=odk_nope_nope "$ODOCK" mcp --config "$T/odock.json" --db "$T/ledger.db" </dev/null
echo "$ODOCK_API_KEY" >"$T/key"
echo '{"jsonrpc":"2.0","id":1,"method":"ping"}' | env -u ODOCK_API_KEY timeout 30 "$ODOCK" mcp --key-file "$T/key" --config "$T/odock.json" --db "$T/ledger.db" >"$T/kf.out" 2>/dev/null
check "--key-file is read" grep -q '"id":1' "$T/kf.out"
