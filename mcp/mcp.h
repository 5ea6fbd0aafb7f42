/* mcp/mcp.h — the MCP multiplexer: one MCP server (downstream) in front of
 * every configured MCP server (upstream), with governance on every call.
 *
 * ---- Model ----
 * A mux owns the upstream connections (one per od_config.mcp_servers entry)
 * and is shared by every downstream session attached to it: upstream
 * processes and HTTP sessions are SHARED, never one per downstream session.
 * `odock mcp` (stdio) has exactly one session, so there the upstreams are
 * initialized with that client's protocol version and offered exactly the
 * client capabilities (sampling, elicitation, roots) that client declared.
 * With opts.shared = 1 (`odock serve`'s /mcp: many sessions), upstreams are
 * initialized with the latest protocol version and offered all of them; a
 * server->client request is forwarded to the session whose call caused it
 * (the most recent in-flight call to that upstream) and refused with -32601
 * when that session did not declare the capability.
 *
 * Upstreams start on the first downstream `initialize` (concurrently); the
 * initialize answer waits until each has started or failed, at most
 * opts.startup_wait_ms. A failed, timed-out or crashed upstream is logged,
 * its tools vanish (notifications/tools/list_changed goes to every session),
 * it restarts with exponential backoff (1 s .. 30 s), and the others go on.
 *
 * Governance (when opts.pol is set): tools/call, resources/read and
 * prompts/get each run authenticate -> authorize ("server/tool") -> inspect
 * arguments -> reserve (server price_micros) -> upstream -> inspect results
 * (mask in place, or block) -> settle -> record, exactly one ledger event per
 * call, denials included. Denials are JSON-RPC errors with code -32001 and
 * error.data = {"reason": "<stable reason>"}. tools/list and prompts/list
 * only show what pol_allowed() lets the session's key use.
 *
 * ---- Session API (for the HTTP front: /mcp, /sse + /messages, /mcp/ws) ----
 *   s = mcp_session_new(mux, presented_key, send, ud);
 *   mcp_session_handle(s, body, len);   // one JSON-RPC message or a batch
 *   ... send(ud, json, len, kind) is called for every message to the client:
 *       synchronously from inside mcp_session_handle (errors, cached answers)
 *       or later from the loop (upstream answers, notifications, server->
 *       client requests). kind tells responses (MCP_OUT_RESPONSE, with id_text
 *       naming the request it answers; MCP_OUT_BATCH for a batch answer) from
 *       requests and notifications, so a Streamable HTTP POST can end its
 *       stream once every request it carried is answered
 *       (mcp_session_pending(s) == 0 for a one-POST-at-a-time client).
 *   mcp_session_free(s);                // in-flight calls are cancelled
 *                                       // upstream and recorded client_closed
 * Never call mcp_session_free from inside send. mcp_session_id() gives the
 * value for the Mcp-Session-Id header. All on the loop thread.
 */
#ifndef MCP_MCP_H
#define MCP_MCP_H

#include <stddef.h>
#include "../core/config.h"
#include "../core/loop.h"

struct pol_engine;
typedef struct mcp_mux mcp_mux;
typedef struct mcp_session mcp_session;

/* Protocol versions odock speaks, newest first. */
extern const char *const mcp_protocol_versions[];
#define MCP_PROTOCOL_LATEST "2025-11-25"
/* Negotiation: the client's version when supported, else the latest. */
const char *mcp_protocol_negotiate(const char *requested);
int mcp_protocol_supported(const char *v);

typedef struct mcp_mux_opts {
    od_loop *loop;
    const od_config *cfg;         /* mcp_servers; must outlive the mux */
    struct pol_engine *pol;       /* NULL: no governance (tests only) */
    size_t max_message_bytes;     /* 0: 4 MiB, both directions */
    int startup_wait_ms;          /* 0: 20000 */
    int shared;                   /* see above */
} mcp_mux_opts;

mcp_mux *mcp_mux_new(const mcp_mux_opts *o);
/* Fails in-flight calls, stops every upstream (children are reaped). Free
 * every session first. */
void mcp_mux_free(mcp_mux *m);

enum { MCP_OUT_RESPONSE = 1, MCP_OUT_REQUEST, MCP_OUT_NOTIFICATION, MCP_OUT_BATCH };
typedef void (*mcp_send_fn)(void *ud, const char *json, size_t len, int kind,
                            const char *id_text);

mcp_session *mcp_session_new(mcp_mux *m, const char *presented_key,
                             mcp_send_fn send, void *ud);
void mcp_session_handle(mcp_session *s, const char *text, size_t len);
/* The same for a front that has parsed text already (to route it): j is
 * mcp_rpc_parse's result for exactly text, borrowed and left unchanged.
 * Saves parsing each message twice on the hot path. */
struct cJSON;
void mcp_session_handle_parsed(mcp_session *s, const char *text, size_t len, const struct cJSON *j);
void mcp_session_free(mcp_session *s);
const char *mcp_session_id(const mcp_session *s);      /* 32 hex */
const char *mcp_session_protocol(const mcp_session *s); /* "" before initialize */
int mcp_session_pending(const mcp_session *s);         /* requests not yet answered */
/* Answer to "Message too large" framing errors found by a transport (the
 * stdio line splitter): sends the JSON-RPC error for it. */
void mcp_session_too_large(mcp_session *s);
/* an initialize still waiting for slow servers is answered now with an
 * error saying why (the gateway is stopping: its drain waits for every
 * pending answer, and servers may take startup_wait_ms to settle) */
void mcp_session_refuse_initialize(mcp_session *s, const char *why);

#endif
