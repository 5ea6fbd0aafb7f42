#!/usr/bin/env bash
# odock keys / budget / config: round trips on a real SQLite file, the real binary.
. "$(dirname "$0")/lib.sh"

# ---- create ----
out=$("$ODOCK" keys create --name ci-bot --team platform --user alice --models 'gpt-4o*,!*-preview' \
      --tools 'github/*' --budget 25 --period daily --rpm 60 --tpm 1000 --max-parallel 4 --expires 30d --json)
check "keys create --json succeeds" test -n "$out"
id=$(jq -r .id <<<"$out"); key=$(jq -r .key <<<"$out"); secret=${key##*_}
eq "id is 8 base62 characters" "$(grep -cE '^[0-9A-Za-z]{8}$' <<<"$id")" 1
eq "key is odk_<id>_<32 base62>" "$(grep -cE "^odk_${id}_[0-9A-Za-z]{32}$" <<<"$key")" 1
eq "create reports the budget in micros" "$(jq -r .budget.limit_micros <<<"$out")" 25000000
eq "create reports the budget in dollars" "$(jq -r .budget.limit <<<"$out")" "25.000000"
eq "create reports grants" "$(jq -r .models <<<"$out")" 'gpt-4o*,!*-preview'
eq "create reports limits" "$(jq -r '[.rpm,.tpm,.max_parallel]|join(",")' <<<"$out")" "60,1000,4"

# the secret is stored only as its SHA-256: not in the file, in any encoding
sqlite3 "$ODOCK_DB" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
check "secret is not in the ledger file" bash -c "! grep -qa '$secret' '$ODOCK_DB'"
hash=$(printf %s "$secret" | sha256sum | cut -d' ' -f1)
eq "ledger stores the secret's SHA-256" "$(sqlite3 "$ODOCK_DB" "SELECT lower(hex(secret_hash)) FROM keys WHERE id='$id'")" "$hash"

# ---- list / show never print the secret ----
list=$("$ODOCK" keys list)
check "keys list shows the key" grep -q "ci-bot" <<<"$list"
check "keys list has a header" grep -qE '^ID +NAME +TEAM' <<<"$list"
check "keys list never prints the secret" bash -c "! grep -q '$secret' <<<'$list'"
eq "keys list --json has the key" "$(jq -r '.[0].name' < <("$ODOCK" keys list --json))" ci-bot
eq "keys list --json has no secret field" "$(jq -r '.[0].key' < <("$ODOCK" keys list --json))" null
eq "keys show by name" "$(jq -r .id < <("$ODOCK" keys show ci-bot --json))" "$id"
eq "keys show by id" "$(jq -r .name < <("$ODOCK" keys show "$id" --json))" ci-bot
check "keys show (table) never prints the secret" bash -c "! '$ODOCK' keys show ci-bot | grep -q '$secret'"
eq "keys list --team filters" "$("$ODOCK" keys list --team nobody --json | jq length)" 0

# ---- update ----
check "keys update changes grants and limits" "$ODOCK" keys update ci-bot --models 'claude-*' --rpm 5 --expires never
eq "update applied" "$(jq -r '[.models,.rpm,.expires]|join(",")' < <("$ODOCK" keys show ci-bot --json))" "claude-*,5,"
eq "update kept other fields" "$(jq -r '[.team,.user,.tpm]|join(",")' < <("$ODOCK" keys show ci-bot --json))" "platform,alice,1000"

# ---- rotate ----
rot=$("$ODOCK" keys rotate ci-bot --grace 1h --json)
newkey=$(jq -r .key <<<"$rot")
eq "rotate keeps the id" "$(jq -r .id <<<"$rot")" "$id"
check "rotate makes a new secret" test "$newkey" != "$key"
check "rotate reports the grace period" test "$(jq -r .previous_secret_valid_until <<<"$rot")" != null
eq "rotate keeps grants and budget" "$(jq -r '[.models,.budget.limit_micros]|join(",")' <<<"$rot")" "claude-*,25000000"
eq "old hash kept for the grace period" "$(sqlite3 "$ODOCK_DB" "SELECT lower(hex(prev_hash)) FROM keys WHERE id='$id'")" "$hash"

# ---- revoke ----
check "keys revoke" "$ODOCK" keys revoke "$id"
eq "revoked key reported as such" "$(jq -r .status < <("$ODOCK" keys show "$id" --json))" revoked
eq "revoked key hidden from list" "$("$ODOCK" keys list --json | jq length)" 0
eq "revoked key shown with --all" "$("$ODOCK" keys list --all --json | jq -r '.[0].status')" revoked

# ---- expired ----
"$ODOCK" keys create --name shortlived --expires 2d --json >/dev/null
eq "a key past its expiry is reported expired" \
   "$(ODOCK_FAKE_NOW=$(( $(date +%s) * 1000 + 3 * 86400000 )) "$ODOCK" keys show shortlived --json | jq -r .status)" expired

# ---- bad input: a one-line error, non-zero exit, nothing changed ----
before=$(sqlite3 "$ODOCK_DB" "SELECT count(*) FROM keys")
expect_fail "create without --name" "--name is required" "$ODOCK" keys create
expect_fail "duplicate name" "already exists" "$ODOCK" keys create --name shortlived
expect_fail "malformed budget 25.0x" "--budget: expected an amount" "$ODOCK" keys create --name b1 --budget 25.0x
expect_fail "negative budget -3" "--budget: expected an amount" "$ODOCK" keys create --name b2 --budget -3
expect_fail "too many decimals" "at most 6 decimals" "$ODOCK" keys create --name b3 --budget 0.0000001
expect_fail "bad period" "--period: expected daily" "$ODOCK" keys create --name b4 --budget 5 --period yearly
expect_fail "bad rpm" "--rpm: expected a whole number" "$ODOCK" keys create --name b5 --rpm lots
expect_fail "bad expiry" "--expires: expected" "$ODOCK" keys create --name b6 --expires tomorrow
expect_fail "past expiry" "in the past" "$ODOCK" keys create --name b7 --expires 2001-01-01
expect_fail "empty pattern" "empty pattern" "$ODOCK" keys create --name b8 --models 'gpt-4o,,x'
expect_fail "unknown flag" "unknown flag --colour" "$ODOCK" keys create --name b9 --colour blue
expect_fail "missing value" "--team needs a value" "$ODOCK" keys create --name b10 --team
expect_fail "unknown key" "no key with id or name" "$ODOCK" keys show nosuchkey
expect_fail "unknown subcommand" "unknown command" "$ODOCK" keys frobnicate
expect_fail "bad metadata" "--metadata: expected a JSON object" "$ODOCK" keys create --name b11 --metadata '[1'
eq "bad input changed nothing" "$(sqlite3 "$ODOCK_DB" "SELECT count(*) FROM keys")" "$before"
expect_fail "missing ledger is named" "no ledger at $T/none.db" "$ODOCK" keys list --db "$T/none.db"
printf 'this is not a database, just text that is long enough to be read as a header....................' > "$T/corrupt.db"
expect_fail "corrupt ledger is reported" "ledger .*corrupt.db" "$ODOCK" keys list --db "$T/corrupt.db"
check "--help works" "$ODOCK" keys create --help

# ---- two processes writing one ledger at once lose nothing ----
for p in 1 2; do
  ( for i in $(seq 1 15); do "$ODOCK" keys create --name "p$p-$i" --json >/dev/null || echo "fail $p $i"; done ) > "$T/par$p.out" 2>&1 &
done
wait
eq "concurrent creates all landed" "$(sqlite3 "$ODOCK_DB" "SELECT count(*) FROM keys WHERE name LIKE 'p_-%'")" 30
eq "concurrent creates reported no failure" "$(cat "$T"/par*.out)" ""
