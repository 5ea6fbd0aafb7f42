#!/usr/bin/env bash
# odock mcp over stdio with the official SDK client: two upstreams (the
# reference server-everything and our fake), tools/resources/prompts,
# progress, cancellation, sampling, list_changed, crash and restart.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/mcp_lib.bash"
mcp_need_node
mcp_config "$T/odock.json"
export ODOCK_API_KEY=$(mcp_key mcp-e2e)
[ -n "$ODOCK_API_KEY" ] && ok "a key for the MCP client" || fail "a key for the MCP client"

run_client basic "$T/odock.json"
run_client crash "$T/odock.json"

# one ledger row per call: the basic scenario made 1 fake/hello with a name,
# 1 without, and the crash scenario none
rows=$(sqlite3 "$T/ledger.db" "SELECT count(*) FROM events WHERE kind='tool' AND target='fake/hello'")
eq "ledger: one event per tools/call" "$rows" "2"
cancelled=$(sqlite3 "$T/ledger.db" "SELECT count(*) FROM events WHERE target='fake/hang' AND reason='client_closed'")
eq "ledger: a cancelled call is recorded as client_closed" "$cancelled" "1"
cost=$(sqlite3 "$T/ledger.db" "SELECT cost_micros FROM events WHERE target='fake/slow' LIMIT 1")
eq "ledger: the server's price is charged per call" "$cost" "10000"
crashed=$(sqlite3 "$T/ledger.db" "SELECT count(*) FROM events WHERE target='fake/crash' AND status='error'")
eq "ledger: a call lost to a crash is recorded as an error" "$crashed" "1"
