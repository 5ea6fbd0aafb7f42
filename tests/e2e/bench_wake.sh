#!/usr/bin/env bash
# The benchmark's wake-up calibration (tests/bench/wake.c): it measures both
# placements and reports sorted percentiles, and refuses what it cannot do.
# It times nothing here: the figures are only checked to be figures.
source "$(dirname "$0")/lib.sh"
WAKE="$ODOCK_BUILD/bench/wake"
[ -x "$WAKE" ] || { fail "$WAKE is built (make rel / make san)"; exit 1; }
# two cores this process may use (one twice on a single-core machine)
read -r A B < <(python3 -c 'import os; c = sorted(os.sched_getaffinity(0)); print(c[0], c[1] if len(c) > 1 else c[0])')
NONE=$(python3 -c 'import os; print(max(os.sched_getaffinity(0)) + 1)')

if timeout 60 "$WAKE" --cores "$A,$B" --rounds 1000 >"$T/w.json" 2>"$T/w.err"; then ok "wake runs on cores $A,$B"
else fail "wake on cores $A,$B"; sed 's/^/    # /' "$T/w.err"; fi
eq "it says where and how often" "$(jq -r '"\(.cores) \(.rounds)"' "$T/w.json" 2>/dev/null)" "$A,$B 1000"
check "every figure is a positive number of µs, p99 no lower than p50" \
  jq -e '([.cross_p50_us, .cross_p99_us, .same_p50_us, .same_p99_us] | all(type == "number" and . > 0))
         and .cross_p99_us >= .cross_p50_us and .same_p99_us >= .same_p50_us' "$T/w.json"

expect_fail "too few rounds: usage, exit 2" '^usage: wake' "$WAKE" --rounds 5
expect_fail "a malformed core list: usage" '^usage: wake' "$WAKE" --cores 1
expect_fail "an unknown option: usage" '^usage: wake' "$WAKE" --seconds 3
expect_fail "a core it may not use as the partner: named" "core $NONE" "$WAKE" --cores "$A,$NONE" --rounds 1000
expect_fail "a core it may not use itself: named" "cannot run on core $NONE" "$WAKE" --cores "$NONE,$A" --rounds 1000
"$WAKE" --cores "$NONE,$A" --rounds 1000 >/dev/null 2>&1
eq "a refused core exits 1" "$?" 1
