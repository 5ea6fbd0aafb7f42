/* policies/ledger.h — the SQLite ledger: schema and migrations, keys, teams,
 * budgets, leases and events. Used by the CLI (admin) and the engine. */
#ifndef POL_LEDGER_H
#define POL_LEDGER_H

#include <stdint.h>
#include <sqlite3.h>

#define LDG_SCHEMA_VERSION 2
#define LDG_KEY_ID_LEN 8
#define LDG_KEY_SECRET_LEN 32

/* Opens (creating when create != 0) the ledger: WAL, foreign keys, busy
 * timeout, migrations. NULL with *err (caller frees) on a missing, unreadable,
 * corrupt or too-new file. */
sqlite3 *ldg_open(const char *path, int create, char **err);
void ldg_close(sqlite3 *db);

/* Runs sql (no results); 0 ok, -1 with *err. */
int ldg_exec(sqlite3 *db, const char *sql, char **err);
/* BEGIN IMMEDIATE with retries; COMMIT; ROLLBACK. */
int ldg_begin(sqlite3 *db);
int ldg_commit(sqlite3 *db);
void ldg_rollback(sqlite3 *db);
/* Admin changes bump this so running servers reload within a second. Call
 * inside the change's transaction. */
int ldg_bump_generation(sqlite3 *db);
int64_t ldg_generation(sqlite3 *db);

typedef struct ldg_key {
    char id[LDG_KEY_ID_LEN + 1];
    char *name;
    uint8_t hash[32];
    int has_prev;
    uint8_t prev_hash[32];
    int64_t prev_until_ms;
    char *team, *user;
    int64_t created_ms, expires_ms, revoked_ms; /* 0 = none */
    char *models, *tools;                       /* grant patterns; NULL = none */
    int64_t rpm, tpm, max_parallel;             /* 0 = unlimited */
    char *metadata;
} ldg_key;

typedef struct ldg_team {
    char *name;
    char *models, *tools;
    int64_t rpm, tpm, max_parallel;
} ldg_team;

typedef enum { LDG_SCOPE_KEY = 0, LDG_SCOPE_TEAM, LDG_SCOPE_GLOBAL } ldg_scope;
typedef enum { LDG_PERIOD_DAILY = 0, LDG_PERIOD_WEEKLY, LDG_PERIOD_MONTHLY, LDG_PERIOD_TOTAL } ldg_period;

typedef struct ldg_budget {
    int64_t id;
    ldg_scope scope;
    char subject[64];  /* key id, team name, "" for global */
    int64_t limit_micros, spent_micros, held_micros;
    ldg_period period;
    int64_t period_start_ms;
} ldg_budget;

const char *ldg_scope_name(ldg_scope s);
const char *ldg_period_name(ldg_period p);
int ldg_period_parse(const char *s, ldg_period *out);
/* Start of the calendar period (UTC) containing now; weeks start Monday. */
int64_t ldg_period_start(ldg_period p, int64_t now_ms);
/* Start of the next period after start (0 for total). */
int64_t ldg_period_next(ldg_period p, int64_t start_ms);

/* Keys and teams */
int ldg_keys_load(sqlite3 *db, ldg_key **out, int *n);
int ldg_key_find(sqlite3 *db, const char *id_or_name, ldg_key *out); /* 0 found, 1 none, -1 err */
void ldg_key_free(ldg_key *k);
void ldg_keys_free(ldg_key *k, int n);
int ldg_teams_load(sqlite3 *db, ldg_team **out, int *n);
void ldg_teams_free(ldg_team *t, int n);
int ldg_team_ensure(sqlite3 *db, const char *team, int64_t now_ms);

/* Budgets; rolls periods forward (spent back to 0) for rows whose period has
 * ended, within the caller's transaction when there is one. */
int ldg_budgets_load(sqlite3 *db, int64_t now_ms, ldg_budget **out, int *n);
int ldg_budgets_roll(sqlite3 *db, int64_t now_ms);

/* Drops leases whose owner stopped renewing them (a crashed process), giving
 * their room back. Call inside a transaction. */
int ldg_leases_reap(sqlite3 *db, int64_t now_ms);

/* Events */
typedef struct ldg_event {
    int64_t ts_ms;
    char request_id[32];
    char key_id[16];
    char team[64], user[64];
    const char *kind;       /* "llm" | "tool" */
    char target[256], provider[64], model[128];
    const char *status;     /* "ok" | "denied" | "error" */
    int http_status;
    char reason[48];
    int64_t prompt_tokens, completion_tokens, cached_tokens, cost_micros;
    int64_t latency_us, ttft_us;
    int attempts;
    int64_t bytes_in, bytes_out;
    char *findings;         /* owned JSON or NULL */
} ldg_event;

/* Settled spend and lease changes of one process for one budget. Relative,
 * so that changes queued for the writer thread and changes made at once by
 * the loop thread commute. */
typedef struct ldg_spend {
    int64_t budget_id;
    int64_t spent;        /* added to spent_micros */
    int64_t lease_delta;  /* added to the lease and to held_micros (< 0 returns room) */
    int64_t expires_ms;   /* the lease's new expiry (renewal) */
} ldg_spend;

/* A lease grown ahead of need, by the writer thread: up to `want` more, at
 * most an eighth of the budget's room as read inside the transaction (so
 * slices never add up past the limit). `granted` is the answer. */
typedef struct ldg_grow {
    int64_t budget_id;
    int64_t want;
    int64_t expires_ms;
    int64_t granted;      /* out */
} ldg_grow;

/* Applies spend ops inside the caller's transaction. 0 ok. */
int ldg_spend_apply(sqlite3 *db, const char *owner, const ldg_spend *ops, int n);
/* Reaps expired leases, then grows leases (fills g[i].granted), inside the
 * caller's transaction. 0 ok. */
int ldg_lease_grow(sqlite3 *db, const char *owner, ldg_grow *g, int n, int64_t now_ms);
/* Inserts events, applies spend ops and grows leases in one transaction. 0 ok.
 * yield: step aside for other threads between statements (a writer that
 * keeps up; one that is behind must not). */
#define LDG_BATCH_FULL 512
int ldg_commit_batch(sqlite3 *db, const ldg_event *ev, int n, const char *owner, const ldg_spend *ops,
                     int nops, ldg_grow *grows, int ngrows, int64_t now_ms, int yield, char **err);

#endif
