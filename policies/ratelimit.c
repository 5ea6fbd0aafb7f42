/* policies/ratelimit.c — requests and tokens per minute (sliding window
 * estimated from two fixed windows), and requests in flight. In memory, per
 * process. */
#include "pol_int.h"

#include <stdio.h>
#include <string.h>

#define WINDOW_MS 60000

int pol_rl_slot(pol_rl_table *t, const char *subject)
{
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->v[i].subject, subject)) return i;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->v = od_realloc(t->v, (size_t)t->cap * sizeof *t->v);
    }
    pol_rl *r = &t->v[t->n];
    memset(r, 0, sizeof *r);
    snprintf(r->subject, sizeof r->subject, "%s", subject);
    return t->n++;
}

static void roll(pol_rl *r, int64_t now)
{
    int64_t start = now - now % WINDOW_MS;
    if (start == r->win_start_ms) return;
    int adjacent = start - r->win_start_ms == WINDOW_MS;
    r->req_prev = adjacent ? r->req_cur : 0;
    r->tok_prev = adjacent ? r->tok_cur : 0;
    r->req_cur = r->tok_cur = 0;
    r->win_start_ms = start;
}

/* the previous window's count weighted by how much of it still overlaps the
 * last 60 s, plus the current window's */
static int64_t estimate(int64_t prev, int64_t cur, int64_t elapsed)
{
    return prev * (WINDOW_MS - elapsed) / WINDOW_MS + cur;
}

/* ms until estimate(prev, cur) + add <= limit, with the current window's
 * count fixed */
static int64_t wait_for(int64_t prev, int64_t cur, int64_t add, int64_t limit, int64_t elapsed)
{
    if (cur + add > limit || prev == 0) return WINDOW_MS - elapsed; /* only the next window helps */
    /* prev * (W - t) / W <= limit - add - cur  =>  t >= W - (limit - add - cur) * W / prev */
    int64_t t = WINDOW_MS - (limit - add - cur) * WINDOW_MS / prev;
    return t > elapsed ? t - elapsed : 1;
}

int pol_rl_admit(pol_rl *r, int64_t now, int64_t rpm, int64_t tpm, int64_t max_parallel, int64_t est_tokens,
                 int64_t *retry_ms, int64_t *rem_req, int64_t *rem_tok, int64_t *reset_ms)
{
    roll(r, now);
    int64_t elapsed = now - r->win_start_ms;
    int64_t reqs = estimate(r->req_prev, r->req_cur, elapsed);
    int64_t toks = estimate(r->tok_prev, r->tok_cur, elapsed);
    *retry_ms = 0;
    *reset_ms = WINDOW_MS - elapsed;
    if (rpm > 0 && reqs + 1 > rpm) *retry_ms = wait_for(r->req_prev, r->req_cur, 1, rpm, elapsed);
    if (tpm > 0 && toks + est_tokens > tpm) {
        int64_t w = est_tokens > tpm ? WINDOW_MS : wait_for(r->tok_prev, r->tok_cur, est_tokens, tpm, elapsed);
        if (w > *retry_ms) *retry_ms = w;
    }
    if (max_parallel > 0 && r->inflight >= max_parallel && *retry_ms == 0) *retry_ms = 1000;
    *rem_req = rpm > 0 ? rpm - reqs : -1;
    *rem_tok = tpm > 0 ? tpm - toks : -1;
    if (*retry_ms) return -1;
    r->req_cur++;
    r->tok_cur += est_tokens;
    r->inflight++;
    if (*rem_req > 0) (*rem_req)--;
    if (*rem_tok > 0) *rem_tok = *rem_tok > est_tokens ? *rem_tok - est_tokens : 0;
    return 0;
}

void pol_rl_settle(pol_rl *r, int64_t now, int64_t est_tokens, int64_t actual_tokens)
{
    roll(r, now);
    /* the estimate was counted in this window or the previous one; correct
     * the current window either way, never below zero */
    r->tok_cur += actual_tokens - est_tokens;
    if (r->tok_cur < 0) r->tok_cur = 0;
}

void pol_rl_release(pol_rl *r)
{
    if (r->inflight > 0) r->inflight--;
}
