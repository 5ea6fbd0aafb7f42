/* tests/unit/test_guard_corpus.h — loads testdata/guard/corpus.tsv (format
 * documented at the top of that file): unescapes the text and expands the
 * templates that stand in for credentials, with a fixed-seed generator so
 * every run sees the same texts. Header-only, static: shared by
 * tests/unit/test_guard.c and tests/bench/bench_guard.c. */
#ifndef TEST_GUARD_CORPUS_H
#define TEST_GUARD_CORPUS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/od.h"

typedef struct tc_line {
    int lineno;
    char *labels; /* "-" or "email,phone" */
    char *text;
    size_t len;
} tc_line;

static uint64_t tc_rng = 0x9E3779B97F4A7C15ull;
static unsigned tc_next(void)
{
    tc_rng ^= tc_rng << 13;
    tc_rng ^= tc_rng >> 7;
    tc_rng ^= tc_rng << 17;
    return (unsigned)(tc_rng >> 11);
}

static void tc_rand(od_buf *b, const char *alphabet, long n)
{
    size_t a = strlen(alphabet);
    for (long k = 0; k < n; k++) od_buf_putc(b, alphabet[tc_next() % a]);
}

static void tc_b64(od_buf *b, const unsigned char *s, size_t n, int url)
{
    const char *A = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                        : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t k = 0;
    for (; k + 2 < n; k += 3) {
        unsigned v = (unsigned)s[k] << 16 | (unsigned)s[k + 1] << 8 | s[k + 2];
        od_buf_putc(b, A[v >> 18 & 63]);
        od_buf_putc(b, A[v >> 12 & 63]);
        od_buf_putc(b, A[v >> 6 & 63]);
        od_buf_putc(b, A[v & 63]);
    }
    if (k < n) {
        unsigned v = (unsigned)s[k] << 16 | (k + 1 < n ? (unsigned)s[k + 1] << 8 : 0);
        od_buf_putc(b, A[v >> 18 & 63]);
        od_buf_putc(b, A[v >> 12 & 63]);
        if (k + 1 < n) od_buf_putc(b, A[v >> 6 & 63]);
        else if (!url) od_buf_putc(b, '=');
        if (!url) od_buf_putc(b, '=');
    }
}

#define TC_B62 "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

/* A JWT with a real-looking HS256 header and a random signature. */
static void tc_jwt(od_buf *b)
{
    const char *h = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    const char *p = "{\"sub\":\"1234567890\",\"name\":\"Test User\",\"iat\":1516239022}";
    tc_b64(b, (const unsigned char *)h, strlen(h), 1);
    od_buf_putc(b, '.');
    tc_b64(b, (const unsigned char *)p, strlen(p), 1);
    od_buf_putc(b, '.');
    tc_rand(b, TC_B62, 43);
}

/* A PEM block; the header is assembled so no key marker sits in the file. */
static void tc_pem(od_buf *b, const char *kind)
{
    const char *k = !strcmp(kind, "PKCS8") ? "" : !strcmp(kind, "RSA") ? "RSA " : !strcmp(kind, "EC") ? "EC " : "OPENSSH ";
    od_buf_printf(b, "-----%s %s%s %s-----\n", "BEGIN", k, "PRIVATE", "KEY");
    for (int l = 0; l < 4; l++) {
        tc_rand(b, TC_B62 "+/", 64);
        od_buf_putc(b, '\n');
    }
    od_buf_printf(b, "-----%s %s%s %s-----", "END", k, "PRIVATE", "KEY");
}

static void tc_put_cp(od_buf *b, unsigned long cp)
{
    if (cp < 0x80) {
        od_buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        od_buf_putc(b, (char)(0xC0 | cp >> 6));
        od_buf_putc(b, (char)(0x80 | (cp & 63)));
    } else if (cp < 0x10000) {
        od_buf_putc(b, (char)(0xE0 | cp >> 12));
        od_buf_putc(b, (char)(0x80 | (cp >> 6 & 63)));
        od_buf_putc(b, (char)(0x80 | (cp & 63)));
    } else {
        od_buf_putc(b, (char)(0xF0 | cp >> 18));
        od_buf_putc(b, (char)(0x80 | (cp >> 12 & 63)));
        od_buf_putc(b, (char)(0x80 | (cp >> 6 & 63)));
        od_buf_putc(b, (char)(0x80 | (cp & 63)));
    }
}

/* Unescapes \n \t \\ \u{HEX}, then expands {R:N} {H:N} {D:N} {U:N}
 * {B64:text} {JWT} {PEM:KIND}. Anything else is copied as is. */
static char *tc_expand(const char *s, size_t *len)
{
    od_buf u = {0}, o = {0};
    for (const char *p = s; *p; p++) {
        if (p[0] == '\\' && p[1] == 'n') od_buf_putc(&u, '\n'), p++;
        else if (p[0] == '\\' && p[1] == 't') od_buf_putc(&u, '\t'), p++;
        else if (p[0] == '\\' && p[1] == '\\') od_buf_putc(&u, '\\'), p++;
        else if (p[0] == '\\' && p[1] == 'u' && p[2] == '{') {
            char *end;
            unsigned long cp = strtoul(p + 3, &end, 16);
            tc_put_cp(&u, cp);
            p = *end == '}' ? end : end - 1;
        } else od_buf_putc(&u, *p);
    }
    od_buf_put(&u, "", 0);
    for (const char *p = u.p; *p; p++) {
        long n;
        char *end;
        if (*p == '{' && p[2] == ':' && strchr("RHDU", p[1]) && (n = strtol(p + 3, &end, 10)) > 0 && *end == '}') {
            const char *alpha = p[1] == 'R' ? TC_B62 : p[1] == 'H' ? "0123456789abcdef"
                              : p[1] == 'D' ? "0123456789" : "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
            tc_rand(&o, alpha, n);
            p = end;
        } else if (!strncmp(p, "{B64:", 5) && strchr(p, '}')) {
            const char *e = strchr(p, '}');
            tc_b64(&o, (const unsigned char *)p + 5, (size_t)(e - p - 5), 0);
            p = e;
        } else if (!strncmp(p, "{JWT}", 5)) {
            tc_jwt(&o);
            p += 4;
        } else if (!strncmp(p, "{PEM:", 5) && strchr(p, '}')) {
            const char *e = strchr(p, '}');
            char kind[16] = {0};
            memcpy(kind, p + 5, (size_t)(e - p - 5) < 15 ? (size_t)(e - p - 5) : 15);
            tc_pem(&o, kind);
            p = e;
        } else {
            od_buf_putc(&o, *p);
        }
    }
    od_buf_put(&o, "", 0);
    od_buf_free(&u);
    *len = o.len;
    return od_buf_take(&o);
}

/* Loads the corpus; returns the count (or -1 if the file is missing). */
static int tc_load(const char *path, tc_line **out)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    tc_rng = 0x9E3779B97F4A7C15ull;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int n = 0, lineno = 0;
    tc_line *v = NULL;
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
        if (got == 0 || line[0] == '#') continue;
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        v = od_realloc(v, (size_t)(n + 1) * sizeof *v);
        v[n].lineno = lineno;
        v[n].labels = od_strdup(line);
        v[n].text = tc_expand(tab + 1, &v[n].len);
        n++;
    }
    free(line);
    fclose(f);
    *out = v;
    return n;
}

static void tc_free(tc_line *v, int n)
{
    for (int i = 0; i < n; i++) {
        free(v[i].labels);
        free(v[i].text);
    }
    free(v);
}

#endif
