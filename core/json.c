/* core/json.c — compact JSON output straight into an od_buf. Replaces
 * cJSON_PrintUnformatted on the hot paths: cJSON prints into a buffer it
 * reallocates as it goes, and formats every non-integer number with
 * sprintf("%1.15g") followed by an sscanf round trip, which made printing
 * the request and the answer one of the larger costs of a relayed call.
 * The output parses to the same values as cJSON's. */
#include "json.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* bytes that need escaping in a JSON string: control characters, '"' and '\\' */
static int needs_escape(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\';
}

/* Length of the prefix of p[0..n) with nothing to escape. Sixteen bytes at
 * a time where SSE2 is there (baseline on x86-64), then eight (the usual bit
 * trick: a byte below 0x20, or equal to '"' or '\\', sets its high bit in
 * the mask): strings are most of what is parsed and printed, and prompts and
 * stream text are long ones. */
size_t od_json_plain_run(const unsigned char *p, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), c1f = _mm_set1_epi8(0x1F);
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, c1f), v); /* v <= 0x1F, unsigned */
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)), ctl);
        unsigned m = (unsigned)_mm_movemask_epi8(hit);
        if (m) return i + (size_t)__builtin_ctz(m);
    }
#endif
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
        uint64_t m = ((w - ones * 0x20) | (q - ones) | (bs - ones)) & ~w & highs;
        /* ~w drops bytes >= 0x80 (UTF-8), which never need escaping. The
         * lowest flagged byte is exact (a borrow only runs upwards), so it
         * is the answer: most strings are short and end in the first word */
        if (m) return i + ((size_t)__builtin_ctzll(m) >> 3);
    }
    while (i < n && !needs_escape(p[i])) i++;
    return i;
}

void od_json_string(od_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)p);
    od_buf_putc(b, '"');
    for (;;) {
        size_t run = od_json_plain_run(p, n);
        if (run) od_buf_put(b, p, run);
        p += run;
        n -= run;
        if (!n) break;
        char e[6] = {'\\', 0, 0, 0, 0, 0};
        size_t k = 2;
        switch (*p) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default:
            memcpy(e + 1, "u00", 3);
            e[4] = hex[*p >> 4];
            e[5] = hex[*p & 15];
            k = 6;
        }
        od_buf_put(b, e, k);
        p++;
        n--;
    }
    od_buf_putc(b, '"');
}

static void put_number(od_buf *b, double d)
{
    if (isnan(d) || isinf(d)) { /* not representable in JSON: cJSON prints null too */
        od_buf_put(b, "null", 4);
        return;
    }
    /* integers (token counts, max_tokens, indexes) are by far the most common */
    if (d == floor(d) && fabs(d) < 9007199254740992.0) {
        od_buf_put_i64(b, (int64_t)d);
        return;
    }
    /* short decimals (temperature 0.2, top_p 0.95): m / 10^k for the
     * smallest k whose division gives d back. Division is correctly
     * rounded, as is reading "m with k decimals", so the text reads back as
     * d; no trailing zero (then a smaller k matched). snprintf and strtod
     * were a third of writing a chat request. */
    static const double p10[] = {1e1, 1e2, 1e3, 1e4, 1e5, 1e6};
    for (int k = 0; k < 6; k++) {
        double m = rint(d * p10[k]);
        if (fabs(m) >= 9007199254740992.0)
            break;
        if (m / p10[k] != d)
            continue;
        char t[24], *e = t + sizeof t, *q = e;
        uint64_t u = (uint64_t)fabs(m);
        for (int i = 0; i <= k || u; i++) { /* digits from the right, the point after k+1 of them */
            *--q = (char)('0' + u % 10);
            u /= 10;
            if (i == k) *--q = '.';
        }
        if (q[0] == '.') *--q = '0';
        if (d < 0) *--q = '-';
        od_buf_put(b, q, (size_t)(e - q));
        return;
    }
    char t[32];
    int n = snprintf(t, sizeof t, "%.15g", d);
    if (strtod(t, NULL) != d) n = snprintf(t, sizeof t, "%.17g", d);
    od_buf_put(b, t, (size_t)n);
}

static void put_value(od_buf *b, const cJSON *j);

static void put_members(od_buf *b, const cJSON *first, const char *const *skip, int first_out)
{
    for (const cJSON *c = first; c; c = c->next) {
        int skipped = 0;
        for (const char *const *k = skip; k && *k && !skipped; k++)
            skipped = c->string && !strcmp(c->string, *k);
        if (skipped) continue;
        if (!first_out) od_buf_putc(b, ',');
        first_out = 0;
        od_json_string(b, c->string);
        od_buf_putc(b, ':');
        put_value(b, c);
    }
}

static void put_value(od_buf *b, const cJSON *j)
{
    switch (j->type & 0xFF) {
    case cJSON_False: od_buf_put(b, "false", 5); break;
    case cJSON_True: od_buf_put(b, "true", 4); break;
    case cJSON_NULL: od_buf_put(b, "null", 4); break;
    case cJSON_Number: /* a big integer's own text, when the parser kept it */
        if (j->valuestring) od_buf_puts(b, j->valuestring);
        else put_number(b, j->valuedouble);
        break;
    case cJSON_String: od_json_string(b, j->valuestring); break;
    case cJSON_Raw:
        if (j->valuestring) od_buf_puts(b, j->valuestring);
        else od_buf_put(b, "null", 4);
        break;
    case cJSON_Array:
        od_buf_putc(b, '[');
        for (const cJSON *c = j->child; c; c = c->next) {
            if (c != j->child) od_buf_putc(b, ',');
            put_value(b, c);
        }
        od_buf_putc(b, ']');
        break;
    case cJSON_Object:
        od_buf_putc(b, '{');
        put_members(b, j->child, NULL, 1);
        od_buf_putc(b, '}');
        break;
    default: od_buf_put(b, "null", 4); /* cJSON_Invalid */
    }
}

void od_json_write(od_buf *b, const cJSON *j)
{
    if (!j) od_buf_put(b, "null", 4);
    else put_value(b, j);
}

char *od_json_print(const cJSON *j)
{
    od_buf b = {0};
    od_json_write(&b, j);
    return od_buf_take(&b);
}

void od_json_write_object(od_buf *b, const cJSON *obj, const char *const *skip, const char *extra)
{
    od_buf_putc(b, '{');
    int empty = 1;
    if (extra && *extra) {
        od_buf_puts(b, extra);
        empty = 0;
    }
    put_members(b, obj ? obj->child : NULL, skip, empty);
    od_buf_putc(b, '}');
}
