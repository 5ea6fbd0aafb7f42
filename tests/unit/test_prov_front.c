/* tests/unit/test_prov_front.c — the Anthropic Messages API front: requests
 * to the normalized OpenAI shape, answers and chunks back to Anthropic's
 * message and event sequence, and round trips through the anthropic adapter. */
#include "test_prov_util.h"

static void t_request(void **state)
{
    cJSON *areq = load_json("anthropic_front_request.json");
    char *err = NULL;
    cJSON *o = prov_anthropic_to_openai_request(areq, &err);
    assert_non_null(o);
    assert_jstr(o, "model", "claude-sonnet-4-5");
    assert_int_equal((int)jpath_num(o, "max_tokens"), 1024);
    assert_jstr(o, "messages.0.role", "system");
    assert_jstr(o, "messages.0.content", "You are a helpful assistant.");
    assert_jstr(o, "messages.1.role", "user");
    assert_jstr(o, "messages.1.content", "What's the weather in Paris?");
    assert_jstr(o, "messages.2.role", "assistant");
    assert_jstr(o, "messages.2.content", "Let me look.");
    assert_jstr(o, "messages.2.tool_calls.0.id", "toolu_01");
    assert_jstr(o, "messages.2.tool_calls.0.type", "function");
    assert_jstr(o, "messages.2.tool_calls.0.function.name", "get_weather");
    assert_jstr(o, "messages.2.tool_calls.0.function.arguments", "{\"location\":\"Paris\"}");
    /* the tool result comes first, as its own role tool message */
    assert_jstr(o, "messages.3.role", "tool");
    assert_jstr(o, "messages.3.tool_call_id", "toolu_01");
    assert_jstr(o, "messages.3.content", "21C, sunny");
    assert_jstr(o, "messages.4.role", "user");
    assert_jstr(o, "messages.4.content.0.type", "text");
    assert_jstr(o, "messages.4.content.0.text", "And this picture?");
    assert_jstr(o, "messages.4.content.1.type", "image_url");
    assert_jstr(o, "messages.4.content.1.image_url.url", "data:image/jpeg;base64,/9j/4AAQ");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "messages")), 5);
    assert_jstr(o, "tools.0.type", "function");
    assert_jstr(o, "tools.0.function.name", "get_weather");
    assert_jstr(o, "tools.0.function.parameters.properties.location.type", "string");
    assert_jstr(o, "tool_choice", "required");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "parallel_tool_calls")));
    assert_jstr(o, "stop.0", "\n\nHuman:");
    assert_true(jpath_num(o, "temperature") == 0.5);
    assert_true(jpath_num(o, "top_p") == 0.8);
    assert_null(cJSON_GetObjectItem(o, "top_k"));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "stream")));
    assert_jstr(o, "user", "u-42");
    cJSON_Delete(o);
    cJSON_Delete(areq);
}

static void t_request_errors(void **state)
{
    const char *bad[] = {
        "{\"model\":\"m\"}",
        "{\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"document\"}]}]}",
        "{\"messages\":[],\"tools\":[{\"type\":\"web_search_20250305\",\"name\":\"web_search\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":{\"type\":\"file\"}}]}]}",
    };
    for (size_t i = 0; i < OD_ARRAY_LEN(bad); i++) {
        cJSON *j = cJSON_Parse(bad[i]);
        char *err = NULL;
        assert_null(prov_anthropic_to_openai_request(j, &err));
        assert_non_null(err);
        free(err);
        cJSON_Delete(j);
    }
    /* tool_choice forms */
    cJSON *j = cJSON_Parse("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                           "\"tool_choice\":{\"type\":\"tool\",\"name\":\"f\"}}");
    cJSON *o = prov_anthropic_to_openai_request(j, NULL);
    assert_jstr(o, "tool_choice.type", "function");
    assert_jstr(o, "tool_choice.function.name", "f");
    assert_null(cJSON_GetObjectItem(o, "stream"));
    cJSON_Delete(o);
    cJSON_Delete(j);
}

static void t_response(void **state)
{
    cJSON *oresp = load_json("openai_chat_tools.json");
    cJSON *a = prov_openai_to_anthropic_response(oresp);
    assert_jstr(a, "id", "msg_abc123");
    assert_jstr(a, "type", "message");
    assert_jstr(a, "role", "assistant");
    assert_jstr(a, "model", "gpt-4o-mini-2024-07-18");
    assert_jstr(a, "content.0.type", "tool_use");
    assert_jstr(a, "content.0.id", "call_abc123");
    assert_jstr(a, "content.0.name", "get_current_weather");
    assert_jstr(a, "content.0.input.location", "Boston, MA");
    assert_jstr(a, "stop_reason", "tool_use");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(a, "stop_sequence")));
    assert_int_equal((int)jpath_num(a, "usage.input_tokens"), 82);
    assert_int_equal((int)jpath_num(a, "usage.output_tokens"), 17);
    cJSON_Delete(a);
    cJSON_Delete(oresp);

    oresp = load_json("openai_chat.json");
    a = prov_openai_to_anthropic_response(oresp);
    assert_jstr(a, "content.0.type", "text");
    assert_jstr(a, "content.0.text", "Hello! How can I assist you today?");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(a, "content")), 1);
    assert_jstr(a, "stop_reason", "end_turn");
    /* Anthropic's input_tokens leave out cache reads */
    assert_int_equal((int)jpath_num(a, "usage.input_tokens"), 2019 - 1920);
    assert_int_equal((int)jpath_num(a, "usage.cache_read_input_tokens"), 1920);
    cJSON_Delete(a);
    cJSON_Delete(oresp);

    cJSON *len = cJSON_Parse("{\"id\":\"x\",\"choices\":[{\"message\":{\"content\":\"a\"},"
                             "\"finish_reason\":\"length\"}]}");
    a = prov_openai_to_anthropic_response(len);
    assert_jstr(a, "stop_reason", "max_tokens");
    assert_jstr(a, "id", "msg_x");
    cJSON_Delete(a);
    cJSON_Delete(len);
    assert_null(prov_openai_to_anthropic_response(NULL));
}

/* ---- streams: OpenAI chunks (from a recorded stream) -> Anthropic events ---- */

typedef struct events {
    cJSON *list; /* [{"event":..., "data":{...}}] */
} events;

static int grab(void *ud, const char *event, const char *data, size_t len)
{
    events *e = ud;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event", event ? event : "");
    cJSON *d = cJSON_ParseWithLength(data, len);
    if (!d) fail_msg("event data is not JSON: %.*s", (int)len, data);
    cJSON_AddItemToObject(o, "data", d);
    cJSON_AddItemToArray(e->list, o);
    return 0;
}

/* Replays fixture through adapter type, then the front; returns parsed events. */
static cJSON *front_events(const char *type, const char *fixture)
{
    replay r;
    replay_fixture(&r, prov_adapter_for(type), "up-model", fixture, 4096);
    prov_astream *as = prov_astream_new("client-model");
    od_buf out = {0};
    const cJSON *c;
    cJSON_ArrayForEach(c, r.chunks) prov_astream_chunk(as, c, &out);
    prov_astream_finish(as, &r.u, &out);
    prov_astream_finish(as, &r.u, &out); /* twice is harmless */
    prov_astream_free(as);
    replay_free(&r);
    /* what the SDK would parse */
    events e = {cJSON_CreateArray()};
    prov_sse p = {0};
    prov_sse_feed(&p, out.p, out.len, grab, &e);
    prov_sse_free(&p);
    /* every event's data.type names the event */
    cJSON_ArrayForEach(c, e.list) assert_string_equal(jpath_str(c, "event"), jpath_str(c, "data.type"));
    od_buf_free(&out);
    return e.list;
}

static char *event_names(const cJSON *list)
{
    od_buf b = {0};
    const cJSON *c;
    cJSON_ArrayForEach(c, list) {
        if (b.len) od_buf_putc(&b, ' ');
        od_buf_puts(&b, jpath_str(c, "event"));
    }
    return od_buf_take(&b);
}

static void t_stream_text(void **state)
{
    cJSON *ev = front_events("openai", "openai_stream.sse");
    char *names = event_names(ev);
    assert_string_equal(names, "message_start content_block_start content_block_delta "
                               "content_block_delta content_block_delta content_block_stop "
                               "message_delta message_stop");
    free(names);
    assert_jstr(ev, "0.data.message.type", "message");
    assert_jstr(ev, "0.data.message.role", "assistant");
    assert_jstr(ev, "0.data.message.model", "client-model");
    assert_jstr(ev, "0.data.message.id", "msg_B9Pn6rDXAr4WUQMHL2bQc5tZ0gGk0");
    assert_non_null(jpath(ev, "0.data.message.usage"));
    assert_jstr(ev, "1.data.content_block.type", "text");
    assert_int_equal((int)jpath_num(ev, "1.data.index"), 0);
    assert_jstr(ev, "2.data.delta.type", "text_delta");
    assert_jstr(ev, "2.data.delta.text", "Hello");
    assert_jstr(ev, "4.data.delta.text", " How can I help?");
    assert_int_equal((int)jpath_num(ev, "5.data.index"), 0);
    assert_jstr(ev, "6.data.delta.stop_reason", "end_turn");
    assert_int_equal((int)jpath_num(ev, "6.data.usage.output_tokens"), 10);
    assert_int_equal((int)jpath_num(ev, "6.data.usage.input_tokens"), 19);
    cJSON_Delete(ev);
}

static void t_stream_tools(void **state)
{
    cJSON *ev = front_events("openai", "openai_stream_tools.sse");
    char *names = event_names(ev);
    assert_string_equal(names, "message_start "
                               "content_block_start content_block_delta content_block_delta "
                               "content_block_delta content_block_stop "
                               "content_block_start content_block_delta content_block_stop "
                               "message_delta message_stop");
    free(names);
    assert_jstr(ev, "1.data.content_block.type", "tool_use");
    assert_jstr(ev, "1.data.content_block.id", "call_DdmO9pD3xa9XTPNJ32zg2hcA");
    assert_jstr(ev, "1.data.content_block.name", "get_weather");
    assert_non_null(jpath(ev, "1.data.content_block.input"));
    od_buf args = {0};
    for (int i = 2; i <= 4; i++) {
        char p[64];
        snprintf(p, sizeof p, "%d.data.delta.type", i);
        assert_jstr(ev, p, "input_json_delta");
        snprintf(p, sizeof p, "%d.data.delta.partial_json", i);
        od_buf_puts(&args, jpath_str(ev, p));
    }
    assert_string_equal(args.p, "{\"location\":\"Paris\"}");
    od_buf_free(&args);
    assert_int_equal((int)jpath_num(ev, "6.data.index"), 1);
    assert_jstr(ev, "6.data.content_block.name", "get_time");
    assert_jstr(ev, "9.data.delta.stop_reason", "tool_use");
    cJSON_Delete(ev);

    /* Anthropic upstream -> OpenAI chunks -> Anthropic events again */
    ev = front_events("anthropic", "anthropic_stream_tools.sse");
    names = event_names(ev);
    assert_string_equal(names, "message_start content_block_start content_block_delta "
                               "content_block_stop content_block_start content_block_delta "
                               "content_block_delta content_block_stop message_delta message_stop");
    free(names);
    assert_jstr(ev, "2.data.delta.text", "Okay, let's check the weather");
    assert_jstr(ev, "4.data.content_block.id", "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
    assert_jstr(ev, "8.data.delta.stop_reason", "tool_use");
    assert_int_equal((int)jpath_num(ev, "8.data.usage.input_tokens"), 472);
    assert_int_equal((int)jpath_num(ev, "8.data.usage.cache_read_input_tokens"), 100);
    assert_int_equal((int)jpath_num(ev, "8.data.usage.output_tokens"), 89);
    cJSON_Delete(ev);
}

static void t_stream_empty(void **state)
{
    prov_astream *as = prov_astream_new("m");
    od_buf out = {0};
    prov_usage u = {0};
    prov_astream_finish(as, &u, &out);
    prov_astream_free(as);
    assert_non_null(strstr(out.p, "event: message_start\ndata: {"));
    assert_non_null(strstr(out.p, "event: message_delta\n"));
    assert_true(strstr(out.p, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n") != NULL);
    assert_null(strstr(out.p, "content_block_start"));
    od_buf_free(&out);
}

/* An Anthropic SDK request through the front and back out of the anthropic
 * adapter keeps its meaning. */
static void t_round_trip_request(void **state)
{
    cJSON *areq = load_json("anthropic_front_request.json");
    cJSON *o = prov_anthropic_to_openai_request(areq, NULL);
    od_provider_cfg p = {.name = (char *)"a", .type = (char *)"anthropic", .api_key = (char *)"k"};
    prov_http h;
    char *err = NULL;
    assert_int_equal(prov_adapter_for("anthropic")->chat_request(&p, "claude-sonnet-4-5", o, 1, &h, &err), 0);
    cJSON *b = http_body(&h);
    assert_jstr(b, "system", "You are a helpful assistant.");
    assert_int_equal((int)jpath_num(b, "max_tokens"), 1024);
    assert_jstr(b, "messages.0.content.0.text", "What's the weather in Paris?");
    assert_jstr(b, "messages.1.content.1.type", "tool_use");
    assert_jstr(b, "messages.1.content.1.input.location", "Paris");
    assert_jstr(b, "messages.2.content.0.type", "tool_result");
    assert_jstr(b, "messages.2.content.0.tool_use_id", "toolu_01");
    assert_jstr(b, "messages.2.content.0.content", "21C, sunny");
    assert_jstr(b, "messages.2.content.1.text", "And this picture?");
    assert_jstr(b, "messages.2.content.2.source.data", "/9j/4AAQ");
    assert_jstr(b, "messages.2.content.2.source.media_type", "image/jpeg");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(b, "messages")), 3);
    assert_true(cJSON_Compare(jpath(b, "tools.0.input_schema"), jpath(areq, "tools.0.input_schema"), 1));
    assert_jstr(b, "tool_choice.type", "any");
    assert_true(cJSON_IsTrue(jpath(b, "tool_choice.disable_parallel_tool_use")));
    assert_true(cJSON_Compare(cJSON_GetObjectItem(b, "stop_sequences"),
                              cJSON_GetObjectItem(areq, "stop_sequences"), 1));
    assert_jstr(b, "metadata.user_id", "u-42");
    cJSON_Delete(b);
    prov_http_free(&h);
    cJSON_Delete(o);
    cJSON_Delete(areq);
}

static void t_round_trip_response(void **state)
{
    size_t len;
    char *body = read_fixture("anthropic_tool_use.json", &len);
    prov_usage u = {0};
    cJSON *o = prov_adapter_for("anthropic")->chat_response("m", body, len, &u, NULL);
    cJSON *a = prov_openai_to_anthropic_response(o);
    cJSON *orig = cJSON_Parse(body);
    assert_jstr(a, "id", "msg_01Aq9w938a90dw8q");
    assert_true(cJSON_Compare(cJSON_GetObjectItem(a, "content"), cJSON_GetObjectItem(orig, "content"), 1));
    assert_jstr(a, "stop_reason", "tool_use");
    assert_int_equal((int)jpath_num(a, "usage.input_tokens"), 472);
    assert_int_equal((int)jpath_num(a, "usage.output_tokens"), 89);
    cJSON_Delete(orig);
    cJSON_Delete(a);
    cJSON_Delete(o);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_request),
        cmocka_unit_test(t_request_errors),
        cmocka_unit_test(t_response),
        cmocka_unit_test(t_stream_text),
        cmocka_unit_test(t_stream_tools),
        cmocka_unit_test(t_stream_empty),
        cmocka_unit_test(t_round_trip_request),
        cmocka_unit_test(t_round_trip_response),
    };
    return cmocka_run_group_tests_name("prov_front", tests, NULL, NULL);
}
