/* policies/guard.c — the guardrail engine: compiles the config, runs the
 * detectors over a text or every string of a JSON tree, applies the
 * configured action (block, mask, flag) and keeps the findings.
 *
 * One scan: injection scoring (input, tool args, tool results only), then
 * secrets and PII spans, overlaps resolved by detector priority, then the
 * custom rules, then the actions. A text with no finding costs no
 * allocation (with custom rules configured, a request allocates its PCRE2
 * match data once). Once a request is blocked, further scans return at
 * once: the findings then cover what was scanned up to the block. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../core/od.h"
#include "guard_int.h"

const gr_detinfo gr_dets[GR_D__N] = {
    [GR_D_PRIVATE_KEY] = {"private_key", GR_FAM_SECRET, GR_T_SECRET},
    [GR_D_JWT] = {"jwt", GR_FAM_SECRET, GR_T_SECRET},
    [GR_D_ANTHROPIC] = {"anthropic_key", GR_FAM_SECRET, GR_T_SECRET},
    [GR_D_OPENAI] = {"openai_key", GR_FAM_SECRET, GR_T_SECRET},
    [GR_D_GITHUB] = {"github_token", GR_FAM_SECRET, GR_T_SECRET},
    [GR_D_AWS] = {"aws_key", GR_FAM_SECRET, GR_T_SECRET},
    [GR_D_STRIPE] = {"stripe_key", GR_FAM_SECRET, GR_T_SECRET},
    [GR_D_SLACK] = {"slack_token", GR_FAM_SECRET, GR_T_SECRET},
    [GR_D_GOOGLE] = {"google_api_key", GR_FAM_SECRET, GR_T_SECRET},
    [GR_D_EMAIL] = {"email", GR_FAM_PII, GR_T_EMAIL},
    [GR_D_IBAN] = {"iban", GR_FAM_PII, GR_T_IBAN},
    [GR_D_CARD] = {"card", GR_FAM_PII, GR_T_CARD},
    [GR_D_SSN] = {"ssn", GR_FAM_PII, GR_T_SSN},
    [GR_D_IPV6] = {"ip", GR_FAM_PII, GR_T_IP},
    [GR_D_IP] = {"ip", GR_FAM_PII, GR_T_IP},
    [GR_D_PHONE] = {"phone", GR_FAM_PII, GR_T_PHONE},
    [GR_D_ENTROPY] = {"high_entropy", GR_FAM_SECRET, GR_T_SECRET},
    [GR_D_INJECTION] = {"injection", GR_FAM_INJECTION, GR_T_INJECTION},
};

/* Byte classes (GR_C_* bits, guard_int.h), generated: digits, letters,
 * secret-token bytes [A-Za-z0-9_+/=-], non-ASCII, sentence ends. */
const uint8_t gr_cls[256] = {
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0, 32,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0, 32,  0,  0,  0,  0,  0,  0,  0,  0,  0,  8,  0,  8, 32,  8,
     9,  9,  9,  9,  9,  9,  9,  9,  9,  9,  0, 32,  0,  8,  0, 32,
     0, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,
    10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,  0,  0,  0,  0,  8,
     0, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,
    12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,  0,  0,  0,  0,  0,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
};

const char *const gr_ptype_names[GR_T__N] = {"EMAIL", "PHONE", "CARD", "IBAN", "SSN",
                                             "IP", "SECRET", "INJECTION"};

const char *const *gr_detector_names(void)
{
    static const char *const names[] = {"email", "phone", "card", "iban", "ssn", "ip", "aws_key",
                                        "openai_key", "anthropic_key", "github_token", "jwt",
                                        "private_key", "high_entropy", "stripe_key", "slack_token",
                                        "google_api_key", "injection", NULL};
    return names;
}

/* ----------------------------------------------------------------- spans */

void gr_spans_init(gr_spans *s)
{
    s->v = s->inl;
    s->n = 0;
    s->cap = OD_ARRAY_LEN(s->inl);
}

void gr_spans_push(gr_spans *s, size_t start, size_t end, int det)
{
    if (s->n == s->cap) {
        size_t ncap = s->cap * 2;
        gr_span *nv = od_malloc(ncap * sizeof *nv);
        memcpy(nv, s->v, s->n * sizeof *nv);
        if (s->v != s->inl) free(s->v);
        s->v = nv;
        s->cap = ncap;
    }
    s->v[s->n].start = start;
    s->v[s->n].end = end;
    s->v[s->n].det = det;
    s->n++;
}

void gr_spans_free(gr_spans *s)
{
    if (s->v != s->inl) free(s->v);
    gr_spans_init(s);
}

static int span_cmp(const void *a, const void *b)
{
    const gr_span *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    if (x->det != y->det) return x->det < y->det ? -1 : 1;
    return x->end > y->end ? -1 : x->end < y->end;
}

/* Keeps one detector per stretch of text: of overlapping spans the
 * higher-priority detector (lower id) wins. */
static void resolve(gr_spans *s, size_t from)
{
    gr_span *v = s->v + from;
    size_t n = s->n - from, out = 0;
    if (n < 2) return;
    qsort(v, n, sizeof *v, span_cmp);
    for (size_t k = 0; k < n; k++) {
        if (out > 0 && v[k].start < v[out - 1].end) {
            if (v[k].det < v[out - 1].det) v[out - 1] = v[k];
            continue;
        }
        v[out++] = v[k];
    }
    s->n = from + out;
}

/* ---------------------------------------------------------------- engine */

static char *errf(const char *what, const char *name)
{
    od_buf b = {0};
    od_buf_printf(&b, "%s: unknown detector \"%s\"", what, name);
    return od_buf_take(&b);
}

gr_engine *gr_engine_new(const od_guard_cfg *cfg, char **err)
{
    static const od_guard_cfg defaults = {.pii = OD_ACT_MASK, .secrets = OD_ACT_BLOCK,
                                          .injection = OD_ACT_BLOCK, .injection_threshold = 100};
    if (err) *err = NULL;
    if (!cfg) cfg = &defaults;
    gr_engine *e = od_calloc(1, sizeof *e);
    for (int d = 0; d < GR_D__N; d++) {
        int f = gr_dets[d].family;
        e->act[d] = f == GR_FAM_PII ? cfg->pii : f == GR_FAM_SECRET ? cfg->secrets : cfg->injection;
    }
    for (int i = 0; i < cfg->ndetectors; i++) {
        const od_detector_cfg *dc = &cfg->detectors[i];
        int hit = 0;
        for (int d = 0; d < GR_D__N; d++) {
            if (dc->name && !strcmp(dc->name, gr_dets[d].name)) {
                e->act[d] = dc->action;
                hit = 1;
            }
        }
        if (!hit) {
            if (err) *err = errf("guardrails.detectors", dc->name ? dc->name : "");
            goto fail;
        }
    }
    e->threshold = cfg->injection_threshold > 0 ? cfg->injection_threshold : 100;
    for (int d = 0; d < GR_D__N; d++) {
        if (e->act[d] == OD_ACT_OFF) continue;
        if (gr_dets[d].family == GR_FAM_PII) e->any_pii = 1;
        if (gr_dets[d].family == GR_FAM_SECRET) e->any_secret = 1;
    }
    e->vocab = gr_vocab_new();
    e->vcache = od_random_bytes(e->vkey, sizeof e->vkey) == 0;
    if (gr_rules_compile(e, cfg, err) != 0) goto fail;
    return e;
fail:
    gr_engine_free(e);
    return NULL;
}

void gr_engine_free(gr_engine *e)
{
    if (!e) return;
    gr_rules_free(e);
    gr_vocab_free(e->vocab);
    free(e);
}

/* ------------------------------------------------------------- requests */

void gr_ctx_init(gr_ctx *c, const char *key_id, const char *key_name, const char *team)
{
    memset(c, 0, sizeof *c);
    c->key_id = key_id;
    c->key_name = key_name;
    c->team = team;
}

void gr_ctx_free(gr_ctx *c)
{
    if (!c) return;
    gr_state_free(c->masks);
    c->masks = NULL;
}

static void record(gr_ctx *c, const char *name, od_action a)
{
    for (int k = 0; k < c->nfindings; k++) {
        if (!strcmp(c->findings[k].detector, name)) {
            c->findings[k].count++;
            if (a > c->findings[k].action) c->findings[k].action = a;
            return;
        }
    }
    if (c->nfindings == GR_MAX_FINDINGS) return;
    gr_finding *f = &c->findings[c->nfindings++];
    od_strlcpy(f->detector, name, sizeof f->detector);
    f->action = a;
    f->count = 1;
}

static void block(gr_ctx *c, const char *reason, const char *det)
{
    if (c->blocked) return;
    c->blocked = 1;
    c->block_reason = reason;
    od_strlcpy(c->block_detector, det, sizeof c->block_detector);
}

static const char *span_name(const gr_engine *e, int det)
{
    return det < GR_D__N ? gr_dets[det].name : e->rules[det - GR_D__N].det;
}

static od_action span_action(const gr_engine *e, int det)
{
    return det < GR_D__N ? e->act[det] : e->rules[det - GR_D__N].action;
}

static int span_ptype(int det) { return det < GR_D__N ? gr_dets[det].ptype : GR_T__N + (det - GR_D__N); }

/* Block order when several detectors block one text: secrets, custom
 * rules, then PII. */
static int block_rank(int det)
{
    if (det >= GR_D__N) return 1;
    return gr_dets[det].family == GR_FAM_SECRET ? 0 : 2;
}

static char *finish_copy(od_buf *b, size_t *len)
{
    if (len) *len = b->len;
    return od_buf_take(b);
}

/* Replaces the masked spans by their placeholders. */
static char *apply_masks(const gr_engine *e, gr_ctx *c, const char *s, size_t n, gr_spans *sp, size_t *len)
{
    gr_spans m;
    gr_spans_init(&m);
    for (size_t k = 0; k < sp->n; k++)
        if (span_action(e, sp->v[k].det) == OD_ACT_MASK && sp->v[k].end > sp->v[k].start)
            gr_spans_push(&m, sp->v[k].start, sp->v[k].end, sp->v[k].det);
    qsort(m.v, m.n, sizeof *m.v, span_cmp);
    gr_state *st = gr_state_get(c);
    od_buf b = {0};
    size_t at = 0;
    for (size_t k = 0; k < m.n;) {
        size_t a = m.v[k].start, z = m.v[k].end;
        int det = m.v[k].det;
        /* overlapping masks (a rule over a PII value) merge into one */
        for (k++; k < m.n && m.v[k].start < z; k++)
            if (m.v[k].end > z) z = m.v[k].end;
        od_buf_put(&b, s + at, a - at);
        gr_mask_put(st, e, span_ptype(det), s + a, z - a, &b);
        at = z;
    }
    od_buf_put(&b, s + at, n - at);
    gr_spans_free(&m);
    return finish_copy(&b, len);
}

int gr_scan_text_len(const gr_engine *e, gr_ctx *c, unsigned where, const char *text, size_t len,
                     char **masked, size_t *masked_len)
{
    if (masked) *masked = NULL;
    if (masked_len) *masked_len = 0;
    if (!e || !c) return 0;
    if (c->blocked) return 1;
    if (!text) len = 0;
    if (len == 0) return 0;

    /* a text already found clean here costs one hash (guard_cache.c) */
    uint64_t tag[2];
    int score = 0, found = 0, cacheable = gr_vcache_tag(e, c, where, text, len, tag);
    if (cacheable && gr_vcache_get(tag, &score)) {
        if (score > c->injection_score) c->injection_score = score;
        return 0;
    }

    if ((where & (OD_WHERE_INPUT | OD_WHERE_TOOL_ARGS | OD_WHERE_TOOL_RESULTS)) &&
        e->act[GR_D_INJECTION] != OD_ACT_OFF) {
        score = gr_injection_score(e, text, len);
        if (score > c->injection_score) c->injection_score = score;
        if (score >= e->threshold) {
            od_action a = e->act[GR_D_INJECTION];
            record(c, "injection", a);
            found = 1;
            if (a == OD_ACT_BLOCK) {
                block(c, GR_R_INJECTION, "injection");
                return 1;
            }
            if (a == OD_ACT_MASK) { /* the whole text goes: the payload is all of it */
                od_buf b = {0};
                gr_mask_put(gr_state_get(c), e, GR_T_INJECTION, text, len, &b);
                char *m = finish_copy(&b, masked_len);
                if (masked) *masked = m;
                else free(m);
                return 0;
            }
        }
    }

    gr_spans sp;
    gr_spans_init(&sp);
    if (e->any_secret) gr_secrets_scan(e, text, len, &sp);
    if (e->any_pii) gr_pii_scan(e, text, len, &sp);
    resolve(&sp, 0);
    if (e->nrules > 0) gr_rules_scan(e, c, where, text, len, gr_state_scratch(gr_state_get(c)), &sp);

    int need_mask = 0, blocker = -1;
    for (size_t k = 0; k < sp.n; k++) {
        int det = sp.v[k].det;
        od_action a = span_action(e, det);
        if (a == OD_ACT_OFF) continue;
        record(c, span_name(e, det), a);
        found = 1;
        if (a == OD_ACT_MASK) need_mask = 1;
        if (a == OD_ACT_BLOCK && (blocker < 0 || block_rank(det) < block_rank(blocker))) blocker = det;
    }
    int rc = 0;
    if (blocker >= 0) {
        const char *reason = blocker >= GR_D__N ? GR_R_RULE
                             : gr_dets[blocker].family == GR_FAM_SECRET ? GR_R_SECRET
                                                                       : GR_R_PII;
        block(c, reason, span_name(e, blocker));
        rc = 1;
    } else if (need_mask) {
        size_t ml = 0;
        char *m = apply_masks(e, c, text, len, &sp, &ml);
        if (masked) {
            *masked = m;
            if (masked_len) *masked_len = ml;
        } else {
            free(m);
        }
    }
    gr_spans_free(&sp);
    if (cacheable && !found) gr_vcache_put(tag, score);
    return rc;
}

int gr_scan_text(const gr_engine *e, gr_ctx *c, unsigned where, const char *text, size_t len, char **masked)
{
    return gr_scan_text_len(e, c, where, text, len, masked, NULL);
}

/* ------------------------------------------------------------------ JSON */

static int scan_string(const gr_engine *e, gr_ctx *c, unsigned where, cJSON *it)
{
    char *m = NULL;
    size_t ml = 0;
    int rc = gr_scan_text_len(e, c, where, it->valuestring, strlen(it->valuestring), &m, &ml);
    if (m) {
        char *nv = cJSON_malloc(ml + 1);
        if (nv) {
            memcpy(nv, m, ml + 1);
            if (it->type & cJSON_IsReference) it->type &= ~cJSON_IsReference; /* not ours to free */
            else cJSON_free(it->valuestring);
            it->valuestring = nv;
            c->rewrites++;
        }
        free(m);
    }
    return rc;
}

/* Iterative walk (no recursion): strings are scanned and masked in place;
 * a container nested deeper than GR_JSON_MAX_DEPTH blocks the request. */
int gr_scan_json(const gr_engine *e, gr_ctx *c, unsigned where, cJSON *node)
{
    if (!e || !c) return 0;
    if (c->blocked) return 1;
    if (!node) return 0;
    cJSON *stack[GR_JSON_MAX_DEPTH];
    int d = 0;
    cJSON *it = node;
    for (;;) {
        if (cJSON_IsString(it) && it->valuestring) {
            if (scan_string(e, c, where, it)) return 1;
        } else if ((cJSON_IsArray(it) || cJSON_IsObject(it)) && it->child) {
            if (d == GR_JSON_MAX_DEPTH) {
                record(c, "json_depth", OD_ACT_BLOCK);
                block(c, GR_R_TOO_DEEP, "json_depth");
                return 1;
            }
            stack[d++] = it;
            it = it->child;
            continue;
        }
        while (d > 0 && !it->next) it = stack[--d];
        if (d == 0) break;
        it = it->next;
    }
    return c->blocked;
}

/* --------------------------------------------------------------- findings */

char *gr_findings_json(const gr_ctx *c)
{
    if (!c || c->nfindings == 0) return NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    for (int k = 0; k < c->nfindings; k++)
        cJSON_AddNumberToObject(o, c->findings[k].detector, c->findings[k].count);
    char *p = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *out = od_strdup(p);
    cJSON_free(p);
    return out;
}
