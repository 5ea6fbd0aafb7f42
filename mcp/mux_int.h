/* mcp/mux_int.h — internals shared by mux.c (upstreams, in-flight calls,
 * catalogs) and session.c (the downstream side). Not a public API. */
#ifndef MCP_MUX_INT_H
#define MCP_MUX_INT_H

#include <stdint.h>
#include <cjson/cJSON.h>

#include "../core/json.h"
#include "../core/od.h"
#include "../policies/pol.h"
#include "jsonrpc.h"
#include "mcp.h"
#include "names.h"
#include "transport.h"

typedef struct mcp_upstream mcp_upstream;
typedef struct mcp_call mcp_call;
typedef struct mcp_batch mcp_batch;
typedef struct mcp_fan mcp_fan;
typedef struct mcp_srvreq mcp_srvreq;

enum { UP_DOWN = 0, UP_STARTING, UP_READY, UP_BACKOFF };

struct mcp_upstream {
    mcp_mux *mux;
    int idx;
    const od_mcp_cfg *cfg;
    mcp_transport *t;
    mcp_transport *dead_t;   /* closed from a timer, never inside its callback */
    int state;
    int settled;             /* the first start attempt has finished */
    int failures;            /* for backoff; reset once ready */
    int gen;                 /* bumps on each start: stale answers are dropped */
    int64_t next_id;
    char proto[16];
    cJSON *caps, *info;
    cJSON *tools, *prompts;  /* arrays of the upstream's own definitions */
    int fetching, refetch_tools, refetch_prompts;
    char *fail_why;          /* deferred on_closed */
    od_timer restart_timer, reap_timer, fail_timer;
};

typedef struct mcp_entry {   /* one tool or prompt in the merged catalog */
    int up;
    const char *orig;        /* borrowed from the upstream's definition */
    cJSON *def;
    char exposed[MCP_NAME_MAX + 1];
} mcp_entry;

enum { CALL_OK = 0, CALL_UPSTREAM_ERROR, CALL_TIMEOUT, CALL_CRASH, CALL_CANCELLED };
/* result or error (exactly one) is set unless why is CALL_CANCELLED */
typedef void (*mcp_call_done)(mcp_call *c, int why, cJSON *result, cJSON *error);

struct mcp_call {
    mcp_call *next, *prev;
    mcp_mux *mux;
    mcp_upstream *up;
    int gen;
    int64_t up_id;
    char method[48];
    mcp_session *s;          /* NULL for odock's own calls */
    cJSON *down_id;          /* owned */
    mcp_batch *batch;
    mcp_call_done done;
    void *ctx;
    cJSON *progress_down;    /* owned: the client's progress token */
    int64_t progress_up;
    od_req *req;             /* governed calls: owned */
    int64_t price;
    unsigned inspect_where;  /* results inspection; 0 = none */
    int64_t timeout_us;
    od_timer timer;
    const char *raw;         /* while done runs: the upstream's answer as written, if one message */
    size_t raw_len;
};

struct mcp_srvreq {          /* a server->client request in flight */
    mcp_srvreq *next, *prev;
    mcp_session *s;
    mcp_upstream *up;
    int gen;
    cJSON *up_id;
    char down_id[32];
};

struct mcp_mux {
    mcp_mux_opts o;
    const od_config *cfg;
    pol_engine *pol;
    mcp_upstream *ups;
    int nups;
    int started;
    char proto[16];          /* offered to upstreams */
    cJSON *client_caps;      /* offered to upstreams */
    mcp_call *calls;
    mcp_srvreq *srvreqs;
    mcp_session *sessions;
    mcp_entry *tools; int ntools;
    mcp_entry *prompts; int nprompts;
    int64_t next_progress, next_srvreq;
    int page_size;
    int log_level;           /* told to the upstreams: the most verbose any session asked (0 none yet, else 1 + index) */
};

struct mcp_batch {
    int outstanding;         /* starts at 1: the dispatcher's own guard */
    cJSON *arr;
};

struct mcp_fan {             /* resources/list etc. over every upstream */
    mcp_fan *next;
    mcp_session *s;          /* NULL once the session is gone */
    mcp_batch *batch;
    cJSON *down_id;
    const char *key;         /* "resources" | "resourceTemplates" */
    int outstanding;
    int offset;
    cJSON **per_up;          /* nper slots, owned */
    int nper;
};

struct mcp_session {
    mcp_session *next, *prev;
    mcp_mux *mux;
    char id[33];
    char *key;
    mcp_send_fn send;
    void *ud;
    int initialized;         /* initialize answered */
    char proto[16];
    cJSON *client_caps;
    cJSON *init_id;          /* initialize waiting for upstreams */
    mcp_batch *init_batch;
    od_timer init_timer;
    mcp_fan *fans;
    int pending;
    int64_t in_len;          /* bytes of the message being handled (the ledger's bytes_in) */
    char **queued;           /* what came while initialize was waiting */
    int nqueued;
    char **subs;             /* resources/subscribe URIs, as the client wrote them */
    int nsubs;
    int log_level;           /* logging/setLevel: 0 not set, else 1 + index in MCP_LOG_LEVELS */
};

/* session.c, used by mux.c: whether s subscribed to uri (the client's
 * form; the grant was checked when it did) */
int session_subscribed(mcp_session *s, const char *uri);
/* whether a server log at level (its "level" string) is for s: at or above
 * the level s set, or any when it set none */
int session_wants_log(const mcp_session *s, const char *level);
/* the name of a level as kept in log_level (1 + index) */
const char *session_log_level_name(int level);

/* ---- mux.c, used by session.c ---- */
void mux_start(mcp_mux *m, const char *proto, const cJSON *client_caps);
int mux_all_settled(const mcp_mux *m);
mcp_call *mux_call_new(mcp_mux *m, mcp_upstream *up, const char *method, mcp_call_done done);
/* sends the request (params taken); the call may complete synchronously:
 * don't touch c afterwards */
void mux_call_send(mcp_call *c, cJSON *params);
/* finishes a call (stops its timer, unlinks, calls done, frees) */
void mux_call_finish(mcp_call *c, int why, cJSON *result, cJSON *error);
void mux_call_cancel_upstream(mcp_call *c, const char *reason);
int mux_send_up(mcp_upstream *up, cJSON *msg);   /* msg not taken */
void mux_answer_srvreq(mcp_mux *m, mcp_session *s, mcp_msg *msg);
void mux_forget_session(mcp_mux *m, mcp_session *s);
cJSON *mux_caps_for_client(const mcp_mux *m);
void mux_fan_free(mcp_fan *f);
/* exposed URI -> owning upstream and the upstream's URI (borrowed) */
mcp_upstream *mux_uri_owner(mcp_mux *m, const char *uri, const char **orig);
/* rewrite every URI of an upstream's result for the client */
int mux_wrap_uris(mcp_upstream *up, cJSON *node, int depth); /* how many it rewrote */
const mcp_entry *mux_find(const mcp_entry *v, int n, const char *exposed);
typedef void (*mcp_fetch_fn)(void *ctx, int up_idx, cJSON *items);
void mux_fetch_all(mcp_upstream *up, const char *method, const char *key, mcp_fetch_fn cb, void *ctx);

/* ---- session.c, used by mux.c ---- */
int64_t session_reply(mcp_session *s, mcp_batch *b, cJSON *msg); /* msg taken; returns the bytes sent */
void session_notify(mcp_session *s, cJSON *msg);                /* msg not taken */
int session_sees_server(mcp_session *s, int up); /* may its key use a tool or prompt of ups[up]? */
void session_send_request(mcp_session *s, cJSON *msg);          /* msg not taken */
void session_upstreams_settled(mcp_session *s);
int session_has_cap(const mcp_session *s, const char *cap);

#endif
