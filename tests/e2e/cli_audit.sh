#!/usr/bin/env bash
# odock audit over a seeded events table: filters, grouping, formats, to the micro-dollar.
. "$(dirname "$0")/lib.sh"

"$ODOCK" keys create --name seed --json >/dev/null   # creates the ledger
now=$(( $(date +%s) * 1000 ))
old=$(( now - 3 * 86400000 ))
sqlite3 "$ODOCK_DB" <<SQL
INSERT INTO events(ts_ms, request_id, key_id, team, kind, target, provider, model, status, http_status, reason,
                   prompt_tokens, completion_tokens, cost_micros, latency_us, attempts)
VALUES
 ($now, 'req_a', 'KEYAAAAA', 'web', 'llm', 'gpt-4o', 'openai', 'gpt-4o', 'ok', 200, NULL, 100, 50, 750, 1000, 1),
 ($now, 'req_b', 'KEYAAAAA', 'web', 'llm', 'gpt-4o', 'openai', 'gpt-4o', 'ok', 200, NULL, 10, 5, 75, 3000, 2),
 ($now, 'req_c', 'KEYBBBBB', 'data', 'llm', 'claude', 'anthropic', 'claude-sonnet-4', 'ok', 200, NULL, 1000, 1000, 18000, 2000, 1),
 ($now, 'req_d', 'KEYBBBBB', 'data', 'llm', 'gpt-4o', NULL, NULL, 'denied', 402, 'budget_exceeded', 0, 0, 0, 20, 0),
 ($now, 'req_e', 'KEYBBBBB', 'data', 'tool', 'github/create_issue', 'github', NULL, 'ok', 200, NULL, 0, 0, 1000, 5000, 1),
 ($now, 'req_f', 'KEYBBBBB', 'data', 'tool', 'github/delete_repo', NULL, NULL, 'denied', 403, 'tool_not_allowed', 0, 0, 0, 10, 0),
 ($old, 'req_g', 'KEYAAAAA', 'web', 'llm', 'gpt-4o', 'openai', 'gpt-4o', 'error', 502, 'upstream_error', 5, 0, 1, 9000, 3);
SQL

by_model=$("$ODOCK" audit --by model --format json)
eq "by model: groups" "$(jq -r 'map(.model)|join(",")' <<<"$by_model")" "claude,gpt-4o"
eq "by model: gpt-4o requests, denials, errors" "$(jq -r '.[] | select(.model=="gpt-4o") | [.requests,.denied,.errors]|join(",")' <<<"$by_model")" "4,1,1"
eq "by model: gpt-4o cost to the micro-dollar" "$(jq -r '.[] | select(.model=="gpt-4o") | [.cost,.cost_micros]|join(",")' <<<"$by_model")" "0.000826,826"
eq "by model: tokens" "$(jq -r '.[] | select(.model=="gpt-4o") | [.prompt_tokens,.completion_tokens]|join(",")' <<<"$by_model")" "115,55"
eq "by model: p50/p95 latency over calls made" "$(jq -r '.[] | select(.model=="gpt-4o") | [.p50_latency_us,.p95_latency_us]|join(",")' <<<"$by_model")" "3000,9000"
eq "--since 24h drops the old event" "$("$ODOCK" audit --by model --since 24h --format json | jq -r '.[] | select(.model=="gpt-4o") | .requests')" 3
eq "by key" "$("$ODOCK" audit --by key --format json | jq -r 'map("\(.key)=\(.cost_micros)")|join(",")')" "KEYAAAAA=826,KEYBBBBB=19000"
eq "by tool counts only tool calls" "$("$ODOCK" audit --by tool --format json | jq -r 'map("\(.tool)=\(.requests)")|join(",")')" "github/create_issue=1,github/delete_repo=1"
eq "by reason" "$("$ODOCK" audit --by reason --status denied --format json | jq -r 'map(.reason)|join(",")')" "budget_exceeded,tool_not_allowed"
eq "by team with filter --team" "$("$ODOCK" audit --by team --team data --format json | jq -r '.[0] | [.team,.requests,.cost]|join(",")')" "data,4,0.019000"
eq "by day has two days" "$("$ODOCK" audit --by day --format json | jq length)" 2
eq "filter --status error" "$("$ODOCK" audit --status error --format json | jq -r 'map(.request_id)|join(",")')" "req_g"
eq "filter --tool glob" "$("$ODOCK" audit --tool 'github/*' --format json | jq length)" 2
eq "filter --reason" "$("$ODOCK" audit --reason budget_exceeded --format json | jq -r '.[0].request_id')" req_d
eq "event list is newest first with --limit" "$("$ODOCK" audit --limit 2 --format json | jq length)" 2
eq "csv header" "$("$ODOCK" audit --by provider --format csv | head -1)" "provider,requests,denied,errors,prompt_tokens,completion_tokens,cost,cost_micros,p50_latency_us,p95_latency_us"
eq "csv row" "$("$ODOCK" audit --by provider --format csv | grep '^anthropic')" "anthropic,1,0,0,1000,1000,0.018000,18000,2000,2000"
check "table output lines up" bash -c "'$ODOCK' audit --by model | grep -E '^gpt-4o +4 +1 +1 +115 +55 +0.000826'"
eq "audit show" "$("$ODOCK" audit show req_c --format json | jq -r '[.model,.cost,.status]|join(",")')" "claude-sonnet-4,0.018000,ok"
eq "audit tail prints the last N oldest first" "$("$ODOCK" audit tail --limit 2 --format json | jq -r .request_id | tr '\n' ,)" "req_f,req_g,"

# tail -f picks up new events
("$ODOCK" audit tail -f --limit 1 --format json > "$T/tail.out" 2>&1) & tp=$!; _pids+=($tp)
sleep 0.5
sqlite3 "$ODOCK_DB" "INSERT INTO events(ts_ms, request_id, kind, status) VALUES($now, 'req_new', 'llm', 'ok')"
for _ in $(seq 30); do grep -q req_new "$T/tail.out" && break; sleep 0.1; done
kill $tp 2>/dev/null; wait $tp 2>/dev/null
check "tail -f streams new events" grep -q req_new "$T/tail.out"

expect_fail "bad --by" "--by: expected key" "$ODOCK" audit --by colour
expect_fail "bad --since" "--since: expected" "$ODOCK" audit --since yesterday
expect_fail "bad --status" "--status: expected ok" "$ODOCK" audit --status maybe
expect_fail "bad --format" "--format: expected" "$ODOCK" audit --format xml
expect_fail "show unknown request" "no event with request id" "$ODOCK" audit show req_zzz
