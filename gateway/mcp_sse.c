/* gateway/mcp_sse.c — replay buffer, SSE framing, Origin/Host checks for
 * MCP over HTTP. Pure: no sockets, no loop. */
#include "mcp_sse.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------- replay buffer ---------------- */

void gw_replay_init(gw_replay *r, int max_events, size_t max_bytes)
{
    memset(r, 0, sizeof *r);
    r->cap = max_events > 0 ? max_events : 1;
    r->max_bytes = max_bytes;
    r->v = od_calloc((size_t)r->cap, sizeof *r->v);
}

static void drop_oldest(gw_replay *r)
{
    gw_replay_ev *e = &r->v[r->head];
    r->bytes -= e->len;
    free(e->text);
    memset(e, 0, sizeof *e);
    r->head = (r->head + 1) % r->cap;
    r->n--;
}

void gw_replay_free(gw_replay *r)
{
    if (!r->v)
        return;
    while (r->n > 0)
        drop_oldest(r);
    free(r->v);
    r->v = NULL;
}

void gw_replay_push(gw_replay *r, int64_t seq, int stream, const char *text, size_t len)
{
    if (!r->v || len > r->max_bytes)
        return;
    while (r->n > 0 && (r->n == r->cap || r->bytes + len > r->max_bytes))
        drop_oldest(r);
    gw_replay_ev *e = &r->v[(r->head + r->n) % r->cap];
    e->seq = seq;
    e->stream = stream;
    e->text = od_strndup(text, len);
    e->len = len;
    r->bytes += len;
    r->n++;
}

int gw_replay_stream_of(const gw_replay *r, int64_t seq)
{
    for (int i = 0; i < r->n; i++) {
        const gw_replay_ev *e = &r->v[(r->head + i) % r->cap];
        if (e->seq == seq)
            return e->stream;
    }
    return -1;
}

int gw_replay_since(const gw_replay *r, int64_t after, int stream, gw_replay_fn fn, void *ud)
{
    int k = 0;
    for (int i = 0; i < r->n; i++) {
        const gw_replay_ev *e = &r->v[(r->head + i) % r->cap];
        if (e->seq > after && e->stream == stream) {
            fn(ud, e->text, e->len);
            k++;
        }
    }
    return k;
}

/* ---------------- SSE ---------------- */

void gw_sse_event(od_buf *out, int64_t seq, const char *event, const char *data, size_t len)
{
    if (seq > 0)
        od_buf_printf(out, "id: %lld\n", (long long)seq);
    if (event)
        od_buf_printf(out, "event: %s\n", event);
    od_buf_puts(out, "data: ");
    od_buf_put(out, data, len);
    od_buf_puts(out, "\n\n");
}

int64_t gw_sse_parse_id(const char *s)
{
    int64_t v;
    if (!s)
        return -1;
    while (*s == ' ')
        s++;
    if (!isdigit((unsigned char)*s) || od_parse_i64(s, &v) || v < 0)
        return -1;
    return v;
}

/* ---------------- Origin / Host ---------------- */

/* host part of "host[:port]" or "[v6][:port]" into out (lowercase) */
static void host_of(const char *authority, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    if (n && authority[0] == '[') {
        const char *rb = memchr(authority, ']', n);
        if (rb)
            n = (size_t)(rb - authority) + 1;
    } else {
        const char *colon = memchr(authority, ':', n);
        if (colon)
            n = (size_t)(colon - authority);
    }
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        out[k++] = (char)tolower((unsigned char)authority[i]);
    out[k] = 0;
}

static int loopback_name(const char *h)
{
    return !strcmp(h, "localhost") || !strcmp(h, "127.0.0.1") || !strcmp(h, "[::1]");
}

int gw_host_is_loopback(const char *host)
{
    char h[256];
    if (!host)
        return 0;
    while (*host == ' ')
        host++;
    size_t n = strlen(host);
    while (n && host[n - 1] == ' ')
        n--;
    host_of(host, n, h, sizeof h);
    return loopback_name(h);
}

/* the origin, trimmed, equals one comma-separated entry of list */
static int listed(const char *origin, size_t olen, const char *list)
{
    const char *p = list;
    while (p && *p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        size_t n = (size_t)(e - p);
        while (n && p[n - 1] == ' ')
            n--;
        if (n == 1 && *p == '*')
            return 1;
        while (n && p[n - 1] == '/')
            n--;
        if (n && n == olen && !strncasecmp(p, origin, n))
            return 1;
        p = e;
    }
    return 0;
}

int gw_host_allowed(const char *host, const char *allowed)
{
    if (gw_host_is_loopback(host))
        return 1;
    if (!host || !allowed)
        return 0;
    while (*host == ' ')
        host++;
    size_t n = strlen(host);
    while (n && host[n - 1] == ' ')
        n--;
    if (listed(host, n, allowed))
        return 1;
    char h[256];
    host_of(host, n, h, sizeof h); /* "host" entries match any port */
    return listed(h, strlen(h), allowed);
}

int gw_origin_allowed(const char *origin, const char *allowed)
{
    if (!origin)
        return 0;
    while (*origin == ' ')
        origin++;
    size_t olen = strlen(origin);
    while (olen && (origin[olen - 1] == ' ' || origin[olen - 1] == '/'))
        olen--;
    if (allowed && listed(origin, olen, allowed))
        return 1;
    const char *rest;
    if (olen > 7 && !strncasecmp(origin, "http://", 7))
        rest = origin + 7;
    else if (olen > 8 && !strncasecmp(origin, "https://", 8))
        rest = origin + 8;
    else
        return 0;
    size_t n = olen - (size_t)(rest - origin);
    const char *slash = memchr(rest, '/', n);
    if (slash)
        n = (size_t)(slash - rest);
    if (memchr(rest, '@', n))
        return 0; /* userinfo: not an origin */
    char h[256];
    host_of(rest, n, h, sizeof h);
    return loopback_name(h);
}

int gw_accepts(const char *accept, const char *type)
{
    if (!accept)
        return 0;
    size_t tl = strlen(type);
    const char *slash = strchr(type, '/');
    size_t major = slash ? (size_t)(slash - type) : tl;
    const char *p = accept;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ';')
            e++;
        size_t n = (size_t)(e - p);
        while (n && p[n - 1] == ' ')
            n--;
        if ((n == tl && !strncasecmp(p, type, tl)) || (n == 3 && !strncmp(p, "*/*", 3)) ||
            (n == major + 2 && !strncasecmp(p, type, major) && p[major] == '/' && p[major + 1] == '*'))
            return 1;
        while (*e && *e != ',')
            e++;
        p = e;
    }
    return 0;
}
