/* policies/ledger.c — opening, migrating and reading the SQLite ledger. */
#include "ledger.h"
#include "../core/od.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

static int migrate_v2(sqlite3 *db, char **err);

/* Each version is SQL or a function, run in one transaction with the rest. */
static const struct {
    const char *sql;
    int (*run)(sqlite3 *db, char **err);
} MIGRATIONS[] = {
    /* version 1 */
    {"CREATE TABLE teams("
    "  name TEXT PRIMARY KEY,"
    "  models TEXT, tools TEXT,"
    "  rpm INTEGER NOT NULL DEFAULT 0, tpm INTEGER NOT NULL DEFAULT 0,"
    "  max_parallel INTEGER NOT NULL DEFAULT 0,"
    "  created_ms INTEGER NOT NULL);"
    "CREATE TABLE keys("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  secret_hash BLOB NOT NULL,"
    "  prev_hash BLOB, prev_until_ms INTEGER,"
    "  team TEXT REFERENCES teams(name),"
    "  user TEXT,"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER, revoked_ms INTEGER,"
    "  models TEXT, tools TEXT,"
    "  rpm INTEGER NOT NULL DEFAULT 0, tpm INTEGER NOT NULL DEFAULT 0,"
    "  max_parallel INTEGER NOT NULL DEFAULT 0,"
    "  metadata TEXT);"
    "CREATE TABLE budgets("
    "  id INTEGER PRIMARY KEY,"
    "  scope TEXT NOT NULL CHECK(scope IN ('key','team','global')),"
    "  subject TEXT NOT NULL,"
    "  limit_micros INTEGER NOT NULL CHECK(limit_micros >= 0),"
    "  period TEXT NOT NULL CHECK(period IN ('daily','weekly','monthly','total')),"
    "  spent_micros INTEGER NOT NULL DEFAULT 0,"
    "  held_micros INTEGER NOT NULL DEFAULT 0 CHECK(held_micros >= 0),"
    "  period_start_ms INTEGER NOT NULL,"
    "  UNIQUE(scope, subject));"
    "CREATE TABLE leases("
    "  owner TEXT NOT NULL,"
    "  budget_id INTEGER NOT NULL REFERENCES budgets(id) ON DELETE CASCADE,"
    "  micros INTEGER NOT NULL CHECK(micros >= 0),"
    "  expires_ms INTEGER NOT NULL,"
    "  PRIMARY KEY(owner, budget_id));"
    "CREATE TABLE events("
    "  id INTEGER PRIMARY KEY,"
    "  ts_ms INTEGER NOT NULL,"
    "  request_id TEXT NOT NULL,"
    "  key_id TEXT, team TEXT, user TEXT,"
    "  kind TEXT NOT NULL CHECK(kind IN ('llm','tool')),"
    "  target TEXT, provider TEXT, model TEXT,"
    "  status TEXT NOT NULL CHECK(status IN ('ok','denied','error')),"
    "  http_status INTEGER, reason TEXT,"
    "  prompt_tokens INTEGER NOT NULL DEFAULT 0,"
    "  completion_tokens INTEGER NOT NULL DEFAULT 0,"
    "  cached_tokens INTEGER NOT NULL DEFAULT 0,"
    "  cost_micros INTEGER NOT NULL DEFAULT 0,"
    "  latency_us INTEGER, ttft_us INTEGER,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  bytes_in INTEGER NOT NULL DEFAULT 0, bytes_out INTEGER NOT NULL DEFAULT 0,"
    "  findings TEXT);"
    "CREATE INDEX events_ts ON events(ts_ms);"
    "CREATE INDEX events_request ON events(request_id);"
    "CREATE INDEX events_key ON events(key_id, ts_ms);", NULL},
    /* version 2 */
    {NULL, migrate_v2},
};

/* SQLite compiles a CHECK's IN list of three or more values into an
 * ephemeral table, built and torn down for every inserted row: about 35k
 * instructions, half the writer's cost per event. The same constraint spelt
 * with OR compiles to three comparisons. Every stored row satisfies both, so
 * the table's text is rewritten in place: the procedure SQLite's ALTER TABLE
 * page gives for constraint changes that do not touch the stored content
 * (writable_schema, then a new schema_version so every connection reparses).
 * A rebuild would copy every event. */
static int migrate_v2(sqlite3 *db, char **err)
{
    static const char from[] = "CHECK(status IN ('ok','denied','error'))";
    static const char to[] = "CHECK(status = 'ok' OR status = 'denied' OR status = 'error')";
    sqlite3_stmt *st = NULL;
    int64_t cookie = -1;
    int rc = -1, on = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA schema_version", -1, &st, NULL) != SQLITE_OK) goto done;
    if (sqlite3_step(st) == SQLITE_ROW) cookie = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (cookie < 0) goto done;
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 0, NULL);
    if (sqlite3_db_config(db, SQLITE_DBCONFIG_WRITABLE_SCHEMA, 1, &on) != SQLITE_OK || !on) goto done;
    if (sqlite3_prepare_v2(db, "UPDATE sqlite_schema SET sql = replace(sql, ?1, ?2) "
                               "WHERE type = 'table' AND name = 'events'", -1, &st, NULL) != SQLITE_OK)
        goto done;
    sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) goto done;
    char bump[64];
    snprintf(bump, sizeof bump, "PRAGMA schema_version = %lld", (long long)cookie + 1);
    rc = ldg_exec(db, bump, err);
done:
    if (rc != 0 && !*err) *err = od_strdup(sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_db_config(db, SQLITE_DBCONFIG_WRITABLE_SCHEMA, 0, NULL);
    return rc;
}

int ldg_exec(sqlite3 *db, const char *sql, char **err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        if (err) *err = od_strdup(msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int ldg_begin(sqlite3 *db)
{
    /* busy_timeout covers most waits; BEGIN IMMEDIATE can still report BUSY
     * at once when a reader upgrades, so retry a little */
    for (int i = 0; i < 50; i++) {
        int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK) return 0;
        if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) return -1;
        usleep(2000);
    }
    return -1;
}

int ldg_commit(sqlite3 *db)
{
    return sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

void ldg_rollback(sqlite3 *db)
{
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

static int64_t meta_get(sqlite3 *db, const char *k)
{
    sqlite3_stmt *st;
    int64_t v = 0;
    if (sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k = ?", -1, &st, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int meta_set(sqlite3 *db, const char *k, int64_t v)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT INTO meta(k, v) VALUES(?, ?) "
                               "ON CONFLICT(k) DO UPDATE SET v = excluded.v", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, v);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return rc;
}

int ldg_bump_generation(sqlite3 *db)
{
    return ldg_exec(db, "UPDATE meta SET v = v + 1 WHERE k = 'generation'", NULL);
}

int64_t ldg_generation(sqlite3 *db)
{
    return meta_get(db, "generation");
}

static int migrate(sqlite3 *db, char **err)
{
    if (ldg_exec(db, "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL)", err) != 0)
        return -1;
    int64_t have = meta_get(db, "schema_version");
    if (have > LDG_SCHEMA_VERSION) {
        od_buf b = {0};
        od_buf_printf(&b, "ledger schema version %lld is newer than this odock (%d): upgrade odock",
                      (long long)have, LDG_SCHEMA_VERSION);
        *err = od_buf_take(&b);
        return -1;
    }
    if (have == LDG_SCHEMA_VERSION) return 0;
    if (ldg_begin(db) != 0) {
        *err = od_strdup("ledger is locked by another process");
        return -1;
    }
    have = meta_get(db, "schema_version"); /* another process may have won */
    for (int64_t v = have; v < LDG_SCHEMA_VERSION; v++)
        if ((MIGRATIONS[v].sql ? ldg_exec(db, MIGRATIONS[v].sql, err) : MIGRATIONS[v].run(db, err)) != 0)
            goto fail;
    if (meta_set(db, "schema_version", LDG_SCHEMA_VERSION) != 0) goto fail;
    if (ldg_exec(db, "INSERT OR IGNORE INTO meta(k, v) VALUES('generation', 1)", err) != 0) goto fail;
    if (ldg_commit(db) != 0) goto fail;
    return 0;
fail:
    if (!*err) *err = od_strdup(sqlite3_errmsg(db));
    ldg_rollback(db);
    return -1;
}

/* Waits for another connection's write lock, up to 5 s. SQLite's own
 * handler sleeps 1, 2, 5, 10, 15... ms: the loop thread waiting a few
 * hundred microseconds for the writer thread's commit lost milliseconds.
 * Here: 0.1 ms steps for the first 10 ms, then 1 ms steps. */
static int busy_wait(void *arg, int count)
{
    (void)arg;
    int64_t waited_us = count < 100 ? count * 100LL : 10000LL + (count - 100) * 1000LL;
    if (waited_us >= 5000000) return 0;
    struct timespec d = {0, count < 100 ? 100000L : 1000000L};
    nanosleep(&d, NULL);
    return 1;
}

/* Memory statistics take a global mutex on every SQLite allocation; odock
 * never reads them. Only possible before SQLite initialises: a later call
 * fails harmlessly. */
static void no_memstatus(void) { (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }

sqlite3 *ldg_open(const char *path, int create, char **err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, no_memstatus);
    sqlite3 *db = NULL;
    *err = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        od_buf b = {0};
        od_buf_printf(&b, "cannot open ledger %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        *err = od_buf_take(&b);
        goto fail;
    }
    sqlite3_busy_handler(db, busy_wait, NULL);
    char *e = NULL;
    /* journal_mode reads the header: a corrupt or non-SQLite file fails here */
    if (ldg_exec(db, "PRAGMA journal_mode = WAL", &e) != 0 ||
        ldg_exec(db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON", &e) != 0 ||
        migrate(db, &e) != 0) {
        od_buf b = {0};
        od_buf_printf(&b, "ledger %s: %s", path, e ? e : "unreadable");
        free(e);
        *err = od_buf_take(&b);
        goto fail;
    }
    return db;
fail:
    sqlite3_close(db);
    return NULL;
}

void ldg_close(sqlite3 *db)
{
    sqlite3_stmt *st;
    while ((st = sqlite3_next_stmt(db, NULL))) sqlite3_finalize(st); /* the cached ones */
    sqlite3_close(db);
}

/* A statement prepared once per connection and kept: the writer re-prepared
 * its batch statements on every commit, ~80,000 instructions each time.
 * Found again by its SQL text (a connection holds a handful); ldg_close
 * finalizes them. The caller resets it after use. */
static sqlite3_stmt *ldg_cached(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    for (st = sqlite3_next_stmt(db, NULL); st; st = sqlite3_next_stmt(db, st)) {
        const char *t = sqlite3_sql(st);
        if (t && !strcmp(t, sql)) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            return st;
        }
    }
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/* ---- names ---- */

const char *ldg_scope_name(ldg_scope s)
{
    static const char *const n[] = {"key", "team", "global"};
    return n[s];
}

const char *ldg_period_name(ldg_period p)
{
    static const char *const n[] = {"daily", "weekly", "monthly", "total"};
    return n[p];
}

int ldg_period_parse(const char *s, ldg_period *out)
{
    for (int i = 0; i <= LDG_PERIOD_TOTAL; i++)
        if (od_str_eq(s, ldg_period_name((ldg_period)i))) {
            *out = (ldg_period)i;
            return 0;
        }
    return -1;
}

static int scope_parse(const char *s, ldg_scope *out)
{
    for (int i = 0; i <= LDG_SCOPE_GLOBAL; i++)
        if (od_str_eq(s, ldg_scope_name((ldg_scope)i))) {
            *out = (ldg_scope)i;
            return 0;
        }
    return -1;
}

int64_t ldg_period_start(ldg_period p, int64_t now_ms)
{
    const int64_t day = 86400000;
    int64_t days = now_ms / day;
    switch (p) {
    case LDG_PERIOD_DAILY: return days * day;
    case LDG_PERIOD_WEEKLY: return (days - (days + 3) % 7) * day; /* 1970-01-01 was a Thursday */
    case LDG_PERIOD_MONTHLY: {
        time_t t = (time_t)(now_ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        return (days - (tm.tm_mday - 1)) * day;
    }
    case LDG_PERIOD_TOTAL: return 0;
    }
    return 0;
}

int64_t ldg_period_next(ldg_period p, int64_t start_ms)
{
    const int64_t day = 86400000;
    switch (p) {
    case LDG_PERIOD_DAILY: return start_ms + day;
    case LDG_PERIOD_WEEKLY: return start_ms + 7 * day;
    case LDG_PERIOD_MONTHLY: {
        time_t t = (time_t)(start_ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int y = tm.tm_year + 1900;
        int len = mdays[tm.tm_mon] + (tm.tm_mon == 1 && ((y % 4 == 0 && y % 100) || y % 400 == 0));
        return ldg_period_start(p, start_ms) + (int64_t)len * day;
    }
    case LDG_PERIOD_TOTAL: return 0;
    }
    return 0;
}

/* ---- keys ---- */

static char *col_strdup(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? od_strdup((const char *)s) : NULL;
}

#define KEY_COLS "id, name, secret_hash, prev_hash, prev_until_ms, team, user, created_ms, " \
                 "expires_ms, revoked_ms, models, tools, rpm, tpm, max_parallel, metadata"

static void key_from_row(sqlite3_stmt *st, ldg_key *k)
{
    memset(k, 0, sizeof *k);
    od_strlcpy(k->id, (const char *)sqlite3_column_text(st, 0), sizeof k->id);
    k->name = col_strdup(st, 1);
    if (sqlite3_column_bytes(st, 2) == 32) memcpy(k->hash, sqlite3_column_blob(st, 2), 32);
    if (sqlite3_column_bytes(st, 3) == 32) {
        k->has_prev = 1;
        memcpy(k->prev_hash, sqlite3_column_blob(st, 3), 32);
        k->prev_until_ms = sqlite3_column_int64(st, 4);
    }
    k->team = col_strdup(st, 5);
    k->user = col_strdup(st, 6);
    k->created_ms = sqlite3_column_int64(st, 7);
    k->expires_ms = sqlite3_column_int64(st, 8);
    k->revoked_ms = sqlite3_column_int64(st, 9);
    k->models = col_strdup(st, 10);
    k->tools = col_strdup(st, 11);
    k->rpm = sqlite3_column_int64(st, 12);
    k->tpm = sqlite3_column_int64(st, 13);
    k->max_parallel = sqlite3_column_int64(st, 14);
    k->metadata = col_strdup(st, 15);
}

void ldg_key_free(ldg_key *k)
{
    free(k->name);
    free(k->team);
    free(k->user);
    free(k->models);
    free(k->tools);
    free(k->metadata);
    memset(k, 0, sizeof *k);
}

void ldg_keys_free(ldg_key *k, int n)
{
    for (int i = 0; i < n; i++) ldg_key_free(&k[i]);
    free(k);
}

int ldg_keys_load(sqlite3 *db, ldg_key **out, int *n)
{
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db, "SELECT " KEY_COLS " FROM keys ORDER BY created_ms, id", -1, &st, NULL) != SQLITE_OK)
        return -1;
    int cap = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *out = od_realloc(*out, (size_t)cap * sizeof **out);
        }
        key_from_row(st, &(*out)[(*n)++]);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int ldg_key_find(sqlite3 *db, const char *id_or_name, ldg_key *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT " KEY_COLS " FROM keys WHERE id = ?1 OR name = ?1 "
                               "ORDER BY id = ?1 DESC LIMIT 1", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, id_or_name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int res = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
    if (res == 0) key_from_row(st, out);
    sqlite3_finalize(st);
    return res;
}

int ldg_teams_load(sqlite3 *db, ldg_team **out, int *n)
{
    sqlite3_stmt *st;
    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db, "SELECT name, models, tools, rpm, tpm, max_parallel FROM teams ORDER BY name",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    int cap = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *out = od_realloc(*out, (size_t)cap * sizeof **out);
        }
        ldg_team *t = &(*out)[(*n)++];
        t->name = col_strdup(st, 0);
        t->models = col_strdup(st, 1);
        t->tools = col_strdup(st, 2);
        t->rpm = sqlite3_column_int64(st, 3);
        t->tpm = sqlite3_column_int64(st, 4);
        t->max_parallel = sqlite3_column_int64(st, 5);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

void ldg_teams_free(ldg_team *t, int n)
{
    for (int i = 0; i < n; i++) {
        free(t[i].name);
        free(t[i].models);
        free(t[i].tools);
    }
    free(t);
}

int ldg_team_ensure(sqlite3 *db, const char *team, int64_t now_ms)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO teams(name, created_ms) VALUES(?, ?)", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, team, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_ms);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return rc;
}

/* ---- budgets ---- */

int ldg_budgets_roll(sqlite3 *db, int64_t now_ms)
{
    sqlite3_stmt *sel, *upd;
    if (sqlite3_prepare_v2(db, "SELECT id, period, period_start_ms FROM budgets WHERE period != 'total'",
                           -1, &sel, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_prepare_v2(db, "UPDATE budgets SET spent_micros = 0, period_start_ms = ? WHERE id = ?",
                           -1, &upd, NULL) != SQLITE_OK) {
        sqlite3_finalize(sel);
        return -1;
    }
    int rc = 0;
    while (sqlite3_step(sel) == SQLITE_ROW) {
        ldg_period p;
        if (ldg_period_parse((const char *)sqlite3_column_text(sel, 1), &p) != 0) continue;
        int64_t start = ldg_period_start(p, now_ms);
        if (sqlite3_column_int64(sel, 2) >= start) continue;
        sqlite3_bind_int64(upd, 1, start);
        sqlite3_bind_int64(upd, 2, sqlite3_column_int64(sel, 0));
        if (sqlite3_step(upd) != SQLITE_DONE) rc = -1;
        sqlite3_reset(upd);
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    return rc;
}

int ldg_budgets_load(sqlite3 *db, int64_t now_ms, ldg_budget **out, int *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT id, scope, subject, limit_micros, spent_micros, held_micros, period, "
                               "period_start_ms FROM budgets ORDER BY scope, subject", -1, &st, NULL) != SQLITE_OK)
        return -1;
    int cap = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *out = od_realloc(*out, (size_t)cap * sizeof **out);
        }
        ldg_budget *b = &(*out)[*n];
        memset(b, 0, sizeof *b);
        b->id = sqlite3_column_int64(st, 0);
        if (scope_parse((const char *)sqlite3_column_text(st, 1), &b->scope) != 0) continue;
        od_strlcpy(b->subject, (const char *)sqlite3_column_text(st, 2), sizeof b->subject);
        b->limit_micros = sqlite3_column_int64(st, 3);
        b->spent_micros = sqlite3_column_int64(st, 4);
        b->held_micros = sqlite3_column_int64(st, 5);
        if (ldg_period_parse((const char *)sqlite3_column_text(st, 6), &b->period) != 0) continue;
        b->period_start_ms = sqlite3_column_int64(st, 7);
        /* a period that ended but was not rolled yet reads as empty */
        if (b->period != LDG_PERIOD_TOTAL && b->period_start_ms < ldg_period_start(b->period, now_ms)) {
            b->spent_micros = 0;
            b->period_start_ms = ldg_period_start(b->period, now_ms);
        }
        (*n)++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int ldg_leases_reap(sqlite3 *db, int64_t now_ms)
{
    sqlite3_stmt *held = ldg_cached(db,
        "UPDATE budgets SET held_micros = MAX(0, held_micros - "
        "  (SELECT COALESCE(SUM(micros), 0) FROM leases WHERE budget_id = budgets.id AND expires_ms < ?1)) "
        "WHERE id IN (SELECT budget_id FROM leases WHERE expires_ms < ?1)");
    sqlite3_stmt *del = ldg_cached(db, "DELETE FROM leases WHERE expires_ms < ?1");
    if (!held || !del) return -1;
    sqlite3_bind_int64(held, 1, now_ms);
    int rc = sqlite3_step(held) == SQLITE_DONE ? 0 : -1;
    sqlite3_reset(held);
    if (rc) return rc;
    sqlite3_bind_int64(del, 1, now_ms);
    rc = sqlite3_step(del) == SQLITE_DONE ? 0 : -1;
    sqlite3_reset(del);
    return rc;
}

/* ---- events ---- */

/* SQLITE_STATIC: the batch outlives the step, and SQLite's copy of each of
 * an event's ten strings was a sixth of the writer's instructions */
static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s && *s) sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, i);
}

int ldg_spend_apply(sqlite3 *db, const char *owner, const ldg_spend *ops, int n)
{
    /* MAX(0, ...): a lease reaped while its owner stalled must not go negative */
    sqlite3_stmt *b = ldg_cached(db, "UPDATE budgets SET spent_micros = spent_micros + ?1, "
                                     "held_micros = MAX(0, held_micros + ?2) WHERE id = ?3");
    sqlite3_stmt *l = ldg_cached(db, "INSERT INTO leases(owner, budget_id, micros, expires_ms) "
                                     "VALUES(?1, ?2, MAX(0, ?3), ?4) "
                                     "ON CONFLICT(owner, budget_id) DO UPDATE SET micros = MAX(0, micros + ?3), "
                                     "expires_ms = MAX(expires_ms, ?4)");
    sqlite3_stmt *d = ldg_cached(db, "DELETE FROM leases WHERE owner = ?1 AND budget_id = ?2 AND micros = 0");
    int rc = -1;
    if (!b || !l || !d) goto out;
    for (int i = 0; i < n; i++) {
        const ldg_spend *o = &ops[i];
        sqlite3_bind_int64(b, 1, o->spent);
        sqlite3_bind_int64(b, 2, o->lease_delta);
        sqlite3_bind_int64(b, 3, o->budget_id);
        if (sqlite3_step(b) != SQLITE_DONE) goto out;
        sqlite3_reset(b);
        sqlite3_bind_text(l, 1, owner, -1, SQLITE_STATIC);
        sqlite3_bind_int64(l, 2, o->budget_id);
        sqlite3_bind_int64(l, 3, o->lease_delta);
        sqlite3_bind_int64(l, 4, o->expires_ms);
        if (sqlite3_step(l) != SQLITE_DONE) goto out;
        sqlite3_reset(l);
        sqlite3_bind_text(d, 1, owner, -1, SQLITE_STATIC);
        sqlite3_bind_int64(d, 2, o->budget_id);
        if (sqlite3_step(d) != SQLITE_DONE) goto out;
        sqlite3_reset(d);
    }
    rc = 0;
out:
    if (b) sqlite3_reset(b);
    if (l) sqlite3_reset(l);
    if (d) sqlite3_reset(d);
    return rc;
}

int ldg_lease_grow(sqlite3 *db, const char *owner, ldg_grow *g, int n, int64_t now_ms)
{
    if (n && ldg_leases_reap(db, now_ms) != 0) return -1;
    sqlite3_stmt *room = ldg_cached(db, "SELECT limit_micros - spent_micros - held_micros FROM budgets WHERE id = ?1");
    if (!room) return -1;
    for (int i = 0; i < n; i++) {
        g[i].granted = 0;
        sqlite3_bind_int64(room, 1, g[i].budget_id);
        int rc = sqlite3_step(room);
        int64_t r = rc == SQLITE_ROW ? sqlite3_column_int64(room, 0) : 0;
        sqlite3_reset(room);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) return -1;
        int64_t grant = r / 8 < g[i].want ? r / 8 : g[i].want;
        if (grant <= 0) continue;
        ldg_spend op = {.budget_id = g[i].budget_id, .lease_delta = grant, .expires_ms = g[i].expires_ms};
        if (ldg_spend_apply(db, owner, &op, 1) != 0) return -1;
        g[i].granted = grant;
    }
    return 0;
}

#define EVENT_COLS 22
#define ROWS_PER_INSERT 16

/* Binds e as row `row` of a multi-row INSERT (parameters row*22+1 ...). */
static void bind_event(sqlite3_stmt *st, int row, const ldg_event *e)
{
    int o = row * EVENT_COLS;
    sqlite3_bind_int64(st, o + 1, e->ts_ms);
    sqlite3_bind_text(st, o + 2, e->request_id, -1, SQLITE_STATIC);
    bind_text_or_null(st, o + 3, e->key_id);
    bind_text_or_null(st, o + 4, e->team);
    bind_text_or_null(st, o + 5, e->user);
    sqlite3_bind_text(st, o + 6, e->kind, -1, SQLITE_STATIC);
    bind_text_or_null(st, o + 7, e->target);
    bind_text_or_null(st, o + 8, e->provider);
    bind_text_or_null(st, o + 9, e->model);
    sqlite3_bind_text(st, o + 10, e->status, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, o + 11, e->http_status);
    bind_text_or_null(st, o + 12, e->reason);
    sqlite3_bind_int64(st, o + 13, e->prompt_tokens);
    sqlite3_bind_int64(st, o + 14, e->completion_tokens);
    sqlite3_bind_int64(st, o + 15, e->cached_tokens);
    sqlite3_bind_int64(st, o + 16, e->cost_micros);
    sqlite3_bind_int64(st, o + 17, e->latency_us);
    if (e->ttft_us > 0) sqlite3_bind_int64(st, o + 18, e->ttft_us);
    else sqlite3_bind_null(st, o + 18);
    sqlite3_bind_int(st, o + 19, e->attempts);
    sqlite3_bind_int64(st, o + 20, e->bytes_in);
    sqlite3_bind_int64(st, o + 21, e->bytes_out);
    bind_text_or_null(st, o + 22, e->findings);
}

/* The INSERT for 1 or ROWS_PER_INSERT rows: one statement per 16 events
 * runs the statement's start and end (its journal, its halt) once for all
 * of them, and SQLite keeps its index cursors where the last row went. */
#define INSERT_HEAD "INSERT INTO events(ts_ms, request_id, key_id, team, user, kind, target, provider, model, " \
                    "status, http_status, reason, prompt_tokens, completion_tokens, cached_tokens, cost_micros, " \
                    "latency_us, ttft_us, attempts, bytes_in, bytes_out, findings) VALUES"
static char insert_one[sizeof INSERT_HEAD + EVENT_COLS * 2 + 3];
static char insert_many[sizeof INSERT_HEAD + ROWS_PER_INSERT * (EVENT_COLS * 2 + 3)];

static void insert_build(char *p, int rows)
{
    p += sprintf(p, "%s", INSERT_HEAD);
    for (int r = 0; r < rows; r++) {
        *p++ = r ? ',' : ' ';
        *p++ = '(';
        for (int c = 0; c < EVENT_COLS; c++) {
            if (c) *p++ = ',';
            *p++ = '?';
        }
        *p++ = ')';
    }
    *p = 0;
}

static void inserts_build(void)
{
    insert_build(insert_one, 1);
    insert_build(insert_many, ROWS_PER_INSERT);
}

/* Resets both INSERTs and clears their bindings: they point into the
 * caller's batch. */
static void insert_done(sqlite3_stmt *one, sqlite3_stmt *many)
{
    sqlite3_stmt *sts[2] = {one, many};
    for (int i = 0; i < 2; i++)
        if (sts[i]) {
            sqlite3_reset(sts[i]);
            sqlite3_clear_bindings(sts[i]);
        }
}

static sqlite3_stmt *insert_stmt(sqlite3 *db, int rows)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, inserts_build);
    return ldg_cached(db, rows == 1 ? insert_one : insert_many);
}

int ldg_commit_batch(sqlite3 *db, const ldg_event *ev, int n, const char *owner, const ldg_spend *ops,
                     int nops, ldg_grow *grows, int ngrows, int64_t now_ms, int yield, char **err)
{
    sqlite3_stmt *one = NULL, *many = NULL;
    if (ldg_begin(db) != 0) goto fail;
    if (nops && ldg_spend_apply(db, owner, ops, nops) != 0) goto fail;
    if (ngrows && ldg_lease_grow(db, owner, grows, ngrows, now_ms) != 0) goto fail;
    if (n && (!(one = insert_stmt(db, 1)) || !(many = insert_stmt(db, ROWS_PER_INSERT)))) goto fail;
    for (int i = 0; i < n;) {
        /* a batch is ~5 us per event of CPU; on a core shared with the
         * event loop, a thread woken after its 50 ms sleep is not preempted
         * for all of it (measured: the loop waited 2.5 ms, the p99 of a
         * single connection). A writer that keeps up steps aside between
         * statements (16 rows) to let it run; one that is behind must not
         * (yielding always let the queue grow to 150 MB under saturation) */
        if (yield && i) sched_yield();
        int rows = n - i >= ROWS_PER_INSERT ? ROWS_PER_INSERT : 1;
        sqlite3_stmt *st = rows == 1 ? one : many;
        for (int r = 0; r < rows; r++) bind_event(st, r, &ev[i + r]);
        if (sqlite3_step(st) != SQLITE_DONE) goto fail;
        sqlite3_reset(st);
        i += rows;
    }
    insert_done(one, many);
    if (ldg_commit(db) != 0) goto fail;
    return 0;
fail:
    if (err) *err = od_strdup(sqlite3_errmsg(db));
    insert_done(one, many);
    ldg_rollback(db);
    return -1;
}
