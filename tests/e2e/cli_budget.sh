#!/usr/bin/env bash
# odock budget set / show / reset, to the micro-dollar.
. "$(dirname "$0")/lib.sh"

id=$("$ODOCK" keys create --name app --team web --json | jq -r .id)
check "budget set on a key" "$ODOCK" budget set --key app --limit 12.345678 --period weekly
check "budget set on a team" "$ODOCK" budget set --team web --limit 100
check "budget set global" "$ODOCK" budget set --global --limit 1000.5 --period total
json=$("$ODOCK" budget show --json)
eq "three budgets" "$(jq length <<<"$json")" 3
eq "key budget exact" "$(jq -r '.[] | select(.scope=="key") | [.limit,.limit_micros,.period,.subject,.name] | join(",")' <<<"$json")" \
   "12.345678,12345678,weekly,$id,app"
eq "team budget default period monthly" "$(jq -r '.[] | select(.scope=="team") | [.limit,.period] | join(",")' <<<"$json")" "100.000000,monthly"
eq "global total has no reset" "$(jq -r '.[] | select(.scope=="global") | .next_reset' <<<"$json")" null
eq "show --key filters" "$("$ODOCK" budget show --key "$id" --json | jq length)" 1

# spending recorded by a server, then reset
sqlite3 "$ODOCK_DB" "UPDATE budgets SET spent_micros = 2000001, held_micros = 345678 WHERE scope='key'"
eq "remaining = limit - spent - held" "$("$ODOCK" budget show --key app --json | jq -r '.[0] | [.spent,.held,.remaining,.remaining_micros]|join(",")')" \
   "2.000001,0.345678,9.999999,9999999"
check "table shows the key budget" bash -c "'$ODOCK' budget show | grep -E '^key +$id \(app\) +weekly +12.345678 +2.000001'"
check "budget reset" "$ODOCK" budget reset --key app
eq "reset sets spent to 0" "$("$ODOCK" budget show --key app --json | jq -r '.[0].spent_micros')" 0
check "changing the limit keeps spent" bash -c "sqlite3 '$ODOCK_DB' \"UPDATE budgets SET spent_micros=5 WHERE scope='team'\" && '$ODOCK' budget set --team web --limit 50"
eq "limit changed, spent kept" "$("$ODOCK" budget show --team web --json | jq -r '.[0] | [.limit_micros,.spent_micros]|join(",")')" "50000000,5"

# periods roll over at UTC calendar boundaries (clock pinned)
sqlite3 "$ODOCK_DB" "UPDATE budgets SET spent_micros = 777 WHERE scope='key'"
eq "next week reads as a fresh period" \
   "$(ODOCK_FAKE_NOW=$(( $(date +%s) * 1000 + 8 * 86400000 )) "$ODOCK" budget show --key app --json | jq -r '.[0].spent_micros')" 0

# bad input
expect_fail "set without scope" "say whose budget" "$ODOCK" budget set --limit 5
expect_fail "set without limit" "--limit is required" "$ODOCK" budget set --global
expect_fail "two scopes" "only one of" "$ODOCK" budget set --global --team web --limit 5
expect_fail "malformed amount" "--limit: expected an amount" "$ODOCK" budget set --global --limit 5,00
expect_fail "unknown key" "no key with id or name \"ghost\"" "$ODOCK" budget set --key ghost --limit 5
expect_fail "reset without budget" "has no budget" "$ODOCK" budget reset --team nobudget
expect_fail "bad period" "--period: expected" "$ODOCK" budget set --global --limit 1 --period fortnightly
eq "bad input changed nothing" "$("$ODOCK" budget show --json | jq -r 'map(.limit_micros)|join(",")')" "1000500000,12345678,50000000"
