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
};

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
    char st[16];
    snprintf(st, sizeof st, "%d", r->status);
    od_buf_puts(&b, "model=\"");
    esc(&b, model && *model ? model : "unknown");
    od_buf_puts(&b, "\",provider=\"");
    esc(&b, r->provider[0] ? r->provider : "none");
    od_buf_puts(&b, "\",status=\"");
    od_buf_puts(&b, st);
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

void gw_metrics_failover(gw_metrics *m, const char *model) { count1(&m->failovers, "model", model); }
void gw_metrics_retry(gw_metrics *m, const char *provider) { count1(&m->retries, "provider", provider); }

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
    if (srv && srv->pol) {
        pol_stats st;
        memset(&st, 0, sizeof st);
        pol_get_stats(srv->pol, &st);
        od_buf_printf(&o, "# HELP odock_budget_denials_total Requests denied by a budget.\n# TYPE odock_budget_denials_total counter\nodock_budget_denials_total %lld\n",
                      (long long)st.budget_denials);
        od_buf_printf(&o, "# HELP odock_rate_limit_denials_total Requests denied by a rate limit.\n# TYPE odock_rate_limit_denials_total counter\nodock_rate_limit_denials_total %lld\n",
                      (long long)st.rate_denials);
        od_buf_printf(&o, "# HELP odock_ledger_events_total Ledger events by state.\n# TYPE odock_ledger_events_total counter\n"
                          "odock_ledger_events_total{state=\"queued\"} %lld\nodock_ledger_events_total{state=\"written\"} %lld\nodock_ledger_events_total{state=\"dropped\"} %lld\n",
                      (long long)st.events_queued, (long long)st.events_written, (long long)st.events_dropped);
    }
    return od_buf_take(&o);
}
