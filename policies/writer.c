/* policies/writer.c — the ledger's one writer thread. The loop thread only
 * appends to a queue; this thread commits in batches (at most one every
 * 50 ms, sooner when 512 events wait), so no request waits for the disk. */
#include "pol_int.h"

#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_MAX LDG_BATCH_FULL
#define COMMIT_EVERY_MS 50
#define WRITER_NICE 5
#define QUEUE_MAX 1000000 /* beyond this the disk is gone; count drops rather than eat all memory */

/* p, or p grown (doubling from `first` elements) so that element n fits */
static void *room_for_one(void *p, int n, int *cap, size_t size, int first)
{
    if (n < *cap) return p;
    *cap = *cap ? *cap * 2 : first;
    return od_realloc(p, (size_t)*cap * size);
}

/* copies the n queued elements of q into dst (grown to fit) and empties q */
static void *take_all(void *dst, int *cap, const void *q, int *n, size_t size)
{
    if (*n > *cap) {
        *cap = *n;
        dst = od_realloc(dst, (size_t)*cap * size);
    }
    if (*n) memcpy(dst, q, (size_t)*n * size);
    *n = 0;
    return dst;
}

static struct timespec ts_add_ms(struct timespec t, long ms)
{
    t.tv_nsec += ms * 1000000L;
    while (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static int ts_cmp(struct timespec a, struct timespec b)
{
    if (a.tv_sec != b.tv_sec) return a.tv_sec < b.tv_sec ? -1 : 1;
    return a.tv_nsec < b.tv_nsec ? -1 : a.tv_nsec > b.tv_nsec;
}

/* EEVDF (Linux 6.12+) lets a thread ask for a shorter slice. Without it a
 * commit batch, once on the core, ran its whole default slice (~3 ms)
 * before a woken loop thread got the core back: at one connection 1 request
 * in 100 took 3 ms instead of 0.3. With 100 us the loop waits at most that.
 * The share of the core is unchanged (that is the nice value); older kernels
 * ignore the field or refuse the call, and nothing else changes. */
static void short_slice(void)
{
    struct {
        uint32_t size, policy;
        uint64_t flags;
        int32_t nice;
        uint32_t priority;
        uint64_t runtime, deadline, period;
    } a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.policy = 0;              /* SCHED_OTHER */
    a.nice = WRITER_NICE;
    a.runtime = 100 * 1000;    /* ns */
    (void)syscall(SYS_sched_setattr, 0, &a, 0);
}

static void *writer_main(void *arg)
{
    pol_writer *w = arg;
    pthread_setname_np(pthread_self(), "odock-ledger"); /* for top -H, perf, taskset */
    /* Below the loop thread: when both want the same core, a commit must
     * not hold up requests (a 1-2 ms batch ran ahead of the loop and showed
     * as the 99th percentile), yet keep a quarter of it to catch up. Linux
     * takes a thread id here; failing changes nothing else. */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WRITER_NICE);
    short_slice();
    ldg_event *batch = od_malloc(BATCH_MAX * sizeof *batch);
    ldg_spend *spends = NULL;
    int spend_cap = 0;
    ldg_grow *grows = NULL;
    int grow_cap = 0;
    struct timespec last = {0, 0}; /* when the last batch began (CLOCK_REALTIME, as the cv waits) */
    pthread_mutex_lock(&w->mu);
    for (;;) {
        /* Gather: a batch goes when BATCH_MAX events wait, on flush or stop,
         * or COMMIT_EVERY_MS after the previous one began. Committing as
         * soon as anything waits made a transaction per request or two at
         * moderate load: the fixed cost of BEGIN/COMMIT and of the WAL
         * frames then dominated the writer and ate the loop's core. */
        for (;;) {
            if (w->stop) break;
            if (w->paused) {
                pthread_cond_wait(&w->cv, &w->mu);
                continue;
            }
            if (w->flush || w->gn || w->n >= BATCH_MAX) break;
            struct timespec now, until;
            clock_gettime(CLOCK_REALTIME, &now);
            if (w->n || w->sn) {
                until = ts_add_ms(last, COMMIT_EVERY_MS);
                if (ts_cmp(now, until) >= 0) break;
            } else {
                until = ts_add_ms(now, COMMIT_EVERY_MS);
            }
            pthread_cond_timedwait(&w->cv, &w->mu, &until);
        }
        if (!w->n && !w->sn && !w->gn) {
            w->flush = 0;
            if (w->stop) break;
            continue;
        }
        /* a lease refill goes in a transaction of its own, small and quick:
         * the loop is about to need it; the events wait for their turn */
        int grow_only = w->gn && !w->stop && !w->flush && w->n < BATCH_MAX;
        if (!grow_only) clock_gettime(CLOCK_REALTIME, &last);
        int take = grow_only ? 0 : w->n < BATCH_MAX ? w->n : BATCH_MAX;
        if (take) memcpy(batch, w->q + w->head, (size_t)take * sizeof *batch);
        /* the rest stays where it is: moving it down for every batch made
         * draining a backlog quadratic, under the lock the loop pushes with */
        w->head += take;
        w->n -= take;
        /* a flush lasts until the queue is empty: cleared after the first
         * batch, the rest of a backlog waited out the interval while
         * pol_writer_flush's caller waited for it */
        if (!w->n) w->head = 0, w->flush = 0;
        /* a queue that grew while the writer fell behind goes back once it
         * is drained: at ~700 bytes an event, a burst's worth stayed
         * resident (110 MB after a benchmark run on every core; 57 MB since) */
        if (!w->n && w->cap > 4 * BATCH_MAX) {
            free(w->q);
            w->q = NULL;
            w->cap = 0;
        }
        /* behind: a full batch's worth still waits after this one. A full
         * batch alone is not (at ~10k requests/s one fills in 50 ms, and
         * not yielding for it was the p99 of a single connection: 1.3 ms) */
        int keeping_up = w->n < BATCH_MAX;
        int nspend = w->sn, ngrow = w->gn;
        spends = take_all(spends, &spend_cap, w->sq, &w->sn, sizeof *spends);
        grows = take_all(grows, &grow_cap, w->gq, &w->gn, sizeof *grows);
        w->busy = 1;
        int stopping = w->stop;
        pthread_mutex_unlock(&w->mu);

        /* busy or locked by another process: wait and retry. Spend is money:
         * it is retried for as long as the server runs; only at shutdown
         * with a broken disk do we give up, and say so. */
        char *err = NULL;
        int tries = 0, failed = 0;
        while (ldg_commit_batch(w->db, batch, take, w->owner, spends, nspend, grows, ngrow, od_wall_ms(),
                                keeping_up, &err) != 0) {
            if (++tries % 10 == 1) od_warn("ledger: writing %d events failed (%s); retrying", take, err ? err : "?");
            free(err);
            err = NULL;
            if (stopping && tries >= 20) {
                failed = 1;
                break;
            }
            struct timespec d = {0, 100 * 1000000};
            nanosleep(&d, NULL);
            pthread_mutex_lock(&w->mu);
            stopping = w->stop;
            pthread_mutex_unlock(&w->mu);
        }
        free(err);
        if (failed)
            od_error("ledger: gave up on %d events and %d budget updates at shutdown", take, nspend);
        for (int i = 0; i < take; i++) free(batch[i].findings);

        pthread_mutex_lock(&w->mu);
        if (failed) w->dropped += take;
        else w->written += take;
        /* answered even when the write failed (granted 0): the loop must
         * not wait on a refill forever */
        for (int i = 0; i < ngrow; i++) {
            if (failed) grows[i].granted = 0;
            w->gr = room_for_one(w->gr, w->grn, &w->grcap, sizeof *w->gr, 16);
            w->gr[w->grn++] = grows[i];
        }
        w->busy = 0;
        if (!w->n && !w->sn && !w->gn) pthread_cond_broadcast(&w->idle_cv);
    }
    pthread_cond_broadcast(&w->idle_cv);
    pthread_mutex_unlock(&w->mu);
    free(batch);
    free(spends);
    free(grows);
    return NULL;
}

int pol_writer_start(pol_writer *w, const char *path, const char *owner, char **err)
{
    memset(w, 0, sizeof *w);
    w->owner = owner;
    w->db = ldg_open(path, 1, err);
    if (!w->db) return -1;
    /* 32 MB of page cache: the indexes' hot pages stay in memory. It stays
     * warm now that the loop's connection rarely writes (a write by another
     * connection empties it), which costs ~30 MB of RSS; with 8 MB the
     * writer read index pages back at every batch and took half the loop's
     * core in make bench (10.4k -> 5.3k req/s). */
    ldg_exec(w->db, "PRAGMA cache_size = -32768", NULL);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_cond_init(&w->idle_cv, NULL);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        *err = od_strdup("cannot start the ledger writer thread");
        ldg_close(w->db);
        w->db = NULL;
        return -1;
    }
    return 0;
}

void pol_writer_push(pol_writer *w, const ldg_event *ev)
{
    pthread_mutex_lock(&w->mu);
    if (w->n >= QUEUE_MAX) {
        w->dropped++;
        free(ev->findings);
    } else {
        if (w->head && w->head + w->n == w->cap && w->head >= w->cap / 2) {
            /* full, and half of it taken: slide down instead of growing
             * (each event moves once per halving: amortised constant) */
            memmove(w->q, w->q + w->head, (size_t)w->n * sizeof *w->q);
            w->head = 0;
        }
        w->q = room_for_one(w->q, w->head + w->n, &w->cap, sizeof *w->q, 1024);
        w->q[w->head + w->n++] = *ev;
        w->queued++;
        if (w->n >= BATCH_MAX) pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
}

void pol_writer_push_spend(pol_writer *w, const ldg_spend *op)
{
    pthread_mutex_lock(&w->mu);
    w->sq = room_for_one(w->sq, w->sn, &w->scap, sizeof *w->sq, 16);
    w->sq[w->sn++] = *op;
    pthread_mutex_unlock(&w->mu);
}

void pol_writer_push_grow(pol_writer *w, const ldg_grow *g)
{
    pthread_mutex_lock(&w->mu);
    w->gq = room_for_one(w->gq, w->gn, &w->gcap, sizeof *w->gq, 16);
    w->gq[w->gn++] = *g;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int pol_writer_take_grants(pol_writer *w, ldg_grow **out)
{
    pthread_mutex_lock(&w->mu);
    int n = w->grn;
    *out = NULL;
    if (n) {
        *out = od_malloc((size_t)n * sizeof **out);
        memcpy(*out, w->gr, (size_t)n * sizeof **out);
        w->grn = 0;
    }
    pthread_mutex_unlock(&w->mu);
    return n;
}

void pol_writer_flush(pol_writer *w)
{
    pthread_mutex_lock(&w->mu);
    /* only when something waits: a flag left over from a flush of an empty
     * queue would make the writer's next batch go early and small */
    if (w->n || w->sn || w->gn) {
        w->flush = 1;
        pthread_cond_signal(&w->cv);
    }
    while (w->n || w->sn || w->gn || w->busy) pthread_cond_wait(&w->idle_cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

void pol_writer_stop(pol_writer *w)
{
    if (!w->db) return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->idle_cv);
    free(w->q);
    free(w->sq);
    free(w->gq);
    free(w->gr);
    ldg_close(w->db);
    w->db = NULL;
}
