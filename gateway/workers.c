/* gateway/workers.c — `odock serve` on several cores: a master process
 * makes the listening socket, forks N workers that each run the whole
 * gateway on their own loop (own ledger connection and writer), restarts a
 * worker that dies, and passes SIGTERM/SIGINT on.
 *
 * What the workers share:
 *  - the listening socket: each loop accepts on it (core/listen.c);
 *  - budgets: through the ledger's leases, as any processes on one ledger;
 *  - rate limits: one table in shared memory (pol_rl_shm);
 *  - MCP sessions: they live in worker 0, which also accepts on an internal
 *    loopback socket; the others relay MCP requests there (forward.c);
 *  - /metrics: each worker publishes its exposition to a shared slot every
 *    tick; a scrape on any worker sums them all. */
#include "gw.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SHM_SLOT ((size_t)32 << 20) /* one worker's exposition (2,000 series a family fit); pages touched as used */
#define QUICK_DEATH_US 2000000     /* a worker dying this soon after its start is failing */
#define MAX_QUICK_DEATHS 5
#define RESPAWN_RETRY_S 1          /* a fork that failed is tried again this much later */

typedef struct shm_slot {
    _Atomic uint64_t seq; /* odd while its writer writes */
    uint64_t len;
    char text[];
} shm_slot;

/* n worker slots, then one for the counters of workers that died: their
 * last exposition without gauges, so that sums never go backwards */
struct gw_shm {
    int n;
    unsigned char *base; /* n + 1 slots of SHM_SLOT, MAP_SHARED */
    pol_rl_shm *rl;
};

static shm_slot *slot(gw_shm *m, int i)
{
    return (shm_slot *)(m->base + (size_t)i * SHM_SLOT);
}

static size_t shm_size(int n)
{
    return (size_t)(n + 1) * SHM_SLOT;
}

static gw_shm *shm_new(int n, char **err)
{
    gw_shm *m = od_calloc(1, sizeof *m);
    m->n = n;
    m->base = mmap(NULL, shm_size(n), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m->base == MAP_FAILED) {
        *err = od_strdup_printf("cannot map shared memory: %s", strerror(errno));
        free(m);
        return NULL;
    }
    m->rl = pol_rl_shm_new(err);
    if (!m->rl) {
        munmap(m->base, shm_size(n));
        free(m);
        return NULL;
    }
    return m;
}

static void shm_free(gw_shm *m)
{
    if (!m)
        return;
    pol_rl_shm_free(m->rl);
    munmap(m->base, shm_size(m->n));
    free(m);
}

pol_rl_shm *gw_shm_rl(gw_shm *m)
{
    return m->rl;
}

/* ---------------- metrics across workers ----------------
 * A seqlock per slot: one writer (the slot's worker, or the master for the
 * last slot), readers in every worker. */
static void slot_write(shm_slot *sl, const char *text, size_t len)
{
    size_t room = SHM_SLOT - sizeof(shm_slot) - 1;
    if (len > room) /* cut at a line: a family's tail is lost, never a half sample */
        while (len > room || (len && text[len - 1] != '\n')) len--;
    uint64_t seq = atomic_load_explicit(&sl->seq, memory_order_relaxed);
    seq |= 1; /* odd also when a writer died halfway */
    atomic_store_explicit(&sl->seq, seq, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    memcpy(sl->text, text, len);
    sl->text[len] = 0;
    sl->len = len;
    atomic_store_explicit(&sl->seq, seq + 1, memory_order_release);
}

/* a slot's text; NULL when it stayed torn (its writer died mid-write) */
static char *slot_read(shm_slot *sl)
{
    for (int tries = 0; tries < 200; tries++) {
        uint64_t a = atomic_load_explicit(&sl->seq, memory_order_acquire);
        if (a & 1) {
            /* a writer copies up to 32 MB: let it finish */
            struct timespec ts = {0, tries < 10 ? 0 : 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        size_t len = sl->len < SHM_SLOT - sizeof(shm_slot) ? sl->len : 0;
        char *copy = od_strndup(sl->text, len);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&sl->seq, memory_order_relaxed) == a)
            return copy;
        free(copy);
    }
    return NULL;
}

void gw_shm_publish(gw_server *s)
{
    if (!s->shm)
        return;
    int64_t now = od_mono_us();
    if (now < s->shm_next_us)
        return;
    /* publish only what moved: rendering is not free with many series */
    pol_stats st;
    memset(&st, 0, sizeof st);
    pol_get_stats(s->pol, &st);
    int64_t sig = gw_metrics_gen(s->metrics) * 1000003 + s->inflight * 10007 + st.events_written * 101 +
                  st.events_dropped * 31 + st.budget_denials * 7 + st.rate_denials * 3 + st.rate_untracked;
    if (sig == s->shm_sig && s->shm_next_us)
        return;
    char *text = gw_metrics_render(s->metrics, s);
    slot_write(slot(s->shm, s->worker), text, strlen(text));
    free(text);
    s->shm_sig = sig;
    /* a large exposition is published less often: at most ~2 % of a core */
    int64_t took = od_mono_us() - now;
    s->shm_next_us = now + (took * 50 > 100000 ? took * 50 : 100000);
}

char *gw_shm_metrics(gw_server *s)
{
    gw_shm *m = s->shm;
    int n = m->n + 1;
    char **texts = od_calloc((size_t)n, sizeof *texts);
    for (int i = 0; i < n; i++) {
        texts[i] = i == s->worker ? gw_metrics_render(s->metrics, s) : slot_read(slot(m, i));
        if (!texts[i])
            texts[i] = od_strdup("");
    }
    char *out = gw_metrics_merge((const char *const *)texts, n, 0);
    for (int i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    return out;
}

/* the master, after worker k died: its counters join the retired slot (its
 * gauges go: nothing of it is in flight any more), and its slot empties */
static void retire_metrics(gw_shm *m, int k)
{
    char *dead = slot_read(slot(m, k));
    char *old = slot_read(slot(m, m->n));
    if (dead && *dead) {
        const char *both[2] = {old ? old : "", dead};
        char *sum = gw_metrics_merge(both, 2, 1);
        slot_write(slot(m, m->n), sum, strlen(sum));
        free(sum);
    } else if (!dead) {
        od_warn("odock serve: worker %d died while publishing its metrics; its counts are lost", k);
    }
    slot_write(slot(m, k), "", 0);
    free(dead);
    free(old);
}

/* ---------------- the master ---------------- */

typedef struct worker {
    pid_t pid;
    int64_t started_us;
    int quick_deaths;
    int64_t respawn_at_us; /* a fork failed: try again then (0 = not waiting) */
} worker;

typedef struct master {
    od_config *cfg;
    const char *listen, *db;
    int n;
    int listen_fd, internal_fd, internal_port;
    gw_shm *shm;
    worker w[OD_MAX_WORKERS];
    sigset_t oldmask;
    pid_t self;
} master;

static void child_main(master *m, int k)
{
    char *err = NULL;
    sigprocmask(SIG_SETMASK, &m->oldmask, NULL);
    /* a master that dies takes its workers with it (they drain first) */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != m->self)
        _exit(1);
    char name[24]; /* ps and top tell the workers apart (16 bytes kept) */
    snprintf(name, sizeof name, "odock-w%d", k);
    prctl(PR_SET_NAME, name);
    if (k != 0)
        close(m->internal_fd);
    gw_worker wk = {
        .index = k,
        .count = m->n,
        .listen_fd = m->listen_fd,
        .internal_fd = k == 0 ? m->internal_fd : 0,
        .internal_port = m->internal_port,
        .shm = m->shm,
    };
    gw_server *s = gw_server_new_worker(m->cfg, m->listen, m->db, &wk, &err);
    if (!s) {
        od_error("odock serve: worker %d: %s", k, err ? err : "cannot start");
        free(err);
        _exit(1);
    }
    int rc = gw_server_run(s);
    gw_server_free(s); /* flushes this worker's ledger events */
    exit(rc);
}

static int spawn(master *m, int k)
{
    pid_t pid = fork();
    if (pid < 0) {
        od_error("odock serve: cannot start worker %d: %s", k, strerror(errno));
        return -1;
    }
    if (pid == 0)
        child_main(m, k);
    m->w[k].pid = pid;
    m->w[k].started_us = od_mono_us();
    m->w[k].respawn_at_us = 0;
    return 0;
}

static int find(master *m, pid_t pid)
{
    for (int k = 0; k < m->n; k++)
        if (m->w[k].pid == pid)
            return k;
    return -1;
}

static void stop_all(master *m, int sig)
{
    for (int k = 0; k < m->n; k++)
        if (m->w[k].pid > 0)
            kill(m->w[k].pid, sig);
}

static int live(master *m)
{
    int c = 0;
    for (int k = 0; k < m->n; k++)
        c += m->w[k].pid > 0;
    return c;
}

static int failed(int status)
{
    return WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0);
}

/* a worker ended: replaced unless we are stopping; -1 gives up */
static int reaped(master *m, int k, int status, int stopping)
{
    worker *w = &m->w[k];
    w->pid = 0;
    pol_rl_shm_worker_gone(m->shm->rl, k);
    retire_metrics(m->shm, k);
    if (stopping)
        return 0;
    if (WIFSIGNALED(status))
        od_error("odock serve: worker %d was killed by signal %d; starting a new one", k, WTERMSIG(status));
    else
        od_error("odock serve: worker %d exited with status %d; starting a new one", k, WEXITSTATUS(status));
    if (od_mono_us() - w->started_us < QUICK_DEATH_US) {
        if (++w->quick_deaths >= MAX_QUICK_DEATHS) {
            od_error("odock serve: worker %d failed %d times in a row at start; stopping", k, w->quick_deaths);
            return -1;
        }
        /* back off: 100 ms, 200 ms, 400 ms... */
        struct timespec ts = {0, 100000000L << (w->quick_deaths - 1)};
        nanosleep(&ts, NULL);
    } else {
        w->quick_deaths = 0;
    }
    if (spawn(m, k) < 0) /* out of processes or memory for now: later */
        w->respawn_at_us = od_mono_us() + RESPAWN_RETRY_S * 1000000LL;
    return 0;
}

/* until every worker is gone; 1 when one failed or could not be kept */
static int supervise(master *m, int stopping)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int rc = stopping;
    for (;;) {
        int waiting = 0;
        for (int k = 0; k < m->n; k++)
            if (m->w[k].respawn_at_us) {
                if (stopping) m->w[k].respawn_at_us = 0;
                else if (od_mono_us() >= m->w[k].respawn_at_us && spawn(m, k) < 0)
                    m->w[k].respawn_at_us = od_mono_us() + RESPAWN_RETRY_S * 1000000LL;
                waiting += m->w[k].respawn_at_us != 0;
            }
        if (live(m) == 0 && !waiting)
            break;
        struct timespec ts = {RESPAWN_RETRY_S, 0};
        int sig = waiting ? sigtimedwait(&set, NULL, &ts) : sigwaitinfo(&set, NULL);
        if ((sig == SIGTERM || sig == SIGINT) && !stopping) {
            stopping = 1;
            od_info("odock serve: shutting down %d worker(s)", live(m));
            stop_all(m, SIGTERM);
        }
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            int k = find(m, pid);
            if (k < 0)
                continue;
            if (stopping && failed(status)) {
                od_error("odock serve: worker %d ended badly while stopping (status %d)", k, status);
                rc = 1;
            }
            if (reaped(m, k, status, stopping) < 0) {
                stopping = 1;
                rc = 1;
                stop_all(m, SIGTERM);
            }
        }
    }
    return rc;
}

int gw_workers_run(od_config *cfg, const char *listen, const char *db, int n, char **err)
{
    master m;
    memset(&m, 0, sizeof m);
    m.cfg = cfg;
    m.listen = listen ? listen : cfg->listen ? cfg->listen : "127.0.0.1:8787";
    m.db = db;
    m.n = n;
    m.self = getpid();
    m.listen_fd = m.internal_fd = -1;
    int rc = 1, port = 0;

    /* the ledger is opened (created, migrated) once before the workers race to */
    pol_engine *probe = pol_open(cfg, db, err);
    if (!probe)
        goto done;
    pol_close(probe);
    if ((m.listen_fd = od_listen_tcp(m.listen, &port, err)) < 0)
        goto done;
    if ((m.internal_fd = od_listen_tcp("127.0.0.1:0", &m.internal_port, err)) < 0)
        goto done;
    if (!(m.shm = shm_new(n, err)))
        goto done;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, &m.oldmask);
    int started = 0;
    while (started < n && spawn(&m, started) == 0)
        started++;
    if (started == n) {
        char host[256];
        od_strlcpy(host, m.listen, sizeof host);
        char *colon = strrchr(host, ':');
        if (colon) *colon = 0;
        od_info("odock serve: listening on %s://%s:%d (%d workers)", cfg->tls_cert ? "https" : "http", host, port, n);
        rc = supervise(&m, 0);
    } else { /* could not start them all: stop those that did */
        stop_all(&m, SIGTERM);
        supervise(&m, 1);
        rc = 1;
    }
    sigprocmask(SIG_SETMASK, &m.oldmask, NULL);
done:
    if (m.listen_fd >= 0) close(m.listen_fd);
    if (m.internal_fd >= 0) close(m.internal_fd);
    shm_free(m.shm);
    od_config_free(cfg);
    return rc;
}
