/* tests/unit/test_prov_passthrough.c — the Anthropic passthrough helpers:
 * the client's body goes upstream untouched but for model, with the client's
 * anthropic-version / anthropic-beta; native usage (cache reads, 5-minute and
 * one-hour writes) priced exactly; the prompt estimate of an Anthropic body. */
#include "test_prov_util.h"

static od_kv cfg_header = {(char *)"x-team", (char *)"blue"};

static od_provider_cfg anthropic(const char *base)
{
    od_provider_cfg p = {0};
    p.name = (char *)"ant";
    p.type = (char *)"anthropic";
    p.base_url = (char *)base;
    p.api_key = (char *)"sk-ant-secret";
    p.headers = &cfg_header;
    p.nheaders = 1;
    return p;
}

static void t_native_request(void **state)
{
    cJSON *areq = load_json("anthropic_passthrough_request.json");
    od_provider_cfg p = anthropic(NULL);
    prov_http h;
    char *err = NULL;
    assert_int_equal(prov_anthropic_native_request(&p, "claude-sonnet-4-5", areq, NULL, "b1,b2", 1, &h, &err), 0);
    assert_null(err);
    assert_string_equal(h.url, "https://api.anthropic.com/v1/messages");
    assert_string_equal(header_value(&h, "x-api-key"), "sk-ant-secret");
    assert_string_equal(header_value(&h, "anthropic-version"), "2023-06-01");
    assert_string_equal(header_value(&h, "anthropic-beta"), "b1,b2");
    assert_string_equal(header_value(&h, "x-team"), "blue");
    assert_non_null(strstr(header_value(&h, "Accept"), "text/event-stream"));
    cJSON *b = http_body(&h);
    assert_jstr(b, "model", "claude-sonnet-4-5");
    /* every other member exactly as the client sent it */
    int n = 0;
    for (const cJSON *it = areq->child; it; it = it->next) {
        if (!strcmp(it->string, "model")) continue;
        n++;
        assert_true(cJSON_Compare(it, cJSON_GetObjectItemCaseSensitive(b, it->string), 1));
    }
    assert_int_equal(cJSON_GetArraySize(b), n + 1);
    assert_jstr(areq, "model", "claude-latest"); /* the client's tree is not changed */
    cJSON_Delete(b);
    prov_http_free(&h);
    cJSON_Delete(areq);
}

static void t_native_request_headers(void **state)
{
    cJSON *areq = cJSON_Parse("{\"model\":\"x\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    od_provider_cfg p = anthropic("http://127.0.0.1:9/v1/");
    prov_http h;
    char *err = NULL;
    assert_int_equal(prov_anthropic_native_request(&p, "m", areq, "2023-01-01", NULL, 0, &h, &err), 0);
    assert_string_equal(h.url, "http://127.0.0.1:9/v1/messages"); /* a base_url with /v1 is tolerated */
    assert_string_equal(header_value(&h, "anthropic-version"), "2023-01-01");
    assert_null(header_value(&h, "anthropic-beta"));
    prov_http_free(&h);
    /* a header value must not split the upstream header line */
    assert_int_equal(prov_anthropic_native_request(&p, "m", areq, NULL, "a\r\nx-evil: 1", 0, &h, &err), -1);
    assert_non_null(err);
    free(err);
    err = NULL;
    cJSON *arr = cJSON_CreateArray();
    assert_int_equal(prov_anthropic_native_request(&p, "m", arr, NULL, NULL, 0, &h, &err), -1);
    free(err);
    cJSON_Delete(arr);
    cJSON_Delete(areq);
}

static void t_native_usage_cost(void **state)
{
    /* a stream: message_start carries input and cache usage, message_delta the output */
    cJSON *start = cJSON_Parse("{\"input_tokens\":12,\"cache_creation_input_tokens\":500,\"cache_read_input_tokens\":100,"
                               "\"cache_creation\":{\"ephemeral_5m_input_tokens\":200,\"ephemeral_1h_input_tokens\":300},"
                               "\"output_tokens\":1}");
    cJSON *delta = cJSON_Parse("{\"output_tokens\":11}");
    prov_usage u = {0};
    prov_anthropic_usage(start, &u);
    prov_anthropic_usage(delta, &u);
    assert_true(u.seen);
    assert_int_equal(u.prompt_tokens, 612);
    assert_int_equal(u.cached_tokens, 100);
    assert_int_equal(u.cache_write_tokens, 500);
    assert_int_equal(u.cache_write_1h_tokens, 300);
    assert_int_equal(u.completion_tokens, 11);
    /* $3 / $15 per M, cached $0.30: 512x3 + 100x0.3 + 11x15 + 200x0.75 + 300x3 = 2781 */
    od_price_cfg price = {.input = 3000000, .output = 15000000, .cached_input = 300000};
    assert_int_equal(prov_cost_micros(&price, &u), 2781);
    cJSON_Delete(start);
    cJSON_Delete(delta);
    /* a whole message */
    cJSON *msg = load_json("anthropic_message.json");
    prov_usage w = {0};
    prov_anthropic_usage(cJSON_GetObjectItemCaseSensitive(msg, "usage"), &w);
    assert_int_equal(w.prompt_tokens, 2112);
    assert_int_equal(w.completion_tokens, 15);
    assert_int_equal(w.cache_write_1h_tokens, 0);
    cJSON_Delete(msg);
}

static void t_estimate(void **state)
{
    cJSON *areq = load_json("anthropic_passthrough_request.json");
    int64_t t = prov_anthropic_estimate_prompt_tokens(areq);
    /* text by its bytes, the document by its encoded size, tools by theirs */
    assert_true(t > 40);
    assert_true(t < 400);
    cJSON *img = cJSON_Parse("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":"
                             "{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"AAAA\"}}]}]}");
    assert_true(prov_anthropic_estimate_prompt_tokens(img) >= 4000);
    cJSON *s = cJSON_Parse("{\"system\":\"abcdefghi\",\"messages\":[{\"role\":\"user\",\"content\":\"abcdefghi\"}]}");
    assert_int_equal(prov_anthropic_estimate_prompt_tokens(s), 3 + 3 + 4 + 3);
    cJSON_Delete(s);
    cJSON_Delete(img);
    cJSON_Delete(areq);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_native_request),
        cmocka_unit_test(t_native_request_headers),
        cmocka_unit_test(t_native_usage_cost),
        cmocka_unit_test(t_estimate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
