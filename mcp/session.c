/* mcp/session.c — the downstream side: one MCP client session. Parses what
 * the client sends, answers what odock answers itself (initialize, ping,
 * merged lists), routes the rest to the owning upstream, and walks every
 * tools/call, resources/read and prompts/get through the policy engine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mux_int.h"

#define ODOCK_VERSION "0.1.0"

/* ------------------------------------------------------------------ */
/* output */

/* returns the bytes sent */
static int64_t send_json(mcp_session *s, cJSON *msg, int kind)
{
    char idt[128] = "";
    if (kind == MCP_OUT_RESPONSE) mcp_rpc_id_text(od_jget(msg, "id"), idt, sizeof idt);
    od_buf txt = {0};
    od_json_write(&txt, msg);
    s->send(s->ud, txt.p, txt.len, kind, kind == MCP_OUT_RESPONSE ? idt : NULL);
    int64_t n = (int64_t)txt.len;
    od_buf_free(&txt);
    return n;
}

static int64_t json_size(const cJSON *j);

static mcp_batch *batch_new(void)
{
    mcp_batch *b = od_calloc(1, sizeof *b);
    b->outstanding = 1;
    b->arr = cJSON_CreateArray();
    return b;
}

/* one answer (or the guard, msg NULL) less; sends the batch when complete */
static void batch_release(mcp_session *s, mcp_batch *b, cJSON *msg)
{
    if (msg) cJSON_AddItemToArray(b->arr, msg);
    if (--b->outstanding > 0) return;
    if (s && cJSON_GetArraySize(b->arr) > 0) send_json(s, b->arr, MCP_OUT_BATCH);
    cJSON_Delete(b->arr);
    free(b);
}

int64_t session_reply(mcp_session *s, mcp_batch *b, cJSON *msg)
{
    int64_t n = 0;
    if (s) s->pending--;
    if (b) {
        if (s) n = json_size(msg) + 1; /* its share of the batch, with a comma */
        batch_release(s, b, s ? msg : (cJSON_Delete(msg), NULL));
        return n;
    }
    if (s) n = send_json(s, msg, MCP_OUT_RESPONSE);
    cJSON_Delete(msg);
    return n;
}

void session_notify(mcp_session *s, cJSON *msg) { send_json(s, msg, MCP_OUT_NOTIFICATION); }
void session_send_request(mcp_session *s, cJSON *msg) { send_json(s, msg, MCP_OUT_REQUEST); }

/* What a server says outside any call (its log) goes only to clients whose
 * key may use something of it: with one server shared by every session, its
 * log carries other tenants' calls. */
int session_sees_server(mcp_session *s, int up)
{
    mcp_mux *m = s->mux;
    if (!m->pol) return 1;
    od_req r;
    od_req_init(&r, OD_KIND_TOOL, "");
    int yes = 0;
    if (!pol_authenticate(m->pol, &r, s->key)) {
        for (int k = 0; k < 2 && !yes; k++) {
            const mcp_entry *v = k ? m->prompts : m->tools;
            int n = k ? m->nprompts : m->ntools;
            for (int i = 0; i < n && !yes; i++) {
                if (v[i].up != up) continue;
                char target[256];
                snprintf(target, sizeof target, "%s/%s", m->ups[up].cfg->name, v[i].orig);
                yes = pol_allowed(m->pol, &r, OD_KIND_TOOL, target);
            }
        }
    }
    od_req_free(&r);
    return yes;
}

int session_has_cap(const mcp_session *s, const char *cap)
{
    return s->client_caps && od_jget(s->client_caps, cap) != NULL;
}

static void reply_error(mcp_session *s, mcp_batch *b, const cJSON *id, int code,
                        const char *message, const char *reason)
{
    session_reply(s, b, mcp_rpc_error_reason(id, code, message, reason));
}

static int64_t reply_result(mcp_session *s, mcp_batch *b, const cJSON *id, cJSON *result)
{
    return session_reply(s, b, mcp_rpc_result_take(id, result));
}

/* An answer whose result goes out as the upstream wrote it (raw[0..n)):
 * printing it again from the tree was a tenth of a relayed call. */
static int64_t reply_raw_result(mcp_session *s, const cJSON *id, const char *raw, size_t n)
{
    char idt[128];
    od_buf txt = {0};
    od_buf_put(&txt, "{\"jsonrpc\":\"2.0\",\"id\":", 22);
    size_t at = txt.len;
    od_json_write(&txt, id);
    size_t il = txt.len - at < sizeof idt ? txt.len - at : sizeof idt - 1;
    memcpy(idt, txt.p + at, il);
    idt[il] = 0;
    od_buf_put(&txt, ",\"result\":", 10);
    od_buf_put(&txt, raw, n);
    od_buf_putc(&txt, '}');
    s->pending--;
    s->send(s->ud, txt.p, txt.len, MCP_OUT_RESPONSE, idt);
    int64_t sent = (int64_t)txt.len;
    od_buf_free(&txt);
    return sent;
}

/* ------------------------------------------------------------------ */
/* initialize */

static void run_queued(mcp_session *s);

static void answer_initialize(mcp_session *s)
{
    od_timer_stop(&s->init_timer);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "protocolVersion", s->proto);
    cJSON_AddItemToObject(r, "capabilities", mux_caps_for_client(s->mux));
    cJSON *si = cJSON_AddObjectToObject(r, "serverInfo");
    cJSON_AddStringToObject(si, "name", "odock");
    cJSON_AddStringToObject(si, "version", ODOCK_VERSION);
    cJSON_AddStringToObject(r, "instructions",
        "odock multiplexes several MCP servers. Tools and prompts are named "
        "<server>__<name>; resource URIs are <server>+<uri>. Every call is "
        "governed by odock's policies.");
    cJSON *id = s->init_id;
    mcp_batch *b = s->init_batch;
    s->init_id = NULL;
    s->init_batch = NULL;
    s->initialized = 1;
    reply_result(s, b, id, r);
    cJSON_Delete(id);
    run_queued(s);
}

/* a client that did not wait for initialize's answer: now its turn */
static void run_queued(mcp_session *s)
{
    char **q = s->queued;
    int nq = s->nqueued;
    s->queued = NULL;
    s->nqueued = 0;
    for (int i = 0; i < nq; i++) {
        mcp_session_handle(s, q[i], strlen(q[i]));
        free(q[i]);
    }
    free(q);
}

static void init_timer_fn(od_timer *t, void *ud)
{
    mcp_session *s = ud;
    od_warn("mcp: answering initialize before every upstream is up");
    if (s->init_id) answer_initialize(s);
}

void session_upstreams_settled(mcp_session *s)
{
    if (s->init_id) answer_initialize(s);
}

void mcp_session_refuse_initialize(mcp_session *s, const char *why)
{
    if (!s->init_id)
        return;
    od_timer_stop(&s->init_timer);
    cJSON *id = s->init_id;
    mcp_batch *b = s->init_batch;
    s->init_id = NULL;
    s->init_batch = NULL;
    reply_error(s, b, id, MCP_ERR_INTERNAL, why, "shutting_down");
    cJSON_Delete(id);
    run_queued(s); /* not initialized: each gets its error */
}

static void do_initialize(mcp_session *s, mcp_batch *b, mcp_msg *msg)
{
    if (s->initialized || s->init_id) {
        reply_error(s, b, msg->id, MCP_ERR_INVALID_REQUEST, "Already initialized", NULL);
        return;
    }
    cJSON *pv = od_jget(msg->params, "protocolVersion");
    if (!cJSON_IsString(pv)) {
        reply_error(s, b, msg->id, MCP_ERR_INVALID_PARAMS, "Invalid params: protocolVersion is required", NULL);
        return;
    }
    od_strlcpy(s->proto, mcp_protocol_negotiate(pv->valuestring), sizeof s->proto);
    cJSON *caps = od_jget(msg->params, "capabilities");
    s->client_caps = cJSON_IsObject(caps) ? cJSON_Duplicate(caps, 1) : cJSON_CreateObject();
    s->init_id = cJSON_Duplicate(msg->id, 1);
    s->init_batch = b;
    mux_start(s->mux, s->proto, s->client_caps);
    if (mux_all_settled(s->mux)) answer_initialize(s);
    else od_timer_start(s->mux->o.loop, &s->init_timer,
                        (int64_t)s->mux->o.startup_wait_ms * 1000, init_timer_fn, s);
}

/* ------------------------------------------------------------------ */
/* governance */

static int64_t deny_reply(mcp_session *s, mcp_batch *b, const cJSON *id, od_req *r)
{
    cJSON *data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "reason", r->reason ? r->reason : OD_R_BAD_REQUEST);
    cJSON_AddStringToObject(data, "request_id", r->id);
    if (r->retry_after_s > 0) cJSON_AddNumberToObject(data, "retry_after", r->retry_after_s);
    const char *m = r->message[0] ? r->message : (r->reason ? r->reason : "Denied");
    return session_reply(s, b, mcp_rpc_error_obj(id, MCP_ERR_DENIED, m, data));
}

static void finish_req(mcp_mux *m, od_req *r)
{
    if (m->pol) pol_record(m->pol, r);
    od_req_free(r);
    free(r);
}

static void set_failure(od_req *r, int status, const char *reason, const char *msg)
{
    r->error = 1;
    r->status = status;
    r->reason = reason;
    od_strlcpy(r->message, msg, sizeof r->message);
}

static int64_t json_size(const cJSON *j)
{
    /* printed into one scratch buffer kept across calls (the loop is
     * single-threaded and nothing here re-enters): only its length counts */
    static od_buf scratch;
    if (!j) return 0;
    od_buf_reset(&scratch);
    od_json_write(&scratch, j);
    int64_t n = (int64_t)scratch.len;
    if (scratch.len > 65536) od_buf_free(&scratch); /* a big result does not stay */
    return n;
}

static void governed_done(mcp_call *c, int why, cJSON *result, cJSON *error)
{
    mcp_mux *m = c->mux;
    mcp_session *s = c->s;
    od_req *r = c->req;
    c->req = NULL; /* finished here */
    r->t_end_us = od_mono_us();
    if (why == CALL_CANCELLED) {
        set_failure(r, 499, OD_R_CLIENT_CLOSED, "cancelled by the client");
        if (m->pol) pol_settle(m->pol, r, 0, 0);
        finish_req(m, r);
        if (c->batch) batch_release(NULL, c->batch, NULL);
        if (s) s->pending--;
        return;
    }
    if (why == CALL_OK) {
        /* result is the upstream message's, ours to change until done returns:
         * inspected and rewritten in place, copied only if printed from the tree */
        int blocked = 0, rewrites = r->gr_inited ? r->gr.rewrites : 0;
        if (m->pol && c->inspect_where) {
            cJSON *meta = cJSON_DetachItemFromObject(result, "_meta");
            blocked = pol_inspect(m->pol, r, c->inspect_where, result) != 0;
            if (meta) cJSON_AddItemToObject(result, "_meta", meta);
        }
        if (m->pol) pol_settle(m->pol, r, c->price, 0);
        else r->cost_micros = c->price;
        size_t off, n;
        if (blocked) {
            r->bytes_out = deny_reply(s, c->batch, c->down_id, r);
        } else if ((r->gr_inited ? r->gr.rewrites : 0) == rewrites && !mux_wrap_uris(c->up, result, 0) &&
                   s && !c->batch && c->raw && od_json_raw_member(c->raw, c->raw_len, "result", &off, &n) &&
                   !memchr(c->raw + off, '\n', n) && !memchr(c->raw + off, '\r', n)) {
            /* unchanged, and one line (stdio and SSE frame by lines) */
            r->bytes_out = reply_raw_result(s, c->down_id, c->raw + off, n);
        } else {
            r->bytes_out = reply_result(s, c->batch, c->down_id, cJSON_Duplicate(result, 1));
        }
        finish_req(m, r);
        return;
    }
    if (why == CALL_UPSTREAM_ERROR) {
        cJSON *msg = od_jget(error, "message");
        set_failure(r, 502, OD_R_UPSTREAM_ERROR, cJSON_IsString(msg) ? msg->valuestring : "upstream error");
        /* the upstream's own error goes through as it is */
        cJSON *o = mcp_rpc_error_obj(c->down_id, 0, "", NULL);
        cJSON_ReplaceItemInObject(o, "error", cJSON_Duplicate(error, 1));
        r->bytes_out = session_reply(s, c->batch, o);
    } else {
        int to = why == CALL_TIMEOUT;
        set_failure(r, to ? 504 : 502, to ? OD_R_UPSTREAM_TIMEOUT : OD_R_UPSTREAM_ERROR,
                    to ? "upstream timed out" : "upstream server failed");
        cJSON *o = mcp_rpc_error_obj(c->down_id, 0, "", NULL);
        cJSON_ReplaceItemInObject(o, "error", cJSON_Duplicate(error, 1));
        r->bytes_out = session_reply(s, c->batch, o);
    }
    if (m->pol) pol_settle(m->pol, r, 0, 0);
    finish_req(m, r);
}

/* snprintf(dst, size, "%s", src) without printf, once per call; returns
 * the length copied */
static size_t copy_trunc(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size) n = size - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
    return n;
}

/* A governed call of `method` on up for the client request msg. fwd is the
 * params to send upstream (taken); args is the node inside fwd to inspect as
 * tool arguments (may be NULL). */
static void governed(mcp_session *s, mcp_batch *b, mcp_msg *msg, mcp_upstream *up,
                     const char *name, cJSON *fwd, cJSON *args, int64_t price)
{
    mcp_mux *m = s->mux;
    od_req *r = od_malloc(sizeof *r); /* od_req_init zeroes it: no calloc */
    char target[256];
    size_t n = copy_trunc(target, sizeof target, up->cfg->name);
    if (n + 1 < sizeof target) {
        target[n] = '/';
        copy_trunc(target + n + 1, sizeof target - n - 1, name);
    }
    od_req_init(r, OD_KIND_TOOL, target);
    copy_trunc(r->provider, sizeof r->provider, up->cfg->name);
    copy_trunc(r->upstream_model, sizeof r->upstream_model, name);
    r->bytes_in = s->in_len;
    if (m->pol) {
        if (pol_authenticate(m->pol, r, s->key) || pol_authorize(m->pol, r) ||
            (args && pol_inspect(m->pol, r, OD_WHERE_TOOL_ARGS, args)) ||
            pol_reserve(m->pol, r, price, 0)) {
            r->bytes_out = deny_reply(s, b, msg->id, r);
            cJSON_Delete(fwd);
            finish_req(m, r);
            return;
        }
    }
    if (up->state != UP_READY) {
        set_failure(r, 503, OD_R_UPSTREAM_ERROR, "upstream server is not available");
        reply_error(s, b, msg->id, MCP_ERR_UPSTREAM, "Upstream server is not available", OD_R_UPSTREAM_ERROR);
        cJSON_Delete(fwd);
        if (m->pol) pol_settle(m->pol, r, 0, 0);
        finish_req(m, r);
        return;
    }
    mcp_call *c = mux_call_new(m, up, msg->method, governed_done);
    c->s = s;
    c->down_id = cJSON_Duplicate(msg->id, 1);
    c->batch = b;
    c->req = r;
    c->price = price;
    c->inspect_where = OD_WHERE_TOOL_RESULTS;
    cJSON *meta = od_jget(fwd, "_meta");
    cJSON *tok = meta ? od_jget(meta, "progressToken") : NULL;
    if (tok && (cJSON_IsString(tok) || cJSON_IsNumber(tok))) {
        c->progress_down = cJSON_Duplicate(tok, 1);
        c->progress_up = ++m->next_progress;
        cJSON_ReplaceItemInObject(meta, "progressToken", cJSON_CreateNumber((double)c->progress_up));
    }
    mux_call_send(c, fwd);
}

/* an unknown tool/prompt still leaves its ledger row */
static void unknown_target(mcp_session *s, mcp_batch *b, mcp_msg *msg, const char *what, const char *name)
{
    mcp_mux *m = s->mux;
    char buf[200];
    snprintf(buf, sizeof buf, "Unknown %s: %s", what, name);
    if (m->pol) {
        od_req r;
        char target[256];
        snprintf(target, sizeof target, "?/%s", name);
        od_req_init(&r, OD_KIND_TOOL, target);
        if (!pol_authenticate(m->pol, &r, s->key))
            od_req_deny(&r, 404, OD_R_BAD_REQUEST, "%s", buf);
        pol_record(m->pol, &r);
        od_req_free(&r);
    }
    reply_error(s, b, msg->id, MCP_ERR_INVALID_PARAMS, buf, OD_R_BAD_REQUEST);
}

/* ------------------------------------------------------------------ */
/* plain forwarding (no governance): subscribe, completion, ... */

static void forward_done(mcp_call *c, int why, cJSON *result, cJSON *error)
{
    mcp_session *s = c->s;
    if (why == CALL_CANCELLED) {
        if (c->batch) batch_release(NULL, c->batch, NULL);
        if (s) s->pending--;
        return;
    }
    if (result) {
        cJSON *res = cJSON_Duplicate(result, 1);
        mux_wrap_uris(c->up, res, 0);
        reply_result(s, c->batch, c->down_id, res);
    } else {
        cJSON *o = mcp_rpc_error_obj(c->down_id, 0, "", NULL);
        cJSON_ReplaceItemInObject(o, "error", cJSON_Duplicate(error, 1));
        session_reply(s, c->batch, o);
    }
}

static void forward(mcp_session *s, mcp_batch *b, mcp_msg *msg, mcp_upstream *up, cJSON *fwd)
{
    if (!up || up->state != UP_READY) {
        cJSON_Delete(fwd);
        reply_error(s, b, msg->id, MCP_ERR_UPSTREAM, "Upstream server is not available", OD_R_UPSTREAM_ERROR);
        return;
    }
    mcp_call *c = mux_call_new(s->mux, up, msg->method, forward_done);
    c->s = s;
    c->down_id = cJSON_Duplicate(msg->id, 1);
    c->batch = b;
    mux_call_send(c, fwd);
}

/* ------------------------------------------------------------------ */
/* lists */

static int get_cursor(mcp_session *s, mcp_batch *b, mcp_msg *msg, const char *kind, int *offset)
{
    *offset = 0;
    cJSON *cur = od_jget(msg->params, "cursor");
    if (!cur || cJSON_IsNull(cur)) return 0;
    if (!cJSON_IsString(cur) || mcp_cursor_decode(kind, cur->valuestring, offset)) {
        reply_error(s, b, msg->id, MCP_ERR_INVALID_PARAMS, "Invalid params: unknown cursor", NULL);
        return -1;
    }
    return 0;
}

/* takes items; answers one page of them */
static void reply_page(mcp_session *s, mcp_batch *b, const cJSON *id, const char *key,
                       const char *kind, cJSON *items, int offset)
{
    int n = cJSON_GetArraySize(items), ps = s->mux->page_size;
    cJSON *page = cJSON_CreateArray();
    for (int i = offset; i < n && i < offset + ps; i++)
        cJSON_AddItemToArray(page, cJSON_Duplicate(cJSON_GetArrayItem(items, i), 1));
    cJSON *r = cJSON_CreateObject();
    cJSON_AddItemToObject(r, key, page);
    if (offset + ps < n) {
        char cur[64];
        mcp_cursor_encode(kind, offset + ps, cur, sizeof cur);
        cJSON_AddStringToObject(r, "nextCursor", cur);
    }
    cJSON_Delete(items);
    reply_result(s, b, id, r);
}

static int principal(mcp_session *s, mcp_batch *b, mcp_msg *msg, od_req *r)
{
    od_req_init(r, OD_KIND_TOOL, "");
    if (!s->mux->pol) return 0;
    if (pol_authenticate(s->mux->pol, r, s->key)) {
        deny_reply(s, b, msg->id, r);
        od_req_free(r);
        return -1;
    }
    return 0;
}

static void list_catalog(mcp_session *s, mcp_batch *b, mcp_msg *msg, int tools)
{
    mcp_mux *m = s->mux;
    const char *kind = tools ? "tools" : "prompts";
    int offset;
    if (get_cursor(s, b, msg, kind, &offset)) return;
    od_req r;
    if (principal(s, b, msg, &r)) return;
    const mcp_entry *v = tools ? m->tools : m->prompts;
    int n = tools ? m->ntools : m->nprompts;
    cJSON *items = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        char target[256];
        snprintf(target, sizeof target, "%s/%s", m->ups[v[i].up].cfg->name, v[i].orig);
        if (m->pol && !pol_allowed(m->pol, &r, OD_KIND_TOOL, target)) continue;
        cJSON *d = cJSON_Duplicate(v[i].def, 1);
        cJSON_ReplaceItemInObject(d, "name", cJSON_CreateString(v[i].exposed));
        cJSON_AddItemToArray(items, d);
    }
    od_req_free(&r);
    reply_page(s, b, msg->id, kind, kind, items, offset);
}

static void fan_finish(mcp_fan *f)
{
    mcp_session *s = f->s;
    mcp_mux *m = NULL;
    if (s) {
        m = s->mux;
        /* unlink from the session */
        for (mcp_fan **pp = &s->fans; *pp; pp = &(*pp)->next)
            if (*pp == f) { *pp = f->next; break; }
        /* only what the key may read: a resource's grant is SERVER/URI, as
         * for resources/read (a template's, SERVER/TEMPLATE) */
        od_req r;
        od_req_init(&r, OD_KIND_TOOL, "");
        int anon = m->pol && pol_authenticate(m->pol, &r, s->key);
        cJSON *items = cJSON_CreateArray();
        for (int i = 0; i < m->nups && !anon; i++) {
            if (!f->per_up[i]) continue;
            cJSON *it;
            cJSON_ArrayForEach(it, f->per_up[i]) {
                const cJSON *u = od_jget(it, "uri");
                if (!u) u = od_jget(it, "uriTemplate");
                if (m->pol) {
                    char target[256];
                    snprintf(target, sizeof target, "%s/%s", m->ups[i].cfg->name,
                             cJSON_IsString(u) ? u->valuestring : "");
                    if (!pol_allowed(m->pol, &r, OD_KIND_TOOL, target)) continue;
                }
                cJSON *d = cJSON_Duplicate(it, 1);
                mux_wrap_uris(&m->ups[i], d, 0);
                cJSON_AddItemToArray(items, d);
            }
        }
        if (anon) {
            cJSON_Delete(items);
            deny_reply(s, f->batch, f->down_id, &r);
        } else {
            reply_page(s, f->batch, f->down_id, f->key, f->key, items, f->offset);
        }
        od_req_free(&r);
    } else if (f->batch) {
        batch_release(NULL, f->batch, NULL);
    }
    mux_fan_free(f);
}

void mux_fan_free(mcp_fan *f)
{
    if (!f) return;
    for (int i = 0; i < f->nper; i++) cJSON_Delete(f->per_up[i]);
    cJSON_Delete(f->down_id);
    free(f->per_up);
    free(f);
}

static void fan_got(void *ctx, int idx, cJSON *items)
{
    mcp_fan *f = ctx;
    f->per_up[idx] = items; /* NULL on failure: that server is left out */
    if (--f->outstanding > 0) return;
    fan_finish(f);
}

static void list_fan(mcp_session *s, mcp_batch *b, mcp_msg *msg, const char *key, const char *method)
{
    mcp_mux *m = s->mux;
    int offset;
    if (get_cursor(s, b, msg, key, &offset)) return;
    mcp_fan *f = od_calloc(1, sizeof *f);
    f->s = s;
    f->batch = b;
    f->down_id = cJSON_Duplicate(msg->id, 1);
    f->key = key;
    f->offset = offset;
    f->nper = m->nups + 1;
    f->per_up = od_calloc((size_t)f->nper, sizeof *f->per_up);
    f->next = s->fans;
    s->fans = f;
    f->outstanding = 1; /* guard */
    for (int i = 0; i < m->nups; i++) {
        mcp_upstream *up = &m->ups[i];
        if (up->state != UP_READY || !od_jget(up->caps, "resources")) continue;
        f->outstanding++;
        mux_fetch_all(up, method, key, fan_got, f);
    }
    fan_got(f, m->nups, NULL); /* drop the guard; slot nups is spare */
}

/* ------------------------------------------------------------------ */
/* requests */

static void do_tools_call(mcp_session *s, mcp_batch *b, mcp_msg *msg)
{
    cJSON *name = od_jget(msg->params, "name");
    cJSON *args = od_jget(msg->params, "arguments");
    if (!cJSON_IsString(name) || (args && !cJSON_IsObject(args) && !cJSON_IsNull(args))) {
        reply_error(s, b, msg->id, MCP_ERR_INVALID_PARAMS,
                    "Invalid params: name must be a string and arguments an object", NULL);
        return;
    }
    const mcp_entry *e = mux_find(s->mux->tools, s->mux->ntools, name->valuestring);
    if (!e) { unknown_target(s, b, msg, "tool", name->valuestring); return; }
    mcp_upstream *up = &s->mux->ups[e->up];
    cJSON *fwd = cJSON_Duplicate(msg->params, 1);
    cJSON_ReplaceItemInObject(fwd, "name", cJSON_CreateString(e->orig));
    governed(s, b, msg, up, e->orig, fwd, od_jget(fwd, "arguments"), up->cfg->price_micros);
}

static void do_prompts_get(mcp_session *s, mcp_batch *b, mcp_msg *msg)
{
    cJSON *name = od_jget(msg->params, "name");
    cJSON *args = od_jget(msg->params, "arguments");
    if (!cJSON_IsString(name) || (args && !cJSON_IsObject(args))) {
        reply_error(s, b, msg->id, MCP_ERR_INVALID_PARAMS, "Invalid params: name must be a string", NULL);
        return;
    }
    const mcp_entry *e = mux_find(s->mux->prompts, s->mux->nprompts, name->valuestring);
    if (!e) { unknown_target(s, b, msg, "prompt", name->valuestring); return; }
    mcp_upstream *up = &s->mux->ups[e->up];
    cJSON *fwd = cJSON_Duplicate(msg->params, 1);
    cJSON_ReplaceItemInObject(fwd, "name", cJSON_CreateString(e->orig));
    governed(s, b, msg, up, e->orig, fwd, od_jget(fwd, "arguments"), 0);
}

static mcp_upstream *uri_param(mcp_session *s, mcp_batch *b, mcp_msg *msg, cJSON **fwd)
{
    cJSON *uri = od_jget(msg->params, "uri");
    if (!cJSON_IsString(uri)) {
        reply_error(s, b, msg->id, MCP_ERR_INVALID_PARAMS, "Invalid params: uri must be a string", NULL);
        return NULL;
    }
    const char *orig = NULL;
    mcp_upstream *up = mux_uri_owner(s->mux, uri->valuestring, &orig);
    if (!up) {
        reply_error(s, b, msg->id, MCP_ERR_INVALID_PARAMS, "Resource not found", OD_R_BAD_REQUEST);
        return NULL;
    }
    *fwd = cJSON_Duplicate(msg->params, 1);
    cJSON_ReplaceItemInObject(*fwd, "uri", cJSON_CreateString(orig));
    return up;
}

static void do_resources_read(mcp_session *s, mcp_batch *b, mcp_msg *msg)
{
    cJSON *fwd = NULL;
    mcp_upstream *up = uri_param(s, b, msg, &fwd);
    if (!up) return;
    char name[200];
    od_strlcpy(name, od_jget(fwd, "uri")->valuestring, sizeof name);
    governed(s, b, msg, up, name, fwd, NULL, 0);
}

/* ---- resource subscriptions, per session ----
 * One upstream serves every session, so its resources/updated must go only
 * to the sessions that asked for that URI (not to every client, which the
 * URI alone can tell about another tenant's work), and one client's
 * unsubscribe must not end another's updates. */

static int sub_find(const mcp_session *s, const char *uri)
{
    for (int i = 0; i < s->nsubs; i++)
        if (!strcmp(s->subs[i], uri)) return i;
    return -1;
}

int session_subscribed(mcp_session *s, const char *uri)
{
    return sub_find(s, uri) >= 0;
}

/* may s's key use SERVER/NAME? A denial is answered and recorded. */
static int may_use(mcp_session *s, mcp_batch *b, mcp_msg *msg, mcp_upstream *up, const char *name)
{
    mcp_mux *m = s->mux;
    if (!m->pol) return 1;
    char target[256];
    snprintf(target, sizeof target, "%s/%s", up->cfg->name, name);
    od_req r;
    od_req_init(&r, OD_KIND_TOOL, target);
    copy_trunc(r.provider, sizeof r.provider, up->cfg->name);
    int ok = !pol_authenticate(m->pol, &r, s->key) && !pol_authorize(m->pol, &r);
    if (!ok) {
        r.bytes_out = deny_reply(s, b, msg->id, &r);
        pol_record(m->pol, &r);
    }
    od_req_free(&r);
    return ok;
}

static void do_subscribe(mcp_session *s, mcp_batch *b, mcp_msg *msg, int on)
{
    cJSON *fwd = NULL;
    mcp_upstream *up = uri_param(s, b, msg, &fwd);
    if (!up) return;
    const char *uri = od_jget(msg->params, "uri")->valuestring;
    int at = sub_find(s, uri);
    if (on) {
        /* the grant that resources/read needs (kept even if the server then
         * refuses: updates it never sends cost nothing) */
        if (!may_use(s, b, msg, up, od_jget(fwd, "uri")->valuestring)) {
            cJSON_Delete(fwd);
            return;
        }
        if (at < 0) {
            s->subs = od_realloc(s->subs, sizeof *s->subs * (size_t)(s->nsubs + 1));
            s->subs[s->nsubs++] = od_strdup(uri);
        }
    } else {
        if (at >= 0) {
            free(s->subs[at]);
            s->subs[at] = s->subs[--s->nsubs];
        }
        for (mcp_session *o = s->mux->sessions; o; o = o->next) {
            if (o != s && session_subscribed(o, uri)) {
                /* another client still wants these updates */
                cJSON_Delete(fwd);
                reply_result(s, b, msg->id, cJSON_CreateObject());
                return;
            }
        }
    }
    forward(s, b, msg, up, fwd);
}

static void do_completion(mcp_session *s, mcp_batch *b, mcp_msg *msg)
{
    cJSON *ref = od_jget(msg->params, "ref");
    cJSON *type = od_jget(ref, "type");
    if (!cJSON_IsString(type)) {
        reply_error(s, b, msg->id, MCP_ERR_INVALID_PARAMS, "Invalid params: ref.type is required", NULL);
        return;
    }
    cJSON *fwd = cJSON_Duplicate(msg->params, 1);
    cJSON *fref = od_jget(fwd, "ref");
    mcp_upstream *up = NULL;
    const char *name = NULL; /* the server's own, for the grant */
    if (!strcmp(type->valuestring, "ref/prompt")) {
        cJSON *nm = od_jget(ref, "name");
        const mcp_entry *e = cJSON_IsString(nm) ? mux_find(s->mux->prompts, s->mux->nprompts, nm->valuestring) : NULL;
        if (e) {
            up = &s->mux->ups[e->up];
            name = e->orig;
            cJSON_ReplaceItemInObject(fref, "name", cJSON_CreateString(e->orig));
        }
    } else if (!strcmp(type->valuestring, "ref/resource")) {
        cJSON *u = od_jget(ref, "uri");
        const char *orig = NULL;
        up = cJSON_IsString(u) ? mux_uri_owner(s->mux, u->valuestring, &orig) : NULL;
        if (up) {
            cJSON_ReplaceItemInObject(fref, "uri", cJSON_CreateString(orig));
            name = od_jget(fref, "uri")->valuestring;
        }
    }
    if (!up) {
        cJSON_Delete(fwd);
        reply_error(s, b, msg->id, MCP_ERR_INVALID_PARAMS, "Invalid params: unknown ref", NULL);
        return;
    }
    /* completions tell about a prompt or a resource: the same grant */
    if (!may_use(s, b, msg, up, name)) {
        cJSON_Delete(fwd);
        return;
    }
    forward(s, b, msg, up, fwd);
}

/* ---- logging levels, per session ----
 * The servers are shared: one client's logging/setLevel must not silence
 * (or flood) the others. Each session keeps its own level and gets the
 * logs at or above it; a server is told the most verbose level any
 * session asked for, and only when that lowers it. */
static const char *const LOG_LEVELS[] = {"debug", "info", "notice", "warning", "error",
                                         "critical", "alert", "emergency", NULL};

static int log_level_of(const char *name) /* 1 + index, 0 unknown */
{
    for (int i = 0; name && LOG_LEVELS[i]; i++)
        if (!strcmp(name, LOG_LEVELS[i])) return i + 1;
    return 0;
}

const char *session_log_level_name(int level)
{
    return level >= 1 && level <= 8 ? LOG_LEVELS[level - 1] : "info";
}

int session_wants_log(const mcp_session *s, const char *level)
{
    int l = log_level_of(level);
    return !s->log_level || !l || l >= s->log_level;
}

static void do_set_level(mcp_session *s, mcp_batch *b, mcp_msg *msg)
{
    cJSON *lvl = od_jget(msg->params, "level");
    int want = cJSON_IsString(lvl) ? log_level_of(lvl->valuestring) : 0;
    if (!want) {
        reply_error(s, b, msg->id, MCP_ERR_INVALID_PARAMS,
                    "Invalid params: level must be one of debug, info, notice, warning, error, critical, alert, emergency", NULL);
        return;
    }
    mcp_mux *m = s->mux;
    s->log_level = want;
    if (m->log_level && m->log_level <= want) {
        /* the servers already send this much: filtered here */
        reply_result(s, b, msg->id, cJSON_CreateObject());
        return;
    }
    m->log_level = want;
    for (int i = 0; i < m->nups; i++) {
        mcp_upstream *up = &m->ups[i];
        if (up->state != UP_READY || !od_jget(up->caps, "logging")) continue;
        mcp_call *c = mux_call_new(m, up, "logging/setLevel", NULL);
        mux_call_send(c, cJSON_Duplicate(msg->params, 1));
    }
    reply_result(s, b, msg->id, cJSON_CreateObject());
}

static void handle_request(mcp_session *s, mcp_batch *b, mcp_msg *msg)
{
    const char *meth = msg->method;
    /* counted here, uncounted by the one answer every path below gives */
    s->pending++;
    if (b) b->outstanding++;
    if (!strcmp(meth, "initialize")) { do_initialize(s, b, msg); return; }
    if (!strcmp(meth, "ping")) { reply_result(s, b, msg->id, cJSON_CreateObject()); return; }
    if (!s->initialized) {
        reply_error(s, b, msg->id, MCP_ERR_INVALID_REQUEST, "Invalid Request: not initialized", NULL);
        return;
    }
    if (!strcmp(meth, "tools/list")) list_catalog(s, b, msg, 1);
    else if (!strcmp(meth, "prompts/list")) list_catalog(s, b, msg, 0);
    else if (!strcmp(meth, "tools/call")) do_tools_call(s, b, msg);
    else if (!strcmp(meth, "prompts/get")) do_prompts_get(s, b, msg);
    else if (!strcmp(meth, "resources/list")) list_fan(s, b, msg, "resources", meth);
    else if (!strcmp(meth, "resources/templates/list")) list_fan(s, b, msg, "resourceTemplates", meth);
    else if (!strcmp(meth, "resources/read")) do_resources_read(s, b, msg);
    else if (!strcmp(meth, "resources/subscribe")) do_subscribe(s, b, msg, 1);
    else if (!strcmp(meth, "resources/unsubscribe")) do_subscribe(s, b, msg, 0);
    else if (!strcmp(meth, "completion/complete")) do_completion(s, b, msg);
    else if (!strcmp(meth, "logging/setLevel")) do_set_level(s, b, msg);
    else reply_error(s, b, msg->id, MCP_ERR_METHOD_NOT_FOUND, "Method not found", NULL);
}

static void handle_notification(mcp_session *s, mcp_msg *msg)
{
    mcp_mux *m = s->mux;
    if (!strcmp(msg->method, "notifications/cancelled")) {
        cJSON *rid = od_jget(msg->params, "requestId");
        if (!rid) return;
        for (mcp_call *c = m->calls; c; c = c->next) {
            if (c->s != s || !c->down_id || !cJSON_Compare(c->down_id, rid, 1)) continue;
            cJSON *reason = od_jget(msg->params, "reason");
            mux_call_cancel_upstream(c, cJSON_IsString(reason) ? reason->valuestring : NULL);
            mux_call_finish(c, CALL_CANCELLED, NULL, NULL);
            return;
        }
        return;
    }
    if (!strcmp(msg->method, "notifications/roots/list_changed")) {
        for (int i = 0; i < m->nups; i++)
            if (m->ups[i].state == UP_READY) mux_send_up(&m->ups[i], msg->obj);
        return;
    }
    /* notifications/initialized and the rest need nothing from us */
}

static void handle_one(mcp_session *s, mcp_batch *b, cJSON *item)
{
    mcp_msg msg;
    switch (mcp_rpc_classify(item, &msg)) {
    case MCP_MSG_REQUEST:
        handle_request(s, b, &msg);
        break;
    case MCP_MSG_NOTIFICATION:
        handle_notification(s, &msg);
        break;
    case MCP_MSG_RESPONSE:
        mux_answer_srvreq(s->mux, s, &msg);
        break;
    default:
        s->pending++;
        if (b) b->outstanding++;
        reply_error(s, b, msg.id, msg.err_code, msg.err_msg, NULL);
        break;
    }
}

/* one parsed message or batch; j stays the caller's (nothing keeps or
 * changes it: what is forwarded or kept is duplicated first) */
/* A message whose text held \u0000: the tree has U+FFFD there, so the
 * server would be sent other text than the client wrote. A request is
 * answered with the error; a notification or an answer is dropped. */
static void refuse_nul(mcp_session *s, mcp_batch *b, const cJSON *it)
{
    const cJSON *id = od_jget(it, "id");
    if (!cJSON_IsString(od_jget(it, "method")) || !mcp_rpc_id_valid(id))
        return;
    s->pending++;
    if (b) b->outstanding++;
    reply_error(s, b, id, MCP_ERR_INVALID_REQUEST, "Invalid Request: \\u0000 in a string is not accepted", NULL);
}

static void handle_json(mcp_session *s, cJSON *j, size_t len, int nul)
{
    if (!cJSON_IsArray(j)) {
        s->in_len = (int64_t)len;
        if (nul) refuse_nul(s, NULL, j);
        else handle_one(s, NULL, j);
        return;
    }
    if (cJSON_GetArraySize(j) == 0 || strcmp(s->proto, "2025-03-26") != 0) {
        s->pending++;
        reply_error(s, NULL, NULL, MCP_ERR_INVALID_REQUEST,
                    cJSON_GetArraySize(j) ? "Invalid Request: batches need protocol version 2025-03-26"
                                          : "Invalid Request: empty batch", NULL);
        return;
    }
    mcp_batch *b = batch_new();
    cJSON *it;
    cJSON_ArrayForEach(it, j) {
        cJSON *method = od_jget(it, "method");
        if (cJSON_IsString(method) && !strcmp(method->valuestring, "initialize")) {
            s->pending++;
            b->outstanding++;
            reply_error(s, b, od_jget(it, "id"), MCP_ERR_INVALID_REQUEST,
                        "Invalid Request: initialize cannot be batched", NULL);
            continue;
        }
        s->in_len = json_size(it);
        if (nul) refuse_nul(s, b, it);
        else handle_one(s, b, it);
    }
    batch_release(s, b, NULL);
}

void mcp_session_handle(mcp_session *s, const char *text, size_t len)
{
    int code;
    const char *emsg;
    if (s->init_id && len <= s->mux->o.max_message_bytes) {
        s->queued = od_realloc(s->queued, sizeof *s->queued * (size_t)(s->nqueued + 1));
        s->queued[s->nqueued++] = od_strndup(text, len);
        return;
    }
    cJSON *j = mcp_rpc_parse(text, len, s->mux->o.max_message_bytes, &code, &emsg);
    if (!j) {
        if (code == MCP_ERR_TOO_LARGE) { mcp_session_too_large(s); return; }
        s->pending++;
        reply_error(s, NULL, NULL, code, emsg, NULL);
        return;
    }
    handle_json(s, j, len, od_json_saw_nul());
    cJSON_Delete(j);
}

void mcp_session_handle_parsed(mcp_session *s, const char *text, size_t len, const cJSON *j)
{
    /* queued, too large or unparsed: the text path, exactly as before */
    if (!j || s->init_id || len > s->mux->o.max_message_bytes) {
        mcp_session_handle(s, text, len);
        return;
    }
    handle_json(s, (cJSON *)j, len, od_json_has_nul(text, len));
}

void mcp_session_too_large(mcp_session *s)
{
    char buf[96];
    snprintf(buf, sizeof buf, "Invalid Request: message too large (limit %zu bytes)", s->mux->o.max_message_bytes);
    s->pending++;
    reply_error(s, NULL, NULL, MCP_ERR_INVALID_REQUEST, buf, "message_too_large");
}

/* ------------------------------------------------------------------ */
/* lifecycle */

mcp_session *mcp_session_new(mcp_mux *m, const char *presented_key, mcp_send_fn send, void *ud)
{
    mcp_session *s = od_calloc(1, sizeof *s);
    s->mux = m;
    s->key = od_strdup(presented_key ? presented_key : "");
    s->send = send;
    s->ud = ud;
    uint8_t rnd[16];
    if (od_random_bytes(rnd, sizeof rnd)) memset(rnd, 0x5a, sizeof rnd);
    od_hex(rnd, sizeof rnd, s->id);
    s->next = m->sessions;
    if (m->sessions) m->sessions->prev = s;
    m->sessions = s;
    return s;
}

void mcp_session_free(mcp_session *s)
{
    if (!s) return;
    mcp_mux *m = s->mux;
    if (s->prev) s->prev->next = s->next;
    else m->sessions = s->next;
    if (s->next) s->next->prev = s->prev;
    mux_forget_session(m, s);
    for (mcp_fan *f = s->fans; f; f = f->next) f->s = NULL;
    od_timer_stop(&s->init_timer);
    if (s->init_batch) batch_release(NULL, s->init_batch, NULL);
    cJSON_Delete(s->init_id);
    for (int i = 0; i < s->nqueued; i++) free(s->queued[i]);
    free(s->queued);
    for (int i = 0; i < s->nsubs; i++) free(s->subs[i]);
    free(s->subs);
    cJSON_Delete(s->client_caps);
    free(s->key);
    free(s);
}

const char *mcp_session_id(const mcp_session *s) { return s->id; }
const char *mcp_session_protocol(const mcp_session *s) { return s->proto; }
int mcp_session_pending(const mcp_session *s) { return s->pending; }
