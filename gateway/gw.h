/* gateway/gw.h — private to gateway/: the server, the HTTP front's
 * connection API, the request pipeline, routing and metrics. */
#ifndef GW_H
#define GW_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "../core/config.h"
#include "../core/loop.h"
#include "../core/json.h"
#include "../core/od.h"
#include "../policies/pol.h"
#include "../providers/prov.h"
#include "gateway.h"

#define GW_HIGH_WATER (256 * 1024) /* client send buffer above: pause the upstream */
#define GW_LOW_WATER (32 * 1024)   /* below: resume */

typedef struct gw_conn gw_conn;
typedef struct gw_call gw_call;
typedef struct gw_router gw_router;
typedef struct gw_metrics gw_metrics;
typedef struct gw_mcp gw_mcp;
typedef struct gw_fwd gw_fwd;

/* Tunables: the config's "router" section, overridable by ODOCK_<NAME>. */
typedef od_router_cfg gw_tuning;

struct gw_server {
    od_config *cfg;
    pol_engine *pol;
    od_loop *loop;
    gw_router *router;
    gw_metrics *metrics;
    gw_tuning t;
    od_timer tick;
    int draining;
    int64_t drain_deadline_us;
    int inflight;             /* calls alive */
    gw_call *calls;           /* every live call */
    int64_t max_body;
    char listen[256];
    void *head_waits;         /* http.c: connections whose request head is due */
    gw_mcp *mcp;              /* mcp_http.c: MCP over HTTP, one shared multiplexer */
    int worker, nworkers;     /* workers.c: this worker's index, of how many (1: none) */
    int fwd_port;             /* workers other than 0: worker 0's internal port for MCP */
    long fwd_idle_ms;         /* a relay silent this long is given up */
    gw_fwd *fwds;             /* forward.c: live relays */
    gw_conn *hup_conns;       /* http.c: connections with a hang-up watch */
    struct gw_h1s *h1_conns;  /* h1serve.c: its connections */
    struct gw_h1s *h1_ready;  /* h1serve.c: connections with something to write */
    od_timer h1_flush;        /* h1serve.c: writes them before the loop polls again */
    const char *mcp_origins;  /* mcp_http.c: Origin and Host allowed on MCP paths */
    const char *mcp_hosts;
    int mcp_check_host;       /* the listener is loopback: Host is checked too */
    gw_shm *shm;              /* workers.c: shared between workers; NULL alone */
    int64_t shm_sig;          /* workers.c: what the last published exposition showed */
    int64_t shm_next_us;      /* no publish before (a large exposition is published less often) */
};

extern volatile sig_atomic_t gw_signalled;

/* ---------------- HTTP front (http.c) ---------------- */
enum { GW_FRONT_OPENAI = 0, GW_FRONT_ANTHROPIC = 1 };

const struct lws_protocols *gw_http_protocols(void);
/* Drops connections whose request head is overdue (all: every idle one). */
void gw_http_sweep(gw_server *s, int all);
/* Response headers added before the response starts: name without ':'. */
void gw_conn_header(gw_conn *c, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void gw_conn_header_str(gw_conn *c, const char *name, const char *value);
void gw_conn_header_int(gw_conn *c, const char *name, int64_t value);
/* Whole response; copies body. The call is detached from the conn after. */
void gw_conn_respond(gw_conn *c, int status, const char *ctype, const char *body, size_t len);
/* Streamed (chunked) response. */
void gw_conn_stream_start(gw_conn *c, int status, const char *ctype);
void gw_conn_stream_write(gw_conn *c, const char *data, size_t len);
void gw_conn_stream_end(gw_conn *c);
size_t gw_conn_pending(const gw_conn *c);
/* Hands the conn back: no more callbacks to call. */
void gw_conn_detach(gw_conn *c);
int gw_conn_streaming(const gw_conn *c);

/* A request header (name in lower case, no colon) copied into buf: its
 * length, 0 when absent (buf ""), -1 when it does not fit. Of c, or (c NULL)
 * of lws's wsi, for a WebSocket handshake. */
struct lws;
int gw_req_header(gw_conn *c, struct lws *wsi, const char *name, char *buf, size_t n);
/* A query argument's value (name without '='): its length; -1 when absent
 * or too long */
int gw_req_query(gw_conn *c, struct lws *wsi, const char *name, char *buf, size_t n);
/* The presented key: Authorization (Bearer), x-api-key or api-key; a new
 * string (a secret: never logged), or NULL */
char *gw_req_key(gw_conn *c, struct lws *wsi);
/* For mcp_http.c: the presented key, and a reference handed to
 * gw_mcp_conn_gone when the client goes (NULL unbinds). */
const char *gw_conn_key(const gw_conn *c);
void gw_conn_bind(gw_conn *c, void *ref);
void gw_conn_bind_forward(gw_conn *c, gw_fwd *f);
const char *gw_conn_method(const gw_conn *c); /* "GET", "POST", "DELETE", "OTHER" */
/* A long stream (SSE) also watches its socket, so a client that hangs up is
 * noticed at once (lws 4.1 does not, see http.c); ends with the stream. */
void gw_conn_watch_hangup(gw_conn *c);
/* Before the loop goes: drops every hang-up watch (the loop frees them). */
void gw_http_unwatch_all(gw_server *s);

/* ---------------- forwarding to worker 0 (forward.c) ---------------- */
/* /mcp, /sse, /messages?sessionId= on a worker other than 0: relayed to
 * worker 0's internal socket, its answer streamed back. */
void gw_forward(gw_server *s, gw_conn *c, int transport, const char *body, size_t len);
void gw_forward_gone(gw_fwd *f);    /* the client went away */
void gw_forward_drained(gw_fwd *f); /* the client caught up: resume */
void gw_forward_abort_all(gw_server *s); /* shutdown: ends every relay */

/* ---------------- MCP over HTTP (mcp_http.c) ---------------- */
enum { GW_MCP_STREAMABLE = 1, GW_MCP_SSE, GW_MCP_MESSAGES };
/* The shared multiplexer: created with the loop, freed before it. */
void gw_mcp_start(gw_server *s);
void gw_mcp_stop(gw_server *s);
int gw_mcp_pending(gw_server *s); /* tool calls and other requests in flight: drained on shutdown */
void gw_mcp_drain(gw_server *s);   /* stopping: held initializes answered now */
/* /mcp (GW_MCP_STREAMABLE), GET /sse, POST /messages?sessionId= */
void gw_mcp_request(gw_server *s, gw_conn *c, int transport, const char *method,
                    const char *body, size_t len);
void gw_mcp_too_large(gw_conn *c);          /* 413 as a JSON-RPC error */
/* An answer of a JSON-RPC error with error.data.reason (reason may be NULL). */
void gw_mcp_error(gw_conn *c, int status, int code, const char *msg, const char *reason);
/* Every worker's MCP front: the Origin/Host policy (before gw_mcp_start). */
void gw_mcp_front_init(gw_server *s);
void gw_mcp_conn_gone(void *ref);
const struct lws_protocols *gw_mcp_ws_protocol(void); /* "mcp": /mcp/ws */

/* ---------------- errors (errors.c) ---------------- */
/* OpenAI shape {"error":{"message","type","code"}} or Anthropic's
 * {"type":"error","error":{"type","message"}}; new string. */
char *gw_error_body(int front, int status, const char *code, const char *message);
const char *gw_error_type(int status);          /* OpenAI error.type */
const char *gw_anthropic_error_type(int status); /* Anthropic error.type */
/* Sends an error response (with request-id and rate-limit headers from r
 * when given). */
void gw_send_error(gw_conn *c, int front, const od_req *r, int status, const char *code,
                   const char *message);

/* ---------------- the pipeline (chat.c) ---------------- */
enum { GW_EP_CHAT = 1, GW_EP_MESSAGES, GW_EP_EMBEDDINGS };
typedef struct gw_incoming {
    int endpoint;
    const char *key;      /* presented key, may be NULL */
    const char *body;
    size_t len;
} gw_incoming;
/* Starts a call for conn; it answers through the gw_conn_* API. */
void gw_call_start(gw_server *s, gw_conn *c, const gw_incoming *in);
/* The client went away: cancel upstream work, charge what was generated. */
void gw_call_client_gone(gw_call *call);
/* The client drained its send buffer: resume a paused upstream. */
void gw_call_drained(gw_call *call);
/* Shutdown after the drain deadline: ends every live call. */
void gw_calls_abort_all(gw_server *s);
/* GET /v1/models and /v1/models/{id}. */
void gw_models(gw_server *s, gw_conn *c, const char *key, const char *id);

/* ---------------- routing (route.c) ---------------- */
typedef struct gw_dep {
    char name[256];            /* "provider/model" */
    const od_provider_cfg *prov;
    const prov_adapter *ad;
    const char *model;         /* points into name */
    int inflight;
    int64_t ewma_us;           /* moving average latency (first byte); 0 unknown */
    int consecutive_failures;
    int64_t open_until_us;     /* circuit open until (mono) */
    int probing;               /* half-open: a probe is in flight */
    int64_t cool_until_us;     /* 429 cool-down */
} gw_dep;

#define GW_MAX_PLAN 16
typedef struct gw_plan {
    gw_dep *deps[GW_MAX_PLAN];
    int n;
} gw_plan;

gw_router *gw_router_new(const od_config *cfg, const gw_tuning *t);
void gw_router_free(gw_router *r);
/* The deployment for provider/model (created on first use; NULL when the
 * provider is unknown or has no adapter). */
gw_dep *gw_router_dep(gw_router *r, const char *provider, const char *model);
/* Orders the alias's deployments by its strategy, circuits considered. */
void gw_router_plan(gw_router *r, const od_model_cfg *m, gw_plan *out);
/* Whether a deployment may be tried now (closed circuit, or a half-open probe). */
int gw_dep_available(gw_router *r, gw_dep *d, int64_t now_us);
/* begin/end bracket an attempt (in-flight count, for least-busy: a stream
 * counts until it ends); success/failure are the health verdict. */
void gw_dep_begin(gw_dep *d);
void gw_dep_end(gw_dep *d);
void gw_dep_success(gw_router *r, gw_dep *d, int64_t latency_us);
void gw_dep_failure(gw_router *r, gw_dep *d, int retry_after_s);

/* ---------------- metrics (metrics.c) ---------------- */
gw_metrics *gw_metrics_new(void);
void gw_metrics_free(gw_metrics *m);
/* one finished request */
void gw_metrics_request(gw_metrics *m, const od_req *r, const char *model, int64_t ttft_us);
void gw_metrics_upstream_error(gw_metrics *m, const char *provider, const char *kind);
void gw_metrics_failover(gw_metrics *m, const char *model);
void gw_metrics_retry(gw_metrics *m, const char *provider);
/* Prometheus text exposition; new string. */
char *gw_metrics_render(gw_metrics *m, gw_server *s);
/* Sums n expositions (one per worker) into one; no_gauges leaves gauges
 * out (the counters a dead worker leaves behind); new string. */
char *gw_metrics_merge(const char *const *texts, int n, int no_gauges);
int64_t gw_metrics_gen(const gw_metrics *m); /* moves with every change */

/* ---------------- several workers (workers.c) ---------------- */
/* Publishes this worker's exposition for the others (every tick). */
void gw_shm_publish(gw_server *s);
/* Every worker's expositions summed; new string. */
char *gw_shm_metrics(gw_server *s);
pol_rl_shm *gw_shm_rl(gw_shm *m);




#endif
