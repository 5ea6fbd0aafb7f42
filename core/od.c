/* core/od.c — memory, buffers, logging, strings. */
#include "od.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <limits.h>
#include <time.h>

static void oom(void)
{
    fputs("odock: out of memory\n", stderr);
    abort();
}

void *od_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom();
    return p;
}

void *od_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom();
    return p;
}

void *od_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) oom();
    return q;
}

char *od_strdup(const char *s)
{
    return s ? od_strndup(s, strlen(s)) : NULL;
}

char *od_strdup_printf(const char *fmt, ...)
{
    od_buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    od_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    return od_buf_take(&b);
}

char *od_strndup(const char *s, size_t n)
{
    if (!s) return NULL;
    char *p = od_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void od_strlcpy(char *dst, const char *s, size_t n)
{
    if (!n) return;
    size_t l = s ? strnlen(s, n - 1) : 0;
    memcpy(dst, s ? s : "", l);
    dst[l] = '\0';
}

/* ---- buffer ---- */

static void buf_grow(od_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return;
    /* most buffers hold a JSON body or a header block: starting at 64 bytes
     * cost a 1 KB request body five reallocs (2 % of a relayed call) */
    size_t cap = b->cap ? b->cap : 512;
    while (cap < need) cap *= 2;
    b->p = od_realloc(b->p, cap);
    b->cap = cap;
}

void od_buf_put_grow(od_buf *b, const void *data, size_t n)
{
    buf_grow(b, n);
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* numbers without printf: headers, chunk sizes and JSON are written per
 * request, and vfprintf was ~1.5 % of a relayed call */
size_t od_fmt_i64(char out[21], int64_t v)
{
    char t[21];
    int i = (int)sizeof t;
    uint64_t u = v < 0 ? 0ULL - (uint64_t)v : (uint64_t)v;
    do {
        t[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) t[--i] = '-';
    memcpy(out, t + i, sizeof t - (size_t)i);
    return sizeof t - (size_t)i;
}

void od_buf_put_i64(od_buf *b, int64_t v)
{
    char t[21];
    od_buf_put(b, t, od_fmt_i64(t, v));
}

void od_buf_put_hex(od_buf *b, uint64_t v)
{
    char t[16];
    int i = (int)sizeof t;
    do {
        t[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    od_buf_put(b, t + i, sizeof t - (size_t)i);
}

void od_buf_puts(od_buf *b, const char *s)
{
    od_buf_put(b, s, strlen(s));
}


void od_buf_vprintf(od_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0) return;
    buf_grow(b, (size_t)n);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void od_buf_printf(od_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    od_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void od_buf_reset(od_buf *b)
{
    b->len = 0;
    if (b->p) b->p[0] = '\0';
}

void od_buf_free(od_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

char *od_buf_take(od_buf *b)
{
    char *p = b->p ? b->p : od_strdup("");
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

/* ---- logging ---- */

int od_log_level = OD_LOG_INFO;

void od_log(int level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (level < od_log_level) return;
    char ts[32];
    od_time_fmt(od_wall_ms(), ts);
    char line[2048];
    int off = snprintf(line, sizeof line, "%s %-5s ", ts, names[level & 3]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + off, sizeof line - (size_t)off, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}

/* ---- strings ---- */

int od_str_eq(const char *a, const char *b)
{
    if (!a || !b) return a == b;
    return strcmp(a, b) == 0;
}

int od_parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s) return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s) return -1;
    *out = v;
    return 0;
}

int od_hex_digit(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int od_chunk_size(const char *s, size_t n, int64_t *size)
{
    int64_t v = 0;
    size_t i = 0;
    for (int d; i < n && (d = od_hex_digit((unsigned char)s[i])) >= 0; i++) {
        if (v > (INT64_MAX >> 4))
            return -1;
        v = v * 16 + d;
    }
    if (i == 0 || (i < n && s[i] != ';' && s[i] != ' ' && s[i] != '\t'))
        return -1;
    *size = v;
    return 0;
}

int od_glob_match(const char *p, const char *s)
{
    /* iterative with one backtrack point: linear enough for grant patterns */
    const char *star = NULL, *ss = NULL;
    while (*s) {
        if (*p == '*') {
            star = p++;
            ss = s;
        } else if (*p == '?' || *p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++ss;
        } else {
            return 0;
        }
    }
    while (*p == '*') p++;
    return *p == '\0';
}
