/* policies/guard_int.h — private to the guardrail files (guard*.c) and their
 * white-box unit tests. Everything here may change without notice. */
#ifndef POL_GUARD_INT_H
#define POL_GUARD_INT_H

#include <stddef.h>
#include <stdint.h>
#include "../core/od.h"
#include "guard.h"

/* Built-in detectors. The order is the overlap priority: when two spans
 * overlap, the one with the smaller id wins (a private key beats the
 * high-entropy token inside it, a card beats the phone-looking digits). */
enum gr_det {
    GR_D_PRIVATE_KEY = 0,
    GR_D_JWT,
    GR_D_ANTHROPIC,
    GR_D_OPENAI,
    GR_D_GITHUB,
    GR_D_AWS,
    GR_D_STRIPE,
    GR_D_SLACK,
    GR_D_GOOGLE,
    GR_D_EMAIL,
    GR_D_IBAN,
    GR_D_CARD,
    GR_D_SSN,
    GR_D_IPV6, /* reported as "ip" */
    GR_D_IP,
    GR_D_PHONE,
    GR_D_ENTROPY,
    GR_D_INJECTION,
    GR_D__N
};

enum gr_family { GR_FAM_PII, GR_FAM_SECRET, GR_FAM_INJECTION };

/* Placeholder types; rules use GR_T__N + rule index. */
enum gr_ptype { GR_T_EMAIL, GR_T_PHONE, GR_T_CARD, GR_T_IBAN, GR_T_SSN, GR_T_IP, GR_T_SECRET,
                GR_T_INJECTION, GR_T__N };

typedef struct gr_detinfo {
    const char *name;   /* finding / config name */
    int family;
    int ptype;
} gr_detinfo;
extern const gr_detinfo gr_dets[GR_D__N];
extern const char *const gr_ptype_names[GR_T__N];

/* A found span [start, end) of the scanned text. det: gr_det, or
 * GR_D__N + rule index for custom rules. */
typedef struct gr_span {
    size_t start, end;
    int det;
} gr_span;

/* Growable span list with inline room, so a scan that finds a little
 * allocates nothing. */
typedef struct gr_spans {
    gr_span *v;
    size_t n, cap;
    gr_span inl[16];
} gr_spans;
void gr_spans_init(gr_spans *s);
void gr_spans_push(gr_spans *s, size_t start, size_t end, int det);
void gr_spans_free(gr_spans *s);

typedef struct gr_vocab gr_vocab; /* injection word table (guard_injection.c) */

typedef struct gr_rule {
    char *name;
    char det[32];   /* "rule:<name>", truncated */
    char ptype[24]; /* placeholder type: the name upper-cased */
    void *code;     /* pcre2_code_8 */
    od_action action;
    unsigned where;
    char **keys; int nkeys;
    char **teams; int nteams;
} gr_rule;

struct gr_engine {
    od_action act[GR_D__N];
    int threshold;
    int any_pii, any_secret; /* some detector of the family is on */
    gr_rule *rules;
    int nrules;
    void *mctx; /* pcre2_match_context_8, shared read-only */
    gr_vocab *vocab;
    uint8_t vkey[16]; /* random: the verdict cache's tags (guard_cache.c) */
    int vcache;       /* 0 when the OS gave no randomness for vkey */
};

/* How far back of a value the PII detectors read context words ("ssn",
 * "phone", "version"); a stream holds at least the largest (guard_hold.c). */
#define GR_CTX_VERSION 16
#define GR_CTX_PHONE 24
#define GR_CTX_SSN 32
_Static_assert(GR_CTX_SSN <= GR_HOLD_CONTEXT && GR_CTX_PHONE <= GR_HOLD_CONTEXT && GR_CTX_VERSION <= GR_HOLD_CONTEXT,
               "a stream must hold the context every detector reads");

/* ---- detectors: append candidate spans for every enabled detector ---- */
void gr_pii_scan(const gr_engine *e, const char *s, size_t n, gr_spans *out);
void gr_secrets_scan(const gr_engine *e, const char *s, size_t n, gr_spans *out);
/* Weighted injection score of one text (0 = nothing). */
int gr_injection_score(const gr_engine *e, const char *s, size_t n);

/* ---- checksums, exposed for tests ---- */
int gr_luhn_ok(const char *digits, size_t n);             /* ASCII digits only */
int gr_iban_ok(const char *s, size_t n);                   /* compact, no spaces */
int gr_ssn_ok(int area, int group, int serial);
double gr_entropy(const char *s, size_t n);                /* Shannon, bits/char */
/* base64 or base64url (both alphabets), skipping bytes outside them, up to
 * cap output bytes; stops at '='. Returns the decoded length. */
size_t gr_b64_decode(const char *s, size_t n, unsigned char *out, size_t cap);

/* ---- injection vocabulary ---- */
gr_vocab *gr_vocab_new(void);
void gr_vocab_free(gr_vocab *v);

/* ---- custom rules (guard_rules.c) ---- */
int gr_rules_compile(gr_engine *e, const od_guard_cfg *cfg, char **err);
void gr_rules_free(gr_engine *e);
/* Runs every rule that applies to where and to the principal in c; appends
 * spans with det = GR_D__N + rule index. scratch: per-request match data. */
void gr_rules_scan(const gr_engine *e, const gr_ctx *c, unsigned where, const char *s, size_t n,
                   void **scratch, gr_spans *out);
void gr_rules_scratch_free(void *scratch);

/* ---- verdicts of clean texts (guard_cache.c) ---- */
/* The tag of text for (e, c's principal, where), 1; 0 when it is not cached
 * there (model output). */
int gr_vcache_tag(const gr_engine *e, gr_ctx *c, unsigned where, const char *text, size_t len,
                  uint64_t tag[2]);
int gr_vcache_get(const uint64_t tag[2], int *score); /* 1: clean, with its injection score */
void gr_vcache_put(const uint64_t tag[2], int score);

/* ---- per-request state behind gr_ctx.masks (guard_mask.c) ---- */
typedef struct gr_state gr_state;
gr_state *gr_state_get(gr_ctx *c); /* created on first use */
void gr_state_free(gr_state *st);
void **gr_state_scratch(gr_state *st);
/* Appends the placeholder of (type, value) to b, e.g. "[EMAIL_1]". */
void gr_mask_put(gr_state *st, const gr_engine *e, int type, const char *v, size_t n, od_buf *b);

/* ---- byte classes shared by the scanners ---- */
enum { GR_C_DIGIT = 1, GR_C_UPPER = 2, GR_C_LOWER = 4, GR_C_TOK = 8, GR_C_HI = 16, GR_C_SENT = 32 };
#define GR_C_ALPHA (GR_C_UPPER | GR_C_LOWER)
#define GR_C_ALNUM (GR_C_DIGIT | GR_C_UPPER | GR_C_LOWER)
extern const uint8_t gr_cls[256];

static inline int gr_isdigit(unsigned char c) { return (unsigned)(c - '0') < 10u; }
/* A byte that joins digit groups into one value ("(415) 555-0132"). */
static inline int gr_group_sep(unsigned char c) { return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/'; }
static inline int gr_isalpha(unsigned char c) { return (unsigned)((c | 0x20) - 'a') < 26u; }
static inline int gr_isalnum(unsigned char c) { return gr_isdigit(c) || gr_isalpha(c); }
static inline int gr_isupper(unsigned char c) { return (unsigned)(c - 'A') < 26u; }
static inline int gr_islower(unsigned char c) { return (unsigned)(c - 'a') < 26u; }
static inline int gr_ishex(unsigned char c)
{
    return gr_isdigit(c) || (unsigned)((c | 0x20) - 'a') < 6u;
}

#endif
