/* gateway/metrics.c — Prometheus counters and histograms for /metrics.
 * Labels are model aliases, provider names, statuses and reason strings:
 * never keys or request content. Series per family are capped; past the cap
 * new label sets fold into model="other". */
#include "gw.h"

#include <string.h>

#define MAX_SERIES 2000
static const double BUCKETS[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
#define NB ((int)(sizeof BUCKETS / sizeof BUCKETS[0]))

typedef struct series {
    char *labels;           /* rendered: model="x",provider="y" */
    int64_t count;          /* counters; histogram observation count */
    int64_t a, b;           /* tokens: prompt, completion; cost */
    int64_t sum_us;         /* histogram sum */
    int64_t buckets[NB];
} series;

typedef struct family {
    series *s;
    int n, cap;
} family;

struct gw_metrics {
    family requests, latency, ttft, tokens, cost, upstream_errors, failovers, retries;
    int64_t gen; /* bumped by every change: workers publish only when it moved */
};

int64_t gw_metrics_gen(const gw_metrics *m)
{
    return m->gen;
}

gw_metrics *gw_metrics_new(void)
{
    return od_calloc(1, sizeof(gw_metrics));
}

static void family_free(family *f)
{
    for (int i = 0; i < f->n; i++)
        free(f->s[i].labels);
    free(f->s);
}

void gw_metrics_free(gw_metrics *m)
{
    if (!m)
        return;
    family_free(&m->requests);
    family_free(&m->latency);
    family_free(&m->ttft);
    family_free(&m->tokens);
    family_free(&m->cost);
    family_free(&m->upstream_errors);
    family_free(&m->failovers);
    family_free(&m->retries);
    free(m);
}

/* label values escaped per the exposition format */
static void esc(od_buf *b, const char *v)
{
    for (const char *p = v ? v : ""; *p; p++) {
        if (*p == '\\' || *p == '"') od_buf_putc(b, '\\');
        if (*p == '\n') { od_buf_puts(b, "\\n"); continue; }
        od_buf_putc(b, *p);
    }
}

static series *get(family *f, const char *labels)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->s[i].labels, labels))
            return &f->s[i];
    if (f->n >= MAX_SERIES)
        return NULL;
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 16;
        f->s = od_realloc(f->s, (size_t)f->cap * sizeof *f->s);
    }
    series *s = &f->s[f->n++];
    memset(s, 0, sizeof *s);
    s->labels = od_strdup(labels);
    return s;
}

static void observe(series *s, int64_t us)
{
    if (!s)
        return;
    s->count++;
    s->sum_us += us;
    double sec = (double)us / 1e6;
    for (int i = 0; i < NB; i++)
        if (sec <= BUCKETS[i])
            s->buckets[i]++;
}

void gw_metrics_request(gw_metrics *m, const od_req *r, const char *model, int64_t ttft_us)
{
    od_buf b = {0};
    m->gen++;
    od_buf_puts(&b, "model=\"");
    esc(&b, model && *model ? model : "unknown");
    od_buf_puts(&b, "\",provider=\"");
    esc(&b, r->provider[0] ? r->provider : "none");
    od_buf_puts(&b, "\",status=\"");
    od_buf_put_i64(&b, r->status);
    od_buf_puts(&b, "\",reason=\"");
    esc(&b, r->reason ? r->reason : "ok");
    od_buf_puts(&b, "\"");
    series *s = get(&m->requests, b.p);
    if (s) s->count++;

    od_buf_reset(&b);
    od_buf_puts(&b, "model=\"");
    esc(&b, model && *model ? model : "unknown");
    od_buf_puts(&b, "\"");
    if (r->t_end_us > r->t_start_us && r->t_start_us)
        observe(get(&m->latency, b.p), r->t_end_us - r->t_start_us);
    if (ttft_us > 0)
        observe(get(&m->ttft, b.p), ttft_us);
    if (r->prompt_tokens || r->completion_tokens) {
        s = get(&m->tokens, b.p);
        if (s) { s->a += r->prompt_tokens; s->b += r->completion_tokens; }
    }
    if (r->cost_micros) {
        s = get(&m->cost, b.p);
        if (s) s->a += r->cost_micros;
    }
    od_buf_free(&b);
}

void gw_metrics_upstream_error(gw_metrics *m, const char *provider, const char *kind)
{
    od_buf b = {0};
    m->gen++;
    od_buf_puts(&b, "provider=\"");
    esc(&b, provider);
    od_buf_puts(&b, "\",kind=\"");
    esc(&b, kind);
    od_buf_puts(&b, "\"");
    series *s = get(&m->upstream_errors, b.p);
    if (s) s->count++;
    od_buf_free(&b);
}

static void count1(family *f, const char *label, const char *v)
{
    od_buf b = {0};
    od_buf_printf(&b, "%s=\"", label);
    esc(&b, v);
    od_buf_puts(&b, "\"");
    series *s = get(f, b.p);
    if (s) s->count++;
    od_buf_free(&b);
}

void gw_metrics_failover(gw_metrics *m, const char *model)
{
    m->gen++;
    count1(&m->failovers, "model", model);
}

void gw_metrics_retry(gw_metrics *m, const char *provider)
{
    m->gen++;
    count1(&m->retries, "provider", provider);
}

static void render_counter(od_buf *o, const char *name, const char *help, family *f)
{
    od_buf_printf(o, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    for (int i = 0; i < f->n; i++)
        od_buf_printf(o, "%s{%s} %lld\n", name, f->s[i].labels, (long long)f->s[i].count);
}

static void render_hist(od_buf *o, const char *name, const char *help, family *f)
{
    od_buf_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (int i = 0; i < f->n; i++) {
        series *s = &f->s[i];
        for (int k = 0; k < NB; k++)
            od_buf_printf(o, "%s_bucket{%s,le=\"%g\"} %lld\n", name, s->labels, BUCKETS[k], (long long)s->buckets[k]);
        od_buf_printf(o, "%s_bucket{%s,le=\"+Inf\"} %lld\n", name, s->labels, (long long)s->count);
        od_buf_printf(o, "%s_sum{%s} %.6f\n", name, s->labels, (double)s->sum_us / 1e6);
        od_buf_printf(o, "%s_count{%s} %lld\n", name, s->labels, (long long)s->count);
    }
}

char *gw_metrics_render(gw_metrics *m, gw_server *srv)
{
    od_buf o = {0};
    render_counter(&o, "odock_requests_total", "LLM requests by model, provider, status and reason.", &m->requests);
    render_hist(&o, "odock_request_duration_seconds", "Request latency, admission to last byte.", &m->latency);
    render_hist(&o, "odock_time_to_first_token_seconds", "Streams: admission to first byte sent.", &m->ttft);
    od_buf_puts(&o, "# HELP odock_tokens_total Tokens by model and type.\n# TYPE odock_tokens_total counter\n");
    for (int i = 0; i < m->tokens.n; i++) {
        series *s = &m->tokens.s[i];
        od_buf_printf(&o, "odock_tokens_total{%s,type=\"prompt\"} %lld\n", s->labels, (long long)s->a);
        od_buf_printf(&o, "odock_tokens_total{%s,type=\"completion\"} %lld\n", s->labels, (long long)s->b);
    }
    od_buf_puts(&o, "# HELP odock_cost_micros_total Charged cost in micro-dollars.\n# TYPE odock_cost_micros_total counter\n");
    for (int i = 0; i < m->cost.n; i++)
        od_buf_printf(&o, "odock_cost_micros_total{%s} %lld\n", m->cost.s[i].labels, (long long)m->cost.s[i].a);
    render_counter(&o, "odock_upstream_errors_total", "Failed upstream attempts by provider and kind.", &m->upstream_errors);
    render_counter(&o, "odock_failovers_total", "Requests moved to another deployment.", &m->failovers);
    render_counter(&o, "odock_upstream_retries_total", "Retries of the same deployment.", &m->retries);
    od_buf_printf(&o, "# HELP odock_inflight_requests Requests being served.\n# TYPE odock_inflight_requests gauge\nodock_inflight_requests %d\n",
                  srv ? srv->inflight : 0);
    uint64_t hits = 0, misses = 0;
    gr_vcache_stats(&hits, &misses);
    od_buf_printf(&o, "# HELP odock_guardrail_cache_total Guardrail scans of input and tool text: answered by the verdicts of clean texts seen before (hit) or run (miss).\n"
                      "# TYPE odock_guardrail_cache_total counter\nodock_guardrail_cache_total{result=\"hit\"} %llu\nodock_guardrail_cache_total{result=\"miss\"} %llu\n",
                  (unsigned long long)hits, (unsigned long long)misses);
    if (srv && srv->pol) {
        pol_stats st;
        memset(&st, 0, sizeof st);
        pol_get_stats(srv->pol, &st);
        od_buf_printf(&o, "# HELP odock_budget_denials_total Requests denied by a budget.\n# TYPE odock_budget_denials_total counter\nodock_budget_denials_total %lld\n",
                      (long long)st.budget_denials);
        od_buf_printf(&o, "# HELP odock_rate_limit_denials_total Requests denied by a rate limit.\n# TYPE odock_rate_limit_denials_total counter\nodock_rate_limit_denials_total %lld\n",
                      (long long)st.rate_denials);
        od_buf_printf(&o, "# HELP odock_rate_limit_untracked_total Requests admitted without rate-limit state (the shared table was full).\n# TYPE odock_rate_limit_untracked_total counter\nodock_rate_limit_untracked_total %lld\n",
                      (long long)st.rate_untracked);
        od_buf_printf(&o, "# HELP odock_ledger_events_total Ledger events by state.\n# TYPE odock_ledger_events_total counter\n"
                          "odock_ledger_events_total{state=\"queued\"} %lld\nodock_ledger_events_total{state=\"written\"} %lld\nodock_ledger_events_total{state=\"dropped\"} %lld\n",
                      (long long)st.events_queued, (long long)st.events_written, (long long)st.events_dropped);
    }
    return od_buf_take(&o);
}

/* ---------------- several workers ----------------
 * Each worker renders its own exposition; a scrape that lands on any of
 * them sums them: samples with the same name{labels} add up (counts as
 * integers, _sum as decimals), # HELP / # TYPE lines are kept once, and
 * every family's samples stay together, in the order first seen. */
typedef struct msample {
    char *key;          /* name{labels} */
    int is_float;
    int64_t i;
    double d;
    int next;           /* next sample of the family, -1 */
    int hnext;          /* hash chain */
} msample;

typedef struct mfamily {
    char *name, *help, *type;
    int first, last;    /* samples */
} mfamily;

static int is_gauge(const mfamily *f)
{
    size_t n = f->type ? strlen(f->type) : 0;
    return n > 6 && !strcmp(f->type + n - 6, " gauge");
}

typedef struct merger {
    mfamily *f;
    int nf, capf;
    msample *s;
    int ns, caps;
    int *heads;         /* hash buckets: sample index, -1 */
    size_t nheads;
} merger;

static uint64_t mhash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

static int family_of(merger *m, const char *name, size_t n)
{
    for (int i = m->nf - 1; i >= 0; i--)
        if (strlen(m->f[i].name) == n && !memcmp(m->f[i].name, name, n))
            return i;
    if (m->nf == m->capf) {
        m->capf = m->capf ? m->capf * 2 : 16;
        m->f = od_realloc(m->f, (size_t)m->capf * sizeof *m->f);
    }
    mfamily *f = &m->f[m->nf];
    memset(f, 0, sizeof *f);
    f->name = od_strndup(name, n);
    f->first = f->last = -1;
    return m->nf++;
}

static void rehash(merger *m)
{
    free(m->heads);
    m->nheads = m->nheads ? m->nheads * 2 : 1024;
    m->heads = od_malloc(m->nheads * sizeof *m->heads);
    for (size_t i = 0; i < m->nheads; i++) m->heads[i] = -1;
    for (int i = 0; i < m->ns; i++) {
        size_t b = mhash(m->s[i].key, strlen(m->s[i].key)) & (m->nheads - 1);
        m->s[i].hnext = m->heads[b];
        m->heads[b] = i;
    }
}

static void add_sample(merger *m, int fam, const char *key, size_t kn, const char *val)
{
    if (m->ns * 2 >= (int)m->nheads)
        rehash(m);
    size_t b = mhash(key, kn) & (m->nheads - 1);
    int fl = strpbrk(val, ".eEnN") != NULL; /* decimals, NaN, Inf */
    for (int i = m->heads[b]; i >= 0; i = m->s[i].hnext) {
        msample *s = &m->s[i];
        if (strlen(s->key) == kn && !memcmp(s->key, key, kn)) {
            if (fl && !s->is_float) { s->is_float = 1; s->d = (double)s->i; }
            if (s->is_float) s->d += strtod(val, NULL);
            else s->i += strtoll(val, NULL, 10);
            return;
        }
    }
    if (m->ns == m->caps) {
        m->caps = m->caps ? m->caps * 2 : 64;
        m->s = od_realloc(m->s, (size_t)m->caps * sizeof *m->s);
    }
    msample *s = &m->s[m->ns];
    memset(s, 0, sizeof *s);
    s->key = od_strndup(key, kn);
    s->is_float = fl;
    if (fl) s->d = strtod(val, NULL);
    else s->i = strtoll(val, NULL, 10);
    s->next = -1;
    s->hnext = m->heads[b];
    m->heads[b] = m->ns;
    mfamily *f = &m->f[fam];
    if (f->last >= 0) m->s[f->last].next = m->ns;
    else f->first = m->ns;
    f->last = m->ns++;
}

static void merge_one(merger *m, const char *text, int no_gauges)
{
    int fam = -1;
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[4096];
        if (len && len < sizeof line) {
            memcpy(line, p, len);
            line[len] = 0;
            if (!strncmp(line, "# HELP ", 7) || !strncmp(line, "# TYPE ", 7)) {
                const char *name = line + 7, *sp = strchr(name, ' ');
                fam = family_of(m, name, sp ? (size_t)(sp - name) : strlen(name));
                char **slot = line[2] == 'H' ? &m->f[fam].help : &m->f[fam].type;
                if (!*slot) *slot = od_strdup(line);
            } else if (line[0] != '#') {
                char *sp = strrchr(line, ' ');
                if (sp && sp > line) {
                    if (fam < 0) { /* a sample before any header: its own family */
                        const char *br = strpbrk(line, "{ ");
                        fam = family_of(m, line, (size_t)(br - line));
                    }
                    if (!(no_gauges && is_gauge(&m->f[fam])))
                        add_sample(m, fam, line, (size_t)(sp - line), sp + 1);
                }
            }
        }
        p = nl ? nl + 1 : p + len;
    }
}

char *gw_metrics_merge(const char *const *texts, int n, int no_gauges)
{
    merger m;
    memset(&m, 0, sizeof m);
    rehash(&m);
    for (int i = 0; i < n; i++)
        merge_one(&m, texts[i], no_gauges);
    od_buf o = {0};
    for (int i = 0; i < m.nf; i++) {
        mfamily *f = &m.f[i];
        if (f->help) od_buf_printf(&o, "%s\n", f->help);
        if (f->type) od_buf_printf(&o, "%s\n", f->type);
        for (int k = f->first; k >= 0; k = m.s[k].next) {
            if (m.s[k].is_float) od_buf_printf(&o, "%s %.6f\n", m.s[k].key, m.s[k].d);
            else od_buf_printf(&o, "%s %lld\n", m.s[k].key, (long long)m.s[k].i);
        }
        free(f->name);
        free(f->help);
        free(f->type);
    }
    for (int k = 0; k < m.ns; k++) free(m.s[k].key);
    free(m.s);
    free(m.f);
    free(m.heads);
    if (!o.p) od_buf_puts(&o, "");
    return od_buf_take(&o);
}
