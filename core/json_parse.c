/* core/json_parse.c — a strict, single-pass JSON parser that builds cJSON
 * trees (freed with cJSON_Delete, used with every cJSON accessor).
 *
 * Why not cJSON_Parse: on a relayed call it was the largest single cost after
 * curl (~60k instructions for a 1 KB request and its answer, ~14k per stream
 * event). cJSON scans each string twice, and hands every number to strtod
 * through a copy. Here strings are measured eight bytes at a time and copied
 * once, and integers (token counts, indexes, timestamps) never reach strtod.
 *
 * Stricter than cJSON, as RFC 8259 is: no trailing garbage, no leading
 * zeros, no raw control characters in strings, only the four whitespace
 * characters. Like cJSON: nesting is bounded (1000), a \u escape must not
 * leave half a surrogate pair. Unlike it: a name given twice in one object
 * is refused (as I-JSON, RFC 7493, does). odock reads the first, while the
 * provider or MCP server behind it (JavaScript, Python) keeps the last: a
 * request would be authorized, priced and inspected as one thing and run as
 * another ("messages" twice sent unscanned text on; "max_tokens" twice
 * reserved for 5 tokens and asked for 5000; "name" twice ran a denied tool). */
#include "json.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEPTH_MAX 1000

static _Thread_local int nul_seen; /* od_json_saw_nul */

typedef struct {
    const char *p, *end;
    int depth;
    od_jarena *a;      /* NULL: nodes from malloc, for cJSON_Delete */
} rd;

/* ---- the arena: one block reused event after event ----
 * Blocks are chained through their first word; allocation bumps in the
 * newest. A reset after an event that needed more than one block folds
 * them into one block of the total, so the next such event fits. */

#define BLK_LINK sizeof(char *)

static void *arena_grow(od_jarena *a, size_t n)
{
    size_t sz = a->cap * 2;
    if (sz < 4096) sz = 4096;
    if (sz < n + BLK_LINK) sz = n + BLK_LINK;
    char *b = malloc(sz);
    if (!b) abort();
    memcpy(b, &a->blk, sizeof a->blk);
    a->blk = b;
    a->cap = sz;
    a->used = BLK_LINK + n;
    a->total += sz;
    return b + BLK_LINK;
}

/* inline: every node and string of a stream event comes from here */
static inline void *arena_alloc(od_jarena *a, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    if (a->blk && a->used + n <= a->cap) {
        void *p = a->blk + a->used;
        a->used += n;
        return p;
    }
    return arena_grow(a, n);
}

static void arena_drop(od_jarena *a)
{
    while (a->blk) {
        char *prev;
        memcpy(&prev, a->blk, sizeof prev);
        free(a->blk);
        a->blk = prev;
    }
    a->cap = a->used = a->total = 0;
}

static void arena_reset(od_jarena *a)
{
    if (a->blk && a->total > a->cap) {
        size_t want = a->total;
        arena_drop(a);
        /* a one-off giant event does not stay pinned for the whole stream */
        if (want <= 256 * 1024) {
            a->blk = malloc(want);
            if (!a->blk) abort();
            char *none = NULL; /* no older block */
            memcpy(a->blk, &none, sizeof none);
            a->cap = a->total = want;
        }
    }
    a->used = BLK_LINK;
}

void od_jarena_free(od_jarena *a)
{
    arena_drop(a);
}

static inline void *r_alloc(rd *r, size_t n)
{
    if (r->a) return arena_alloc(r->a, n);
    void *p = od_jmalloc(n);
    if (!p) abort();
    return p;
}

static void r_free(rd *r, void *p)
{
    if (!r->a) od_jfree(p);
}

static void r_delete(rd *r, cJSON *j)
{
    if (!r->a) cJSON_Delete(j);
}

static cJSON *value(rd *r);

static void ws_skip(rd *r)
{
    while (r->p < r->end && od_is_space((unsigned char)*r->p))
        r->p++;
}

/* inline: it runs between every two tokens, and compact JSON (every
 * provider's stream events) has no white space: one compare says so */
static inline void ws(rd *r)
{
    if (r->p < r->end && (unsigned char)*r->p <= ' ') ws_skip(r);
}

static cJSON *item(rd *r, int type)
{
    cJSON *j = r_alloc(r, sizeof *j);
    memset(j, 0, sizeof *j);
    j->type = type;
    return j;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return 0;
}

static size_t utf8(unsigned cp, char *o)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* r->p at the opening quote; a malloc'd string, or NULL on bad input */
static char *string(rd *r)
{
    const char *s = ++r->p;
    size_t run = od_json_plain_run((const unsigned char *)s, (size_t)(r->end - s));
    if (s + run < r->end && s[run] == '"') {
        /* no escapes: the common case, one copy. Sized in whole words so
         * that a key or a short value (most strings) is copied as one or
         * two words, not through a call to memcpy; the bytes read past the
         * closing quote are still inside the input. */
        size_t size = (run + 8) & ~(size_t)7;
        char *out = r_alloc(r, size);
        if (size == 8 && r->end - s >= 8) memcpy(out, s, 8);
        else if (size == 16 && r->end - s >= 16) memcpy(out, s, 16);
        else memcpy(out, s, run);
        out[run] = 0;
        r->p = s + run + 1;
        return out;
    }
    /* escapes: the decoded text is never longer than the source */
    const char *q = s;
    while (q < r->end && *q != '"') {
        if ((unsigned char)*q < 0x20) return NULL;
        q += *q == '\\' && q + 1 < r->end ? 2 : 1;
    }
    if (q >= r->end) return NULL;
    char *out = r_alloc(r, (size_t)(q - s) + 1), *o = out;
    const char *p = s;
    while (p < q) {
        size_t k = od_json_plain_run((const unsigned char *)p, (size_t)(q - p));
        memcpy(o, p, k);
        o += k;
        p += k;
        if (p >= q) break;
        if (*p != '\\') goto bad; /* a control character */
        char e = p[1];
        p += 2;
        switch (e) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (q - p < 4 || hex4(p, &cp) < 0) goto bad;
            p += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF) goto bad;   /* a lone low half */
            if (cp == 0) {
                /* a C string would end here and hide the rest from every
                 * guardrail: U+FFFD keeps the text whole (see od_json_saw_nul) */
                cp = 0xFFFD;
                nul_seen = 1;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (q - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) < 0 ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    goto bad;
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            o += utf8(cp, o);
            break;
        }
        default: goto bad;
        }
    }
    *o = 0;
    r->p = q + 1;
    return out;
bad:
    r_free(r, out);
    return NULL;
}

static cJSON *number(rd *r)
{
    const char *s = r->p, *p = s, *e = r->end;
    int neg = 0, frac = 0;
    if (p < e && *p == '-') { neg = 1; p++; }
    if (p >= e || *p < '0' || *p > '9') return NULL;
    if (*p == '0') {
        p++;
        if (p < e && *p >= '0' && *p <= '9') return NULL; /* leading zero */
    } else {
        while (p < e && *p >= '0' && *p <= '9') p++;
    }
    const char *int_end = p;
    if (p < e && *p == '.') {
        frac = 1;
        p++;
        if (p >= e || *p < '0' || *p > '9') return NULL;
        while (p < e && *p >= '0' && *p <= '9') p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        frac = 1;
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (p >= e || *p < '0' || *p > '9') return NULL;
        while (p < e && *p >= '0' && *p <= '9') p++;
    }
    double d;
    size_t ndig = (size_t)(int_end - s) - (size_t)neg;
    if (!frac && ndig <= 15) {
        int64_t v = 0; /* exact in a double: no rounding to get wrong */
        for (const char *q = s + neg; q < int_end; q++) v = v * 10 + (*q - '0');
        d = neg ? -(double)v : (double)v;
        if (neg && v == 0) d = -0.0;
    } else {
        char tmp[64], *t = tmp;
        size_t n = (size_t)(p - s);
        if (n >= sizeof tmp && !(t = malloc(n + 1))) abort();
        memcpy(t, s, n);
        t[n] = 0;
        d = strtod(t, NULL); /* the grammar is checked: strtod only converts */
        if (t != tmp) free(t);
    }
    r->p = p;
    cJSON *j = item(r, cJSON_Number);
    j->valuedouble = d;
    j->valueint = d >= INT_MAX ? INT_MAX : d <= (double)INT_MIN ? INT_MIN : (int)d;
    if (!frac && ndig > 15) {
        /* an integer a double may not hold exactly (a tool's 64-bit ID, a
         * seed): its text is kept, and od_json_write writes that, so what
         * the provider or MCP server gets is what the client sent */
        size_t n = (size_t)(p - s);
        char *t = r_alloc(r, n + 1);
        memcpy(t, s, n);
        t[n] = 0;
        j->valuestring = t;
    }
    return j;
}

static int lit(rd *r, const char *w, size_t n)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, w, n) != 0) return -1;
    r->p += n;
    return 0;
}

static _Thread_local char dup_name[64];

int od_json_saw_nul(void)
{
    return nul_seen;
}

const char *od_json_dup_key(void)
{
    return dup_name[0] ? dup_name : NULL;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* 1 when two of o's n members share a name (kept in dup_name). Pairs for
 * small objects (a request's are: a handful of first bytes compared); a
 * big one is sorted, so 100,000 members cost n log n, not n squared. */
static int dup_member(const cJSON *o, size_t n)
{
    const char *dup = NULL;
    if (n <= 16) {
        for (const cJSON *a = o->child; a && !dup; a = a->next)
            for (const cJSON *b = a->next; b; b = b->next)
                if (a->string[0] == b->string[0] && !strcmp(a->string, b->string)) {
                    dup = a->string;
                    break;
                }
    } else {
        const cJSON **v = malloc(n * sizeof *v);
        if (!v) return 1;
        size_t i = 0;
        for (const cJSON *c = o->child; c; c = c->next) v[i++] = c;
        qsort(v, n, sizeof *v, by_name);
        for (i = 1; i < n && !dup; i++)
            if (!strcmp(v[i - 1]->string, v[i]->string)) dup = v[i]->string;
        free(v);
    }
    if (!dup) return 0;
    snprintf(dup_name, sizeof dup_name, "%s", dup);
    return 1;
}

/* appends c to parent's children; cJSON keeps the last one in child->prev */
static void add(cJSON *parent, cJSON *c)
{
    if (!parent->child) {
        parent->child = c;
    } else {
        cJSON *last = parent->child->prev;
        last->next = c;
        c->prev = last;
    }
    parent->child->prev = c;
}

static cJSON *container(rd *r, int obj)
{
    if (++r->depth > DEPTH_MAX) return NULL;
    cJSON *j = item(r, obj ? cJSON_Object : cJSON_Array);
    char close = obj ? '}' : ']';
    r->p++;
    ws(r);
    if (r->p < r->end && *r->p == close) {
        r->p++;
        r->depth--;
        return j;
    }
    for (size_t n = 1;; n++) {
        char *key = NULL;
        if (obj) {
            if (r->p >= r->end || *r->p != '"' || !(key = string(r))) goto bad;
            ws(r);
            if (r->p >= r->end || *r->p != ':') { r_free(r, key); goto bad; }
            r->p++;
            ws(r);
        }
        cJSON *v = value(r);
        if (!v) { r_free(r, key); goto bad; }
        v->string = key;
        add(j, v);
        ws(r);
        if (r->p >= r->end) goto bad;
        if (*r->p == ',') {
            r->p++;
            ws(r);
            continue;
        }
        if (*r->p != close) goto bad;
        if (obj && n > 1 && dup_member(j, n)) goto bad;
        r->p++;
        r->depth--;
        return j;
    }
bad:
    r_delete(r, j);
    return NULL;
}

static cJSON *value(rd *r)
{
    if (r->p >= r->end) return NULL;
    switch (*r->p) {
    case '{': return container(r, 1);
    case '[': return container(r, 0);
    case '"': {
        char *s = string(r);
        if (!s) return NULL;
        cJSON *j = item(r, cJSON_String);
        j->valuestring = s;
        return j;
    }
    case 't': return lit(r, "true", 4) ? NULL : item(r, cJSON_True);
    case 'f': return lit(r, "false", 5) ? NULL : item(r, cJSON_False);
    case 'n': return lit(r, "null", 4) ? NULL : item(r, cJSON_NULL);
    default: return number(r);
    }
}

static cJSON *parse(const char *p, size_t n, size_t *end, od_jarena *a)
{
    if (!p) return NULL;
    rd r = {.p = p, .end = p + n, .depth = 0, .a = a};
    dup_name[0] = 0;
    nul_seen = 0;
    ws(&r);
    cJSON *j = value(&r);
    if (!j) return NULL;
    if (end) {
        *end = (size_t)(r.p - p);
        return j;
    }
    ws(&r);
    if (r.p != r.end) {
        r_delete(&r, j);
        return NULL;
    }
    return j;
}

cJSON *od_json_parse(const char *p, size_t n, size_t *end)
{
    return parse(p, n, end, NULL);
}

cJSON *od_json_parse_in(od_jarena *a, const char *p, size_t n)
{
    arena_reset(a);
    return parse(p, n, NULL, a);
}
