#!/usr/bin/env bash
# busy_poll_us: after I/O the loop keeps polling without sleeping for that
# long, then sleeps again. Checked by the CPU time the process spends (ticks
# of /proc/PID/stat), not by speed: it spins after traffic (plain HTTP, TLS,
# odock mcp on stdio), it does not spin when idle, and it does not spin at
# all with the option off.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_helpers.bash"

# ---- the config field ----
echo '{"busy_poll_us": -1}' >"$T/neg.json"
expect_fail "busy_poll_us below 0 is refused, naming the field" 'busy_poll_us: must be between 0 and 1000000' \
  "$ODOCK" config check --config "$T/neg.json"
echo '{"busy_poll_us": "50"}' >"$T/str.json"
expect_fail "busy_poll_us that is not a number is refused" 'busy_poll_us' "$ODOCK" config check --config "$T/str.json"
mkcfg() { # BUSY_US [extra top-level JSON members]
  printf '{"database": "%s", "busy_poll_us": %s, "providers": [{"name": "mock", "type": "mock"}]%s}\n' \
    "$ODOCK_DB" "$1" "${2:-}"
}
mkcfg 400000 >"$T/spin.json"
mkcfg 0 >"$T/off.json"
check "config check shows busy polling" grep -q '^busy poll   400000 us after I/O$' <("$ODOCK" config check --config "$T/spin.json")
check "config check says nothing of it when off" bash -c "! '$ODOCK' config check --config '$T/off.json' | grep -q 'busy poll'"

# ticks PID SECONDS: CPU ticks (user + system, 100 a second) PID uses over SECONDS
ticks() {
  local a b
  a=$(awk '{print $14 + $15}' "/proc/$1/stat")
  sleep "$2"
  b=$(awk '{print $14 + $15}' "/proc/$1/stat")
  echo $((b - a))
}
# within LO HI VALUE
within() { [ "$3" -ge "$1" ] && [ "$3" -le "$2" ]; }
# spins_then_sleeps WHAT PID: the loop spins right after the I/O just done,
# and is idle again once busy_poll_us (0.4 s) has passed
spins_then_sleeps() {
  local spin idle
  spin=$(ticks "$2" 0.25)
  check "$1: the loop spins after it ($spin of 25 ticks)" within 6 100 "$spin"
  sleep 0.3
  idle=$(ticks "$2" 0.5)
  check "$1: idle again once busy_poll_us has passed ($idle of 50 ticks)" within 0 10 "$idle"
}
KEY=$(mkkey spin)
CHAT='{"model":"mock/echo","messages":[{"role":"user","content":"hi"}]}'

# ---- plain HTTP: spins for 0.4 s after a request, then sleeps ----
start_serve "$T/spin.json"
sleep 1 # start-up I/O is over, and its spin with it
idle=$(ticks "$SERVE_PID" 0.5)
check "busy polling: idle before traffic ($idle of 50 ticks)" within 0 10 "$idle"
post /v1/chat/completions "$KEY" "$CHAT" >/dev/null
eq "busy polling: the request is served" "$(status)" 200
spins_then_sleeps "busy polling, a request" "$SERVE_PID"
stop_serve "busy polling: odock serve exits cleanly on SIGTERM"

# ---- off: the same request, no spinning ----
start_serve "$T/off.json"
sleep 1
post /v1/chat/completions "$KEY" "$CHAT" >/dev/null
eq "busy polling off: the request is served" "$(status)" 200
spin=$(ticks "$SERVE_PID" 0.25)
check "busy polling off: no spinning after the request ($spin of 25 ticks)" within 0 3 "$spin"
stop_serve "busy polling off: odock serve exits cleanly on SIGTERM"

# ---- TLS: lws's own HTTP server counts as I/O too ----
if command -v openssl >/dev/null; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 1 -subj /CN=localhost >/dev/null 2>&1
  mkcfg 400000 ", \"tls\": {\"cert\": \"$T/cert.pem\", \"key\": \"$T/key.pem\"}" >"$T/tls.json"
  TP=$(free_port)
  "$ODOCK" serve --config "$T/tls.json" --listen "127.0.0.1:$TP" --db "$ODOCK_DB" >"$T/tls.log" 2>&1 &
  tpid=$!; _pids+=("$tpid")
  wait_port "$TP"
  sleep 1
  code=$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KEY" -d "$CHAT" "https://127.0.0.1:$TP/v1/chat/completions")
  eq "busy polling over TLS: the request is served" "$code" 200
  spins_then_sleeps "busy polling, a request over TLS" "$tpid"
  kill -TERM "$tpid"; wait "$tpid" 2>/dev/null
fi

# ---- odock mcp on stdio ----
coproc MCP { ODOCK_API_KEY="$KEY" exec "$ODOCK" mcp --config "$T/spin.json" --db "$ODOCK_DB" 2>"$T/mcp.log"; }
mpid=$MCP_PID
sleep 1
idle=$(ticks "$mpid" 0.5)
check "odock mcp busy polling: idle before a message ($idle of 50 ticks)" within 0 10 "$idle"
printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}' >&"${MCP[1]}"
IFS= read -r -t 5 line <&"${MCP[0]}" || line=""
check "odock mcp busy polling: initialize is answered" grep -q '"protocolVersion"' <<<"$line"
spins_then_sleeps "odock mcp busy polling, a message" "$mpid"
exec {MCP[1]}>&-
wait "$mpid" 2>/dev/null
echo "1..$_n"
