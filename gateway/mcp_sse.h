/* gateway/mcp_sse.h — the pure parts of MCP over HTTP (no sockets): the
 * per-session SSE replay buffer behind Last-Event-ID, SSE event framing,
 * and the Origin / Host checks against DNS rebinding. Unit-tested in
 * tests/unit/test_mcp_http.c. */
#ifndef GW_MCP_SSE_H
#define GW_MCP_SSE_H

#include <stddef.h>
#include <stdint.h>

#include "../core/od.h"

/* ---- replay buffer: the last events a session sent, on any of its streams ----
 * Bounded by a count and by bytes; the oldest go first. Event ids (seq) are
 * increasing per session; stream says which response stream carried one, so a
 * client resuming after event N gets what followed N on that same stream. */
typedef struct gw_replay_ev {
    int64_t seq;
    int stream;
    char *text;       /* the whole SSE event, framing included */
    size_t len;
} gw_replay_ev;

typedef struct gw_replay {
    gw_replay_ev *v;  /* ring of cap slots */
    int cap, head, n; /* head: oldest */
    size_t bytes, max_bytes;
} gw_replay;

void gw_replay_init(gw_replay *r, int max_events, size_t max_bytes);
void gw_replay_free(gw_replay *r);
/* Copies text. An event larger than max_bytes is not kept. */
void gw_replay_push(gw_replay *r, int64_t seq, int stream, const char *text, size_t len);
/* The stream that carried event seq, or -1 when it is not (or no longer) kept. */
int gw_replay_stream_of(const gw_replay *r, int64_t seq);
/* Calls fn for each kept event of stream after seq, oldest first; returns
 * how many. */
typedef void (*gw_replay_fn)(void *ud, const char *text, size_t len);
int gw_replay_since(const gw_replay *r, int64_t after, int stream, gw_replay_fn fn, void *ud);

/* ---- SSE framing ---- */
/* "id: <seq>\n" (when seq > 0) "event: <event>\n" (when event) "data: <data>\n\n";
 * data must hold no newline (compact JSON never does). */
void gw_sse_event(od_buf *out, int64_t seq, const char *event, const char *data, size_t len);
/* Parses a Last-Event-ID value: our ids are decimal; -1 when it is not one. */
int64_t gw_sse_parse_id(const char *s);

/* ---- DNS-rebinding protection ----
 * An Origin is allowed when its host is a loopback name (localhost,
 * 127.0.0.1, [::1], any port, http or https) or it equals, scheme and port
 * included, one entry of allowed (comma-separated origins, "*" allows all;
 * may be NULL). "null" (opaque origins) is refused. */
int gw_origin_allowed(const char *origin, const char *allowed);
/* A Host header names a loopback host (any port). */
int gw_host_is_loopback(const char *host);
/* Loopback, or listed in allowed (comma-separated "host" or "host:port",
 * "*" allows all; may be NULL). */
int gw_host_allowed(const char *host, const char *allowed);
/* Whether an Accept header value lists a media type (case-insensitive),
 * or a wildcard that covers it. */
int gw_accepts(const char *accept, const char *type);

#endif
