#!/usr/bin/env bash
# tests/bench/run.sh — `make bench`: odock against a direct call and against
# Portkey's open-source gateway, in one run, on one machine, against the same
# fake upstream; then MCP tools/call through odock against direct and
# supergateway. Writes bench/results.md and prints it. A benchmark, not a test:
# it checks nothing but reports every goal as met / not met.
#
# Knobs (environment):
#   BENCH_SECONDS=20   each measured run (wrk, streams, ...)
#   BENCH_WARMUP=10    warm-up before each target's runs (wrk, 50 connections)
#   BENCH_CONNS=50     connections of the loaded runs
#   BENCH_HOLD=1000    concurrent open streams for the RSS figure
#   BENCH_MCP_SECONDS=10 each MCP run (after a 2 s warm-up)
#   BENCH_PORTKEY=1    0 skips Portkey;  BENCH_MCP=1   0 skips the MCP part
#   BENCH_NGINX=1      0 skips nginx as a plain reverse proxy (the cost of a hop, no governance)
#   BENCH_ALLCORES=1   0 skips the runs on every core (odock --workers = cores, nothing pinned)
#   BENCH_BUSY_POLL=50 odock's busy_poll_us for the extra runs with busy polling (0 skips them)
#   BENCH_CPU_GW=1     core of the gateway under test (odock, Portkey)
#   BENCH_CPU_LOAD=0   core of the upstream and the load generators
# Everything listens on 127.0.0.1; every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BENCH_SECONDS=${BENCH_SECONDS:-20}
BENCH_WARMUP=${BENCH_WARMUP:-10}
BENCH_CONNS=${BENCH_CONNS:-50}
BENCH_HOLD=${BENCH_HOLD:-1000}
BENCH_MCP_SECONDS=${BENCH_MCP_SECONDS:-10}
BENCH_PORTKEY=${BENCH_PORTKEY:-1}
BENCH_MCP=${BENCH_MCP:-1}
BENCH_NGINX=${BENCH_NGINX:-1}
BENCH_ALLCORES=${BENCH_ALLCORES:-1}
BENCH_BUSY_POLL=${BENCH_BUSY_POLL:-50}
CPU_GW=${BENCH_CPU_GW:-1}
CPU_LOAD=${BENCH_CPU_LOAD:-0}
BIN=$ROOT/build/rel/bench
ODOCK=$ROOT/odock
NPM_DIR=$ROOT/tests/bench
OUT=$ROOT/bench/results.md

log() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

# ---------------------------------------------------------------- setup
# nginx (optional: the calibration hop) is often in /usr/sbin, outside a user's PATH
nginx_bin() { command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true; }
need_apt=()
for c in wrk jq sqlite3 curl taskset; do command -v "$c" >/dev/null 2>&1 || need_apt+=("$c"); done
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
opt_apt=()   # if these fail to install, the runs that need them are skipped
[ "$BENCH_NGINX" = 1 ] && [ -z "$(nginx_bin)" ] && opt_apt+=(nginx)
if [ ${#need_apt[@]} -gt 0 ] || [ ${#opt_apt[@]} -gt 0 ]; then
  deb() { local c; for c in "$@"; do case $c in taskset) echo util-linux;; nginx) echo nginx-light;; *) echo "$c";; esac; done; }
  mapfile -t pkgs < <(deb "${need_apt[@]}"); mapfile -t opt_pkgs < <(deb "${opt_apt[@]}")
  log "installing ${pkgs[*]} ${opt_pkgs[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  apt_get() { DEBIAN_FRONTEND=noninteractive $sudo apt-get "$@"; }
  apt_get update -qq || true   # if it failed, so does the install below
  [ ${#pkgs[@]} -eq 0 ] || apt_get install -y -qq "${pkgs[@]}" >/dev/null || die "could not install ${pkgs[*]}"
  [ ${#opt_pkgs[@]} -eq 0 ] || apt_get install -y -qq "${opt_pkgs[@]}" >/dev/null ||
    echo "bench: could not install ${opt_pkgs[*]}; the runs that need it are skipped" >&2
fi
[ -x "$ODOCK" ] && [ -x "$BIN/upstream" ] && [ -x "$BIN/streams" ] && [ -x "$BIN/relay" ] && [ -x "$BIN/mcp_load" ] && [ -x "$BIN/wake" ] ||
  die "build first: make bench"
stamp="$NPM_DIR/node_modules/.bench-lock"
if [ ! -f "$stamp" ] || ! cmp -s "$stamp" "$NPM_DIR/package-lock.json"; then
  log "npm ci in tests/bench (Portkey, supergateway, MCP SDK, server-everything)"
  (cd "$NPM_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || die "npm ci failed"
  cp "$NPM_DIR/package-lock.json" "$stamp"
fi
# Enough descriptors for BENCH_HOLD streams (client side, odock's side, its upstream
# side), and no more: lws 4.1 scans a table of `ulimit -n` entries on some closes.
NOFILE=$((BENCH_HOLD * 3 + 1024))
ulimit -n "$NOFILE" 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
[ "$(ulimit -n)" -ge $((BENCH_HOLD * 3 + 100)) ] || echo "bench: open-file limit $(ulimit -n) may be too low for $BENCH_HOLD streams" >&2
NCPU=$(nproc)
if [ "$NCPU" -lt 2 ]; then CPU_GW=0; CPU_LOAD=0; fi

T=$(mktemp -d /tmp/odock-bench.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CPU CMD...: runs CMD in its own process group (so its children
# stop with it), pinned to CPU ("" = unpinned); sets LAST_PID
start() {
  local name=$1 cpu=$2; shift 2
  if [ -n "$cpu" ]; then setsid taskset -c "$cpu" "$@" >"$T/$name.log" 2>&1 &
  else setsid "$@" >"$T/$name.log" 2>&1 & fi
  LAST_PID=$!; pids+=("$LAST_PID")
}
stop() { # PID: SIGTERM, wait up to 10 s
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -TERM -- "-$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # URL [tries]
  for _ in $(seq "${2:-100}"); do curl -s -o /dev/null -m 1 "$1" && return 0; sleep 0.1; done; return 1
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

declare -A R   # results: R[key]=value
# wrk_run KEY URL CONNS SECONDS [ENV=V...]: a wrk run with chat.lua; fills R[KEY.*]
wrk_run() {
  local key=$1 url=$2 c=$3 s=$4; shift 4
  local pin=(taskset -c "$CPU_LOAD"); [ -n "$CPU_LOAD" ] || pin=()
  env "$@" "${pin[@]}" wrk -t1 -c"$c" -d"${s}s" --timeout 10s --latency \
    -s "$NPM_DIR/chat.lua" "$url" >"$T/wrk-$key.out" 2>&1 || true
  local j; j=$(grep '^BENCHJSON ' "$T/wrk-$key.out" | sed 's/^BENCHJSON //')
  [ -n "$j" ] || { cat "$T/wrk-$key.out" >&2; j='{"requests":0,"rps":0,"p50_us":0,"p99_us":0,"err_status":0,"err_connect":0,"err_read":0,"err_timeout":0}'; }
  local f
  for f in requests rps p50_us p99_us err_status err_connect err_read err_timeout; do
    R[$key.$f]=$(jq -r ".$f" <<<"$j")
  done
  printf '   %-22s %9.0f req/s  p50 %6d us  p99 %7d us  (%d requests, %d non-2xx, %d socket errors)\n' \
    "$key" "${R[$key.rps]}" "${R[$key.p50_us]}" "${R[$key.p99_us]}" "${R[$key.requests]}" \
    "${R[$key.err_status]}" $((R[$key.err_connect] + R[$key.err_read] + R[$key.err_timeout])) >&2
}
# ttfb_run KEY PORT [streams args...]
ttfb_run() {
  local key=$1 port=$2; shift 2
  local j; j=$(taskset -c "$CPU_LOAD" "$BIN/streams" ttfb --port "$port" --seconds "$BENCH_SECONDS" "$@" 2>&1 | tail -1)
  local f
  for f in streams streams_per_s ttfb_p50_us ttfb_p99_us total_p50_us errors; do R[$key.$f]=$(jq -r ".$f // 0" <<<"$j" 2>/dev/null || echo 0); done
  printf '   %-22s %9.0f streams/s  TTFB p50 %7.1f us  p99 %8.1f us  (%d errors)\n' "$key" \
    "${R[$key.streams_per_s]}" "${R[$key.ttfb_p50_us]}" "${R[$key.ttfb_p99_us]}" "${R[$key.errors]}" >&2
}
up_chat() { curl -s "http://127.0.0.1:$UP_PORT/stats" | jq -r .chat; }

# the LLM runs against one target: warm-up, 50 conns, 1 conn, streamed 50, TTFB at 1
llm_runs() { # PREFIX URL PORT [ENV=V...] -- [streams args...]
  local p=$1 url=$2 port=$3; shift 3
  local envs=() sargs=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  [ $# -gt 0 ] && shift; sargs=("$@")
  log "$p: warm-up ${BENCH_WARMUP}s"
  wrk_run "$p.warm" "$url" "$BENCH_CONNS" "$BENCH_WARMUP" "${envs[@]}"
  wrk_run "$p.warm_stream" "$url" "$BENCH_CONNS" "$(( (BENCH_WARMUP + 2) / 3 ))" "${envs[@]}" BENCH_STREAM=1
  log "$p: measured runs, ${BENCH_SECONDS}s each"
  wrk_run "$p.c$BENCH_CONNS" "$url" "$BENCH_CONNS" "$BENCH_SECONDS" "${envs[@]}"
  [ -n "${GW_PID:-}" ] && R[$p.rss_load]=$(rss_kb "$GW_PID")
  wrk_run "$p.c1" "$url" 1 "$BENCH_SECONDS" "${envs[@]}"
  wrk_run "$p.s$BENCH_CONNS" "$url" "$BENCH_CONNS" "$BENCH_SECONDS" "${envs[@]}" BENCH_STREAM=1
  ttfb_run "$p.ttfb" "$port" "${sargs[@]}"
}
# hold_run KEY PORT PID MODEL [streams args...]: BENCH_HOLD slow streams open, RSS of PID
# (the upstream drips a stream slowly when the request body names "slow-drip")
hold_run() {
  local key=$1 port=$2 pid=$3 model=$4; shift 4
  local j; j=$(taskset -c "$CPU_LOAD" "$BIN/streams" hold --port "$port" --n "$BENCH_HOLD" --pid "$pid" \
    --hold 1 --timeout 30 --model "$model" "$@" 2>&1 | tail -1)
  R[$key.streaming]=$(jq -r '.streaming // 0' <<<"$j" 2>/dev/null || echo 0)
  R[$key.rss]=$(jq -r '.rss_kb // 0' <<<"$j" 2>/dev/null || echo 0)
  R[$key.open_s]=$(jq -r '.open_seconds // 0' <<<"$j" 2>/dev/null || echo 0)
  printf '   %-22s %d/%d streams open in %ss, RSS %s MB\n' "$key" "${R[$key.streaming]}" "$BENCH_HOLD" \
    "${R[$key.open_s]}" "$(mb "${R[$key.rss]}")" >&2
}

# ---------------------------------------------------------------- the machine's wake-up cost
# What a sleeping process costs to wake here, across the gateway's and the
# load's cores and on one core (tests/bench/wake.c): every relayed request
# pays four cross-core wake-ups that the direct path does not.
if j=$("$BIN/wake" --cores "$CPU_GW,$CPU_LOAD" 2>"$T/wake.err"); then
  for f in cross_p50_us cross_p99_us same_p50_us same_p99_us; do R[wake.$f]=$(jq -r ".$f" <<<"$j"); done
  log "wake-up round trip: ${R[wake.cross_p50_us]} µs across cores $CPU_GW,$CPU_LOAD, ${R[wake.same_p50_us]} µs on one core"
else
  echo "bench: wake: $(cat "$T/wake.err")" >&2
fi
R[haltpoll]=$(cat /sys/module/haltpoll/parameters/guest_halt_poll_ns 2>/dev/null || true)
R[cpuidle]=$(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || true)

# ---------------------------------------------------------------- the upstream
UP_PORT=$(free_port)
DRIP_MS=1000   # a held stream lasts 20 events x 1 s: long enough to count 1,000 of them
start upstream "$CPU_LOAD" "$BIN/upstream" --port "$UP_PORT" --drip-ms "$DRIP_MS"
UP_PID=$LAST_PID
wait_http "http://127.0.0.1:$UP_PORT/stats" || die "the fake upstream did not start"
log "fake upstream on :$UP_PORT (core $CPU_LOAD); alone, with wrk on the other core:"
if [ "$NCPU" -ge 2 ]; then
  env BENCH_STREAM=0 taskset -c "$CPU_GW" wrk -t1 -c"$BENCH_CONNS" -d5s -s "$NPM_DIR/chat.lua" "http://127.0.0.1:$UP_PORT" >"$T/wrk-up.out" 2>&1 || true
  R[up.rps]=$(grep '^BENCHJSON' "$T/wrk-up.out" | sed 's/^BENCHJSON //' | jq -r .rps)
  env BENCH_STREAM=1 taskset -c "$CPU_GW" wrk -t1 -c"$BENCH_CONNS" -d5s -s "$NPM_DIR/chat.lua" "http://127.0.0.1:$UP_PORT" >"$T/wrk-up.out" 2>&1 || true
  R[up.sps]=$(grep '^BENCHJSON' "$T/wrk-up.out" | sed 's/^BENCHJSON //' | jq -r .rps)
  printf '   %.0f requests/s, %.0f streams/s (20 events + usage each)\n' "${R[up.rps]}" "${R[up.sps]}" >&2
fi

# ---------------------------------------------------------------- (a) direct
log "(a) direct: wrk -> upstream"
GW_PID=""
llm_runs direct "http://127.0.0.1:$UP_PORT" "$UP_PORT" --

# ---------------------------------------------------------------- (b) odock
log "(b) odock serve with full governance"
OD_PORT=$(free_port)
DB="$T/ledger.db"
cat >"$T/odock.json" <<JSON
{
  "listen": "127.0.0.1:$OD_PORT",
  "database": "$DB",
  "providers": [{"name": "up", "type": "openai-compatible", "base_url": "http://127.0.0.1:$UP_PORT/v1",
                 "api_key": "sk-bench-upstream"}],
  "models": [
    {"name": "gpt-4o-mini", "deployments": [{"provider": "up", "model": "gpt-4o-mini"}]},
    {"name": "gpt-slow",    "deployments": [{"provider": "up", "model": "slow-drip"}]}
  ],
  "prices": {"gpt-4o-mini": {"input": 0.15, "output": 0.60}, "slow-drip": {"input": 0.15, "output": 0.60}},
  "default_grant": "deny",
  "guardrails": {
    "pii":       {"action": "mask", "detectors": {"ip": "flag"}},
    "secrets":   {"action": "block"},
    "injection": {"action": "block"},
    "rules": [{"name": "codename", "pattern": "(?i)project\\\\s+falcon", "action": "block",
               "applies_to": ["input", "tool_args"]}]
  }
}
JSON
"$ODOCK" config check --config "$T/odock.json" >/dev/null || { "$ODOCK" config check --config "$T/odock.json"; die "bad bench config"; }
KEY=$("$ODOCK" keys create --config "$T/odock.json" --db "$DB" --name bench --models 'gpt-4o-mini,gpt-slow' \
      --budget 1000 --period total --rpm 100000000 --json | jq -r .key)
[ -n "$KEY" ] && [ "$KEY" != null ] || die "odock keys create failed"
up_before=$(up_chat)
start odock "$CPU_GW" "$ODOCK" serve --config "$T/odock.json" --db "$DB"
GW_PID=$LAST_PID
wait_http "http://127.0.0.1:$OD_PORT/healthz" || { cat "$T/odock.log" >&2; die "odock serve did not start"; }
sleep 1
R[odock.rss_idle]=$(rss_kb "$GW_PID")
printf '   idle RSS %s MB\n' "$(mb "${R[odock.rss_idle]}")" >&2
llm_runs odock "http://127.0.0.1:$OD_PORT" "$OD_PORT" BENCH_KEY="$KEY" -- --key "$KEY"
hold_run odock.hold "$OD_PORT" "$GW_PID" gpt-slow --key "$KEY"
R[odock.hwm]=$(hwm_kb "$GW_PID")
sleep 1
metrics_total=$(curl -s "http://127.0.0.1:$OD_PORT/metrics" | awk '/^odock_requests_total[{ ]/ {s += $NF} END {printf "%d", s}')
stop "$GW_PID"
R[odock.exit_ok]=$(kill -0 "$GW_PID" 2>/dev/null && echo no || echo yes)
up_after=$(up_chat)
R[ledger.events]=$(sqlite3 "$DB" 'select count(*) from events' 2>/dev/null || echo "?")
R[ledger.ok]=$(sqlite3 "$DB" "select count(*) from events where status='ok'" 2>/dev/null || echo "?")
R[ledger.metrics]=$metrics_total
R[ledger.upstream]=$((up_after - up_before))
sent=0; for k in warm warm_stream c$BENCH_CONNS c1 s$BENCH_CONNS; do sent=$((sent + R[odock.$k.requests])); done
sent=$((sent + R[odock.ttfb.streams] + R[odock.ttfb.errors] + BENCH_HOLD))
R[ledger.sent]=$sent
printf '   ledger: %s events; odock /metrics %s requests; upstream received %s; clients completed %s (+ in flight at the end of each run)\n' \
  "${R[ledger.events]}" "$metrics_total" "${R[ledger.upstream]}" "$sent" >&2

# ---------------------------------------------------------------- (b) with busy polling
# The same odock with busy_poll_us: after I/O its loop polls on instead of
# sleeping, so the next packet does not wait for an idle vCPU to wake. A
# ledger of its own, so the count above stays one run's.
with_busy_poll() { sed "0,/{/s//{ \"busy_poll_us\": $BENCH_BUSY_POLL,/" "$1"; }
if [ "$BENCH_BUSY_POLL" -gt 0 ]; then
  log "(b) odock serve with full governance and busy_poll_us $BENCH_BUSY_POLL"
  DBB="$T/ledger-busy.db"
  with_busy_poll "$T/odock.json" | sed "s|$DB|$DBB|" >"$T/odock-busy.json"
  KEYB=$("$ODOCK" keys create --config "$T/odock-busy.json" --db "$DBB" --name bench --models 'gpt-4o-mini,gpt-slow' \
         --budget 1000 --period total --rpm 100000000 --json | jq -r .key)
  start odock_busy "$CPU_GW" "$ODOCK" serve --config "$T/odock-busy.json" --db "$DBB"
  GW_PID=$LAST_PID
  wait_http "http://127.0.0.1:$OD_PORT/healthz" || { cat "$T/odock_busy.log" >&2; die "odock serve (busy polling) did not start"; }
  sleep 1
  R[busy.rss_idle]=$(rss_kb "$GW_PID")
  llm_runs busy "http://127.0.0.1:$OD_PORT" "$OD_PORT" BENCH_KEY="$KEYB" -- --key "$KEYB"
  sleep 1
  R[busy.metrics]=$(curl -s "http://127.0.0.1:$OD_PORT/metrics" | awk '/^odock_requests_total[{ ]/ {s += $NF} END {printf "%d", s}')
  stop "$GW_PID"
  R[busy.events]=$(sqlite3 "$DBB" 'select count(*) from events' 2>/dev/null || echo "?")
  printf '   ledger: %s events; odock /metrics %s requests\n' "${R[busy.events]}" "${R[busy.metrics]}" >&2
  GW_PID=""
fi

# ---------------------------------------------------------------- (c) Portkey
if [ "$BENCH_PORTKEY" = 1 ]; then
  log "(c) Portkey gateway $(jq -r .version "$NPM_DIR/node_modules/@portkey-ai/gateway/package.json") (node)"
  PK_PORT=$(free_port)
  start portkey "$CPU_GW" node "$NPM_DIR/node_modules/@portkey-ai/gateway/build/start-server.js" --port="$PK_PORT" --headless
  GW_PID=$LAST_PID
  wait_http "http://127.0.0.1:$PK_PORT/" 150 || { cat "$T/portkey.log" >&2; die "Portkey did not start"; }
  sleep 1
  R[portkey.rss_idle]=$(rss_kb "$GW_PID")
  printf '   idle RSS %s MB\n' "$(mb "${R[portkey.rss_idle]}")" >&2
  PKH="http://127.0.0.1:$UP_PORT/v1"
  llm_runs portkey "http://127.0.0.1:$PK_PORT" "$PK_PORT" BENCH_PORTKEY_HOST="$PKH" -- --portkey-host "$PKH"
  hold_run portkey.hold "$PK_PORT" "$GW_PID" slow-drip --portkey-host "$PKH"
  R[portkey.hwm]=$(hwm_kb "$GW_PID")
  stop "$GW_PID"
fi
GW_PID=""

# ---------------------------------------------------------------- calibration: nginx
# The cost of a hop alone: nginx as a plain reverse proxy (one worker, on the
# gateway's core), the same two extra loopback hops and HTTP parsing as (b),
# no policy work. SSE is relayed as it comes (proxy_buffering off).
NGINX=$(nginx_bin)
if [ "$BENCH_NGINX" = 1 ] && [ -z "$NGINX" ]; then
  echo "bench: nginx not found (Debian package nginx-light): the calibration hop is skipped" >&2
elif [ "$BENCH_NGINX" = 1 ]; then
  R[nginx.version]=$("$NGINX" -v 2>&1 | sed 's|.*/||')
  log "calibration: nginx ${R[nginx.version]} as a plain reverse proxy (no governance)"
  NGX_PORT=$(free_port)
  mkdir -p "$T/nginx"
  cat >"$T/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
error_log $T/nginx/error.log warn;
pid $T/nginx/nginx.pid;
events { worker_connections $((BENCH_CONNS * 2 + 64)); }
http {
  access_log off;
  client_body_temp_path $T/nginx/body;
  proxy_temp_path $T/nginx/proxy;
  keepalive_requests 100000000;
  upstream up {
    server 127.0.0.1:$UP_PORT;
    keepalive 64;
    keepalive_requests 100000000;
  }
  server {
    listen 127.0.0.1:$NGX_PORT;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
NGINX
  start nginx "$CPU_GW" "$NGINX" -p "$T/nginx" -c "$T/nginx.conf" -e "$T/nginx/error.log"
  GW_PID=$LAST_PID
  if wait_http "http://127.0.0.1:$NGX_PORT/stats"; then
    NGX_URL="http://127.0.0.1:$NGX_PORT"
    log "nginx: warm-up $(( (BENCH_WARMUP + 1) / 2 ))s, then measured runs, ${BENCH_SECONDS}s each"
    wrk_run nginx.warm "$NGX_URL" "$BENCH_CONNS" "$(( (BENCH_WARMUP + 1) / 2 ))"
    wrk_run "nginx.c$BENCH_CONNS" "$NGX_URL" "$BENCH_CONNS" "$BENCH_SECONDS"
    wrk_run nginx.c1 "$NGX_URL" 1 "$BENCH_SECONDS"
    wrk_run "nginx.s$BENCH_CONNS" "$NGX_URL" "$BENCH_CONNS" "$BENCH_SECONDS" BENCH_STREAM=1
    ttfb_run nginx.ttfb "$NGX_PORT"
  else
    cat "$T/nginx.log" "$T/nginx/error.log" >&2 2>/dev/null || true
    echo "bench: nginx did not start: the calibration hop is skipped" >&2
  fi
  stop "$GW_PID"
  GW_PID=""
fi

# ---------------------------------------------------------------- every core
# The runs above give each gateway one core of its own. In production a
# gateway gets every core: here odock runs one worker per core, Portkey its
# node process, and nothing is pinned (the load and a second upstream share
# the cores with the gateway). Plain and streamed at BENCH_CONNS connections.
all_runs() { # PREFIX URL [ENV=V...]
  local p=$1 url=$2; shift 2
  wrk_run "$p.warm" "$url" "$BENCH_CONNS" "$(( (BENCH_WARMUP + 1) / 2 ))" "$@"
  wrk_run "$p.c$BENCH_CONNS" "$url" "$BENCH_CONNS" "$BENCH_SECONDS" "$@"
  wrk_run "$p.s$BENCH_CONNS" "$url" "$BENCH_CONNS" "$BENCH_SECONDS" "$@" BENCH_STREAM=1
}
if [ "$BENCH_ALLCORES" = 1 ] && [ "$NCPU" -ge 2 ]; then
  SAVE_LOAD=$CPU_LOAD; CPU_LOAD=""
  UP2_PORT=$(free_port)
  start upstream_all "" "$BIN/upstream" --port "$UP2_PORT" --drip-ms "$DRIP_MS"
  UP2_PID=$LAST_PID
  wait_http "http://127.0.0.1:$UP2_PORT/stats" || die "the second fake upstream did not start"
  log "every core, nothing pinned: (a) direct"
  all_runs all.direct "http://127.0.0.1:$UP2_PORT"

  log "every core: (b) odock serve --workers $NCPU"
  OD2_PORT=$(free_port)
  DB2="$T/ledger-all.db"
  sed -e "s|127.0.0.1:$OD_PORT|127.0.0.1:$OD2_PORT|" -e "s|127.0.0.1:$UP_PORT|127.0.0.1:$UP2_PORT|" \
      -e "s|$DB|$DB2|" "$T/odock.json" >"$T/odock-all.json"
  KEY2=$("$ODOCK" keys create --config "$T/odock-all.json" --db "$DB2" --name bench --models 'gpt-4o-mini,gpt-slow' \
         --budget 1000 --period total --rpm 100000000 --json | jq -r .key)
  up_before=$(curl -s "http://127.0.0.1:$UP2_PORT/stats" | jq -r .chat)
  start odock_all "" "$ODOCK" serve --config "$T/odock-all.json" --db "$DB2" --workers "$NCPU"
  GW_PID=$LAST_PID
  wait_http "http://127.0.0.1:$OD2_PORT/healthz" || { cat "$T/odock_all.log" >&2; die "odock serve --workers did not start"; }
  sleep 1
  all_rss() { local t; t=$(rss_kb "$GW_PID"); for w in $(pgrep -P "$GW_PID"); do t=$((t + $(rss_kb "$w"))); done; echo "$t"; }
  R[all.odock.rss_idle]=$(all_rss)
  all_runs all.odock "http://127.0.0.1:$OD2_PORT" BENCH_KEY="$KEY2"
  R[all.odock.rss_load]=$(all_rss)
  sleep 1
  R[all.ledger.metrics]=$(curl -s "http://127.0.0.1:$OD2_PORT/metrics" | awk '/^odock_requests_total[{ ]/ {s += $NF} END {printf "%d", s}')
  stop "$GW_PID"
  R[all.ledger.events]=$(sqlite3 "$DB2" 'select count(*) from events' 2>/dev/null || echo "?")
  R[all.ledger.upstream]=$(( $(curl -s "http://127.0.0.1:$UP2_PORT/stats" | jq -r .chat) - up_before ))
  printf '   ledger: %s events; /metrics (summed over the workers) %s requests; upstream received %s\n' \
    "${R[all.ledger.events]}" "${R[all.ledger.metrics]}" "${R[all.ledger.upstream]}" >&2

  if [ "$BENCH_PORTKEY" = 1 ]; then
    log "every core: (c) Portkey"
    PK2_PORT=$(free_port)
    start portkey_all "" node "$NPM_DIR/node_modules/@portkey-ai/gateway/build/start-server.js" --port="$PK2_PORT" --headless
    GW_PID=$LAST_PID
    wait_http "http://127.0.0.1:$PK2_PORT/" 150 || { cat "$T/portkey_all.log" >&2; die "Portkey did not start"; }
    sleep 1
    all_runs all.portkey "http://127.0.0.1:$PK2_PORT" BENCH_PORTKEY_HOST="http://127.0.0.1:$UP2_PORT/v1"
    stop "$GW_PID"
  fi
  GW_PID=""
  stop "$UP2_PID"
  CPU_LOAD=$SAVE_LOAD
fi

# ---------------------------------------------------------------- MCP
EVERY="$NPM_DIR/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
# Two clients: mcp_run is the official SDK client (tests/bench/mcp_bench.mjs:
# what an SDK user sees, but it costs ~0.5 ms per HTTP call itself),
# mcpc_run the C load client (tests/bench/mcp_load.c, HTTP only, pinned to
# CPU_LOAD like wrk: it measures the server, not itself). Both print the same
# JSON line; sequential and 16 clients each.
mcp_run() { # KEY [mcp_bench args...]
  local key=$1; shift
  mcp_runs "$key" 2 node "$NPM_DIR/mcp_bench.mjs" "$@"
}
mcpc_run() { # KEY [mcp_load args...]
  local key=$1; shift
  local pin=(taskset -c "$CPU_LOAD"); [ -n "$CPU_LOAD" ] || pin=()
  mcp_runs "$key" $((${#pin[@]} + 1)) "${pin[@]}" "$BIN/mcp_load" "$@"
}
# mcp_runs KEY N CLIENT... ARGS...: the first N words are the client's command, the
# run options go between it and ARGS (mcp_bench.mjs wants --stdio CMD last);
# fills R[KEY.C], R[KEY.C.p50|total|err] for C = 1 and 16 clients
mcp_runs() {
  local key=$1 nc=$2; shift 2
  local cmd=("${@:1:nc}"); shift "$nc"
  local n j
  for n in 1 16; do
    j=$(timeout $((BENCH_MCP_SECONDS * 3 + 60)) "${cmd[@]}" --clients "$n" \
        --seconds "$BENCH_MCP_SECONDS" --warmup 2 "$@" 2>"$T/mcp-$key-$n.err" | tail -1) || true
    R[$key.$n]=$(jq -r '.calls_per_s // empty' <<<"$j" 2>/dev/null || true)
    R[$key.$n.p50]=$(jq -r '.p50_ms // empty' <<<"$j" 2>/dev/null || true)
    R[$key.$n.total]=$(jq -r '.total_calls // 0' <<<"$j" 2>/dev/null || echo 0)
    R[$key.$n.err]=$(jq -r '.errors // 0' <<<"$j" 2>/dev/null || echo 0)
    if [ -n "${R[$key.$n]}" ] && [ "${R[$key.$n]}" != 0 ]; then
      printf '   %-26s %2d client(s) %8.0f calls/s  p50 %6.3f ms  (%d errors)\n' "$key" "$n" "${R[$key.$n]}" "${R[$key.$n.p50]}" "${R[$key.$n.err]}" >&2
    else
      printf '   %-26s %2d client(s) failed: %s\n' "$key" "$n" "$(tail -2 "$T/mcp-$key-$n.err" | tr '\n' ' ')" >&2
    fi
  done
}
if [ "$BENCH_MCP" = 1 ]; then
  log "MCP: tools/call of server-everything's echo"
  MDB="$T/mcp.db"
  MCP_PORT=$(free_port)
  cat >"$T/mcp.json" <<JSON
{
  "listen": "127.0.0.1:$MCP_PORT",
  "database": "$MDB",
  "default_grant": "deny",
  "mcp_servers": [{"name": "everything", "transport": "stdio", "command": "node", "args": ["$EVERY", "stdio"]}],
  "guardrails": {"pii": {"action": "mask", "detectors": {"ip": "flag"}}, "secrets": {"action": "block"},
                 "injection": {"action": "block"}}
}
JSON
  MKEY=$("$ODOCK" keys create --config "$T/mcp.json" --db "$MDB" --name mcpbench --tools 'everything/*' \
         --budget 1000 --period total --rpm 100000000 --json | jq -r .key)
  mcp_run mcp.direct_stdio --stdio node "$EVERY" stdio
  mcp_run mcp.relay_stdio --stdio "$BIN/relay" node "$EVERY" stdio
  mcp_run mcp.odock_stdio --env ODOCK_API_KEY="$MKEY" --stdio "$ODOCK" mcp --config "$T/mcp.json" --db "$MDB"
  if [ "$BENCH_BUSY_POLL" -gt 0 ]; then
    with_busy_poll "$T/mcp.json" >"$T/mcp-busy.json"
    mcp_run mcp.odock_stdio_busy --env ODOCK_API_KEY="$MKEY" --stdio "$ODOCK" mcp --config "$T/mcp-busy.json" --db "$MDB"
  fi

  EV_PORT=$(free_port)
  start everything_http "" env PORT="$EV_PORT" node "$EVERY" streamableHttp
  EV_PID=$LAST_PID
  for _ in $(seq 100); do grep -q listening "$T/everything_http.log" 2>/dev/null && break; sleep 0.1; done
  mcp_run mcp.direct_http --url "http://127.0.0.1:$EV_PORT/mcp"
  mcpc_run mcpc.direct_http --url "http://127.0.0.1:$EV_PORT/mcp"
  stop "$EV_PID"

  # odock serve's /mcp (Streamable HTTP), if this build has it
  start odock_mcp "$CPU_GW" "$ODOCK" serve --config "$T/mcp.json" --db "$MDB"
  OM_PID=$LAST_PID
  R[mcp.odock_http.available]=no
  if wait_http "http://127.0.0.1:$MCP_PORT/healthz"; then
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$MCP_PORT/mcp" \
      -H "Authorization: Bearer $MKEY" -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
      -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"probe","version":"0"}}}')
    if [ "$code" = 200 ]; then
      R[mcp.odock_http.available]=yes
      mcp_run mcp.odock_http --header "Authorization: Bearer $MKEY" --url "http://127.0.0.1:$MCP_PORT/mcp"
      mcpc_run mcpc.odock_http --header "Authorization: Bearer $MKEY" --url "http://127.0.0.1:$MCP_PORT/mcp"
    else
      printf '   odock serve /mcp: not available (initialize answered HTTP %s)\n' "$code" >&2
    fi
  fi
  stop "$OM_PID"
  if [ "${R[mcp.odock_http.available]}" = yes ] && [ "$BENCH_BUSY_POLL" -gt 0 ]; then
    start odock_mcp_busy "$CPU_GW" "$ODOCK" serve --config "$T/mcp-busy.json" --db "$MDB"
    OM_PID=$LAST_PID
    wait_http "http://127.0.0.1:$MCP_PORT/healthz" &&
      mcpc_run mcpc.odock_http_busy --header "Authorization: Bearer $MKEY" --url "http://127.0.0.1:$MCP_PORT/mcp"
    stop "$OM_PID"
  fi

  SG_PORT=$(free_port)
  start supergateway "$CPU_GW" node "$NPM_DIR/node_modules/supergateway/dist/index.js" --stdio "node $EVERY stdio" \
    --outputTransport streamableHttp --stateful --port "$SG_PORT" --logLevel none
  SG_PID=$LAST_PID
  for _ in $(seq 100); do curl -s -o /dev/null -m 1 "http://127.0.0.1:$SG_PORT/healthz" && break; \
    (exec 3<>"/dev/tcp/127.0.0.1/$SG_PORT") 2>/dev/null && break; sleep 0.1; done
  mcp_run mcp.supergateway --url "http://127.0.0.1:$SG_PORT/mcp"
  mcpc_run mcpc.supergateway --url "http://127.0.0.1:$SG_PORT/mcp"
  stop "$SG_PID"
  R[mcp.ledger]=$(sqlite3 "$MDB" "select count(*) from events where kind='tool'" 2>/dev/null || echo "?")
  mt=0; for k in mcp.odock_stdio mcp.odock_http mcpc.odock_http mcp.odock_stdio_busy mcpc.odock_http_busy; do for n in 1 16; do mt=$((mt + ${R[$k.$n.total]:-0})); done; done
  R[mcp.sent]=$mt
fi

# ---------------------------------------------------------------- microbenchmarks (if built)
micro=""
for b in bench_pol bench_guard; do
  [ -x "$BIN/$b" ] || continue
  log "$b"
  if o=$(cd "$ROOT" && timeout 120 taskset -c "$CPU_GW" "$BIN/$b" 2>&1); then
    micro+=$'\n'"### $b"$'\n\n```\n'"$o"$'\n```\n'
  else
    micro+=$'\n'"### $b"$'\n\nfailed:\n\n```\n'"$(tail -5 <<<"$o")"$'\n```\n'
  fi
done

# ---------------------------------------------------------------- report
source "$NPM_DIR/report.bash"
mkdir -p "$ROOT/bench"
(set +e +o pipefail; report) >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
cat "$OUT"
log "written to bench/results.md"
