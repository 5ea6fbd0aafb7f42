/* gateway/upstream.c — attempts: one upstream call (HTTP through the loop's
 * curl multi, or the in-process mock), retries with backoff and jitter on
 * the same deployment, failover to the next, TTFT timeout for streams.
 * Provider credentials exist only inside the prov_http built here and are
 * handed straight to curl. Waits are od_timers, never sleeps. */
#include "call.h"

#include <strings.h>
#include <string.h>

static void start_attempt(gw_call *c);
static void mock_step(gw_call *c);
static void native_done(gw_call *c);

static void timer_cb(od_timer *t, void *ud);

static void arm(gw_call *c, int kind, int64_t ms)
{
    c->timer_kind = kind;
    od_timer_start(c->s->loop, &c->timer, ms * 1000, timer_cb, c);
}

void gw_attempt_reset(gw_call *c)
{
    od_buf_free(&c->up);
    prov_sse_free(&c->sse);
    if (c->ps && c->ps_ad)
        c->ps_ad->stream_free(c->ps);
    c->ps = NULL;
    c->ps_ad = NULL;
    prov_mock_result_free(&c->mock);
    c->mock_live = 0;
    c->mock_i = 0;
    memset(&c->usage, 0, sizeof c->usage);
    c->nstream = 0;
    c->stream_err[0] = 0;
    gw_sg_reset(c->sg);
    c->stream_done = 0;
    c->got_event = 0;
    c->up_status = 0;
    c->retry_after_s = 0;
}

static int retry_after_of(const char *headers)
{
    for (const char *l = headers; l && *l;) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        if (n > 12 && !strncasecmp(l, "retry-after:", 12)) {
            const char *v = l + 12;
            while (*v == ' ') v++;
            int secs = 0, digits = 0;
            while (*v >= '0' && *v <= '9' && secs < 86400) {
                secs = secs * 10 + (*v++ - '0');
                digits++;
            }
            return digits ? (secs > 0 ? secs : 1) : 1; /* an HTTP date: wait a little */
        }
        l = nl ? nl + 1 : NULL;
    }
    return 0;
}

static void release_dep(gw_call *c)
{
    if (c->dep && c->dep_begun) {
        c->dep->probing = 0;
        c->dep_begun = 0;
    }
    if (c->dep && c->dep_counted) {
        gw_dep_end(c->dep);
        c->dep_counted = 0;
    }
}

static void fail_final(gw_call *c)
{
    int st = 502;
    const char *reason = OD_R_UPSTREAM_ERROR;
    const char *prov = c->r.provider[0] ? c->r.provider : "upstream";
    if (c->last_timeout) {
        st = 504;
        reason = OD_R_UPSTREAM_TIMEOUT;
    } else if (c->last_status == 429) {
        st = 429;
        c->r.retry_after_s = c->last_retry_after > 0 ? c->last_retry_after : 1;
    } else if (c->last_status == 400 || c->last_status == 404 || c->last_status == 413 ||
               c->last_status == 422) {
        st = c->last_status;
    }
    c->r.error = 1;
    if (c->last_status == 401 || c->last_status == 403)
        gw_call_fail(c, st, reason, "%s rejected the gateway's provider credentials (HTTP %d)", prov,
                     c->last_status);
    else if (c->last_status)
        gw_call_fail(c, st, reason, "%s: %s (HTTP %d, %d attempts)", prov, c->last_err, c->last_status,
                     c->r.attempts);
    else
        gw_call_fail(c, st, reason, "%s: %s (%d attempts)", prov, c->last_err, c->r.attempts);
}

static int64_t backoff_ms(gw_call *c, int retry_after_s)
{
    const gw_tuning *t = &c->s->t;
    int64_t ms = (int64_t)t->retry_base_ms << (c->tries_here > 1 ? (c->tries_here - 1 > 10 ? 10 : c->tries_here - 1) : 0);
    uint32_t rnd = 0;
    od_random_bytes(&rnd, sizeof rnd);
    ms = ms * 3 / 4 + (int64_t)(rnd % (uint32_t)(ms / 2 + 1)); /* +-25% */
    if (retry_after_s > 0 && (int64_t)retry_after_s * 1000 > ms)
        ms = (int64_t)retry_after_s * 1000;
    if (ms > t->retry_max_ms)
        ms = t->retry_max_ms;
    return ms;
}

static void failover(gw_call *c)
{
    c->pi++;
    c->tries_here = 0;
    gw_metrics_failover(c->s->metrics, c->model);
    gw_attempt_next(c);
}

static void attempt_failed(gw_call *c, int status, const char *err, int timed_out, int retry_after)
{
    gw_server *s = c->s;
    gw_dep *d = c->dep;
    if (c->timer_kind == GW_T_TTFT) {
        od_timer_stop(&c->timer);
        c->timer_kind = GW_T_NONE;
    }
    if (c->dep_begun) {
        gw_dep_failure(s->router, d, status == 429 ? (retry_after > 0 ? retry_after : 1) : 0);
        c->dep_begun = 0;
    }
    if (c->dep_counted) {
        gw_dep_end(d);
        c->dep_counted = 0;
    }
    const char *kind = timed_out ? "timeout" : status == 0 ? "connection" : status == 429 ? "rate_limited"
                       : status >= 500 ? "server_error" : "client_error";
    gw_metrics_upstream_error(s->metrics, d->prov->name, kind);
    c->last_status = status;
    c->last_timeout = timed_out;
    c->last_retry_after = retry_after;
    od_strlcpy(c->last_err, err ? err : "error", sizeof c->last_err);
    od_info("%s: attempt %d on %s failed: %s%s", c->r.id, c->r.attempts, d->name, c->last_err,
            timed_out ? " (timeout)" : "");

    if (c->conn && gw_conn_streaming(c->conn)) {
        /* bytes already went to the client: no failover; end the stream with
         * an error event and charge what was generated */
        gw_call_settle_partial(c);
        c->r.error = 1;
        gw_call_fail(c, timed_out ? 504 : 502, timed_out ? OD_R_UPSTREAM_TIMEOUT : OD_R_UPSTREAM_ERROR,
                     "upstream failed mid-stream: %s", c->last_err);
        return;
    }
    gw_attempt_reset(c);
    if (!c->conn) {
        gw_call_finish(c);
        return;
    }
    int retryable = status == 0 || timed_out || status == 408 || status == 409 || status == 429 || status >= 500;
    if (!retryable || c->r.attempts >= s->t.max_attempts) {
        fail_final(c);
        return;
    }
    int has_next = 0;
    int64_t now = od_mono_us();
    for (int i = c->pi + 1; i < c->plan.n; i++)
        has_next = 1;
    int open = d->open_until_us > now;
    if (status == 429 && has_next) {
        failover(c); /* rate limited there: someone else can answer now */
        return;
    }
    if (!open && c->tries_here <= d->prov->max_retries) {
        gw_metrics_retry(s->metrics, d->prov->name);
        arm(c, GW_T_BACKOFF, backoff_ms(c, retry_after));
        return;
    }
    if (has_next) {
        failover(c);
        return;
    }
    fail_final(c);
}

/* ---------------- HTTP upstream ---------------- */

static int up_headers(od_http *h, int status, const char *headers, void *ud)
{
    gw_call *c = ud;
    (void)h;
    c->up_status = status;
    c->retry_after_s = retry_after_of(headers);
    if (c->stream && status >= 200 && status < 300 && c->ep != GW_EP_EMBEDDINGS) {
        if (c->native) {
            c->nstream = 1; /* events relayed as they come (stream.c) */
        } else {
            c->ps = c->dep->ad->stream_new(c->dep->model);
            c->ps_ad = c->dep->ad;
        }
    }
    return 0;
}

static int sse_cb(void *ud, const char *event, const char *data, size_t len)
{
    gw_call *c = ud;
    if (c->stream_done)
        return 0;
    if (c->nstream) {
        if (gw_stream_native_event(c, event, data, len) == 1)
            c->stream_done = 1;
        return c->guard_blocked; /* stop feeding: up_data ends the call */
    }
    /* an OpenAI-shaped upstream's event is the chunk itself: gw_stream_chunk
     * relays its bytes as they came when nothing in it changes */
    if (c->ps_ad->chunks_verbatim) {
        c->raw = data;
        c->raw_len = len;
    }
    int rc = c->ps_ad->stream_event(c->ps, event, data, len, gw_stream_chunk, c, &c->usage);
    c->raw = NULL;
    if (rc == 1)
        c->stream_done = 1;
    else if (rc < 0)
        od_debug("%s: unreadable upstream event skipped", c->r.id);
    return c->guard_blocked;
}

static int up_data(od_http *h, const char *d, size_t n, void *ud)
{
    gw_call *c = ud;
    (void)h;
    if (c->ps || c->nstream) {
        prov_sse_feed(&c->sse, d, n, sse_cb, c);
        if (c->guard_blocked) {
            gw_stream_guard_end(c); /* c is gone */
            return -1;
        }
        return 0;
    }
    od_buf_put(&c->up, d, n);
    return 0;
}

/* A whole answer was read: the deployment is healthy, and the call settles
 * at its usage (estimated from the bytes when the upstream reported none). */
static void answer_read(gw_call *c, prov_usage *u)
{
    gw_dep_success(c->s->router, c->dep, od_mono_us() - c->attempt_t0);
    c->dep_begun = 0;
    if (!u->seen) {
        u->prompt_tokens = c->est_prompt;
        u->completion_tokens = (int64_t)c->up.len / 4;
    }
    c->usage = *u;
    gw_call_settle(c, u);
}

static void up_done(od_http *h, int status, const char *err, int timed_out, void *ud)
{
    gw_call *c = ud;
    (void)h;
    c->http = NULL;
    if (c->timer_kind == GW_T_TTFT) {
        od_timer_stop(&c->timer);
        c->timer_kind = GW_T_NONE;
    }
    if ((c->ps || c->nstream) && c->stream_done) {
        gw_stream_finish(c); /* a reset after the end is no failure */
        return;
    }
    if (err) {
        attempt_failed(c, 0, err, timed_out, 0);
        return;
    }
    if (status < 200 || status >= 300) {
        char *m = c->dep->ad->error_message ? c->dep->ad->error_message(status, c->up.p, c->up.len) : NULL;
        attempt_failed(c, status, m ? m : "upstream error", 0, c->retry_after_s);
        free(m);
        return;
    }
    if (c->ps || c->nstream) {
        char msg[256];
        if (c->stream_err[0])
            snprintf(msg, sizeof msg, "upstream error event: %s", c->stream_err);
        attempt_failed(c, 0, c->stream_err[0] ? msg : c->got_event ? "upstream stream ended before it finished"
                                                                   : "upstream stream ended before any event", 0, 0);
        return;
    }
    prov_usage u;
    char *perr = NULL;
    memset(&u, 0, sizeof u);
    if (c->native) {
        native_done(c);
        return;
    }
    const prov_adapter *ad = c->dep->ad;
    cJSON *resp = c->ep == GW_EP_EMBEDDINGS
                      ? ad->embed_response(c->dep->model, c->up.p ? c->up.p : "", c->up.len, &u, &perr)
                      : ad->chat_response(c->dep->model, c->up.p ? c->up.p : "", c->up.len, &u, &perr);
    if (!resp) {
        char msg[200];
        snprintf(msg, sizeof msg, "unreadable upstream answer: %s", perr ? perr : "?");
        free(perr);
        attempt_failed(c, 0, msg, 0, 0);
        return;
    }
    free(perr);
    answer_read(c, &u);
    od_buf_free(&c->up);
    gw_call_respond_json(c, resp);
}

/* A whole passthrough answer: read its usage, keep its bytes. */
static void native_done(gw_call *c)
{
    cJSON *msg = od_json_parse(c->up.p, c->up.len, NULL);
    const cJSON *t = od_jget(msg, "type");
    if (!cJSON_IsObject(msg) || !cJSON_IsString(t) || strcmp(t->valuestring, "message") ||
        !cJSON_IsArray(od_jget(msg, "content"))) {
        cJSON_Delete(msg);
        attempt_failed(c, 0, "unreadable upstream answer: not an Anthropic message", 0, 0);
        return;
    }
    prov_usage u;
    memset(&u, 0, sizeof u);
    prov_anthropic_usage(od_jget(msg, "usage"), &u);
    answer_read(c, &u);
    od_buf raw = c->up; /* ours now: respond may finish the call */
    memset(&c->up, 0, sizeof c->up);
    gw_call_respond_native(c, msg, raw.p ? raw.p : "", raw.len);
    od_buf_free(&raw);
}

static const od_http_cbs up_cbs = {.on_headers = up_headers, .on_data = up_data, .on_done = up_done};

/* ---------------- the mock: in-process, delays on timers ---------------- */

static void start_mock(gw_call *c)
{
    gw_dep *d = c->dep;
    if (c->ep == GW_EP_EMBEDDINGS) {
        cJSON *resp = NULL;
        prov_usage u;
        memset(&u, 0, sizeof u);
        if (prov_mock_embed(d->model, c->body, &resp, &u) < 0 || !resp) {
            release_dep(c);
            gw_call_fail(c, 400, OD_R_BAD_REQUEST, "input: expected a string or an array");
            return;
        }
        gw_dep_success(c->s->router, d, od_mono_us() - c->attempt_t0);
        c->dep_begun = 0;
        c->usage = u;
        gw_call_settle(c, &u);
        gw_call_respond_json(c, resp);
        return;
    }
    if (prov_mock_chat(d->model, c->body, c->stream, &c->mock) < 0) {
        char msg[200];
        od_strlcpy(msg, c->mock.error ? c->mock.error : "bad request", sizeof msg);
        release_dep(c);
        gw_attempt_reset(c);
        gw_call_fail(c, 400, OD_R_BAD_REQUEST, "%s", msg);
        return;
    }
    c->mock_live = 1;
    c->mock_i = 0;
    if (c->mock.delay_ms > 0) {
        arm(c, GW_T_MOCK, c->mock.delay_ms);
        return;
    }
    mock_step(c);
}

static void mock_step(gw_call *c)
{
    prov_mock_result *m = &c->mock;
    if (m->status != 200) {
        char err[200];
        int st = m->status, ra = m->retry_after_s;
        od_strlcpy(err, m->error ? m->error : "mock failure", sizeof err);
        attempt_failed(c, st, err, 0, ra);
        return;
    }
    if (!c->stream) {
        cJSON *resp = m->response;
        m->response = NULL;
        c->usage = m->usage;
        c->mock_live = 0;
        gw_dep_success(c->s->router, c->dep, od_mono_us() - c->attempt_t0);
        c->dep_begun = 0;
        gw_call_settle(c, &c->usage);
        gw_call_respond_json(c, resp);
        return;
    }
    if (!c->conn)
        return;
    while (c->mock_i < m->nchunks) {
        gw_stream_chunk(c, m->chunks[c->mock_i++]);
        if (c->guard_blocked) {
            gw_stream_guard_end(c); /* c is gone */
            return;
        }
        if (c->finished || !c->conn)
            return;
        if (gw_conn_pending(c->conn) > GW_HIGH_WATER) {
            c->paused = 1; /* gw_call_drained -> gw_mock_pump */
            return;
        }
        if (m->chunk_delay_ms > 0 && c->mock_i < m->nchunks) {
            arm(c, GW_T_MOCK, m->chunk_delay_ms);
            return;
        }
    }
    c->usage = m->usage;
    c->stream_done = 1;
    c->mock_live = 0;
    gw_stream_finish(c);
}

void gw_mock_pump(gw_call *c)
{
    if (c->mock_live && c->timer_kind == GW_T_NONE)
        mock_step(c);
}

/* ---------------- attempts ---------------- */

static void timer_cb(od_timer *t, void *ud)
{
    gw_call *c = ud;
    int k = c->timer_kind;
    (void)t;
    c->timer_kind = GW_T_NONE;
    switch (k) {
    case GW_T_BACKOFF:
        gw_attempt_next(c);
        break;
    case GW_T_MOCK:
        mock_step(c);
        break;
    case GW_T_TTFT:
        if (c->http && !c->got_event) {
            od_http_cancel(c->http);
            c->http = NULL;
            attempt_failed(c, 0, "no first token within the TTFT timeout", 1, 0);
        }
        break;
    default:
        break;
    }
}

/* This deployment cannot take the request (its adapter refused it): the
 * next one may; it is no attempt and no verdict on the deployment. */
static void build_failed(gw_call *c, const char *why)
{
    char msg[256];
    od_strlcpy(msg, why, sizeof msg);
    release_dep(c);
    c->r.attempts--;
    if (c->pi + 1 < c->plan.n) {
        failover(c);
        return;
    }
    gw_call_fail(c, 400, OD_R_BAD_REQUEST, "%s", msg);
}

static void start_attempt(gw_call *c)
{
    gw_server *s = c->s;
    gw_dep *d = c->plan.deps[c->pi];
    if (gw_dep_price(c, d, &c->price) < 0) {
        failover(c); /* unpriced and unpriced models are denied: skip it */
        return;
    }
    c->dep = d;
    c->attempted = 1;
    c->r.attempts++;
    c->tries_here++;
    od_strlcpy(c->r.provider, d->prov->name, sizeof c->r.provider);
    od_strlcpy(c->r.upstream_model, d->model, sizeof c->r.upstream_model);
    gw_attempt_reset(c);
    gw_dep_begin(d);
    c->dep_begun = 1;
    c->dep_counted = 1;
    c->attempt_t0 = od_mono_us();
    /* /v1/messages on an anthropic deployment: the client's body as it is */
    c->native = c->ep == GW_EP_MESSAGES && c->abody && !strcmp(d->prov->type, "anthropic");
    if (!c->native && c->ep != GW_EP_EMBEDDINGS && !c->body) {
        build_failed(c, c->xlate_err ? c->xlate_err : "this request has no OpenAI form");
        return;
    }
    if (!strcmp(d->prov->type, "mock")) {
        start_mock(c);
        return;
    }

    prov_http ph;
    char *err = NULL;
    int rc;
    memset(&ph, 0, sizeof ph);
    if (c->native) {
        rc = prov_anthropic_native_request(d->prov, d->model, c->abody, c->anth_version, c->anth_beta,
                                           c->stream, &ph, &err);
    } else if (c->ep == GW_EP_EMBEDDINGS) {
        if (d->ad->embed_request)
            rc = d->ad->embed_request(d->prov, d->model, c->body, &ph, &err);
        else {
            rc = -1;
            err = od_strdup("this provider has no embeddings endpoint");
        }
    } else {
        rc = d->ad->chat_request(d->prov, d->model, c->body, c->stream, &ph, &err);
    }
    if (rc < 0) {
        char msg[256];
        od_strlcpy(msg, err ? err : "cannot build the upstream request", sizeof msg);
        free(err);
        prov_http_free(&ph);
        build_failed(c, msg);
        return;
    }
    free(err);
    od_http_req hr = {
        .method = "POST",
        .url = ph.url,
        .headers = (const char *const *)ph.headers,
        .nheaders = ph.nheaders,
        .body = ph.body.p ? ph.body.p : "",
        .body_len = ph.body.len,
        .timeout_ms = d->prov->timeout_ms > 0 ? d->prov->timeout_ms : 600000,
        .connect_timeout_ms = d->prov->connect_timeout_ms > 0 ? d->prov->connect_timeout_ms : 10000,
        .idle_timeout_ms = c->stream ? s->t.stream_idle_ms : 0,
    };
    c->http = od_http_start(s->loop, &hr, &up_cbs, c);
    prov_http_free(&ph); /* the credentials die here; curl holds its copy */
    if (!c->http) {
        attempt_failed(c, 0, "cannot start the upstream request", 0, 0);
        return;
    }
    if (c->stream && s->t.ttft_timeout_ms > 0)
        arm(c, GW_T_TTFT, s->t.ttft_timeout_ms);
}

void gw_attempt_next(gw_call *c)
{
    gw_server *s = c->s;
    int64_t now = od_mono_us();
    if (!c->conn) {
        gw_call_finish(c);
        return;
    }
    if (c->r.attempts >= s->t.max_attempts) {
        fail_final(c);
        return;
    }
    int i;
    for (i = c->pi; i < c->plan.n; i++)
        if (gw_dep_available(s->router, c->plan.deps[i], now))
            break;
    if (i < c->plan.n) {
        if (i != c->pi) {
            c->pi = i;
            c->tries_here = 0;
        }
        start_attempt(c);
        return;
    }
    /* nothing available: wait for a 429 cool-down if one ends soon */
    int best = -1;
    int64_t wait = 0;
    for (int j = c->pi; j < c->plan.n; j++) {
        gw_dep *d = c->plan.deps[j];
        if (d->open_until_us > now || d->cool_until_us <= now)
            continue;
        if (best < 0 || d->cool_until_us - now < wait) {
            best = j;
            wait = d->cool_until_us - now;
        }
    }
    if (best >= 0 && wait / 1000 <= s->t.retry_max_ms) {
        c->pi = best;
        c->tries_here = 0;
        arm(c, GW_T_BACKOFF, wait / 1000 + 1);
        return;
    }
    if (c->r.attempts == 0) {
        c->r.error = 1;
        gw_call_fail(c, 503, OD_R_UPSTREAM_ERROR,
                     "no healthy deployment for %s right now (circuit open); retry later", c->model);
        return;
    }
    fail_final(c);
}
