/* tests/unit/test_prov.c — the provider adapters: request building (URL,
 * headers, body), response and stream parsing against recorded payloads in
 * testdata/providers/, error messages, the SSE parser. */
#include "test_prov_util.h"

#include "core/json.h"

static od_kv extra_headers[] = {{(char *)"X-Team", (char *)"blue"}};

static od_provider_cfg provider(const char *type, const char *base, const char *key)
{
    od_provider_cfg p = {0};
    p.name = (char *)"p1";
    p.type = (char *)type;
    p.base_url = (char *)base;
    p.api_key = (char *)key;
    p.headers = extra_headers;
    p.nheaders = 1;
    return p;
}

static cJSON *simple_request(void)
{
    return cJSON_Parse("{\"model\":\"alias\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                       "\"seed\":7,\"response_format\":{\"type\":\"json_object\"},"
                       "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
                       "\"stream\":true,\"stream_options\":{\"include_usage\":false},"
                       "\"x_unknown\":{\"keep\":1}}");
}

/* ---- registry ---- */

static void t_registry(void **state)
{
    const char *types[] = {"openai", "openai-compatible", "azure", "anthropic", "gemini", "mock"};
    for (size_t i = 0; i < OD_ARRAY_LEN(types); i++) {
        const prov_adapter *a = prov_adapter_for(types[i]);
        assert_non_null(a);
        assert_string_equal(a->type, types[i]);
        assert_non_null(a->chat_request);
        assert_non_null(a->chat_response);
        assert_non_null(a->stream_new);
        assert_non_null(a->error_message);
    }
    assert_null(prov_adapter_for("bedrock"));
    assert_null(prov_adapter_for(NULL));
    assert_null(prov_adapter_for("anthropic")->embed_request);
    assert_non_null(prov_adapter_for("gemini")->embed_request);
    assert_true(prov_is_inprocess("mock"));
    assert_false(prov_is_inprocess("openai"));
}

/* ---- OpenAI, compatible, Azure ---- */

static void t_openai_request(void **state)
{
    od_provider_cfg p = provider("openai", NULL, "sk-test-secret");
    cJSON *req = simple_request();
    prov_http h;
    char *err = NULL;
    assert_int_equal(prov_adapter_for("openai")->chat_request(&p, "gpt-4o", req, 0, &h, &err), 0);
    assert_string_equal(h.url, "https://api.openai.com/v1/chat/completions");
    assert_string_equal(header_value(&h, "Authorization"), "Bearer sk-test-secret");
    assert_string_equal(header_value(&h, "Content-Type"), "application/json");
    assert_string_equal(header_value(&h, "X-Team"), "blue");
    cJSON *b = http_body(&h);
    assert_jstr(b, "model", "gpt-4o");
    assert_jstr(b, "messages.0.content", "hi");
    assert_int_equal((int)jpath_num(b, "seed"), 7);
    assert_jstr(b, "response_format.type", "json_object");
    assert_jstr(b, "tools.0.function.name", "f");
    assert_int_equal((int)jpath_num(b, "x_unknown.keep"), 1);
    assert_null(cJSON_GetObjectItem(b, "stream"));
    assert_null(cJSON_GetObjectItem(b, "stream_options"));
    cJSON_Delete(b);
    prov_http_free(&h);

    /* streaming: usage is always asked for, whatever the client said */
    assert_int_equal(prov_adapter_for("openai")->chat_request(&p, "gpt-4o", req, 1, &h, &err), 0);
    b = http_body(&h);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(b, "stream")));
    assert_true(cJSON_IsTrue(jpath(b, "stream_options.include_usage")));
    assert_string_equal(header_value(&h, "Accept"), "text/event-stream");
    cJSON_Delete(b);
    prov_http_free(&h);
    assert_false(prov_client_wants_usage(req));
    cJSON_Delete(req);
    assert_null(err);
}

/* The request as the gateway parses it (od_json_parse): an integer past a
 * double's 53 bits reaches the provider digit for digit, in the OpenAI body
 * as written and in tool-call arguments translated for Anthropic. */
static void t_big_integers_reach_provider(void **state)
{
    (void)state;
    const char *doc = "{\"model\":\"alias\",\"seed\":12345678901234567890,\"messages\":["
                      "{\"role\":\"user\",\"content\":\"look it up\"},"
                      "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
                      "\"function\":{\"name\":\"get\",\"arguments\":\"{\\\"id\\\":1790000000000000123}\"}}]},"
                      "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"found\"}]}";
    cJSON *req = od_json_parse(doc, strlen(doc), NULL);
    assert_non_null(req);
    od_provider_cfg p = provider("openai", NULL, "sk-test-secret");
    prov_http h;
    char *err = NULL;
    assert_int_equal(prov_adapter_for("openai")->chat_request(&p, "gpt-4o", req, 0, &h, &err), 0);
    assert_non_null(strstr(h.body.p, "\"seed\":12345678901234567890"));
    prov_http_free(&h);
    od_provider_cfg pa = provider("anthropic", NULL, "sk-ant-test");
    assert_int_equal(prov_adapter_for("anthropic")->chat_request(&pa, "claude-x", req, 0, &h, &err), 0);
    assert_non_null(strstr(h.body.p, "\"input\":{\"id\":1790000000000000123}"));
    prov_http_free(&h);
    assert_null(err);
    cJSON_Delete(req);
}

static void t_compat_request(void **state)
{
    cJSON *req = simple_request();
    prov_http h;
    char *err = NULL;
    const prov_adapter *a = prov_adapter_for("openai-compatible");
    od_provider_cfg p = provider("openai-compatible", "http://127.0.0.1:8000/v1/", NULL);
    assert_int_equal(a->chat_request(&p, "llama3", req, 0, &h, &err), 0);
    assert_string_equal(h.url, "http://127.0.0.1:8000/v1/chat/completions");
    assert_null(header_value(&h, "Authorization")); /* no key, no header */
    prov_http_free(&h);

    /* no base_url: an error naming the field, never the key */
    p = provider("openai-compatible", NULL, "sk-must-not-leak");
    assert_int_equal(a->chat_request(&p, "llama3", req, 0, &h, &err), -1);
    assert_non_null(err);
    assert_non_null(strstr(err, "base_url"));
    assert_null(strstr(err, "sk-must-not-leak"));
    free(err);
    prov_http_free(&h);
    cJSON_Delete(req);
}

static void t_azure_request(void **state)
{
    cJSON *req = simple_request();
    prov_http h;
    char *err = NULL;
    const prov_adapter *a = prov_adapter_for("azure");
    od_provider_cfg p = provider("azure", "https://x.openai.azure.com/", "az-key");
    p.api_version = (char *)"2024-10-21";
    assert_int_equal(a->chat_request(&p, "gpt-4o", req, 1, &h, &err), 0);
    assert_string_equal(h.url, "https://x.openai.azure.com/openai/deployments/gpt-4o/chat/completions"
                               "?api-version=2024-10-21");
    assert_string_equal(header_value(&h, "api-key"), "az-key");
    assert_null(header_value(&h, "Authorization"));
    prov_http_free(&h);

    p.api_version = NULL; /* a default version, and odd deployment names escaped */
    assert_int_equal(a->embed_request(&p, "my deploy", req, &h, &err), 0);
    assert_string_equal(h.url, "https://x.openai.azure.com/openai/deployments/my%20deploy/embeddings"
                               "?api-version=2024-10-21");
    prov_http_free(&h);

    p.base_url = NULL;
    assert_int_equal(a->chat_request(&p, "gpt-4o", req, 0, &h, &err), -1);
    free(err);
    prov_http_free(&h);
    cJSON_Delete(req);
}

static void t_openai_response(void **state)
{
    size_t len;
    char *body = read_fixture("openai_chat.json", &len);
    prov_usage u = {0};
    char *err = NULL;
    cJSON *r = prov_adapter_for("openai")->chat_response("gpt-4o", body, len, &u, &err);
    assert_non_null(r);
    assert_jstr(r, "choices.0.message.content", "Hello! How can I assist you today?");
    assert_jstr(r, "system_fingerprint", "fp_fc9f1d7035"); /* passed through */
    assert_int_equal(u.prompt_tokens, 2019);
    assert_int_equal(u.completion_tokens, 10);
    assert_int_equal(u.cached_tokens, 1920);
    assert_true(u.seen);
    cJSON_Delete(r);
    free(body);

    body = read_fixture("openai_chat_tools.json", &len);
    memset(&u, 0, sizeof u);
    r = prov_adapter_for("azure")->chat_response("gpt-4o", body, len, &u, &err);
    assert_jstr(r, "choices.0.message.tool_calls.0.function.name", "get_current_weather");
    assert_int_equal(u.prompt_tokens, 82);
    cJSON_Delete(r);
    free(body);

    assert_null(prov_adapter_for("openai")->chat_response("gpt-4o", "{\"x\":1}", 7, &u, &err));
    assert_non_null(err);
    free(err);
}

static void t_openai_stream(void **state)
{
    od_clock_set_wall(fixed_now);
    /* fed 5 bytes at a time, and whole */
    size_t pieces[] = {5, 100000};
    for (size_t i = 0; i < OD_ARRAY_LEN(pieces); i++) {
        replay r;
        assert_int_equal(replay_fixture(&r, prov_adapter_for("openai"), "gpt-4o-mini",
                                        "openai_stream.sse", pieces[i]), 1);
        assert_int_equal(cJSON_GetArraySize(r.chunks), 6);
        char *text = chunks_text(r.chunks);
        assert_string_equal(text, "Hello! How can I help?");
        free(text);
        assert_string_equal(chunks_finish(r.chunks), "stop");
        const cJSON *last = cJSON_GetArrayItem(r.chunks, 5);
        assert_true(prov_chunk_is_usage(last));
        assert_false(prov_chunk_is_usage(cJSON_GetArrayItem(r.chunks, 0)));
        assert_int_equal(r.u.prompt_tokens, 19);
        assert_int_equal(r.u.completion_tokens, 10);
        assert_true(r.u.seen);
        /* after the end, nothing more */
        assert_int_equal(r.a->stream_event(r.s, NULL, "[DONE]", 6, collect_chunk, &r, &r.u), 1);
        replay_free(&r);
    }

    replay r;
    assert_int_equal(replay_fixture(&r, prov_adapter_for("openai-compatible"), "m",
                                    "openai_stream_tools.sse", 13), 1);
    const char *id, *name;
    char *args = chunks_tool(r.chunks, 0, &id, &name);
    assert_string_equal(id, "call_DdmO9pD3xa9XTPNJ32zg2hcA");
    assert_string_equal(name, "get_weather");
    assert_string_equal(args, "{\"location\":\"Paris\"}");
    free(args);
    args = chunks_tool(r.chunks, 1, &id, &name);
    assert_string_equal(name, "get_time");
    assert_string_equal(args, "{\"tz\":\"CET\"}");
    free(args);
    assert_string_equal(chunks_finish(r.chunks), "tool_calls");
    assert_int_equal(r.u.completion_tokens, 31);
    replay_free(&r);
    od_clock_set_wall(NULL);
}

static void t_openai_stream_error(void **state)
{
    const prov_adapter *a = prov_adapter_for("openai");
    prov_stream *s = a->stream_new("gpt-4o");
    prov_usage u = {0};
    replay r = {0};
    r.chunks = cJSON_CreateArray();
    const char *ev = "{\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}";
    assert_int_equal(a->stream_event(s, NULL, ev, strlen(ev), collect_chunk, &r, &u), -1);
    assert_string_equal(prov_stream_error(s), "The server had an error");
    assert_int_equal(a->stream_event(s, NULL, "not json", 8, collect_chunk, &r, &u), -1);
    assert_int_equal(cJSON_GetArraySize(r.chunks), 0);
    a->stream_free(s);
    cJSON_Delete(r.chunks);
}

static void t_openai_embeddings(void **state)
{
    od_provider_cfg p = provider("openai", NULL, "k");
    cJSON *req = cJSON_Parse("{\"model\":\"alias\",\"input\":[\"a\",\"b\"],\"dimensions\":3}");
    prov_http h;
    char *err = NULL;
    assert_int_equal(prov_adapter_for("openai")->embed_request(&p, "text-embedding-3-small", req, &h, &err), 0);
    assert_string_equal(h.url, "https://api.openai.com/v1/embeddings");
    cJSON *b = http_body(&h);
    assert_jstr(b, "model", "text-embedding-3-small");
    assert_int_equal((int)jpath_num(b, "dimensions"), 3);
    cJSON_Delete(b);
    prov_http_free(&h);
    cJSON_Delete(req);

    size_t len;
    char *body = read_fixture("openai_embeddings.json", &len);
    prov_usage u = {0};
    cJSON *r = prov_adapter_for("openai")->embed_response("text-embedding-3-small", body, len, &u, &err);
    assert_non_null(r);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "data")), 2);
    assert_int_equal(u.prompt_tokens, 8);
    cJSON_Delete(r);
    free(body);
}

/* ---- errors ---- */

static void t_error_messages(void **state)
{
    size_t len;
    char *body = read_fixture("openai_error.json", &len);
    char *m = prov_adapter_for("openai")->error_message(401, body, len);
    assert_non_null(strstr(m, "Incorrect API key provided"));
    assert_null(strstr(m, "AbCdEfGhIjKlMnOpQrStUvWxYz")); /* the quoted key is masked */
    assert_non_null(strstr(m, "[redacted]"));
    free(m);
    free(body);

    body = read_fixture("anthropic_error.json", &len);
    m = prov_adapter_for("anthropic")->error_message(400, body, len);
    assert_string_equal(m, "max_tokens: Field required");
    free(m);
    free(body);

    body = read_fixture("gemini_error.json", &len);
    m = prov_adapter_for("gemini")->error_message(400, body, len);
    assert_string_equal(m, "API key not valid. Please pass a valid API key.");
    free(m);
    free(body);

    const char *html = "<html>Bad Gateway</html>\n";
    m = prov_adapter_for("openai")->error_message(502, html, strlen(html));
    assert_string_equal(m, "<html>Bad Gateway</html>");
    free(m);
    m = prov_adapter_for("openai")->error_message(503, "", 0);
    assert_string_equal(m, "upstream returned HTTP 503");
    free(m);
    m = prov_adapter_for("gemini")->error_message(500, "[{\"error\":{\"message\":\"boom\"}}]", 30);
    assert_string_equal(m, "boom");
    free(m);

    /* long messages are cut; control characters do not reach logs */
    od_buf b = {0};
    od_buf_puts(&b, "{\"error\":{\"message\":\"line1\\nline2 ");
    for (int i = 0; i < 100; i++) od_buf_puts(&b, "word ");
    od_buf_puts(&b, "\"}}");
    m = prov_adapter_for("openai")->error_message(500, b.p, b.len);
    assert_true(strlen(m) <= 303 + 3);
    assert_null(strchr(m, '\n'));
    assert_non_null(strstr(m, "..."));
    free(m);
    od_buf_free(&b);
}

static void t_redact(void **state)
{
    char s[] = "key sk-abc in sk-abc and x";
    prov_redact(s, "sk-abc");
    assert_string_equal(s, "key *** in *** and x");
    char t[] = "ab";
    prov_redact(t, "a");
    assert_string_equal(t, "*b");
    prov_redact(t, "");
    prov_redact(t, NULL);
    assert_int_equal(prov_retry_after_seconds("1"), 1);
    assert_int_equal(prov_retry_after_seconds(" 30\r\n"), 30);
    assert_int_equal(prov_retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT"), -1);
    assert_int_equal(prov_retry_after_seconds(NULL), -1);
}


/* configured headers come last, replace same-named ones, and never push
 * the credential out */
static void t_config_headers(void **state)
{
    od_kv many[20];
    char names[20][16];
    for (int i = 0; i < 20; i++) {
        snprintf(names[i], sizeof names[i], "X-H%d", i);
        many[i].key = names[i];
        many[i].value = (char *)"v";
    }
    many[0].key = (char *)"anthropic-version";
    many[0].value = (char *)"2099-01-01";
    od_provider_cfg p = provider("anthropic", NULL, "sk-ant-k");
    p.headers = many;
    p.nheaders = 20;
    cJSON *req = simple_request();
    prov_http h;
    char *err = NULL;
    assert_int_equal(prov_adapter_for("anthropic")->chat_request(&p, "claude-3-5-haiku", req, 0, &h, &err), 0);
    assert_string_equal(header_value(&h, "x-api-key"), "sk-ant-k");
    assert_string_equal(header_value(&h, "anthropic-version"), "2099-01-01");
    assert_int_equal(h.nheaders, PROV_MAX_HEADERS);
    int versions = 0;
    for (int i = 0; i < h.nheaders; i++) versions += strncasecmp(h.headers[i], "anthropic-version:", 18) == 0;
    assert_int_equal(versions, 1);
    prov_http_free(&h);
    cJSON_Delete(req);
}

/* ---- Anthropic ---- */

static void t_anthropic_request(void **state)
{
    od_provider_cfg p = provider("anthropic", NULL, "sk-ant-secret");
    cJSON *req = load_json("openai_request_full.json");
    prov_http h;
    char *err = NULL;
    const prov_adapter *a = prov_adapter_for("anthropic");
    assert_int_equal(a->chat_request(&p, "claude-sonnet-4-5", req, 1, &h, &err), 0);
    assert_string_equal(h.url, "https://api.anthropic.com/v1/messages");
    assert_string_equal(header_value(&h, "x-api-key"), "sk-ant-secret");
    assert_string_equal(header_value(&h, "anthropic-version"), "2023-06-01");
    assert_null(header_value(&h, "Authorization"));
    cJSON *b = http_body(&h);
    assert_jstr(b, "model", "claude-sonnet-4-5");
    assert_int_equal((int)jpath_num(b, "max_tokens"), 300);
    assert_jstr(b, "system", "You are terse.\n\nAnswer in English.");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(b, "stream")));
    /* two user turns merged into one */
    cJSON *msgs = cJSON_GetObjectItem(b, "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 3);
    assert_jstr(b, "messages.0.role", "user");
    assert_jstr(b, "messages.0.content.0.text", "What is in this image?");
    assert_jstr(b, "messages.0.content.1.text", "Look closely.");
    assert_jstr(b, "messages.0.content.2.type", "image");
    assert_jstr(b, "messages.0.content.2.source.type", "base64");
    assert_jstr(b, "messages.0.content.2.source.media_type", "image/png");
    assert_jstr(b, "messages.0.content.2.source.data", "iVBORw0KGgo=");
    assert_jstr(b, "messages.0.content.3.source.type", "url");
    assert_jstr(b, "messages.0.content.3.source.url", "https://example.com/cat.jpg");
    /* assistant text + tool_use with a parsed input */
    assert_jstr(b, "messages.1.role", "assistant");
    assert_jstr(b, "messages.1.content.0.text", "Let me check the weather too.");
    assert_jstr(b, "messages.1.content.1.type", "tool_use");
    assert_jstr(b, "messages.1.content.1.id", "call_1");
    assert_jstr(b, "messages.1.content.1.name", "get_weather");
    assert_jstr(b, "messages.1.content.1.input.location", "Paris");
    /* the tool result and the next user text share one user turn */
    assert_jstr(b, "messages.2.role", "user");
    assert_jstr(b, "messages.2.content.0.type", "tool_result");
    assert_jstr(b, "messages.2.content.0.tool_use_id", "call_1");
    assert_jstr(b, "messages.2.content.0.content", "{\"temp_c\":21}");
    assert_jstr(b, "messages.2.content.1.text", "Thanks. Summarize.");
    /* tools and choices */
    assert_jstr(b, "tools.0.name", "get_weather");
    assert_jstr(b, "tools.0.description", "Weather for a place");
    assert_jstr(b, "tools.0.input_schema.properties.location.type", "string");
    assert_jstr(b, "tool_choice.type", "any");
    assert_true(cJSON_IsTrue(jpath(b, "tool_choice.disable_parallel_tool_use")));
    assert_jstr(b, "stop_sequences.1", "STOP");
    assert_true(jpath_num(b, "temperature") == 1.0); /* clamped to Anthropic's range */
    assert_true(jpath_num(b, "top_p") == 0.9);
    assert_jstr(b, "metadata.user_id", "user-123");
    assert_null(cJSON_GetObjectItem(b, "seed"));
    assert_null(cJSON_GetObjectItem(b, "response_format"));
    cJSON_Delete(b);
    prov_http_free(&h);
    cJSON_Delete(req);

    /* max_tokens defaults; a /v1 base is not doubled */
    p.base_url = (char *)"http://127.0.0.1:9/v1";
    req = cJSON_Parse("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tool_choice\":"
                      "{\"type\":\"function\",\"function\":{\"name\":\"f\"}},\"stop\":\"X\"}");
    assert_int_equal(a->chat_request(&p, "claude-3-5-haiku", req, 0, &h, &err), 0);
    assert_string_equal(h.url, "http://127.0.0.1:9/v1/messages");
    b = http_body(&h);
    assert_int_equal((int)jpath_num(b, "max_tokens"), 4096);
    assert_jstr(b, "messages.0.content.0.text", "hi");
    assert_jstr(b, "tool_choice.type", "tool");
    assert_jstr(b, "tool_choice.name", "f");
    assert_jstr(b, "stop_sequences.0", "X");
    assert_null(cJSON_GetObjectItem(b, "stream"));
    cJSON_Delete(b);
    prov_http_free(&h);
    cJSON_Delete(req);

    /* unsupported parts are refused with a message */
    req = cJSON_Parse("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\"}]}]}");
    assert_int_equal(a->chat_request(&p, "claude-3-5-haiku", req, 0, &h, &err), -1);
    assert_non_null(strstr(err, "input_audio"));
    free(err);
    err = NULL;
    prov_http_free(&h);
    cJSON_Delete(req);
}

static void t_anthropic_response(void **state)
{
    const prov_adapter *a = prov_adapter_for("anthropic");
    size_t len;
    char *body = read_fixture("anthropic_message.json", &len);
    prov_usage u = {0};
    char *err = NULL;
    cJSON *r = a->chat_response("claude-sonnet-4", body, len, &u, &err);
    assert_non_null(r);
    assert_jstr(r, "object", "chat.completion");
    assert_jstr(r, "id", "msg_01XFDUDYJgAACzvnptvVoYEL");
    assert_jstr(r, "choices.0.message.role", "assistant");
    assert_jstr(r, "choices.0.message.content", "Hello! How can I help you today?");
    assert_jstr(r, "choices.0.finish_reason", "stop");
    assert_int_equal(u.prompt_tokens, 12 + 100 + 2000);
    assert_int_equal(u.cached_tokens, 2000);
    assert_int_equal(u.cache_write_tokens, 100);
    assert_int_equal(u.completion_tokens, 15);
    assert_int_equal((int)jpath_num(r, "usage.prompt_tokens"), 2112);
    assert_int_equal((int)jpath_num(r, "usage.prompt_tokens_details.cached_tokens"), 2000);
    cJSON_Delete(r);
    free(body);

    body = read_fixture("anthropic_tool_use.json", &len);
    memset(&u, 0, sizeof u);
    r = a->chat_response("claude-3-5-haiku", body, len, &u, &err);
    assert_jstr(r, "choices.0.finish_reason", "tool_calls");
    assert_jstr(r, "choices.0.message.content", "I'll check the weather for you.");
    assert_jstr(r, "choices.0.message.tool_calls.0.id", "toolu_01A09q90qw90lq917835lq9");
    assert_jstr(r, "choices.0.message.tool_calls.0.type", "function");
    assert_jstr(r, "choices.0.message.tool_calls.0.function.name", "get_weather");
    cJSON *args = cJSON_Parse(jpath_str(r, "choices.0.message.tool_calls.0.function.arguments"));
    assert_jstr(args, "unit", "celsius");
    cJSON_Delete(args);
    cJSON_Delete(r);
    free(body);

    const char *stops[][2] = {{"max_tokens", "length"}, {"stop_sequence", "stop"},
                              {"end_turn", "stop"}, {"refusal", "content_filter"}};
    for (size_t i = 0; i < OD_ARRAY_LEN(stops); i++) {
        char js[256];
        snprintf(js, sizeof js, "{\"content\":[],\"stop_reason\":\"%s\",\"usage\":{}}", stops[i][0]);
        r = a->chat_response("m", js, strlen(js), &u, &err);
        assert_jstr(r, "choices.0.finish_reason", stops[i][1]);
        cJSON_Delete(r);
    }
    assert_null(a->chat_response("m", "[]", 2, &u, &err));
    free(err);
}

static void t_anthropic_stream(void **state)
{
    replay r;
    assert_int_equal(replay_fixture(&r, prov_adapter_for("anthropic"), "claude-3-7-sonnet",
                                    "anthropic_stream.sse", 7), 1);
    char *text = chunks_text(r.chunks);
    assert_string_equal(text, "Hello!");
    free(text);
    assert_jstr(r.chunks, "0.choices.0.delta.role", "assistant");
    assert_jstr(r.chunks, "0.id", "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY");
    assert_jstr(r.chunks, "0.object", "chat.completion.chunk");
    assert_string_equal(chunks_finish(r.chunks), "stop");
    int n = cJSON_GetArraySize(r.chunks);
    assert_true(prov_chunk_is_usage(cJSON_GetArrayItem(r.chunks, n - 1)));
    assert_int_equal(r.u.prompt_tokens, 25);
    assert_int_equal(r.u.completion_tokens, 15);
    assert_int_equal((int)jpath_num(cJSON_GetArrayItem(r.chunks, n - 1), "usage.completion_tokens"), 15);
    replay_free(&r);

    assert_int_equal(replay_fixture(&r, prov_adapter_for("anthropic"), "claude-sonnet-4-5",
                                    "anthropic_stream_tools.sse", 64), 1);
    text = chunks_text(r.chunks);
    assert_string_equal(text, "Okay, let's check the weather");
    free(text);
    const char *id, *name;
    char *args = chunks_tool(r.chunks, 0, &id, &name);
    assert_string_equal(id, "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
    assert_string_equal(name, "get_weather");
    assert_string_equal(args, "{\"location\": \"San Francisco, CA\"}");
    free(args);
    assert_string_equal(chunks_finish(r.chunks), "tool_calls");
    assert_int_equal(r.u.prompt_tokens, 572);
    assert_int_equal(r.u.cached_tokens, 100);
    assert_int_equal(r.u.completion_tokens, 89);
    replay_free(&r);

    assert_int_equal(replay_fixture(&r, prov_adapter_for("anthropic"), "claude-3-5-haiku",
                                    "anthropic_stream_error.sse", 1000), -1);
    assert_string_equal(prov_stream_error(r.s), "Overloaded");
    replay_free(&r);
}

/* ---- Gemini ---- */

static void t_gemini_request(void **state)
{
    od_provider_cfg p = provider("gemini", NULL, "AIzaSyTestKey");
    cJSON *req = load_json("openai_request_full.json");
    prov_http h;
    char *err = NULL;
    const prov_adapter *a = prov_adapter_for("gemini");
    assert_int_equal(a->chat_request(&p, "gemini-2.5-flash", req, 0, &h, &err), 0);
    assert_string_equal(h.url, "https://generativelanguage.googleapis.com/v1beta/models/"
                               "gemini-2.5-flash:generateContent");
    assert_string_equal(header_value(&h, "x-goog-api-key"), "AIzaSyTestKey");
    assert_null(strstr(h.url, "AIza")); /* the key is never in the URL */
    cJSON *b = http_body(&h);
    assert_jstr(b, "systemInstruction.parts.0.text", "You are terse.");
    assert_jstr(b, "systemInstruction.parts.1.text", "Answer in English.");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(b, "contents")), 3);
    assert_jstr(b, "contents.0.role", "user");
    assert_jstr(b, "contents.0.parts.0.text", "What is in this image?");
    assert_jstr(b, "contents.0.parts.1.text", "Look closely.");
    assert_jstr(b, "contents.0.parts.2.inlineData.mimeType", "image/png");
    assert_jstr(b, "contents.0.parts.2.inlineData.data", "iVBORw0KGgo=");
    assert_jstr(b, "contents.0.parts.3.fileData.fileUri", "https://example.com/cat.jpg");
    assert_jstr(b, "contents.0.parts.3.fileData.mimeType", "image/jpeg");
    assert_jstr(b, "contents.1.role", "model");
    assert_jstr(b, "contents.1.parts.0.text", "Let me check the weather too.");
    assert_jstr(b, "contents.1.parts.1.functionCall.name", "get_weather");
    assert_jstr(b, "contents.1.parts.1.functionCall.args.location", "Paris");
    assert_jstr(b, "contents.2.role", "user");
    assert_jstr(b, "contents.2.parts.0.functionResponse.name", "get_weather"); /* found by call id */
    assert_int_equal((int)jpath_num(b, "contents.2.parts.0.functionResponse.response.temp_c"), 21);
    assert_jstr(b, "contents.2.parts.1.text", "Thanks. Summarize.");
    assert_int_equal((int)jpath_num(b, "generationConfig.maxOutputTokens"), 300);
    assert_true(jpath_num(b, "generationConfig.temperature") == 1.5);
    assert_true(jpath_num(b, "generationConfig.topP") == 0.9);
    assert_jstr(b, "generationConfig.stopSequences.0", "END");
    assert_int_equal((int)jpath_num(b, "generationConfig.candidateCount"), 1);
    assert_int_equal((int)jpath_num(b, "generationConfig.seed"), 42);
    assert_jstr(b, "generationConfig.responseMimeType", "application/json");
    assert_jstr(b, "tools.0.functionDeclarations.0.name", "get_weather");
    assert_jstr(b, "tools.0.functionDeclarations.0.parameters.type", "object");
    assert_null(jpath(b, "tools.0.functionDeclarations.0.parameters.$schema"));
    assert_null(jpath(b, "tools.0.functionDeclarations.0.parameters.additionalProperties"));
    assert_jstr(b, "toolConfig.functionCallingConfig.mode", "ANY");
    cJSON_Delete(b);
    prov_http_free(&h);

    p.base_url = (char *)"http://127.0.0.1:9/v1beta/";
    assert_int_equal(a->chat_request(&p, "models/gemini-2.0-flash", req, 1, &h, &err), 0);
    assert_string_equal(h.url, "http://127.0.0.1:9/v1beta/models/gemini-2.0-flash:"
                               "streamGenerateContent?alt=sse");
    prov_http_free(&h);
    cJSON_Delete(req);
}

static void t_gemini_response(void **state)
{
    const prov_adapter *a = prov_adapter_for("gemini");
    size_t len;
    char *body = read_fixture("gemini_response.json", &len);
    prov_usage u = {0};
    char *err = NULL;
    cJSON *r = a->chat_response("gemini-2.5-flash", body, len, &u, &err);
    assert_non_null(r);
    assert_jstr(r, "choices.0.message.content", "Hello there! How can I help you today?");
    assert_jstr(r, "choices.0.finish_reason", "stop");
    assert_jstr(r, "model", "gemini-2.5-flash");
    assert_jstr(r, "id", "0Y5jaPKeJ9-NkdUP3MWJ4Qk");
    assert_int_equal(u.prompt_tokens, 1200);
    assert_int_equal(u.completion_tokens, 30); /* candidates + thoughts */
    assert_int_equal(u.cached_tokens, 1000);
    cJSON_Delete(r);
    free(body);

    body = read_fixture("gemini_function_call.json", &len);
    r = a->chat_response("gemini-2.0-flash", body, len, &u, &err);
    assert_jstr(r, "choices.0.finish_reason", "tool_calls");
    assert_true(cJSON_IsNull(jpath(r, "choices.0.message.content")));
    assert_jstr(r, "choices.0.message.tool_calls.0.function.name", "get_weather");
    assert_jstr(r, "choices.0.message.tool_calls.0.function.arguments", "{\"location\":\"Boston, MA\"}");
    assert_jstr(r, "choices.0.message.tool_calls.1.function.name", "get_time");
    assert_string_not_equal(jpath_str(r, "choices.0.message.tool_calls.0.id"),
                            jpath_str(r, "choices.0.message.tool_calls.1.id"));
    cJSON_Delete(r);
    free(body);

    const char *blocked = "{\"promptFeedback\":{\"blockReason\":\"SAFETY\"},\"usageMetadata\":"
                          "{\"promptTokenCount\":5,\"totalTokenCount\":5}}";
    r = a->chat_response("g", blocked, strlen(blocked), &u, &err);
    assert_jstr(r, "choices.0.finish_reason", "content_filter");
    cJSON_Delete(r);
    const char *maxed = "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]},"
                        "\"finishReason\":\"MAX_TOKENS\"}]}";
    r = a->chat_response("g", maxed, strlen(maxed), &u, &err);
    assert_jstr(r, "choices.0.finish_reason", "length");
    cJSON_Delete(r);
}

static void t_gemini_stream(void **state)
{
    replay r;
    assert_int_equal(replay_fixture(&r, prov_adapter_for("gemini"), "gemini-2.0-flash",
                                    "gemini_stream.sse", 3), 1);
    assert_int_equal(r.events, 3);
    char *text = chunks_text(r.chunks);
    assert_string_equal(text, "Hello world, this is Gemini.");
    free(text);
    assert_jstr(r.chunks, "0.choices.0.delta.role", "assistant");
    assert_string_equal(chunks_finish(r.chunks), "stop");
    int n = cJSON_GetArraySize(r.chunks);
    assert_true(prov_chunk_is_usage(cJSON_GetArrayItem(r.chunks, n - 1)));
    assert_int_equal(r.u.prompt_tokens, 8);
    assert_int_equal(r.u.completion_tokens, 9);
    replay_free(&r);

    assert_int_equal(replay_fixture(&r, prov_adapter_for("gemini"), "gemini-2.5-flash",
                                    "gemini_stream_tools.sse", 50), 1);
    const char *id, *name;
    char *args = chunks_tool(r.chunks, 0, &id, &name);
    assert_string_equal(name, "get_weather");
    assert_non_null(id);
    assert_string_equal(args, "{\"location\":\"Paris\"}");
    free(args);
    assert_string_equal(chunks_finish(r.chunks), "tool_calls");
    replay_free(&r);
}

static void t_gemini_embeddings(void **state)
{
    od_provider_cfg p = provider("gemini", NULL, "k");
    const prov_adapter *a = prov_adapter_for("gemini");
    cJSON *req = cJSON_Parse("{\"input\":[\"one\",\"two\"],\"dimensions\":3}");
    prov_http h;
    char *err = NULL;
    assert_int_equal(a->embed_request(&p, "gemini-embedding-001", req, &h, &err), 0);
    assert_string_equal(h.url, "https://generativelanguage.googleapis.com/v1beta/models/"
                               "gemini-embedding-001:batchEmbedContents");
    cJSON *b = http_body(&h);
    assert_jstr(b, "requests.1.model", "models/gemini-embedding-001");
    assert_jstr(b, "requests.1.content.parts.0.text", "two");
    assert_int_equal((int)jpath_num(b, "requests.0.outputDimensionality"), 3);
    cJSON_Delete(b);
    prov_http_free(&h);
    cJSON_Delete(req);

    req = cJSON_Parse("{\"input\":[[1,2,3]]}");
    assert_int_equal(a->embed_request(&p, "gemini-embedding-001", req, &h, &err), -1);
    free(err);
    prov_http_free(&h);
    cJSON_Delete(req);

    size_t len;
    char *body = read_fixture("gemini_embeddings.json", &len);
    prov_usage u = {0};
    cJSON *r = a->embed_response("gemini-embedding-001", body, len, &u, &err);
    assert_jstr(r, "object", "list");
    assert_jstr(r, "data.1.object", "embedding");
    assert_int_equal((int)jpath_num(r, "data.1.index"), 1);
    assert_true(jpath_num(r, "data.1.embedding.2") == -0.125);
    assert_false(u.seen);
    cJSON_Delete(r);
    free(body);
}

/* ---- SSE parser ---- */

typedef struct sse_log {
    od_buf b;
    int n;
} sse_log;

static int log_event(void *ud, const char *event, const char *data, size_t len)
{
    sse_log *l = ud;
    od_buf_printf(&l->b, "[%s|", event ? event : "-");
    od_buf_put(&l->b, data, len);
    od_buf_puts(&l->b, "]");
    l->n++;
    return 0;
}

static void t_sse(void **state)
{
    const char *text = ": comment\r\n"
                       "event: a\r\ndata: one\r\ndata:two\r\n\r\n"
                       "data: {\"x\": 1}\n\n"
                       "event: ignored-without-data\n\n"
                       "id: 5\rretry: 10\rdata\r\r"
                       "data: tail-not-dispatched";
    const char *want = "[a|one\ntwo][-|{\"x\": 1}][-|]";
    size_t len = strlen(text);
    for (size_t piece = 1; piece <= len; piece++) {
        prov_sse p = {0};
        sse_log l = {0};
        for (size_t off = 0; off < len; off += piece)
            prov_sse_feed(&p, text + off, len - off < piece ? len - off : piece, log_event, &l);
        assert_string_equal(l.b.p, want);
        assert_int_equal(l.n, 3);
        od_buf_free(&l.b);
        prov_sse_free(&p);
    }
}

static int stop_at_first(void *ud, const char *event, const char *data, size_t len)
{
    (*(int *)ud)++;
    return 7;
}

static void t_sse_stop(void **state)
{
    prov_sse p = {0};
    int n = 0;
    const char *t = "data: 1\n\ndata: 2\n\n";
    assert_int_equal(prov_sse_feed(&p, t, strlen(t), stop_at_first, &n), 7);
    assert_int_equal(n, 1);
    prov_sse_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_registry),
        cmocka_unit_test(t_openai_request),
        cmocka_unit_test(t_big_integers_reach_provider),
        cmocka_unit_test(t_compat_request),
        cmocka_unit_test(t_azure_request),
        cmocka_unit_test(t_openai_response),
        cmocka_unit_test(t_openai_stream),
        cmocka_unit_test(t_openai_stream_error),
        cmocka_unit_test(t_openai_embeddings),
        cmocka_unit_test(t_error_messages),
        cmocka_unit_test(t_redact),
        cmocka_unit_test(t_config_headers),
        cmocka_unit_test(t_anthropic_request),
        cmocka_unit_test(t_anthropic_response),
        cmocka_unit_test(t_anthropic_stream),
        cmocka_unit_test(t_gemini_request),
        cmocka_unit_test(t_gemini_response),
        cmocka_unit_test(t_gemini_stream),
        cmocka_unit_test(t_gemini_embeddings),
        cmocka_unit_test(t_sse),
        cmocka_unit_test(t_sse_stop),
    };
    return cmocka_run_group_tests_name("prov", tests, NULL, NULL);
}
