/* gateway/stream.c — the client side of a streamed answer: OpenAI SSE
 * chunks (or Anthropic events via prov_astream), the Anthropic passthrough
 * relay, usage-chunk stripping, error events after the first byte,
 * backpressure, and guardrails on streamed output.
 *
 * Streamed-output guardrails. Text deltas go through a per-choice (OpenAI)
 * or per-content-block (Anthropic) window: the last `hold` bytes (default
 * 256, ODOCK_STREAM_GUARD_HOLD) are kept back, cut at whitespace, so a value
 * split across chunks (an e-mail in "ne.roe@e" + "xample.org") is inspected
 * whole before any of it leaves. Each time text is released, the window is
 * probed with a scratch guardrail context (nothing recorded) to find a cut
 * no finding straddles; the released part is then scanned once with the
 * request's own context (findings recorded once, placeholders shared with
 * the prompt's), masked, and sent. A block ends the stream with an error
 * event (no [DONE] / message_stop). The cost: the client sees text `hold`
 * bytes later than the upstream sent it (the rest when the choice or block
 * ends), in pieces of at least GW_SG_STEP bytes, each costing a scan of about
 * hold bytes (~1 ns a byte); fewer, larger chunks also mean fewer writes, so
 * a guarded stream costs no more CPU than an unguarded one.
 * Tool-call arguments (OpenAI tool_calls, Anthropic input_json_delta) go
 * through windows of their own, one per call: they are model output too.
 * Role chunks, a call's id and name, message_start, pings and usage are not
 * held: the first byte goes out as soon as it comes. Values longer than the
 * window and Anthropic thinking blocks (signed by Anthropic: changing them
 * breaks the next turn) are not inspected in streams. */
#include "call.h"

#include <string.h>

static void write_str(gw_call *c, const char *s, size_t n)
{
    c->r.bytes_out += (int64_t)n;
    gw_conn_stream_write(c->conn, s, n);
}

static void begin(gw_call *c)
{
    od_timer_stop(&c->timer); /* the TTFT timer */
    c->timer_kind = GW_T_NONE;
    c->r.t_first_us = od_mono_us();
    if (c->dep && c->dep_begun) {
        gw_dep_success(c->s->router, c->dep, c->r.t_first_us - c->attempt_t0);
        c->dep_begun = 0;
    }
    gw_call_add_headers(c);
    gw_conn_stream_start(c->conn, 200, "text/event-stream");
}

static void count_chars(gw_call *c, const cJSON *choices)
{
    for (const cJSON *ch = choices ? choices->child : NULL; ch; ch = ch->next) {
        const cJSON *d = od_jget(ch, "delta");
        const cJSON *t = od_jget(d, "content");
        if (cJSON_IsString(t)) c->out_chars += (int64_t)strlen(t->valuestring);
        const cJSON *tcs = od_jget(d, "tool_calls");
        for (const cJSON *tc = tcs ? tcs->child : NULL; tc; tc = tc->next) {
            const cJSON *f = od_jget(tc, "function");
            const cJSON *a = od_jget(f, "arguments");
            const cJSON *nm = od_jget(f, "name");
            if (cJSON_IsString(a)) c->out_chars += (int64_t)strlen(a->valuestring);
            if (cJSON_IsString(nm)) c->out_chars += (int64_t)strlen(nm->valuestring);
        }
    }
}

/* ---------------- streamed-output guardrails ---------------- */

#define GW_SG_HOLD_DEFAULT 256
#define GW_SG_HOLD_MAX 8192
#define GW_SG_TRIES 4 /* cuts tried before waiting for more text */
#define GW_SG_STEP 64 /* text is released in pieces of at least this: fewer rescans of the window */

typedef struct sg_chan {
    int idx;          /* choice index, or content block index; TOOL_CH for a tool call's arguments */
    int tool;         /* 1: a tool call's arguments (JSON text), not message text */
    int choice, call; /* OpenAI: of a tool channel, its choice and tool_calls index */
    od_buf held;      /* text not yet sent */
    od_buf rel;       /* released by the current chunk (OpenAI chunks) */
    int has_rel;
    int found;        /* the probe found something in held: the whole window until a release */
} sg_chan;

/* The arguments of tool call k of choice i stream like text and go through
 * a window of their own: a secret the model writes into a call is output
 * too. Their channels sit below every choice index. */
#define TOOL_CH(i, k) (-1 - (i) * 4096 - (k))

struct gw_sg {
    const gr_engine *e;
    int hold;         /* the most kept back; 0: flag-only, each piece scanned as it comes */
    gr_ctx probe;     /* scratch context: its findings are never recorded */
    int probe_inited;
    sg_chan *ch;
    int nch;
    od_buf out;       /* text released by one feed */
    /* of the last OpenAI chunk, for a flush chunk at the end */
    char id[128], model[128];
    double created;
};

static int hold_setting(void)
{
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("ODOCK_STREAM_GUARD_HOLD");
        int64_t n;
        v = GW_SG_HOLD_DEFAULT;
        if (e && *e && od_parse_i64(e, &n) == 0 && n >= 0 && n <= GW_SG_HOLD_MAX)
            v = (int)n;
    }
    return v;
}

/* The strongest action any guardrail can take on model output. */
static od_action output_level(const od_guard_cfg *g)
{
    od_action a = g->pii > g->secrets ? g->pii : g->secrets;
    for (int i = 0; i < g->ndetectors; i++)
        if (g->detectors[i].action > a) a = g->detectors[i].action;
    for (int i = 0; i < g->nrules; i++)
        if ((g->rules[i].applies_to & OD_WHERE_OUTPUT) && g->rules[i].action > a) a = g->rules[i].action;
    return a;
}

gw_sg *gw_sg_new(gw_call *c)
{
    const gr_engine *e = pol_guard(c->s->pol);
    od_action lvl = output_level(&c->s->cfg->guardrails);
    if (!e || lvl == OD_ACT_OFF)
        return NULL;
    gw_sg *g = od_calloc(1, sizeof *g);
    g->e = e;
    /* only mask and block need the window: a flag never changes the text */
    g->hold = lvl >= OD_ACT_MASK ? hold_setting() : 0;
    return g;
}

void gw_sg_reset(gw_sg *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->nch; i++) {
        od_buf_free(&g->ch[i].held);
        od_buf_free(&g->ch[i].rel);
    }
    free(g->ch);
    g->ch = NULL;
    g->nch = 0;
}

void gw_sg_free(gw_sg *g)
{
    if (!g)
        return;
    gw_sg_reset(g);
    if (g->probe_inited)
        gr_ctx_free(&g->probe);
    od_buf_free(&g->out);
    free(g);
}

static sg_chan *sg_chan_of(gw_sg *g, int idx)
{
    for (int i = 0; i < g->nch; i++)
        if (g->ch[i].idx == idx)
            return &g->ch[i];
    g->ch = od_realloc(g->ch, (size_t)(g->nch + 1) * sizeof *g->ch);
    sg_chan *ch = &g->ch[g->nch++];
    memset(ch, 0, sizeof *ch);
    ch->idx = idx;
    return ch;
}

/* An upstream's index, when it is a small number (TOOL_CH must not
 * overflow); else dflt, its position */
static int small_index(const cJSON *v, int dflt)
{
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 4096 ? (int)v->valuedouble : dflt;
}

static sg_chan *sg_tool_chan(gw_sg *g, int choice, int call)
{
    sg_chan *ch = sg_chan_of(g, TOOL_CH(choice, call));
    ch->tool = 1;
    ch->choice = choice;
    ch->call = call;
    return ch;
}

/* Scans text with the request's own context (findings recorded, the
 * prompt's placeholders reused) and appends what may go out to out.
 * 1 when a block fired: the request is denied, nothing appended. */
static int sg_scan_real(gw_call *c, const char *t, size_t n, od_buf *out)
{
    od_req *r = &c->r;
    if (!n)
        return 0;
    if (!r->gr_inited) {
        gr_ctx_init(&r->gr, r->key_id, r->key_name, r->team);
        r->gr_inited = 1;
    }
    char *m = NULL;
    size_t ml = 0;
    if (gr_scan_text_len(c->sg->e, &r->gr, OD_WHERE_OUTPUT, t, n, &m, &ml)) {
        free(m);
        if (!r->reason)
            od_req_deny(r, 403, r->gr.block_reason ? r->gr.block_reason : "guardrail_block",
                        "Blocked by guardrail %s in the streamed answer", r->gr.block_detector);
        return 1;
    }
    if (m) od_buf_put(out, m, ml);
    else od_buf_put(out, t, n);
    free(m);
    return 0;
}

/* Scratch scan of the window: -1 a block, 1 something found, 0 nothing. */
static int sg_probe(gw_call *c, const char *t, size_t n)
{
    gw_sg *g = c->sg;
    if (!g->probe_inited) {
        gr_ctx_init(&g->probe, c->r.key_id, c->r.key_name, c->r.team);
        g->probe_inited = 1;
    }
    g->probe.nfindings = 0;
    g->probe.blocked = 0;
    g->probe.block_reason = NULL;
    int rc = gr_scan_text_len(g->e, &g->probe, OD_WHERE_OUTPUT, t, n, NULL, NULL);
    return rc ? -1 : g->probe.nfindings > 0;
}

/* Whether cutting t at k changes nothing: scanning [0,k) then [k,n) in one
 * fresh context gives what scanning [0,n) in another gives. False when a
 * finding straddles k. */
static int sg_clean_cut(gw_call *c, const char *t, size_t n, size_t k)
{
    const gr_engine *e = c->sg->e;
    gr_ctx whole, parts;
    char *mw = NULL, *m1 = NULL, *m2 = NULL;
    size_t lw = 0, l1 = 0, l2 = 0;
    int ok = 0;
    gr_ctx_init(&whole, c->r.key_id, c->r.key_name, c->r.team);
    gr_ctx_init(&parts, c->r.key_id, c->r.key_name, c->r.team);
    if (gr_scan_text_len(e, &whole, OD_WHERE_OUTPUT, t, n, &mw, &lw) ||
        gr_scan_text_len(e, &parts, OD_WHERE_OUTPUT, t, k, &m1, &l1) ||
        gr_scan_text_len(e, &parts, OD_WHERE_OUTPUT, t + k, n - k, &m2, &l2))
        goto done;
    const char *pw = mw ? mw : t, *p1 = m1 ? m1 : t, *p2 = m2 ? m2 : t + k;
    if (!mw) lw = n;
    if (!m1) l1 = k;
    if (!m2) l2 = n - k;
    ok = l1 + l2 == lw && memcmp(pw, p1, l1) == 0 && memcmp(pw + l1, p2, l2) == 0 &&
         whole.nfindings == parts.nfindings;
done:
    free(mw);
    free(m1);
    free(m2);
    gr_ctx_free(&whole);
    gr_ctx_free(&parts);
    return ok;
}

/* The largest k <= limit just after whitespace; 0 when none. */
static size_t ws_cut(const char *t, size_t limit)
{
    for (size_t k = limit; k > 0; k--)
        if (od_is_space((unsigned char)t[k - 1]))
            return k;
    return 0;
}

static void sg_drop_front(od_buf *b, size_t k)
{
    memmove(b->p, b->p + k, b->len - k);
    b->len -= k;
    b->p[b->len] = 0;
}

/* New text of channel idx: appends what may go out now to g->out (often
 * nothing while the window fills). 1 when blocked.
 *
 * While nothing is found in what is held, only its end stays back: a value
 * that may still be growing there and the context before it
 * (gr_stream_hold), so text flows a few dozen bytes behind the model. Once
 * something is found, or a rule with no known shape applies, the whole
 * window (g->hold) stays back and text is cut only where no finding
 * straddles the cut. */
static int sg_feed(gw_call *c, int idx, const char *text, size_t n)
{
    gw_sg *g = c->sg;
    sg_chan *ch = sg_chan_of(g, idx);
    od_buf_put(&ch->held, text, n);
    const char *t = ch->held.p;
    size_t len = ch->held.len, window = (size_t)g->hold;
    if (window == 0) {
        int rc = sg_scan_real(c, t, len, &g->out);
        od_buf_reset(&ch->held);
        return rc;
    }
    /* the hold below is never less than this: shorter text waits as it would */
    if (len < (window < GR_HOLD_CONTEXT ? window : GR_HOLD_CONTEXT) + GW_SG_STEP)
        return 0;
    size_t hold = ch->found ? window : gr_stream_hold(g->e, t, len);
    if (hold > window)
        hold = window;
    if (len < hold + GW_SG_STEP)
        return 0;
    int pr = sg_probe(c, t, len);
    if (pr < 0) {
        /* a block somewhere in the window: record it on the request, stop */
        od_buf scratch = {0};
        int rc = sg_scan_real(c, t, len, &scratch);
        od_buf_free(&scratch);
        if (rc)
            return 1;
    } else if (pr > 0) {
        ch->found = 1;
        hold = window;
        if (len < hold + GW_SG_STEP)
            return 0;
    }
    size_t k = ws_cut(t, len - hold);
    if (k == 0) {
        /* one long word so far: wait for its end, unless what is held is
         * clean and [len - hold, len) covers all that may still grow */
        if (hold == window && len < 2 * window)
            return 0;
        k = len - hold;
        while (k > 0 && ((unsigned char)t[k] & 0xC0) == 0x80) k--; /* whole UTF-8 characters */
        if (k == 0)
            return 0;
    }
    if (pr > 0) {
        int tries = 0;
        while (k > 0 && !sg_clean_cut(c, t, len, k)) {
            if (++tries >= GW_SG_TRIES) {
                k = 0;
                break;
            }
            k = ws_cut(t, k - 1);
        }
        if (k == 0) {
            if (len < 4 * window)
                return 0;
            k = len; /* too much kept back: release all, masked as a whole */
        }
    }
    /* nothing in the whole window: nothing in [0, k) to record or mask
     * (scanning the piece alone could only see a value the whole has not) */
    int rc = 0;
    if (pr == 0)
        od_buf_put(&g->out, t, k);
    else
        rc = sg_scan_real(c, t, k, &g->out);
    sg_drop_front(&ch->held, k);
    ch->found = 0;
    return rc;
}

/* Releases what channel idx holds (its end, or the stream's). 1 when blocked. */
static int sg_flush(gw_call *c, int idx)
{
    gw_sg *g = c->sg;
    for (int i = 0; i < g->nch; i++) {
        if (g->ch[i].idx != idx)
            continue;
        od_buf *h = &g->ch[i].held;
        int rc = h->len ? sg_scan_real(c, h->p, h->len, &g->out) : 0;
        od_buf_reset(h);
        return rc;
    }
    return 0;
}

/* ---------------- OpenAI chunks ---------------- */

static void emit_chunk(gw_call *c, const cJSON *chunk)
{
    if (c->front == GW_FRONT_ANTHROPIC) {
        od_buf_reset(&c->tmp);
        prov_astream_chunk(c->as, chunk, &c->tmp);
        if (c->tmp.len)
            write_str(c, c->tmp.p, c->tmp.len);
        return;
    }
    od_buf_reset(&c->tmp);
    od_buf_put(&c->tmp, "data: ", 6);
    od_json_write(&c->tmp, chunk);
    od_buf_put(&c->tmp, "\n\n", 2);
    write_str(c, c->tmp.p, c->tmp.len);
}

/* An unchanged OpenAI chunk goes out as the upstream wrote it, when that
 * is one line: writing it again from the tree was a tenth of a relayed
 * stream's instructions. 0 when it cannot. */
static int relay_raw(gw_call *c)
{
    const char *d = c->raw;
    size_t n = c->raw_len;
    if (!d || c->front == GW_FRONT_ANTHROPIC)
        return 0;
    while (n && (d[n - 1] == ' ' || d[n - 1] == '\n' || d[n - 1] == '\r')) n--;
    /* a \u0000 is U+FFFD in the inspected tree: what goes out is the tree */
    if (!n || memchr(d, '\n', n) || memchr(d, '\r', n) || od_json_has_nul(d, n))
        return 0;
    od_buf_reset(&c->tmp);
    od_buf_put(&c->tmp, "data: ", 6);
    od_buf_put(&c->tmp, d, n);
    od_buf_put(&c->tmp, "\n\n", 2);
    write_str(c, c->tmp.p, c->tmp.len);
    return 1;
}

static int delta_has_more(const cJSON *delta)
{
    for (const cJSON *m = delta ? delta->child : NULL; m; m = m->next)
        if (strcmp(m->string ? m->string : "", "content") && !cJSON_IsNull(m))
            return 1;
    return 0;
}

/* The text of choice ch of a chunk, and its index. */
static const cJSON *choice_text(const cJSON *ch, int pos, int *idx)
{
    const cJSON *iv = od_jget(ch, "index");
    *idx = cJSON_IsNumber(iv) ? (int)iv->valuedouble : pos;
    return od_jget(od_jget(ch, "delta"), "content");
}

/* The chunk with its text run through the window: a modified copy, or NULL
 * to send the chunk as it is; *drop when nothing of it is left to send (the
 * common case while the window fills: no copy is made then). */
static cJSON *guard_chunk(gw_call *c, const cJSON *chunk, int *drop)
{
    gw_sg *g = c->sg;
    const cJSON *choices = od_jget(chunk, "choices");
    const cJSON *usage = od_jget(chunk, "usage");
    int touches = 0, keep = usage && !cJSON_IsNull(usage), same = 1, pos = 0, idx;
    *drop = 0;
    for (const cJSON *ch = choices ? choices->child : NULL; ch; ch = ch->next, pos++) {
        const cJSON *t = choice_text(ch, pos, &idx);
        const cJSON *delta = od_jget(ch, "delta");
        /* the end of the choice, or a tool call after its text: what is held
         * goes first, so the order of text and calls stays the upstream's */
        int fin = cJSON_IsString(od_jget(ch, "finish_reason")) ||
                  cJSON_IsArray(od_jget(delta, "tool_calls")) ||
                  cJSON_IsObject(od_jget(delta, "function_call"));
        if (!(cJSON_IsString(t) && t->valuestring[0]) && !fin)
            continue;
        touches = 1;
        od_buf_reset(&g->out);
        if ((cJSON_IsString(t) && sg_feed(c, idx, t->valuestring, strlen(t->valuestring))) ||
            (fin && sg_flush(c, idx))) {
            c->guard_blocked = 1;
            return NULL;
        }
        sg_chan *sc = sg_chan_of(g, idx); /* what this choice releases, for the copy below */
        od_buf_reset(&sc->rel);
        od_buf_put(&sc->rel, g->out.p ? g->out.p : "", g->out.len);
        sc->has_rel = 1;
        if (cJSON_IsString(t) ? strlen(t->valuestring) != g->out.len ||
                                    memcmp(t->valuestring, g->out.p ? g->out.p : "", g->out.len)
                              : g->out.len > 0)
            same = 0;
        if (g->out.len || fin || delta_has_more(delta))
            keep = 1;
    }
    if (!touches)
        return NULL;
    const cJSON *v = od_jget(chunk, "id");
    if (cJSON_IsString(v)) od_strlcpy(g->id, v->valuestring, sizeof g->id);
    v = od_jget(chunk, "model");
    if (cJSON_IsString(v)) od_strlcpy(g->model, v->valuestring, sizeof g->model);
    v = od_jget(chunk, "created");
    if (cJSON_IsNumber(v)) g->created = v->valuedouble;
    for (int i = 0; i < g->nch; i++)
        if (!keep || same) g->ch[i].has_rel = 0;
    if (!keep) {
        *drop = 1;
        return NULL;
    }
    if (same)
        return NULL;
    cJSON *dup = cJSON_Duplicate(chunk, 1);
    cJSON *dch = od_jget(dup, "choices");
    pos = 0;
    for (cJSON *ch = dch ? dch->child : NULL; ch; ch = ch->next, pos++) {
        const cJSON *t = choice_text(ch, pos, &idx);
        sg_chan *sc = NULL;
        for (int i = 0; i < g->nch && !sc; i++)
            if (g->ch[i].idx == idx && g->ch[i].has_rel) sc = &g->ch[i];
        if (!sc)
            continue;
        sc->has_rel = 0;
        cJSON *delta = od_jget(ch, "delta");
        if (cJSON_IsString(t))
            cJSON_ReplaceItemInObjectCaseSensitive(delta, "content", cJSON_CreateString(sc->rel.len ? sc->rel.p : ""));
        else if (sc->rel.len && cJSON_IsObject(delta))
            cJSON_AddStringToObject(delta, "content", sc->rel.p);
    }
    return dup;
}

/* A chunk of our own carrying what channel sc released (g->out): text,
 * or a piece of a tool call's arguments. */
static void emit_released(gw_call *c, const sg_chan *sc)
{
    gw_sg *g = c->sg;
    cJSON *ck = cJSON_CreateObject();
    cJSON_AddStringToObject(ck, "id", g->id);
    cJSON_AddStringToObject(ck, "object", "chat.completion.chunk");
    cJSON_AddNumberToObject(ck, "created", g->created);
    cJSON_AddStringToObject(ck, "model", g->model);
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", sc->tool ? sc->choice : sc->idx);
    cJSON *delta = cJSON_AddObjectToObject(ch, "delta");
    if (sc->tool) {
        cJSON *tc = cJSON_CreateObject();
        cJSON_AddNumberToObject(tc, "index", sc->call);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(tc, "function"), "arguments", g->out.len ? g->out.p : "");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(delta, "tool_calls"), tc);
    } else {
        cJSON_AddStringToObject(delta, "content", g->out.len ? g->out.p : "");
    }
    cJSON_AddNullToObject(ch, "logprobs");
    cJSON_AddNullToObject(ch, "finish_reason");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(ck, "choices"), ch);
    emit_chunk(c, ck);
    cJSON_Delete(ck);
}

/* What is still held, as a chunk per channel: every channel's at the end
 * of the stream (tools_of -1), or the tool calls' of choice tools_of when
 * it ends. 1 when blocked. */
static int flush_held(gw_call *c, int tools_of)
{
    gw_sg *g = c->sg;
    for (int i = 0; g && i < g->nch; i++) {
        if (!g->ch[i].held.len || (tools_of >= 0 && (!g->ch[i].tool || g->ch[i].choice != tools_of)))
            continue;
        od_buf_reset(&g->out);
        if (sg_flush(c, g->ch[i].idx))
            return 1;
        emit_released(c, &g->ch[i]);
    }
    return 0;
}

/* The arguments in a chunk's tool calls, through their windows: rewritten
 * in place with what each releases. A choice that ends first sends what its
 * calls still hold, as chunks of their own. 1 when blocked. */
static int guard_tool_args(gw_call *c, cJSON *chunk)
{
    gw_sg *g = c->sg;
    int pos = 0;
    for (cJSON *ch = od_jget(chunk, "choices") ? od_jget(chunk, "choices")->child : NULL; ch; ch = ch->next, pos++) {
        int idx = small_index(od_jget(ch, "index"), pos & 4095), tpos = 0;
        int fin = cJSON_IsString(od_jget(ch, "finish_reason"));
        cJSON *tcs = od_jget(od_jget(ch, "delta"), "tool_calls");
        for (cJSON *tc = tcs ? tcs->child : NULL; tc; tc = tc->next, tpos++) {
            cJSON *a = od_jget(od_jget(tc, "function"), "arguments");
            if (!cJSON_IsString(a) || !a->valuestring[0])
                continue;
            int call = small_index(od_jget(tc, "index"), tpos & 4095);
            sg_tool_chan(g, idx, call);
            od_buf_reset(&g->out);
            /* the choice's end: this piece and all that is held, in order */
            if (sg_feed(c, TOOL_CH(idx, call), a->valuestring, strlen(a->valuestring)) ||
                (fin && sg_flush(c, TOOL_CH(idx, call))))
                return 1;
            cJSON_SetValuestring(a, g->out.len ? g->out.p : "");
        }
        if (fin && flush_held(c, idx))
            return 1;
    }
    return 0;
}

/* whether the chunk has tool-call arguments, or a tool call still holds some */
static int has_tool_args(const gw_sg *g, const cJSON *chunk)
{
    for (int i = 0; i < g->nch; i++)
        if (g->ch[i].tool && g->ch[i].held.len) return 1;
    for (const cJSON *ch = od_jget(chunk, "choices") ? od_jget(chunk, "choices")->child : NULL; ch; ch = ch->next) {
        const cJSON *tcs = od_jget(od_jget(ch, "delta"), "tool_calls");
        for (const cJSON *tc = tcs ? tcs->child : NULL; tc; tc = tc->next) {
            const cJSON *a = od_jget(od_jget(tc, "function"), "arguments");
            if (cJSON_IsString(a) && a->valuestring[0]) return 1;
        }
    }
    return 0;
}

/* A chunk left with nothing but empty pieces of held arguments: not sent. */
static int nothing_left(const cJSON *chunk)
{
    const cJSON *u = od_jget(chunk, "usage");
    if (u && !cJSON_IsNull(u)) return 0;
    for (const cJSON *ch = od_jget(chunk, "choices") ? od_jget(chunk, "choices")->child : NULL; ch; ch = ch->next) {
        const cJSON *f = od_jget(ch, "finish_reason");
        if (f && !cJSON_IsNull(f)) return 0;
        for (const cJSON *m = od_jget(ch, "delta") ? od_jget(ch, "delta")->child : NULL; m; m = m->next) {
            if (strcmp(m->string, "tool_calls")) return 0;
            for (const cJSON *tc = m->child; tc; tc = tc->next)
                for (const cJSON *x = tc->child; x; x = x->next) {
                    const cJSON *a = od_jget(x, "arguments");
                    if (strcmp(x->string, "index") && (strcmp(x->string, "function") || !a || x->child->next ||
                                                       !cJSON_IsString(a) || a->valuestring[0]))
                        return 0;
                }
        }
    }
    return 1;
}


void gw_stream_chunk(void *ud, const cJSON *chunk)
{
    gw_call *c = ud;
    if (!c->conn || c->finished || c->guard_blocked)
        return;
    c->got_event = 1;
    const cJSON *choices = od_jget(chunk, "choices");
    const cJSON *usage = od_jget(chunk, "usage");
    int usage_only = cJSON_GetArraySize(choices) == 0 && usage && !cJSON_IsNull(usage);
    count_chars(c, choices);
    if (!gw_conn_streaming(c->conn))
        begin(c);
    cJSON *own = NULL;
    if (c->sg) {
        int drop = 0;
        own = guard_chunk(c, chunk, &drop);
        if (c->guard_blocked || drop) {
            cJSON_Delete(own);
            return;
        }
        if (!own && has_tool_args(c->sg, chunk))
            own = cJSON_Duplicate(chunk, 1);
        if (own && guard_tool_args(c, own)) {
            c->guard_blocked = 1;
            cJSON_Delete(own);
            return;
        }
        if (own && nothing_left(own)) {
            cJSON_Delete(own);
            return;
        }
        if (own)
            chunk = own;
    }
    /* the usage chunk: we asked for it to charge exactly; the client may not
     * have (the Anthropic translation always takes it) */
    if ((c->front == GW_FRONT_ANTHROPIC || !usage_only || c->include_usage) && (own || !relay_raw(c)))
        emit_chunk(c, chunk);
    cJSON_Delete(own);
    if (c->http && !c->paused && gw_conn_pending(c->conn) > GW_HIGH_WATER) {
        od_http_pause(c->http, 1);
        c->paused = 1;
    }
}

/* ---------------- the Anthropic passthrough ---------------- */

/* "event: NAME\ndata: DATA\n\n", data lines split as SSE wants them. */
static void relay_event(gw_call *c, const char *event, const char *data, size_t len)
{
    od_buf_reset(&c->tmp);
    if (event)
        od_buf_printf(&c->tmp, "event: %s\n", event);
    const char *p = data, *end = data + len;
    do {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        od_buf_puts(&c->tmp, "data: ");
        od_buf_put(&c->tmp, p, n);
        od_buf_putc(&c->tmp, '\n');
        p = nl ? nl + 1 : end;
    } while (p < end);
    od_buf_putc(&c->tmp, '\n');
    write_str(c, c->tmp.p, c->tmp.len);
}

/* A content_block_delta of our own: text, or (tool) a piece of a tool_use
 * block's input JSON. */
static void delta_event(gw_call *c, int idx, int tool, const char *text, size_t n)
{
    if (!n)
        return;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "type", "content_block_delta");
    cJSON_AddNumberToObject(e, "index", idx);
    cJSON *d = cJSON_AddObjectToObject(e, "delta");
    cJSON_AddStringToObject(d, "type", tool ? "input_json_delta" : "text_delta");
    char *s = od_strndup(text, n);
    cJSON_AddStringToObject(d, tool ? "partial_json" : "text", s);
    free(s);
    char *js = cJSON_PrintUnformatted(e);
    cJSON_Delete(e);
    relay_event(c, "content_block_delta", js, strlen(js));
    free(js);
}

/* Sends what every block still holds (before a block ends, or the message). */
static int native_flush(gw_call *c, int only_idx)
{
    gw_sg *g = c->sg;
    for (int i = 0; g && i < g->nch; i++) {
        if ((only_idx >= 0 && g->ch[i].idx != only_idx) || !g->ch[i].held.len)
            continue;
        od_buf_reset(&g->out);
        if (sg_flush(c, g->ch[i].idx))
            return 1;
        delta_event(c, g->ch[i].idx, g->ch[i].tool, g->out.p, g->out.len);
    }
    return 0;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = od_jget(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int gw_stream_native_event(gw_call *c, const char *event, const char *data, size_t len)
{
    if (!c->conn || c->finished || c->guard_blocked)
        return 0;
    cJSON *j = od_json_parse(data, len, NULL);
    if (!j) {
        /* unreadable (a name given twice among the causes): what the
         * guardrails cannot read does not go out; skipped, as for OpenAI */
        od_debug("%s: unreadable upstream event skipped", c->r.id);
        return 0;
    }
    const char *type = jstr(j, "type");
    int rc = 0;
    if (!type)
        type = event ? event : "";
    if (!strcmp(type, "error")) {
        const char *m = jstr(od_jget(j, "error"), "message");
        od_strlcpy(c->stream_err, m ? m : "error event from upstream", sizeof c->stream_err);
        if (gw_conn_streaming(c->conn)) {
            /* the client already has the message's start: its own error event
             * is the most faithful ending */
            native_flush(c, -1);
            if (!c->guard_blocked) {
                relay_event(c, event, data, len);
                c->native_err_sent = 1;
            }
        }
        /* before the first byte: nothing sent, so the attempt can fail over */
        cJSON_Delete(j);
        return 0;
    }
    c->got_event = 1;
    if (!gw_conn_streaming(c->conn))
        begin(c);
    if (!strcmp(type, "message_start")) {
        prov_anthropic_usage(od_jget(od_jget(j, "message"), "usage"),
                             &c->usage);
    } else if (!strcmp(type, "message_delta")) {
        prov_anthropic_usage(od_jget(j, "usage"), &c->usage);
        if (native_flush(c, -1))
            goto blocked;
    } else if (!strcmp(type, "message_stop")) {
        if (native_flush(c, -1))
            goto blocked;
        rc = 1;
    } else if (!strcmp(type, "content_block_stop")) {
        const cJSON *iv = od_jget(j, "index");
        if (cJSON_IsNumber(iv) && native_flush(c, (int)iv->valuedouble))
            goto blocked;
    } else if (!strcmp(type, "content_block_delta")) {
        const cJSON *d = od_jget(j, "delta");
        const char *dt = jstr(d, "type");
        const char *t = od_str_eq(dt, "text_delta") ? jstr(d, "text")
                        : od_str_eq(dt, "input_json_delta") ? jstr(d, "partial_json")
                        : od_str_eq(dt, "thinking_delta") ? jstr(d, "thinking") : NULL;
        if (t)
            c->out_chars += (int64_t)strlen(t);
        const cJSON *iv = od_jget(j, "index");
        int tool = od_str_eq(dt, "input_json_delta");
        if (c->sg && (tool || od_str_eq(dt, "text_delta")) && t && cJSON_IsNumber(iv)) {
            /* a block's index is its channel: a tool_use block's input is
             * model output like its text */
            int idx = (int)iv->valuedouble;
            sg_chan_of(c->sg, idx)->tool = tool;
            od_buf_reset(&c->sg->out);
            if (sg_feed(c, idx, t, strlen(t)))
                goto blocked;
            delta_event(c, idx, tool, c->sg->out.p, c->sg->out.len);
            cJSON_Delete(j);
            return 0; /* sent (or held) as our own event */
        }
    }
    relay_event(c, event, data, len);
    cJSON_Delete(j);
    return rc;
blocked:
    c->guard_blocked = 1;
    cJSON_Delete(j);
    return 0;
}

/* ---------------- ends ---------------- */

void gw_call_drained(gw_call *c)
{
    if (!c->paused)
        return;
    c->paused = 0;
    if (c->http)
        od_http_pause(c->http, 0);
    else
        gw_mock_pump(c);
}

void gw_stream_guard_end(gw_call *c)
{
    if (c->http) {
        od_http_cancel(c->http); /* safe from inside its callbacks */
        c->http = NULL;
    }
    gw_call_settle_partial(c);
    gw_call_fail(c, c->r.status, c->r.reason, "%s", c->r.message);
}

void gw_stream_finish(gw_call *c)
{
    if (c->conn) {
        if (!gw_conn_streaming(c->conn))
            begin(c);
        if (c->nstream) {
            /* message_stop was relayed; held text went before it */
        } else {
            if (flush_held(c, -1)) {
                gw_stream_guard_end(c);
                return;
            }
            if (c->front == GW_FRONT_ANTHROPIC) {
                od_buf_reset(&c->tmp);
                prov_astream_finish(c->as, &c->usage, &c->tmp);
                if (c->tmp.len)
                    write_str(c, c->tmp.p, c->tmp.len);
            } else {
                static const char done[] = "data: [DONE]\n\n";
                write_str(c, done, sizeof done - 1);
            }
        }
        gw_conn_stream_end(c->conn);
    }
    prov_usage u = c->usage;
    if (!u.seen) {
        u.prompt_tokens = c->est_prompt;
        u.completion_tokens = (c->out_chars + 3) / 4;
    }
    gw_call_settle(c, &u);
    gw_call_finish(c);
}

void gw_stream_error(gw_call *c, int status, const char *reason, const char *message)
{
    if (!c->conn)
        return;
    if (c->native_err_sent) {
        gw_conn_stream_end(c->conn); /* the upstream's own error event went out */
        return;
    }
    od_buf_reset(&c->tmp);
    cJSON *root = cJSON_CreateObject(), *e = cJSON_CreateObject();
    if (c->front == GW_FRONT_ANTHROPIC) {
        cJSON_AddStringToObject(root, "type", "error");
        cJSON_AddStringToObject(e, "type", gw_anthropic_error_type(status));
        cJSON_AddStringToObject(e, "message", message ? message : "");
        cJSON_AddItemToObject(root, "error", e);
        char *js = cJSON_PrintUnformatted(root);
        od_buf_printf(&c->tmp, "event: error\ndata: %s\n\n", js);
        free(js);
    } else {
        cJSON_AddStringToObject(e, "message", message ? message : "");
        cJSON_AddStringToObject(e, "type", gw_error_type(status));
        cJSON_AddStringToObject(e, "code", reason ? reason : OD_R_UPSTREAM_ERROR);
        cJSON_AddItemToObject(root, "error", e);
        char *js = cJSON_PrintUnformatted(root);
        od_buf_printf(&c->tmp, "data: %s\n\n", js);
        free(js);
    }
    cJSON_Delete(root);
    write_str(c, c->tmp.p, c->tmp.len);
    gw_conn_stream_end(c->conn);
}
