/* Namespacing of tools/prompts, collisions, URI wrapping, merged-list cursors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mcp/names.h"

static void test_expose(void **st)
{
    (void)st;
    char out[MCP_NAME_MAX + 1];
    mcp_name_expose("everything", "echo", 1, out);
    assert_string_equal(out, "everything__echo");
    mcp_name_expose("everything", "get-env", 0, out);
    assert_string_equal(out, "get-env");
    mcp_name_expose("my server", "do.it/now", 1, out);
    assert_string_equal(out, "my_server__do_it_now");
    assert_true(mcp_name_valid(out));
    /* too long: cut, with a stable suffix, still valid */
    char longname[200];
    memset(longname, 'a', 150);
    longname[150] = 0;
    mcp_name_expose("srv", longname, 1, out);
    assert_int_equal(strlen(out), MCP_NAME_MAX);
    assert_true(mcp_name_valid(out));
    char again[MCP_NAME_MAX + 1];
    mcp_name_expose("srv", longname, 1, again);
    assert_string_equal(out, again);
    longname[149] = 'b'; /* another long name: another suffix */
    mcp_name_expose("srv", longname, 1, again);
    assert_string_not_equal(out, again);
    assert_false(mcp_name_valid("a.b"));
    assert_false(mcp_name_valid(""));
}

static mcp_name_entry ent(const char *server, int order, const char *name, int prefix)
{
    mcp_name_entry e;
    memset(&e, 0, sizeof e);
    e.server = server;
    e.server_order = order;
    e.name = name;
    e.prefix = prefix;
    return e;
}

static void test_collisions(void **st)
{
    (void)st;
    /* two unprefixed servers offering "search": the first in the config keeps
     * it, the second falls back to its prefixed name */
    mcp_name_entry e[] = {
        ent("docs", 1, "search", 0),
        ent("web", 0, "search", 0),
        ent("web", 0, "fetch", 0),
    };
    assert_int_equal(mcp_names_resolve(e, 3), 1);
    assert_string_equal(e[1].exposed, "search");
    assert_string_equal(e[0].exposed, "docs__search");
    assert_true(e[0].collided);
    assert_string_equal(e[2].exposed, "fetch");

    /* an unprefixed tool literally named like a prefixed one loses to it */
    mcp_name_entry f[] = {
        ent("raw", 0, "git__status", 0),
        ent("git", 1, "status", 1),
    };
    assert_int_equal(mcp_names_resolve(f, 2), 1);
    assert_string_equal(f[1].exposed, "git__status");
    assert_string_equal(f[0].exposed, "raw__git__status");

    /* the same name twice from one server: still unique, deterministic */
    mcp_name_entry g[] = {ent("s", 0, "t", 1), ent("s", 0, "t", 1), ent("s", 0, "t", 1)};
    assert_int_equal(mcp_names_resolve(g, 3), 2);
    assert_string_equal(g[0].exposed, "s__t");
    assert_string_not_equal(g[1].exposed, g[2].exposed);
    assert_string_not_equal(g[1].exposed, "s__t");
    assert_true(mcp_name_valid(g[1].exposed) && mcp_name_valid(g[2].exposed));
    char keep1[65], keep2[65];
    strcpy(keep1, g[1].exposed);
    strcpy(keep2, g[2].exposed);
    mcp_names_resolve(g, 3);
    assert_string_equal(g[1].exposed, keep1);
    assert_string_equal(g[2].exposed, keep2);
}

static void test_adding_server_renames_nothing(void **st)
{
    (void)st;
    mcp_name_entry before[] = {ent("a", 0, "x", 1), ent("a", 0, "y", 1), ent("b", 1, "x", 1)};
    mcp_names_resolve(before, 3);
    /* a new server listed FIRST with the same tool names */
    mcp_name_entry after[] = {ent("new", 0, "x", 1), ent("new", 0, "y", 1),
                              ent("a", 1, "x", 1), ent("a", 1, "y", 1), ent("b", 2, "x", 1)};
    assert_int_equal(mcp_names_resolve(after, 5), 0);
    assert_string_equal(after[2].exposed, before[0].exposed);
    assert_string_equal(after[3].exposed, before[1].exposed);
    assert_string_equal(after[4].exposed, before[2].exposed);
}

static void test_uris(void **st)
{
    (void)st;
    char *w = mcp_uri_wrap("everything", 1, "demo://resource/static/document/a.md");
    assert_string_equal(w, "everything+demo://resource/static/document/a.md");
    assert_string_equal(mcp_uri_unwrap("everything", w), "demo://resource/static/document/a.md");
    assert_null(mcp_uri_unwrap("every", w));
    assert_null(mcp_uri_unwrap("other", w));
    free(w);
    w = mcp_uri_wrap("files", 0, "file:///tmp/x");
    assert_string_equal(w, "file:///tmp/x");
    free(w);
    /* templates keep their placeholders */
    w = mcp_uri_wrap("s", 1, "demo://r/{id}");
    assert_string_equal(w, "s+demo://r/{id}");
    free(w);
}

static void test_cursors(void **st)
{
    (void)st;
    char c[64];
    int off = -1;
    mcp_cursor_encode("tools", 500, c, sizeof c);
    assert_int_equal(mcp_cursor_decode("tools", c, &off), 0);
    assert_int_equal(off, 500);
    assert_int_equal(mcp_cursor_decode("prompts", c, &off), -1); /* another list's */
    assert_int_equal(mcp_cursor_decode("tools", "odc1-tools-", &off), -1);
    assert_int_equal(mcp_cursor_decode("tools", "odc1-tools-x", &off), -1);
    assert_int_equal(mcp_cursor_decode("tools", "odc1-tools--1", &off), -1);
    assert_int_equal(mcp_cursor_decode("tools", "abc", &off), -1);
    assert_int_equal(mcp_cursor_decode("tools", NULL, &off), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expose),
        cmocka_unit_test(test_collisions),
        cmocka_unit_test(test_adding_server_renames_nothing),
        cmocka_unit_test(test_uris),
        cmocka_unit_test(test_cursors),
    };
    return cmocka_run_group_tests_name("mcp_names", tests, NULL, NULL);
}
