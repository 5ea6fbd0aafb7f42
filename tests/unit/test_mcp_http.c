/* The pure parts of MCP over HTTP: the SSE replay buffer behind
 * Last-Event-ID, SSE framing, and the Origin / Host / Accept checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gateway/mcp_sse.h"

typedef struct seen { int n; char all[512]; } seen;
static void collect(void *ud, const char *text, size_t len)
{
    seen *s = ud;
    s->n++;
    strncat(s->all, text, len);
    strcat(s->all, "|");
}

static void test_replay_per_stream(void **st)
{
    (void)st;
    gw_replay r;
    gw_replay_init(&r, 8, 4096);
    gw_replay_push(&r, 1, 1, "a", 1);
    gw_replay_push(&r, 2, 2, "b", 1);
    gw_replay_push(&r, 3, 1, "c", 1);
    gw_replay_push(&r, 4, 1, "d", 1);
    assert_int_equal(gw_replay_stream_of(&r, 2), 2);
    assert_int_equal(gw_replay_stream_of(&r, 3), 1);
    assert_int_equal(gw_replay_stream_of(&r, 9), -1);
    seen s = {0};
    /* after event 1 on its stream: c and d, never the other stream's b */
    assert_int_equal(gw_replay_since(&r, 1, 1, collect, &s), 2);
    assert_string_equal(s.all, "c|d|");
    memset(&s, 0, sizeof s);
    assert_int_equal(gw_replay_since(&r, 4, 1, collect, &s), 0);
    gw_replay_free(&r);
}

static void test_replay_bounded(void **st)
{
    (void)st;
    gw_replay r;
    gw_replay_init(&r, 3, 10);
    for (int i = 1; i <= 5; i++)
        gw_replay_push(&r, i, 1, "xy", 2); /* count bound: keeps 3, 4, 5 */
    assert_int_equal(r.n, 3);
    assert_int_equal(gw_replay_stream_of(&r, 2), -1);
    assert_int_equal(gw_replay_stream_of(&r, 3), 1);
    gw_replay_push(&r, 6, 1, "123456789", 9); /* byte bound: only it fits */
    assert_int_equal(r.n, 1);
    assert_true(r.bytes <= 10);
    gw_replay_push(&r, 7, 1, "much too long", 13); /* larger than the bound: not kept */
    assert_int_equal(gw_replay_stream_of(&r, 7), -1);
    assert_int_equal(gw_replay_stream_of(&r, 6), 1);
    gw_replay_free(&r);
    gw_replay_free(&r); /* twice is harmless */
}

static void test_sse_framing(void **st)
{
    (void)st;
    od_buf b = {0};
    gw_sse_event(&b, 42, "message", "{\"a\":1}", 7);
    assert_string_equal(b.p, "id: 42\nevent: message\ndata: {\"a\":1}\n\n");
    od_buf_reset(&b);
    gw_sse_event(&b, 0, "endpoint", "/messages?sessionId=x", 21);
    assert_string_equal(b.p, "event: endpoint\ndata: /messages?sessionId=x\n\n");
    od_buf_free(&b);
    assert_int_equal(gw_sse_parse_id("17"), 17);
    assert_int_equal(gw_sse_parse_id(" 3"), 3);
    assert_int_equal(gw_sse_parse_id("event-3"), -1);
    assert_int_equal(gw_sse_parse_id("-1"), -1);
    assert_int_equal(gw_sse_parse_id(""), -1);
    assert_int_equal(gw_sse_parse_id(NULL), -1);
}

static void test_origin(void **st)
{
    (void)st;
    assert_true(gw_origin_allowed("http://localhost:3000", NULL));
    assert_true(gw_origin_allowed("https://127.0.0.1", NULL));
    assert_true(gw_origin_allowed("http://[::1]:8787", NULL));
    assert_true(gw_origin_allowed("http://LOCALHOST", NULL));
    assert_false(gw_origin_allowed("http://evil.example.com", NULL));
    assert_false(gw_origin_allowed("http://localhost.evil.com", NULL));
    assert_false(gw_origin_allowed("http://localhost@evil.com", NULL));
    assert_false(gw_origin_allowed("null", NULL));
    assert_false(gw_origin_allowed("file://", NULL));
    assert_false(gw_origin_allowed("http://127.0.0.2", NULL));
    const char *allowed = "https://app.example.com, http://tools.internal:8080";
    assert_true(gw_origin_allowed("https://app.example.com", allowed));
    assert_true(gw_origin_allowed("https://app.example.com/", allowed));
    assert_true(gw_origin_allowed("http://tools.internal:8080", allowed));
    assert_false(gw_origin_allowed("http://tools.internal:9090", allowed));
    assert_false(gw_origin_allowed("http://app.example.com", allowed)); /* scheme counts */
    assert_true(gw_origin_allowed("https://anything", "*"));
}

static void test_host(void **st)
{
    (void)st;
    assert_true(gw_host_is_loopback("localhost:8787"));
    assert_true(gw_host_is_loopback("127.0.0.1"));
    assert_true(gw_host_is_loopback("[::1]:80"));
    assert_false(gw_host_is_loopback("evil.example.com"));
    assert_false(gw_host_is_loopback("evil.example.com:8787"));
    assert_false(gw_host_is_loopback(NULL));
    assert_true(gw_host_allowed("gw.example.com:443", "gw.example.com"));
    assert_true(gw_host_allowed("gw.example.com", "other, gw.example.com"));
    assert_false(gw_host_allowed("evil.example.com", "gw.example.com"));
    assert_true(gw_host_allowed("localhost:1", NULL));
}

static void test_accept(void **st)
{
    (void)st;
    assert_true(gw_accepts("application/json, text/event-stream", "text/event-stream"));
    assert_true(gw_accepts("application/json, text/event-stream", "application/json"));
    assert_true(gw_accepts("text/event-stream;q=0.9", "text/event-stream"));
    assert_true(gw_accepts("*/*", "text/event-stream"));
    assert_true(gw_accepts("text/*", "text/event-stream"));
    assert_false(gw_accepts("application/json", "text/event-stream"));
    assert_false(gw_accepts("text/event-streamx", "text/event-stream"));
    assert_false(gw_accepts(NULL, "application/json"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_per_stream),
        cmocka_unit_test(test_replay_bounded),
        cmocka_unit_test(test_sse_framing),
        cmocka_unit_test(test_origin),
        cmocka_unit_test(test_host),
        cmocka_unit_test(test_accept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
