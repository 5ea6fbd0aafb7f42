#!/usr/bin/env bash
# odock serve with the real `openai` SDK: chat (plain, streamed, with usage),
# tool calls, embeddings, model listing; headers, ledger rows, secrets.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_helpers.bash"
need_npm
start_fake
cat >"$T/odock.json" <<JSON
{"database": "$ODOCK_DB",
 "providers": [
   {"name": "fake", "type": "openai", "base_url": "http://127.0.0.1:$FAKE_PORT/v1", "api_key": "\${FAKE_OPENAI_KEY}"},
   {"name": "az", "type": "azure", "base_url": "http://127.0.0.1:$FAKE_PORT", "api_key": "\${FAKE_OPENAI_KEY}", "api_version": "2024-10-21"},
   {"name": "gem", "type": "gemini", "base_url": "http://127.0.0.1:$FAKE_PORT", "api_key": "\${FAKE_OPENAI_KEY}"},
   {"name": "mock", "type": "mock"}],
 "models": [
   {"name": "gpt-4o", "deployments": [{"provider": "fake", "model": "gpt-4o"}]},
   {"name": "embed-small", "deployments": [{"provider": "fake", "model": "text-embedding-3-small"}]}]}
JSON
KEY=$(mkkey sdk)
SECRET=${KEY##*_}
start_serve "$T/odock.json"

r=$(client chat gpt-4o "hello there")
eq "chat: ok" "$(echo "$r" | jget ok)" true
eq "chat: answer relayed" "$(echo "$r" | jget text)" "echo: hello there"
eq "chat: x-odock-provider" "$(echo "$r" | jget provider)" fake
eq "chat: x-odock-attempts" "$(echo "$r" | jget attempts)" 1
eq "chat: model named as asked" "$(echo "$r" | jget model)" gpt-4o
RID=$(echo "$r" | jget request_id)
check "chat: x-odock-request-id" grep -qE '^req_[0-9a-f]{24}$' <<<"$RID"

r=$(client stream gpt-4o "stream me")
eq "stream: text" "$(echo "$r" | jget text)" "echo: stream me"
check "stream: several chunks" test "$(echo "$r" | jget chunks)" -ge 2
eq "stream: usage chunk stripped when not asked" "$(echo "$r" | jget usage)" ""
SRID=$(echo "$r" | jget request_id)

r=$(client stream gpt-4o "count me" '{"stream_options":{"include_usage":true}}')
check "stream: include_usage gives usage" test "$(echo "$r" | jget usage.completion_tokens)" -ge 1

r=$(client tools gpt-4o "please use a tool")
eq "tools: finish_reason" "$(echo "$r" | jget finish)" tool_calls
eq "tools: tool call relayed" "$(echo "$r" | jget tool_calls.0.name)" get_weather

r=$(client chat gpt-4o "hi" '{"response_format":{"type":"json_object"},"seed":7,"user":"u1","stop":["zz"],"n":1,"x_custom_field":{"a":1}}')
eq "chat: extra fields accepted" "$(echo "$r" | jget ok)" true
check "chat: unknown fields passed through to an OpenAI upstream" grep -q '"x_custom_field"' "$FAKE_LOG"

r=$(client embed embed-small "embed this")
eq "embeddings: two vectors" "$(echo "$r" | jget n)" 2
check "embeddings: usage" test "$(echo "$r" | jget usage.prompt_tokens)" -ge 1

r=$(client chat mock/echo "mocked")
eq "mock provider answers without network" "$(echo "$r" | jget text)" "mocked"

r=$(client chat az/my-deployment "via azure")
eq "azure deployment answers" "$(echo "$r" | jget text),$(echo "$r" | jget provider)" "echo: via azure,az"
r=$(client stream gem/gemini-2.0-flash "via gemini")
eq "gemini stream answers" "$(echo "$r" | jget text),$(echo "$r" | jget provider)" "echo: via gemini,gem"

r=$(client models x)
check "models: aliases and mock models listed" python3 -c '
import json,sys; ids=json.loads(sys.argv[1])["ids"]; assert "gpt-4o" in ids and "embed-small" in ids and "mock/echo" in ids, ids' "$r"

LIMITED=$(KEY=x mkkey limited --models 'gpt-4o')
r=$(KEY=$LIMITED client models x)
eq "models: only what the key may use" "$(echo "$r" | jget ids)" '["gpt-4o"]'

# ledger: one event per model call (7 calls above), exact usage for streams
check "ledger: one event per request" wait_events 9
eq "ledger: 9 events" "$(events 'count(*)')" 9
eq "ledger: chat row" "$(events "status||','||provider||','||model||','||attempts" "WHERE request_id='$RID'")" "ok,fake,gpt-4o,1"
check "ledger: stream charged with upstream usage" test "$(events completion_tokens "WHERE request_id='$SRID'")" -ge 1
j=$("$ODOCK" audit show "$RID" --format json --db "$ODOCK_DB")
eq "audit show: request found" "$(echo "$j" | jget request_id)" "$RID"

# the provider key reached the upstream, and nothing else saw it
want=$(printf '%s' "$PROVIDER_SECRET" | sha256sum | cut -d' ' -f1)
check "upstream got the configured provider key" grep -q "\"auth_sha256\":\"$want\"" "$FAKE_LOG"
check "upstream never sees the virtual key" bash -c "! grep -q '$SECRET' '$FAKE_LOG'"
curl -s "$BASE/metrics" >"$T/metrics"
check "metrics: requests counted" grep -q 'odock_requests_total{model="gpt-4o",provider="fake",status="200",reason="ok"}' "$T/metrics"
check "metrics: latency histogram" grep -q 'odock_request_duration_seconds_bucket{model="gpt-4o"' "$T/metrics"
check "metrics: tokens" grep -q 'odock_tokens_total{model="gpt-4o",type="completion"}' "$T/metrics"
stop_serve
for f in "$ODOCK_DB" "$SERVE_LOG" "$T/metrics"; do
  check "no provider key in $(basename "$f")" bash -c "! grep -aq '$PROVIDER_SECRET' '$f'*"
  check "no virtual key secret in $(basename "$f")" bash -c "! grep -aq '$SECRET' '$f'*"
done
