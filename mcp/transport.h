/* mcp/transport.h — the client side of one upstream MCP connection.
 * The multiplexer sees only whole JSON-RPC message texts. Implementations:
 * stdio (child process), Streamable HTTP, legacy SSE, WebSocket. */
#ifndef MCP_TRANSPORT_H
#define MCP_TRANSPORT_H

#include <stddef.h>
#include "../core/config.h"
#include "../core/loop.h"

typedef struct mcp_transport mcp_transport;

typedef struct mcp_transport_cbs {
    /* one complete message text (not NUL-terminated) */
    void (*on_message)(void *ud, const char *text, size_t len);
    /* the connection is gone (process exited, stream failed). Called at most
     * once; the transport does nothing more after it, and the owner frees it
     * with close() later, never from inside this callback. */
    void (*on_closed)(void *ud, const char *why);
} mcp_transport_cbs;

typedef struct mcp_transport_ops {
    /* queues one message; 0 ok, -1 when the connection is gone */
    int (*send)(mcp_transport *t, const char *json, size_t len);
    /* HTTP transports need the negotiated version for their header */
    void (*set_protocol)(mcp_transport *t, const char *version);
    /* optional: start stopping without waiting (stdio: close the child's
     * stdin), so that several upstreams wind down in parallel */
    void (*begin_close)(mcp_transport *t);
    /* stops and frees; a child process is asked to exit (stdin closed,
     * then SIGTERM, then SIGKILL) and reaped */
    void (*close)(mcp_transport *t);
} mcp_transport_ops;

struct mcp_transport {
    const mcp_transport_ops *ops;
};

typedef struct mcp_transport_args {
    od_loop *loop;
    const od_mcp_cfg *cfg;
    size_t max_message;
    const mcp_transport_cbs *cbs;
    void *ud;
} mcp_transport_args;

/* NULL with *err set (caller frees) when it cannot even start. */
mcp_transport *mcp_stdio_start(const mcp_transport_args *a, char **err);
mcp_transport *mcp_http_start(const mcp_transport_args *a, char **err);  /* http, sse */
mcp_transport *mcp_ws_start(const mcp_transport_args *a, char **err);    /* websocket */

#endif
