/* gateway/forward.c — with several workers, MCP sessions live in worker 0
 * (they own the upstream MCP servers and the session state). A /mcp, /sse or
 * /messages request that lands on another worker is relayed to worker 0's
 * internal socket (plain HTTP on loopback) with the headers MCP reads, and
 * the answer comes back as it arrives: SSE streams chunk by chunk, JSON
 * answers whole. Worker 0 authenticates and governs as for any request. */
#include "gw.h"
#include "../mcp/jsonrpc.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <libwebsockets.h>

#define FWD_MAX_ANSWER (64L * 1024 * 1024)
#define FWD_CONNECT_MS 2000
#define FWD_MAX_HEADER 8192

struct gw_fwd {
    gw_server *s;
    gw_conn *c;        /* NULL once the client is gone */
    od_http *h;
    int sse;           /* answer is text/event-stream: relayed as it comes */
    int counted;       /* a request (not a GET stream): in s->inflight, drained on shutdown */
    int status;
    char ctype[64];
    od_buf body;       /* a non-SSE answer, sent whole at the end */
    gw_fwd *next, *prev; /* s->fwds */
};

/* request headers MCP reads, relayed as they came */
static const char *const RELAY[] = {"content-type", "accept", "origin", "host",
                                    "mcp-session-id", "mcp-protocol-version", "last-event-id"};

/* response headers not relayed: our own framing decides them */
static int hop_by_hop(const char *name, size_t n)
{
    static const char *const skip[] = {"connection", "transfer-encoding", "content-length", "content-type",
                                       "keep-alive", "date", "server", "cache-control"};
    for (size_t i = 0; i < OD_ARRAY_LEN(skip); i++)
        if (strlen(skip[i]) == n && !strncasecmp(name, skip[i], n))
            return 1;
    return 0;
}

static void fwd_free(gw_fwd *f)
{
    gw_server *s = f->s;
    if (f->prev) f->prev->next = f->next;
    else s->fwds = f->next;
    if (f->next) f->next->prev = f->prev;
    if (f->counted)
        s->inflight--;
    if (f->c)
        gw_conn_bind_forward(f->c, NULL);
    od_buf_free(&f->body);
    free(f);
}

static void fail(gw_fwd *f, const char *why)
{
    od_warn("odock serve: forwarding to worker 0 failed: %s", why);
    if (!f->c)
        return;
    gw_conn_header(f->c, "retry-after", "1");
    gw_mcp_error(f->c, 503, MCP_ERR_UPSTREAM, "MCP sessions are unavailable: retry shortly", "upstream_unavailable");
}

static int on_headers(od_http *h, int status, const char *headers, void *ud)
{
    gw_fwd *f = ud;
    (void)h;
    f->status = status;
    for (const char *p = headers; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        if (colon && strncmp(p, "HTTP/", 5)) {
            size_t nn = (size_t)(colon - p);
            const char *v = colon + 1;
            const char *end = p + len;
            while (v < end && *v == ' ') v++;
            while (end > v && (end[-1] == '\r' || end[-1] == ' ')) end--;
            if (nn == 12 && !strncasecmp(p, "content-type", 12)) {
                snprintf(f->ctype, sizeof f->ctype, "%.*s", (int)(end - v), v);
            } else if (!hop_by_hop(p, nn) && f->c) {
                char name[64];
                if (nn < sizeof name) {
                    for (size_t i = 0; i < nn; i++) name[i] = (char)tolower((unsigned char)p[i]);
                    name[nn] = 0;
                    gw_conn_header(f->c, name, "%.*s", (int)(end - v), v);
                }
            }
        }
        p = nl ? nl + 1 : p + len;
    }
    f->sse = !strncasecmp(f->ctype, "text/event-stream", 17);
    if (f->sse && f->c) {
        gw_conn_stream_start(f->c, status, f->ctype);
        gw_conn_watch_hangup(f->c);
    }
    return f->c ? 0 : -1;
}

static int on_data(od_http *h, const char *data, size_t len, void *ud)
{
    gw_fwd *f = ud;
    if (!f->c)
        return -1;
    if (!f->sse) {
        od_buf_put(&f->body, data, len);
        return 0;
    }
    gw_conn_stream_write(f->c, data, len);
    if (gw_conn_pending(f->c) > GW_HIGH_WATER)
        od_http_pause(h, 1);
    return 0;
}

static void on_done(od_http *h, int status, const char *err, int timed_out, void *ud)
{
    gw_fwd *f = ud;
    (void)h;
    (void)timed_out;
    f->h = NULL;
    if (f->c) {
        if (f->sse)
            gw_conn_stream_end(f->c); /* an error mid-stream: the client sees the stream end */
        else if (err)
            fail(f, err);
        else
            gw_conn_respond(f->c, f->status ? f->status : status, f->ctype[0] ? f->ctype : "application/json",
                            f->body.p ? f->body.p : "", f->body.len);
    }
    fwd_free(f);
}

static const od_http_cbs CBS = {on_headers, on_data, on_done};

void gw_forward(gw_server *s, gw_conn *c, int transport, const char *body, size_t len)
{
    char url[256], v[FWD_MAX_HEADER];
    const char *hdrs[OD_ARRAY_LEN(RELAY) + 1];
    char *lines[OD_ARRAY_LEN(RELAY) + 1];
    int n = 0;
    /* every header MCP reads goes along whole, or the request does not go:
     * a Host dropped for its length would pass worker 0's Host check */
    for (size_t i = 0; i < OD_ARRAY_LEN(RELAY); i++) {
        if (gw_req_header(c, NULL, RELAY[i], v, sizeof v) < 0) {
            gw_mcp_error(c, 431, MCP_ERR_INVALID_REQUEST, "Request header too large", "request_too_large");
            return;
        }
    }
    gw_fwd *f = od_calloc(1, sizeof *f);
    f->s = s;
    f->c = c;
    f->next = s->fwds;
    if (f->next) f->next->prev = f;
    s->fwds = f;
    /* a request is drained on shutdown; a GET stream lasts the session */
    f->counted = strcmp(gw_conn_method(c), "GET") != 0;
    if (f->counted)
        s->inflight++;

    if (transport == GW_MCP_MESSAGES) {
        /* session ids are [A-Za-z0-9-] */
        char sid[80] = "";
        if (gw_req_query(c, NULL, "sessionId", sid, sizeof sid) < 0)
            sid[0] = 0;
        const char *id = sid;
        for (const char *p = id; *p; p++)
            if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
                id = "invalid";
        snprintf(url, sizeof url, "http://127.0.0.1:%d/messages?sessionId=%s", s->fwd_port, id);
    } else {
        snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->fwd_port,
                 transport == GW_MCP_SSE ? "/sse" : "/mcp");
    }
    for (size_t i = 0; i < OD_ARRAY_LEN(RELAY); i++)
        if (gw_req_header(c, NULL, RELAY[i], v, sizeof v) > 0)
            lines[n++] = od_strdup_printf("%s: %s", RELAY[i], v);
    /* the key, however the client sent it (a secret: never logged) */
    const char *key = gw_conn_key(c);
    if (key)
        lines[n++] = od_strdup_printf("authorization: Bearer %s", key);
    for (int i = 0; i < n; i++)
        hdrs[i] = lines[i];
    od_http_req req = {
        .method = gw_conn_method(c),
        .url = url,
        .headers = hdrs,
        .nheaders = n,
        .body = len ? body : NULL,
        .body_len = len,
        .connect_timeout_ms = FWD_CONNECT_MS,
        /* worker 0 answers by the slowest tool's timeout and pings its
         * streams every 15 s: silence past this means it is stuck */
        .idle_timeout_ms = s->fwd_idle_ms,
        .max_response_bytes = FWD_MAX_ANSWER,
    };
    gw_conn_bind_forward(c, f);
    f->h = od_http_start(s->loop, &req, &CBS, f);
    for (int i = 0; i < n; i++)
        free(lines[i]);
    if (!f->h) {
        fail(f, "cannot start the request");
        fwd_free(f);
    }
}

void gw_forward_gone(gw_fwd *f)
{
    f->c = NULL;
    if (f->h) {
        od_http_cancel(f->h);
        f->h = NULL;
    }
    fwd_free(f);
}

void gw_forward_drained(gw_fwd *f)
{
    if (f->h)
        od_http_pause(f->h, 0);
}

void gw_forward_abort_all(gw_server *s)
{
    while (s->fwds) {
        gw_fwd *f = s->fwds;
        if (f->h) {
            od_http_cancel(f->h);
            f->h = NULL;
        }
        if (f->c) {
            if (f->sse)
                gw_conn_stream_end(f->c);
            else
                gw_mcp_error(f->c, 503, MCP_ERR_INTERNAL, "the gateway is shutting down", "shutting_down");
        }
        fwd_free(f);
    }
}
