#!/usr/bin/env bash
# odock teams: team grants intersect with key grants, team rate limits count
# every key of the team, and a running server picks changes up live.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_helpers.bash"

K1=$(mkkey alice --team web --models 'mock/*')
K2=$(mkkey bob --team web)
check "teams set" "$ODOCK" teams set web --models 'mock/echo' --rpm 3
eq "teams show --json" "$("$ODOCK" teams show web --json | jq -r '[.models,.rpm,.active_keys]|join(",")')" "mock/echo,3,2"
check "teams list (table)" bash -c "'$ODOCK' teams list | grep -E '^web +2 +mock/echo'"
check "teams set none clears a grant" "$ODOCK" teams set web --models none
eq "grant cleared, limit kept" "$("$ODOCK" teams show web --json | jq -r '[.models,.rpm]|join(",")')" ",3"
expect_fail "unknown team" 'no team "nope"' "$ODOCK" teams show nope
expect_fail "bad pattern" "empty pattern" "$ODOCK" teams set web --models 'a,,b'
expect_fail "bad limit" "--rpm: expected a whole number" "$ODOCK" teams set web --rpm -1
expect_fail "nothing to set" "nothing to set" "$ODOCK" teams set web

echo '{"database": "'"$ODOCK_DB"'", "providers": [{"name": "mock", "type": "mock"}]}' > "$T/odock.json"
start_serve "$T/odock.json"
chat() { # KEY MODEL -> HTTP status
  curl -s -o /dev/null -w '%{http_code}' "$BASE/v1/chat/completions" -H "Authorization: Bearer $1" \
    -H 'content-type: application/json' -d '{"model":"'"$2"'","messages":[{"role":"user","content":"hi"}]}'
}
eq "before: the key's own grant allows mock/tools" "$(chat "$K1" mock/tools)" 200
"$ODOCK" teams set web --models 'mock/echo' --rpm 100 >/dev/null
sleep 0.5 # the server polls the ledger every 100 ms
eq "live: the team grant now excludes mock/tools" "$(chat "$K1" mock/tools)" 403
eq "live: intersection still allows mock/echo" "$(chat "$K1" mock/echo)" 200
eq "a key without a grant gets the team's" "$(chat "$K2" mock/tools)" 403
K3=$(mkkey carol --team data); K4=$(mkkey dave --team data)
"$ODOCK" teams set data --rpm 2 >/dev/null
sleep 0.5
s1=$(chat "$K3" mock/echo); s2=$(chat "$K4" mock/echo); s3=$(chat "$K3" mock/echo)
eq "team rpm counts every key of the team" "$s1,$s2,$s3" "200,200,429"
