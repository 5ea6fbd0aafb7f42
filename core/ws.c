/* core/ws.c — WebSocket client connections on the loop (lws client role).
 * Messages to send wait in a queue and go out one per WRITEABLE callback;
 * received fragments are joined into whole messages. */
#include "loop.h"
#include "loop_int.h"
#include "od.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WS_MAGIC 0x0d5c11e7u

typedef struct ws_msg {
    struct ws_msg *next;
    size_t len;
    unsigned char data[]; /* LWS_PRE bytes of room, then the text */
} ws_msg;

struct od_ws {
    unsigned magic;
    od_loop *l;
    struct lws *wsi;
    od_ws_cbs cbs;
    void *ud;
    char **headers;
    int nheaders;
    size_t max_message;
    od_buf rx;
    ws_msg *q, *q_tail;
    int open, closed;
    int connecting;       /* inside od_ws_connect: failures are returned, not called back */
    char why[256];
    char host[256], path[1024];
    char proto[64];       /* Sec-WebSocket-Protocol asked for, "" none */
    char origin[512];     /* Origin sent, "" = the host */
};

static void ws_closed(od_ws *w, const char *why)
{
    if (w->closed) return;
    w->closed = 1;
    w->open = 0;
    w->wsi = NULL;
    od_strlcpy(w->why, why, sizeof w->why);
    if (!w->connecting && w->cbs.on_closed) w->cbs.on_closed(w, why, w->ud);
}

static od_ws *ws_of(struct lws *wsi)
{
    od_ws *w = wsi ? lws_get_opaque_user_data(wsi) : NULL;
    return w && w->magic == WS_MAGIC ? w : NULL;
}

int od_ws_lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    od_ws *w = ws_of(wsi);
    od_loop_active(wsi);
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        if (!w) break;
        unsigned char **p = in, *end = *p + len;
        for (int i = 0; i < w->nheaders; i++) {
            const char *h = w->headers[i], *colon = strchr(h, ':');
            if (!colon) continue;
            char name[128];
            size_t n = (size_t)(colon - h);
            if (n + 2 > sizeof name) continue;
            memcpy(name, h, n);
            name[n] = ':';
            name[n + 1] = '\0';
            const char *v = colon + 1;
            while (*v == ' ') v++;
            if (lws_add_http_header_by_name(wsi, (const unsigned char *)name, (const unsigned char *)v,
                                            (int)strlen(v), p, end))
                return -1;
        }
        break;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (!w) return -1;
        w->open = 1;
        if (w->cbs.on_open) w->cbs.on_open(w, w->ud);
        if (w->q && w->wsi) lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (!w) return -1;
        if (lws_is_first_fragment(wsi)) od_buf_reset(&w->rx);
        if (w->rx.len + len > w->max_message) {
            lws_set_opaque_user_data(wsi, NULL);
            ws_closed(w, "message larger than the limit");
            return -1;
        }
        od_buf_put(&w->rx, in, len);
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            if (w->cbs.on_message) w->cbs.on_message(w, w->rx.p ? w->rx.p : "", w->rx.len, w->ud);
            od_buf_reset(&w->rx);
        }
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        if (!w) return -1;
        ws_msg *m = w->q;
        if (!m) break;
        if (lws_write(wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT) < (int)m->len) {
            lws_set_opaque_user_data(wsi, NULL);
            ws_closed(w, "write failed");
            return -1;
        }
        w->q = m->next;
        if (!w->q) w->q_tail = NULL;
        free(m);
        if (w->q) lws_callback_on_writable(wsi);
        break;
    }
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (w) {
            char why[256];
            snprintf(why, sizeof why, "websocket connection failed: %s", in ? (const char *)in : "unknown");
            lws_set_opaque_user_data(wsi, NULL);
            ws_closed(w, why);
        }
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
        if (w) {
            lws_set_opaque_user_data(wsi, NULL);
            ws_closed(w, "websocket closed by the server");
        }
        break;
    default:
        break;
    }
    (void)user;
    return 0;
}

od_ws *od_ws_connect(od_loop *l, const char *url, const char *const *headers, int nheaders,
                     size_t max_message, const od_ws_cbs *cbs, void *ud, char **err)
{
    int tls;
    const char *rest;
    if (!strncmp(url, "ws://", 5)) {
        tls = 0;
        rest = url + 5;
    } else if (!strncmp(url, "wss://", 6)) {
        tls = 1;
        rest = url + 6;
    } else {
        if (err) *err = od_strdup("websocket URL must start with ws:// or wss://");
        return NULL;
    }
    od_ws *w = od_calloc(1, sizeof *w);
    w->magic = WS_MAGIC;
    w->l = l;
    w->cbs = *cbs;
    w->ud = ud;
    w->max_message = max_message ? max_message : 4 * 1024 * 1024;
    const char *slash = strchr(rest, '/');
    size_t hl = slash ? (size_t)(slash - rest) : strlen(rest);
    if (hl == 0 || hl >= sizeof w->host) {
        if (err) *err = od_strdup("websocket URL has no host");
        free(w);
        return NULL;
    }
    memcpy(w->host, rest, hl);
    od_strlcpy(w->path, slash ? slash : "/", sizeof w->path);
    int port = tls ? 443 : 80;
    char *colon = strrchr(w->host, ':');
    char address[256];
    od_strlcpy(address, w->host, sizeof address);
    if (colon && !strchr(colon, ']')) {
        port = atoi(colon + 1);
        address[colon - w->host] = '\0';
    }
    w->headers = od_calloc((size_t)nheaders + 1, sizeof *w->headers);
    for (int i = 0; i < nheaders; i++) {
        /* lws writes these three itself (and checks the subprotocol in the
         * answer): they set its fields instead of adding lines */
        static const struct { const char *name; size_t off, size; } own[] = {
            {"sec-websocket-protocol:", offsetof(od_ws, proto), sizeof(((od_ws *)0)->proto)},
            {"origin:", offsetof(od_ws, origin), sizeof(((od_ws *)0)->origin)},
            {"host:", offsetof(od_ws, host), sizeof(((od_ws *)0)->host)},
        };
        size_t k = 0;
        for (; k < sizeof own / sizeof own[0]; k++)
            if (!strncasecmp(headers[i], own[k].name, strlen(own[k].name)))
                break;
        if (k < sizeof own / sizeof own[0]) {
            const char *v = headers[i] + strlen(own[k].name);
            while (*v == ' ') v++;
            snprintf((char *)w + own[k].off, own[k].size, "%s", v);
            continue;
        }
        w->headers[w->nheaders++] = od_strdup(headers[i]);
    }

    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = od_loop_lws(l);
    ci.vhost = od_loop_vhost(l);
    ci.address = address;
    ci.port = port;
    ci.path = w->path;
    ci.host = w->host;
    ci.origin = w->origin[0] ? w->origin : w->host;
    ci.ssl_connection = tls ? LCCSCF_USE_SSL : 0;
    ci.local_protocol_name = OD_WS_PROTO;
    ci.protocol = w->proto[0] ? w->proto : NULL;
    ci.opaque_user_data = w;
    ci.pwsi = &w->wsi;
    w->connecting = 1;
    struct lws *wsi = lws_client_connect_via_info(&ci);
    w->connecting = 0;
    if (!wsi || w->closed) {
        /* lws may have reported the failure through the callback already */
        if (wsi && !w->closed) lws_set_opaque_user_data(wsi, NULL);
        w->wsi = NULL;
        if (err) *err = od_strdup(w->closed ? w->why : "cannot start the websocket connection");
        od_ws_free(w);
        return NULL;
    }
    return w;
}

int od_ws_send(od_ws *w, const char *text, size_t len)
{
    if (w->closed) return -1;
    ws_msg *m = od_malloc(sizeof *m + LWS_PRE + len);
    m->next = NULL;
    m->len = len;
    memcpy(m->data + LWS_PRE, text, len);
    if (w->q_tail) w->q_tail->next = m;
    else w->q = m;
    w->q_tail = m;
    if (w->open && w->wsi) lws_callback_on_writable(w->wsi);
    return 0;
}

void od_ws_free(od_ws *w)
{
    if (!w) return;
    if (w->wsi) {
        /* lws owns the wsi: detach it from us and let it close on its own */
        lws_set_opaque_user_data(w->wsi, NULL);
        lws_set_timeout(w->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
    }
    for (ws_msg *m = w->q, *n; m; m = n) {
        n = m->next;
        free(m);
    }
    for (int i = 0; i < w->nheaders; i++) free(w->headers[i]);
    free(w->headers);
    od_buf_free(&w->rx);
    w->magic = 0;
    free(w);
}
