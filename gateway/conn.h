/* gateway/conn.h — private to http.c and h1serve.c: one HTTP request on
 * either transport. A connection is lws's (TLS, and WebSocket upgrades) or
 * ours (h1serve.c, plain TCP); routes, bodies and the response API are the
 * same for both (http.c), only reading and writing differ. */
#ifndef GW_CONN_H
#define GW_CONN_H

#include "call.h"

typedef struct gw_h1s gw_h1s;

enum {
    RT_NONE = 0, RT_CHAT, RT_MESSAGES, RT_EMBED, RT_MODELS, RT_MODEL_ID,
    RT_HEALTH, RT_METRICS, RT_NOTFOUND, RT_MCP, RT_MCP_SSE, RT_MCP_MSG
};

struct gw_conn {
    struct lws *wsi;      /* lws's connection, or NULL */
    gw_h1s *h1;           /* ours (h1serve.c), or NULL */
    gw_server *srv;
    int route, post, bad_method;
    int head_only;        /* HEAD: the GET answer's headers only */
    int unchunked;        /* an HTTP/1.0 client: a stream ends with the connection */
    char model_id[256];
    char *key;            /* presented key: a secret, never logged */
    od_buf body;
    int64_t received;
    int too_large;
    gw_call *call;
    /* response */
    int responding, status;
    char ctype[48];
    od_buf hdrs;          /* "name: value\n" lines */
    int streaming, headers_sent, ended;
    od_buf out;
    size_t off;
    int close_after;
    int body_done;        /* BODY_COMPLETION seen: a second one means pipelining */
    int was_paused_notice; /* pending crossed the high-water mark */
    char method[8];       /* MCP routes take several */
    void *mcp_ref;        /* mcp_http.c's stream bound to this conn */
    gw_fwd *fwd;          /* forward.c: relayed to worker 0 */
    od_fd *hup;           /* hang-up watch of a long stream (gw_conn_watch_hangup) */
    gw_conn *hnext, *hprev; /* srv->hup_conns */
};

/* http.c, for both transports. A request opens with its path (decoded, no
 * query) and method: route, method and key are set. The transport checks
 * its framing, then gw_conn_start: 1 when no body is to be read (the
 * request is dispatched or answered: draining, too large to read), 0 when
 * its bytes go to gw_conn_body and gw_conn_body_end dispatches it. */
void gw_conn_open(gw_conn *c, const char *path, const char *method);
int gw_conn_start(gw_conn *c, int has_body, int64_t length);
void gw_conn_body(gw_conn *c, const char *data, size_t len);
void gw_conn_body_end(gw_conn *c);
/* whatever works for c's request is told the client left */
void gw_conn_gone(gw_conn *c);
/* the answer's header lines, "name: value\r\n" each (ours and content-type) */
void gw_conn_put_headers(const gw_conn *c, od_buf *b);

/* h1serve.c */
void gw_h1s_adopt(od_loop *l, int fd); /* od_loop_opts.on_plain */
void gw_h1s_close_all(gw_server *s);
void gw_h1s_sweep(gw_server *s, int all);
void gw_h1s_kick(gw_h1s *h);  /* c has something to write */
int gw_h1s_header(gw_h1s *h, const char *name, char *buf, size_t n);
int gw_h1s_query(gw_h1s *h, const char *name, char *buf, size_t n);

#endif
