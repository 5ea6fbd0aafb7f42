/* tests/unit/test_prov_util.h — fixtures and stream replay for the provider
 * tests. Tests run with cwd = repo root. */
#ifndef TEST_PROV_UTIL_H
#define TEST_PROV_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include "providers/prov.h"

#define FIXTURES "testdata/providers/"
#define FIXED_NOW_MS 1750000000000LL

static inline int64_t fixed_now(void)
{
    return FIXED_NOW_MS;
}

static inline char *read_fixture(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, FIXTURES "%s", name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    od_buf b = {0};
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) od_buf_put(&b, tmp, n);
    fclose(f);
    if (len) *len = b.len;
    return od_buf_take(&b);
}

static inline cJSON *load_json(const char *name)
{
    char *s = read_fixture(name, NULL);
    cJSON *j = cJSON_Parse(s);
    free(s);
    if (!j) fail_msg("fixture %s is not JSON", name);
    return j;
}

/* The value of header name in h (case-insensitive), NULL when absent. */
static inline const char *header_value(const prov_http *h, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < h->nheaders; i++)
        if (strncasecmp(h->headers[i], name, n) == 0 && h->headers[i][n] == ':')
            return h->headers[i] + n + 2;
    return NULL;
}

static inline cJSON *http_body(const prov_http *h)
{
    cJSON *j = cJSON_ParseWithLength(h->body.p, h->body.len);
    if (!j) fail_msg("request body is not JSON: %s", h->body.p ? h->body.p : "(null)");
    return j;
}

/* ---- stream replay: an SSE fixture fed in small pieces through the parser
 * and an adapter; every chunk the adapter emits is collected ---- */

typedef struct replay {
    const prov_adapter *a;
    prov_stream *s;
    prov_usage u;
    cJSON *chunks; /* array of copies */
    int rc;        /* last stream_event result */
    int events;
} replay;

static inline void collect_chunk(void *ud, const cJSON *chunk)
{
    replay *r = ud;
    cJSON_AddItemToArray(r->chunks, cJSON_Duplicate(chunk, 1));
}

static inline int replay_event(void *ud, const char *event, const char *data, size_t len)
{
    replay *r = ud;
    r->events++;
    r->rc = r->a->stream_event(r->s, event, data, len, collect_chunk, r, &r->u);
    return r->rc != 0;
}

/* Returns the result of the last event; chunks in r->chunks (caller frees
 * with replay_free). piece: bytes fed at a time. */
static inline int replay_fixture(replay *r, const prov_adapter *a, const char *model, const char *name,
                          size_t piece)
{
    memset(r, 0, sizeof *r);
    r->a = a;
    r->s = a->stream_new(model);
    r->chunks = cJSON_CreateArray();
    size_t len;
    char *text = read_fixture(name, &len);
    prov_sse sse = {0};
    for (size_t off = 0; off < len; off += piece) {
        size_t n = len - off < piece ? len - off : piece;
        if (prov_sse_feed(&sse, text + off, n, replay_event, r)) break;
    }
    prov_sse_free(&sse);
    free(text);
    return r->rc;
}

static inline void replay_free(replay *r)
{
    r->a->stream_free(r->s);
    cJSON_Delete(r->chunks);
}

/* Concatenated delta.content of all chunks. */
static inline char *chunks_text(const cJSON *chunks)
{
    od_buf b = {0};
    const cJSON *c;
    cJSON_ArrayForEach(c, chunks) {
        const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "choices"), 0);
        const cJSON *t = cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "delta"), "content");
        if (cJSON_IsString(t)) od_buf_puts(&b, t->valuestring);
    }
    return od_buf_take(&b);
}

/* finish_reason of the last chunk that has one, or NULL */
static inline const char *chunks_finish(const cJSON *chunks)
{
    const char *fr = NULL;
    const cJSON *c;
    cJSON_ArrayForEach(c, chunks) {
        const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "choices"), 0);
        const cJSON *f = cJSON_GetObjectItem(ch, "finish_reason");
        if (cJSON_IsString(f)) fr = f->valuestring;
    }
    return fr;
}

/* Concatenated arguments of the tool call at index idx; its id and name via out params. */
static inline char *chunks_tool(const cJSON *chunks, int idx, const char **id, const char **name)
{
    od_buf b = {0};
    const cJSON *c, *tc;
    *id = *name = NULL;
    cJSON_ArrayForEach(c, chunks) {
        const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "choices"), 0);
        cJSON_ArrayForEach(tc, cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "delta"), "tool_calls")) {
            if (cJSON_GetObjectItem(tc, "index")->valueint != idx) continue;
            const cJSON *f = cJSON_GetObjectItem(tc, "function");
            const char *s;
            if ((s = cJSON_GetStringValue(cJSON_GetObjectItem(tc, "id")))) *id = s;
            if ((s = cJSON_GetStringValue(cJSON_GetObjectItem(f, "name")))) *name = s;
            if ((s = cJSON_GetStringValue(cJSON_GetObjectItem(f, "arguments")))) od_buf_puts(&b, s);
        }
    }
    return od_buf_take(&b);
}

/* path like "a.b.0.c" into j (numbers index arrays) */
static inline const cJSON *jpath(const cJSON *j, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    char *save = NULL;
    for (char *t = strtok_r(buf, ".", &save); t && j; t = strtok_r(NULL, ".", &save)) {
        if (cJSON_IsArray(j)) j = cJSON_GetArrayItem(j, atoi(t));
        else j = cJSON_GetObjectItemCaseSensitive(j, t);
    }
    return j;
}

static inline const char *jpath_str(const cJSON *j, const char *path)
{
    return cJSON_GetStringValue(jpath(j, path));
}

static inline double jpath_num(const cJSON *j, const char *path)
{
    const cJSON *v = jpath(j, path);
    if (!cJSON_IsNumber(v)) fail_msg("%s is not a number", path);
    return v->valuedouble;
}

#define assert_jstr(j, path, want)                                                     \
    do {                                                                               \
        const char *got_ = jpath_str((j), (path));                                     \
        if (!got_) fail_msg("%s: missing or not a string (want \"%s\")", path, want); \
        assert_string_equal(got_, (want));                                             \
    } while (0)

#endif
