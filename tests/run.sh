#!/usr/bin/env bash
# Runs every unit test (cmocka, TAP output) and every end-to-end script in
# tests/e2e/ against each build flavour given (build/rel, build/san), counts
# the individual checks, and ends with one line "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
total_pass=0; total_fail=0; failed_names=()

count() { # $1 = name, $2 = output file, $3 = exit code
  local p f
  p=$(grep -cE '^ok ' "$2"); f=$(grep -cE '^not ok ' "$2")
  if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - $1 exited $3"; fi
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - $1 ran no check"; fi
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
  [ "$f" -gt 0 ] && failed_names+=("$1")
  return 0
}

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export CMOCKA_MESSAGE_OUTPUT=TAP

for dir in "$@"; do
  flavour=$(basename "$dir")
  echo "== $flavour"
  for t in "$dir"/tests/test_*; do
    [ -x "$t" ] || continue
    name="$flavour/$(basename "$t")"
    out=$(mktemp)
    (cd "$PWD" && timeout 300 "$t") >"$out" 2>&1; rc=$?
    grep -E '^(not )?ok ' "$out" | sed "s|^|  |"
    [ $rc -ne 0 ] && tail -20 "$out" | sed 's|^|    # |'
    count "$name" "$out" $rc
    rm -f "$out"
  done
  for t in tests/e2e/*.sh; do
    case "$(basename "$t")" in *lib.sh) continue;; esac; [ -f "$t" ] || continue
    name="$flavour/$(basename "$t")"
    out=$(mktemp)
    ODOCK_BUILD="$dir" timeout 600 bash "$t" >"$out" 2>&1; rc=$?
    grep -E '^(not )?ok ' "$out" | sed "s|^|  $(basename "$t"): |"
    if [ $rc -ne 0 ] || grep -qE '^not ok ' "$out"; then tail -30 "$out" | grep -vE '^(not )?ok ' | sed 's|^|    # |'; fi
    count "$name" "$out" $rc
    rm -f "$out"
  done
done
echo
[ ${#failed_names[@]} -gt 0 ] && echo "failing: ${failed_names[*]}"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
