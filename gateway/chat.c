/* gateway/chat.c — the request pipeline for /v1/chat/completions,
 * /v1/messages and /v1/embeddings:
 *   authenticate -> parse/validate -> resolve model -> authorize -> inspect
 *   -> price + estimate -> reserve -> attempts (upstream.c) -> normalize ->
 *   output guardrails -> settle -> record.
 * One gw_call per request; exactly one pol_record per call, whatever the
 * outcome. The attempt machinery (retries, failover, streaming) lives in
 * upstream.c and reports back through gw_call_* functions here. */
#include "call.h"

#include <string.h>

/* ---------------- lifecycle ---------------- */

static void call_free(gw_call *c)
{
    gw_server *s = c->s;
    od_timer_stop(&c->timer);
    od_timer_stop(&c->deadline);
    if (c->http)
        od_http_cancel(c->http);
    c->http = NULL;
    gw_attempt_reset(c);
    cJSON_Delete(c->body);
    cJSON_Delete(c->abody);
    free(c->xlate_err);
    free(c->anth_beta);
    gw_sg_free(c->sg);
    od_buf_free(&c->tmp);
    if (c->as)
        prov_astream_free(c->as);
    if (c->prev) c->prev->next = c->next;
    else s->calls = c->next;
    if (c->next) c->next->prev = c->prev;
    s->inflight--;
    free(c);
}

void gw_call_finish(gw_call *c)
{
    gw_server *s = c->s;
    if (c->finished)
        return;
    c->finished = 1;
    if (c->dep && c->dep_begun) {
        /* ended without a verdict on the deployment (client gone, shutdown) */
        c->dep->probing = 0;
        c->dep_begun = 0;
    }
    if (c->dep && c->dep_counted) {
        gw_dep_end(c->dep);
        c->dep_counted = 0;
    }
    c->r.t_end_us = od_mono_us();
    if (c->conn)
        gw_conn_detach(c->conn);
    c->conn = NULL;
    /* label only models that resolved: client-chosen strings stay out of /metrics */
    gw_metrics_request(s->metrics, &c->r, c->plan.n > 0 ? c->model : NULL,
                       c->r.t_first_us ? c->r.t_first_us - c->r.t_start_us : 0);
    pol_record(s->pol, &c->r);
    od_req_free(&c->r);
    call_free(c);
}

void gw_call_add_headers(gw_call *c)
{
    const od_req *r = &c->r;
    gw_conn_header_str(c->conn, "x-odock-request-id", r->id);
    if (r->provider[0])
        gw_conn_header_str(c->conn, "x-odock-provider", r->provider);
    gw_conn_header_int(c->conn, "x-odock-attempts", r->attempts);
    if (r->rl_limit_requests > 0) {
        gw_conn_header_int(c->conn, "x-ratelimit-limit-requests", r->rl_limit_requests);
        gw_conn_header_int(c->conn, "x-ratelimit-remaining-requests",
                           r->rl_remaining_requests < 0 ? 0 : r->rl_remaining_requests);
    }
    if (r->rl_limit_tokens > 0) {
        gw_conn_header_int(c->conn, "x-ratelimit-limit-tokens", r->rl_limit_tokens);
        gw_conn_header_int(c->conn, "x-ratelimit-remaining-tokens",
                           r->rl_remaining_tokens < 0 ? 0 : r->rl_remaining_tokens);
    }
}

/* Denies (or fails) the request: error response, then record. The status,
 * reason and message already on c->r win when a policy stage set them. */
void gw_call_fail(gw_call *c, int status, const char *reason, const char *fmt, ...)
{
    if (!c->r.reason) {
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        od_req_deny(&c->r, status, reason, "%s", msg);
    }
    if (c->conn) {
        if (c->conn && gw_conn_streaming(c->conn)) {
            gw_stream_error(c, c->r.status, c->r.reason, c->r.message);
        } else {
            if (c->r.provider[0])
                gw_conn_header(c->conn, "x-odock-provider", "%s", c->r.provider);
            if (c->r.attempts)
                gw_conn_header(c->conn, "x-odock-attempts", "%d", c->r.attempts);
            gw_send_error(c->conn, c->front, &c->r, c->r.status, c->r.reason, c->r.message);
        }
    }
    gw_call_finish(c);
}

void gw_call_client_gone(gw_call *c)
{
    c->conn = NULL;
    od_timer_stop(&c->timer);
    if (c->http) {
        od_http_cancel(c->http);
        c->http = NULL;
    }
    /* charge for what was generated: streamed text when usage never came,
     * the prompt when the upstream had it */
    if (c->admitted && !c->r.settled)
        gw_call_settle_partial(c);
    if (!c->r.reason)
        od_req_deny(&c->r, 499, OD_R_CLIENT_CLOSED, "client closed the connection");
    c->r.error = 1;
    gw_call_finish(c);
}

void gw_calls_abort_all(gw_server *s)
{
    while (s->calls) {
        gw_call *c = s->calls;
        if (!c->r.reason)
            od_req_deny(&c->r, 503, OD_R_UPSTREAM_ERROR, "the gateway shut down before the upstream answered");
        c->r.error = 1;
        gw_call_fail(c, 503, OD_R_UPSTREAM_ERROR, "shutdown");
    }
}

void gw_call_settle(gw_call *c, const prov_usage *u)
{
    c->r.prompt_tokens = u->prompt_tokens;
    c->r.completion_tokens = u->completion_tokens;
    c->r.cached_tokens = u->cached_tokens;
    int64_t cost = prov_cost_micros(&c->price, u);
    c->r.cost_micros = cost;
    pol_settle(c->s->pol, &c->r, cost, u->prompt_tokens + u->completion_tokens);
}

/* A stream that did not finish: the upstream's usage as far as it reported
 * it, but never less output than the text that went out (an Anthropic
 * message_start says output_tokens 1 whatever follows); with no usage at
 * all, the prompt estimate (when the upstream was reached) and that text. */
void gw_call_settle_partial(gw_call *c)
{
    prov_usage u = c->usage;
    int64_t gen = (c->out_chars + 3) / 4;
    if (!u.seen) {
        u.prompt_tokens = c->attempted ? c->est_prompt : 0;
        u.completion_tokens = gen;
    } else if (u.completion_tokens < gen) {
        u.completion_tokens = gen;
    }
    gw_call_settle(c, &u);
}

/* ---------------- validation ---------------- */

static int is_int(const cJSON *v)
{
    return cJSON_IsNumber(v) && v->valuedouble == (double)(int64_t)v->valuedouble;
}

/* Field name of b must be absent or null (unless required), or of one of
 * the JSON types in mask (cJSON type bits). NULL when fine, else writes
 * "name: expected <what>" into msg and returns it. */
static const char *want(const cJSON *b, const char *name, int mask, int required, const char *what, char *msg,
                        size_t n)
{
    const cJSON *v = od_jget(b, name);
    if (!v || cJSON_IsNull(v) ? !required : (v->type & 0xFF & mask) != 0) return NULL;
    snprintf(msg, n, "%s: expected %s", name, what);
    return msg;
}

/* "model" (a non-empty string) and a non-empty list field: every endpoint's. */
static const char *want_model_and_list(const cJSON *b, const char *list, int mask, const char *what, char *msg,
                                       size_t n)
{
    const cJSON *v = od_jget(b, "model");
    if (!cJSON_IsString(v) || !v->valuestring[0]) {
        snprintf(msg, n, "model: expected a string");
        return msg;
    }
    if (want(b, list, mask, 1, what, msg, n)) return msg;
    v = od_jget(b, list);
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 0) {
        snprintf(msg, n, "%s: expected at least one item", list);
        return msg;
    }
    return NULL;
}

#define J_BOOL (cJSON_True | cJSON_False)

/* Returns NULL when fine, else writes "field: problem" into msg. */
static const char *validate_chat(const cJSON *b, char *msg, size_t n)
{
    if (want_model_and_list(b, "messages", cJSON_Array, "an array", msg, n)) return msg;
    const cJSON *v = od_jget(b, "messages");
    int i = 0;
    for (const cJSON *m = v->child; m; m = m->next, i++) {
        if (!cJSON_IsObject(m)) {
            snprintf(msg, n, "messages[%d]: expected an object", i);
            return msg;
        }
        const cJSON *role = od_jget(m, "role");
        if (!cJSON_IsString(role)) {
            snprintf(msg, n, "messages[%d].role: expected a string", i);
            return msg;
        }
        const cJSON *content = od_jget(m, "content");
        if (content && !cJSON_IsString(content) && !cJSON_IsArray(content) && !cJSON_IsNull(content)) {
            snprintf(msg, n, "messages[%d].content: expected a string or an array", i);
            return msg;
        }
    }
    if (want(b, "stream", J_BOOL, 0, "a boolean", msg, n)) return msg;
    static const char *const ints[] = {"max_tokens", "max_completion_tokens", "n", "seed", NULL};
    for (int k = 0; ints[k]; k++) {
        v = od_jget(b, ints[k]);
        if (v && !cJSON_IsNull(v) && !is_int(v)) {
            snprintf(msg, n, "%s: expected an integer", ints[k]);
            return msg;
        }
        if (v && is_int(v) && strcmp(ints[k], "seed") && v->valuedouble < 1) {
            snprintf(msg, n, "%s: expected a positive integer", ints[k]);
            return msg;
        }
    }
    v = od_jget(b, "n");
    if (is_int(v) && v->valuedouble > 128) {
        snprintf(msg, n, "n: at most 128");
        return msg;
    }
    static const char *const nums[] = {"temperature", "top_p", "presence_penalty", "frequency_penalty", NULL};
    for (int k = 0; nums[k]; k++)
        if (want(b, nums[k], cJSON_Number, 0, "a number", msg, n)) return msg;
    if (want(b, "tools", cJSON_Array, 0, "an array", msg, n) ||
        want(b, "stop", cJSON_String | cJSON_Array, 0, "a string or an array", msg, n) ||
        want(b, "stream_options", cJSON_Object, 0, "an object", msg, n) ||
        want(b, "response_format", cJSON_Object, 0, "an object", msg, n))
        return msg;
    return NULL;
}

/* The shape every Messages request needs, whichever deployment serves it;
 * the rest is the upstream's to judge (passthrough) or the translation's. */
static const char *validate_messages(const cJSON *b, char *msg, size_t n)
{
    if (want_model_and_list(b, "messages", cJSON_Array, "an array", msg, n) ||
        want(b, "stream", J_BOOL, 0, "a boolean", msg, n) ||
        want(b, "system", cJSON_String | cJSON_Array, 0, "a string or an array of blocks", msg, n))
        return msg;
    const cJSON *v = od_jget(b, "max_tokens");
    if (v && (!is_int(v) || v->valuedouble < 1)) {
        snprintf(msg, n, "max_tokens: expected a positive integer");
        return msg;
    }
    v = od_jget(b, "messages");
    int i = 0;
    for (const cJSON *m = v->child; m; m = m->next, i++) {
        const cJSON *role = od_jget(m, "role");
        const cJSON *content = od_jget(m, "content");
        if (!cJSON_IsObject(m)) {
            snprintf(msg, n, "messages[%d]: expected an object", i);
            return msg;
        }
        if (!cJSON_IsString(role) || (strcmp(role->valuestring, "user") && strcmp(role->valuestring, "assistant"))) {
            snprintf(msg, n, "messages[%d].role: expected \"user\" or \"assistant\"", i);
            return msg;
        }
        if (!cJSON_IsString(content) && !cJSON_IsArray(content)) {
            snprintf(msg, n, "messages[%d].content: expected a string or an array of blocks", i);
            return msg;
        }
    }
    return NULL;
}

static const char *validate_embed(const cJSON *b, char *msg, size_t n)
{
    return want_model_and_list(b, "input", cJSON_String | cJSON_Array, "a string or an array", msg, n);
}

static int64_t embed_tokens(const cJSON *input)
{
    int64_t chars = 0, items = 0;
    if (cJSON_IsString(input)) {
        chars = (int64_t)strlen(input->valuestring);
        items = 1;
    } else {
        for (const cJSON *i = input ? input->child : NULL; i; i = i->next) {
            items++;
            if (cJSON_IsString(i)) chars += (int64_t)strlen(i->valuestring);
            else if (cJSON_IsArray(i)) chars += 4LL * cJSON_GetArraySize(i); /* token ids */
        }
    }
    return chars / 3 + items + 1;
}

/* ---------------- admission ---------------- */

static int resolve(gw_call *c)
{
    gw_server *s = c->s;
    c->alias = od_config_model(s->cfg, c->model);
    if (c->alias) {
        gw_router_plan(s->router, c->alias, &c->plan);
        if (c->plan.n == 0)
            return od_req_deny(&c->r, 503, OD_R_UPSTREAM_ERROR,
                               "model %s has no usable deployment (unknown providers?)", c->model);
        return 0;
    }
    const char *slash = strchr(c->model, '/');
    if (slash && slash != c->model && slash[1]) {
        char prov[128];
        size_t pl = (size_t)(slash - c->model);
        if (pl < sizeof prov) {
            memcpy(prov, c->model, pl);
            prov[pl] = 0;
            gw_dep *d = gw_router_dep(s->router, prov, slash + 1);
            if (d) {
                c->plan.deps[0] = d;
                c->plan.n = 1;
                return 0;
            }
        }
    }
    return od_req_deny(&c->r, 404, OD_R_MODEL_NOT_FOUND,
                       "model %s does not exist: use a configured model name or PROVIDER/MODEL",
                       c->model);
}

/* ---------------- the Anthropic body ---------------- */

static const char *jtype(const cJSON *b)
{
    const cJSON *t = od_jget(b, "type");
    return cJSON_IsString(t) ? t->valuestring : "";
}

/* Input guardrails on every text the caller wrote, masked in place in the
 * Anthropic JSON itself: text blocks, tool results, tool_use inputs, text
 * documents. Images and PDFs are data, and thinking blocks are signed by
 * Anthropic (changing them fails the request): neither is scanned. */
static int inspect_blocks(gw_call *c, cJSON *content, int depth)
{
    pol_engine *pe = c->s->pol;
    if (cJSON_IsString(content) || (cJSON_IsArray(content) && depth > 4))
        return pol_inspect(pe, &c->r, OD_WHERE_INPUT, content); /* too deep to walk: every string */
    if (!cJSON_IsArray(content))
        return 0;
    cJSON *b;
    cJSON_ArrayForEach(b, content) {
        const char *type = jtype(b);
        int rc = 0;
        if (!strcmp(type, "text")) {
            rc = pol_inspect(pe, &c->r, OD_WHERE_INPUT, od_jget(b, "text"));
        } else if (!strcmp(type, "tool_result") || !strcmp(type, "search_result")) {
            rc = inspect_blocks(c, od_jget(b, "content"), depth + 1);
        } else if (!strcmp(type, "tool_use") || !strcmp(type, "server_tool_use")) {
            rc = pol_inspect(pe, &c->r, OD_WHERE_INPUT, od_jget(b, "input"));
        } else if (!strcmp(type, "document")) {
            cJSON *src = od_jget(b, "source");
            if (!strcmp(jtype(src), "text"))
                rc = pol_inspect(pe, &c->r, OD_WHERE_INPUT, od_jget(src, "data"));
            else if (!strcmp(jtype(src), "content"))
                rc = inspect_blocks(c, od_jget(src, "content"), depth + 1);
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Tool definitions reach the model as prompt text: their descriptions and
 * schemas are where a poisoned tool (an MCP server's, say) hides its
 * instructions, and a secret pasted there leaves like any other. */
static int inspect_anthropic(gw_call *c)
{
    if (inspect_blocks(c, od_jget(c->abody, "system"), 0) < 0)
        return -1;
    cJSON *m;
    cJSON_ArrayForEach(m, od_jget(c->abody, "messages")) {
        if (inspect_blocks(c, od_jget(m, "content"), 0) < 0)
            return -1;
    }
    cJSON *tools = od_jget(c->abody, "tools");
    return tools ? pol_inspect(c->s->pol, &c->r, OD_WHERE_INPUT, tools) : 0;
}

/* Every part of an OpenAI chat body that is text for the model: the
 * messages, tool and function definitions, a predicted output, and a
 * response schema (its descriptions are read as instructions). */
static int inspect_chat(gw_call *c)
{
    static const char *const parts[] = {"messages", "tools", "functions", "prediction", "response_format", NULL};
    for (int i = 0; parts[i]; i++) {
        cJSON *node = od_jget(c->body, parts[i]);
        if (node && pol_inspect(c->s->pol, &c->r, OD_WHERE_INPUT, node) < 0)
            return -1;
    }
    return 0;
}

static int plan_has_anthropic(const gw_call *c)
{
    for (int i = 0; i < c->plan.n; i++)
        if (!strcmp(c->plan.deps[i]->prov->type, "anthropic"))
            return 1;
    return 0;
}

/* After the guardrails: the OpenAI form for non-Anthropic deployments. A
 * body with Anthropic-only content (documents, server tools...) has none;
 * that is an error only when no deployment could take it natively. */
static int translate_anthropic(gw_call *c)
{
    char *err = NULL;
    c->body = prov_anthropic_to_openai_request(c->abody, &err);
    if (c->body) {
        free(err);
        return 0;
    }
    if (!plan_has_anthropic(c)) {
        od_req_deny(&c->r, 400, OD_R_BAD_REQUEST, "%s", err ? err : "invalid request");
        free(err);
        return -1;
    }
    c->xlate_err = err ? err : od_strdup("this request has no OpenAI form");
    return 0;
}

static void read_anthropic_headers(gw_call *c, gw_conn *conn)
{
    char buf[2048];
    int n = gw_req_header(conn, NULL, "anthropic-version", buf, sizeof buf);
    if (n > 0 && (size_t)n < sizeof c->anth_version)
        memcpy(c->anth_version, buf, (size_t)n + 1);
    if (gw_req_header(conn, NULL, "anthropic-beta", buf, sizeof buf) > 0)
        c->anth_beta = od_strdup(buf);
}

/* price of a deployment; -1 when unpriced and the config denies those */
int gw_dep_price(gw_call *c, gw_dep *d, od_price_cfg *out)
{
    const od_config *cfg = c->s->cfg;
    if (prov_price_lookup(cfg, c->alias ? c->alias->name : c->model, d->prov->name, d->model, out) == 0)
        return 0;
    if (!strcmp(d->prov->type, "mock")) {
        memset(out, 0, sizeof *out); /* the mock is free unless priced */
        out->cached_input = -1;
        return 0;
    }
    if (cfg->unpriced_deny)
        return -1;
    *out = cfg->default_price;
    return 0;
}

static int estimate_and_reserve(gw_call *c)
{
    gw_server *s = c->s;
    int64_t max_out = 0, n = 1, worst = 0, est_prompt;
    if (c->ep == GW_EP_EMBEDDINGS) {
        est_prompt = embed_tokens(od_jget(c->body, "input"));
    } else if (c->ep == GW_EP_MESSAGES) {
        /* from the client's own body: it is what a passthrough sends, and a
         * translation never carries more */
        est_prompt = prov_anthropic_estimate_prompt_tokens(c->abody);
        const cJSON *v = od_jget(c->abody, "max_tokens");
        if (is_int(v)) max_out = (int64_t)v->valuedouble;
    } else {
        est_prompt = prov_estimate_prompt_tokens(c->body);
        const cJSON *v = od_jget(c->body, "max_completion_tokens");
        if (!is_int(v)) v = od_jget(c->body, "max_tokens");
        if (is_int(v)) max_out = (int64_t)v->valuedouble;
        v = od_jget(c->body, "n");
        if (is_int(v) && v->valuedouble > 1) n = (int64_t)v->valuedouble;
    }
    c->est_prompt = est_prompt;
    int priced = 0;
    for (int i = 0; i < c->plan.n; i++) {
        od_price_cfg p;
        gw_dep *d = c->plan.deps[i];
        if (gw_dep_price(c, d, &p) < 0)
            continue;
        priced++;
        int64_t mo = max_out;
        if (c->ep != GW_EP_EMBEDDINGS && mo <= 0) {
            mo = prov_max_output_tokens(d->model);
            if (mo <= 0) mo = s->cfg->default_max_output_tokens > 0 ? s->cfg->default_max_output_tokens : 4096;
        }
        prov_usage u = {.prompt_tokens = est_prompt, .completion_tokens = mo * n};
        int64_t cost = prov_cost_micros(&p, &u);
        if (cost > worst) worst = cost;
        if (est_prompt + mo * n > c->est_tokens) c->est_tokens = est_prompt + mo * n;
    }
    if (!priced)
        return od_req_deny(&c->r, 403, OD_R_NO_PRICE,
                           "model %s has no price and unpriced models are denied", c->model);
    if (pol_reserve(s->pol, &c->r, worst, c->est_tokens) < 0)
        return -1;
    c->admitted = 1;
    return 0;
}

/* No answer (not even a first byte) within request_timeout_ms, whatever
 * the retries and failovers were doing. A stream already flowing goes on. */
static void deadline_fire(od_timer *t, void *ud)
{
    gw_call *c = ud;
    (void)t;
    if (c->conn && gw_conn_streaming(c->conn))
        return;
    od_timer_stop(&c->timer);
    c->timer_kind = GW_T_NONE;
    if (c->http) {
        od_http_cancel(c->http);
        c->http = NULL;
    }
    c->r.error = 1;
    gw_call_fail(c, 504, OD_R_UPSTREAM_TIMEOUT, "no answer within the request timeout (%d ms, %d attempts)",
                 c->s->t.request_timeout_ms, c->r.attempts);
}

void gw_call_start(gw_server *s, gw_conn *conn, const gw_incoming *in)
{
    char msg[300];
    gw_call *c = od_calloc(1, sizeof *c);
    c->s = s;
    c->conn = conn;
    c->ep = in->endpoint;
    c->front = in->endpoint == GW_EP_MESSAGES ? GW_FRONT_ANTHROPIC : GW_FRONT_OPENAI;
    c->next = s->calls;
    if (s->calls) s->calls->prev = c;
    s->calls = c;
    s->inflight++;
    gw_conn_set_call(conn, c);

    od_req_init(&c->r, OD_KIND_LLM, "");
    if (!c->r.t_start_us) c->r.t_start_us = od_mono_us();
    c->r.bytes_in = (int64_t)in->len;

    if (pol_authenticate(s->pol, &c->r, in->key) < 0)
        goto deny;

    cJSON *raw = od_json_parse(in->body, in->len, NULL);
    if (!raw || !cJSON_IsObject(raw)) {
        const char *why = !in->len ? "body: empty, expected a JSON object"
                        : raw      ? "body: expected a JSON object"
                                   : "body: not valid JSON";
        const char *dup = raw ? NULL : od_json_dup_key();
        cJSON_Delete(raw);
        if (dup) od_req_deny(&c->r, 400, OD_R_BAD_REQUEST, "body: \"%.60s\" given twice in one object", dup);
        else od_req_deny(&c->r, 400, OD_R_BAD_REQUEST, "%s", why);
        goto deny;
    }
    if (od_json_saw_nul()) {
        /* passed on as written it would differ from what was inspected, and
         * cutting or replacing it would change the caller's text unasked */
        cJSON_Delete(raw);
        od_req_deny(&c->r, 400, OD_R_BAD_REQUEST, "body: \\u0000 in a string is not accepted");
        goto deny;
    }
    const cJSON *mv = od_jget(raw, "model");
    if (cJSON_IsString(mv)) {
        od_strlcpy(c->model, mv->valuestring, sizeof c->model);
        od_strlcpy(c->r.target, mv->valuestring, sizeof c->r.target);
    }
    if (c->ep == GW_EP_MESSAGES) {
        c->abody = raw; /* translated after the guardrails mask it */
        const char *bad = validate_messages(raw, msg, sizeof msg);
        if (bad) {
            od_req_deny(&c->r, 400, OD_R_BAD_REQUEST, "%s", bad);
            goto deny;
        }
        c->stream = cJSON_IsTrue(od_jget(raw, "stream"));
        read_anthropic_headers(c, conn);
    } else {
        c->body = raw;
        const char *bad = c->ep == GW_EP_CHAT ? validate_chat(raw, msg, sizeof msg)
                                              : validate_embed(raw, msg, sizeof msg);
        if (bad) {
            od_req_deny(&c->r, 400, OD_R_BAD_REQUEST, "%s", bad);
            goto deny;
        }
        if (c->ep == GW_EP_CHAT) {
            c->stream = cJSON_IsTrue(od_jget(raw, "stream"));
            c->include_usage = cJSON_IsTrue(od_jget(
                od_jget(raw, "stream_options"), "include_usage"));
        }
    }

    if (resolve(c) < 0)
        goto deny;
    if (pol_authorize(s->pol, &c->r) < 0)
        goto deny;
    if (c->ep == GW_EP_EMBEDDINGS) {
        cJSON *input = od_jget(c->body, "input");
        if (pol_inspect(s->pol, &c->r, OD_WHERE_INPUT, input) < 0)
            goto deny;
    } else if (c->ep == GW_EP_MESSAGES) {
        if (inspect_anthropic(c) < 0 || translate_anthropic(c) < 0)
            goto deny;
    } else if (inspect_chat(c) < 0) {
        goto deny;
    }
    if (estimate_and_reserve(c) < 0)
        goto deny;
    if (c->front == GW_FRONT_ANTHROPIC && c->stream)
        c->as = prov_astream_new(c->model);
    if (c->stream && c->ep != GW_EP_EMBEDDINGS)
        c->sg = gw_sg_new(c);
    od_timer_start(s->loop, &c->deadline, (int64_t)s->t.request_timeout_ms * 1000, deadline_fire, c);
    gw_attempt_next(c);
    return;

deny:
    if (!c->r.reason)
        od_req_deny(&c->r, 400, OD_R_BAD_REQUEST, "bad request");
    gw_call_fail(c, c->r.status, c->r.reason, "%s", c->r.message);
}

/* ---------------- success paths (called by upstream.c) ---------------- */

void gw_call_respond_json(gw_call *c, cJSON *resp)
{
    gw_server *s = c->s;
    if (c->ep == GW_EP_CHAT || c->ep == GW_EP_MESSAGES) {
        /* output guardrails: masking edits the response, a block denies it
         * (the upstream call is still charged) */
        cJSON *choices = od_jget(resp, "choices");
        if (choices && pol_inspect(s->pol, &c->r, OD_WHERE_OUTPUT, choices) < 0) {
            cJSON_Delete(resp);
            gw_call_fail(c, c->r.status, c->r.reason, "%s", c->r.message);
            return;
        }
    }
    cJSON *out = resp;
    if (c->front == GW_FRONT_ANTHROPIC) {
        out = prov_openai_to_anthropic_response(resp);
        cJSON_Delete(resp);
        if (!out) {
            gw_call_fail(c, 502, OD_R_UPSTREAM_ERROR, "could not translate the upstream answer");
            return;
        }
    } else {
        /* answer under the name the client asked for */
        if (od_jget(out, "model"))
            cJSON_ReplaceItemInObjectCaseSensitive(out, "model", cJSON_CreateString(c->model));
    }
    od_buf_reset(&c->tmp);
    od_json_write(&c->tmp, out);
    cJSON_Delete(out);
    if (c->conn) {
        gw_call_add_headers(c);
        gw_conn_respond(c->conn, 200, "application/json", c->tmp.p, c->tmp.len);
    }
    c->r.bytes_out = (int64_t)c->tmp.len;
    gw_call_finish(c);
}

void gw_call_respond_native(gw_call *c, cJSON *msg, const char *raw, size_t rawlen)
{
    gw_server *s = c->s;
    od_req *r = &c->r;
    /* output guardrails on what the model wrote: text and tool inputs
     * (thinking blocks are signed: they go back unchanged) */
    int rewrites = r->gr_inited ? r->gr.rewrites : 0;
    cJSON *b;
    cJSON_ArrayForEach(b, od_jget(msg, "content")) {
        const char *type = jtype(b);
        cJSON *node = !strcmp(type, "text") ? od_jget(b, "text")
                      : !strcmp(type, "tool_use") ? od_jget(b, "input") : NULL;
        if (node && pol_inspect(s->pol, r, OD_WHERE_OUTPUT, node) < 0) {
            cJSON_Delete(msg);
            gw_call_fail(c, r->status, r->reason, "%s", r->message);
            return;
        }
    }
    /* masked in place: re-encode (a flag alone changes nothing); so too
     * with a \u0000, which the inspected tree holds as U+FFFD */
    int masked = (r->gr_inited ? r->gr.rewrites : 0) != rewrites;
    char *printed = masked || od_json_has_nul(raw, rawlen) ? od_json_print(msg) : NULL;
    cJSON_Delete(msg);
    const char *body = printed ? printed : raw;
    size_t len = printed ? strlen(printed) : rawlen;
    if (c->conn) {
        gw_call_add_headers(c);
        gw_conn_respond(c->conn, 200, "application/json", body, len);
    }
    r->bytes_out = (int64_t)len;
    free(printed);
    gw_call_finish(c);
}
