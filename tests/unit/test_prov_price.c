/* tests/unit/test_prov_price.c — the price table, config overrides, cost to
 * the micro-dollar (rounded up, overflow-safe), estimates and output caps. */
#include "test_prov_util.h"

#include <stdint.h>

static int64_t cost_of(const char *model, int64_t prompt, int64_t cached, int64_t completion)
{
    od_price_cfg p;
    if (prov_price_lookup(NULL, NULL, "x", model, &p) != 0) fail_msg("no price for %s", model);
    prov_usage u = {.prompt_tokens = prompt, .cached_tokens = cached, .completion_tokens = completion};
    return prov_cost_micros(&p, &u);
}

static void t_builtin(void **state)
{
    struct { const char *model, *row; int64_t in, out; } cases[] = {
        {"gpt-4o", "gpt-4o", 2500000, 10000000},
        {"gpt-4o-2024-08-06", "gpt-4o", 2500000, 10000000},
        {"gpt-4o-2024-05-13", "gpt-4o-2024-05-13", 5000000, 15000000},
        {"gpt-4o-mini", "gpt-4o-mini", 150000, 600000},
        {"gpt-4o-mini-2024-07-18", "gpt-4o-mini", 150000, 600000},
        {"gpt-4.1-nano-2025-04-14", "gpt-4.1-nano", 100000, 400000},
        {"o3-mini", "o3-mini", 1100000, 4400000},
        {"o3-2025-04-16", "o3", 2000000, 8000000},
        {"gpt-5", "gpt-5", 1250000, 10000000},
        {"gpt-5-mini-2025-08-07", "gpt-5-mini", 250000, 2000000},
        {"claude-3-5-haiku-20241022", "claude-3-5-haiku", 800000, 4000000},
        {"claude-3-7-sonnet-latest", "claude-3-7-sonnet", 3000000, 15000000},
        {"claude-sonnet-4-20250514", "claude-sonnet-4", 3000000, 15000000},
        {"claude-sonnet-4-5-20250929", "claude-sonnet-4-5", 3000000, 15000000},
        {"claude-opus-4-1-20250805", "claude-opus-4-1", 15000000, 75000000},
        {"claude-haiku-4-5", "claude-haiku-4-5", 1000000, 5000000},
        {"gemini-2.5-flash", "gemini-2.5-flash", 300000, 2500000},
        {"gemini-2.5-flash-lite", "gemini-2.5-flash-lite", 100000, 400000},
        {"models/gemini-2.0-flash-001", "gemini-2.0-flash", 100000, 400000},
        {"gemini-2.5-pro-preview-06-05", "gemini-2.5-pro", 1250000, 10000000},
        {"text-embedding-3-small", "text-embedding-3-small", 20000, 0},
        {"openai/gpt-4o-mini", "gpt-4o-mini", 150000, 600000},
    };
    for (size_t i = 0; i < OD_ARRAY_LEN(cases); i++) {
        od_price_cfg p;
        assert_int_equal(prov_price_lookup(NULL, NULL, "prov", cases[i].model, &p), 0);
        assert_string_equal(p.model, cases[i].row);
        assert_int_equal(p.input, cases[i].in);
        assert_int_equal(p.output, cases[i].out);
    }
    od_price_cfg p;
    assert_int_equal(prov_price_lookup(NULL, NULL, "prov", "llama3:8b", &p), -1);
    assert_int_equal(prov_price_lookup(NULL, NULL, "prov", "gpt-4oX", &p), -1); /* no boundary */
    assert_int_equal(prov_price_lookup(NULL, NULL, NULL, NULL, &p), -1);
    /* an Azure deployment with a free-form name falls back to the alias */
    assert_int_equal(prov_price_lookup(NULL, "gpt-4o-mini", "azure-eu", "prod-deploy-7", &p), 0);
    assert_string_equal(p.model, "gpt-4o-mini");
}

static void t_config_override(void **state)
{
    od_price_cfg prices[] = {
        {(char *)"fast", 1, 2, -1},
        {(char *)"local/llama3", 3, 4, -1},
        {(char *)"llama3", 5, 6, -1},
        {(char *)"gpt-4o", 7, 8, 1},
    };
    od_provider_cfg provs[] = {
        {.name = (char *)"local", .type = (char *)"openai-compatible"},
        {.name = (char *)"sim", .type = (char *)"mock"},
    };
    od_config cfg = {0};
    cfg.prices = prices;
    cfg.nprices = 4;
    cfg.providers = provs;
    cfg.nproviders = 2;
    od_price_cfg p;
    /* alias first, then provider/model, then the model */
    assert_int_equal(prov_price_lookup(&cfg, "fast", "local", "llama3", &p), 0);
    assert_int_equal(p.input, 1);
    assert_int_equal(prov_price_lookup(&cfg, "other", "local", "llama3", &p), 0);
    assert_int_equal(p.input, 3);
    assert_int_equal(prov_price_lookup(&cfg, "other", "remote", "llama3", &p), 0);
    assert_int_equal(p.input, 5);
    /* config beats the table */
    assert_int_equal(prov_price_lookup(&cfg, NULL, "openai", "gpt-4o", &p), 0);
    assert_int_equal(p.input, 7);
    assert_int_equal(p.cached_input, 1);
    /* the mock's fixed price, whatever its provider is called */
    assert_int_equal(prov_price_lookup(&cfg, "sim/echo", "sim", "echo", &p), 0);
    assert_int_equal(p.input, 1000000);
    assert_int_equal(p.output, 2000000);
    assert_int_equal(prov_price_lookup(NULL, NULL, "mock", "tools", &p), 0);
    assert_int_equal(p.output, 2000000);
    assert_int_equal(prov_price_lookup(&cfg, NULL, "local", "unknown-model", &p), -1);
}

static void t_cost(void **state)
{
    /* 99 fresh * $2.50 + 1920 cached * $1.25 + 10 out * $10, per million: 2747.5 -> 2748 */
    assert_int_equal(cost_of("gpt-4o", 2019, 1920, 10), 2748);
    assert_int_equal(cost_of("gpt-4o", 1, 0, 0), 3);        /* 2.5 rounds up */
    assert_int_equal(cost_of("gpt-4o", 1000000, 0, 0), 2500000); /* exact stays exact */
    assert_int_equal(cost_of("gpt-4o", 0, 0, 0), 0);
    assert_int_equal(cost_of("gpt-4o-mini", 1000, 0, 1000), 750);
    assert_int_equal(cost_of("gpt-4o-mini", 1, 0, 0), 1);    /* 0.15 -> 1 */
    assert_int_equal(cost_of("gpt-4o", 10, 20, 0), 13);      /* cached > prompt clamps: 12.5 */
    assert_int_equal(cost_of("gpt-4o", -5, -1, -7), 0);

    od_price_cfg mock;
    assert_int_equal(prov_price_lookup(NULL, NULL, "mock", "echo", &mock), 0);
    prov_usage u = {.prompt_tokens = 10, .completion_tokens = 5};
    assert_int_equal(prov_cost_micros(&mock, &u), 20);
    u.cached_tokens = 4;
    assert_int_equal(prov_cost_micros(&mock, &u), 6 + 2 + 10);

    /* cached_input not given: cached tokens at the input price */
    od_price_cfg p = {(char *)"x", 3000000, 6000000, -1};
    prov_usage v = {.prompt_tokens = 100, .cached_tokens = 50, .completion_tokens = 10};
    assert_int_equal(prov_cost_micros(&p, &v), 360);

    /* Anthropic cache writes: +25% (5 minutes) or +100% (1 hour) of input */
    od_price_cfg sonnet;
    assert_int_equal(prov_price_lookup(NULL, NULL, "a", "claude-sonnet-4-20250514", &sonnet), 0);
    prov_usage w = {.prompt_tokens = 2112, .cached_tokens = 2000, .cache_write_tokens = 100,
                    .completion_tokens = 15};
    assert_int_equal(prov_cost_micros(&sonnet, &w), 336 + 600 + 225 + 75);
    w.cache_write_1h_tokens = 100;
    assert_int_equal(prov_cost_micros(&sonnet, &w), 336 + 600 + 225 + 300);

    /* no overflow, ever: saturates */
    od_price_cfg huge = {(char *)"h", INT64_MAX, INT64_MAX, INT64_MAX};
    prov_usage big = {.prompt_tokens = INT64_MAX, .completion_tokens = INT64_MAX};
    assert_true(prov_cost_micros(&huge, &big) > 0);
    od_price_cfg pricey = {(char *)"p", (int64_t)1 << 45, -1, (int64_t)1 << 45};
    prov_usage many = {.prompt_tokens = (int64_t)1 << 45, .completion_tokens = (int64_t)1 << 45};
    assert_int_equal(prov_cost_micros(&pricey, &many), INT64_MAX);
    assert_int_equal(prov_cost_micros(NULL, &u), 0);
}

static void t_estimate(void **state)
{
    cJSON *req = cJSON_Parse("{\"messages\":[{\"role\":\"user\",\"content\":\"\"}]}");
    int64_t base = prov_estimate_prompt_tokens(req);
    assert_true(base > 0);
    cJSON_Delete(req);

    /* always at least the fake upstream's and mock's count (bytes / 4) */
    const char *texts[] = {"hello", "The quick brown fox jumps over the lazy dog.",
                           "日本語のテキストです", "a b c d e f g h i j k l m n o p"};
    for (size_t i = 0; i < OD_ARRAY_LEN(texts); i++) {
        cJSON *r = cJSON_CreateObject();
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "user");
        cJSON_AddStringToObject(m, "content", texts[i]);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(r, "messages"), m);
        int64_t e = prov_estimate_prompt_tokens(r);
        assert_true(e >= (int64_t)(strlen(texts[i]) + 3) / 4);
        assert_true(e >= (int64_t)strlen(texts[i]) / 3);
        cJSON_Delete(r);
    }

    /* exact: ASCII bytes / 3 and other bytes / 2, each rounded up, at every
     * length and wherever the non-ASCII bytes fall in the 8-byte words */
    char text[64];
    for (size_t n = 0; n < sizeof text; n++) {
        size_t ascii = 0, other = 0;
        for (size_t k = 0; k < n; k++) {
            text[k] = (k * 7 + n) % 5 == 0 ? (char)0xC3 : (char)('a' + k % 26);
            if ((unsigned char)text[k] >= 0x80) other++;
            else ascii++;
        }
        text[n] = 0;
        cJSON *r = cJSON_CreateObject();
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "user");
        cJSON_AddStringToObject(m, "content", text);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(r, "messages"), m);
        int64_t want = base + (int64_t)((ascii + 2) / 3 + (other + 1) / 2);
        assert_int_equal(prov_estimate_prompt_tokens(r), want);
        cJSON_Delete(r);
    }

    /* images count a fixed worst case, not their base64 size; tools count */
    cJSON *full = load_json("openai_request_full.json");
    int64_t e = prov_estimate_prompt_tokens(full);
    assert_true(e >= 2 * 4000);
    assert_true(e < 2 * 4000 + 1000);
    cJSON *no_tools = cJSON_Duplicate(full, 1);
    cJSON_DeleteItemFromObject(no_tools, "tools");
    assert_true(prov_estimate_prompt_tokens(no_tools) < e);
    cJSON_Delete(no_tools);
    cJSON_Delete(full);

    /* embeddings input */
    cJSON *emb = cJSON_Parse("{\"input\":[\"abcdefghi\",\"abc\"]}");
    assert_true(prov_estimate_prompt_tokens(emb) >= 4);
    cJSON_Delete(emb);
    emb = cJSON_Parse("{\"input\":[[1,2,3,4,5,6,7,8,9,10]]}");
    assert_true(prov_estimate_prompt_tokens(emb) >= 10);
    cJSON_Delete(emb);
    assert_true(prov_estimate_prompt_tokens(NULL) >= 0);
}

static void t_max_output(void **state)
{
    assert_int_equal(prov_max_output_tokens("gpt-4o"), 16384);
    assert_int_equal(prov_max_output_tokens("gpt-4o-mini-2024-07-18"), 16384);
    assert_int_equal(prov_max_output_tokens("claude-3-5-haiku-20241022"), 8192);
    assert_int_equal(prov_max_output_tokens("claude-sonnet-4-5"), 64000);
    assert_int_equal(prov_max_output_tokens("claude-opus-4-20250514"), 32000);
    assert_int_equal(prov_max_output_tokens("gemini-2.5-pro"), 65536);
    assert_int_equal(prov_max_output_tokens("o4-mini"), 100000);
    assert_int_equal(prov_max_output_tokens("some-local-model"), 0);
    assert_int_equal(prov_max_output_tokens(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_builtin),
        cmocka_unit_test(t_config_override),
        cmocka_unit_test(t_cost),
        cmocka_unit_test(t_estimate),
        cmocka_unit_test(t_max_output),
    };
    return cmocka_run_group_tests_name("prov_price", tests, NULL, NULL);
}
