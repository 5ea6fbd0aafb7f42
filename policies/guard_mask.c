/* policies/guard_mask.c — per-request guardrail state behind gr_ctx.masks:
 * the value -> placeholder table that makes the same value get the same
 * placeholder ([EMAIL_1]) everywhere in one request, numbered per type,
 * and the PCRE2 match data reused by every scan of the request.
 *
 * Values are compared in a canonical form, so "4111 1111 1111 1111" and
 * "4111-1111-1111-1111" are one card, and "Ann@X.org" and "ann@x.org" one
 * email. The table holds copies of masked values until gr_ctx_free. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../core/od.h"
#include "guard_int.h"

typedef struct gr_mask {
    uint64_t h; /* 0: empty slot */
    int type, num;
    char *key;
    size_t klen;
} gr_mask;

struct gr_state {
    gr_mask *tab;
    size_t cap, n;
    int *cnt; /* last number given, per placeholder type */
    size_t ncnt;
    void *scratch; /* pcre2 match data */
};

gr_state *gr_state_get(gr_ctx *c)
{
    if (!c->masks) c->masks = od_calloc(1, sizeof(gr_state));
    return c->masks;
}

void **gr_state_scratch(gr_state *st) { return &st->scratch; }

void gr_state_free(gr_state *st)
{
    if (!st) return;
    for (size_t k = 0; k < st->cap; k++) free(st->tab[k].key);
    free(st->tab);
    free(st->cnt);
    gr_rules_scratch_free(st->scratch);
    free(st);
}

/* Canonical form of v into out (cap bytes); returns its length, or a
 * length > cap when it does not fit (the caller then retries bigger). */
static size_t canon(int type, const char *v, size_t n, char *out, size_t cap)
{
    size_t m = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)v[k];
        switch (type) {
        case GR_T_PHONE:
        case GR_T_CARD:
        case GR_T_SSN:
        case GR_T_IBAN:
            if (!gr_isalnum(c)) continue;
            c = gr_islower(c) ? (unsigned char)(c - 32) : c;
            break;
        case GR_T_EMAIL:
        case GR_T_IP:
            c = gr_isupper(c) ? (unsigned char)(c | 0x20) : c;
            break;
        default:
            break;
        }
        if (m < cap) out[m] = (char)c;
        m++;
    }
    return m;
}

static uint64_t fnv(int type, const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(unsigned)type;
    h *= 1099511628211ull;
    for (size_t k = 0; k < n; k++) {
        h ^= (unsigned char)s[k];
        h *= 1099511628211ull;
    }
    return h ? h : 1;
}

static void grow(gr_state *st)
{
    size_t ncap = st->cap ? st->cap * 2 : 16;
    gr_mask *nt = od_calloc(ncap, sizeof *nt);
    for (size_t k = 0; k < st->cap; k++) {
        if (!st->tab[k].h) continue;
        size_t j = st->tab[k].h & (ncap - 1);
        while (nt[j].h) j = (j + 1) & (ncap - 1);
        nt[j] = st->tab[k];
    }
    free(st->tab);
    st->tab = nt;
    st->cap = ncap;
}

static const char *type_name(const gr_engine *e, int type)
{
    if (type < GR_T__N) return gr_ptype_names[type];
    int r = type - GR_T__N;
    return r < e->nrules ? e->rules[r].ptype : "RULE";
}

void gr_mask_put(gr_state *st, const gr_engine *e, int type, const char *v, size_t n, od_buf *b)
{
    char small[256], *key = small;
    size_t klen = canon(type, v, n, small, sizeof small);
    if (klen > sizeof small) { /* long values (a whole injected text): on the heap */
        key = od_malloc(klen);
        canon(type, v, n, key, klen);
    }
    uint64_t h = fnv(type, key, klen);
    if ((st->n + 1) * 2 > st->cap) grow(st);
    size_t j = h & (st->cap - 1);
    while (st->tab[j].h) {
        gr_mask *m = &st->tab[j];
        if (m->h == h && m->type == type && m->klen == klen && !memcmp(m->key, key, klen)) break;
        j = (j + 1) & (st->cap - 1);
    }
    gr_mask *m = &st->tab[j];
    if (!m->h) {
        if ((size_t)type >= st->ncnt) {
            size_t nn = (size_t)type + 8;
            st->cnt = od_realloc(st->cnt, nn * sizeof *st->cnt);
            memset(st->cnt + st->ncnt, 0, (nn - st->ncnt) * sizeof *st->cnt);
            st->ncnt = nn;
        }
        m->h = h;
        m->type = type;
        m->num = ++st->cnt[type];
        m->klen = klen;
        m->key = key == small ? od_strndup(small, klen) : key; /* the table owns it now */
        key = small;
        st->n++;
    }
    if (key != small) free(key);
    char ph[64];
    int l = snprintf(ph, sizeof ph, "[%s_%d]", type_name(e, type), m->num);
    od_buf_put(b, ph, l > 0 && (size_t)l < sizeof ph ? (size_t)l : strlen(ph));
}
