/* tests/unit/test_json.c — core/json.c, the compact writer that replaced
 * cJSON_PrintUnformatted on the hot paths: same text as cJSON where cJSON is
 * exact, numbers that parse back to the very same double, escapes, and the
 * object writer that drops and prepends members. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/json.h"

static char *write_of(const cJSON *j)
{
    od_buf b = {0};
    od_json_write(&b, j);
    return od_buf_take(&b);
}

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
        char *theirs = cJSON_PrintUnformatted(j), *ours = write_of(j);
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
        char *s = write_of(n);
        cJSON *back = cJSON_Parse(s);
        assert_non_null(back);
        if (back->valuedouble != v[i]) fail_msg("%.17g written as %s, read back as %.17g", v[i], s, back->valuedouble);
        cJSON_Delete(back);
        free(s);
        cJSON_Delete(n);
    }
    /* integral values print as integers, never with an exponent */
    cJSON *n = cJSON_CreateNumber(4294967296.0);
    char *s = write_of(n);
    assert_string_equal(s, "4294967296");
    free(s);
    cJSON_Delete(n);
    /* JSON has no NaN or infinity: null, as cJSON does */
    n = cJSON_CreateNumber(0.0 / 0.0);
    s = write_of(n);
    assert_string_equal(s, "null");
    free(s);
    cJSON_Delete(n);
}

static void t_escapes(void **state)
{
    (void)state;
    cJSON *j = cJSON_CreateString("q\" b\\ nl\n cr\r t\t bs\b ff\f x\x01 y\x7f");
    char *s = write_of(j);
    assert_string_equal(s, "\"q\\\" b\\\\ nl\\n cr\\r t\\t bs\\b ff\\f x\\u0001 y\x7f\"");
    cJSON *back = cJSON_Parse(s);
    assert_string_equal(back->valuestring, j->valuestring);
    cJSON_Delete(back);
    free(s);
    cJSON_Delete(j);
    /* keys are escaped too */
    j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "we\"ird\nkey", 1);
    s = write_of(j);
    assert_string_equal(s, "{\"we\\\"ird\\nkey\":1}");
    free(s);
    cJSON_Delete(j);
    /* a raw item goes out as it is */
    j = cJSON_CreateRaw("{\"pre\":[1,2]}");
    s = write_of(j);
    assert_string_equal(s, "{\"pre\":[1,2]}");
    free(s);
    cJSON_Delete(j);
    s = write_of(NULL);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_same_as_cjson),
        cmocka_unit_test(t_numbers_exact),
        cmocka_unit_test(t_escapes),
        cmocka_unit_test(t_object_skip_extra),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
