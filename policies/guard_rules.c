/* policies/guard_rules.c — operator-defined rules: PCRE2 patterns, JIT
 * compiled once per engine, matched against texts of the kinds (input,
 * output, tool_args, tool_results) and principals (keys, teams) they are
 * limited to.
 *
 * Patterns are compiled with PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, so any
 * bytes can be matched safely. Each match runs under a match limit; when a
 * rule cannot be evaluated (limit hit), a blocking rule fails closed
 * (counts as a match), other rules are skipped, and a warning names the
 * rule, never the text. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../core/od.h"
#include "guard_int.h"

#define RULE_MATCH_LIMIT 1000000u
#define RULE_MAX_MATCHES 1024 /* per rule and text: enough to count and mask */

static char **copy_strs(char **v, int n)
{
    if (n <= 0 || !v) return NULL;
    char **out = od_calloc((size_t)n, sizeof *out);
    for (int i = 0; i < n; i++) out[i] = od_strdup(v[i] ? v[i] : "");
    return out;
}

static void free_strs(char **v, int n)
{
    if (!v) return;
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Placeholder type from the rule name: "codename" -> "CODENAME". */
static void ptype_of(const char *name, char out[24])
{
    size_t m = 0;
    for (const char *p = name; *p && m < 23; p++) {
        unsigned char c = (unsigned char)*p;
        out[m++] = gr_isalnum(c) ? (char)(gr_islower(c) ? c - 32 : c) : '_';
    }
    out[m] = 0;
    if (m == 0) snprintf(out, 24, "RULE");
}

int gr_rules_compile(gr_engine *e, const od_guard_cfg *cfg, char **err)
{
    if (cfg->nrules <= 0 || !cfg->rules) return 0;
    pcre2_match_context *mctx = pcre2_match_context_create(NULL);
    if (!mctx) {
        if (err) *err = od_strdup_printf("guardrails.rules: out of memory");
        return -1;
    }
    pcre2_set_match_limit(mctx, RULE_MATCH_LIMIT);
    e->mctx = mctx;
    e->rules = od_calloc((size_t)cfg->nrules, sizeof *e->rules);
    for (int i = 0; i < cfg->nrules; i++) {
        const od_rule_cfg *rc = &cfg->rules[i];
        gr_rule *r = &e->rules[e->nrules++];
        r->name = od_strdup(rc->name ? rc->name : "");
        snprintf(r->det, sizeof r->det, "rule:%s", r->name);
        ptype_of(r->name, r->ptype);
        r->action = rc->action;
        r->where = rc->applies_to ? rc->applies_to : (OD_WHERE_INPUT | OD_WHERE_TOOL_ARGS);
        r->keys = copy_strs(rc->keys, rc->nkeys);
        r->nkeys = r->keys ? rc->nkeys : 0;
        r->teams = copy_strs(rc->teams, rc->nteams);
        r->nteams = r->teams ? rc->nteams : 0;
        if (!rc->pattern || !*rc->pattern) {
            if (err) *err = od_strdup_printf("guardrails.rules[%d].pattern: missing or empty", i);
            return -1;
        }
        int ec = 0;
        PCRE2_SIZE eo = 0;
        pcre2_code *code = pcre2_compile((PCRE2_SPTR)rc->pattern, PCRE2_ZERO_TERMINATED,
                                         PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &ec, &eo, NULL);
        if (!code) {
            PCRE2_UCHAR msg[160];
            if (pcre2_get_error_message(ec, msg, sizeof msg) < 0) snprintf((char *)msg, sizeof msg, "error %d", ec);
            if (err) *err = od_strdup_printf("guardrails.rules[%d].pattern: %s at offset %zu", i, (char *)msg, (size_t)eo);
            return -1;
        }
        /* no JIT on this platform: the interpreter gives the same answers */
        (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
        r->code = code;
    }
    return 0;
}

void gr_rules_free(gr_engine *e)
{
    for (int i = 0; i < e->nrules; i++) {
        gr_rule *r = &e->rules[i];
        free(r->name);
        if (r->code) pcre2_code_free((pcre2_code *)r->code);
        free_strs(r->keys, r->nkeys);
        free_strs(r->teams, r->nteams);
    }
    free(e->rules);
    e->rules = NULL;
    e->nrules = 0;
    if (e->mctx) pcre2_match_context_free((pcre2_match_context *)e->mctx);
    e->mctx = NULL;
}

/* A rule limited to keys/teams applies when the principal matches any of
 * them (key id or key name, or team). */
static int applies_to_principal(const gr_rule *r, const gr_ctx *c)
{
    if (r->nkeys == 0 && r->nteams == 0) return 1;
    for (int k = 0; k < r->nkeys; k++)
        if (od_str_eq(r->keys[k], c->key_id) || od_str_eq(r->keys[k], c->key_name)) return 1;
    for (int k = 0; k < r->nteams; k++)
        if (od_str_eq(r->teams[k], c->team)) return 1;
    return 0;
}

void gr_rules_scan(const gr_engine *e, const gr_ctx *c, unsigned where, const char *s, size_t n,
                   void **scratch, gr_spans *out)
{
    for (int i = 0; i < e->nrules; i++) {
        const gr_rule *r = &e->rules[i];
        if (!(r->where & where) || r->action == OD_ACT_OFF || !applies_to_principal(r, c)) continue;
        if (!*scratch) *scratch = pcre2_match_data_create(1, NULL);
        pcre2_match_data *md = *scratch;
        if (!md) return;
        size_t off = 0;
        for (int count = 0; count < RULE_MAX_MATCHES && off <= n; count++) {
            int rc = pcre2_match((const pcre2_code *)r->code, (PCRE2_SPTR)(s ? s : ""), n, off, 0, md,
                                 (pcre2_match_context *)e->mctx);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0) {
                od_warn("guardrails: rule \"%s\" could not be evaluated (pcre2 error %d)%s", r->name, rc,
                        r->action == OD_ACT_BLOCK ? "; blocking" : "");
                if (r->action == OD_ACT_BLOCK) gr_spans_push(out, 0, 0, GR_D__N + i);
                break;
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            size_t a = ov[0], b = ov[1] < ov[0] ? ov[0] : ov[1]; /* \K can put the end first */
            if (a > n) a = n;
            if (b > n) b = n;
            gr_spans_push(out, a, b, GR_D__N + i);
            if (b > a) {
                off = b;
            } else { /* empty match: step over one character */
                off = b + 1;
                while (off < n && ((unsigned char)s[off] & 0xC0) == 0x80) off++;
            }
        }
    }
}

void gr_rules_scratch_free(void *scratch)
{
    if (scratch) pcre2_match_data_free((pcre2_match_data *)scratch);
}
