/* tests/unit/test_gw_route.c — routing strategies, circuit breaker, error
 * bodies and metrics rendering of the gateway. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>
#include "gateway/gw.h"

static const char *CFG =
    "{\"providers\":[{\"name\":\"a\",\"type\":\"openai\",\"api_key\":\"k\"},"
    "{\"name\":\"b\",\"type\":\"anthropic\",\"api_key\":\"k\"},{\"name\":\"m\",\"type\":\"mock\"}],"
    "\"models\":[{\"name\":\"fo\",\"deployments\":[{\"provider\":\"a\",\"model\":\"x\",\"priority\":2},"
    "{\"provider\":\"b\",\"model\":\"y\",\"priority\":1}]},"
    "{\"name\":\"lb\",\"strategy\":\"least-busy\",\"deployments\":[{\"provider\":\"a\",\"model\":\"x\"},{\"provider\":\"b\",\"model\":\"y\"}]},"
    "{\"name\":\"ll\",\"strategy\":\"lowest-latency\",\"deployments\":[{\"provider\":\"a\",\"model\":\"x\"},{\"provider\":\"b\",\"model\":\"y\"}]},"
    "{\"name\":\"w\",\"strategy\":\"weighted\",\"deployments\":[{\"provider\":\"a\",\"model\":\"x\",\"weight\":9},{\"provider\":\"b\",\"model\":\"y\",\"weight\":1}]}]}";

typedef struct F {
    od_config *cfg;
    gw_router *r;
    gw_tuning t;
} F;

static int setup(void **state)
{
    F *f = od_calloc(1, sizeof *f);
    char *err = NULL;
    f->cfg = od_config_parse(CFG, "test", &err);
    if (!f->cfg) {
        fprintf(stderr, "%s\n", err);
        free(err);
        free(f);
        return -1;
    }
    f->t.breaker_failures = 3;
    f->t.breaker_cooldown_ms = 50;
    f->t.retry_max_ms = 1000;
    f->r = gw_router_new(f->cfg, &f->t);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    F *f = *state;
    gw_router_free(f->r);
    od_config_free(f->cfg);
    free(f);
    return 0;
}

static void test_failover_priority(void **state)
{
    F *f = *state;
    gw_plan p;
    gw_router_plan(f->r, od_config_model(f->cfg, "fo"), &p);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.deps[0]->name, "b/y");
    assert_string_equal(p.deps[1]->name, "a/x");
    assert_string_equal(p.deps[1]->model, "x");
    /* the same pair is one shared deployment */
    assert_ptr_equal(gw_router_dep(f->r, "a", "x"), p.deps[1]);
    assert_null(gw_router_dep(f->r, "nope", "x"));
}

static void test_direct_deployment(void **state)
{
    F *f = *state;
    gw_dep *d = gw_router_dep(f->r, "m", "echo");
    assert_non_null(d);
    assert_string_equal(d->ad->type, "mock");
    assert_string_equal(d->model, "echo");
}

static void test_least_busy(void **state)
{
    F *f = *state;
    gw_plan p;
    gw_dep *a = gw_router_dep(f->r, "a", "x");
    gw_dep_begin(a);
    gw_dep_begin(a);
    gw_router_plan(f->r, od_config_model(f->cfg, "lb"), &p);
    assert_string_equal(p.deps[0]->name, "b/y");
    gw_dep_success(f->r, a, 1000); /* a verdict: still in flight (a stream) */
    gw_router_plan(f->r, od_config_model(f->cfg, "lb"), &p);
    assert_string_equal(p.deps[0]->name, "b/y");
    gw_dep_end(a);
    gw_dep_end(a);
    assert_int_equal(a->inflight, 0);
    gw_router_plan(f->r, od_config_model(f->cfg, "lb"), &p);
    assert_string_equal(p.deps[0]->name, "a/x");
}

static void test_lowest_latency(void **state)
{
    F *f = *state;
    gw_plan p;
    gw_dep *a = gw_router_dep(f->r, "a", "x"), *b = gw_router_dep(f->r, "b", "y");
    gw_dep_begin(a); gw_dep_success(f->r, a, 900000);
    gw_dep_begin(b); gw_dep_success(f->r, b, 100000);
    gw_router_plan(f->r, od_config_model(f->cfg, "ll"), &p);
    assert_string_equal(p.deps[0]->name, "b/y");
    /* the moving average follows */
    for (int i = 0; i < 20; i++) { gw_dep_begin(b); gw_dep_success(f->r, b, 2000000); }
    gw_router_plan(f->r, od_config_model(f->cfg, "ll"), &p);
    assert_string_equal(p.deps[0]->name, "a/x");
}

static void test_weighted(void **state)
{
    F *f = *state;
    gw_plan p;
    int first_a = 0;
    for (int i = 0; i < 1000; i++) {
        gw_router_plan(f->r, od_config_model(f->cfg, "w"), &p);
        assert_int_equal(p.n, 2);
        if (!strcmp(p.deps[0]->name, "a/x")) first_a++;
    }
    assert_true(first_a > 820 && first_a < 970);
}

static void test_breaker(void **state)
{
    F *f = *state;
    gw_plan p;
    gw_dep *b = gw_router_dep(f->r, "b", "y");
    for (int i = 0; i < 3; i++) {
        assert_true(gw_dep_available(f->r, b, od_mono_us()));
        gw_dep_begin(b);
        gw_dep_failure(f->r, b, 0);
    }
    assert_false(gw_dep_available(f->r, b, od_mono_us()));
    gw_router_plan(f->r, od_config_model(f->cfg, "fo"), &p);
    assert_string_equal(p.deps[0]->name, "a/x"); /* open circuit goes last */
    assert_string_equal(p.deps[1]->name, "b/y");
    /* after the cool-down: exactly one probe */
    int64_t later = od_mono_us() + 60000;
    assert_true(gw_dep_available(f->r, b, later));
    while (od_mono_us() < later) ;
    gw_dep_begin(b);
    assert_int_equal(b->probing, 1);
    assert_false(gw_dep_available(f->r, b, od_mono_us()));
    gw_dep_success(f->r, b, 1000);
    assert_true(gw_dep_available(f->r, b, od_mono_us()));
    assert_int_equal(b->consecutive_failures, 0);
}

static void test_retry_after_cooldown(void **state)
{
    F *f = *state;
    gw_dep *a = gw_router_dep(f->r, "a", "x");
    gw_dep_begin(a);
    gw_dep_failure(f->r, a, 1);
    assert_false(gw_dep_available(f->r, a, od_mono_us()));
    assert_true(gw_dep_available(f->r, a, od_mono_us() + 1100000));
}

static void test_error_bodies(void **state)
{
    char *o = gw_error_body(GW_FRONT_OPENAI, 402, "budget_exceeded", "over \"budget\"");
    cJSON *j = cJSON_Parse(o);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "code")->valuestring, "budget_exceeded");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "type")->valuestring, "insufficient_quota");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "message")->valuestring, "over \"budget\"");
    cJSON_Delete(j);
    free(o);
    o = gw_error_body(GW_FRONT_ANTHROPIC, 404, "model_not_found", "no");
    j = cJSON_Parse(o);
    assert_string_equal(cJSON_GetObjectItem(j, "type")->valuestring, "error");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "type")->valuestring, "not_found_error");
    cJSON_Delete(j);
    free(o);
}

static void test_metrics_render(void **state)
{
    gw_metrics *m = gw_metrics_new();
    od_req r;
    memset(&r, 0, sizeof r);
    r.status = 200;
    snprintf(r.provider, sizeof r.provider, "openai");
    r.t_start_us = 1000;
    r.t_end_us = 301000;
    r.prompt_tokens = 10;
    r.completion_tokens = 5;
    r.cost_micros = 42;
    gw_metrics_request(m, &r, "gpt\"4o", 150000);
    gw_metrics_request(m, &r, "gpt\"4o", 0);
    gw_metrics_upstream_error(m, "openai", "timeout");
    char *t = gw_metrics_render(m, NULL);
    assert_non_null(strstr(t, "odock_requests_total{model=\"gpt\\\"4o\",provider=\"openai\",status=\"200\",reason=\"ok\"} 2"));
    assert_non_null(strstr(t, "odock_request_duration_seconds_bucket{model=\"gpt\\\"4o\",le=\"0.5\"} 2"));
    assert_non_null(strstr(t, "odock_request_duration_seconds_bucket{model=\"gpt\\\"4o\",le=\"0.25\"} 0"));
    assert_non_null(strstr(t, "odock_time_to_first_token_seconds_count{model=\"gpt\\\"4o\"} 1"));
    assert_non_null(strstr(t, "odock_tokens_total{model=\"gpt\\\"4o\",type=\"prompt\"} 20"));
    assert_non_null(strstr(t, "odock_cost_micros_total{model=\"gpt\\\"4o\"} 84"));
    assert_non_null(strstr(t, "odock_upstream_errors_total{provider=\"openai\",kind=\"timeout\"} 1"));
    free(t);
    gw_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_failover_priority, setup, teardown),
        cmocka_unit_test_setup_teardown(test_direct_deployment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_least_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lowest_latency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_weighted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_breaker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_cooldown, setup, teardown),
        cmocka_unit_test(test_error_bodies),
        cmocka_unit_test(test_metrics_render),
    };
    return cmocka_run_group_tests_name("gw_route", tests, NULL, NULL);
}
