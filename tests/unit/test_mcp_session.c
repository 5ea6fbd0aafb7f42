/* The multiplexer end to end inside one process: a session, a real loop, and
 * this same binary started as a stdio upstream (argv[1] == "--fake-upstream")
 * that shows what it received. Checks id remapping both ways, progress token
 * remapping, odock's cursors over the merged list, and cancellation. No
 * policy engine (pol = NULL). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <libwebsockets.h>

#include "core/loop.h"
#include "core/od.h"
#include "mcp/jsonrpc.h"
#include "mcp/mcp.h"

/* ---- the fake upstream: answers from stdin to stdout ---- */
static int fake_upstream(void)
{
    char line[65536];
    cJSON *held = NULL; /* a "later" call, answered after the next call */
    while (fgets(line, sizeof line, stdin)) {
        cJSON *m = cJSON_Parse(line);
        if (!m) continue;
        cJSON *id = cJSON_GetObjectItem(m, "id");
        const char *meth = cJSON_GetStringValue(cJSON_GetObjectItem(m, "method"));
        cJSON *p = cJSON_GetObjectItem(m, "params");
        cJSON *res = NULL;
        if (!meth || !id) {
            if (meth && !strcmp(meth, "notifications/cancelled")) {
                char *rid = cJSON_PrintUnformatted(cJSON_GetObjectItem(p, "requestId"));
                fprintf(stderr, "upstream got cancel of %s\n", rid);
                free(rid);
            }
            cJSON_Delete(m);
            continue;
        }
        if (!strcmp(meth, "initialize")) {
            res = cJSON_Parse("{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{\"tools\":{}},\"serverInfo\":{\"name\":\"f\",\"version\":\"1\"}}");
        } else if (!strcmp(meth, "tools/list")) {
            const char *cur = cJSON_GetStringValue(cJSON_GetObjectItem(p, "cursor"));
            res = cJSON_Parse(cur ? "{\"tools\":[{\"name\":\"t3\",\"inputSchema\":{}},{\"name\":\"later\",\"inputSchema\":{}},{\"name\":\"hang\",\"inputSchema\":{}}]}"
                                  : "{\"tools\":[{\"name\":\"t1\",\"inputSchema\":{}},{\"name\":\"t2\",\"inputSchema\":{}}],\"nextCursor\":\"p2\"}");
        } else if (!strcmp(meth, "tools/call")) {
            const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(p, "name"));
            cJSON *meta = cJSON_GetObjectItem(p, "_meta");
            cJSON *tok = cJSON_GetObjectItem(meta, "progressToken");
            if (tok) {
                cJSON *n = cJSON_Parse("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}");
                cJSON_AddItemToObject(cJSON_GetObjectItem(n, "params"), "progressToken", cJSON_Duplicate(tok, 1));
                char *t = cJSON_PrintUnformatted(n);
                printf("%s\n", t);
                free(t);
                cJSON_Delete(n);
            }
            char txt[512];
            char *ids = cJSON_PrintUnformatted(id);
            char *toks = tok ? cJSON_PrintUnformatted(tok) : NULL;
            snprintf(txt, sizeof txt, "name=%s id=%s tok=%s", name, ids, toks ? toks : "-");
            free(ids);
            free(toks);
            res = cJSON_CreateObject();
            cJSON *c = cJSON_AddArrayToObject(res, "content");
            cJSON *it = cJSON_CreateObject();
            cJSON_AddStringToObject(it, "type", "text");
            cJSON_AddStringToObject(it, "text", txt);
            cJSON_AddItemToArray(c, it);
            if (name && !strcmp(name, "hang")) { cJSON_Delete(res); cJSON_Delete(m); continue; }
            if (name && !strcmp(name, "later") && !held) {
                held = cJSON_CreateObject();
                cJSON_AddItemToObject(held, "id", cJSON_Duplicate(id, 1));
                cJSON_AddItemToObject(held, "result", res);
                cJSON_Delete(m);
                continue;
            }
        } else {
            res = cJSON_CreateObject();
        }
        cJSON *out = mcp_rpc_result_take(id, res);
        char *t = cJSON_PrintUnformatted(out);
        printf("%s\n", t);
        free(t);
        cJSON_Delete(out);
        if (held && !(meth && !strcmp(meth, "tools/call") && cJSON_GetObjectItem(held, "id") && cJSON_Compare(cJSON_GetObjectItem(held, "id"), id, 1))) {
            cJSON *o = mcp_rpc_result_take(cJSON_GetObjectItem(held, "id"), cJSON_Duplicate(cJSON_GetObjectItem(held, "result"), 1));
            t = cJSON_PrintUnformatted(o);
            printf("%s\n", t);
            free(t);
            cJSON_Delete(o);
            cJSON_Delete(held);
            held = NULL;
        }
        fflush(stdout);
        cJSON_Delete(m);
    }
    cJSON_Delete(held);
    return 0;
}

/* ---- the test side ---- */
static char self[4096];

typedef struct world {
    od_loop *loop;
    od_config *cfg;
    mcp_mux *mux;
    mcp_session *s;
    cJSON *got;   /* every message odock sent to the client */
} world;

static void on_send(void *ud, const char *json, size_t len, int kind, const char *id_text)
{
    world *w = ud;
    cJSON *j = cJSON_ParseWithLength(json, len);
    assert_non_null(j);
    cJSON_AddItemToArray(w->got, j);
}

static cJSON *answer(world *w, const char *id_json)
{
    cJSON *id = cJSON_Parse(id_json), *it, *found = NULL;
    cJSON_ArrayForEach(it, w->got) {
        cJSON *i = cJSON_GetObjectItem(it, "id");
        if (i && cJSON_Compare(i, id, 1) && !cJSON_GetObjectItem(it, "method")) found = it;
    }
    cJSON_Delete(id);
    return found;
}

/* drive the loop by hand: od_loop_run() stops for good once stopped */
static void run_until(world *w, int (*until)(world *))
{
    int64_t deadline = od_mono_us() + 10000000;
    while (!until(w) && od_mono_us() < deadline)
        lws_service(od_loop_lws(w->loop), 0);
}

static const char *want_id;
static int has_answer(world *w) { return answer(w, want_id) != NULL; }

static void say(world *w, const char *json) { mcp_session_handle(w->s, json, strlen(json)); }

static const char *text_of(cJSON *a)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(a, "result"), "content"), 0), "text"));
}

static int setup(void **state)
{
    world *w = calloc(1, sizeof *w);
    char cfgtext[8192];
    snprintf(cfgtext, sizeof cfgtext,
             "{\"database\":\"/nonexistent\",\"mcp_servers\":[{\"name\":\"up\",\"command\":\"%s\",\"args\":[\"--fake-upstream\"],\"timeout_ms\":5000}]}",
             self);
    char *err = NULL;
    w->cfg = od_config_parse(cfgtext, "test", &err);
    if (!w->cfg) fprintf(stderr, "config: %s\n", err);
    assert_non_null(w->cfg);
    od_loop_opts lo = {0};
    w->loop = od_loop_new(&lo, &err);
    assert_non_null(w->loop);
    setenv("ODOCK_MCP_PAGE_SIZE", "2", 1);
    mcp_mux_opts mo = {.loop = w->loop, .cfg = w->cfg};
    w->mux = mcp_mux_new(&mo);
    w->got = cJSON_CreateArray();
    w->s = mcp_session_new(w->mux, NULL, on_send, w);
    say(w, "{\"jsonrpc\":\"2.0\",\"id\":\"init\",\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{}}}");
    want_id = "\"init\"";
    run_until(w, has_answer);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    mcp_session_free(w->s);
    mcp_mux_free(w->mux);
    od_loop_free(w->loop);
    od_config_free(w->cfg);
    cJSON_Delete(w->got);
    free(w);
    return 0;
}

static void test_ids_remapped(void **state)
{
    world *w = *state;
    assert_non_null(answer(w, "\"init\""));
    /* two clients ids of different types, answered out of order upstream */
    say(w, "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"tools/call\",\"params\":{\"name\":\"up__later\"}}");
    say(w, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"up__t1\",\"_meta\":{\"progressToken\":\"p-x\"}}}");
    want_id = "\"a\"";
    run_until(w, has_answer);
    cJSON *a = answer(w, "\"a\""), *b = answer(w, "7");
    assert_non_null(a);
    assert_non_null(b);
    /* upstream saw its own integer ids and the original tool names */
    assert_true(strstr(text_of(a), "name=later id=") != NULL);
    assert_true(strstr(text_of(b), "name=t1 id=") != NULL);
    assert_null(strstr(text_of(a), "\"a\""));
    /* the progress token went up remapped and came back as the client's */
    assert_null(strstr(text_of(b), "p-x"));
    int progress = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, w->got) {
        if (!od_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(it, "method")), "notifications/progress")) continue;
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(it, "params"), "progressToken")), "p-x");
        progress++;
    }
    assert_int_equal(progress, 1);
    assert_int_equal(mcp_session_pending(w->s), 0);
}

static void test_cursor_pages(void **state)
{
    world *w = *state;
    /* the upstream's two pages were merged; odock pages them again by 2 */
    const char *want[] = {"up__t1", "up__t2", "up__t3", "up__later", "up__hang"};
    int got = 0, pages = 0;
    char cur[128] = "";
    for (int id = 20;; id++) {
        char req[256], ids[16];
        if (cur[0]) snprintf(req, sizeof req, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/list\",\"params\":{\"cursor\":\"%s\"}}", id, cur);
        else snprintf(req, sizeof req, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/list\"}", id);
        say(w, req);
        snprintf(ids, sizeof ids, "%d", id);
        cJSON *r = cJSON_GetObjectItem(answer(w, ids), "result");
        assert_non_null(r);
        pages++;
        cJSON *t;
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(r, "tools")) {
            assert_true(got < 5);
            assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")), want[got]);
            got++;
        }
        const char *nc = cJSON_GetStringValue(cJSON_GetObjectItem(r, "nextCursor"));
        if (!nc) break;
        snprintf(cur, sizeof cur, "%s", nc);
    }
    assert_int_equal(got, 5);
    assert_int_equal(pages, 3);
    say(w, "{\"jsonrpc\":\"2.0\",\"id\":29,\"method\":\"tools/list\",\"params\":{\"cursor\":\"nope\"}}");
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(answer(w, "29"), "error"), "code")), MCP_ERR_INVALID_PARAMS);
}

static void test_cancel(void **state)
{
    world *w = *state;
    say(w, "{\"jsonrpc\":\"2.0\",\"id\":30,\"method\":\"tools/call\",\"params\":{\"name\":\"up__hang\"}}");
    assert_int_equal(mcp_session_pending(w->s), 1);
    say(w, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":30}}");
    assert_int_equal(mcp_session_pending(w->s), 0);
    assert_null(answer(w, "30")); /* no answer to a cancelled request */
    /* the session goes on */
    say(w, "{\"jsonrpc\":\"2.0\",\"id\":31,\"method\":\"tools/call\",\"params\":{\"name\":\"up__t2\"}}");
    want_id = "31";
    run_until(w, has_answer);
    assert_true(strstr(text_of(answer(w, "31")), "name=t2") != NULL);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--fake-upstream")) return fake_upstream();
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return 1;
    self[n] = 0;
    od_log_level = OD_LOG_WARN;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_remapped),
        cmocka_unit_test(test_cursor_pages),
        cmocka_unit_test(test_cancel),
    };
    return cmocka_run_group_tests_name("mcp_session", tests, setup, teardown);
}
