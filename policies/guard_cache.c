/* policies/guard_cache.c — the verdicts of texts already found clean.
 *
 * A chat client sends the whole conversation on every turn, and an agent
 * its system prompt and tool definitions on every call: the guardrails read
 * the same text again and again, and a conversation of n turns cost n
 * squared of scanning. A text that came out clean (nothing recorded,
 * nothing masked, no block) is remembered here, so the next scan of it is
 * one hash.
 *
 * A verdict depends on the engine, on where the text is (input, tool
 * arguments, tool results: the rules differ), on the principal (rules can
 * be limited to keys and teams) and on the text. The first three make a
 * SipHash key, derived from the engine's random key once per request and
 * place (gr_ctx.vk); the text's 128-bit tag under it is what is stored.
 * So:
 *   - no text is kept, only tags: nothing of a prompt outlives its request;
 *   - without the engine's key no one can make a text share a tag with a
 *     cached one; a new engine (a reload) has a new key, so old verdicts
 *     never match;
 *   - a tenant cannot learn by timing whether another sent a text: the
 *     principal is in the key.
 * Model output is not cached: it is new text every time. Short texts are
 * (a role name or a model's name scans in ~1,000 instructions and hashes in
 * ~150). Per thread (the event loop is one), direct-mapped: a collision of
 * slots only evicts.
 *
 * Measured (callgrind, the benchmark's 1 KB chat request with a new
 * question each time): 146k instructions a request before, 124k after. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "../core/od.h"
#include "guard_int.h"

#define VC_SLOTS 4096 /* x 24 bytes: 96 KB a thread that scans */

typedef struct vc_entry {
    uint64_t tag[2];
    int32_t score; /* the injection score, below the threshold */
    int32_t used;
} vc_entry;

/* On the heap, made by the first scan: 96 KB of static TLS would be carved
 * out of every thread's stack, a library's small-stack threads included. */
static _Thread_local vc_entry *slots;
static pthread_key_t slots_key;
static pthread_once_t slots_once = PTHREAD_ONCE_INIT;
static _Atomic uint64_t n_hits, n_misses;

static void slots_key_make(void) { (void)pthread_key_create(&slots_key, free); }

static vc_entry *slot_of(const uint64_t tag[2])
{
    if (!slots) {
        pthread_once(&slots_once, slots_key_make);
        if (!(slots = calloc(VC_SLOTS, sizeof *slots))) return NULL;
        (void)pthread_setspecific(slots_key, slots); /* freed when the thread ends */
    }
    return &slots[tag[0] & (VC_SLOTS - 1)];
}

static int place(unsigned where)
{
    switch (where) {
    case OD_WHERE_INPUT: return 0;
    case OD_WHERE_TOOL_ARGS: return 1;
    case OD_WHERE_TOOL_RESULTS: return 2;
    default: return -1;
    }
}

/* The key of (engine, principal, where) in c, derived on first use. */
static const uint8_t *derived_key(const gr_engine *e, gr_ctx *c, int pl)
{
    if (!(c->vk_have & (1u << pl))) {
        const char *f[3] = {c->key_id ? c->key_id : "", c->key_name ? c->key_name : "", c->team ? c->team : ""};
        size_t n = 1;
        for (int i = 0; i < 3; i++) n += strlen(f[i]) + 1;
        char stack[512], *m = n <= sizeof stack ? stack : od_malloc(n), *o = m;
        *o++ = (char)('0' + pl);
        for (int i = 0; i < 3; i++) { /* each with its NUL: ("ab","c") is not ("a","bc") */
            size_t l = strlen(f[i]) + 1;
            memcpy(o, f[i], l);
            o += l;
        }
        uint64_t k[2];
        od_siphash128(e->vkey, m, n, k);
        if (m != stack) free(m);
        memcpy(c->vk[pl], k, 16);
        c->vk_have |= 1u << pl;
    }
    return c->vk[pl];
}

int gr_vcache_tag(const gr_engine *e, gr_ctx *c, unsigned where, const char *text, size_t len,
                  uint64_t tag[2])
{
    int pl = place(where);
    if (pl < 0 || !e->vcache) return 0;
    od_siphash128(derived_key(e, c, pl), text, len, tag);
    return 1;
}

int gr_vcache_get(const uint64_t tag[2], int *score)
{
    const vc_entry *s = slot_of(tag);
    if (s && s->used && s->tag[0] == tag[0] && s->tag[1] == tag[1]) {
        *score = s->score;
        atomic_fetch_add_explicit(&n_hits, 1, memory_order_relaxed);
        return 1;
    }
    atomic_fetch_add_explicit(&n_misses, 1, memory_order_relaxed);
    return 0;
}

void gr_vcache_put(const uint64_t tag[2], int score)
{
    vc_entry *s = slot_of(tag);
    if (!s) return;
    s->tag[0] = tag[0];
    s->tag[1] = tag[1];
    s->score = score;
    s->used = 1;
}

void gr_vcache_stats(uint64_t *hits, uint64_t *misses)
{
    if (hits) *hits = atomic_load_explicit(&n_hits, memory_order_relaxed);
    if (misses) *misses = atomic_load_explicit(&n_misses, memory_order_relaxed);
}
