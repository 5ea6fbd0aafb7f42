#!/usr/bin/env bash
# Output guardrails on streamed answers: a value split across chunks is
# still masked (OpenAI chunks, the Anthropic passthrough, the Anthropic
# translation, the mock), findings reach the ledger, a block ends the stream
# with an error event and no [DONE] / message_stop, and the first byte is not
# held back. The fake upstream echoes the user's text in 8-byte pieces; the
# rules apply to output only, so the prompt reaches it unmasked. Then, with
# the built-in detectors only (no rule on output), the window shrinks to what
# may still grow: a long answer is masked exactly as when not streamed, and
# text reaches the client a few dozen bytes behind the model.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_helpers.bash"
need_npm
start_fake
cat >"$T/odock.json" <<JSON
{"database": "$ODOCK_DB",
 "providers": [
   {"name": "oai", "type": "openai", "base_url": "http://127.0.0.1:$FAKE_PORT/v1", "api_key": "\${FAKE_OPENAI_KEY}"},
   {"name": "ant", "type": "anthropic", "base_url": "http://127.0.0.1:$FAKE_PORT", "api_key": "\${FAKE_ANTHROPIC_KEY}"},
   {"name": "mock", "type": "mock"}],
 "models": [
   {"name": "gpt", "deployments": [{"provider": "oai", "model": "gpt-4o-mini"}]},
   {"name": "gpt-drip", "deployments": [{"provider": "oai", "model": "gpt-4o-mini-drip-150"}]},
   {"name": "claude", "deployments": [{"provider": "ant", "model": "claude-3-5-haiku-latest"}]},
   {"name": "gpt-args", "deployments": [{"provider": "oai", "model": "gpt-4o-mini-tools-argsecho"}]},
   {"name": "gpt-bigindex", "deployments": [{"provider": "oai", "model": "gpt-4o-mini-tools-argsecho-bigindex"}]},
   {"name": "claude-args", "deployments": [{"provider": "ant", "model": "claude-3-5-haiku-tools-argsecho"}]}],
 "guardrails": {"pii": {"action": "mask", "detectors": {"email": "flag"}},
   "rules": [
     {"name": "email_out", "pattern": "[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\\\.[A-Za-z]{2,}", "action": "mask", "applies_to": ["output"]},
     {"name": "falcon", "pattern": "(?i)project\\\\s+falcon", "action": "block", "applies_to": ["output"]}]}}
JSON
KEY=$(mkkey gs)
start_serve "$T/odock.json"
MAILTXT="write to jane.roe@example.org today please"
WANT="echo: write to [EMAIL_OUT_1] today please"

# raw SSE with curl: PATH BODY -> $T/sse
sse() {
  curl -sN -D "$T/sse_headers" -o "$T/sse" -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \
    -d "$2" "$BASE$1"
}
chat_body() { python3 -c 'import json,sys; print(json.dumps({"model":sys.argv[1],"stream":True,"messages":[{"role":"user","content":sys.argv[2]}]}))' "$1" "$2"; }
msg_body() { python3 -c 'import json,sys; print(json.dumps({"model":sys.argv[1],"stream":True,"max_tokens":256,"messages":[{"role":"user","content":sys.argv[2]}]}))' "$1" "$2"; }
rid() { grep -i '^x-odock-request-id:' "$T/sse_headers" | cut -d: -f2 | tr -d ' \r'; }
finding() { # REQUEST_ID -> findings JSON of that ledger event
  wait_events 1 "WHERE request_id='$1'" && events findings "WHERE request_id='$1'"
}

# --- masking across chunks ---
r=$(client stream gpt "$MAILTXT")
eq "OpenAI stream: e-mail split across chunks is masked" "$(echo "$r" | jget text)" "$WANT"
check "OpenAI stream: role chunk, then the text, ends with stop" test "$(echo "$r" | jget chunks)" -ge 2 -a "$(echo "$r" | jget finish)" = stop
RID=$(echo "$r" | jget request_id)
check "the prompt reached the upstream unmasked (the rule is output-only)" grep -q 'jane.roe@example.org' "$FAKE_LOG"
sse /v1/chat/completions "$(chat_body gpt "$MAILTXT")"
check "raw SSE: no piece of the address reached the client" bash -c "! grep -qE 'jane|roe@|example\\.|\\.org' '$T/sse'"
check "raw SSE: ends with [DONE]" bash -c "tail -c 20 '$T/sse' | grep -q 'data: \\[DONE\\]'"
check "ledger: the streamed finding is recorded" grep -q '"rule:email_out":1' <<<"$(finding "$RID")"
f=$(finding "$(rid)")
check "ledger: built-in detectors flag streamed output too ($f)" grep -q '"email":2' <<<"$f"

r=$(client anthropic-stream claude "$MAILTXT")
eq "Anthropic passthrough stream: masked" "$(echo "$r" | jget text)" "$WANT"
sse /v1/messages "$(msg_body claude "$MAILTXT")"
check "Anthropic passthrough raw: no piece of the address" bash -c "! grep -qE 'jane|roe@|example\\.|\\.org' '$T/sse'"
check "Anthropic passthrough raw: ends with message_stop" bash -c "tail -3 '$T/sse' | grep -q message_stop"
check "ledger: passthrough finding" grep -q '"rule:email_out":1' <<<"$(finding "$(rid)")"

r=$(client anthropic-stream gpt "$MAILTXT")
eq "Anthropic SDK -> OpenAI upstream stream: masked" "$(echo "$r" | jget text),$(echo "$r" | jget stop_reason)" "$WANT,end_turn"

r=$(client stream mock/echo "$MAILTXT")
eq "mock stream: masked" "$(echo "$r" | jget text)" "write to [EMAIL_OUT_1] today please"

LONG=$(python3 -c 'print(" ".join(f"word{i:03d}" for i in range(200)) + " mail jane.roe@example.org end")')
r=$(client stream gpt "$LONG")
eq "long stream: text intact apart from the mask" "$(echo "$r" | jget text)" "echo: ${LONG/jane.roe@example.org/[EMAIL_OUT_1]}"
check "long stream: text is released before the end ($(echo "$r" | jget chunks) chunks)" test "$(echo "$r" | jget chunks)" -ge 10

# --- blocks ---
sse /v1/chat/completions "$(chat_body gpt "tell me about project falcon now")"
check "OpenAI stream block: error event with the reason" grep -q '"code":"guardrail_rule"' "$T/sse"
check "OpenAI stream block: no [DONE], nothing of the value" bash -c "! grep -qiE '\\[DONE\\]|project|lcon now' '$T/sse'"
B=$(rid)
check "ledger: blocked stream is one denied event, 403 guardrail_rule" wait_events 1 "WHERE request_id='$B' AND status='denied' AND reason='guardrail_rule' AND http_status=403"
check "ledger: blocked stream has its finding" grep -q '"rule:falcon":1' <<<"$(finding "$B")"

sse /v1/chat/completions "$(chat_body gpt "$LONG and then project falcon")"
check "block after text went out: the text before it, then the error" bash -c "grep -q 'word001' '$T/sse' && grep -q '\"code\":\"guardrail_rule\"' '$T/sse'"
check "block after text went out: no [DONE], nothing of the value" bash -c "! grep -qiE '\\[DONE\\]|project|then p' '$T/sse'"
sse /v1/messages "$(msg_body claude "tell me about project falcon now")"
check "Anthropic passthrough block: error event" bash -c "grep -q '^event: error' '$T/sse' && grep -q permission_error '$T/sse'"
check "Anthropic passthrough block: no message_stop, nothing of the value" bash -c "! grep -qiE 'message_stop|project|lcon now' '$T/sse'"
sse /v1/messages "$(msg_body gpt "tell me about project falcon now")"
check "Anthropic translation block: error event, no message_stop" bash -c "grep -q '^event: error' '$T/sse' && ! grep -qiE 'message_stop|project|lcon now' '$T/sse'"

b=$(post /v1/chat/completions "$KEY" '{"model":"gpt","messages":[{"role":"user","content":"'"$MAILTXT"'"}]}')
eq "non-streamed answer: masked as before" "$(status),$(echo "$b" | jget choices.0.message.content)" "200,$WANT"

# --- tool-call arguments are output too: the same windows, per call ---
tool_body() { python3 -c 'import json,sys; print(json.dumps({"model":sys.argv[1],"stream":True,"max_tokens":256,"messages":[{"role":"user","content":sys.argv[2]}],
  "tools":[{"type":"function","function":{"name":"send","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}}]}))' "$1" "$2"; }
oai_args() { # SSE file -> the tool call's arguments, reassembled as an SDK does
  python3 -c 'import json,sys
a=""
for l in open(sys.argv[1]):
    if l.startswith("data: {"):
        for ch in json.loads(l[6:]).get("choices", []):
            for tc in (ch.get("delta") or {}).get("tool_calls") or []:
                a += (tc.get("function") or {}).get("arguments") or ""
print(a)' "$1"; }
sse /v1/chat/completions "$(tool_body gpt-args "$MAILTXT")"
eq "OpenAI stream: an address in a tool call's arguments is masked" "$(oai_args "$T/sse")" '{"q":"write to [EMAIL_OUT_1] today please"}'
check "... no piece of it reached the client, and the stream ended normally" \
  bash -c "! grep -qE 'jane|roe@|example\\.|\\.org' '$T/sse' && grep -q '\"finish_reason\":\"tool_calls\"' '$T/sse' && tail -c 20 '$T/sse' | grep -q 'data: \\[DONE\\]'"
check "... the call's id and name went out first" grep -q '"id":"call_fake_0".*"name":"send"' "$T/sse"
sse /v1/chat/completions "$(tool_body gpt-bigindex "$MAILTXT")"
check "nonsense choice and tool_calls indexes (1e12): still one window, masked, the stream ends normally" \
  bash -c "grep -q 'EMAIL_OUT_1' '$T/sse' && ! grep -q 'roe@' '$T/sse' && tail -c 20 '$T/sse' | grep -q 'data: \\[DONE\\]'"
ant_args() { # SSE file -> the tool_use input, reassembled from input_json_delta
  python3 -c 'import json,sys
a=""
for l in open(sys.argv[1]):
    if l.startswith("data: {"):
        e = json.loads(l[6:])
        if (e.get("delta") or {}).get("type") == "input_json_delta": a += e["delta"]["partial_json"]
print(a)' "$1"; }
atool_body() { python3 -c 'import json,sys; print(json.dumps({"model":sys.argv[1],"stream":True,"max_tokens":256,"messages":[{"role":"user","content":sys.argv[2]}],
  "tools":[{"name":"send","input_schema":{"type":"object","properties":{"q":{"type":"string"}}}}]}))' "$1" "$2"; }
sse /v1/messages "$(atool_body claude-args "$MAILTXT")"
eq "Anthropic passthrough stream: an address in a tool_use input is masked" "$(ant_args "$T/sse")" '{"q":"write to [EMAIL_OUT_1] today please"}'
check "... no piece of it reached the client, and message_stop ended it" \
  bash -c "! grep -qE 'jane|roe@|example\\.|\\.org' '$T/sse' && grep -q '^event: message_stop' '$T/sse'"
sse /v1/messages "$(atool_body gpt-args "$MAILTXT")"
eq "Anthropic translation stream: the same" "$(ant_args "$T/sse")" '{"q":"write to [EMAIL_OUT_1] today please"}'
sse /v1/messages "$(atool_body claude-args "tell me about project falcon now")"
check "Anthropic passthrough: a blocked value in a tool_use input ends the stream" \
  bash -c "grep -q '^event: error' '$T/sse' && ! grep -qiE 'message_stop|project|lcon now' '$T/sse'"
sse /v1/chat/completions "$(tool_body gpt-args "tell me about project falcon now")"
check "OpenAI stream: a blocked value in a tool call's arguments ends the stream" \
  bash -c "grep -q '\"code\":\"guardrail_rule\"' '$T/sse' && ! grep -qiE '\\[DONE\\]|project|lcon now' '$T/sse'"

# --- time to first byte: the role chunk is not held ---
curl -sN -o "$T/drip" -w '%{time_starttransfer} %{time_total}\n' -H "Authorization: Bearer $KEY" \
  -H 'content-type: application/json' -d "$(chat_body gpt-drip "$MAILTXT")" "$BASE/v1/chat/completions" >"$T/times"
read -r ttfb total <"$T/times"
check "drip stream: first byte at $ttfb s of $total s" python3 -c "import sys; t, T = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if T > 0.6 and t < T / 2 else 1)" "$ttfb" "$total"
check "drip stream: masked too" bash -c "grep -q 'EMAIL_OUT_1' '$T/drip' && ! grep -q 'roe@' '$T/drip'"

stop_serve
check "ledger: one event per request" test "$(events 'count(*)')" -eq 19

# --- built-in detectors only: the window shrinks to what may still grow ---
# With no PCRE2 rule on output, odock knows the shapes of the values it looks
# for: only a value that may still be growing at the end of the text, and the
# context before it, wait; the rest flows a few dozen bytes behind the model.
cat >"$T/builtin.json" <<JSON
{"database": "$ODOCK_DB",
 "providers": [{"name": "oai", "type": "openai", "base_url": "http://127.0.0.1:$FAKE_PORT/v1", "api_key": "\${FAKE_OPENAI_KEY}"}],
 "models": [{"name": "gpt", "deployments": [{"provider": "oai", "model": "gpt-4o-mini"}]},
            {"name": "gpt-upper", "deployments": [{"provider": "oai", "model": "gpt-4o-mini-upper"}]},
            {"name": "gpt-args", "deployments": [{"provider": "oai", "model": "gpt-4o-mini-tools-argsecho"}]}],
 "guardrails": {"pii": {"action": "mask"}, "secrets": {"action": "block"}}}
JSON
before=$(events 'count(*)')
start_serve "$T/builtin.json"
content() { # SSE file -> the text of every chunk, in order
  python3 -c 'import json,sys
t=""
for l in open(sys.argv[1]):
    if l.startswith("data: {"):
        for ch in json.loads(l[6:]).get("choices", []):
            t += (ch.get("delta") or {}).get("content") or ""
print(t)' "$1"; }
VALUES="Call me at +1 (415) 555-0132 or mail jane.roe@example.org; the card is 4111 1111 1111 1111, the IBAN GB82 WEST 1234 5698 7654 32, my ssn 536 22 1234, the host 10.20.30.40."
PROSE=$(python3 -c 'print(" ".join(f"word{i:03d}" for i in range(50)))')
TEXT="$PROSE $VALUES $PROSE $VALUES done"
sse /v1/chat/completions "$(chat_body gpt "$TEXT")"
b=$(post /v1/chat/completions "$KEY" "$(python3 -c 'import json,sys; print(json.dumps({"model":"gpt","messages":[{"role":"user","content":sys.argv[1]}]}))' "$TEXT")")
eq "built-in detectors: a streamed answer is masked exactly as the same answer not streamed" \
  "$(content "$T/sse")" "$(echo "$b" | jget choices.0.message.content)"
check "built-in detectors: the answer was masked (phone, email, card, iban, ssn)" \
  bash -c "for p in PHONE_1 EMAIL_1 CARD_1 IBAN_1 SSN_1; do grep -q \"\$p\" '$T/sse' || exit 1; done"
check "built-in detectors: no piece of any value reached the client" \
  bash -c "! grep -qE '555-01|0132|jane|roe@|4111|1111 1|GB82|WEST|5698|536 2|22 1234' '$T/sse'"
check "built-in detectors: the stream ended normally" bash -c "tail -c 20 '$T/sse' | grep -q 'data: \\[DONE\\]'"
# A secret after 400 bytes of prose ends the stream (secrets block): what
# went out before it is how far behind the model the text was. A fixed window
# of 256 bytes let out at most 400 - 256. The prompt has the key in lower
# case, which is no key; the model (upper) writes it in capitals.
LEAD=$(python3 -c 'print(" ".join(f"word{i:03d}" for i in range(50)))') # 399 bytes
sse /v1/chat/completions "$(chat_body gpt-upper "$LEAD key ${AWS_EXAMPLE,,} and more text after it")"
sent=$(content "$T/sse")
check "built-in detectors: the secret blocks the stream" bash -c "grep -q '\"code\":\"guardrail_secret\"' '$T/sse' && ! grep -qE 'AKIA|\\[DONE\\]' '$T/sse'"
check "built-in detectors: ${#sent} of the 405 bytes before the secret went out before the block (at least 300)" \
  test "${#sent}" -ge 300
check "built-in detectors: and what went out is the answer's start, unchanged" \
  bash -c "[ \"\${1:0:\${#2}}\" = \"\$2\" ]" _ "ECHO: ${LEAD^^}" "$sent"
ARGTXT="$PROSE $VALUES"
sse /v1/chat/completions "$(tool_body gpt-args "$ARGTXT")"
want=$(python3 -c 'import json,sys; print(json.dumps({"q": sys.argv[1]}, separators=(",", ":")))' "$PROSE ${VALUES/+1 (415) 555-0132/[PHONE_1]}")
want=${want/jane.roe@example.org/[EMAIL_1]}; want=${want/4111 1111 1111 1111/[CARD_1]}
want=${want/GB82 WEST 1234 5698 7654 32/[IBAN_1]}; want=${want/536 22 1234/[SSN_1]}
eq "built-in detectors: a tool call's arguments stream masked" "$(oai_args "$T/sse")" "$want"
check "... no piece of any value reached the client" \
  bash -c "! grep -qE '555-01|0132|jane|roe@|4111|1111 1|GB82|WEST|5698|536 2|22 1234' '$T/sse'"
stop_serve "built-in detectors: odock serve exits cleanly on SIGTERM"
check "ledger: four more events" test "$(events 'count(*)')" -eq $((before + 4))
