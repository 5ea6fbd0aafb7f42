/* tests/unit/test_prov_mock.c — the in-process mock provider: behaviours by
 * model name, deterministic answers and usage, stream chunks, embeddings. */
#include "test_prov_util.h"

static cJSON *chat(const char *user_text, const char *extra)
{
    cJSON *r = cJSON_Parse(extra ? extra : "{}");
    cJSON *msgs = cJSON_AddArrayToObject(r, "messages");
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "role", "system");
    cJSON_AddStringToObject(s, "content", "Be brief."); /* 9 bytes */
    cJSON_AddItemToArray(msgs, s);
    cJSON *u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "role", "user");
    cJSON_AddStringToObject(u, "content", user_text);
    cJSON_AddItemToArray(msgs, u);
    return r;
}

static void t_echo(void **state)
{
    od_clock_set_wall(fixed_now);
    cJSON *req = chat("Hello, mock world!", NULL); /* 18 bytes */
    prov_mock_result r;
    assert_int_equal(prov_mock_chat("echo", req, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.delay_ms, 0);
    assert_jstr(r.response, "object", "chat.completion");
    assert_jstr(r.response, "choices.0.message.role", "assistant");
    assert_jstr(r.response, "choices.0.message.content", "Hello, mock world!");
    assert_jstr(r.response, "choices.0.finish_reason", "stop");
    assert_int_equal((int64_t)jpath_num(r.response, "created"), FIXED_NOW_MS / 1000);
    assert_int_equal(r.usage.prompt_tokens, (9 + 18 + 3) / 4);
    assert_int_equal(r.usage.completion_tokens, (18 + 3) / 4);
    assert_true(r.usage.seen);
    assert_int_equal((int)jpath_num(r.response, "usage.prompt_tokens"), 7);
    assert_int_equal((int)jpath_num(r.response, "usage.total_tokens"), 7 + 5);
    /* deterministic */
    prov_mock_result r2;
    prov_mock_chat("echo", req, 0, &r2);
    assert_true(cJSON_Compare(r.response, r2.response, 1));
    prov_mock_result_free(&r2);
    prov_mock_result_free(&r);
    /* any other name echoes too */
    assert_int_equal(prov_mock_chat("gpt-4o", req, 0, &r), 0);
    assert_jstr(r.response, "choices.0.message.content", "Hello, mock world!");
    prov_mock_result_free(&r);
    cJSON_Delete(req);
    od_clock_set_wall(NULL);
}

static void t_stream(void **state)
{
    const char *text = "A longer answer that spans several chunks, with ünïcödé and 日本語 inside.";
    cJSON *req = chat(text, NULL);
    prov_mock_result r;
    assert_int_equal(prov_mock_chat("echo", req, 1, &r), 0);
    assert_null(r.response);
    assert_true(r.nchunks > 4);
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < r.nchunks; i++) {
        cJSON_AddItemToArray(arr, cJSON_Duplicate(r.chunks[i], 1));
        assert_jstr(r.chunks[i], "object", "chat.completion.chunk");
        /* no chunk starts inside a UTF-8 sequence */
        const char *c = jpath_str(r.chunks[i], "choices.0.delta.content");
        if (c && *c) assert_true(((unsigned char)c[0] & 0xC0) != 0x80);
    }
    char *all = chunks_text(arr);
    assert_string_equal(all, text);
    free(all);
    assert_jstr(arr, "0.choices.0.delta.role", "assistant");
    assert_string_equal(chunks_finish(arr), "stop");
    const cJSON *last = r.chunks[r.nchunks - 1];
    assert_true(prov_chunk_is_usage(last));
    assert_int_equal((int64_t)jpath_num(last, "usage.completion_tokens"),
                     (int64_t)(strlen(text) + 3) / 4);
    assert_int_equal(r.usage.completion_tokens, (int64_t)(strlen(text) + 3) / 4);
    cJSON_Delete(arr);
    prov_mock_result_free(&r);
    cJSON_Delete(req);
}

static void t_failures(void **state)
{
    cJSON *req = chat("x", NULL);
    prov_mock_result r;
    assert_int_equal(prov_mock_chat("fail", req, 0, &r), 0);
    assert_int_equal(r.status, 500);
    assert_non_null(r.error);
    assert_null(r.response);
    prov_mock_result_free(&r);
    assert_int_equal(prov_mock_chat("fail-429", req, 1, &r), 0);
    assert_int_equal(r.status, 429);
    assert_int_equal(r.retry_after_s, 1);
    assert_int_equal(r.nchunks, 0);
    prov_mock_result_free(&r);
    assert_int_equal(prov_mock_chat("fail-503", req, 0, &r), 0);
    assert_int_equal(r.status, 503);
    prov_mock_result_free(&r);

    assert_int_equal(prov_mock_chat("slow", req, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.delay_ms, 2000);
    assert_non_null(r.response);
    prov_mock_result_free(&r);
    assert_int_equal(prov_mock_chat("slow-150", req, 1, &r), 0);
    assert_int_equal(r.delay_ms, 150);
    prov_mock_result_free(&r);
    cJSON_Delete(req);

    cJSON *bad = cJSON_Parse("{\"messages\":\"nope\"}");
    assert_int_equal(prov_mock_chat("echo", bad, 0, &r), -1);
    assert_int_equal(r.status, 400);
    assert_non_null(r.error);
    prov_mock_result_free(&r);
    cJSON_Delete(bad);
}

static void t_tools(void **state)
{
    cJSON *req = chat("weather?", "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"lookup\","
                                  "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":"
                                  "\"string\"},\"days\":{\"type\":\"integer\"},\"metric\":{\"type\":\"boolean\"}}}}}]}");
    prov_mock_result r;
    assert_int_equal(prov_mock_chat("tools", req, 0, &r), 0);
    assert_jstr(r.response, "choices.0.finish_reason", "tool_calls");
    assert_true(cJSON_IsNull(jpath(r.response, "choices.0.message.content")));
    assert_jstr(r.response, "choices.0.message.tool_calls.0.id", "call_mock_0");
    assert_jstr(r.response, "choices.0.message.tool_calls.0.function.name", "lookup");
    const char *args = "{\"city\":\"mock\",\"days\":1,\"metric\":true}";
    assert_jstr(r.response, "choices.0.message.tool_calls.0.function.arguments", args);
    assert_int_equal(r.usage.completion_tokens, (int64_t)(strlen(args) + strlen("lookup") + 3) / 4);
    prov_mock_result_free(&r);

    assert_int_equal(prov_mock_chat("tools", req, 1, &r), 0);
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < r.nchunks; i++) cJSON_AddItemToArray(arr, cJSON_Duplicate(r.chunks[i], 1));
    const char *id, *name;
    char *got = chunks_tool(arr, 0, &id, &name);
    assert_string_equal(got, args);
    assert_string_equal(name, "lookup");
    assert_string_equal(chunks_finish(arr), "tool_calls");
    free(got);
    cJSON_Delete(arr);
    prov_mock_result_free(&r);
    cJSON_Delete(req);

    /* no tool offered: an echo */
    req = chat("plain", NULL);
    assert_int_equal(prov_mock_chat("tools", req, 0, &r), 0);
    assert_jstr(r.response, "choices.0.message.content", "plain");
    prov_mock_result_free(&r);
    cJSON_Delete(req);
}

static void t_max_tokens(void **state)
{
    cJSON *req = chat("0123456789abcdefghij0123456789", "{\"max_tokens\":3}"); /* 30 bytes */
    prov_mock_result r;
    assert_int_equal(prov_mock_chat("echo", req, 0, &r), 0);
    assert_jstr(r.response, "choices.0.message.content", "0123456789ab");
    assert_jstr(r.response, "choices.0.finish_reason", "length");
    assert_int_equal(r.usage.completion_tokens, 3);
    prov_mock_result_free(&r);
    cJSON_Delete(req);
}

static void t_embed(void **state)
{
    cJSON *req = cJSON_Parse("{\"input\":[\"alpha\",\"beta gamma\"],\"dimensions\":40}");
    cJSON *resp;
    prov_usage u;
    assert_int_equal(prov_mock_embed("mock-embed", req, &resp, &u), 0);
    assert_jstr(resp, "object", "list");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(resp, "data")), 2);
    assert_int_equal(cJSON_GetArraySize(jpath(resp, "data.1.embedding")), 40);
    assert_int_equal((int)jpath_num(resp, "data.1.index"), 1);
    assert_int_equal(u.prompt_tokens, (5 + 10 + 3) / 4);
    assert_int_equal((int)jpath_num(resp, "usage.prompt_tokens"), 4);
    double v = jpath_num(resp, "data.0.embedding.0");
    assert_true(v >= -1.0 && v <= 1.0);
    cJSON *again;
    prov_mock_embed("mock-embed", req, &again, &u);
    assert_true(cJSON_Compare(resp, again, 1));
    assert_false(cJSON_Compare(jpath(resp, "data.0.embedding"), jpath(resp, "data.1.embedding"), 1));
    cJSON_Delete(again);
    cJSON_Delete(resp);
    cJSON_Delete(req);

    req = cJSON_Parse("{\"input\":\"one\"}");
    assert_int_equal(prov_mock_embed(NULL, req, &resp, &u), 0);
    assert_int_equal(cJSON_GetArraySize(jpath(resp, "data.0.embedding")), 8);
    cJSON_Delete(resp);
    cJSON_Delete(req);

    req = cJSON_Parse("{\"input\":[1,2]}");
    assert_int_equal(prov_mock_embed("m", req, &resp, &u), -1);
    assert_null(resp);
    cJSON_Delete(req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_echo),
        cmocka_unit_test(t_stream),
        cmocka_unit_test(t_failures),
        cmocka_unit_test(t_tools),
        cmocka_unit_test(t_max_tokens),
        cmocka_unit_test(t_embed),
    };
    return cmocka_run_group_tests_name("prov_mock", tests, NULL, NULL);
}
