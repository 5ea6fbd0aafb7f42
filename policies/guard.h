/* policies/guard.h — guardrails: prompt-injection scoring, PII and secret
 * detectors, custom PCRE2 rules. Knows nothing of HTTP or MCP: it inspects
 * text (or every string inside a cJSON tree) and says what it found. */
#ifndef POL_GUARD_H
#define POL_GUARD_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "../core/config.h"

typedef struct gr_engine gr_engine; /* compiled, immutable, shared by all requests */

/* Compiles the guardrail config (detectors, thresholds, PCRE2 rules with JIT).
 * NULL on error with *err naming the rule ("guardrails.rules[0].pattern: ..."). */
gr_engine *gr_engine_new(const od_guard_cfg *cfg, char **err);
void gr_engine_free(gr_engine *e);

#define GR_MAX_FINDINGS 32

/* Block reasons (gr_ctx.block_reason). */
#define GR_R_INJECTION "guardrail_injection"
#define GR_R_PII       "guardrail_pii"
#define GR_R_SECRET    "guardrail_secret"
#define GR_R_RULE      "guardrail_rule"
#define GR_R_TOO_DEEP  "guardrail_too_deep" /* gr_scan_json: nesting beyond GR_JSON_MAX_DEPTH */

/* gr_scan_json refuses (blocks) JSON nested deeper than this rather than
 * let content it did not inspect through. */
#define GR_JSON_MAX_DEPTH 64

/* Streams: the bytes at the end of text t (a stream's answer so far) that
 * must wait for more text before they can be inspected for good: a value
 * still being written and the context before it. GR_HOLD_UNKNOWN when a
 * PCRE2 rule applies to output (no known shape: hold a fixed window). */
#define GR_HOLD_UNKNOWN ((size_t)-1)
#define GR_HOLD_CONTEXT 32
size_t gr_stream_hold(const gr_engine *e, const char *t, size_t n);

/* Built-in detector names, NULL-terminated: the names cfg->detectors may
 * override ("email", ..., "high_entropy", "stripe_key", ...). */
const char *const *gr_detector_names(void);

typedef struct gr_finding {
    char detector[32]; /* "email", "card", "aws_key", "injection", "rule:codename" */
    od_action action;  /* what was applied */
    int count;
} gr_finding;

/* Per-request state: findings, and the mask table so the same value gets the
 * same placeholder ([EMAIL_1]) everywhere within one request. */
typedef struct gr_ctx {
    gr_finding findings[GR_MAX_FINDINGS];
    int nfindings;
    int blocked;               /* 1 once a block action fired */
    const char *block_reason;  /* "guardrail_injection" | "guardrail_pii" | "guardrail_secret" | "guardrail_rule" */
    char block_detector[32];   /* which detector blocked (never the matched text) */
    int injection_score;       /* highest score seen */
    void *masks;               /* private: value -> placeholder table */
    int rewrites;              /* JSON strings masked in place so far */
    const char *key_id;        /* principal, for rules limited to keys/teams */
    const char *key_name;
    const char *team;
    unsigned vk_have;          /* private: verdict-cache keys derived, by place */
    uint8_t vk[3][16];
} gr_ctx;

void gr_ctx_init(gr_ctx *c, const char *key_id, const char *key_name, const char *team);
void gr_ctx_free(gr_ctx *c);

/* Inspects one text. where is one OD_WHERE_* bit. Injection scoring runs
 * for input, tool_args and tool_results (not model output); PII, secrets
 * and the rules whose applies_to includes where run everywhere. With
 * injection on "mask", the whole text becomes "[INJECTION_n]". When something is masked,
 * returns a newly allocated masked copy in *masked (caller frees), else sets
 * *masked = NULL. Returns 1 if the request must be blocked (c->blocked set),
 * 0 otherwise. Works on any bytes (invalid UTF-8 included) without crashing. */
int gr_scan_text(const gr_engine *e, gr_ctx *c, unsigned where,
                 const char *text, size_t len, char **masked);

/* Same, for text that may hold NUL bytes: the masked copy's length goes to
 * *masked_len (it is NUL-terminated as well). */
int gr_scan_text_len(const gr_engine *e, gr_ctx *c, unsigned where, const char *text, size_t len,
                     char **masked, size_t *masked_len);

/* Inspects every string value inside node (objects, arrays, nested), replacing
 * masked strings in place. Object keys are not inspected. Depth is bounded.
 * Returns 1 if blocked, 0 otherwise. */
int gr_scan_json(const gr_engine *e, gr_ctx *c, unsigned where, cJSON *node);

/* Scans answered by the verdict cache (hits) and scans that looked it up
 * and ran (misses), process-wide: clean texts seen before are not scanned
 * again (guard_cache.c). */
void gr_vcache_stats(uint64_t *hits, uint64_t *misses);

/* Findings as compact JSON for the ledger, e.g. {"email":2,"injection":1};
 * never includes matched text. Caller frees. NULL when there are none. */
char *gr_findings_json(const gr_ctx *c);

#endif
