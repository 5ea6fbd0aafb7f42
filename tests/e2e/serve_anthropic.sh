#!/usr/bin/env bash
# /v1/messages with the real @anthropic-ai/sdk, against an Anthropic upstream
# and an OpenAI one; the OpenAI SDK against an Anthropic upstream.
# (/v1/messages translates Anthropic <-> the normalized OpenAI shape for every
# provider, so any deployment can serve either SDK.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_helpers.bash"
need_npm
start_fake
cat >"$T/odock.json" <<JSON
{"database": "$ODOCK_DB",
 "providers": [
   {"name": "ant", "type": "anthropic", "base_url": "http://127.0.0.1:$FAKE_PORT", "api_key": "\${FAKE_ANTHROPIC_KEY}"},
   {"name": "oai", "type": "openai", "base_url": "http://127.0.0.1:$FAKE_PORT/v1", "api_key": "\${FAKE_OPENAI_KEY}"},
   {"name": "mock", "type": "mock"}],
 "models": [
   {"name": "claude", "deployments": [{"provider": "ant", "model": "claude-3-5-haiku-latest"}]},
   {"name": "gpt", "deployments": [{"provider": "oai", "model": "gpt-4o-mini"}]}]}
JSON
KEY=$(mkkey ant)
SECRET=${KEY##*_}
start_serve "$T/odock.json"

r=$(client anthropic claude "hello claude")
eq "anthropic SDK -> anthropic upstream" "$(echo "$r" | jget text)" "echo: hello claude"
eq "anthropic SDK: message shape" "$(echo "$r" | jget type),$(echo "$r" | jget role),$(echo "$r" | jget stop_reason)" "message,assistant,end_turn"
check "anthropic SDK: usage" test "$(echo "$r" | jget usage.output_tokens)" -ge 1
eq "anthropic SDK: x-odock-provider" "$(echo "$r" | jget provider)" ant
RID=$(echo "$r" | jget request_id)

r=$(client anthropic gpt "hello gpt" '{"system":"be brief"}')
eq "anthropic SDK -> OpenAI upstream" "$(echo "$r" | jget text)" "echo: hello gpt"
check "system prompt reached the OpenAI upstream as a system message" grep -q '"role":"system","content":"be brief"' "$FAKE_LOG"

r=$(client anthropic-stream claude "stream from claude")
eq "anthropic SDK stream -> anthropic upstream" "$(echo "$r" | jget text)" "echo: stream from claude"
check "anthropic stream: usage in message_delta" test "$(echo "$r" | jget usage.output_tokens)" -ge 1

r=$(client anthropic-stream gpt "stream from gpt")
eq "anthropic SDK stream -> OpenAI upstream" "$(echo "$r" | jget text),$(echo "$r" | jget stop_reason)" "echo: stream from gpt,end_turn"

r=$(client anthropic claude "use a tool please" '{"tools":[{"name":"lookup","description":"d","input_schema":{"type":"object","properties":{"q":{"type":"string"}}}}]}')
eq "anthropic SDK: tool_use relayed" "$(echo "$r" | jget tool_use.0.name),$(echo "$r" | jget stop_reason)" "lookup,tool_use"

r=$(client chat claude "openai to claude")
eq "OpenAI SDK -> anthropic upstream" "$(echo "$r" | jget text)" "echo: openai to claude"
check "OpenAI SDK -> anthropic: usage" test "$(echo "$r" | jget usage.prompt_tokens)" -ge 1
r=$(client stream claude "openai stream to claude" '{"stream_options":{"include_usage":true}}')
eq "OpenAI SDK stream -> anthropic upstream" "$(echo "$r" | jget text)" "echo: openai stream to claude"
check "OpenAI SDK stream -> anthropic: exact usage" test "$(echo "$r" | jget usage.completion_tokens)" -ge 1
r=$(client tools claude "please use a tool")
eq "OpenAI tools -> anthropic upstream" "$(echo "$r" | jget tool_calls.0.name)" get_weather

r=$(client anthropic mock/echo "mocked anthropic")
eq "anthropic SDK -> mock" "$(echo "$r" | jget text)" "mocked anthropic"

r=$(KEY=odk_AAAAAAAA_wrong client anthropic claude "x")
eq "anthropic SDK: bad key is a 401 authentication_error" "$(echo "$r" | jget status)" 401
r=$(client anthropic nope "x")
eq "anthropic SDK: unknown model is a 404" "$(echo "$r" | jget status)" 404

want=$(printf '%s' "$FAKE_ANTHROPIC_KEY" | sha256sum | cut -d' ' -f1)
check "anthropic upstream got x-api-key from the config" grep -q "\"auth_sha256\":\"$want\"" "$FAKE_LOG"
check "ledger: anthropic request recorded" wait_events 1 "WHERE request_id='$RID' AND status='ok' AND provider='ant'"
stop_serve
check "no provider key in the ledger" bash -c "! grep -aq '$PROVIDER_SECRET' '$ODOCK_DB'*"
check "no virtual key secret in logs" bash -c "! grep -aq '$SECRET' '$SERVE_LOG' '$ODOCK_DB'*"
