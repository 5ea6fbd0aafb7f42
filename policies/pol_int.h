/* policies/pol_int.h — the engine's private state, shared by its files. */
#ifndef POL_INT_H
#define POL_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include "pol.h"
#include "ledger.h"

/* ---- grants (grants.c) ----
 * 1 allowed, 0 denied, -1 when patterns is NULL/empty (no grant given). */
int pol_grant_match(const char *patterns, const char *target);

/* FNV-1a of a NUL-terminated string (key ids, rate-limit subjects). */
unsigned pol_hash(const char *s);

/* ---- rate limits (ratelimit.c): per subject (key or team), in a table
 * that forked workers may share (pol_rl_shm_new in pol.h) ---- */
#define POL_RL_CAP 16384     /* subjects; entries are never deleted */
#define POL_RL_SUBJECT 72    /* "k:<id>" or "t:<team>", longer ones are cut */
#define POL_RL_UNKNOWN (-2)  /* an entry not looked up yet */

/* The entry of subject, added when new (indexes stay valid for the table's
 * life). -1 when the table is full: the caller admits without rate state. */
int pol_rl_slot(pol_rl_shm *t, const char *subject);

typedef struct pol_rl_ask {
    int64_t rpm, tpm, max_parallel; /* 0 = no limit */
    int64_t tokens;                 /* estimate counted against tpm */
} pol_rl_ask;

typedef struct pol_rl_out {
    int64_t retry_ms;               /* 0 when admitted */
    int64_t rem_req, rem_tok;       /* remaining after this request; -1 no limit */
    int64_t reset_ms;               /* until the current window ends */
} pol_rl_out;

/* Each takes the table's lock for a few integer operations. worker: the
 * caller's column of in-flight counts. */
/* Admits one request: 0 counted, else -1 with out->retry_ms set. */
int pol_rl_admit(pol_rl_shm *t, int slot, int worker, int64_t now_ms, const pol_rl_ask *ask, pol_rl_out *out);
void pol_rl_settle(pol_rl_shm *t, int slot, int64_t now_ms, int64_t est_tokens, int64_t actual_tokens);
void pol_rl_release(pol_rl_shm *t, int slot, int worker);
/* Takes back an admission denied later (by the team limit or a budget). */
void pol_rl_undo(pol_rl_shm *t, int slot, int worker, int64_t now_ms, int64_t est_tokens);
/* The table's lock (robust: a holder's death is recovered). Exposed as a
 * test hook. */
void pol_rl_lock(pol_rl_shm *t);
void pol_rl_unlock(pol_rl_shm *t);

/* ---- budgets (budget.c) ----
 * Each process leases room from a budget row (held_micros += lease, one
 * short transaction) and admits requests against its lease in memory. */
typedef struct pol_budget {
    ldg_budget b;            /* as last read from the ledger */
    int64_t lease;           /* micros this process holds in the ledger */
    int64_t reserved;        /* holds of requests in flight */
    int64_t unflushed;       /* settled spend not yet written */
    int64_t last_use_ms;
    int64_t lease_expires_ms;
    int64_t slice;           /* size of the last lease taken: the refill asked for ahead of need */
    int growing;             /* a refill is with the writer thread */
    int ahead;               /* slice multiplier, doubled when a refill came too late */
    int live;                /* still present in the ledger */
} pol_budget;

/* ---- the event writer (writer.c) ---- */
typedef struct pol_writer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv, idle_cv;
    ldg_event *q;            /* waiting: q[head .. head + n) */
    int head, n, cap;
    ldg_spend *sq;           /* budget write-backs, committed with the events */
    int sn, scap;
    ldg_grow *gq;            /* leases to grow ahead of need (written at once) */
    int gn, gcap;
    ldg_grow *gr;            /* ... and what was granted, for the loop to take */
    int grn, grcap;
    const char *owner;       /* lease owner of this process */
    int busy;                /* a batch is being written */
    int stop;
    int flush;               /* write what waits now */
    int paused;              /* tests: take nothing while set (but stop) */
    sqlite3 *db;
    int64_t written, dropped, queued;
} pol_writer;

int pol_writer_start(pol_writer *w, const char *path, const char *owner, char **err);
void pol_writer_push(pol_writer *w, const ldg_event *ev); /* takes ev->findings */
void pol_writer_push_spend(pol_writer *w, const ldg_spend *op);
void pol_writer_push_grow(pol_writer *w, const ldg_grow *g);  /* wakes the writer */
int pol_writer_take_grants(pol_writer *w, ldg_grow **out);    /* new array (free()), count */
void pol_writer_flush(pol_writer *w);                     /* waits until the queue is written */
void pol_writer_stop(pol_writer *w);

/* ---- keys ---- */
typedef struct pol_key {
    ldg_key k;
    int team;                /* index into teams, -1 none */
    int rl_slot, rl_team_slot; /* rate-limit entries of the key and its team: POL_RL_UNKNOWN
                                * until first needed, -1 when the table was full */
    /* The last secret that matched the current hash: the next request with
     * it skips SHA-256 (a tenth of an MCP call). Only the current hash, never
     * the rotated-out one, whose grace period must still end; the record and
     * this with it are rebuilt on every key change. The process holds the
     * presented key anyway (headers, `odock mcp`'s environment). */
    uint8_t verified[LDG_KEY_SECRET_LEN];
    int has_verified;
} pol_key;

struct pol_engine {
    const od_config *cfg;
    gr_engine *guard;
    char *db_path;
    sqlite3 *db;             /* the loop thread's connection: loads, leases */
    char owner[40];          /* this process's lease owner id */
    int64_t generation;
    int data_version;
    int64_t last_tick_ms;
    int64_t unknown_check_us; /* the last look at the ledger for an unknown key */
    /* keys: open addressing on the public id */
    pol_key *keys;
    int nkeys;
    int *key_slots;          /* -1 empty, else index into keys */
    int nslots;
    ldg_team *teams;
    int nteams;
    /* budgets: append-only so requests can keep indices across reloads */
    pol_budget *budgets;
    int nbudgets, capbudgets;
    pol_rl_shm *rl;          /* rate-limit state: shared with the other workers, or private */
    int rl_worker;           /* this engine's column of in-flight counts */
    int rl_private;          /* e->rl is ours to free */
    pol_writer writer;
    pol_stats stats;
};

int pol_keys_reload(pol_engine *e);
pol_key *pol_key_by_id(pol_engine *e, const char *id);

int pol_budgets_reload(pol_engine *e, int64_t now);
/* Holds amount against budget i, leasing more room when needed. 0 ok. */
/* Applies the leases the writer thread grew ahead of need. */
void pol_budgets_take_grants(pol_engine *e);
int pol_budget_hold(pol_engine *e, int i, int64_t amount, int64_t now);
void pol_budget_settle(pol_engine *e, int i, int64_t held, int64_t actual, int64_t now);
/* Writes settled spend, renews and returns leases (one transaction). */
int pol_budgets_sync(pol_engine *e, int64_t now, int return_all);
int pol_budget_find(const pol_engine *e, ldg_scope scope, const char *subject);

#endif
