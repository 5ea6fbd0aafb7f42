/* tests/unit/test_json.c — core/json.c, the compact writer that replaced
 * cJSON_PrintUnformatted on the hot paths: same text as cJSON where cJSON is
 * exact, numbers that parse back to the very same double, escapes, and the
 * object writer that drops and prepends members. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/json.h"

/* documents whose cJSON printing is exact: our text must be the same */
static void t_same_as_cjson(void **state)
{
    (void)state;
    const char *docs[] = {
        "{}",
        "[]",
        "null",
        "{\"a\":[1,2,{\"b\":null,\"c\":true,\"d\":false}],\"e\":\"\"}",
        "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi \\\"there\\\"\\n\\ttab\\\\\"}]}",
        "[\"\\u0001\\u001f\\b\\f\\r\",\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\",\"a/b\"]",
        "{\"n\":-12,\"z\":0,\"big\":2147483647,\"neg\":-2147483648,\"f\":0.5,\"t\":0.1,\"p\":3.14159}",
        "[[[[[]]]],{\"\":{\"\":[]}}]",
        "{\"dup\":1,\"dup\":2}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
        cJSON *j = cJSON_Parse(docs[i]);
        assert_non_null(j);
        char *theirs = cJSON_PrintUnformatted(j), *ours = od_json_print(j);
        assert_string_equal(ours, theirs);
        free(ours);
        cJSON_free(theirs);
        cJSON_Delete(j);
    }
}

/* every number parses back to exactly the double that was written */
static void t_numbers_exact(void **state)
{
    (void)state;
    const double v[] = {0.0, 1.0, -1.0, 0.1, 0.7, 1.0 / 3.0, 1e-7, 2.5e-300, 5e-324, 1.7976931348623157e308,
                        123456789012345678.0, 9007199254740993.0, 4294967296.0, -9007199254740991.0,
                        1e21, 6.02214076e23, 100.25};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        cJSON *n = cJSON_CreateNumber(v[i]);
        char *s = od_json_print(n);
        cJSON *back = cJSON_Parse(s);
        assert_non_null(back);
        if (back->valuedouble != v[i]) fail_msg("%.17g written as %s, read back as %.17g", v[i], s, back->valuedouble);
        cJSON_Delete(back);
        free(s);
        cJSON_Delete(n);
    }
    /* integral values print as integers, never with an exponent */
    cJSON *n = cJSON_CreateNumber(4294967296.0);
    char *s = od_json_print(n);
    assert_string_equal(s, "4294967296");
    free(s);
    cJSON_Delete(n);
    /* short decimals take the shortest text, without exponent or trailing zero */
    static const struct { double v; const char *text; } dec[] = {
        {0.2, "0.2"}, {0.95, "0.95"}, {-0.5, "-0.5"}, {12.5, "12.5"}, {0.05, "0.05"},
        {0.000001, "0.000001"}, {-123456.789, "-123456.789"}, {100.25, "100.25"}, {0.1 + 0.2, "0.30000000000000004"}};
    for (size_t i = 0; i < sizeof dec / sizeof *dec; i++) {
        n = cJSON_CreateNumber(dec[i].v);
        s = od_json_print(n);
        assert_string_equal(s, dec[i].text);
        free(s);
        cJSON_Delete(n);
    }
    /* and every m / 10^k, and doubles near them, read back exactly */
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double w = (double)(int64_t)(x % 2000000001ull - 1000000000) / (double[]){10, 100, 1e3, 1e4, 1e5, 1e6, 1e7}[(x >> 32) % 7];
        if (i & 1) w = nextafter(w, i & 2 ? 1e300 : -1e300);
        n = cJSON_CreateNumber(w);
        s = od_json_print(n);
        char *end;
        double back = strtod(s, &end);
        int trailing0 = !strchr(s, 'e') && strchr(s, '.') && s[strlen(s) - 1] == '0';
        if (back != w || *end || trailing0)
            fail_msg("%.17g written as %s, read back as %.17g", w, s, back);
        free(s);
        cJSON_Delete(n);
    }
    /* JSON has no NaN or infinity: null, as cJSON does */
    n = cJSON_CreateNumber(0.0 / 0.0);
    s = od_json_print(n);
    assert_string_equal(s, "null");
    free(s);
    cJSON_Delete(n);
}

/* the plain run ends at the first byte to escape, wherever it falls in the
 * 16- and 8-byte steps and the tail; bytes >= 0x80 and DEL are plain */
static void t_plain_run(void **state)
{
    (void)state;
    static const unsigned char special[] = {0x00, 0x01, 0x1F, '"', '\\'};
    static const unsigned char plain[] = {0x20, 'a', 0x7F, 0x80, 0xC3, 0xFF, '/', '!'};
    unsigned char buf[48] = {0};
    for (size_t n = 0; n <= sizeof buf; n++) {
        for (size_t k = 0; k < n; k++)
            buf[k] = plain[(k * 5 + n) % sizeof plain];
        assert_int_equal(od_json_plain_run(buf, n), n);
        for (size_t at = 0; at < n; at++) {
            for (size_t s = 0; s < sizeof special; s++) {
                unsigned char keep = buf[at];
                buf[at] = special[s];
                assert_int_equal(od_json_plain_run(buf, n), at);
                buf[at] = keep;
            }
        }
    }
}

static void t_escapes(void **state)
{
    (void)state;
    cJSON *j = cJSON_CreateString("q\" b\\ nl\n cr\r t\t bs\b ff\f x\x01 y\x7f");
    char *s = od_json_print(j);
    assert_string_equal(s, "\"q\\\" b\\\\ nl\\n cr\\r t\\t bs\\b ff\\f x\\u0001 y\x7f\"");
    cJSON *back = cJSON_Parse(s);
    assert_string_equal(back->valuestring, j->valuestring);
    cJSON_Delete(back);
    free(s);
    cJSON_Delete(j);
    /* keys are escaped too */
    j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "we\"ird\nkey", 1);
    s = od_json_print(j);
    assert_string_equal(s, "{\"we\\\"ird\\nkey\":1}");
    free(s);
    cJSON_Delete(j);
    /* a raw item goes out as it is */
    j = cJSON_CreateRaw("{\"pre\":[1,2]}");
    s = od_json_print(j);
    assert_string_equal(s, "{\"pre\":[1,2]}");
    free(s);
    cJSON_Delete(j);
    s = od_json_print(NULL);
    assert_string_equal(s, "null");
    free(s);
}

static void t_object_skip_extra(void **state)
{
    (void)state;
    cJSON *j = cJSON_Parse("{\"model\":\"alias\",\"stream\":false,\"messages\":[],\"model\":\"again\","
                           "\"stream_options\":{},\"temperature\":0.2}");
    static const char *const skip[] = {"model", "stream", "stream_options", NULL};
    od_buf b = {0};
    od_json_write_object(&b, j, skip, "\"model\":\"real\",\"stream\":true");
    assert_string_equal(b.p, "{\"model\":\"real\",\"stream\":true,\"messages\":[],\"temperature\":0.2}");
    /* nothing left and no extra: an empty object, no stray comma */
    od_buf_reset(&b);
    cJSON *only = cJSON_Parse("{\"model\":\"x\"}");
    od_json_write_object(&b, only, skip, NULL);
    assert_string_equal(b.p, "{}");
    od_buf_reset(&b);
    od_json_write_object(&b, only, NULL, "");
    assert_string_equal(b.p, "{\"model\":\"x\"}");
    od_buf_reset(&b);
    od_json_write_object(&b, NULL, skip, "\"a\":1");
    assert_string_equal(b.p, "{\"a\":1}");
    od_buf_free(&b);
    cJSON_Delete(only);
    cJSON_Delete(j);
}


/* ---------------- core/json_parse.c ---------------- */

/* the tree as cJSON prints it: two parsers agree when these match */
static char *printed(const cJSON *j)
{
    return j ? cJSON_PrintUnformatted(j) : NULL;
}

static void same_tree(const char *doc)
{
    cJSON *a = od_json_parse(doc, strlen(doc), NULL), *b = cJSON_Parse(doc);
    assert_non_null(a);
    assert_non_null(b);
    char *pa = printed(a), *pb = printed(b);
    if (strcmp(pa, pb)) fail_msg("%s: od %s, cJSON %s", doc, pa, pb);
    free(pa);
    free(pb);
    /* the list invariant cJSON's own appends rely on */
    if (a->child) assert_ptr_equal(a->child->prev, cJSON_GetArrayItem(a, cJSON_GetArraySize(a) - 1));
    cJSON_Delete(a);
    cJSON_Delete(b);
}

/* a name given twice in one object is refused, at any depth, and named */
static void t_parse_names_twice(void **st)
{
    (void)st;
    static const struct { const char *doc, *dup; } bad[] = {
        {"{\"a\":1,\"a\":2}", "a"},
        {"{\"model\":\"x\",\"messages\":[],\"max_tokens\":5,\"max_tokens\":5000}", "max_tokens"},
        {"{\"m\":[{\"role\":\"user\",\"content\":\"hi\",\"role\":\"system\"}]}", "role"},
        {"{\"a\":{\"b\":{\"c\":1,\"c\":1}}}", "c"},
        {"{\"r\\u0065sult\":1,\"result\":2}", "result"}, /* the same name, however written */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_null(od_json_parse(bad[i].doc, strlen(bad[i].doc), NULL));
        assert_non_null(od_json_dup_key());
        assert_string_equal(od_json_dup_key(), bad[i].dup);
    }
    /* other failures name nothing; a good parse clears it */
    assert_null(od_json_parse("{\"a\":}", 6, NULL));
    assert_null(od_json_dup_key());
    const char *good = "{\"a\":1,\"b\":{\"a\":2},\"c\":[{\"a\":3},{\"a\":4}]}";
    cJSON *ok = od_json_parse(good, strlen(good), NULL);
    assert_non_null(ok);
    cJSON_Delete(ok);
    /* many members: sorted, not compared pairwise */
    od_buf b = {0};
    for (int dup = 0; dup < 2; dup++) {
        od_buf_reset(&b);
        od_buf_putc(&b, '{');
        for (int i = 0; i < 5000; i++) od_buf_printf(&b, "%s\"k%d\":%d", i ? "," : "", i, i);
        if (dup) od_buf_printf(&b, ",\"k4321\":0");
        od_buf_putc(&b, '}');
        cJSON *j = od_json_parse(b.p, b.len, NULL);
        if (dup) {
            assert_null(j);
            assert_string_equal(od_json_dup_key(), "k4321");
        } else {
            assert_int_equal(cJSON_GetArraySize(j), 5000);
        }
        cJSON_Delete(j);
    }
    od_buf_free(&b);
}

static void t_parse_same_as_cjson(void **st)
{
    (void)st;
    const char *docs[] = {
        "{}", "[]", "0", "-0", "1", "-1", "true", "false", "null", "\"\"",
        " \t\r\n{ \"a\" : [ 1 , 2.5 , -3e2 , 4E-2 , 1e+3 ] , \"b\" : { } } \n",
        "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi \\\"there\\\"\\n\\ttab \\\\ \\/ \\b\\f\\r\"}],\"max_tokens\":256,\"temperature\":0.7}",
        "{\"id\":\"chatcmpl-1\",\"created\":1764000000,\"choices\":[{\"index\":0,\"delta\":{\"content\":\"w\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
        "[\"\\u0041\\u00e9\\u20ac\\ud83d\\ude00\", \"\xc3\xa9\xe2\x82\xac\"]",
        "[[[[[]]]]]", "[1,[2,[3,{\"x\":[4]}]]]",
        "123456789012345", "1234567890123456789", "-9007199254740993", "0.1", "3.141592653589793",
        "1e308", "2.2250738585072014e-308", "[2147483647,2147483648,-2147483649]",
    };
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++)
        same_tree(docs[i]);
    cJSON *j = od_json_parse("[2147483648, -2147483649, 7.9]", 30, NULL);
    assert_int_equal(cJSON_GetArrayItem(j, 0)->valueint, 2147483647);
    assert_int_equal(cJSON_GetArrayItem(j, 1)->valueint, -2147483647 - 1);
    assert_int_equal(cJSON_GetArrayItem(j, 2)->valueint, 7);
    cJSON_Delete(j);
}

/* An integer of more than 15 digits goes out as it came in, through every
 * way a parsed tree is written (a tool's 64-bit ID read as a double was
 * 1.79e+18 at the MCP server); shorter ones and decimals as before. */
static void t_big_integers(void **st)
{
    (void)st;
    const char *doc = "{\"id\":1790000000000000123,\"seed\":-12345678901234567890,"
                      "\"n\":[123456789012345,1234567890123456,99999999999999999999999],"
                      "\"f\":0.1,\"e\":1e30,\"o\":{\"k\":18446744073709551615}}";
    const char *want = "{\"id\":1790000000000000123,\"seed\":-12345678901234567890,"
                       "\"n\":[123456789012345,1234567890123456,99999999999999999999999],"
                       "\"f\":0.1,\"e\":1e+30,\"o\":{\"k\":18446744073709551615}}";
    cJSON *j = od_json_parse(doc, strlen(doc), NULL);
    assert_non_null(j);
    char *w = od_json_print(j);
    assert_string_equal(w, want);
    free(w);
    /* the double is still there for whoever reads the number */
    assert_true(cJSON_GetObjectItem(j, "id")->valuedouble == 1790000000000000123.0);
    /* 15 digits: exact in a double, no text kept */
    assert_null(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "n"), 0)->valuestring);
    /* a copy keeps it (cJSON_Duplicate copies valuestring), and so does od_json_print */
    cJSON *d = cJSON_Duplicate(j, 1);
    w = od_json_print(d);
    assert_string_equal(w, want);
    free(w);
    cJSON_Delete(d);
    /* cJSON's printer is what the old code used: it loses the digits */
    char *c = cJSON_PrintUnformatted(j);
    assert_null(strstr(c, "1790000000000000123"));
    cJSON_free(c);
    cJSON_Delete(j);
    /* the arena parser (stream events) keeps it too */
    od_jarena a = {0};
    const cJSON *ev = od_json_parse_in(&a, doc, strlen(doc));
    w = od_json_print(ev);
    assert_string_equal(w, want);
    free(w);
    od_jarena_free(&a);
    /* inside a member list written with skip/extra (the upstream body) */
    j = od_json_parse(doc, strlen(doc), NULL);
    od_buf b = {0};
    const char *skip[] = {"f", "e", "o", "n", NULL};
    od_json_write_object(&b, j, skip, "\"model\":\"m\"");
    assert_string_equal(b.p, "{\"model\":\"m\",\"id\":1790000000000000123,\"seed\":-12345678901234567890}");
    od_buf_free(&b);
    cJSON_Delete(j);
}

static void t_parse_rejects(void **st)
{
    (void)st;
    const char *bad[] = {
        "", " ", "{", "}", "[1,]", "[,1]", "{\"a\":}", "{\"a\" 1}", "{a:1}", "{\"a\":1,}",
        "01", "-", "-01", "1.", ".5", "1e", "1e+", "+1", "0x10", "NaN", "Infinity",
        "tru", "nul", "falsey", "\"abc", "\"a\\x\"", "\"a\\u12\"", "\"a\\u12g4\"",
        "\"\\ud83d\"", "\"\\ude00\"", "\"\\ud83d\\u0041\"", "\"tab\there\"", "\"nl\nhere\"",
        "{} x", "[1] [2]", "1 2", "\"a\"\"b\"", "{\"a\":1}}", "\f{}", "\v1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cJSON *j = od_json_parse(bad[i], strlen(bad[i]), NULL);
        if (j) fail_msg("accepted %s", bad[i]);
    }
    /* a length that cuts a valid document is honoured, not the NUL */
    assert_null(od_json_parse("{\"a\":1}", 6, NULL));
    assert_null(od_json_parse(NULL, 0, NULL));
    /* end: the offset after the value, trailing bytes left to the caller */
    size_t end = 0;
    cJSON *j = od_json_parse(" {\"a\":1} tail", 13, &end);
    assert_non_null(j);
    assert_int_equal(end, 8);
    cJSON_Delete(j);
}

static void t_parse_depth(void **st)
{
    (void)st;
    char doc[2 * 1001 + 1];
    for (int n = 1000; n <= 1001; n++) {
        memset(doc, '[', (size_t)n);
        memset(doc + n, ']', (size_t)n);
        cJSON *j = od_json_parse(doc, 2 * (size_t)n, NULL);
        if (n == 1000) assert_non_null(j);
        else assert_null(j);
        cJSON_Delete(j);
    }
}

/* Mutated documents: whatever od accepts, cJSON accepts with the same tree
 * (od is the stricter one), and nothing crashes or leaks (ASan run). */
static void t_parse_mutations(void **st)
{
    (void)st;
    const char *seed = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\\u00e9\\n\\\"b\"}],"
                       "\"n\":[0,-1,2.5e3,true,false,null],\"o\":{\"k\":{}}}";
    const char alphabet[] = "{}[]\":,.-+eE0159tfnul\\/ \"\x01\xc3\xa9";
    size_t n = strlen(seed);
    char *buf = malloc(n + 2);
    uint32_t x = 2463534242u;
    int accepted = 0;
    for (int round = 0; round < 20000; round++) {
        memcpy(buf, seed, n + 1);
        size_t len = n;
        for (int k = 0; k < 1 + round % 3 && len > 1; k++) {
            x ^= x << 13; x ^= x >> 17; x ^= x << 5;
            size_t at = x % len;
            switch ((x >> 8) % 3) {
            case 0: buf[at] = alphabet[(x >> 12) % (sizeof alphabet - 1)]; break;
            case 1: memmove(buf + at, buf + at + 1, len - at); len--; break;
            default: len = at + 1; break; /* cut */
            }
        }
        buf[len] = 0;
        cJSON *a = od_json_parse(buf, len, NULL);
        if (!a) continue;
        accepted++;
        cJSON *b = cJSON_ParseWithLength(buf, len);
        if (!b) fail_msg("od accepted what cJSON rejects: %s", buf);
        char *pa = printed(a), *pb = printed(b);
        if (strcmp(pa, pb)) fail_msg("%s: od %s, cJSON %s", buf, pa, pb);
        free(pa);
        free(pb);
        cJSON_Delete(a);
        cJSON_Delete(b);
    }
    assert_true(accepted > 100); /* the mutations did reach valid documents */
    free(buf);
}

/* Arena trees: the same trees as the malloc ones, event after event,
 * through overflow blocks (a giant event) and the resets after them. */
/* strings of every short length, as keys and values, at the end of the
 * input and inside it, both allocators: short ones are copied in words */
static void t_parse_short_strings(void **st)
{
    (void)st;
    char text[40], doc[128];
    od_jarena a = {0};
    for (size_t n = 0; n < sizeof text; n++) {
        for (size_t k = 0; k < n; k++) text[k] = (char)('a' + (k * 3 + n) % 26);
        text[n] = 0;
        for (int shape = 0; shape < 3; shape++) {
            int len = shape == 0 ? snprintf(doc, sizeof doc, "\"%s\"", text)
                    : shape == 1 ? snprintf(doc, sizeof doc, "{\"%s\":\"%s\"}", text, text)
                                 : snprintf(doc, sizeof doc, "[\"%s\",1]", text);
            char *exact = od_strndup(doc, (size_t)len); /* ASan sees a read past the input */
            for (int arena = 0; arena < 2; arena++) {
                cJSON *j = arena ? od_json_parse_in(&a, exact, (size_t)len) : od_json_parse(exact, (size_t)len, NULL);
                assert_non_null(j);
                const cJSON *v = shape == 0 ? j : shape == 1 ? j->child : j->child;
                assert_string_equal(v->valuestring, text);
                if (shape == 1) assert_string_equal(v->string, text);
                if (!arena) cJSON_Delete(j);
            }
            free(exact);
        }
    }
    od_jarena_free(&a);
}

static void t_parse_arena(void **st)
{
    (void)st;
    od_jarena a = {0};
    char big[20000];
    for (int round = 0; round < 200; round++) {
        const char *doc;
        if (round % 50 == 7) {
            /* an array of 2000 small objects: far past the first block */
            size_t o = 0;
            big[o++] = '[';
            for (int i = 0; i < 1500; i++)
                o += (size_t)snprintf(big + o, sizeof big - o, "%s{\"i\":%d}", i ? "," : "", i);
            big[o++] = ']';
            big[o] = 0;
            doc = big;
        } else {
            doc = "{\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"w\\u00e9\"},"
                  "\"finish_reason\":null}],\"usage\":{\"prompt_tokens\":231,\"completion_tokens\":20}}";
        }
        const cJSON *j = od_json_parse_in(&a, doc, strlen(doc));
        cJSON *h = od_json_parse(doc, strlen(doc), NULL);
        assert_non_null(j);
        char *pa = printed(j), *pb = printed(h);
        assert_string_equal(pa, pb);
        free(pa);
        free(pb);
        cJSON_Delete(h);
    }
    assert_true(a.cap >= 1500 * 2 * sizeof(cJSON)); /* folded into one block */
    assert_null(od_json_parse_in(&a, "[1,", 3));   /* a bad event: NULL, nothing leaks */
    assert_null(od_json_parse_in(&a, "{\"a\":\"x\\q\"}", 11));
    od_jarena_free(&a);
    od_jarena_free(&a); /* twice is harmless */
}

/* ---- the block cache (json_alloc.c) ---- */

#if defined(__SANITIZE_ADDRESS__)
#define JB_CACHED 0
#else
#define JB_CACHED 1
#endif

/* a freed block comes back for any size of its 16-byte class, and blocks
 * pass between it and malloc/free either way */
static void t_jalloc_reuse(void **state)
{
    (void)state;
    char *p = od_jmalloc(40);
    memset(p, 'x', 40);
    od_jfree(p);
    char *q = od_jmalloc(33);
    if (JB_CACHED) assert_ptr_equal(q, p);
    memset(q, 'y', 33);
    free(q); /* a cache block freed by free() */

    char *m = malloc(100);
    od_jfree(m);                 /* a malloc block, usable >= 96 */
    char *r = od_jmalloc(90);
    if (JB_CACHED) assert_ptr_equal(r, m);
    memset(r, 'z', 90);
    od_jfree(r);

    char *big = od_jmalloc(5000); /* past the classes: plain malloc */
    memset(big, 1, 5000);
    od_jfree(big);
    od_jfree(NULL);
}

/* cJSON through the hooks: trees, printing (freed with free, as some
 * callers do), and a thread that ends with blocks cached */
static const char JDOC[] = "{\"a\":[1,\"two\",{\"three\":3}],\"b\":\"x\"}";

/* no cmocka asserts off the test's thread: returns a count of mismatches */
static void *jalloc_thread(void *arg)
{
    long *bad = arg;
    for (int i = 0; i < 100; i++) {
        cJSON *j = od_json_parse(JDOC, sizeof JDOC - 1, NULL);
        char *s = j ? cJSON_PrintUnformatted(j) : NULL;
        if (!s || strcmp(s, JDOC)) (*bad)++;
        free(s);
        cJSON_Delete(j);
    }
    return NULL;
}

static void t_jalloc_cjson(void **state)
{
    (void)state;
    od_json_init();
    pthread_t t;
    long bad_t = 0, bad_main = 0;
    assert_int_equal(pthread_create(&t, NULL, jalloc_thread, &bad_t), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    jalloc_thread(&bad_main);
    assert_int_equal(bad_t, 0);
    assert_int_equal(bad_main, 0);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "k", "a value long enough to need its own block");
    cJSON_Delete(o);
}

/* od_json_raw_member finds the member's text exactly, and refuses whenever
 * the text could say something other than the parsed tree */
static void t_raw_member(void **state)
{
    (void)state;
    static const struct {
        const char *json, *key, *want; /* want NULL: refused */
    } cases[] = {
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"a\":[1,2,{\"b\":\"}\"}]}}", "result", "{\"a\":[1,2,{\"b\":\"}\"}]}"},
        {" { \"result\" : [ 1 , \"x\\\"]\" ] , \"id\" : 2 } ", "result", "[ 1 , \"x\\\"]\" ]"},
        {"{\"id\":1,\"result\":null}", "result", "null"},
        {"{\"id\":1,\"result\":-1.5e3}", "result", "-1.5e3"},
        {"{\"result\":\"a\\\\\"}", "result", "\"a\\\\\""},
        {"{\"results\":1,\"result\":2}", "result", "2"},
        {"{\"id\":{\"result\":1},\"result\":2}", "result", "2"}, /* nested keys are not members */
        {"{\"id\":1}", "result", NULL},
        {"{\"result\":1,\"result\":2}", "result", NULL},           /* twice */
        {"{\"r\\u0065sult\":1,\"result\":2}", "result", NULL},     /* an escaped key */
        {"{\"id\":1,\"x\\n\":0,\"result\":2}", "result", NULL},     /* any escaped key */
        {"{\"result\":\"a\\u0000b\"}", "result", NULL},            /* U+FFFD in the tree */
        {"{\"result\":\"a\\\\u0000b\"}", "result", "\"a\\\\u0000b\""},  /* a backslash, then u0000 */
        {"[1]", "result", NULL},
        {"{\"result\":{\"a\":1}", "result", NULL},                 /* no end */
        {"{\"result\":\"abc", "result", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t off = 99, len = 99;
        const char *j = cases[i].json;
        int got = od_json_raw_member(j, strlen(j), cases[i].key, &off, &len);
        if (!cases[i].want) {
            if (got) fail_msg("case %zu: %s: accepted", i, j);
            continue;
        }
        if (!got) fail_msg("case %zu: %s: refused", i, j);
        if (len != strlen(cases[i].want) || memcmp(j + off, cases[i].want, len))
            fail_msg("case %zu: got [%.*s] want [%s]", i, (int)len, j + off, cases[i].want);
    }
    assert_int_equal(od_json_has_nul("\"a\\u0000\"", 10), 1);
    assert_int_equal(od_json_has_nul("\"a\\u0001\\\\\"", 11), 0);
    assert_int_equal(od_json_has_nul("\\u000", 5), 0);
    assert_int_equal(od_json_has_nul("\"\\\\u0000\"", 9), 0);     /* "\\u0000": text, not a NUL */
    assert_int_equal(od_json_has_nul("\"\\\\\\u0000\"", 10), 1); /* "\\\u0000": a backslash, a NUL */
    assert_int_equal(od_json_has_nul("\"a\\", 3), 0);               /* ends on a backslash */
}

/* \u0000 becomes U+FFFD: the text after it stays in the tree (a C string
 * would end there, unseen by every guardrail), and the parse says so */
static void t_parse_nul(void **state)
{
    (void)state;
    static const char in[] = "{\"a\\u0000b\":\"x\\u0000y AKIA\",\"n\":\"\\\\u0000\"}";
    cJSON *j = od_json_parse(in, sizeof in - 1, NULL);
    assert_non_null(j);
    assert_int_equal(od_json_saw_nul(), 1);
    cJSON *v = od_jget(j, "a\xEF\xBF\xBD" "b");
    assert_non_null(v);
    assert_string_equal(v->valuestring, "x\xEF\xBF\xBD" "y AKIA");
    assert_string_equal(od_jget(j, "n")->valuestring, "\\u0000");
    cJSON_Delete(j);
    /* the flag is the last parse's */
    j = od_json_parse("{\"n\":\"\\\\u0000\"}", 15, NULL);
    assert_non_null(j);
    assert_int_equal(od_json_saw_nul(), 0);
    cJSON_Delete(j);
    od_jarena a = {0};
    j = od_json_parse_in(&a, "[\"\\u0000\"]", 10);
    assert_non_null(j);
    assert_int_equal(od_json_saw_nul(), 1);
    assert_string_equal(j->child->valuestring, "\xEF\xBF\xBD");
    od_jarena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_same_as_cjson),
        cmocka_unit_test(t_numbers_exact),
        cmocka_unit_test(t_plain_run),
        cmocka_unit_test(t_escapes),
        cmocka_unit_test(t_object_skip_extra),
        cmocka_unit_test(t_parse_same_as_cjson),
        cmocka_unit_test(t_parse_rejects),
        cmocka_unit_test(t_parse_depth),
        cmocka_unit_test(t_parse_mutations),
        cmocka_unit_test(t_parse_short_strings),
        cmocka_unit_test(t_parse_arena),
        cmocka_unit_test(t_jalloc_reuse),
        cmocka_unit_test(t_jalloc_cjson),
        cmocka_unit_test(t_raw_member),
        cmocka_unit_test(t_parse_names_twice),
        cmocka_unit_test(t_parse_nul),
        cmocka_unit_test(t_big_integers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
