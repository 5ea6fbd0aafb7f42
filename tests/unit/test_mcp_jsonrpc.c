/* JSON-RPC 2.0 framing: parsing, classification, builders, line splitting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mcp/jsonrpc.h"

static mcp_msg_kind kind_of(const char *text, mcp_msg *m, cJSON **keep)
{
    int code;
    const char *msg;
    cJSON *j = mcp_rpc_parse(text, strlen(text), 0, &code, &msg);
    assert_non_null(j);
    *keep = j;
    return mcp_rpc_classify(j, m);
}

static void test_parse_errors(void **st)
{
    (void)st;
    int code;
    const char *msg;
    assert_null(mcp_rpc_parse("{", 1, 0, &code, &msg));
    assert_int_equal(code, MCP_ERR_PARSE);
    assert_null(mcp_rpc_parse("{} x", 4, 0, &code, &msg));
    assert_int_equal(code, MCP_ERR_PARSE);
    assert_null(mcp_rpc_parse("", 0, 0, &code, &msg));
    assert_int_equal(code, MCP_ERR_PARSE);
    assert_null(mcp_rpc_parse("{\"a\":1}", 7, 5, &code, &msg));
    assert_int_equal(code, MCP_ERR_TOO_LARGE);
    cJSON *j = mcp_rpc_parse("{}  \r\n", 6, 0, &code, &msg);
    assert_non_null(j);
    cJSON_Delete(j);
    /* very deep nesting is refused, not a crash */
    size_t n = 200000;
    char *deep = malloc(n * 2 + 1);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = 0;
    assert_null(mcp_rpc_parse(deep, 2 * n, 0, &code, &msg));
    assert_int_equal(code, MCP_ERR_PARSE);
    free(deep);
}

static void test_classify(void **st)
{
    (void)st;
    mcp_msg m;
    cJSON *j;
    assert_int_equal(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", &m, &j), MCP_MSG_REQUEST);
    assert_string_equal(m.method, "ping");
    assert_null(m.params);
    cJSON_Delete(j);
    assert_int_equal(kind_of("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"x\",\"params\":{}}", &m, &j), MCP_MSG_REQUEST);
    assert_non_null(m.params);
    cJSON_Delete(j);
    assert_int_equal(kind_of("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"}", &m, &j), MCP_MSG_NOTIFICATION);
    cJSON_Delete(j);
    assert_int_equal(kind_of("{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}", &m, &j), MCP_MSG_RESPONSE);
    cJSON_Delete(j);
    assert_int_equal(kind_of("{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-1,\"message\":\"x\"}}", &m, &j), MCP_MSG_RESPONSE);
    assert_non_null(m.error);
    cJSON_Delete(j);
}

static void expect_invalid(const char *text, int code, int has_id)
{
    mcp_msg m;
    cJSON *j;
    assert_int_equal(kind_of(text, &m, &j), MCP_MSG_INVALID);
    assert_int_equal(m.err_code, code);
    if (has_id) assert_non_null(m.id);
    else assert_null(m.id);
    cJSON_Delete(j);
}

static void test_invalid(void **st)
{
    (void)st;
    expect_invalid("[]", MCP_ERR_INVALID_REQUEST, 0);
    expect_invalid("42", MCP_ERR_INVALID_REQUEST, 0);
    expect_invalid("{\"id\":1,\"method\":\"ping\"}", MCP_ERR_INVALID_REQUEST, 1);          /* no jsonrpc */
    expect_invalid("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", MCP_ERR_INVALID_REQUEST, 1);
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", MCP_ERR_INVALID_REQUEST, 1);
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}", MCP_ERR_INVALID_REQUEST, 1);
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", MCP_ERR_INVALID_REQUEST, 0);
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", MCP_ERR_INVALID_REQUEST, 0);
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}", MCP_ERR_INVALID_REQUEST, 0);
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":[1]}", MCP_ERR_INVALID_PARAMS, 1);
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":1}", MCP_ERR_INVALID_REQUEST, 1);
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"error\":{\"code\":1}}", MCP_ERR_INVALID_REQUEST, 1);
    expect_invalid("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"message\":\"no code\"}}", MCP_ERR_INVALID_REQUEST, 1);
}

/* a name given twice is a parse error that names it (the parser refuses
 * it: a JavaScript server would read the last, odock the first) */
static void test_params_given_twice(void **st)
{
    (void)st;
    const char *t = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"name\":\"b\"}}";
    int code;
    const char *msg;
    assert_null(mcp_rpc_parse(t, strlen(t), 0, &code, &msg));
    assert_int_equal(code, MCP_ERR_PARSE);
    assert_string_equal(msg, "Parse error: \"name\" given twice in one object");
    assert_null(mcp_rpc_parse("{\"a\":", 5, 0, &code, &msg));
    assert_string_equal(msg, "Parse error");
}

static void test_builders(void **st)
{
    (void)st;
    cJSON *id = cJSON_CreateString("x1");
    cJSON *e = mcp_rpc_error_reason(id, MCP_ERR_DENIED, "nope", "tool_not_allowed");
    char *t = cJSON_PrintUnformatted(e);
    assert_string_equal(t, "{\"jsonrpc\":\"2.0\",\"id\":\"x1\",\"error\":{\"code\":-32001,\"message\":\"nope\",\"data\":{\"reason\":\"tool_not_allowed\"}}}");
    cJSON_free(t);
    cJSON_Delete(e);
    e = mcp_rpc_error_obj(NULL, MCP_ERR_PARSE, "Parse error", NULL);
    t = cJSON_PrintUnformatted(e);
    assert_string_equal(t, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"Parse error\"}}");
    cJSON_free(t);
    cJSON_Delete(e);
    e = mcp_rpc_result_take(id, NULL);
    t = cJSON_PrintUnformatted(e);
    assert_string_equal(t, "{\"jsonrpc\":\"2.0\",\"id\":\"x1\",\"result\":{}}");
    cJSON_free(t);
    cJSON_Delete(e);
    char buf[32];
    mcp_rpc_id_text(id, buf, sizeof buf);
    assert_string_equal(buf, "\"x1\"");
    cJSON_Delete(id);
    id = cJSON_CreateNumber(42);
    mcp_rpc_id_text(id, buf, sizeof buf);
    assert_string_equal(buf, "42");
    assert_true(mcp_rpc_id_valid(id));
    cJSON_Delete(id);
}

typedef struct got { char lines[8][64]; int n, too_long; } got;
static void collect(void *ud, const char *line, size_t len, int too_long)
{
    got *g = ud;
    if (too_long) { g->too_long++; return; }
    assert_true(len < 64);
    memcpy(g->lines[g->n], line, len);
    g->lines[g->n][len] = 0;
    g->n++;
}

static void test_lines(void **st)
{
    (void)st;
    mcp_lines l;
    got g = {0};
    mcp_lines_init(&l, 16);
    mcp_lines_feed(&l, "ab", 2, collect, &g);
    assert_int_equal(g.n, 0);
    mcp_lines_feed(&l, "c\r\n\n  \nde", 9, collect, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.lines[0], "abc");
    mcp_lines_feed(&l, "f\n", 2, collect, &g);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.lines[1], "def");
    /* an oversized line is dropped whole, reported once, the next is fine */
    mcp_lines_feed(&l, "0123456789abcdef", 16, collect, &g);
    mcp_lines_feed(&l, "0123456789", 10, collect, &g);
    mcp_lines_feed(&l, "xyz\nok\n", 7, collect, &g);
    assert_int_equal(g.too_long, 1);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.lines[2], "ok");
    /* oversized within one feed */
    mcp_lines_feed(&l, "0123456789abcdefghij\nyes\n", 25, collect, &g);
    assert_int_equal(g.too_long, 2);
    assert_string_equal(g.lines[3], "yes");
    mcp_lines_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_params_given_twice),
        cmocka_unit_test(test_builders),
        cmocka_unit_test(test_lines),
    };
    return cmocka_run_group_tests_name("mcp_jsonrpc", tests, NULL, NULL);
}
