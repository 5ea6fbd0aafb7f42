/* policies/ratelimit.c — requests and tokens per minute (sliding window
 * estimated from two fixed windows), and requests in flight, per subject
 * (key or team).
 *
 * The state lives in one mmap'd region so that forked workers can share it:
 * a process-shared robust mutex, then a fixed-capacity table. A lone process
 * uses a table of its own with the same layout: one code path. */
#include "pol_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define WINDOW_MS 60000
#define RL_NSLOTS (2 * POL_RL_CAP) /* power of two; at most half full, so probes stay short */

typedef struct pol_rl {
    char subject[POL_RL_SUBJECT]; /* "k:<id>" or "t:<team>"; fixed once linked */
    int64_t win_start_ms;         /* start of the current one-minute window */
    int64_t req_cur, req_prev;
    int64_t tok_cur, tok_prev;
    int32_t inflight[POL_MAX_WORKERS]; /* per worker, so a dead worker's share can be dropped */
} pol_rl;

/* Entries are appended in order and never deleted, so an index stays valid
 * for the table's life and only the pages of entries in use are touched
 * (RSS grows with subjects, not with capacity). The hash index maps a
 * subject to its entry. */
struct pol_rl_shm {
    pthread_mutex_t mu;   /* guards everything below */
    int32_t n;            /* entries in use */
    int32_t full_warned;
    int32_t slots[RL_NSLOTS]; /* entry index + 1, 0 empty */
    pol_rl v[POL_RL_CAP];
};

static char *errmsg(const char *what, int code)
{
    od_buf b = {0};
    od_buf_printf(&b, "rate limits: %s: %s", what, strerror(code));
    return od_buf_take(&b);
}

pol_rl_shm *pol_rl_shm_new(char **err)
{
    /* MAP_ANONYMOUS memory is zero: every slot empty, no entry in use, and
     * no page but the mutex's is touched here */
    pol_rl_shm *t = mmap(NULL, sizeof *t, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (t == MAP_FAILED) {
        *err = errmsg("mmap", errno);
        return NULL;
    }
    pthread_mutexattr_t a;
    int rc = pthread_mutexattr_init(&a);
    if (rc) goto fail;
    rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    if (!rc) rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (!rc) rc = pthread_mutex_init(&t->mu, &a);
    pthread_mutexattr_destroy(&a);
    if (rc) goto fail;
    return t;
fail:
    *err = errmsg("shared mutex", rc);
    munmap(t, sizeof *t);
    return NULL;
}

void pol_rl_shm_free(pol_rl_shm *t)
{
    if (t) munmap(t, sizeof *t);
}

void pol_rl_lock(pol_rl_shm *t)
{
    int rc = pthread_mutex_lock(&t->mu);
    /* A process died holding the lock. Every critical section is a few
     * integer stores, each leaving the entry usable, so carry on. */
    if (rc == EOWNERDEAD) rc = pthread_mutex_consistent(&t->mu);
    if (rc) {
        /* cannot happen with a mutex made consistent; going on unlocked would be worse */
        od_error("rate limits: lock: %s", strerror(rc));
        abort();
    }
}

void pol_rl_unlock(pol_rl_shm *t)
{
    pthread_mutex_unlock(&t->mu);
}

/* Under the lock (the engine looks an entry up once per key, not per
 * request, so lookups need no lock-free path). */
int pol_rl_slot(pol_rl_shm *t, const char *subject)
{
    /* cut like the stored copy, so that a long subject still finds itself */
    char s[POL_RL_SUBJECT];
    size_t len = strnlen(subject, sizeof s - 1);
    memcpy(s, subject, len);
    s[len] = '\0';
    unsigned h = pol_hash(s) & (RL_NSLOTS - 1);
    int warn = 0;
    pol_rl_lock(t);
    while (t->slots[h] && strcmp(t->v[t->slots[h] - 1].subject, s)) h = (h + 1) & (RL_NSLOTS - 1);
    int i = t->slots[h] - 1; /* -1: new */
    if (i < 0 && t->n < POL_RL_CAP) {
        i = t->n;
        pol_rl *r = &t->v[i];
        memset(r, 0, sizeof *r); /* a process that died here may have left part of an entry */
        memcpy(r->subject, s, sizeof s);
        /* count before linking: dying in between wastes one entry, the
         * other order could hand the same entry to two subjects */
        t->n++;
        t->slots[h] = i + 1;
    } else if (i < 0 && !t->full_warned) {
        warn = t->full_warned = 1;
    }
    pol_rl_unlock(t);
    /* Full: the caller admits without rate state for this subject (fail
     * open) and counts it. Failing closed would lock out every key created
     * after the 16,384th limited subject until a restart. */
    if (warn)
        od_warn("rate limits: table full (%d subjects); %s and every later new subject are not rate limited",
                POL_RL_CAP, s);
    return i;
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
 * last 60 s, plus the current window's. Rounded up: rounded down, a window
 * used up to its limit counted one less a millisecond after it ended, and
 * let a request more through at every roll-over. */
static int64_t estimate(int64_t prev, int64_t cur, int64_t elapsed)
{
    return (prev * (WINDOW_MS - elapsed) + WINDOW_MS - 1) / WINDOW_MS + cur;
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

/* Summed rather than kept as a total too, which a worker dying between
 * two stores could leave wrong for good. */
static int64_t inflight(const pol_rl *r)
{
    int32_t n = 0; /* int32 like the terms, so the loop vectorises */
    for (int w = 0; w < POL_MAX_WORKERS; w++) n += r->inflight[w];
    return n;
}

static void settle(pol_rl *r, int64_t now, int64_t est_tokens, int64_t actual_tokens)
{
    roll(r, now);
    /* the estimate was counted in this window or the previous one; correct
     * the current window either way, never below zero */
    r->tok_cur += actual_tokens - est_tokens;
    if (r->tok_cur < 0) r->tok_cur = 0;
}

static void release(pol_rl *r, int worker)
{
    if (r->inflight[worker] > 0) r->inflight[worker]--;
}

int pol_rl_admit(pol_rl_shm *t, int slot, int worker, int64_t now, const pol_rl_ask *ask, pol_rl_out *out)
{
    pol_rl *r = &t->v[slot];
    int rc = 0;
    pol_rl_lock(t);
    roll(r, now);
    int64_t elapsed = now - r->win_start_ms;
    int64_t reqs = estimate(r->req_prev, r->req_cur, elapsed);
    int64_t toks = estimate(r->tok_prev, r->tok_cur, elapsed);
    out->retry_ms = 0;
    out->reset_ms = WINDOW_MS - elapsed;
    if (ask->rpm > 0 && reqs + 1 > ask->rpm) out->retry_ms = wait_for(r->req_prev, r->req_cur, 1, ask->rpm, elapsed);
    if (ask->tpm > 0 && toks + ask->tokens > ask->tpm) {
        int64_t w = ask->tokens > ask->tpm ? WINDOW_MS
                                           : wait_for(r->tok_prev, r->tok_cur, ask->tokens, ask->tpm, elapsed);
        if (w > out->retry_ms) out->retry_ms = w;
    }
    if (ask->max_parallel > 0 && out->retry_ms == 0 && inflight(r) >= ask->max_parallel) out->retry_ms = 1000;
    out->rem_req = ask->rpm > 0 ? ask->rpm - reqs : -1;
    out->rem_tok = ask->tpm > 0 ? ask->tpm - toks : -1;
    if (out->retry_ms) {
        rc = -1;
    } else {
        r->req_cur++;
        r->tok_cur += ask->tokens;
        r->inflight[worker]++;
    }
    pol_rl_unlock(t);
    if (rc == 0) {
        if (out->rem_req > 0) out->rem_req--;
        if (out->rem_tok > 0) out->rem_tok = out->rem_tok > ask->tokens ? out->rem_tok - ask->tokens : 0;
    }
    return rc;
}

void pol_rl_settle(pol_rl_shm *t, int slot, int64_t now, int64_t est_tokens, int64_t actual_tokens)
{
    pol_rl_lock(t);
    settle(&t->v[slot], now, est_tokens, actual_tokens);
    pol_rl_unlock(t);
}

void pol_rl_release(pol_rl_shm *t, int slot, int worker)
{
    pol_rl_lock(t);
    release(&t->v[slot], worker);
    pol_rl_unlock(t);
}

void pol_rl_undo(pol_rl_shm *t, int slot, int worker, int64_t now, int64_t est_tokens)
{
    pol_rl *r = &t->v[slot];
    pol_rl_lock(t);
    release(r, worker);
    if (r->req_cur > 0) r->req_cur--;
    settle(r, now, est_tokens, 0);
    pol_rl_unlock(t);
}

void pol_rl_shm_worker_gone(pol_rl_shm *t, int worker)
{
    if (worker < 0 || worker >= POL_MAX_WORKERS) return;
    /* one pass under the lock: rare (a worker died), and a few microseconds
     * even with every entry in use */
    pol_rl_lock(t);
    for (int i = 0; i < t->n; i++) t->v[i].inflight[worker] = 0;
    pol_rl_unlock(t);
}
