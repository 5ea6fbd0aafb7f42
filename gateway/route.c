/* gateway/route.c — deployments, strategies and circuit breakers.
 * A deployment is one provider + upstream model; its health (in-flight
 * count, latency average, consecutive failures, circuit) is shared by every
 * alias that routes to it. */
#include "gw.h"

#include <stdlib.h>
#include <string.h>

#define GW_MAX_DEPS 1024 /* distinct provider/model pairs tracked */

struct gw_router {
    const od_config *cfg;
    gw_tuning t;
    gw_dep **deps;
    int ndeps, cap;
};

gw_router *gw_router_new(const od_config *cfg, const gw_tuning *t)
{
    gw_router *r = od_calloc(1, sizeof *r);
    r->cfg = cfg;
    r->t = *t;
    return r;
}

void gw_router_free(gw_router *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->ndeps; i++)
        free(r->deps[i]);
    free(r->deps);
    free(r);
}

gw_dep *gw_router_dep(gw_router *r, const char *provider, const char *model)
{
    char name[256];
    if (!provider || !model || !*model)
        return NULL;
    int n = snprintf(name, sizeof name, "%s/%s", provider, model);
    if (n < 0 || (size_t)n >= sizeof name)
        return NULL;
    for (int i = 0; i < r->ndeps; i++)
        if (!strcmp(r->deps[i]->name, name))
            return r->deps[i];
    const od_provider_cfg *p = od_config_provider(r->cfg, provider);
    if (!p)
        return NULL;
    const prov_adapter *ad = prov_adapter_for(p->type);
    if (!ad)
        return NULL;
    if (r->ndeps >= GW_MAX_DEPS) {
        /* untracked beyond the cap: reuse a scratch slot with no history */
        static gw_dep scratch;
        memset(&scratch, 0, sizeof scratch);
        memcpy(scratch.name, name, (size_t)n + 1);
        scratch.prov = p;
        scratch.ad = ad;
        scratch.model = scratch.name + strlen(provider) + 1;
        return &scratch;
    }
    if (r->ndeps == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->deps = od_realloc(r->deps, (size_t)r->cap * sizeof *r->deps);
    }
    gw_dep *d = od_calloc(1, sizeof *d);
    memcpy(d->name, name, (size_t)n + 1);
    d->prov = p;
    d->ad = ad;
    d->model = d->name + strlen(provider) + 1;
    r->deps[r->ndeps++] = d;
    return d;
}

int gw_dep_available(gw_router *r, gw_dep *d, int64_t now_us)
{
    (void)r;
    if (d->open_until_us == 0)
        return now_us >= d->cool_until_us;
    if (now_us < d->open_until_us)
        return 0;
    return !d->probing; /* half-open: one probe at a time */
}

void gw_dep_begin(gw_dep *d)
{
    d->inflight++;
    if (d->open_until_us && od_mono_us() >= d->open_until_us)
        d->probing = 1;
}

void gw_dep_end(gw_dep *d)
{
    if (d->inflight > 0)
        d->inflight--;
}

void gw_dep_success(gw_router *r, gw_dep *d, int64_t latency_us)
{
    (void)r;
    d->consecutive_failures = 0;
    d->open_until_us = 0;
    d->probing = 0;
    d->cool_until_us = 0;
    if (latency_us > 0)
        d->ewma_us = d->ewma_us ? (d->ewma_us * 4 + latency_us) / 5 : latency_us;
}

void gw_dep_failure(gw_router *r, gw_dep *d, int retry_after_s)
{
    int64_t now = od_mono_us();
    d->consecutive_failures++;
    if (retry_after_s > 0) {
        int ms = retry_after_s * 1000;
        if (ms > r->t.retry_max_ms)
            ms = r->t.retry_max_ms;
        d->cool_until_us = now + (int64_t)ms * 1000;
    }
    if (d->probing || d->consecutive_failures >= r->t.breaker_failures) {
        if (!d->open_until_us || now >= d->open_until_us)
            od_info("circuit open: %s (%d consecutive failures)", d->name, d->consecutive_failures);
        d->open_until_us = now + (int64_t)r->t.breaker_cooldown_ms * 1000;
        d->probing = 0;
    }
}

typedef struct cand {
    gw_dep *d;
    int weight, prio, pos;
    int64_t key;
} cand;

static int cmp_key(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (x->prio != y->prio)
        return x->prio < y->prio ? -1 : 1;
    return x->pos - y->pos;
}

void gw_router_plan(gw_router *r, const od_model_cfg *m, gw_plan *out)
{
    cand c[GW_MAX_PLAN];
    int n = 0;
    int64_t now = od_mono_us();
    out->n = 0;
    for (int i = 0; i < m->ndeployments && n < GW_MAX_PLAN; i++) {
        const od_deploy_cfg *dc = &m->deployments[i];
        gw_dep *d = gw_router_dep(r, dc->provider, dc->model);
        if (!d)
            continue;
        c[n].d = d;
        c[n].weight = dc->weight > 0 ? dc->weight : 1;
        c[n].prio = dc->priority;
        c[n].pos = i;
        c[n].key = 0;
        n++;
    }
    const char *st = m->strategy ? m->strategy : "failover";
    if (!strcmp(st, "least-busy")) {
        for (int i = 0; i < n; i++) c[i].key = c[i].d->inflight;
    } else if (!strcmp(st, "lowest-latency")) {
        /* unknown latency first: every deployment gets measured */
        for (int i = 0; i < n; i++) c[i].key = c[i].d->ewma_us;
    } else if (!strcmp(st, "weighted")) {
        int total = 0;
        for (int i = 0; i < n; i++) total += c[i].weight;
        if (total > 0) {
            uint32_t rnd = 0;
            od_random_bytes(&rnd, sizeof rnd);
            int pick = (int)(rnd % (uint32_t)total), chosen = 0;
            for (int i = 0; i < n; i++) {
                if (pick < c[i].weight) { chosen = i; break; }
                pick -= c[i].weight;
            }
            /* the pick first, the rest by priority as fallbacks */
            for (int i = 0; i < n; i++) c[i].key = i == chosen ? 0 : 1;
        }
    }
    qsort(c, (size_t)n, sizeof *c, cmp_key);
    /* healthy deployments first, open circuits (and cooling ones) last */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            int avail = gw_dep_available(r, c[i].d, now);
            if ((pass == 0) == (avail != 0))
                out->deps[out->n++] = c[i].d;
        }
}
