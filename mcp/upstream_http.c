/* mcp/upstream_http.c — MCP servers over HTTP: Streamable HTTP (POST per
 * message, answers as JSON or as an SSE stream, Mcp-Session-Id, a GET stream
 * for what the server sends on its own) and the legacy HTTP+SSE transport
 * (GET an SSE stream whose "endpoint" event names where to POST). A server
 * configured as "http" that refuses the first POST with 400, 404 or 405 is
 * spoken to with the legacy transport instead. All on curl multi via
 * od_http_start. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/json.h"
#include "../core/od.h"
#include "jsonrpc.h"
#include "transport.h"

typedef struct http_t http_t;

/* ---- SSE parsing ---- */
typedef struct sse {
    od_buf line, data, event;
} sse;

typedef void (*sse_fn)(http_t *t, const char *event, const char *data, size_t len);

static void sse_free(sse *p)
{
    od_buf_free(&p->line);
    od_buf_free(&p->data);
    od_buf_free(&p->event);
}

static void sse_line(http_t *t, sse *p, const char *l, size_t n, sse_fn fn)
{
    if (n == 0) { /* dispatch */
        if (p->data.len || p->event.len)
            fn(t, p->event.len ? p->event.p : "message", p->data.p ? p->data.p : "", p->data.len);
        od_buf_reset(&p->data);
        od_buf_reset(&p->event);
        return;
    }
    if (l[0] == ':') return;
    const char *colon = memchr(l, ':', n);
    size_t fl = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    size_t vl = colon ? n - fl - 1 : 0;
    if (vl && *v == ' ') { v++; vl--; }
    if (fl == 4 && !memcmp(l, "data", 4)) {
        if (p->data.len) od_buf_putc(&p->data, '\n');
        od_buf_put(&p->data, v, vl);
    } else if (fl == 5 && !memcmp(l, "event", 5)) {
        od_buf_reset(&p->event);
        od_buf_put(&p->event, v, vl);
    }
}

static void sse_feed(http_t *t, sse *p, const char *d, size_t n, sse_fn fn)
{
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '\n') {
            size_t l = p->line.len;
            if (l && p->line.p[l - 1] == '\r') l--;
            sse_line(t, p, p->line.p ? p->line.p : "", l, fn);
            od_buf_reset(&p->line);
        } else {
            od_buf_putc(&p->line, d[i]);
        }
    }
}

/* ---- the transport ---- */

typedef struct post post;

struct http_t {
    mcp_transport base;
    od_loop *loop;
    mcp_transport_cbs cbs;
    void *ud;
    const od_mcp_cfg *cfg;
    size_t max_message;
    int legacy;            /* 1: HTTP+SSE */
    int tried_post;        /* a Streamable HTTP POST has been answered */
    char *session_id;
    char proto[16];
    char *post_url;        /* legacy: from the endpoint event */
    od_buf queued;         /* legacy: messages before the endpoint is known (NUL separated) */
    int nqueued;
    od_http *stream;       /* GET: legacy stream, or the Streamable HTTP listening stream */
    sse stream_sse;
    int stream_ok;
    post *posts;
    int dead;
    od_timer fail_timer;
    char *fail_why;
};

struct post {
    post *next, *prev;
    http_t *t;
    od_http *h;
    char *body;            /* what was sent: the id comes back in synthesized errors */
    int status;
    int is_sse;
    od_buf json;
    sse parser;
};

static void die(http_t *t, const char *why)
{
    if (t->dead) return;
    t->dead = 1;
    if (t->cbs.on_closed) t->cbs.on_closed(t->ud, why);
}

static const char *header(const char *headers, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (const char *p = headers; p && *p;) {
        const char *e = strchr(p, '\n');
        size_t ll = e ? (size_t)(e - p) : strlen(p);
        if (ll > nl && !strncasecmp(p, name, nl) && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ') v++;
            size_t vl = ll - (size_t)(v - p);
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' ')) vl--;
            *len = vl;
            return v;
        }
        p = e ? e + 1 : NULL;
    }
    return NULL;
}

static void deliver(http_t *t, const char *text, size_t len)
{
    if (t->dead || !len) return;
    if (len > t->max_message) {
        od_warn("mcp %s: dropped a message over the size limit", t->cfg->name);
        return;
    }
    t->cbs.on_message(t->ud, text, len);
}

static void on_sse_event(http_t *t, const char *event, const char *data, size_t len);

/* the headers every request carries; caller frees the array and its strings */
static char **build_headers(http_t *t, int accept_sse_only, int with_json, int *n)
{
    char **h = od_calloc((size_t)t->cfg->nheaders + 6, sizeof *h);
    int k = 0;
    od_buf b = {0};
    od_buf_puts(&b, accept_sse_only ? "Accept: text/event-stream" : "Accept: application/json, text/event-stream");
    h[k++] = od_buf_take(&b);
    if (with_json) h[k++] = od_strdup("Content-Type: application/json");
    if (t->session_id) { od_buf_printf(&b, "Mcp-Session-Id: %s", t->session_id); h[k++] = od_buf_take(&b); }
    if (t->proto[0] && !t->legacy) { od_buf_printf(&b, "MCP-Protocol-Version: %s", t->proto); h[k++] = od_buf_take(&b); }
    for (int i = 0; i < t->cfg->nheaders; i++) {
        od_buf_printf(&b, "%s: %s", t->cfg->headers[i].key, t->cfg->headers[i].value ? t->cfg->headers[i].value : "");
        h[k++] = od_buf_take(&b);
    }
    *n = k;
    return h;
}

static void free_headers(char **h, int n)
{
    for (int i = 0; i < n; i++) free(h[i]);
    free(h);
}

static long timeout_ms(const http_t *t) { return t->cfg->timeout_ms > 0 ? t->cfg->timeout_ms : 60000; }

/* ---- the GET stream ---- */

static int stream_headers(od_http *h, int status, const char *headers, void *ud)
{
    http_t *t = ud;
    t->stream_ok = status == 200;
    if (!t->stream_ok) return -1;
    return 0;
}

static int stream_data(od_http *h, const char *data, size_t len, void *ud)
{
    http_t *t = ud;
    sse_feed(t, &t->stream_sse, data, len, on_sse_event);
    return t->dead ? -1 : 0;
}

static void stream_done(od_http *h, int status, const char *err, int timed_out, void *ud)
{
    http_t *t = ud;
    t->stream = NULL;
    if (t->legacy) {
        die(t, err ? err : "the SSE stream ended");
    } else if (status != 405 && status != 200) {
        od_debug("mcp %s: no listening stream (HTTP %d)", t->cfg->name, status);
    }
}

static void open_stream(http_t *t, const char *url)
{
    int n;
    char **hd = build_headers(t, 1, 0, &n);
    od_http_req r = {.method = "GET", .url = url, .headers = (const char *const *)hd, .nheaders = n,
                     .connect_timeout_ms = 10000, .max_response_bytes = 1L << 40};
    static const od_http_cbs cbs = {.on_headers = stream_headers, .on_data = stream_data, .on_done = stream_done};
    od_buf_reset(&t->stream_sse.line);
    t->stream = od_http_start(t->loop, &r, &cbs, t);
    free_headers(hd, n);
}

/* ---- POSTs ---- */

static void post_free(http_t *t, post *p)
{
    if (p->prev) p->prev->next = p->next;
    else t->posts = p->next;
    if (p->next) p->next->prev = p->prev;
    free(p->body);
    od_buf_free(&p->json);
    sse_free(&p->parser);
    free(p);
}

static void synth_error(http_t *t, const char *body, const char *msg)
{
    int code;
    const char *em;
    cJSON *j = mcp_rpc_parse(body, strlen(body), 0, &code, &em);
    if (!j) return;
    mcp_msg m;
    if (!cJSON_IsArray(j) && mcp_rpc_classify(j, &m) == MCP_MSG_REQUEST) {
        cJSON *e = mcp_rpc_error_reason(m.id, MCP_ERR_UPSTREAM, msg, "upstream_error");
        char *txt = od_json_print(e); /* the request's id as it was written */
        deliver(t, txt, strlen(txt));
        free(txt);
        cJSON_Delete(e);
    }
    cJSON_Delete(j);
}

static void post_sse_event(http_t *t, const char *event, const char *data, size_t len)
{
    if (!strcmp(event, "message")) deliver(t, data, len);
}

static int post_headers(od_http *h, int status, const char *headers, void *ud)
{
    post *p = ud;
    http_t *t = p->t;
    p->status = status;
    size_t l;
    const char *sid = header(headers, "mcp-session-id", &l);
    if (sid && status < 300 && !t->legacy) {
        free(t->session_id);
        t->session_id = od_strndup(sid, l);
    }
    const char *ct = header(headers, "content-type", &l);
    p->is_sse = ct && l >= 17 && !strncasecmp(ct, "text/event-stream", 17);
    return 0;
}

static int post_data(od_http *h, const char *data, size_t len, void *ud)
{
    post *p = ud;
    if (p->status >= 300) return 0;
    if (p->is_sse) sse_feed(p->t, &p->parser, data, len, post_sse_event);
    else if (!p->t->legacy) {
        if (p->json.len + len > p->t->max_message) return -1;
        od_buf_put(&p->json, data, len);
    }
    return p->t->dead ? -1 : 0;
}

static void send_legacy(http_t *t, const char *json, size_t len);

static void post_done(od_http *h, int status, const char *err, int timed_out, void *ud)
{
    post *p = ud;
    http_t *t = p->t;
    int first = !t->tried_post;
    t->tried_post = 1;
    if (t->dead) { post_free(t, p); return; }
    if (!t->legacy && first && (status == 400 || status == 404 || status == 405)) {
        /* not a Streamable HTTP server: try the legacy transport */
        od_info("mcp %s: POST answered %d; falling back to HTTP+SSE", t->cfg->name, status);
        t->legacy = 1;
        char *body = p->body;
        p->body = NULL;
        post_free(t, p);
        open_stream(t, t->cfg->url);
        send_legacy(t, body, strlen(body));
        free(body);
        return;
    }
    if (!t->legacy && status == 404 && t->session_id) {
        post_free(t, p);
        die(t, "session expired (HTTP 404): re-initializing");
        return;
    }
    if (err && status == 0) {
        char buf[200];
        snprintf(buf, sizeof buf, "POST failed: %s", err);
        post_free(t, p);
        die(t, buf);
        return;
    }
    if (status >= 300 || err) {
        char buf[200];
        snprintf(buf, sizeof buf, "Upstream HTTP %d%s%s", status, err ? ": " : "", err ? err : "");
        synth_error(t, p->body, buf);
    } else if (!p->is_sse && p->json.len) {
        deliver(t, p->json.p, p->json.len);
    }
    post_free(t, p);
}

static void do_post(http_t *t, const char *url, const char *json, size_t len)
{
    post *p = od_calloc(1, sizeof *p);
    p->t = t;
    p->body = od_strndup(json, len);
    p->next = t->posts;
    if (t->posts) t->posts->prev = p;
    t->posts = p;
    int n;
    char **hd = build_headers(t, 0, 1, &n);
    /* an SSE answer may stream for long: bound it by silence, not length */
    od_http_req r = {.method = "POST", .url = url, .headers = (const char *const *)hd, .nheaders = n,
                     .body = p->body, .body_len = len, .connect_timeout_ms = 10000,
                     .idle_timeout_ms = timeout_ms(t), .max_response_bytes = (long)t->max_message * 4};
    static const od_http_cbs cbs = {.on_headers = post_headers, .on_data = post_data, .on_done = post_done};
    p->h = od_http_start(t->loop, &r, &cbs, p);
    free_headers(hd, n);
    if (!p->h) post_free(t, p);
}

static void send_legacy(http_t *t, const char *json, size_t len)
{
    if (!t->post_url) {
        od_buf_put(&t->queued, json, len);
        od_buf_putc(&t->queued, 0);
        t->nqueued++;
        return;
    }
    do_post(t, t->post_url, json, len);
}

static char *resolve(const char *base, const char *ref)
{
    if (!strncmp(ref, "http://", 7) || !strncmp(ref, "https://", 8)) return od_strdup(ref);
    const char *hs = strstr(base, "://");
    hs = hs ? hs + 3 : base;
    const char *path = strchr(hs, '/');
    size_t root = path ? (size_t)(path - base) : strlen(base);
    od_buf b = {0};
    if (ref[0] == '/') {
        od_buf_put(&b, base, root);
    } else {
        const char *q = strchr(base, '?');
        size_t upto = q ? (size_t)(q - base) : strlen(base);
        const char *slash = base + upto;
        while (slash > base + root && *slash != '/') slash--;
        if (slash <= base + root) { od_buf_put(&b, base, root); od_buf_putc(&b, '/'); }
        else od_buf_put(&b, base, (size_t)(slash - base) + 1);
    }
    od_buf_puts(&b, ref);
    return od_buf_take(&b);
}

static void on_sse_event(http_t *t, const char *event, const char *data, size_t len)
{
    if (t->legacy && !strcmp(event, "endpoint")) {
        char *ref = od_strndup(data, len);
        free(t->post_url);
        t->post_url = resolve(t->cfg->url, ref);
        free(ref);
        od_debug("mcp %s: legacy endpoint %s", t->cfg->name, t->post_url);
        /* flush what waited for it */
        const char *q = t->queued.p;
        for (int i = 0; i < t->nqueued; i++) {
            size_t l = strlen(q);
            do_post(t, t->post_url, q, l);
            q += l + 1;
        }
        od_buf_reset(&t->queued);
        t->nqueued = 0;
        return;
    }
    if (!strcmp(event, "message")) deliver(t, data, len);
}

/* ---- ops ---- */

static int h_send(mcp_transport *base, const char *json, size_t len)
{
    http_t *t = (http_t *)base;
    if (t->dead) return -1;
    if (t->legacy) send_legacy(t, json, len);
    else do_post(t, t->cfg->url, json, len);
    return 0;
}

static void h_set_protocol(mcp_transport *base, const char *v)
{
    http_t *t = (http_t *)base;
    od_strlcpy(t->proto, v, sizeof t->proto);
    /* initialized: listen for what the server sends on its own */
    if (!t->legacy && !t->stream) open_stream(t, t->cfg->url);
}

static void noop_done(od_http *h, int status, const char *err, int timed_out, void *ud) {}

static void h_close(mcp_transport *base)
{
    http_t *t = (http_t *)base;
    if (!t) return;
    if (t->stream) od_http_cancel(t->stream);
    while (t->posts) {
        post *p = t->posts;
        if (p->h) od_http_cancel(p->h);
        post_free(t, p);
    }
    if (t->session_id && !t->legacy && !t->dead) {
        /* tell the server the session is over; nobody waits for the answer */
        int n;
        char **hd = build_headers(t, 0, 0, &n);
        od_http_req r = {.method = "DELETE", .url = t->cfg->url, .headers = (const char *const *)hd,
                         .nheaders = n, .timeout_ms = 2000};
        static const od_http_cbs cbs = {.on_done = noop_done};
        od_http_start(t->loop, &r, &cbs, NULL);
        free_headers(hd, n);
    }
    sse_free(&t->stream_sse);
    od_buf_free(&t->queued);
    free(t->session_id);
    free(t->post_url);
    free(t);
}

static const mcp_transport_ops http_ops = {
    .send = h_send,
    .set_protocol = h_set_protocol,
    .close = h_close,
};

mcp_transport *mcp_http_start(const mcp_transport_args *a, char **err)
{
    const od_mcp_cfg *c = a->cfg;
    if (!c->url || strncmp(c->url, "http", 4)) {
        *err = od_strdup("url must be http:// or https://");
        return NULL;
    }
    http_t *t = od_calloc(1, sizeof *t);
    t->base.ops = &http_ops;
    t->loop = a->loop;
    t->cbs = *a->cbs;
    t->ud = a->ud;
    t->cfg = c;
    t->max_message = a->max_message ? a->max_message : MCP_MAX_MESSAGE_DEFAULT;
    if (c->transport && !strcmp(c->transport, "sse")) {
        t->legacy = 1;
        t->tried_post = 1;
        open_stream(t, c->url);
    }
    od_info("mcp %s: %s transport to %s", c->name, t->legacy ? "HTTP+SSE" : "Streamable HTTP", c->url);
    return &t->base;
}
