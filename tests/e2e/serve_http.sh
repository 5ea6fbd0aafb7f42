#!/usr/bin/env bash
# The HTTP front: key headers, request validation (400 naming the field),
# 404/405/413, keep-alive, slow clients, client disconnect mid-stream,
# graceful shutdown finishing in-flight requests.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve_helpers.bash"
start_fake
cat >"$T/odock.json" <<JSON
{"database": "$ODOCK_DB", "max_body_bytes": 200000,
 "providers": [
   {"name": "fake", "type": "openai", "base_url": "http://127.0.0.1:$FAKE_PORT/v1", "api_key": "\${FAKE_OPENAI_KEY}"},
   {"name": "mock", "type": "mock"}],
 "models": [{"name": "drip", "deployments": [{"provider": "fake", "model": "gpt-4o-drip-150"}]}],
 "prices": {"gpt-4o-drip-150": {"input": 1.0, "output": 2.0}}}
JSON
KEY=$(mkkey front)
start_serve "$T/odock.json" ODOCK_HEADER_TIMEOUT_S=2
CHAT='{"model":"mock/echo","messages":[{"role":"user","content":"hi"}]}'

eq "healthz" "$(curl -s "$BASE/healthz")" '{"status":"ok"}'
post /v1/chat/completions "$KEY" "$CHAT" >/dev/null; eq "Authorization: Bearer" "$(status)" 200
curl -s -o /dev/null -w '%{http_code}' -H "x-api-key: $KEY" -d "$CHAT" "$BASE/v1/chat/completions" >"$T/status"
eq "x-api-key header" "$(status)" 200
curl -s -o /dev/null -w '%{http_code}' -H "api-key: $KEY" -d "$CHAT" "$BASE/v1/chat/completions" >"$T/status"
eq "api-key header" "$(status)" 200
b=$(curl -s -w '\n%{http_code}' -d "$CHAT" "$BASE/v1/chat/completions")
eq "no key: 401 invalid_key" "$(tail -1 <<<"$b"),$(head -1 <<<"$b" | jget error.code)" 401,invalid_key
b=$(post /v1/chat/completions "odk_AAAAAAAA_nope" "$CHAT")
eq "wrong key: 401" "$(status),$(echo "$b" | jget error.type)" 401,authentication_error

b=$(post /v1/chat/completions "$KEY" '{"model": "mock/echo", "messages": [')
eq "bad JSON: 400" "$(status),$(echo "$b" | jget error.code),$(echo "$b" | jget error.message)" "400,invalid_request,body: not valid JSON"
b=$(post /v1/chat/completions "$KEY" '[{"model": "mock/echo"}]')
eq "a JSON array: 400 naming it" "$(status),$(echo "$b" | jget error.message)" "400,body: expected a JSON object"
b=$(post /v1/chat/completions "$KEY" '{"model":"mock/echo","messages":[{"role":"user","content":"a"}]} trailing')
eq "trailing bytes after the JSON: 400" "$(status),$(echo "$b" | jget error.message)" "400,body: not valid JSON"
# a name given twice: we would read the first, the provider the last (the
# guardrails would pass "hi" and the provider get the second messages)
ups=$(curl -s "http://127.0.0.1:$FAKE_PORT/__stats" | jget total)
b=$(post /v1/chat/completions "$KEY" '{"model":"drip","messages":[{"role":"user","content":"hi"}],"messages":[{"role":"user","content":"other"}]}')
eq "a member given twice: 400 naming it" "$(status),$(echo "$b" | jget error.message)" '400,body: "messages" given twice in one object'
b=$(post /v1/chat/completions "$KEY" '{"model":"drip","max_tokens":5,"messages":[{"role":"user","content":"x","role":"system"}]}')
eq "... at any depth" "$(status),$(echo "$b" | jget error.message)" '400,body: "role" given twice in one object'
# \u0000: the guardrails read C strings, so text after it would go on unread,
# and cutting or replacing it would change the caller's text: refused
b=$(post /v1/chat/completions "$KEY" '{"model":"drip","messages":[{"role":"user","content":"hi\u0000 '"$AWS_EXAMPLE"'"}]}')
eq "a \\u0000 in a string: 400 naming it" "$(status),$(echo "$b" | jget error.message)" '400,body: \u0000 in a string is not accepted'
b=$(post /v1/embeddings "$KEY" '{"model":"drip","input":"a","x\u0000":1}')
eq "... in a name too" "$(status),$(echo "$b" | jget error.message)" '400,body: \u0000 in a string is not accepted'
b=$(post /v1/chat/completions "$KEY" '{"model":"mock/echo","messages":[{"role":"user","content":"a \\u0000 b"}]}')
eq "... while the text \\u0000 (an escaped backslash) is fine" "$(status)" 200
eq "... and the provider was never called" "$(curl -s "http://127.0.0.1:$FAKE_PORT/__stats" | jget total)" "$ups"
b=$(post /v1/chat/completions "$KEY" '{"model":"mock/echo","messages":"hi"}')
eq "wrong type: message names the field" "$(status),$(echo "$b" | jget error.message)" "400,messages: expected an array"
b=$(post /v1/chat/completions "$KEY" '{"model":"mock/echo","messages":[{"content":"x"}]}')
eq "missing role: names the field" "$(echo "$b" | jget error.message)" "messages[0].role: expected a string"
b=$(post /v1/chat/completions "$KEY" '{"model":"mock/echo","stream":"yes","messages":[{"role":"user","content":"x"}]}')
eq "stream: expected a boolean" "$(echo "$b" | jget error.message)" "stream: expected a boolean"
b=$(post /v1/chat/completions "$KEY" '{"model":"mock/echo","max_tokens":"10","messages":[{"role":"user","content":"x"}]}')
eq "max_tokens: expected an integer" "$(echo "$b" | jget error.message)" "max_tokens: expected an integer"
b=$(post /v1/chat/completions "$KEY" '{"model":7,"messages":[]}')
eq "model: expected a string" "$(echo "$b" | jget error.message)" "model: expected a string"
b=$(post /v1/embeddings "$KEY" '{"model":"mock/echo","input":5}')
eq "embeddings input type" "$(status),$(echo "$b" | jget error.message)" "400,input: expected a string or an array"
b=$(post /v1/chat/completions "$KEY" '{"model":"mock/echo","messages":[]}')
eq "empty messages: 400 naming the field" "$(status),$(echo "$b" | jget error.message)" "400,messages: expected at least one item"
b=$(post /v1/chat/completions "$KEY" '{"model":"mock/echo","stop":5,"messages":[{"role":"user","content":"x"}]}')
eq "stop: wrong type" "$(echo "$b" | jget error.message)" "stop: expected a string or an array"
b=$(post /v1/chat/completions "$KEY" '{"model":"mock/echo","response_format":"json","messages":[{"role":"user","content":"x"}]}')
eq "response_format: wrong type" "$(echo "$b" | jget error.message)" "response_format: expected an object"
b=$(post /v1/chat/completions "$KEY" '{"model":"mock/echo","temperature":"hot","messages":[{"role":"user","content":"x"}]}')
eq "temperature: wrong type" "$(echo "$b" | jget error.message)" "temperature: expected a number"
b=$(post /v1/chat/completions "$KEY" '{"model":"mock/echo","stop":null,"tools":null,"messages":[{"role":"user","content":"x"}]}')
eq "null optional fields are accepted" "$(status)" 200
b=$(post /v1/embeddings "$KEY" '{"model":"mock/echo","input":[]}')
eq "embeddings: empty input" "$(status),$(echo "$b" | jget error.message)" "400,input: expected at least one item"
b=$(post /v1/messages "$KEY" '{"model":"mock/echo","max_tokens":5,"system":7,"messages":[{"role":"user","content":"x"}]}')
eq "/v1/messages system: wrong type" "$(status),$(echo "$b" | jget error.message)" "400,system: expected a string or an array of blocks"
b=$(post /v1/chat/completions "$KEY" '{"model":"no-such-model","messages":[{"role":"user","content":"x"}]}')
eq "unknown model: 404 model_not_found" "$(status),$(echo "$b" | jget error.code)" 404,model_not_found
b=$(post /v1/chat/completions "$KEY" '{"model":"nosuchprovider/x","messages":[{"role":"user","content":"x"}]}')
eq "unknown provider: 404" "$(status)" 404
b=$(post /v1/messages "$KEY" '{"model":"mock/echo","max_tokens":5,"messages":"x"}')
eq "/v1/messages errors are Anthropic-shaped" "$(status),$(echo "$b" | jget type),$(echo "$b" | jget error.type)" 400,error,invalid_request_error
big=$(python3 -c 'import json; print(json.dumps({"model":"mock/echo","messages":[{"role":"user","content":"x"*300000}]}))')
b=$(post /v1/chat/completions "$KEY" "$big")
eq "oversized body: 413" "$(status),$(echo "$b" | jget error.code)" 413,request_too_large
b=$(post /v1/chat/completions "$KEY" "$CHAT" -H 'Transfer-Encoding: chunked')
eq "chunked request body: read and answered" "$(status),$(echo "$b" | jget choices.0.message.content)" 200,hi
curl -s -o /dev/null -w '%{http_code}' "$BASE/v1/nothing" >"$T/status"; eq "unknown path: 404" "$(status)" 404
curl -s -o /dev/null -w '%{http_code}' "$BASE/v1/chat/completions" >"$T/status"; eq "GET on a POST path: 405" "$(status)" 405
check "denials are recorded (bad request, unknown model, wrong key)" wait_events 1 "WHERE reason='model_not_found'"
eq "413 is not a model call: only the checks above are recorded" "$(events 'count(*)' "WHERE status='ok'")" 6

# keep-alive: one connection for several requests, streamed ones included
curl -sv -H "Authorization: Bearer $KEY" -d "$CHAT" "$BASE/v1/chat/completions" \
     -H "Authorization: Bearer $KEY" -d '{"model":"mock/echo","stream":true,"messages":[{"role":"user","content":"s"}]}' \
     "$BASE/v1/chat/completions" "$BASE/healthz" >"$T/ka" 2>&1
eq "keep-alive: connection reused after plain and streamed answers" "$(grep -c 'Re-using existing connection' "$T/ka")" 2

# slow clients cannot hold the server: unfinished headers / body are dropped
cat >"$T/slow.py" <<'PY'
import socket, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
if mode == "headers":
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
else:
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"mo")
s.settimeout(8)
t0 = time.time()
try:
    d = s.recv(1000)
    while d:
        d = s.recv(1000)
except Exception as e:
    print("still open after", time.time() - t0, e); sys.exit(1)
print(round(time.time() - t0, 1))
PY
python3 "$T/slow.py" "$PORT" headers >"$T/slow1" &
sp1=$!
python3 "$T/slow.py" "$PORT" body >"$T/slow2" &
sp2=$!
sleep 0.3
eq "server answers while slow clients hang" "$(curl -s -m 2 "$BASE/healthz")" '{"status":"ok"}'
check "slow headers: connection dropped by the header timeout" wait "$sp1"
check "slow body: connection dropped by the header timeout" wait "$sp2"
# the body's deadline is idle time: one that keeps coming, over more than the
# 2 s header timeout in all, is read to the end
eb='{"model":"mock/echo","messages":[{"role":"user","content":"hi"}]}'
j=$(python3 "$ROOT/tests/e2e/raw_http.py" "$PORT" "$SERVE_PID" "$(jq -nc --arg b "$eb" --arg k "$KEY" \
  '{send: [[0, [{raw: ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + $k + "\r\nContent-Length: " + ($b | length | tostring) + "\r\n\r\n" + $b[0:10])}]],
          [1.2, [{raw: $b[10:30]}]], [1.2, [{raw: $b[30:]}]]], expect: 1, timeout: 3}')")
eq "a body still arriving after the header timeout (2.4 s in all, 1.2 s gaps): answered" "$(jq -c '.status' <<<"$j")" '[200]'

# pipelining (plain HTTP is odock's own server, gateway/h1serve.c): requests
# written in one go are answered one after the other, in order, on the same
# connection. lws 4.1, which served them before, re-offered bytes behind a
# POST body on every loop turn (a busy loop; once a crash, once a
# server-wide hang): odock's CPU time while it lasts shows there is none.
# raw KEY MODEL MODE [PORT TLS]: three chat requests in one write (MODE
# coalesced), or one and another 0.3 s later (MODE later); raw_http.py's line
raw() {
  local r='{"path": "/v1/chat/completions", "headers": {"Authorization": "Bearer '"$1"'"}, "body": {"model": "'"$2"'", "messages": [{"role": "user", "content": "p"}]}}'
  local send="[[0, [$r, $r, $r]]]" n=3
  [ "$3" = later ] && send="[[0, [$r]], [0.3, [$r]]]" && n=2
  python3 "$ROOT/tests/e2e/raw_http.py" "${4:-$PORT}" "${6:-$SERVE_PID}" \
    "{\"send\": $send, \"expect\": $n, \"timeout\": 4, \"min_s\": 1.2, \"tls\": ${5:-false}}"
}
j=$(raw "odk_AAAAAAAA_nope" mock/echo coalesced)
eq "pipelined POSTs with a wrong key: three 401s in one go, the connection kept" "$(jq -c '[.status, .closed]' <<<"$j")" "[[401,401,401],false]"
check "... and no busy loop ($(jq .cpu_ticks <<<"$j") ticks of CPU in $(jq .seconds <<<"$j") s)" test "$(jq .cpu_ticks <<<"$j")" -lt 30
eq "... and the server still answers (it used to hang in lws)" "$(curl -s -m 2 "$BASE/healthz")" '{"status":"ok"}'
before=$(events 'count(*)' "WHERE target='mock/slow-800' AND status='ok'")
j=$(raw "$KEY" mock/slow-800 coalesced)
eq "pipelined POSTs behind a slow call: each answered in turn, the connection kept" \
   "$(jq -c '[.status, [.bodies[] | fromjson | .object], .closed]' <<<"$j")" \
   '[[200,200,200],["chat.completion","chat.completion","chat.completion"],false]'
check "... one after the other: $(jq .seconds <<<"$j") s for three 0.8 s calls" \
  awk -v s="$(jq .seconds <<<"$j")" 'BEGIN { exit !(s >= 2.4) }'
check "... without a busy loop ($(jq .cpu_ticks <<<"$j") ticks)" test "$(jq .cpu_ticks <<<"$j")" -lt 30
check "... three calls recorded as ok" wait_events $((before + 3)) "WHERE target='mock/slow-800' AND status='ok'"
eq "... none as client_closed" "$(events 'count(*)' "WHERE target='mock/slow-800' AND reason='client_closed'")" 0
j=$(raw "$KEY" mock/slow-500 later)
eq "a request sent while the first is under way: both answered, in order" "$(jq -c '[.status, .closed]' <<<"$j")" "[[200,200],false]"
check "... without a busy loop ($(jq .cpu_ticks <<<"$j") ticks)" test "$(jq .cpu_ticks <<<"$j")" -lt 30

# more pipelined bytes than odock reads ahead (64 KB) behind a slow call:
# reading pauses and resumes, every request answered in order, no busy loop
hz='{"method": "GET", "path": "/healthz"}'
slow='{"path": "/v1/chat/completions", "headers": {"Authorization": "Bearer '"$KEY"'"}, "body": {"model": "mock/slow-500", "messages": [{"role": "user", "content": "p"}]}}'
jq -nc --argjson s "$slow" --argjson h "$hz" '{send: [[0, ([$s] + [range(4000) | $h])]], expect: 4001, timeout: 4, min_s: 1}' >"$T/spec"
j=$(python3 "$ROOT/tests/e2e/raw_http.py" "$PORT" "$SERVE_PID" "@$T/spec")
eq "4,000 requests (128 KB) pipelined behind a slow call: all answered, in order" \
   "$(jq -c '[(.status | length), (.status | unique), (.bodies[0] | fromjson | .object), (.bodies[4000] | fromjson | .status), .closed]' <<<"$j")" \
   '[4001,[200],"chat.completion","ok",false]'
check "... without a busy loop ($(jq .cpu_ticks <<<"$j") ticks in $(jq .seconds <<<"$j") s)" test "$(jq .cpu_ticks <<<"$j")" -lt 60
# an HTTP/1.0 client cannot read chunked framing: its stream ends with the connection
j=$(python3 "$ROOT/tests/e2e/raw_http.py" "$PORT" "$SERVE_PID" "$(jq -nc --arg k "$KEY" --arg b '{"model":"mock/echo","stream":true,"messages":[{"role":"user","content":"hi"}]}' \
  '{send: [[0, [{raw: ("POST /v1/chat/completions HTTP/1.0\r\nAuthorization: Bearer " + $k + "\r\nContent-Length: " + ($b | length | tostring) + "\r\n\r\n" + $b)}]]], timeout: 3}')")
eq "HTTP/1.0 stream: SSE without chunk framing, ended by the close" \
   "$(jq -c '[.status, (.bodies[0] | startswith("data: {")), (.bodies[0] | test("data: \\[DONE\\]\n\n$")), .closed]' <<<"$j")" '[[200],true,true,true]'

# one request on a raw connection: status list, closed, first body (JSON)
rq() { # TEXT [TIMEOUT]: written as it is
  local r; r=$(jq -nc --arg t "$1" '{raw: $t}')
  python3 "$ROOT/tests/e2e/raw_http.py" "$PORT" "$SERVE_PID" "{\"send\": [[0, [$r]]], \"timeout\": ${2:-2}}"
}
# header names that lws 4.1 never answered (a strict prefix of a name it knows)
j=$(rq $'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Auth: 1\r\nA: 2\r\nX-Au: 3\r\nConnection: close\r\n\r\n')
eq "header names lws's lexer stalled on (X-Auth:, A:, X-Au:): answered" "$(jq -c '[.status, .bodies[0], .closed]' <<<"$j")" '[[200],"{\"status\":\"ok\"}",true]'
j=$(rq $'HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
eq "HEAD /healthz: 200, the length of the GET answer, no body" "$(jq -c '[.status, .bodies[0], .closed]' <<<"$j")" '[[200],"",true]'
h=$(curl -sI "$BASE/healthz" | tr -d '\r' | grep -i '^content-length')
eq "... content-length as for GET" "$h" "content-length: 15"
j=$(rq $'GET /healthz HTTP/1.0\r\n\r\n')
eq "HTTP/1.0 without keep-alive: answered, then closed" "$(jq -c '[.status, .bodies[0], .closed]' <<<"$j")" '[[200],"{\"status\":\"ok\"}",true]'
j=$(rq $'GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /healthz HTTP/1.0\r\n\r\n')
eq "HTTP/1.0 keep-alive: the second request on the same connection" "$(jq -c '[.status, .closed]' <<<"$j")" '[[200,200],true]'
eb='{"model":"mock/echo","messages":[{"role":"user","content":"hi"}]}'
j=$(python3 "$ROOT/tests/e2e/raw_http.py" "$PORT" "$SERVE_PID" "$(jq -nc --arg b "$eb" --arg h $'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer '"$KEY"$'\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: '"${#eb}"$'\r\nConnection: close\r\n\r\n' \
  '{send: [[0, [{raw: $h}]], [0.3, [{raw: $b}]]], timeout: 2}')")
eq "Expect: 100-continue: 100 before the body, then the answer" "$(jq -c '[.status, .closed]' <<<"$j")" '[[100,200],true]'
long=$(head -c 40000 /dev/zero | tr '\0' a)
j=$(rq "GET /healthz HTTP/1.1"$'\r\n'"X-Big: $long"$'\r\n\r\n')
eq "a 40 KB request head: 431, closed" "$(jq -c '[.status, (.bodies[0] | fromjson | .error.code), .closed]' <<<"$j")" '[[431],"request_too_large",true]'
for bad in $'GET /healthz\r\n\r\n' $'GET  /healthz HTTP/1.1\r\n\r\n' $'GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n' \
           $'GET /healthz HTTP/1.1\r\nX-A: 1\r\n  folded\r\n\r\n' $'GET healthz HTTP/1.1\r\n\r\n' $'GET /%00 HTTP/1.1\r\n\r\n' \
           $'GET /healthz HTTP/1.1\r\nX-A: a\rb\r\n\r\n' $'POST /v1/chat/completions HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' \
           $'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n' $'GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'; do
  j=$(rq "$bad")
  eq "malformed head $(jq -Rc . <<<"${bad%%$'\r'*}")...: 400, closed" "$(jq -c '[.status, (.bodies[0] | fromjson | .error.code), .closed]' <<<"$j")" '[[400],"invalid_request",true]'
done
j=$(rq $'GET /healthz HTTP/2.0\r\n\r\n')
eq "HTTP/2.0 on an HTTP/1 connection: 505" "$(jq -c '[.status, .closed]' <<<"$j")" '[[505],true]'
j=$(rq $'GET http://gw.example/health HTTP/1.1\r\nHost: gw.example\r\nConnection: close\r\n\r\n')
eq "absolute-form target: routed by its path" "$(jq -c '.status' <<<"$j")" '[200]'
eq "percent-encoded path: decoded before routing" "$(curl -s "$BASE/%68ealthz")" '{"status":"ok"}'
eq "a Date header on answers (RFC 9110 6.6.1)" "$(curl -sI "$BASE/healthz" | tr -d '\r' | grep -ic '^date: ')" 1

# request framing lws would misread: rejected before any body is read
frame() { # HEADER_LINES: a POST with them and a 2-byte body; prints status,code,message,closed
  local r; r=$(jq -nc --arg h "$1" '{raw: ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + $h + "\r\n{}")}')
  python3 "$ROOT/tests/e2e/raw_http.py" "$PORT" "$SERVE_PID" "{\"send\": [[0, [$r]]], \"timeout\": 2}" |
    jq -r '[.status[0], (.bodies[0] | fromjson | .error.code, .error.message), .closed] | @csv'
}
eq "Content-Length with Transfer-Encoding: 400, closed" "$(frame $'Content-Length: 2\r\nTransfer-Encoding: chunked\r\n')" \
   '400,"invalid_request","both Content-Length and Transfer-Encoding: send only Content-Length",true'
eq "two differing Content-Length: 400, closed" "$(frame $'Content-Length: 2\r\nContent-Length: 7\r\n')" \
   '400,"invalid_request","Content-Length: expected one non-negative integer",true'
chunk() { # BODY_TEXT [EXPECT]: a chunked POST of it; prints status,code,closed (read to the close, or EXPECT answers)
  printf '%s' "$1" >"$T/chunked"
  jq -nc --rawfile b "$T/chunked" --arg k "$KEY" --argjson n "${2:-9}" \
    '{send: [[0, [{raw: ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + $k + "\r\nTransfer-Encoding: chunked\r\n\r\n" + $b)}]]], expect: $n, timeout: 2}' >"$T/spec"
  python3 "$ROOT/tests/e2e/raw_http.py" "$PORT" "$SERVE_PID" "@$T/spec" |
    jq -r '[.status[0], (.bodies[0] | fromjson | .error.code // .choices[0].message.content), .closed] | @csv'
}
m='{"model":"mock/echo","messages":[{"role":"user","content":"hi"}]}'
printf -v cb '%x;ext=1\r\n%s\n%x\r\n%s\r\n0\r\nx-trailer: 1\r\n\r\n' 10 "${m:0:10}" $((${#m} - 10)) "${m:10}"
eq "chunked body in pieces, with extensions, bare LF line ends and a trailer" "$(chunk "$cb" 1)" '200,"hi",false'
eq "chunked body, a bad chunk size: 400, closed" "$(chunk $'zz\r\n{}\r\n0\r\n\r\n')" '400,"invalid_request",true'
eq "chunked body, data longer than its chunk: 400, closed" "$(chunk $'2\r\n{}}\r\n0\r\n\r\n')" '400,"invalid_request",true'
eq "Transfer-Encoding other than chunked: 501, closed" "$(frame $'Transfer-Encoding: gzip\r\n')" \
   '501,"not_implemented","Transfer-Encoding: only chunked is supported",true'
eq "Transfer-Encoding twice: 501, closed" "$(frame $'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n')" \
   '501,"not_implemented","Transfer-Encoding: only chunked is supported",true'
big=$(head -c 300000 /dev/zero | tr '\0' a)
printf -v cb '%x\r\n%s\r\n0\r\n\r\n' ${#big} "$big"
eq "chunked body over max_body_bytes: 413" "$(chunk "$cb" 1 | cut -d, -f1,2)" '413,"request_too_large"'
eq "a negative Content-Length: 400, closed" "$(frame $'Content-Length: -5\r\n')" \
   '400,"invalid_request","Content-Length: expected one non-negative integer",true'

# client disconnect mid-stream: upstream cancelled, charged for what streamed
curl -s -N -m 1 -H "Authorization: Bearer $KEY" -d '{"model":"drip","stream":true,"messages":[{"role":"user","content":"one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty"}]}' "$BASE/v1/chat/completions" >"$T/partial"
check "disconnect: client got part of the stream" grep -q '^data: {' "$T/partial"
check "disconnect: recorded as client_closed" wait_events 1 "WHERE target='drip' AND reason='client_closed'"
check "disconnect: charged for streamed text" test "$(events "completion_tokens" "WHERE target='drip'")" -ge 1
check "disconnect: cost charged" test "$(events "cost_micros" "WHERE target='drip'")" -ge 1

# client disconnect while a plain (non-stream) request waits upstream
curl -s -m 0.5 -H "Authorization: Bearer $KEY" -d '{"model":"mock/slow-1500","messages":[{"role":"user","content":"x"}]}' "$BASE/v1/chat/completions" >/dev/null
check "disconnect while waiting: recorded as client_closed" wait_events 1 "WHERE target='mock/slow-1500' AND reason='client_closed'"

# backpressure: a client reading at 1 MB/s gets a ~3 MB stream intact
python3 -c 'import json; print(json.dumps({"model":"fake/gpt-4o","stream":True,"messages":[{"role":"user","content":" ".join("w%05d" % i for i in range(15000))}]}))' >"$T/bigreq"
curl -s -N --limit-rate 1M -H "Authorization: Bearer $KEY" --data-binary @"$T/bigreq" "$BASE/v1/chat/completions" >"$T/bigstream"
check "backpressure: slow reader gets every chunk, in order, and [DONE]" python3 -c '
import json, sys
want = "echo: " + " ".join("w%05d" % i for i in range(15000))
got, done = [], False
for line in open(sys.argv[1]):
    if line.startswith("data: [DONE]"): done = True
    elif line.startswith("data: "):
        for c in json.loads(line[6:]).get("choices", []):
            got.append(c.get("delta", {}).get("content") or "")
assert done and "".join(got) == want, (done, len("".join(got)), len(want))' "$T/bigstream"

# mutated and split requests (fixed seeds) on 3,000 connections: the server
# keeps answering, and the sanitizer build reports nothing (stop_serve below)
python3 "$ROOT/tests/e2e/http_fuzz.py" "$PORT" 1500 7 "$KEY" >/dev/null
python3 "$ROOT/tests/e2e/http_fuzz.py" "$PORT" 1500 8 >/dev/null
eq "after 3,000 mutated requests the server still answers" "$(curl -s -m 2 "$BASE/healthz")" '{"status":"ok"}'

# graceful shutdown: an in-flight request finishes, its event is flushed
curl -s -o "$T/inflight" -w '%{http_code}' -H "Authorization: Bearer $KEY" \
  -d '{"model":"mock/slow-1200","messages":[{"role":"user","content":"finish me"}]}' "$BASE/v1/chat/completions" >"$T/inflight_status" &
cp=$!
sleep 0.4
stop_serve "SIGTERM: drains and exits cleanly"
wait "$cp"
eq "SIGTERM: in-flight request finished" "$(cat "$T/inflight_status")" 200
eq "SIGTERM: its ledger event was flushed" "$(events 'count(*)' "WHERE target='mock/slow-1200' AND status='ok'")" 1

# an idle keep-alive connection closes after header_timeout_s (2 s here)
start_serve "$T/odock.json" ODOCK_HEADER_TIMEOUT_S=2
j=$(python3 "$ROOT/tests/e2e/raw_http.py" "$PORT" "$SERVE_PID" '{"send": [[0, [{"method": "GET", "path": "/healthz"}]]], "timeout": 5}')
eq "an idle keep-alive connection: closed after header_timeout_s" "$(jq -c '[.status, .closed, (.seconds < 4.5 and .seconds > 1.5)]' <<<"$j")" '[[200],true,true]'
stop_serve "odock serve, started again, exits cleanly"

# no config at all: the embedded default (mock provider) serves
P2=$(free_port)
DKEY=$("$ODOCK" keys create --name d --json --db "$T/default.db" | jget key)
(cd "$T" && exec env -u ODOCK_CONFIG "$ODOCK" serve --listen "127.0.0.1:$P2" --db "$T/default.db" >"$T/default.log" 2>&1) &
dp=$!; _pids+=("$dp")
wait_port "$P2"
b=$(curl -s -H "Authorization: Bearer $DKEY" -d "$CHAT" "http://127.0.0.1:$P2/v1/chat/completions")
eq "embedded default config: mock/echo answers" "$(echo "$b" | jget choices.0.message.content)" hi
kill -TERM "$dp"; wait "$dp"; eq "embedded default: clean exit" "$?" 0

# TLS (cert and key from the config); HTTP/1.1 with chunked SSE over it
if command -v openssl >/dev/null; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 1 -subj /CN=localhost >/dev/null 2>&1
  cat >"$T/tls.json" <<JSON
{"database": "$T/default.db", "tls": {"cert": "$T/cert.pem", "key": "$T/key.pem"}, "providers": [{"name": "mock", "type": "mock"}]}
JSON
  P3=$(free_port)
  "$ODOCK" serve --config "$T/tls.json" --listen "127.0.0.1:$P3" --db "$T/default.db" >"$T/tls.log" 2>&1 &
  tp=$!; _pids+=("$tp")
  wait_port "$P3"
  b=$(curl -sk -N -H "Authorization: Bearer $DKEY" -d '{"model":"mock/echo","stream":true,"messages":[{"role":"user","content":"over tls"}]}' "https://127.0.0.1:$P3/v1/chat/completions")
  check "TLS: streamed answer over https" grep -q 'over tls' <<<"$b"
  # TLS stays on lws, and so does its guard against pipelining
  j=$(raw "odk_AAAAAAAA_nope" mock/echo coalesced "$P3" true "$tp")
  eq "TLS (lws): pipelined POSTs with a wrong key: the 401, then the connection closes" "$(jq -c '[.status, .closed]' <<<"$j")" "[[401],true]"
  check "... and no busy loop ($(jq .cpu_ticks <<<"$j") ticks)" test "$(jq .cpu_ticks <<<"$j")" -lt 30
  eq "... and the TLS server still answers" "$(curl -sk -m 2 "https://127.0.0.1:$P3/healthz")" '{"status":"ok"}'
  code=$(curl -sk -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $DKEY" -H 'Transfer-Encoding: chunked' \
    -d '{"model":"mock/echo","messages":[{"role":"user","content":"x"}]}' "https://127.0.0.1:$P3/v1/chat/completions")
  eq "TLS (lws): a chunked request body is refused with 411" "$code" 411
  kill -TERM "$tp"; wait "$tp"; eq "TLS: clean exit" "$?" 0
fi
