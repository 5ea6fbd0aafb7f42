#!/usr/bin/env bash
# odock config check: field-path errors, interpolation, the embedded default.
. "$(dirname "$0")/lib.sh"

check "embedded default is valid" "$ODOCK" config check
check "embedded default has the mock provider" bash -c "'$ODOCK' config check | grep -E '^  mock +mock'"
check "a provider appears when its key variable is set" bash -c "OPENAI_API_KEY=x '$ODOCK' config check | grep -E '^  openai +openai'"

cat > "$T/good.json" <<'J'
{
  "listen": "127.0.0.1:8787",
  "database": "${ODOCK_TEST_DB:-./x.db}",
  "providers": [
    {"name": "openai", "type": "openai", "api_key": "${OPENAI_API_KEY}"},
    {"name": "azure-eu", "type": "azure", "base_url": "https://x.openai.azure.com", "api_key": "k", "api_version": "2024-10-21"},
    {"name": "local", "type": "openai-compatible", "base_url": "http://127.0.0.1:8000/v1"},
    {"name": "mock", "type": "mock"}
  ],
  "models": [{"name": "gpt-4o", "strategy": "failover",
              "deployments": [{"provider": "openai", "model": "gpt-4o"}, {"provider": "azure-eu", "model": "gpt-4o"}]}],
  "prices": {"gpt-4o": {"input": 2.50, "output": 10.00}},
  "mcp_servers": [{"name": "everything", "transport": "stdio", "command": "npx", "args": ["-y", "x"]},
                  {"name": "tickets", "transport": "http", "url": "http://127.0.0.1:3001/mcp",
                   "headers": {"Authorization": "Bearer ${TICKETS_TOKEN}"}}],
  "guardrails": {"pii": {"action": "mask", "detectors": {"ip": "flag"}}, "secrets": {"action": "block"},
                 "injection": {"action": "block"},
                 "rules": [{"name": "codename", "pattern": "(?i)project\\s+falcon", "action": "block",
                            "applies_to": ["input", "tool_args"]}]}
}
J
check "the DESIGN example config is valid" "$ODOCK" config check --config "$T/good.json"
check "\${VAR:-default} interpolation" bash -c "'$ODOCK' config check --config '$T/good.json' | grep -E '^database +./x.db'"
check "\${VAR} interpolation" bash -c "ODOCK_TEST_DB=/tmp/y.db '$ODOCK' config check --config '$T/good.json' | grep -E '^database +/tmp/y.db'"
check "an unset key variable is warned about" bash -c "env -u OPENAI_API_KEY '$ODOCK' config check --config '$T/good.json' | grep -q 'WARNING: no api_key'"
check "\$ODOCK_CONFIG is honoured" bash -c "ODOCK_CONFIG='$T/good.json' '$ODOCK' config check | grep -q 'good.json: ok'"

bad() { # DESC JSON EXPECTED-ERROR
  printf '%s' "$2" > "$T/bad.json"
  expect_fail "$1" "$3" "$ODOCK" config check --config "$T/bad.json"
}
bad "wrong type names the field" '{"providers":[{"name":"a","type":"mock"},{"name":"b","type":"mock"},{"name":"c","type":"openai","base_url":5}]}' 'providers\[2\]\.base_url: expected a string'
bad "unknown field names the path" '{"providers":[{"name":"a","type":"mock","colour":"red"}]}' 'providers\[0\]\.colour: unknown field'
bad "unknown top-level field" '{"lisen":"x"}' 'lisen: unknown field'
bad "unknown provider type" '{"providers":[{"name":"a","type":"openia"}]}' 'providers\[0\]\.type: "openia" is not one of'
bad "missing required name" '{"providers":[{"type":"mock"}]}' 'providers\[0\]\.name: missing'
bad "deployment to an unknown provider" '{"models":[{"name":"m","deployments":[{"provider":"nope","model":"x"}]}]}' 'models\[0\]\.deployments\[0\]\.provider: no provider named "nope"'
bad "bad strategy" '{"models":[{"name":"m","strategy":"random","deployments":[]}]}' 'models\[0\]\.strategy'
bad "price with too many decimals" '{"prices":{"x":{"input":"0.0000001"}}}' 'prices\.x\.input'
bad "bad guardrail action" '{"guardrails":{"pii":{"action":"shred"}}}' 'guardrails\.pii\.action'
bad "unknown detector" '{"guardrails":{"pii":{"detectors":{"dna":"mask"}}}}' 'guardrails\.pii\.detectors\.dna'
bad "bad applies_to" '{"guardrails":{"rules":[{"name":"r","pattern":"x","applies_to":["everywhere"]}]}}' 'guardrails\.rules\[0\]\.applies_to\[0\]'
bad "stdio server without command" '{"mcp_servers":[{"name":"s","transport":"stdio"}]}' 'mcp_servers\[0\]\.command: missing'
bad "duplicate provider" '{"providers":[{"name":"a","type":"mock"},{"name":"a","type":"mock"}]}' 'duplicate provider name'
bad "invalid JSON names the line" $'{\n"listen":\n}' 'not valid JSON \(near line 3\)'
bad "router value out of range" '{"router":{"max_attempts":0}}' 'router\.max_attempts: must be between 1 and 100'
bad "unknown router field" '{"router":{"retries":3}}' 'router\.retries: unknown field'
bad "mcp origin with a comma" '{"mcp":{"allowed_origins":["a,b"]}}' 'mcp\.allowed_origins\[0\]: expected a non-empty value'
bad "bad listen" '{"listen":"localhost"}' 'listen: expected HOST:PORT'
expect_fail "missing file" "cannot open" "$ODOCK" config check --config "$T/nope.json"
