# Helpers for tests/e2e/serve_*.sh (sourced after lib.sh; not a test itself).
# A fake upstream (testdata/fake-upstream.mjs), a config pointing at it, keys
# in the temp ledger, odock serve on a free port, the real SDK clients.
NPM_LLM="$ROOT/testdata/npm-llm"
PROVIDER_SECRET="sk-fake-provider-SECRET-7f3a9c"
export FAKE_OPENAI_KEY="$PROVIDER_SECRET" FAKE_ANTHROPIC_KEY="$PROVIDER_SECRET-ant"

need_npm() {
  if [ ! -d "$NPM_LLM/node_modules/openai" ] || [ ! -d "$NPM_LLM/node_modules/@anthropic-ai/sdk" ]; then
    (cd "$NPM_LLM" && npm ci --silent >/dev/null 2>&1) || { echo "not ok - npm ci in testdata/npm-llm failed"; exit 1; }
  fi
}

# start_fake: sets FAKE_PORT, FAKE_LOG
start_fake() {
  FAKE_PORT=$(free_port); FAKE_LOG="$T/fake.log"
  bg node "$ROOT/testdata/fake-upstream.mjs" --port "$FAKE_PORT" --log "$FAKE_LOG"
  wait_port "$FAKE_PORT" || { echo "not ok - fake upstream did not start"; exit 1; }
}

# start_serve CONFIG_FILE [env assignments...]: sets PORT, BASE, SERVE_PID, SERVE_LOG
start_serve() {
  local cfg=$1; shift
  PORT=$(free_port); BASE="http://127.0.0.1:$PORT"; SERVE_LOG="$T/serve.log"
  env "$@" "$ODOCK" serve --config "$cfg" --listen "127.0.0.1:$PORT" --db "$ODOCK_DB" >>"$SERVE_LOG" 2>&1 &
  SERVE_PID=$!; _pids+=("$SERVE_PID")
  wait_port "$PORT" || { echo "not ok - odock serve did not start"; cat "$SERVE_LOG"; exit 1; }
}

# stop_serve DESC: SIGTERM, must exit 0 with no sanitizer report
stop_serve() {
  kill -TERM "$SERVE_PID" 2>/dev/null
  local rc=0; wait "$SERVE_PID" || rc=$?
  if [ "$rc" = 0 ] && ! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$SERVE_LOG"; then
    ok "${1:-odock serve exits cleanly on SIGTERM}"
  else
    fail "${1:-odock serve exits cleanly on SIGTERM} (exit $rc)"; grep -A30 -E 'Sanitizer|runtime error' "$SERVE_LOG" | head -40 | sed 's/^/    # /'
  fi
}

# mkkey NAME [keys create flags...]: prints the full key
mkkey() {
  local name=$1; shift
  "$ODOCK" keys create --name "$name" "$@" --json --db "$ODOCK_DB" | jget key
}

# jget PATH: reads JSON on stdin, prints the value at a dotted path (a.b.0.c)
jget() {
  python3 -c '
import sys, json
v = json.load(sys.stdin)
for p in sys.argv[1].split(".") if sys.argv[1] else []:
    v = v[int(p)] if isinstance(v, list) else v.get(p) if isinstance(v, dict) else None
    if v is None: break
print(json.dumps(v) if isinstance(v, (dict, list)) else ("" if v is None else str(v).lower() if isinstance(v, bool) else v))
' "$1"
}

# client CMD MODEL [TEXT] [OPTS_JSON] with $KEY and $BASE (/v1 added for OpenAI)
client() {
  local cmd=$1 model=$2; shift 2
  local b="$BASE/v1"; case "$cmd" in anthropic*) b="$BASE";; esac
  node "$NPM_LLM/client.mjs" "$cmd" "$b" "$KEY" "$model" "$@"
}

# post PATH KEY JSON [curl args...]: prints the body; status in $T/status, headers in $T/headers
post() {
  local path=$1 key=$2 body=$3; shift 3
  printf '%s' "$body" | curl -s -o "$T/body" -w '%{http_code}' -D "$T/headers" -H "Authorization: Bearer $key" \
    -H 'content-type: application/json' --data-binary @- "$@" "$BASE$path" >"$T/status"
  cat "$T/body"
}
status() { cat "$T/status"; }
header() { grep -i "^$1:" "$T/headers" | head -1 | cut -d: -f2- | tr -d ' \r'; }

# events_count [WHERE]: ledger events (waits for the writer)
events() { sqlite3 "$ODOCK_DB" "SELECT $1 FROM events ${2:-}"; }
wait_events() { # N [WHERE]
  for _ in $(seq 50); do [ "$(events 'count(*)' "${2:-}")" -ge "$1" ] 2>/dev/null && return 0; sleep 0.1; done; return 1
}
