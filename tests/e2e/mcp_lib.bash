# Helpers for the MCP end-to-end scripts (sourced after lib.sh; not a test: no .sh suffix so tests/run.sh skips it).
NPM="$ROOT/testdata/npm-mcp"
FAKE="$ROOT/testdata/mcp/fake_server.mjs"
EVERY="$NPM/node_modules/@modelcontextprotocol/server-everything/dist/index.js"

mcp_need_node() {
  if ! command -v node >/dev/null 2>&1; then echo "ok 1 - # SKIP node is not installed"; exit 0; fi
  if [ ! -d "$NPM/node_modules/@modelcontextprotocol/sdk" ]; then
    (cd "$NPM" && npm ci --silent --no-audit --no-fund >/dev/null 2>&1) || { fail "npm ci in testdata/npm-mcp"; exit 1; }
  fi
}

# mcp_config FILE [extra server JSON objects...]: everything + fake over stdio
mcp_config() {
  local f=$1; shift
  local extra=""
  for s in "$@"; do extra="$extra, $s"; done
  cat >"$f" <<JSON
{"database": "$T/ledger.db",
 "mcp_servers": [
   {"name": "everything", "command": "node", "args": ["$EVERY", "stdio"]},
   {"name": "fake", "command": "node", "args": ["$FAKE"], "env": {"FAKE_PAGE": "2"},
    "price": "0.01", "timeout_ms": 4000}$extra
 ]}
JSON
}

# mcp_key NAME [keys create flags...]: prints the secret of a new key
mcp_key() {
  local name=$1; shift
  "$ODOCK" keys create --db "$T/ledger.db" --name "$name" "$@" --json |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).key))'
}

# run_client SCENARIO CONFIG: the SDK client spawning odock mcp; its PASS/FAIL lines become TAP
run_client() {
  local out="$T/client-$1.out" rc
  timeout 60 node "$NPM/client.mjs" "$1" "$ODOCK" --config "$2" --db "$T/ledger.db" >"$out" 2>&1; rc=$?
  local n=0
  while IFS= read -r line; do
    case "$line" in
      PASS\ *) ok "$1: ${line#PASS }"; n=$((n+1));;
      FAIL\ *) fail "$1: ${line#FAIL }"; n=$((n+1));;
      *) echo "    # $line";;
    esac
  done <"$out"
  [ "$rc" -eq 0 ] || [ "$n" -gt 0 ] || fail "$1: client exited $rc"
}

# rpc_lines FILE: answers read from odock's stdout, one JSON per line, checked by node
jq_node() { node -e "$1" "$2"; }
