/* gateway/http.c — the HTTP front: routes, body limits and the response
 * API, for both transports (conn.h), and the lws one itself (TLS, and
 * WebSocket upgrades): its timeouts and response writing (whole bodies, or
 * chunked streams whose framing we write ourselves so HTTP/1.1 keep-alive
 * survives SSE). lws writes happen in LWS_CALLBACK_HTTP_WRITEABLE, one
 * lws_write per turn; the one exception is the last answer of a connection
 * closed for pipelining. Plain TCP connections are h1serve.c's. */
#include "conn.h"
#include "../mcp/jsonrpc.h"

#include <errno.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <string.h>
#include <libwebsockets.h>

#define GW_WCHUNK 16384
#define GW_INLINE_BODY 4096 /* answers up to this size share the headers' write */
#define GW_DISCARD_MAX (64LL * 1024 * 1024)

static gw_server *srv_of(struct lws *wsi)
{
    return od_loop_user(od_loop_from_wsi(wsi));
}

/* ---------------- response API ---------------- */

/* the transport is told there is something to write */
static void kick(gw_conn *c)
{
    if (c->h1)
        gw_h1s_kick(c->h1);
    else
        lws_callback_on_writable(c->wsi);
}

void gw_conn_header(gw_conn *c, const char *name, const char *fmt, ...)
{
    va_list ap;
    if (!c || c->headers_sent)
        return;
    od_buf_puts(&c->hdrs, name);
    od_buf_puts(&c->hdrs, ": ");
    va_start(ap, fmt);
    od_buf_vprintf(&c->hdrs, fmt, ap);
    va_end(ap);
    od_buf_putc(&c->hdrs, '\n');
}

/* a header line of a string or a number, without printf */
static void header_line(gw_conn *c, const char *name, const char *str, int64_t num)
{
    if (!c || c->headers_sent)
        return;
    od_buf_puts(&c->hdrs, name);
    od_buf_put(&c->hdrs, ": ", 2);
    if (str) od_buf_puts(&c->hdrs, str);
    else od_buf_put_i64(&c->hdrs, num);
    od_buf_putc(&c->hdrs, '\n');
}

void gw_conn_header_str(gw_conn *c, const char *name, const char *value)
{
    header_line(c, name, value ? value : "", 0);
}

void gw_conn_header_int(gw_conn *c, const char *name, int64_t value)
{
    header_line(c, name, NULL, value);
}

void gw_conn_respond(gw_conn *c, int status, const char *ctype, const char *body, size_t len)
{
    if (!c || c->responding)
        return;
    c->responding = 1;
    c->status = status;
    od_strlcpy(c->ctype, ctype, sizeof c->ctype);
    od_buf_put(&c->out, body ? body : "", len);
    c->ended = 1;
    c->call = NULL;
    kick(c);
}

void gw_conn_stream_start(gw_conn *c, int status, const char *ctype)
{
    if (!c || c->responding)
        return;
    c->responding = 1;
    c->streaming = 1;
    c->status = status;
    od_strlcpy(c->ctype, ctype, sizeof c->ctype);
    kick(c);
}

void gw_conn_stream_write(gw_conn *c, const char *data, size_t len)
{
    if (!c || !c->streaming || c->ended || !len)
        return;
    size_t before = c->out.len - c->off;
    if (c->unchunked) {
        od_buf_put(&c->out, data, len);
    } else {
        od_buf_put_hex(&c->out, len);
        od_buf_put(&c->out, "\r\n", 2);
        od_buf_put(&c->out, data, len);
        od_buf_puts(&c->out, "\r\n");
    }
    if (before == 0) {
        /* a client that stops reading is dropped after client_stall_ms
         * (h1serve.c keeps that deadline itself) */
        if (c->wsi)
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_CONTENT, (c->srv->t.client_stall_ms + 999) / 1000);
        if (c->headers_sent)
            kick(c);
    }
}

static void hup_unwatch(gw_conn *c)
{
    if (!c->hup)
        return;
    od_fd_close(c->hup);
    c->hup = NULL;
    if (c->hprev) c->hprev->hnext = c->hnext;
    else c->srv->hup_conns = c->hnext;
    if (c->hnext) c->hnext->hprev = c->hprev;
    c->hnext = c->hprev = NULL;
}

void gw_http_unwatch_all(gw_server *s)
{
    while (s->hup_conns)
        hup_unwatch(s->hup_conns);
}

void gw_conn_stream_end(gw_conn *c)
{
    if (!c || !c->streaming || c->ended)
        return;
    hup_unwatch(c); /* lws reads the connection again after the last chunk */
    if (!c->unchunked)
        od_buf_puts(&c->out, "0\r\n\r\n");
    c->ended = 1;
    c->call = NULL;
    kick(c);
}

size_t gw_conn_pending(const gw_conn *c)
{
    return c ? c->out.len - c->off : 0;
}

void gw_conn_set_call(gw_conn *c, gw_call *call)
{
    if (c)
        c->call = call;
}

void gw_conn_detach(gw_conn *c)
{
    if (c)
        c->call = NULL;
}

int gw_conn_streaming(const gw_conn *c)
{
    return c && c->streaming;
}

const char *gw_conn_key(const gw_conn *c)
{
    return c->key;
}

void gw_conn_bind(gw_conn *c, void *ref)
{
    c->mcp_ref = ref;
}

void gw_conn_bind_forward(gw_conn *c, gw_fwd *f)
{
    c->fwd = f;
}

const char *gw_conn_method(const gw_conn *c)
{
    return c->method;
}

/* lws 4.1 does not read an HTTP/1 connection while its response is under
 * way (state DOING_TRANSACTION), yet keeps POLLIN armed: once the client of
 * an open SSE stream hangs up, every loop turn wakes for the unread EOF and
 * the loop spins at 100 % CPU until a write fails, up to two keep-alives
 * (30 s) later. Measured: each SDK client that left made odock serve burn a
 * whole core, slowing every other session on it. (lws_rx_flow_control is no
 * way out: on such a wsi it re-arms POLLOUT every turn instead.) Bytes the
 * client sends behind the stream (a pipelined request) spin it the same way,
 * for the stream's whole life. So a long stream also watches its socket
 * itself, through a private dup: a hang-up, or a request it cannot serve
 * until the stream ends, closes the connection on the next turn; the watch
 * goes before the stream's last chunk, when lws reads the connection again. */
static int peer_spoke_or_left(int fd)
{
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void hup_cb(od_fd *w, int events, void *ud)
{
    gw_conn *c = ud;
    if (c->wsi && !(events & OD_FD_CLOSED) && !peer_spoke_or_left((int)lws_get_socket_fd(c->wsi)))
        return; /* woken for nothing: keep watching */
    od_fd_want(w, 0);
    if (c->wsi)
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_CONTENT, LWS_TO_KILL_ASYNC);
}

void gw_conn_watch_hangup(gw_conn *c)
{
    /* h1serve.c reads its connections throughout: nothing to add */
    int fd = c && c->wsi ? (int)lws_get_socket_fd(c->wsi) : -1;
    if (fd < 0 || c->hup)
        return;
    c->hup = od_fd_watch(od_loop_from_wsi(c->wsi), fd, OD_FD_READ, hup_cb, c);
    if (c->hup) {
        c->hnext = c->srv->hup_conns;
        if (c->hnext) c->hnext->hprev = c;
        c->srv->hup_conns = c;
    }
}

static int write_headers(gw_conn *c)
{
    /* headers get 8 KB; an inline body has its own room after them */
    unsigned char buf[LWS_PRE + 8192 + GW_INLINE_BODY], *start = buf + LWS_PRE, *p = start, *end = start + 8191;
    struct lws *wsi = c->wsi;

    if (lws_add_http_header_status(wsi, (unsigned)c->status, &p, end))
        return -1;
    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, (const unsigned char *)c->ctype,
                                     (int)strlen(c->ctype), &p, end))
        return -1;
    /* A whole small answer goes out with its headers in one write: one
     * segment, one wakeup of the client, one poll turn less. lws is then
     * not told the length (it would count the body against it). */
    size_t body = c->out.len - c->off;
    int inline_body = !c->streaming && c->ended && body <= GW_INLINE_BODY;
    if (inline_body) {
        char cl[21];
        int cn = (int)od_fmt_i64(cl, (int64_t)body);
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)"content-length:", (const unsigned char *)cl,
                                        cn, &p, end))
            return -1;
    } else if (!c->streaming) {
        if (lws_add_http_header_content_length(wsi, body, &p, end))
            return -1;
    } else {
        static const char te[] = "chunked", cc[] = "no-cache";
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)"transfer-encoding:",
                                        (const unsigned char *)te, (int)strlen(te), &p, end) ||
            lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                        (const unsigned char *)cc, (int)strlen(cc), &p, end))
            return -1;
    }
    if (c->close_after) {
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)"connection:",
                                        (const unsigned char *)"close", 5, &p, end))
            return -1;
    }
    /* our own headers: "name: value\n" lines */
    const char *h = c->hdrs.p;
    while (h && *h) {
        const char *nl = strchr(h, '\n'), *colon = strchr(h, ':');
        if (!nl || !colon || colon > nl)
            break;
        char name[96];
        size_t nlen = (size_t)(colon - h);
        if (nlen + 2 > sizeof name)
            nlen = sizeof name - 2;
        memcpy(name, h, nlen);
        name[nlen] = ':';
        name[nlen + 1] = 0;
        const char *v = colon + 1;
        while (*v == ' ') v++;
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)name, (const unsigned char *)v,
                                        (int)(nl - v), &p, end))
            return -1;
        h = nl + 1;
    }
    if (lws_finalize_http_header(wsi, &p, end))
        return -1;
    if (inline_body) {
        memcpy(p, c->out.p + c->off, body);
        p += body;
        c->off += body;
    }
    int n = (int)(p - start);
    if (lws_write(wsi, start, (size_t)n, LWS_WRITE_HTTP_HEADERS) != n)
        return -1;
    c->headers_sent = 1;
    return 0;
}

void gw_conn_put_headers(const gw_conn *c, od_buf *b)
{
    od_buf_put(b, "content-type: ", 14);
    od_buf_puts(b, c->ctype);
    od_buf_put(b, "\r\n", 2);
    for (const char *h = c->hdrs.p, *nl; h && *h && (nl = strchr(h, '\n')); h = nl + 1) {
        od_buf_put(b, h, (size_t)(nl - h));
        od_buf_put(b, "\r\n", 2);
    }
}

/* ---------------- unfinished request heads ----------------
 * lws (4.1) puts no deadline on a client that connects and never finishes
 * its headers, nor on an idle keep-alive connection: we keep one here,
 * swept from the server's 100 ms tick. The node hangs off the wsi's opaque
 * pointer, so lookups are O(1). */
#define HW_MAGIC 0x68647761 /* the loop's raw wsis keep other things in opaque */
typedef struct hdwait {
    int magic;
    struct lws *wsi;
    int64_t deadline_us;
    struct hdwait *next, *prev;
} hdwait;

static void hw_add(gw_server *s, struct lws *wsi)
{
    if (lws_get_opaque_user_data(wsi))
        return; /* already waiting (or not ours) */
    hdwait *h = od_calloc(1, sizeof *h);
    h->magic = HW_MAGIC;
    h->wsi = wsi;
    h->deadline_us = od_mono_us() + (int64_t)s->t.header_timeout_s * 1000000;
    h->next = s->head_waits;
    if (h->next) ((hdwait *)h->next)->prev = h;
    s->head_waits = h;
    lws_set_opaque_user_data(wsi, h);
}

static void hw_unlink(gw_server *s, hdwait *h)
{
    if (h->prev) h->prev->next = h->next;
    else s->head_waits = h->next;
    if (h->next) h->next->prev = h->prev;
    lws_set_opaque_user_data(h->wsi, NULL);
    free(h);
}

static void hw_del(gw_server *s, struct lws *wsi)
{
    hdwait *h = lws_get_opaque_user_data(wsi);
    if (h && h->magic == HW_MAGIC && h->wsi == wsi)
        hw_unlink(s, h);
}

void gw_http_sweep(gw_server *s, int all)
{
    gw_h1s_sweep(s, all);
    int64_t now = od_mono_us();
    hdwait *h = s->head_waits, *next;
    for (; h; h = next) {
        next = h->next;
        if (all || now >= h->deadline_us) {
            struct lws *wsi = h->wsi;
            hw_unlink(s, h);
            lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, LWS_TO_KILL_ASYNC);
        }
    }
}

static int complete(gw_conn *c)
{
    if (c->close_after)
        return -1;
    struct lws *wsi = c->wsi;
    gw_server *s = c->srv;
    if (lws_http_transaction_completed(wsi))
        return -1;
    hw_add(s, wsi); /* keep-alive: the next request head has the same deadline */
    return 0;
}

/* writes the next piece of c->out (buf: LWS_PRE + GW_WCHUNK bytes);
 * 1 if it was the answer's last, 0 if not, -1 if the write failed */
static int write_chunk(gw_conn *c, unsigned char *buf)
{
    size_t avail = c->out.len - c->off;
    size_t n = avail > GW_WCHUNK ? GW_WCHUNK : avail;
    int last = c->ended && n == avail;
    memcpy(buf + LWS_PRE, c->out.p + c->off, n);
    if (lws_write(c->wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < (int)n)
        return -1;
    c->off += n;
    return last;
}

static int conn_write(gw_conn *c)
{
    unsigned char buf[LWS_PRE + GW_WCHUNK];
    if (!c->responding)
        return 0;
    if (!c->headers_sent) {
        if (write_headers(c) < 0)
            return -1;
        if (c->ended && c->off == c->out.len && !c->streaming) {
            od_buf_reset(&c->out);
            c->off = 0;
            return complete(c);
        }
        if (c->out.len > c->off || c->ended)
            lws_callback_on_writable(c->wsi);
        return 0;
    }
    size_t avail = c->out.len - c->off;
    if (!avail) {
        if (c->ended)
            return complete(c);
        return 0;
    }
    int last = write_chunk(c, buf);
    if (last < 0)
        return -1;
    if (c->off == c->out.len) {
        od_buf_reset(&c->out);
        c->off = 0;
    } else if (c->off > 256 * 1024) {
        memmove(c->out.p, c->out.p + c->off, c->out.len - c->off);
        c->out.len -= c->off;
        c->out.p[c->out.len] = 0;
        c->off = 0;
    }
    if (last)
        return complete(c);
    avail = c->out.len - c->off;
    if (avail || c->ended) {
        if (c->streaming)
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_CONTENT, (c->srv->t.client_stall_ms + 999) / 1000);
        lws_callback_on_writable(c->wsi);
    } else if (c->streaming) {
        lws_set_timeout(c->wsi, NO_PENDING_TIMEOUT, 0);
    }
    if (c->streaming && avail < GW_LOW_WATER) {
        if (c->call)
            gw_call_drained(c->call);
        if (c->fwd)
            gw_forward_drained(c->fwd);
    }
    return 0;
}

/* ---------------- requests ---------------- */

/* lws's copy of a header: the common ones are tokens, the rest custom */
static int lws_header(struct lws *wsi, const char *name, char *buf, size_t n)
{
    static const struct { const char *name; enum lws_token_indexes t; } TOK[] = {
        {"authorization", WSI_TOKEN_HTTP_AUTHORIZATION}, {"origin", WSI_TOKEN_ORIGIN},
        {"host", WSI_TOKEN_HOST}, {"accept", WSI_TOKEN_HTTP_ACCEPT},
        {"content-type", WSI_TOKEN_HTTP_CONTENT_TYPE}, {"upgrade", WSI_TOKEN_UPGRADE},
    };
    char cname[80];
    int len;
    buf[0] = 0;
    if (n > 1 << 20)
        return -1;
    for (size_t i = 0; i < OD_ARRAY_LEN(TOK); i++) {
        if (strcmp(TOK[i].name, name))
            continue;
        len = lws_hdr_total_length(wsi, TOK[i].t);
        if (len <= 0)
            return 0;
        if ((size_t)len + 1 > n || lws_hdr_copy(wsi, buf, (int)n, TOK[i].t) < 0) {
            buf[0] = 0;
            return -1;
        }
        return len;
    }
    size_t nl = strlen(name);
    if (nl + 2 > sizeof cname)
        return 0;
    memcpy(cname, name, nl);
    cname[nl] = ':';
    cname[nl + 1] = 0;
    len = lws_hdr_custom_length(wsi, cname, (int)nl + 1);
    if (len <= 0)
        return 0;
    if ((size_t)len + 1 > n || lws_hdr_custom_copy(wsi, buf, (int)n, cname, (int)nl + 1) < 0) {
        buf[0] = 0;
        return -1;
    }
    buf[len] = 0;
    return len;
}

int gw_req_header(gw_conn *c, struct lws *wsi, const char *name, char *buf, size_t n)
{
    if (!buf || n < 2)
        return -1;
    if (c && c->h1)
        return gw_h1s_header(c->h1, name, buf, n);
    if (c)
        wsi = c->wsi;
    if (!wsi) {
        buf[0] = 0;
        return 0;
    }
    return lws_header(wsi, name, buf, n);
}

int gw_req_query(gw_conn *c, struct lws *wsi, const char *name, char *buf, size_t n)
{
    char arg[96];
    if (c && c->h1)
        return gw_h1s_query(c->h1, name, buf, n);
    if (c)
        wsi = c->wsi;
    size_t nl = strlen(name);
    if (!wsi || nl + 2 > sizeof arg)
        return -1;
    memcpy(arg, name, nl);
    arg[nl] = '=';
    arg[nl + 1] = 0;
    /* lws copies "name=value" into buf */
    if (!lws_get_urlarg_by_name(wsi, arg, buf, (int)n))
        return -1;
    size_t len = strlen(buf + nl + 1);
    memmove(buf, buf + nl + 1, len + 1);
    return (int)len;
}

char *gw_req_key(gw_conn *c, struct lws *wsi)
{
    char buf[1024];
    if (gw_req_header(c, wsi, "authorization", buf, sizeof buf) > 0) {
        const char *v = buf;
        while (*v == ' ') v++;
        if (!strncasecmp(v, "Bearer ", 7)) {
            v += 7;
            while (*v == ' ') v++;
        }
        return od_strdup(v);
    }
    if (gw_req_header(c, wsi, "x-api-key", buf, sizeof buf) > 0 || gw_req_header(c, wsi, "api-key", buf, sizeof buf) > 0)
        return od_strdup(buf);
    return NULL;
}

static int route_of(gw_conn *c, const char *path)
{
    char p[512];
    size_t n = strlen(path);
    if (n >= sizeof p)
        return RT_NOTFOUND;
    memcpy(p, path, n + 1);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = 0;
    const char *q = p;
    /* clients whose base URL lacks /v1 */
    if (!strcmp(q, "/chat/completions") || !strcmp(q, "/v1/chat/completions")) return RT_CHAT;
    if (!strcmp(q, "/v1/messages") || !strcmp(q, "/messages")) return RT_MESSAGES;
    if (!strcmp(q, "/v1/embeddings") || !strcmp(q, "/embeddings")) return RT_EMBED;
    if (!strcmp(q, "/v1/models") || !strcmp(q, "/models")) return RT_MODELS;
    if (!strncmp(q, "/v1/models/", 11) || !strncmp(q, "/models/", 8)) {
        const char *id = q + (q[1] == 'v' ? 11 : 8);
        od_strlcpy(c->model_id, id, sizeof c->model_id);
        return RT_MODEL_ID;
    }
    if (!strcmp(q, "/healthz") || !strcmp(q, "/health")) return RT_HEALTH;
    if (!strcmp(q, "/metrics")) return RT_METRICS;
    if (!strcmp(q, "/mcp")) return RT_MCP;
    if (!strcmp(q, "/sse")) return RT_MCP_SSE;
    return RT_NOTFOUND;
}

static int route_wants_post(int rt)
{
    return rt == RT_CHAT || rt == RT_MESSAGES || rt == RT_EMBED;
}

static void dispatch(gw_conn *c)
{
    gw_server *s = c->srv;
    int front = c->route == RT_MESSAGES ? GW_FRONT_ANTHROPIC : GW_FRONT_OPENAI;
    char id[25], rid[32];

    if (c->bad_method) {
        gw_conn_header(c, "allow", "%s", route_wants_post(c->route) ? "POST" : "GET");
        gw_send_error(c, front, NULL, 405, "method_not_allowed", "method not allowed on this path");
        return;
    }
    switch (c->route) {
    case RT_HEALTH: {
        const char *b = s->draining ? "{\"status\":\"draining\"}" : "{\"status\":\"ok\"}";
        gw_conn_respond(c, s->draining ? 503 : 200, "application/json", b, strlen(b));
        return;
    }
    case RT_METRICS: {
        char *m = s->shm ? gw_shm_metrics(s) : gw_metrics_render(s->metrics, s);
        gw_conn_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", m, strlen(m));
        free(m);
        return;
    }
    case RT_MODELS:
        gw_models(s, c, c->key, NULL);
        return;
    case RT_MODEL_ID:
        gw_models(s, c, c->key, c->model_id);
        return;
    case RT_MCP:
    case RT_MCP_SSE:
    case RT_MCP_MSG: {
        int t = c->route == RT_MCP ? GW_MCP_STREAMABLE : c->route == RT_MCP_SSE ? GW_MCP_SSE : GW_MCP_MESSAGES;
        gw_mcp_request(s, c, t, c->method, c->body.p ? c->body.p : "", c->body.len);
        return;
    }
    case RT_CHAT:
    case RT_MESSAGES:
    case RT_EMBED: {
        gw_incoming in = {
            .endpoint = c->route == RT_CHAT ? GW_EP_CHAT : c->route == RT_MESSAGES ? GW_EP_MESSAGES : GW_EP_EMBEDDINGS,
            .key = c->key,
            .body = c->body.p ? c->body.p : "",
            .len = c->body.len,
        };
        gw_call_start(s, c, &in);
        return;
    }
    default:
        od_request_id(id);
        snprintf(rid, sizeof rid, "req_%s", id);
        gw_conn_header(c, "x-odock-request-id", "%s", rid);
        gw_send_error(c, front, NULL, 404, "not_found", "no such endpoint");
        return;
    }
}

/* 413. Bodies up to GW_DISCARD_MAX are read and dropped first so the client,
 * still uploading, gets the answer; beyond that we answer and close. */
static void too_large(gw_conn *c, int close)
{
    c->close_after = close;
    if (c->route == RT_MCP || c->route == RT_MCP_MSG) {
        gw_mcp_too_large(c);
        return;
    }
    gw_send_error(c, c->route == RT_MESSAGES, NULL, 413, "request_too_large",
                  "request body exceeds max_body_bytes");
}

void gw_conn_gone(gw_conn *c)
{
    if (c->mcp_ref) {
        void *ref = c->mcp_ref;
        c->mcp_ref = NULL;
        gw_mcp_conn_gone(ref);
    }
    if (c->call) {
        gw_call *call = c->call;
        c->call = NULL;
        gw_call_client_gone(call);
    }
    if (c->fwd) {
        gw_fwd *f = c->fwd;
        c->fwd = NULL;
        gw_forward_gone(f);
    }
}

void gw_conn_open(gw_conn *c, const char *path, const char *method)
{
    char sid[80];
    c->route = route_of(c, path);
    int head = !strcmp(method, "HEAD");
    if (head) { /* GET's answer without its body; MCP streams have no HEAD */
        c->head_only = 1;
        method = c->route < RT_MCP ? "GET" : "OTHER";
    }
    c->post = !strcmp(method, "POST");
    int get = !strcmp(method, "GET");
    od_strlcpy(c->method, c->post || get || !strcmp(method, "DELETE") ? method : "OTHER", sizeof c->method);
    /* legacy MCP's POST /messages?sessionId=, not Anthropic's */
    if (c->route == RT_MESSAGES && gw_req_query(c, NULL, "sessionId", sid, sizeof sid) >= 0)
        c->route = RT_MCP_MSG;
    if (c->route != RT_NOTFOUND && c->route < RT_MCP)
        c->bad_method = route_wants_post(c->route) ? !c->post : !get;
    c->key = gw_req_key(c, NULL);
}

int gw_conn_start(gw_conn *c, int has_body, int64_t length)
{
    gw_server *s = c->srv;
    if (s->draining) {
        c->close_after = 1;
        gw_send_error(c, GW_FRONT_OPENAI, NULL, 503, "shutting_down", "the gateway is shutting down");
        return 1;
    }
    if (!has_body) {
        dispatch(c);
        return 1;
    }
    if (length > s->max_body) {
        c->too_large = 1;
        if (length > GW_DISCARD_MAX) {
            too_large(c, 1); /* not worth reading: answer now and close */
            return 1;
        }
        /* else read and drop it, so the client sees the answer */
    }
    return 0;
}

void gw_conn_body(gw_conn *c, const char *data, size_t len)
{
    if (c->responding)
        return;
    c->received += (int64_t)len;
    if (c->too_large || c->received > c->srv->max_body) {
        c->too_large = 1;
        od_buf_free(&c->body);
        if (c->received > GW_DISCARD_MAX)
            too_large(c, 1);
        return;
    }
    od_buf_put(&c->body, data, len);
}

void gw_conn_body_end(gw_conn *c)
{
    c->body_done = 1;
    if (c->responding)
        return;
    if (c->too_large) {
        too_large(c, 0);
        return;
    }
    dispatch(c);
}

/* (lws connections: TLS. Plain ones are h1serve.c's, which answers
 * pipelined requests in turn.)
 * A POST's BODY_COMPLETION again, in the same transaction: lws 4.1
 * read bytes after the body (a pipelined request) and offers them anew on
 * every loop turn until this transaction completes, calling BODY_COMPLETION
 * each time without reading them: a busy loop for as long as the answer
 * takes (a 60 s model call burns a core). Dispatched again, it was a second
 * call on one connection and a use after free; and once the transaction
 * completed, lws looped on the stashed request inside one service call for
 * ever (measured: two pipelined POSTs with a wrong key stopped the whole
 * server). So an answer already made goes out now; otherwise the work under
 * way is dropped as if the client had left and a 400 says why (a stream
 * under way just ends). Then the connection closes: clients retry
 * unanswered pipelined requests on a new connection. */
static int pipelined(gw_conn *c)
{
    static const char msg[] = "pipelined requests behind a request in progress are not supported: "
                              "wait for each answer, or use one connection per request";
    unsigned char buf[LWS_PRE + GW_WCHUNK];
    c->close_after = 1;
    if (!c->ended) {
        gw_conn_gone(c);
        if (c->responding)
            goto kill; /* a stream under way: it just ends */
        if (c->route == RT_MCP || c->route == RT_MCP_MSG)
            gw_mcp_error(c, 400, MCP_ERR_INVALID_REQUEST, msg, "pipelining_not_supported");
        else
            gw_send_error(c, c->route == RT_MESSAGES, NULL, 400, "pipelining_not_supported", msg);
    }
    /* the whole answer now: the connection closes when we return (lws
     * sends what the socket did not take before closing) */
    if (!c->headers_sent && write_headers(c) < 0)
        return -1;
    while (c->off < c->out.len && write_chunk(c, buf) == 0)
        ;
kill:
    /* closed from the next turn: a -1 here left a TLS connection spinning
     * in lws (on its still-buffered bytes) until the client closed */
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_CONTENT, LWS_TO_KILL_ASYNC);
    return 0;
}

/* lws' protocol callback: one gw_conn per HTTP transaction */
static int http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    gw_conn *c = user;
    od_loop_active(wsi);
    switch (reason) {
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
        hw_add(srv_of(wsi), wsi);
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        hw_del(srv_of(wsi), wsi);
        return 0;
    case LWS_CALLBACK_HTTP: {
        hw_del(srv_of(wsi), wsi);
        gw_server *s = srv_of(wsi);
        if (c->hup) /* a keep-alive's last stream ends unwatched; never leave a linked node behind */
            hup_unwatch(c);
        memset(c, 0, sizeof *c);
        c->wsi = wsi;
        c->srv = s;
        c->post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
        const char *m = c->post ? "POST" : lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0 ? "GET"
                        : lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI) > 0 ? "DELETE" : "OTHER";
        gw_conn_open(c, in ? (const char *)in : "/", m);
        int64_t v = 0;
        if (c->post) {
            char cl[32];
            int has_cl = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
            int has_te = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
            if (has_te && !has_cl) {
                /* lws 4.1 cannot read chunked request bodies: say so */
                c->close_after = 1;
                gw_send_error(c, c->route == RT_MESSAGES, NULL, 411, "length_required",
                              "chunked request bodies are not supported: send Content-Length");
                return 0;
            }
            /* a length lws would misread (it took "-5" as a body that never
             * ends, and the first of two differing ones), or one next to
             * Transfer-Encoding: where the body ends is unclear, so no body
             * is read and the connection closes (RFC 9112 6.3) */
            if (has_cl && (has_te || lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0 ||
                           od_parse_i64(cl, &v) != 0 || v < 0 ||
                           lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, 1) > 0)) {
                c->close_after = 1;
                gw_send_error(c, c->route == RT_MESSAGES, NULL, 400, "invalid_request",
                              has_te ? "both Content-Length and Transfer-Encoding: send only Content-Length"
                                     : "Content-Length: expected one non-negative integer");
                return 0;
            }
        }
        if (gw_conn_start(c, c->post, v) == 0) /* body must arrive within the header timeout (slow clients) */
            lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, s->t.header_timeout_s);
        else
            lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
        return 0;
    }
    case LWS_CALLBACK_HTTP_BODY:
        gw_conn_body(c, in, len);
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
        if (c->body_done)
            return pipelined(c);
        gw_conn_body_end(c);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return conn_write(c);
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (c && c->wsi) {
            gw_conn_gone(c);
            hup_unwatch(c);
            od_buf_free(&c->body);
            od_buf_free(&c->hdrs);
            od_buf_free(&c->out);
            free(c->key);
            c->key = NULL;
            c->wsi = NULL;
        }
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static struct lws_protocols protos[3];

const struct lws_protocols *gw_http_protocols(void)
{
    if (!protos[0].callback) {
        protos[0] = (struct lws_protocols){.name = "http", .callback = http_cb,
                                           .per_session_data_size = sizeof(gw_conn)};
        protos[1] = *gw_mcp_ws_protocol(); /* WebSocket /mcp/ws, subprotocol "mcp" */
    }
    return protos;
}
