/* mcp/upstream_ws.c — an upstream MCP server over WebSocket: one JSON-RPC
 * message per text frame, the same lifecycle as the other transports.
 * Config headers (with ${ENV} already interpolated) go on the handshake. */
#include "transport.h"
#include "../core/od.h"

#include <stdlib.h>
#include <string.h>

typedef struct ws_transport {
    mcp_transport base;
    od_ws *ws;
    mcp_transport_cbs cbs;
    void *ud;
    const char *name;
} ws_transport;

static void on_message(od_ws *w, const char *data, size_t len, void *ud)
{
    ws_transport *t = ud;
    (void)w;
    t->cbs.on_message(t->ud, data, len);
}

static void on_closed(od_ws *w, const char *why, void *ud)
{
    ws_transport *t = ud;
    (void)w;
    t->cbs.on_closed(t->ud, why);
}

static int ws_send(mcp_transport *base, const char *json, size_t len)
{
    ws_transport *t = (ws_transport *)base;
    return od_ws_send(t->ws, json, len);
}

static void ws_set_protocol(mcp_transport *base, const char *version)
{
    (void)base;
    (void)version; /* the version lives in the messages; no header to set */
}

static void ws_close(mcp_transport *base)
{
    ws_transport *t = (ws_transport *)base;
    od_ws_free(t->ws);
    free(t);
}

static const mcp_transport_ops WS_OPS = {
    .send = ws_send,
    .set_protocol = ws_set_protocol,
    .begin_close = NULL,
    .close = ws_close,
};

mcp_transport *mcp_ws_start(const mcp_transport_args *a, char **err)
{
    ws_transport *t = od_calloc(1, sizeof *t);
    t->base.ops = &WS_OPS;
    t->cbs = *a->cbs;
    t->ud = a->ud;
    t->name = a->cfg->name;
    char **headers = od_calloc((size_t)a->cfg->nheaders + 1, sizeof *headers);
    for (int i = 0; i < a->cfg->nheaders; i++) {
        od_buf h = {0};
        od_buf_printf(&h, "%s: %s", a->cfg->headers[i].key, a->cfg->headers[i].value);
        headers[i] = od_buf_take(&h);
    }
    static const od_ws_cbs cbs = {.on_message = on_message, .on_closed = on_closed};
    t->ws = od_ws_connect(a->loop, a->cfg->url, (const char *const *)headers, a->cfg->nheaders,
                          a->max_message, &cbs, t, err);
    for (int i = 0; i < a->cfg->nheaders; i++) free(headers[i]);
    free(headers);
    if (!t->ws) {
        free(t);
        return NULL;
    }
    return &t->base;
}
