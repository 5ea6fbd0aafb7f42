/* mcp/names.c — exposed names, collision resolution, URI wrapping, cursors. */
#include "names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/od.h"

static int name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int mcp_name_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > MCP_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!name_char((unsigned char)s[i])) return 0;
    return 1;
}

/* unbounded sanitised name into a buffer */
static void raw_name(const char *server, const char *name, int prefix, od_buf *b)
{
    if (prefix) {
        for (const char *p = server; *p; p++)
            od_buf_putc(b, name_char((unsigned char)*p) ? *p : '_');
        od_buf_puts(b, MCP_NAME_SEP);
    }
    for (const char *p = name; *p; p++)
        od_buf_putc(b, name_char((unsigned char)*p) ? *p : '_');
    if (!b->len) od_buf_putc(b, '_');
}

static void hex8(const char *server, const char *name, char out[9])
{
    od_buf k = {0};
    od_buf_printf(&k, "%s/%s", server, name);
    uint8_t h[32];
    od_sha256(k.p, k.len, h);
    od_buf_free(&k);
    char hex[65];
    od_hex(h, 32, hex);
    memcpy(out, hex, 8);
    out[8] = 0;
}

void mcp_name_suffixed(const char *server, const char *name, int prefix, char *out)
{
    od_buf b = {0};
    raw_name(server, name, prefix, &b);
    char h[9];
    hex8(server, name, h);
    size_t keep = b.len > MCP_NAME_MAX - 9 ? MCP_NAME_MAX - 9 : b.len;
    memcpy(out, b.p, keep);
    out[keep] = '_';
    memcpy(out + keep + 1, h, 9);
    od_buf_free(&b);
}

void mcp_name_expose(const char *server, const char *name, int prefix, char *out)
{
    od_buf b = {0};
    raw_name(server, name, prefix, &b);
    if (b.len <= MCP_NAME_MAX) {
        memcpy(out, b.p, b.len + 1);
    } else {
        mcp_name_suffixed(server, name, prefix, out);
    }
    od_buf_free(&b);
}

/* ---- collision resolution ---- */

static int cmp_priority(const void *a, const void *b)
{
    const mcp_name_entry *x = *(mcp_name_entry *const *)a, *y = *(mcp_name_entry *const *)b;
    if (x->prefix != y->prefix) return x->prefix ? -1 : 1;
    if (x->server_order != y->server_order) return x->server_order < y->server_order ? -1 : 1;
    return x < y ? -1 : (x > y); /* upstream order = array order */
}

typedef struct nset { char **v; size_t n, cap; } nset;

static unsigned long nhash(const char *s)
{
    unsigned long h = 5381;
    while (*s) h = h * 33 + (unsigned char)*s++;
    return h;
}
static int nset_has(nset *s, const char *k)
{
    if (!s->cap) return 0;
    for (size_t i = nhash(k) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (!s->v[i]) return 0;
        if (!strcmp(s->v[i], k)) return 1;
    }
}
static void nset_add(nset *s, char *k)
{
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        char **v = od_calloc(cap, sizeof *v);
        for (size_t j = 0; j < s->cap; j++)
            if (s->v[j])
                for (size_t i = nhash(s->v[j]) & (cap - 1);; i = (i + 1) & (cap - 1))
                    if (!v[i]) { v[i] = s->v[j]; break; }
        free(s->v);
        s->v = v;
        s->cap = cap;
    }
    for (size_t i = nhash(k) & (s->cap - 1);; i = (i + 1) & (s->cap - 1))
        if (!s->v[i]) { s->v[i] = k; s->n++; return; }
}

int mcp_names_resolve(mcp_name_entry *e, int n)
{
    if (n <= 0) return 0;
    mcp_name_entry **order = od_malloc(sizeof *order * (size_t)n);
    for (int i = 0; i < n; i++) order[i] = &e[i];
    qsort(order, (size_t)n, sizeof *order, cmp_priority);
    nset taken = {0};
    int collisions = 0;
    for (int i = 0; i < n; i++) {
        mcp_name_entry *x = order[i];
        x->collided = 0;
        mcp_name_expose(x->server, x->name, x->prefix, x->exposed);
        if (nset_has(&taken, x->exposed)) {
            x->collided = 1;
            collisions++;
            if (!x->prefix) mcp_name_expose(x->server, x->name, 1, x->exposed);
            if (nset_has(&taken, x->exposed))
                mcp_name_suffixed(x->server, x->name, 1, x->exposed);
            /* the same name twice from one server: count up, still stable */
            for (int k = 2; nset_has(&taken, x->exposed); k++) {
                char tail[16];
                int tl = snprintf(tail, sizeof tail, "_%d", k);
                char base[MCP_NAME_MAX + 1];
                mcp_name_suffixed(x->server, x->name, 1, base);
                size_t bl = strlen(base);
                if (bl > (size_t)(MCP_NAME_MAX - tl)) bl = (size_t)(MCP_NAME_MAX - tl);
                memcpy(x->exposed, base, bl);
                memcpy(x->exposed + bl, tail, (size_t)tl + 1);
            }
        }
        nset_add(&taken, x->exposed);
    }
    free(taken.v);
    free(order);
    return collisions;
}

/* ---- URIs ---- */

char *mcp_uri_wrap(const char *server, int prefix, const char *uri)
{
    if (!prefix) return od_strdup(uri);
    od_buf b = {0};
    od_buf_printf(&b, "%s+%s", server, uri);
    return od_buf_take(&b);
}

const char *mcp_uri_unwrap(const char *server, const char *uri)
{
    size_t n = strlen(server);
    if (strncmp(uri, server, n) == 0 && uri[n] == '+') return uri + n + 1;
    return NULL;
}

/* ---- cursors ---- */

void mcp_cursor_encode(const char *kind, int offset, char *out, size_t n)
{
    snprintf(out, n, "odc1-%s-%d", kind, offset);
}

int mcp_cursor_decode(const char *kind, const char *cursor, int *offset)
{
    char pre[64];
    int pl = snprintf(pre, sizeof pre, "odc1-%s-", kind);
    if (!cursor || pl <= 0 || (size_t)pl >= sizeof pre || strncmp(cursor, pre, (size_t)pl)) return -1;
    int64_t v;
    if (od_parse_i64(cursor + pl, &v) || v < 0 || v > 100000000) return -1;
    *offset = (int)v;
    return 0;
}
