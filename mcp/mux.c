/* mcp/mux.c — the upstream side of the multiplexer: starting, initializing,
 * watching and restarting upstreams; odock's in-flight requests to them (ids
 * remapped, timeouts); the merged tool and prompt catalogs; routing what the
 * upstreams send (answers, notifications, server->client requests). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mux_int.h"

#define BACKOFF_MAX_US (30LL * 1000000LL)

const char *const mcp_protocol_versions[] = {
    "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05", NULL,
};

int mcp_protocol_supported(const char *v)
{
    for (int i = 0; v && mcp_protocol_versions[i]; i++)
        if (!strcmp(v, mcp_protocol_versions[i])) return 1;
    return 0;
}

const char *mcp_protocol_negotiate(const char *requested)
{
    for (int i = 0; requested && mcp_protocol_versions[i]; i++)
        if (!strcmp(requested, mcp_protocol_versions[i])) return mcp_protocol_versions[i];
    return MCP_PROTOCOL_LATEST;
}

static void up_start(mcp_upstream *up);
static void up_failed(mcp_upstream *up, const char *why);
static void rebuild(mcp_mux *m);
static void refresh(mcp_upstream *up, int tools);

static int64_t up_timeout_us(const mcp_upstream *up)
{
    int ms = up->cfg->timeout_ms > 0 ? up->cfg->timeout_ms : 60000;
    return (int64_t)ms * 1000;
}

/* ------------------------------------------------------------------ */
/* calls */

static void call_timeout(od_timer *t, void *ud);

mcp_call *mux_call_new(mcp_mux *m, mcp_upstream *up, const char *method, mcp_call_done done)
{
    mcp_call *c = od_calloc(1, sizeof *c);
    c->mux = m;
    c->up = up;
    c->gen = up->gen;
    c->done = done;
    c->timeout_us = up_timeout_us(up);
    od_strlcpy(c->method, method, sizeof c->method);
    return c;
}

int mux_send_up(mcp_upstream *up, cJSON *msg)
{
    if (!up->t || up->fail_why) return -1;
    od_buf txt = {0};
    od_json_write(&txt, msg);
    od_debug("mcp %s <- %s", up->cfg->name, txt.p);
    int rc = up->t->ops->send(up->t, txt.p, txt.len);
    od_buf_free(&txt);
    return rc;
}

void mux_call_send(mcp_call *c, cJSON *params)
{
    mcp_mux *m = c->mux;
    mcp_upstream *up = c->up;
    c->up_id = up->next_id++;
    c->next = m->calls;
    if (m->calls) m->calls->prev = c;
    m->calls = c;
    od_timer_start(m->o.loop, &c->timer, c->timeout_us, call_timeout, c);
    cJSON *id = cJSON_CreateNumber((double)c->up_id);
    cJSON *req = mcp_rpc_request(id, c->method, params);
    cJSON_Delete(id);
    int rc = mux_send_up(up, req);
    cJSON_Delete(req);
    if (rc) {
        cJSON *err = mcp_rpc_error_reason(NULL, MCP_ERR_UPSTREAM, "Upstream unavailable", OD_R_UPSTREAM_ERROR);
        mux_call_finish(c, CALL_CRASH, NULL, od_jget(err, "error"));
        cJSON_Delete(err);
    }
}

void mux_call_finish(mcp_call *c, int why, cJSON *result, cJSON *error)
{
    mcp_mux *m = c->mux;
    od_timer_stop(&c->timer);
    if (c->prev) c->prev->next = c->next;
    else if (m->calls == c) m->calls = c->next;
    if (c->next) c->next->prev = c->prev;
    c->next = c->prev = NULL;
    if (c->done) c->done(c, why, result, error);
    cJSON_Delete(c->down_id);
    cJSON_Delete(c->progress_down);
    if (c->req) {
        od_req_free(c->req);
        free(c->req);
    }
    free(c);
}

void mux_call_cancel_upstream(mcp_call *c, const char *reason)
{
    if (c->gen != c->up->gen || c->up->state != UP_READY) return;
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "requestId", (double)c->up_id);
    if (reason) cJSON_AddStringToObject(p, "reason", reason);
    cJSON *n = mcp_rpc_notification("notifications/cancelled", p);
    mux_send_up(c->up, n);
    cJSON_Delete(n);
}

static void fail_with(mcp_call *c, int why, int code, const char *msg, const char *reason)
{
    cJSON *e = mcp_rpc_error_reason(NULL, code, msg, reason);
    mux_call_finish(c, why, NULL, od_jget(e, "error"));
    cJSON_Delete(e);
}

static void call_timeout(od_timer *t, void *ud)
{
    mcp_call *c = ud;
    od_warn("mcp %s: %s timed out", c->up->cfg->name, c->method);
    mux_call_cancel_upstream(c, "timeout");
    fail_with(c, CALL_TIMEOUT, MCP_ERR_TIMEOUT, "Upstream timed out", OD_R_UPSTREAM_TIMEOUT);
}

static mcp_call *find_call(mcp_mux *m, mcp_upstream *up, int64_t id)
{
    for (mcp_call *c = m->calls; c; c = c->next)
        if (c->up == up && c->gen == up->gen && c->up_id == id) return c;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* fetching every page of a list */

typedef struct fetch {
    mcp_upstream *up;
    int gen;
    const char *method, *key;
    cJSON *items;
    int pages;
    mcp_fetch_fn cb;
    void *ctx;
} fetch;

static void fetch_page(fetch *f, const char *cursor);

static void fetch_done(mcp_call *c, int why, cJSON *result, cJSON *error)
{
    fetch *f = c->ctx;
    if (why == CALL_OK && result) {
        cJSON *arr = od_jget(result, f->key);
        cJSON *it;
        cJSON_ArrayForEach(it, arr)
            if (cJSON_IsObject(it)) cJSON_AddItemToArray(f->items, cJSON_Duplicate(it, 1));
        cJSON *next = od_jget(result, "nextCursor");
        if (cJSON_IsString(next) && next->valuestring[0] && ++f->pages < 1000 &&
            c->up->state == UP_READY && c->gen == c->up->gen) {
            fetch_page(f, next->valuestring);
            return;
        }
    } else if (why != CALL_CANCELLED) {
        cJSON *msg = error ? od_jget(error, "message") : NULL;
        od_warn("mcp %s: %s failed: %s", f->up->cfg->name, f->method,
                cJSON_IsString(msg) ? msg->valuestring : "?");
    }
    cJSON *items = f->items;
    mcp_fetch_fn cb = f->cb;
    void *ctx = f->ctx;
    int idx = f->up->idx;
    int ok = why == CALL_OK;
    free(f);
    if (!ok) { cJSON_Delete(items); items = NULL; }
    cb(ctx, idx, items);
}

static void fetch_page(fetch *f, const char *cursor)
{
    mcp_call *c = mux_call_new(f->up->mux, f->up, f->method, fetch_done);
    c->ctx = f;
    cJSON *p = NULL;
    if (cursor) {
        p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "cursor", cursor);
    }
    mux_call_send(c, p);
}

void mux_fetch_all(mcp_upstream *up, const char *method, const char *key, mcp_fetch_fn cb, void *ctx)
{
    fetch *f = od_calloc(1, sizeof *f);
    f->up = up;
    f->gen = up->gen;
    f->method = method;
    f->key = key;
    f->items = cJSON_CreateArray();
    f->cb = cb;
    f->ctx = ctx;
    fetch_page(f, NULL);
}

/* ------------------------------------------------------------------ */
/* catalogs */

static void notify_all(mcp_mux *m, const char *method)
{
    cJSON *n = mcp_rpc_notification(method, NULL);
    for (mcp_session *s = m->sessions; s; s = s->next)
        if (s->initialized) session_notify(s, n);
    cJSON_Delete(n);
}

static void check_settled(mcp_mux *m)
{
    if (!mux_all_settled(m)) return;
    for (mcp_session *s = m->sessions; s; s = s->next)
        if (s->init_id) session_upstreams_settled(s);
}

static void catalog_fetched(void *ctx, int idx, cJSON *items, int tools)
{
    mcp_mux *m = ctx;
    mcp_upstream *up = &m->ups[idx];
    int bit = tools ? 1 : 2;
    up->fetching &= ~bit;
    if (up->state != UP_READY) { cJSON_Delete(items); return; }
    cJSON **slot = tools ? &up->tools : &up->prompts;
    cJSON_Delete(*slot);
    *slot = items ? items : cJSON_CreateArray();
    rebuild(m);
    notify_all(m, tools ? "notifications/tools/list_changed" : "notifications/prompts/list_changed");
    int *again = tools ? &up->refetch_tools : &up->refetch_prompts;
    if (*again) {
        *again = 0;
        refresh(up, tools);
    }
    if (!up->fetching) {
        up->settled = 1;
        check_settled(m);
    }
}

static void tools_fetched(void *ctx, int idx, cJSON *items) { catalog_fetched(ctx, idx, items, 1); }
static void prompts_fetched(void *ctx, int idx, cJSON *items) { catalog_fetched(ctx, idx, items, 0); }

static void refresh(mcp_upstream *up, int tools)
{
    if (up->state != UP_READY) return;
    int *again = tools ? &up->refetch_tools : &up->refetch_prompts;
    int bit = tools ? 1 : 2;
    if (up->fetching & bit) { *again = 1; return; }
    up->fetching |= bit;
    mux_fetch_all(up, tools ? "tools/list" : "prompts/list", tools ? "tools" : "prompts",
                  tools ? tools_fetched : prompts_fetched, up->mux);
}

static int up_prefix(const mcp_upstream *up) { return up->cfg->prefix; }

static void build_one(mcp_mux *m, int tools, mcp_entry **out, int *nout)
{
    int n = 0;
    for (int i = 0; i < m->nups; i++) {
        cJSON *arr = tools ? m->ups[i].tools : m->ups[i].prompts;
        if (m->ups[i].state == UP_READY && arr) n += cJSON_GetArraySize(arr);
    }
    mcp_name_entry *ne = od_calloc((size_t)n + 1, sizeof *ne);
    mcp_entry *e = od_calloc((size_t)n + 1, sizeof *e);
    int k = 0;
    for (int i = 0; i < m->nups; i++) {
        mcp_upstream *up = &m->ups[i];
        cJSON *arr = tools ? up->tools : up->prompts;
        if (up->state != UP_READY || !arr) continue;
        cJSON *it;
        cJSON_ArrayForEach(it, arr) {
            cJSON *nm = od_jget(it, "name");
            if (!cJSON_IsString(nm)) continue;
            ne[k].server = up->cfg->name;
            ne[k].server_order = i;
            ne[k].name = nm->valuestring;
            ne[k].prefix = up_prefix(up);
            e[k].up = i;
            e[k].orig = nm->valuestring;
            e[k].def = it;
            k++;
        }
    }
    if (mcp_names_resolve(ne, k)) {
        for (int i = 0; i < k; i++)
            if (ne[i].collided)
                od_warn("mcp: %s name %s/%s collides with another; exposed as %s",
                        tools ? "tool" : "prompt", ne[i].server, ne[i].name, ne[i].exposed);
    }
    for (int i = 0; i < k; i++) memcpy(e[i].exposed, ne[i].exposed, sizeof e[i].exposed);
    free(ne);
    *out = e;
    *nout = k;
}

static void rebuild(mcp_mux *m)
{
    free(m->tools);
    free(m->prompts);
    build_one(m, 1, &m->tools, &m->ntools);
    build_one(m, 0, &m->prompts, &m->nprompts);
}

const mcp_entry *mux_find(const mcp_entry *v, int n, const char *exposed)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(v[i].exposed, exposed)) return &v[i];
    return NULL;
}

/* ------------------------------------------------------------------ */
/* URIs */

mcp_upstream *mux_uri_owner(mcp_mux *m, const char *uri, const char **orig)
{
    /* prefixed servers by their "name+" first, longest name winning */
    mcp_upstream *best = NULL;
    size_t bestlen = 0;
    for (int i = 0; i < m->nups; i++) {
        mcp_upstream *up = &m->ups[i];
        if (!up->cfg->prefix) continue;
        const char *rest = mcp_uri_unwrap(up->cfg->name, uri);
        if (rest && strlen(up->cfg->name) > bestlen) {
            best = up;
            bestlen = strlen(up->cfg->name);
            *orig = rest;
        }
    }
    if (best) return best;
    /* unprefixed: the first ready one offering resources */
    for (int i = 0; i < m->nups; i++) {
        mcp_upstream *up = &m->ups[i];
        if (!up->cfg->prefix && up->state == UP_READY && od_jget(up->caps, "resources")) {
            *orig = uri;
            return up;
        }
    }
    return NULL;
}

static int wrap_field(mcp_upstream *up, cJSON *o, const char *field)
{
    cJSON *u = od_jget(o, field);
    if (!cJSON_IsString(u)) return 0;
    char *w = mcp_uri_wrap(up->cfg->name, up->cfg->prefix, u->valuestring);
    cJSON_SetValuestring(u, w);
    free(w);
    return 1;
}

int mux_wrap_uris(mcp_upstream *up, cJSON *node, int depth)
{
    int n = 0;
    if (!up->cfg->prefix || !node || depth > 16) return 0;
    if (cJSON_IsObject(node)) {
        n += wrap_field(up, node, "uri");
        n += wrap_field(up, node, "uriTemplate");
        cJSON *ch;
        cJSON_ArrayForEach(ch, node)
            if (cJSON_IsObject(ch) || cJSON_IsArray(ch)) n += mux_wrap_uris(up, ch, depth + 1);
    } else if (cJSON_IsArray(node)) {
        cJSON *ch;
        cJSON_ArrayForEach(ch, node) n += mux_wrap_uris(up, ch, depth + 1);
    }
    return n;
}

/* ------------------------------------------------------------------ */
/* capabilities */

cJSON *mux_caps_for_client(const mcp_mux *m)
{
    int prompts = 0, resources = 0, subscribe = 0, logging = 0, completions = 0;
    for (int i = 0; i < m->nups; i++) {
        const mcp_upstream *up = &m->ups[i];
        if (up->state != UP_READY || !up->caps) continue;
        cJSON *r = od_jget(up->caps, "resources");
        if (od_jget(up->caps, "prompts")) prompts = 1;
        if (r) resources = 1;
        if (r && cJSON_IsTrue(od_jget(r, "subscribe"))) subscribe = 1;
        if (od_jget(up->caps, "logging")) logging = 1;
        if (od_jget(up->caps, "completions")) completions = 1;
    }
    cJSON *c = cJSON_CreateObject();
    /* tools always: an upstream that comes up later announces its tools */
    cJSON_AddTrueToObject(cJSON_AddObjectToObject(c, "tools"), "listChanged");
    if (prompts) cJSON_AddTrueToObject(cJSON_AddObjectToObject(c, "prompts"), "listChanged");
    if (resources) {
        cJSON *r = cJSON_AddObjectToObject(c, "resources");
        cJSON_AddTrueToObject(r, "listChanged");
        if (subscribe) cJSON_AddTrueToObject(r, "subscribe");
    }
    if (logging) cJSON_AddObjectToObject(c, "logging");
    if (completions) cJSON_AddObjectToObject(c, "completions");
    return c;
}

/* ------------------------------------------------------------------ */
/* server -> client requests */

static mcp_session *caller_session(mcp_mux *m, mcp_upstream *up)
{
    for (mcp_call *c = m->calls; c; c = c->next) /* newest first */
        if (c->up == up && c->s) return c->s;
    for (mcp_session *s = m->sessions; s; s = s->next)
        if (s->initialized) return s;
    return NULL;
}

static void srvreq_unlink(mcp_mux *m, mcp_srvreq *r)
{
    if (r->prev) r->prev->next = r->next;
    else m->srvreqs = r->next;
    if (r->next) r->next->prev = r->prev;
    cJSON_Delete(r->up_id);
    free(r);
}

static void answer_up_error(mcp_upstream *up, const cJSON *id, int code, const char *msg)
{
    cJSON *e = mcp_rpc_error_obj(id, code, msg, NULL);
    mux_send_up(up, e);
    cJSON_Delete(e);
}

static void server_request(mcp_upstream *up, mcp_msg *msg)
{
    mcp_mux *m = up->mux;
    if (!strcmp(msg->method, "ping")) {
        cJSON *r = mcp_rpc_result_take(msg->id, cJSON_CreateObject());
        mux_send_up(up, r);
        cJSON_Delete(r);
        return;
    }
    const char *cap = !strcmp(msg->method, "sampling/createMessage") ? "sampling"
                    : !strcmp(msg->method, "elicitation/create") ? "elicitation"
                    : !strcmp(msg->method, "roots/list") ? "roots" : NULL;
    if (!cap) {
        answer_up_error(up, msg->id, MCP_ERR_METHOD_NOT_FOUND, "Method not found");
        return;
    }
    mcp_session *s = caller_session(m, up);
    if (!s || !session_has_cap(s, cap)) {
        answer_up_error(up, msg->id, MCP_ERR_METHOD_NOT_FOUND, "The client does not support this request");
        return;
    }
    mcp_srvreq *r = od_calloc(1, sizeof *r);
    r->s = s;
    r->up = up;
    r->gen = up->gen;
    r->up_id = cJSON_Duplicate(msg->id, 1);
    snprintf(r->down_id, sizeof r->down_id, "odock-%lld", (long long)++m->next_srvreq);
    r->next = m->srvreqs;
    if (m->srvreqs) m->srvreqs->prev = r;
    m->srvreqs = r;
    cJSON *id = cJSON_CreateString(r->down_id);
    cJSON *fwd = mcp_rpc_request(id, msg->method, msg->params ? cJSON_Duplicate(msg->params, 1) : NULL);
    cJSON_Delete(id);
    session_send_request(s, fwd);
    cJSON_Delete(fwd);
}

void mux_answer_srvreq(mcp_mux *m, mcp_session *s, mcp_msg *msg)
{
    if (!cJSON_IsString(msg->id)) return;
    for (mcp_srvreq *r = m->srvreqs; r; r = r->next) {
        if (r->s != s || strcmp(r->down_id, msg->id->valuestring)) continue;
        if (r->gen == r->up->gen && r->up->state == UP_READY) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "jsonrpc", "2.0");
            cJSON_AddItemToObject(o, "id", cJSON_Duplicate(r->up_id, 1));
            if (msg->result) cJSON_AddItemToObject(o, "result", cJSON_Duplicate(msg->result, 1));
            else cJSON_AddItemToObject(o, "error", cJSON_Duplicate(msg->error, 1));
            mux_send_up(r->up, o);
            cJSON_Delete(o);
        }
        srvreq_unlink(m, r);
        return;
    }
    od_debug("mcp: answer to unknown request %s dropped", msg->id->valuestring);
}

/* ------------------------------------------------------------------ */
/* what upstreams send */

static void on_progress(mcp_upstream *up, cJSON *params)
{
    cJSON *tok = od_jget(params, "progressToken");
    if (!cJSON_IsNumber(tok)) return;
    for (mcp_call *c = up->mux->calls; c; c = c->next) {
        if (c->up != up || !c->s || !c->progress_down || c->progress_up != (int64_t)tok->valuedouble)
            continue;
        /* progress keeps a long call alive */
        od_timer_start(up->mux->o.loop, &c->timer, c->timeout_us, call_timeout, c);
        cJSON *p = cJSON_Duplicate(params, 1);
        cJSON_ReplaceItemInObject(p, "progressToken", cJSON_Duplicate(c->progress_down, 1));
        cJSON *n = mcp_rpc_notification("notifications/progress", p);
        session_notify(c->s, n);
        cJSON_Delete(n);
        return;
    }
}

static void on_notification(mcp_upstream *up, mcp_msg *msg)
{
    mcp_mux *m = up->mux;
    const char *meth = msg->method;
    if (!strcmp(meth, "notifications/tools/list_changed")) { refresh(up, 1); return; }
    if (!strcmp(meth, "notifications/prompts/list_changed")) { refresh(up, 0); return; }
    if (!strcmp(meth, "notifications/progress")) { on_progress(up, msg->params); return; }
    if (!strcmp(meth, "notifications/cancelled")) {
        cJSON *rid = od_jget(msg->params, "requestId");
        for (mcp_srvreq *r = m->srvreqs; r && rid; r = r->next) {
            if (r->up != up || !cJSON_Compare(r->up_id, rid, 1)) continue;
            cJSON *p = cJSON_Duplicate(msg->params, 1);
            cJSON_ReplaceItemInObject(p, "requestId", cJSON_CreateString(r->down_id));
            cJSON *n = mcp_rpc_notification(meth, p);
            session_notify(r->s, n);
            cJSON_Delete(n);
            srvreq_unlink(m, r);
            break;
        }
        return;
    }
    if (!strcmp(meth, "notifications/resources/list_changed") ||
        !strcmp(meth, "notifications/resources/updated") ||
        !strcmp(meth, "notifications/message")) {
        cJSON *p = msg->params ? cJSON_Duplicate(msg->params, 1) : NULL;
        if (p && !strcmp(meth, "notifications/resources/updated")) mux_wrap_uris(up, p, 0);
        int is_log = !strcmp(meth, "notifications/message");
        if (p && is_log && m->pol) {
            /* the output guardrails, as on a result: masked, or withheld */
            od_req r;
            od_req_init(&r, OD_KIND_TOOL, up->cfg->name);
            cJSON *data = od_jget(p, "data");
            int blocked = data && pol_inspect(m->pol, &r, OD_WHERE_TOOL_RESULTS, data) != 0;
            od_req_free(&r);
            if (blocked) {
                od_warn("mcp %s: a log message withheld by the guardrails", up->cfg->name);
                cJSON_Delete(p);
                return;
            }
        }
        if (p && is_log) {
            /* say which server is talking */
            cJSON *lg = od_jget(p, "logger");
            od_buf b = {0};
            od_buf_printf(&b, "%s%s%s", up->cfg->name, cJSON_IsString(lg) ? "/" : "",
                          cJSON_IsString(lg) ? lg->valuestring : "");
            if (lg) cJSON_DeleteItemFromObject(p, "logger");
            cJSON_AddStringToObject(p, "logger", b.p);
            od_buf_free(&b);
        }
        /* an update goes to the sessions that subscribed to its URI; a log
         * to those that may use the server; a list change to all */
        const cJSON *uri = !strcmp(meth, "notifications/resources/updated") ? od_jget(p, "uri") : NULL;
        if (!strcmp(meth, "notifications/resources/updated") && !cJSON_IsString(uri)) {
            cJSON_Delete(p);
            return;
        }
        cJSON *n = mcp_rpc_notification(meth, p);
        for (mcp_session *s = m->sessions; s; s = s->next) {
            if (!s->initialized) continue;
            const cJSON *lv = is_log ? od_jget(p, "level") : NULL;
            if (uri ? session_subscribed(s, uri->valuestring)
                    : !is_log || (session_wants_log(s, cJSON_IsString(lv) ? lv->valuestring : NULL) &&
                                  session_sees_server(s, (int)(up - m->ups))))
                session_notify(s, n);
        }
        cJSON_Delete(n);
        return;
    }
    od_debug("mcp %s: notification %s ignored", up->cfg->name, meth);
}

/* raw: the message as the upstream wrote it (NULL inside a batch) */
static void up_handle(mcp_upstream *up, cJSON *item, const char *raw, size_t raw_len)
{
    mcp_msg msg;
    switch (mcp_rpc_classify(item, &msg)) {
    case MCP_MSG_RESPONSE: {
        if (!cJSON_IsNumber(msg.id)) break;
        mcp_call *c = find_call(up->mux, up, (int64_t)msg.id->valuedouble);
        if (!c) { od_debug("mcp %s: late or unknown answer dropped", up->cfg->name); break; }
        c->raw = raw;
        c->raw_len = raw_len;
        if (msg.result) mux_call_finish(c, CALL_OK, msg.result, NULL);
        else mux_call_finish(c, CALL_UPSTREAM_ERROR, NULL, msg.error);
        break;
    }
    case MCP_MSG_REQUEST:
        server_request(up, &msg);
        break;
    case MCP_MSG_NOTIFICATION:
        on_notification(up, &msg);
        break;
    default:
        od_warn("mcp %s: invalid message: %s", up->cfg->name, msg.err_msg);
        break;
    }
}

/* An answer odock cannot read is not relayed, but the call it answers
 * should not wait for its timeout: its id, when the text gives exactly one
 * at the top level, ends that call with an error now. Text naming a
 * "method" may be the server's own request (its ids are not ours): left
 * to the timeout. */
static void fail_unreadable(mcp_upstream *up, const char *text, size_t len, const char *why)
{
    size_t off, n;
    if (memmem(text, len, "\"method\"", 8) || !od_json_raw_member(text, len, "id", &off, &n)) return;
    cJSON *id = od_json_parse(text + off, n, NULL);
    mcp_call *c = cJSON_IsNumber(id) ? find_call(up->mux, up, (int64_t)id->valuedouble) : NULL;
    cJSON_Delete(id);
    if (!c) return;
    char msg[160];
    snprintf(msg, sizeof msg, "Upstream sent an unreadable answer (%s)", why ? why : "Parse error");
    fail_with(c, CALL_CRASH, MCP_ERR_UPSTREAM, msg, OD_R_UPSTREAM_ERROR);
}

static void up_on_message(void *ud, const char *text, size_t len)
{
    mcp_upstream *up = ud;
    int code;
    const char *emsg;
    od_debug("mcp %s -> %.*s", up->cfg->name, (int)(len > 2000 ? 2000 : len), text);
    cJSON *j = mcp_rpc_parse(text, len, up->mux->o.max_message_bytes, &code, &emsg);
    if (!j) {
        od_warn("mcp %s: unparsable message (%s)", up->cfg->name, emsg);
        fail_unreadable(up, text, len, emsg);
        return;
    }
    int gen = up->gen;
    if (cJSON_IsArray(j)) {
        cJSON *it;
        cJSON_ArrayForEach(it, j) {
            if (up->gen != gen) break;
            up_handle(up, it, NULL, 0);
        }
    } else {
        up_handle(up, j, text, len);
    }
    cJSON_Delete(j);
}

/* ------------------------------------------------------------------ */
/* lifecycle */

static void fail_timer_fn(od_timer *t, void *ud)
{
    mcp_upstream *up = ud;
    char *why = up->fail_why;
    up->fail_why = NULL;
    up_failed(up, why);
    free(why);
}

static void up_on_closed(void *ud, const char *why)
{
    mcp_upstream *up = ud;
    if (up->fail_why) return;
    /* never tear down inside the transport's own callback */
    up->fail_why = od_strdup(why ? why : "closed");
    od_timer_start(up->mux->o.loop, &up->fail_timer, 0, fail_timer_fn, up);
}

static void reap_fn(od_timer *t, void *ud)
{
    mcp_upstream *up = ud;
    if (up->dead_t) {
        up->dead_t->ops->close(up->dead_t);
        up->dead_t = NULL;
    }
}

static void restart_fn(od_timer *t, void *ud)
{
    mcp_upstream *up = ud;
    if (up->dead_t) reap_fn(NULL, up);
    up_start(up);
}

/* whether a session before s, or s before its subs[i], subscribed to uri */
static int asked_before(mcp_mux *m, mcp_session *s, int i, const char *uri)
{
    for (mcp_session *o = m->sessions; o && o != s; o = o->next)
        if (session_subscribed(o, uri)) return 1;
    for (int k = 0; k < i; k++)
        if (!strcmp(s->subs[k], uri)) return 1;
    return 0;
}

/* A server that starts again knows nothing of what the sessions asked of
 * it before its crash: their log level and the resources they subscribe to
 * are asked again, or their updates would stop without a word. */
static void ask_again(mcp_upstream *up)
{
    mcp_mux *m = up->mux;
    if (m->log_level && od_jget(up->caps, "logging")) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "level", session_log_level_name(m->log_level));
        mux_call_send(mux_call_new(m, up, "logging/setLevel", NULL), p);
    }
    if (!od_jget(up->caps, "resources")) return;
    for (mcp_session *s = m->sessions; s; s = s->next) {
        for (int i = 0; i < s->nsubs; i++) {
            const char *orig = NULL;
            if (mux_uri_owner(m, s->subs[i], &orig) != up || asked_before(m, s, i, s->subs[i])) continue;
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "uri", orig);
            mux_call_send(mux_call_new(m, up, "resources/subscribe", NULL), p);
        }
    }
}

static void init_done(mcp_call *c, int why, cJSON *result, cJSON *error)
{
    mcp_upstream *up = c->up;
    if (why == CALL_CANCELLED) return;
    if (c->gen != up->gen || up->state != UP_STARTING) return;
    if (why != CALL_OK) {
        cJSON *msg = error ? od_jget(error, "message") : NULL;
        char buf[256];
        snprintf(buf, sizeof buf, "initialize failed: %s", cJSON_IsString(msg) ? msg->valuestring : "?");
        up_failed(up, buf);
        return;
    }
    cJSON *pv = od_jget(result, "protocolVersion");
    if (!cJSON_IsString(pv) || !mcp_protocol_supported(pv->valuestring)) {
        up_failed(up, "unsupported protocol version");
        return;
    }
    od_strlcpy(up->proto, pv->valuestring, sizeof up->proto);
    cJSON_Delete(up->caps);
    cJSON_Delete(up->info);
    cJSON *caps = od_jget(result, "capabilities");
    up->caps = cJSON_IsObject(caps) ? cJSON_Duplicate(caps, 1) : cJSON_CreateObject();
    cJSON *info = od_jget(result, "serverInfo");
    up->info = info ? cJSON_Duplicate(info, 1) : NULL;
    if (up->t->ops->set_protocol) up->t->ops->set_protocol(up->t, up->proto);
    up->state = UP_READY;
    up->failures = 0;
    cJSON *n = mcp_rpc_notification("notifications/initialized", NULL);
    mux_send_up(up, n);
    cJSON_Delete(n);
    od_info("mcp %s: ready (protocol %s)", up->cfg->name, up->proto);
    ask_again(up);
    up->refetch_tools = up->refetch_prompts = 0;
    if (od_jget(up->caps, "tools")) {
        up->fetching |= 1;
        mux_fetch_all(up, "tools/list", "tools", tools_fetched, up->mux);
    }
    if (od_jget(up->caps, "prompts")) {
        up->fetching |= 2;
        mux_fetch_all(up, "prompts/list", "prompts", prompts_fetched, up->mux);
    }
    if (!up->fetching) {
        up->settled = 1;
        check_settled(up->mux);
    }
}

static void up_start(mcp_upstream *up)
{
    mcp_mux *m = up->mux;
    mcp_transport_cbs cbs = {.on_message = up_on_message, .on_closed = up_on_closed};
    mcp_transport_args a = {
        .loop = m->o.loop, .cfg = up->cfg, .max_message = m->o.max_message_bytes,
        .cbs = &cbs, .ud = up,
    };
    char *err = NULL;
    const char *tr = up->cfg->transport ? up->cfg->transport : "stdio";
    up->gen++;
    up->next_id = 1;
    up->fetching = 0;
    if (!strcmp(tr, "stdio")) up->t = mcp_stdio_start(&a, &err);
    else if (!strcmp(tr, "http") || !strcmp(tr, "sse")) up->t = mcp_http_start(&a, &err);
    else if (!strcmp(tr, "websocket")) up->t = mcp_ws_start(&a, &err);
    else err = od_strdup("unknown transport");
    if (!up->t) {
        char buf[300];
        snprintf(buf, sizeof buf, "cannot start: %s", err ? err : "?");
        free(err);
        up->state = UP_STARTING;
        up_failed(up, buf);
        return;
    }
    up->state = UP_STARTING;
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "protocolVersion", m->proto);
    cJSON_AddItemToObject(p, "capabilities", cJSON_Duplicate(m->client_caps, 1));
    cJSON *ci = cJSON_AddObjectToObject(p, "clientInfo");
    cJSON_AddStringToObject(ci, "name", "odock");
    cJSON_AddStringToObject(ci, "version", "0.1.0");
    mcp_call *c = mux_call_new(m, up, "initialize", init_done);
    mux_call_send(c, p);
}

static void fail_calls_of(mcp_mux *m, mcp_upstream *up)
{
    for (;;) {
        mcp_call *c = m->calls;
        while (c && c->up != up) c = c->next;
        if (!c) break;
        fail_with(c, CALL_CRASH, MCP_ERR_UPSTREAM, "Upstream server failed", OD_R_UPSTREAM_ERROR);
    }
    for (mcp_srvreq *r = m->srvreqs, *nx; r; r = nx) {
        nx = r->next;
        if (r->up != up) continue;
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "requestId", r->down_id);
        cJSON_AddStringToObject(p, "reason", "upstream server failed");
        cJSON *n = mcp_rpc_notification("notifications/cancelled", p);
        session_notify(r->s, n);
        cJSON_Delete(n);
        srvreq_unlink(m, r);
    }
}

static void up_failed(mcp_upstream *up, const char *why)
{
    mcp_mux *m = up->mux;
    if (up->state == UP_BACKOFF || up->state == UP_DOWN) return;
    int had = (up->tools && cJSON_GetArraySize(up->tools)) || (up->prompts && cJSON_GetArraySize(up->prompts));
    int64_t delay = 1000000LL << (up->failures < 5 ? up->failures : 5);
    if (delay > BACKOFF_MAX_US) delay = BACKOFF_MAX_US;
    up->failures++;
    od_warn("mcp %s: %s; restarting in %lld ms", up->cfg->name, why, (long long)(delay / 1000));
    up->state = UP_BACKOFF;
    if (up->t) {
        up->dead_t = up->t;
        up->t = NULL;
        od_timer_start(m->o.loop, &up->reap_timer, 0, reap_fn, up);
    }
    od_timer_stop(&up->fail_timer);
    free(up->fail_why);
    up->fail_why = NULL;
    fail_calls_of(m, up);
    cJSON_Delete(up->tools);
    cJSON_Delete(up->prompts);
    up->tools = up->prompts = NULL;
    if (had) {
        rebuild(m);
        notify_all(m, "notifications/tools/list_changed");
        notify_all(m, "notifications/prompts/list_changed");
    }
    od_timer_start(m->o.loop, &up->restart_timer, delay, restart_fn, up);
    up->settled = 1;
    check_settled(m);
}

void mux_start(mcp_mux *m, const char *proto, const cJSON *client_caps)
{
    if (m->started) return;
    m->started = 1;
    od_strlcpy(m->proto, m->o.shared ? MCP_PROTOCOL_LATEST : proto, sizeof m->proto);
    m->client_caps = cJSON_CreateObject();
    static const char *const offer[] = {"sampling", "elicitation", "roots"};
    for (size_t i = 0; i < OD_ARRAY_LEN(offer); i++) {
        const cJSON *c = client_caps ? od_jget(client_caps, offer[i]) : NULL;
        if (m->o.shared) {
            cJSON *o = cJSON_AddObjectToObject(m->client_caps, offer[i]);
            if (!strcmp(offer[i], "roots")) cJSON_AddTrueToObject(o, "listChanged");
        } else if (c) {
            cJSON_AddItemToObject(m->client_caps, offer[i], cJSON_Duplicate(c, 1));
        }
    }
    for (int i = 0; i < m->nups; i++) up_start(&m->ups[i]);
}

int mux_all_settled(const mcp_mux *m)
{
    for (int i = 0; i < m->nups; i++)
        if (!m->ups[i].settled) return 0;
    return 1;
}

void mux_forget_session(mcp_mux *m, mcp_session *s)
{
    for (;;) {
        mcp_call *c = m->calls;
        while (c && c->s != s) c = c->next;
        if (!c) break;
        mux_call_cancel_upstream(c, "client went away");
        mux_call_finish(c, CALL_CANCELLED, NULL, NULL);
    }
    for (mcp_srvreq *r = m->srvreqs, *nx; r; r = nx) {
        nx = r->next;
        if (r->s != s) continue;
        if (r->gen == r->up->gen && r->up->state == UP_READY)
            answer_up_error(r->up, r->up_id, MCP_ERR_INTERNAL, "Client went away");
        srvreq_unlink(m, r);
    }
}

mcp_mux *mcp_mux_new(const mcp_mux_opts *o)
{
    mcp_mux *m = od_calloc(1, sizeof *m);
    m->o = *o;
    if (!m->o.max_message_bytes) m->o.max_message_bytes = MCP_MAX_MESSAGE_DEFAULT;
    if (!m->o.startup_wait_ms) m->o.startup_wait_ms = 20000;
    m->cfg = o->cfg;
    m->pol = o->pol;
    m->page_size = 500;
    const char *ps = getenv("ODOCK_MCP_PAGE_SIZE");
    int64_t v;
    if (ps && !od_parse_i64(ps, &v) && v > 0 && v < 100000) m->page_size = (int)v;
    m->nups = o->cfg ? o->cfg->nmcp_servers : 0;
    m->ups = od_calloc((size_t)m->nups + 1, sizeof *m->ups);
    for (int i = 0; i < m->nups; i++) {
        m->ups[i].mux = m;
        m->ups[i].idx = i;
        m->ups[i].cfg = &o->cfg->mcp_servers[i];
    }
    return m;
}

void mcp_mux_free(mcp_mux *m)
{
    if (!m) return;
    while (m->sessions) mcp_session_free(m->sessions);
    while (m->calls) mux_call_finish(m->calls, CALL_CANCELLED, NULL, NULL);
    while (m->srvreqs) srvreq_unlink(m, m->srvreqs);
    for (int i = 0; i < m->nups; i++) {
        mcp_upstream *up = &m->ups[i];
        if (up->t && up->t->ops->begin_close) up->t->ops->begin_close(up->t);
    }
    for (int i = 0; i < m->nups; i++) {
        mcp_upstream *up = &m->ups[i];
        od_timer_stop(&up->restart_timer);
        od_timer_stop(&up->reap_timer);
        od_timer_stop(&up->fail_timer);
        if (up->t) up->t->ops->close(up->t);
        if (up->dead_t) up->dead_t->ops->close(up->dead_t);
        cJSON_Delete(up->caps);
        cJSON_Delete(up->info);
        cJSON_Delete(up->tools);
        cJSON_Delete(up->prompts);
        free(up->fail_why);
    }
    free(m->ups);
    free(m->tools);
    free(m->prompts);
    cJSON_Delete(m->client_caps);
    free(m);
}
