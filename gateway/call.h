/* gateway/call.h — private to gateway/: one LLM request in flight, shared by
 * the pipeline (chat.c), the attempt machinery (upstream.c) and the stream
 * writer (stream.c). */
#ifndef GW_CALL_H
#define GW_CALL_H

#include <stdarg.h>
#include "gw.h"

enum { GW_T_NONE = 0, GW_T_BACKOFF, GW_T_MOCK, GW_T_TTFT };

typedef struct gw_sg gw_sg;

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
    const char *raw;            /* the upstream's event being handled, when it is itself an OpenAI chunk */
    size_t raw_len;
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
    /* /v1/messages: the client's Anthropic body (inspected, masked) is kept
     * for the passthrough to anthropic deployments; body is its translation
     * for the others (NULL when it has no OpenAI form: xlate_err says why) */
    cJSON *abody;
    char *xlate_err;
    char anth_version[64];      /* client's anthropic-version, "" none */
    char *anth_beta;            /* client's anthropic-beta, NULL none */
    int native;                 /* this attempt is the Anthropic passthrough */
    int nstream;                /* ... and its event stream is being relayed */
    int native_err_sent;        /* the upstream's own error event went out */
    char stream_err[200];       /* an upstream error event before the first byte */
    /* streamed-output guardrails (stream.c); NULL when none apply */
    gw_sg *sg;
    int guard_blocked;          /* set inside upstream callbacks; see gw_stream_guard_end */
    gw_call *next, *prev;
};

/* chat.c */
void gw_call_finish(gw_call *c);
void gw_call_fail(gw_call *c, int status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void gw_call_add_headers(gw_call *c);
void gw_call_settle(gw_call *c, const prov_usage *u);
void gw_call_settle_partial(gw_call *c); /* a stream cut short */
void gw_call_respond_json(gw_call *c, cJSON *resp); /* takes resp */
int gw_dep_price(gw_call *c, gw_dep *d, od_price_cfg *out);
/* Passthrough answer: msg is the parsed upstream message (taken), raw its
 * bytes, relayed as they are unless output guardrails changed something. */
void gw_call_respond_native(gw_call *c, cJSON *msg, const char *raw, size_t rawlen);

/* upstream.c */
void gw_attempt_next(gw_call *c);
void gw_attempt_reset(gw_call *c);
void gw_mock_pump(gw_call *c); /* a paused mock stream may go on */

/* stream.c */
void gw_stream_chunk(void *ud, const cJSON *chunk); /* prov_chunk_fn */
void gw_stream_finish(gw_call *c);                  /* upstream finished well */
void gw_stream_error(gw_call *c, int status, const char *reason, const char *message);
/* One upstream event of a passthrough Anthropic stream: relayed as it came
 * (text deltas through the output guardrails). 1 after message_stop. */
int gw_stream_native_event(gw_call *c, const char *event, const char *data, size_t len);
/* Streamed-output guardrails: NULL when no output guardrail applies. The
 * chunk callbacks never end the call (they run inside upstream callbacks):
 * on a block they set c->guard_blocked, and the caller, once out of its
 * loop, calls gw_stream_guard_end, which ends the stream (c is freed). */
gw_sg *gw_sg_new(gw_call *c);
void gw_sg_reset(gw_sg *g); /* a new attempt: what was held is dropped */
void gw_sg_free(gw_sg *g);
void gw_stream_guard_end(gw_call *c);

/* http.c */
void gw_conn_set_call(gw_conn *conn, gw_call *call);

#endif
