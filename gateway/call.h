/* gateway/call.h — private to gateway/: one LLM request in flight, shared by
 * the pipeline (chat.c), the attempt machinery (upstream.c) and the stream
 * writer (stream.c). */
#ifndef GW_CALL_H
#define GW_CALL_H

#include <stdarg.h>
#include "gw.h"

enum { GW_T_NONE = 0, GW_T_BACKOFF, GW_T_MOCK, GW_T_TTFT };

struct gw_call {
    gw_server *s;
    gw_conn *conn;              /* NULL once the client is gone */
    int ep, front;
    od_req r;
    cJSON *body;                /* normalized OpenAI-shaped request */
    char model[256];            /* as the client wrote it */
    const od_model_cfg *alias;  /* NULL for PROVIDER/MODEL */
    gw_plan plan;
    int pi;                     /* current deployment in plan */
    int tries_here;             /* attempts on plan.deps[pi] */
    gw_dep *dep;
    int dep_begun;              /* no health verdict on dep yet */
    int dep_counted;            /* counted in dep->inflight */
    int stream, include_usage;
    int admitted, attempted, finished;
    int64_t est_prompt, est_tokens;
    od_price_cfg price;         /* of the deployment that answers */
    /* one attempt */
    od_http *http;
    od_timer timer;
    int timer_kind;
    od_timer deadline;          /* the whole request (request_timeout_ms) */
    int64_t attempt_t0;
    int up_status, retry_after_s;
    od_buf up;                  /* whole body (non-stream) or error body */
    prov_stream *ps;
    const prov_adapter *ps_ad;  /* the adapter that made ps */
    prov_sse sse;
    prov_usage usage;
    int stream_done, got_event;
    prov_mock_result mock;
    int mock_live, mock_i;
    /* last failure */
    int last_status, last_timeout, last_retry_after;
    char last_err[200];
    /* client side of a stream */
    int paused;
    int64_t out_chars;          /* completion characters streamed */
    prov_astream *as;
    od_buf tmp;
    gw_call *next, *prev;
};

/* chat.c */
void gw_call_finish(gw_call *c);
void gw_call_fail(gw_call *c, int status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void gw_call_add_headers(gw_call *c);
void gw_call_settle(gw_call *c, const prov_usage *u);
void gw_call_respond_json(gw_call *c, cJSON *resp); /* takes resp */
int gw_dep_price(gw_call *c, gw_dep *d, od_price_cfg *out);

/* upstream.c */
void gw_attempt_next(gw_call *c);
void gw_attempt_reset(gw_call *c);
void gw_mock_pump(gw_call *c); /* a paused mock stream may go on */

/* stream.c */
void gw_stream_chunk(void *ud, const cJSON *chunk); /* prov_chunk_fn */
void gw_stream_finish(gw_call *c);                  /* upstream finished well */
void gw_stream_error(gw_call *c, int status, const char *reason, const char *message);

/* http.c */
void gw_conn_set_call(gw_conn *conn, gw_call *call);

#endif
