#!/usr/bin/env bash
# The benchmark's C load client (tests/bench/mcp_load.c) against odock serve's
# /mcp: it completes calls without errors, every call it sent is one ledger
# row, and it does report errors when the calls fail (a wrong key, a tool
# whose result does not echo the message). Only the fake server upstream:
# server-everything takes a second to stop, and this script stops odock.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mcp_lib.bash"
mcp_need_node
LOAD="$ODOCK_BUILD/bench/mcp_load"
[ -x "$LOAD" ] || { fail "$LOAD is built (make rel / make san)"; exit 1; }
cat >"$T/odock.json" <<JSON
{"database": "$T/ledger.db", "mcp_servers": [{"name": "fake", "command": "node", "args": ["$FAKE"]}]}
JSON
KEY=$(mcp_key mcp-load)
PORT=$(free_port); URL="http://127.0.0.1:$PORT/mcp"; SERVE_LOG="$T/serve.log"
"$ODOCK" serve --config "$T/odock.json" --listen "127.0.0.1:$PORT" --db "$T/ledger.db" >"$SERVE_LOG" 2>&1 &
SERVE_PID=$!; _pids+=("$SERVE_PID")
wait_port "$PORT" || { fail "odock serve listens"; cat "$SERVE_LOG"; exit 1; }

# load NAME [mcp_load args...]: its JSON line in $T/NAME.json, stderr in $T/NAME.err, exit code in $T/NAME.rc
load() {
  local name=$1; shift
  timeout 30 "$LOAD" --url "$URL" --warmup 0 "$@" >"$T/$name.json" 2>"$T/$name.err"
  echo $? >"$T/$name.rc"
}
field() { jq -r ".$2" "$T/$1.json" 2>/dev/null; }
show() { sed 's/^/    # /' "$T/$1.err" | head -5; cat "$T/$1.json" | sed 's/^/    # /'; }

# fake__echo_args answers its arguments as JSON text: the message is in it
load main --header "Authorization: Bearer $KEY" --tool echo_args --clients 4 --seconds 1
if [ "$(cat "$T/main.rc")" = 0 ] && [ "$(field main calls)" -gt 0 ] 2>/dev/null && [ "$(field main errors)" = 0 ]; then
  ok "4 sessions for 1 s: $(field main calls) calls ($(field main calls_per_s)/s), no error"
else fail "mcp_load against /mcp (exit $(cat "$T/main.rc"))"; show main; fi
eq "the tool is found under its gateway name" "$(field main tool)" "fake__echo_args"

load nokey --header "Authorization: Bearer odk_AAAAAAAA_wrongwrongwrongwrongwrongwrong12" --tool echo_args --clients 2 --seconds 1
if [ "$(cat "$T/nokey.rc")" = 1 ] && [ "$(field nokey errors)" -gt 0 ] 2>/dev/null && [ "$(field nokey calls)" = 0 ] &&
   grep -q 'HTTP 401' "$T/nokey.err"; then ok "a wrong key: errors reported (HTTP 401), exit 1"
else fail "a wrong key is not reported (exit $(cat "$T/nokey.rc"))"; show nokey; fi

# fake__hello answers "hello world from fake": not an echo of the message
load hello --header "Authorization: Bearer $KEY" --tool hello --clients 1 --seconds 0.3
if [ "$(field hello calls)" = 0 ] && [ "$(field hello errors)" -gt 0 ] 2>/dev/null && grep -q 'lacks the message' "$T/hello.err"; then
  ok "a result without the message sent is an error"
else fail "a result without the message is not an error"; show hello; fi
load hello2 --header "Authorization: Bearer $KEY" --tool hello --no-expect-echo --clients 2 --seconds 0.3
if [ "$(field hello2 calls)" -gt 0 ] 2>/dev/null && [ "$(field hello2 errors)" = 0 ]; then ok "--no-expect-echo: any result that is not an error counts"
else fail "--no-expect-echo"; show hello2; fi

kill -TERM "$SERVE_PID" 2>/dev/null; rc=0; wait "$SERVE_PID" || rc=$?
eq "odock serve exits cleanly" "$rc" "0"
q() { sqlite3 "$T/ledger.db" "$1"; }
eq "ledger: one ok row per echo call sent (total_calls)" "$(q "SELECT count(*) FROM events WHERE kind='tool' AND target='fake/echo_args' AND status='ok'")" "$(field main total_calls)"
eq "ledger: one row per hello call sent" "$(q "SELECT count(*) FROM events WHERE kind='tool' AND target='fake/hello'")" \
   "$(( $(field hello total_calls) + $(field hello2 total_calls) ))"
if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$SERVE_LOG" "$T"/*.err; then
  fail "no sanitizer report"; grep -h -A20 -E 'Sanitizer|runtime error' "$SERVE_LOG" "$T"/*.err | head -30 | sed 's/^/    # /'
else ok "no sanitizer report (odock, mcp_load)"; fi
