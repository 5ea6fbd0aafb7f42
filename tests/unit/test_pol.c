/* tests/unit/test_pol.c — the policy engine on a real SQLite ledger:
 * authentication, grants, live reloads, budgets (including the invariant
 * across two processes), rate limits (also shared by forked workers),
 * events. */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "core/config.h"
#include "policies/pol.h"
#include "policies/pol_int.h"
#include "policies/ledger.h"

/* ---- fixtures ---- */

static int64_t fake_now;
static int64_t clock_fn(void) { return fake_now; }

typedef struct fx {
    char dir[64], db[96];
    od_config *cfg;
    pol_engine *e;
    pol_rl_shm *rl; /* a rate-limit table shared with forked workers, NULL none */
    sqlite3 *admin; /* plays the CLI: another connection to the same file */
} fx;

static const char *SECRET_A = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
static const char *SECRET_B = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

static void add_key(sqlite3 *db, const char *id, const char *name, const char *secret, const char *team,
                    const char *models, const char *tools, int64_t rpm, int64_t tpm, int64_t par)
{
    uint8_t h[32];
    od_sha256(secret, strlen(secret), h);
    if (team) assert_int_equal(ldg_team_ensure(db, team, fake_now), 0);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO keys(id, name, secret_hash, team, created_ms, models, tools, "
                                            "rpm, tpm, max_parallel) VALUES(?,?,?,?,?,?,?,?,?,?)", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, h, 32, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, team, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, fake_now);
    sqlite3_bind_text(st, 6, models, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, tools, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, rpm);
    sqlite3_bind_int64(st, 9, tpm);
    sqlite3_bind_int64(st, 10, par);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    assert_int_equal(ldg_bump_generation(db), 0);
}

static void admin_sql(fx *f, const char *sql)
{
    char *err = NULL;
    if (ldg_exec(f->admin, sql, &err) != 0) fail_msg("%s: %s", sql, err);
    assert_int_equal(ldg_bump_generation(f->admin), 0);
}

static void set_budget(sqlite3 *db, const char *scope, const char *subject, int64_t limit, const char *period)
{
    ldg_period p;
    assert_int_equal(ldg_period_parse(period, &p), 0);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO budgets(scope, subject, limit_micros, period, period_start_ms) "
                                            "VALUES(?,?,?,?,?)", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, limit);
    sqlite3_bind_text(st, 4, period, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, ldg_period_start(p, fake_now));
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    assert_int_equal(ldg_bump_generation(db), 0);
}

static int64_t db_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int setup_cfg(void **state, const char *json)
{
    fx *f = calloc(1, sizeof *f);
    fake_now = 1795000000000LL; /* 2026-11-18, a Wednesday */
    od_clock_set_wall(clock_fn);
    snprintf(f->dir, sizeof f->dir, "/tmp/odock-pol.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof f->db, "%s/ledger.db", f->dir);
    char *err = NULL;
    f->cfg = od_config_parse(json, NULL, &err);
    if (!f->cfg) fail_msg("config: %s", err);
    f->admin = ldg_open(f->db, 1, &err);
    assert_non_null(f->admin);
    add_key(f->admin, "KeyAAAAA", "alice", SECRET_A, "web", "gpt-4o*,mock/*,!*-preview", "github/*,!github/delete_*", 0, 0, 0);
    add_key(f->admin, "KeyBBBBB", "bob", SECRET_B, NULL, NULL, NULL, 0, 0, 0);
    f->e = pol_open(f->cfg, f->db, &err);
    if (!f->e) fail_msg("pol_open: %s", err);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_cfg(state, "{}");
}

static int teardown(void **state)
{
    fx *f = *state;
    /* a test that failed inside its own transaction must not leave the
     * writer retrying behind the lock: pol_close would wait for it forever */
    if (f->admin && !sqlite3_get_autocommit(f->admin)) ldg_rollback(f->admin);
    pol_close(f->e);
    pol_rl_shm_free(f->rl); /* after the engine: it never frees a shared table */
    ldg_close(f->admin);
    od_config_free(f->cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0) return -1;
    od_clock_set_wall(NULL);
    free(f);
    return 0;
}

static void key_of(char *out, const char *id, const char *secret)
{
    sprintf(out, "odk_%s_%s", id, secret);
}

/* ---- authentication ---- */

static void test_auth(void **state)
{
    fx *f = *state;
    char key[64];
    od_req r;
    key_of(key, "KeyAAAAA", SECRET_A);
    od_req_init(&r, OD_KIND_LLM, "gpt-4o");
    assert_int_equal(pol_authenticate(f->e, &r, key), 0);
    assert_string_equal(r.key_id, "KeyAAAAA");
    assert_string_equal(r.team, "web");
    assert_string_equal(r.key_name, "alice");
    /* again: from the verified-secret cache this time */
    od_req_init(&r, OD_KIND_LLM, "gpt-4o");
    assert_int_equal(pol_authenticate(f->e, &r, key), 0);
    assert_string_equal(r.key_id, "KeyAAAAA");

    /* ...which must not take a near miss (bad[5] differs in its last byte) */
    const char *bad[] = {NULL, "", "sk-xxxx", "odk_KeyAAAAA_short", "odk_KeyZZZZZ_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                         "odk_KeyAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB", "odk_KeyAAAAA-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        od_req_init(&r, OD_KIND_LLM, "gpt-4o");
        assert_int_equal(pol_authenticate(f->e, &r, bad[i]), -1);
        assert_int_equal(r.status, 401);
        assert_string_equal(r.reason, OD_R_INVALID_KEY);
        assert_int_equal(r.authenticated, 0);
        /* a wrong secret never reveals whose key it was */
        assert_string_equal(r.key_id, "");
    }
}

static void test_auth_revoked_expired_rotated_live(void **state)
{
    fx *f = *state;
    char key[64];
    od_req r;
    key_of(key, "KeyBBBBB", SECRET_B);

    /* revoked by "the CLI" in another connection: picked up at the next tick */
    admin_sql(f, "UPDATE keys SET revoked_ms = 1 WHERE id = 'KeyBBBBB'");
    pol_tick(f->e);
    od_req_init(&r, OD_KIND_LLM, "x");
    assert_int_equal(pol_authenticate(f->e, &r, key), -1);
    assert_string_equal(r.reason, OD_R_KEY_REVOKED);

    /* expired */
    admin_sql(f, "UPDATE keys SET revoked_ms = NULL, expires_ms = 1795000000500 WHERE id = 'KeyBBBBB'");
    pol_tick(f->e);
    od_req_init(&r, OD_KIND_LLM, "x");
    assert_int_equal(pol_authenticate(f->e, &r, key), 0);
    fake_now += 1000;
    od_req_init(&r, OD_KIND_LLM, "x");
    assert_int_equal(pol_authenticate(f->e, &r, key), -1);
    assert_string_equal(r.reason, OD_R_KEY_EXPIRED);

    /* rotated with a one-hour grace: both secrets work, then only the new one */
    uint8_t h[32];
    od_sha256(SECRET_A, 32, h);
    char sql[512], hex[65];
    od_hex(h, 32, hex);
    snprintf(sql, sizeof sql, "UPDATE keys SET expires_ms = NULL, prev_hash = secret_hash, prev_until_ms = %lld, "
                              "secret_hash = x'%s' WHERE id = 'KeyBBBBB'", (long long)(fake_now + 3600000), hex);
    admin_sql(f, sql);
    pol_tick(f->e);
    char newkey[64];
    key_of(newkey, "KeyBBBBB", SECRET_A);
    od_req_init(&r, OD_KIND_LLM, "x");
    assert_int_equal(pol_authenticate(f->e, &r, newkey), 0);
    od_req_init(&r, OD_KIND_LLM, "x");
    assert_int_equal(pol_authenticate(f->e, &r, key), 0);
    fake_now += 3600000;
    od_req_init(&r, OD_KIND_LLM, "x");
    assert_int_equal(pol_authenticate(f->e, &r, key), -1);
    assert_string_equal(r.reason, OD_R_INVALID_KEY);
    od_req_init(&r, OD_KIND_LLM, "x");
    assert_int_equal(pol_authenticate(f->e, &r, newkey), 0);

    /* a key created while running works at once, before any tick (an
     * unknown id makes the engine look at the ledger); a made-up one is
     * still refused */
    usleep(1500); /* past the once-a-millisecond limit of those looks */
    add_key(f->admin, "KeyCCCCC", "carol", SECRET_B, NULL, NULL, NULL, 0, 0, 0);
    key_of(key, "KeyCCCCC", SECRET_B);
    od_req_init(&r, OD_KIND_LLM, "x");
    assert_int_equal(pol_authenticate(f->e, &r, key), 0);
    key_of(key, "KeyDDDDD", SECRET_B);
    od_req_init(&r, OD_KIND_LLM, "x");
    assert_int_equal(pol_authenticate(f->e, &r, key), -1);
    assert_string_equal(r.reason, OD_R_INVALID_KEY);
}

/* ---- grants ---- */

static void test_grant_patterns(void **state)
{
    (void)state;
    assert_int_equal(pol_grant_match(NULL, "x"), -1);
    assert_int_equal(pol_grant_match("", "x"), -1);
    assert_int_equal(pol_grant_match("gpt-4o*,claude-*,!*-preview", "gpt-4o-mini"), 1);
    assert_int_equal(pol_grant_match("gpt-4o*,claude-*,!*-preview", "gpt-4o-preview"), 0);
    assert_int_equal(pol_grant_match("gpt-4o*,claude-*,!*-preview", "claude-sonnet-4"), 1);
    assert_int_equal(pol_grant_match("gpt-4o*,claude-*,!*-preview", "o3"), 0);
    assert_int_equal(pol_grant_match("!*-preview", "o3"), 1);           /* only exclusions: start allowed */
    assert_int_equal(pol_grant_match("!*-preview", "o3-preview"), 0);
    assert_int_equal(pol_grant_match("github/*,!github/delete_*,github/delete_branch", "github/delete_branch"), 1);
    assert_int_equal(pol_grant_match("github/*,!github/delete_*", "github/delete_repo"), 0);
    assert_int_equal(pol_grant_match("*", "anything/at/all"), 1);
    assert_int_equal(pol_grant_match("mock/?cho", "mock/echo"), 1);
}

static void test_authorize(void **state)
{
    fx *f = *state;
    char key[64];
    od_req r;
    key_of(key, "KeyAAAAA", SECRET_A);
    struct { od_kind kind; const char *target; int ok; const char *reason; } cases[] = {
        {OD_KIND_LLM, "gpt-4o", 1, NULL},
        {OD_KIND_LLM, "gpt-4o-preview", 0, OD_R_MODEL_NOT_ALLOWED},
        {OD_KIND_LLM, "claude-sonnet-4", 0, OD_R_MODEL_NOT_ALLOWED},
        {OD_KIND_LLM, "mock/echo", 1, NULL},
        {OD_KIND_TOOL, "github/create_issue", 1, NULL},
        {OD_KIND_TOOL, "github/delete_repo", 0, OD_R_TOOL_NOT_ALLOWED},
        {OD_KIND_TOOL, "jira/create", 0, OD_R_TOOL_NOT_ALLOWED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        od_req_init(&r, cases[i].kind, cases[i].target);
        assert_int_equal(pol_authenticate(f->e, &r, key), 0);
        int rc = pol_authorize(f->e, &r);
        if (cases[i].ok) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, -1);
            assert_int_equal(r.status, 403);
            assert_string_equal(r.reason, cases[i].reason);
        }
    }
    /* a team grant intersects with the key's */
    admin_sql(f, "UPDATE teams SET models = 'mock/*' WHERE name = 'web'");
    pol_tick(f->e);
    od_req_init(&r, OD_KIND_LLM, "gpt-4o");
    assert_int_equal(pol_authenticate(f->e, &r, key), 0);
    assert_int_equal(pol_authorize(f->e, &r), -1);
    od_req_init(&r, OD_KIND_LLM, "mock/echo");
    assert_int_equal(pol_authenticate(f->e, &r, key), 0);
    assert_int_equal(pol_authorize(f->e, &r), 0);
    /* no grant at all: the default (allow) */
    key_of(key, "KeyBBBBB", SECRET_B);
    od_req_init(&r, OD_KIND_TOOL, "anything/goes");
    assert_int_equal(pol_authenticate(f->e, &r, key), 0);
    assert_int_equal(pol_authorize(f->e, &r), 0);
}

static int setup_deny(void **state)
{
    return setup_cfg(state, "{\"default_grant\": \"deny\"}");
}

static void test_default_deny(void **state)
{
    fx *f = *state;
    char key[64];
    od_req r;
    key_of(key, "KeyBBBBB", SECRET_B);
    od_req_init(&r, OD_KIND_LLM, "gpt-4o");
    assert_int_equal(pol_authenticate(f->e, &r, key), 0);
    assert_int_equal(pol_authorize(f->e, &r), -1);
    assert_string_equal(r.reason, OD_R_MODEL_NOT_ALLOWED);
}

/* ---- budgets ---- */

static od_req *admit(fx *f, const char *secret, const char *id, int64_t est, int *rc)
{
    static od_req r;
    char key[64];
    key_of(key, id, secret);
    od_req_init(&r, OD_KIND_LLM, "gpt-4o");
    assert_int_equal(pol_authenticate(f->e, &r, key), 0);
    *rc = pol_reserve(f->e, &r, est, 10);
    return &r;
}

static void test_budget_hold_settle_exceed(void **state)
{
    fx *f = *state;
    set_budget(f->admin, "key", "KeyBBBBB", 1000, "daily");
    pol_tick(f->e);
    int rc;
    /* two holds of 400 fit, the third does not while they are in flight */
    od_req r1 = *admit(f, SECRET_B, "KeyBBBBB", 400, &rc);
    assert_int_equal(rc, 0);
    od_req r2 = *admit(f, SECRET_B, "KeyBBBBB", 400, &rc);
    assert_int_equal(rc, 0);
    od_req *r3 = admit(f, SECRET_B, "KeyBBBBB", 400, &rc);
    assert_int_equal(rc, -1);
    assert_int_equal(r3->status, 402);
    assert_string_equal(r3->reason, OD_R_BUDGET_EXCEEDED);
    pol_record(f->e, r3);
    /* settle below the hold: the difference comes back */
    pol_settle(f->e, &r1, 100, 10);
    pol_record(f->e, &r1);
    /* a failed call releases its whole hold */
    r2.error = 1;
    pol_settle(f->e, &r2, 0, 0);
    pol_record(f->e, &r2);
    od_req r4 = *admit(f, SECRET_B, "KeyBBBBB", 900, &rc);
    assert_int_equal(rc, 0);
    /* the provider reported more than was held: the excess is charged... */
    pol_settle(f->e, &r4, 1200, 10);
    pol_record(f->e, &r4);
    pol_flush(f->e);
    assert_int_equal(db_int(f->admin, "SELECT spent_micros FROM budgets WHERE subject = 'KeyBBBBB'"), 1300);
    /* ...and the next request is denied, even a cheap one */
    od_req *r5 = admit(f, SECRET_B, "KeyBBBBB", 1, &rc);
    assert_int_equal(rc, -1);
    assert_string_equal(r5->reason, OD_R_BUDGET_EXCEEDED);
    pol_record(f->e, r5);
    pol_flush(f->e);
    assert_int_equal(db_int(f->admin, "SELECT count(*) FROM events"), 5);
    assert_int_equal(db_int(f->admin, "SELECT count(*) FROM events WHERE status = 'denied' AND reason = 'budget_exceeded' "
                                      "AND http_status = 402"), 2);
    assert_int_equal(db_int(f->admin, "SELECT sum(cost_micros) FROM events"), 1300);
    /* nothing stays held once idle */
    fake_now += 5000;
    pol_tick(f->e);
    assert_int_equal(db_int(f->admin, "SELECT held_micros FROM budgets WHERE subject = 'KeyBBBBB'"), 0);
    assert_int_equal(db_int(f->admin, "SELECT count(*) FROM leases"), 0);
}

static void test_budget_scopes_and_period(void **state)
{
    fx *f = *state;
    set_budget(f->admin, "team", "web", 500, "daily");
    set_budget(f->admin, "global", "", 10000, "total");
    pol_tick(f->e);
    int rc;
    od_req r = *admit(f, SECRET_A, "KeyAAAAA", 300, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(r.nholds, 2); /* team and global */
    pol_settle(f->e, &r, 300, 0);
    pol_record(f->e, &r);
    od_req *r2 = admit(f, SECRET_A, "KeyAAAAA", 300, &rc);
    assert_int_equal(rc, -1);
    assert_true(strstr(r2->message, "team web") != NULL);
    pol_record(f->e, r2);
    /* bob has no team: only the global budget applies */
    od_req r3 = *admit(f, SECRET_B, "KeyBBBBB", 300, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(r3.nholds, 1);
    pol_settle(f->e, &r3, 300, 0);
    pol_record(f->e, &r3);
    pol_flush(f->e);
    assert_int_equal(db_int(f->admin, "SELECT spent_micros FROM budgets WHERE scope = 'global'"), 600);
    /* the next UTC day starts a fresh daily period; the total one keeps counting */
    fake_now = (fake_now / 86400000 + 1) * 86400000 + 1000;
    pol_tick(f->e);
    od_req r4 = *admit(f, SECRET_A, "KeyAAAAA", 300, &rc);
    assert_int_equal(rc, 0);
    pol_settle(f->e, &r4, 250, 0);
    pol_record(f->e, &r4);
    pol_flush(f->e);
    assert_int_equal(db_int(f->admin, "SELECT spent_micros FROM budgets WHERE scope = 'team'"), 250);
    assert_int_equal(db_int(f->admin, "SELECT spent_micros FROM budgets WHERE scope = 'global'"), 850);
}

static void test_budget_limit_change_live(void **state)
{
    fx *f = *state;
    set_budget(f->admin, "key", "KeyBBBBB", 100, "monthly");
    pol_tick(f->e);
    int rc;
    od_req *r = admit(f, SECRET_B, "KeyBBBBB", 200, &rc);
    assert_int_equal(rc, -1);
    pol_record(f->e, r);
    admin_sql(f, "UPDATE budgets SET limit_micros = 1000 WHERE subject = 'KeyBBBBB'");
    pol_tick(f->e);
    od_req r2 = *admit(f, SECRET_B, "KeyBBBBB", 200, &rc);
    assert_int_equal(rc, 0);
    pol_record(f->e, &r2);
}

/* Two processes, one ledger, many concurrent reservations: settled spend
 * never passes the limit, and every settled micro-dollar is in the ledger. */
static void test_budget_invariant_two_processes(void **state)
{
    fx *f = *state;
    const int64_t limit = 50000;
    set_budget(f->admin, "key", "KeyBBBBB", limit, "total");
    od_clock_set_wall(NULL); /* real time: leases expire and are renewed for real */
    /* fork only from a single-threaded parent: the engine's writer thread
     * could hold an allocator lock at the moment of fork */
    pol_close(f->e);
    f->e = NULL;
    int pipes[2][2];
    pid_t pids[2];
    for (int p = 0; p < 2; p++) {
        assert_int_equal(pipe(pipes[p]), 0);
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            char *err = NULL;
            pol_engine *e = pol_open(f->cfg, f->db, &err);
            if (!e) _exit(2);
            char key[64];
            key_of(key, "KeyBBBBB", SECRET_B);
            od_req inflight[8];
            int n = 0;
            int64_t settled = 0;
            unsigned seed = (unsigned)getpid();
            for (int i = 0; i < 3000; i++) {
                od_req *r = &inflight[n];
                od_req_init(r, OD_KIND_LLM, "m");
                if (pol_authenticate(e, r, key) != 0) _exit(3);
                int64_t est = 1 + rand_r(&seed) % 40;
                if (pol_reserve(e, r, est, 0) == 0) {
                    n++;
                } else {
                    pol_record(e, r);
                }
                /* keep up to 8 in flight; settle a random one at or under its hold */
                if (n == 8 || (n && rand_r(&seed) % 3 == 0)) {
                    int k = (int)(rand_r(&seed) % (unsigned)n);
                    int64_t cost = inflight[k].held_micros - rand_r(&seed) % 3;
                    if (cost < 0) cost = 0;
                    pol_settle(e, &inflight[k], cost, 0);
                    pol_record(e, &inflight[k]);
                    settled += cost;
                    inflight[k] = inflight[--n];
                }
                if (i % 50 == 0) pol_tick(e);
            }
            while (n) {
                pol_settle(e, &inflight[n - 1], inflight[n - 1].held_micros, 0);
                settled += inflight[n - 1].held_micros;
                pol_record(e, &inflight[--n]);
            }
            pol_close(e);
            if (write(pipes[p][1], &settled, sizeof settled) != sizeof settled) _exit(4);
            _exit(0);
        }
        close(pipes[p][1]);
    }
    int64_t total = 0;
    for (int p = 0; p < 2; p++) {
        int st;
        assert_int_equal(waitpid(pids[p], &st, 0), pids[p]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
        int64_t s;
        assert_int_equal(read(pipes[p][0], &s, sizeof s), (ssize_t)sizeof s);
        close(pipes[p][0]);
        total += s;
    }
    int64_t spent = db_int(f->admin, "SELECT spent_micros FROM budgets WHERE subject = 'KeyBBBBB'");
    print_message("# two processes settled %lld micros against a limit of %lld\n", (long long)total, (long long)limit);
    assert_int_equal(spent, total);
    assert_true(spent <= limit);
    assert_true(spent > limit * 9 / 10); /* and the budget was actually used, not refused early */
    assert_int_equal(db_int(f->admin, "SELECT held_micros FROM budgets WHERE subject = 'KeyBBBBB'"), 0);
    assert_int_equal(db_int(f->admin, "SELECT count(*) FROM events"), 6000);
    assert_int_equal(db_int(f->admin, "SELECT sum(cost_micros) FROM events"), total);
}

/* Leases are refilled ahead of need by the writer thread: a long run of
 * holds takes a handful of synchronous lease transactions, not one per
 * slice, and every micro-dollar still lands where it should. */
static void test_lease_refilled_ahead(void **state)
{
    fx *f = *state;
    set_budget(f->admin, "key", "KeyBBBBB", 1000000000, "total");
    od_clock_set_wall(NULL); /* real time: the writer answers while we go on */
    pol_tick(f->e);
    char key[64];
    key_of(key, "KeyBBBBB", SECRET_B);
    const int N = 50000;
    int64_t settled = 0;
    for (int i = 0; i < N; i++) {
        od_req r;
        od_req_init(&r, OD_KIND_LLM, "m");
        assert_int_equal(pol_authenticate(f->e, &r, key), 0);
        assert_int_equal(pol_reserve(f->e, &r, 100, 0), 0);
        pol_settle(f->e, &r, 60, 0);
        settled += 60;
        pol_record(f->e, &r);
        if (i % 500 == 0) pol_tick(f->e);
    }
    pol_stats st;
    pol_get_stats(f->e, &st);
    /* one slice covers 1,024 holds: without refills ahead this run would
     * take about 30 synchronous lease transactions */
    print_message("# %d holds, %lld synchronous lease transactions\n", N, (long long)st.lease_transactions);
    assert_true(st.lease_transactions >= 1);
    assert_true(st.lease_transactions <= 12);
    pol_close(f->e);
    f->e = NULL;
    assert_int_equal(db_int(f->admin, "SELECT spent_micros FROM budgets WHERE subject = 'KeyBBBBB'"), settled);
    assert_int_equal(db_int(f->admin, "SELECT held_micros FROM budgets WHERE subject = 'KeyBBBBB'"), 0);
    assert_int_equal(db_int(f->admin, "SELECT count(*) FROM leases"), 0);
    assert_int_equal(db_int(f->admin, "SELECT count(*) FROM events"), N);
}

static void test_crashed_lease_is_reaped(void **state)
{
    fx *f = *state;
    set_budget(f->admin, "key", "KeyBBBBB", 1000, "total");
    /* a process that died holding 900 of room */
    admin_sql(f, "UPDATE budgets SET held_micros = 900 WHERE subject = 'KeyBBBBB'");
    char sql[256];
    snprintf(sql, sizeof sql, "INSERT INTO leases(owner, budget_id, micros, expires_ms) "
                              "SELECT 'dead', id, 900, %lld FROM budgets WHERE subject = 'KeyBBBBB'",
             (long long)(fake_now + 30000));
    admin_sql(f, sql);
    pol_tick(f->e);
    int rc;
    od_req *r = admit(f, SECRET_B, "KeyBBBBB", 500, &rc);
    assert_int_equal(rc, -1); /* still within the dead lease's life */
    pol_record(f->e, r);
    fake_now += 31000;
    od_req r2 = *admit(f, SECRET_B, "KeyBBBBB", 500, &rc);
    assert_int_equal(rc, 0); /* reaped: the room is back */
    pol_record(f->e, &r2);
    pol_flush(f->e);
    assert_int_equal(db_int(f->admin, "SELECT count(*) FROM leases WHERE owner = 'dead'"), 0);
}

/* ---- rate limits ---- */

static void test_rate_limits(void **state)
{
    fx *f = *state;
    admin_sql(f, "UPDATE keys SET rpm = 3, max_parallel = 2 WHERE id = 'KeyBBBBB'");
    pol_tick(f->e);
    int rc;
    od_req a = *admit(f, SECRET_B, "KeyBBBBB", 0, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(a.rl_limit_requests, 3);
    assert_int_equal(a.rl_remaining_requests, 2);
    od_req b = *admit(f, SECRET_B, "KeyBBBBB", 0, &rc);
    assert_int_equal(rc, 0);
    od_req *c = admit(f, SECRET_B, "KeyBBBBB", 0, &rc); /* third in flight: max_parallel */
    assert_int_equal(rc, -1);
    assert_int_equal(c->status, 429);
    assert_string_equal(c->reason, OD_R_RATE_LIMITED);
    assert_true(c->retry_after_s >= 1);
    pol_record(f->e, c);
    pol_record(f->e, &a);
    pol_record(f->e, &b);
    od_req d = *admit(f, SECRET_B, "KeyBBBBB", 0, &rc); /* third in the minute */
    assert_int_equal(rc, 0);
    pol_record(f->e, &d);
    od_req *e4 = admit(f, SECRET_B, "KeyBBBBB", 0, &rc); /* fourth: rpm */
    assert_int_equal(rc, -1);
    assert_true(e4->retry_after_s >= 1 && e4->retry_after_s <= 60);
    pol_record(f->e, e4);
    /* two minutes later the window is clear */
    fake_now += 120000;
    od_req g = *admit(f, SECRET_B, "KeyBBBBB", 0, &rc);
    assert_int_equal(rc, 0);
    pol_record(f->e, &g);
}

static void test_tpm(void **state)
{
    fx *f = *state;
    admin_sql(f, "UPDATE keys SET tpm = 100 WHERE id = 'KeyBBBBB'");
    pol_tick(f->e);
    char key[64];
    key_of(key, "KeyBBBBB", SECRET_B);
    od_req r;
    od_req_init(&r, OD_KIND_LLM, "m");
    assert_int_equal(pol_authenticate(f->e, &r, key), 0);
    assert_int_equal(pol_reserve(f->e, &r, 0, 80), 0);
    pol_settle(f->e, &r, 0, 20); /* used far fewer than estimated */
    pol_record(f->e, &r);
    od_req_init(&r, OD_KIND_LLM, "m");
    assert_int_equal(pol_authenticate(f->e, &r, key), 0);
    assert_int_equal(pol_reserve(f->e, &r, 0, 70), 0); /* 20 + 70 <= 100 */
    od_req r2; /* while the 70 are in flight, 70 more do not fit */
    od_req_init(&r2, OD_KIND_LLM, "m");
    assert_int_equal(pol_authenticate(f->e, &r2, key), 0);
    assert_int_equal(pol_reserve(f->e, &r2, 0, 70), -1);
    assert_string_equal(r2.reason, OD_R_RATE_LIMITED);
    pol_record(f->e, &r2);
    pol_record(f->e, &r);
}

/* ---- rate limits shared by forked workers ---- */

/* A worker process: its own engine on the fixture's ledger, counting rate
 * limits in a shared table. It talks to the parent in ints over two pipes;
 * it must not use cmocka's asserts (a failing one would go on running the
 * parent's tests), so it reports failure as an exit status. */
typedef struct worker {
    pid_t pid;
    int to, from; /* the parent's ends */
} worker;

static void say(int fd, int v)
{
    if (write(fd, &v, sizeof v) != (ssize_t)sizeof v) _exit(97);
}

static int hear(int fd)
{
    int v;
    return read(fd, &v, sizeof v) == (ssize_t)sizeof v ? v : -1;
}

/* Forks only from a single-threaded parent (see the budget test): the
 * caller has closed the fixture's engine. */
static void worker_start(worker *w, fx *f, pol_rl_shm *t, int index, int (*fn)(pol_engine *e, int in, int out))
{
    int down[2], up[2];
    assert_int_equal(pipe(down), 0);
    assert_int_equal(pipe(up), 0);
    w->pid = fork();
    assert_true(w->pid >= 0);
    if (w->pid == 0) {
        close(down[1]);
        close(up[0]);
        char *err = NULL;
        pol_engine *e = pol_open(f->cfg, f->db, &err);
        if (!e || pol_use_shared_rl(e, t, index) != 0) _exit(90);
        int rc = fn(e, down[0], up[1]);
        pol_close(e);
        _exit(rc);
    }
    close(down[0]);
    close(up[1]);
    w->to = down[1];
    w->from = up[0];
}

/* Waits for the worker; its exit status. */
static int worker_end(worker *w)
{
    close(w->to);
    int st;
    assert_int_equal(waitpid(w->pid, &st, 0), w->pid);
    close(w->from);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* One request of KeyBBBBB through authenticate and reserve (in a worker). */
static int worker_admit(pol_engine *e, od_req *r)
{
    char key[64];
    key_of(key, "KeyBBBBB", SECRET_B);
    od_req_init(r, OD_KIND_LLM, "m");
    if (pol_authenticate(e, r, key) != 0) _exit(91);
    return pol_reserve(e, r, 0, 10);
}

static pol_rl_shm *shm_new(void)
{
    char *err = NULL;
    pol_rl_shm *t = pol_rl_shm_new(&err);
    if (!t) fail_msg("pol_rl_shm_new: %s", err);
    return t;
}

/* Before forking workers: applies sql, closes the fixture's engine (fork
 * only from a single-threaded parent) and makes the shared table. */
static void before_fork(fx *f, const char *sql)
{
    admin_sql(f, sql);
    pol_close(f->e);
    f->e = NULL;
    f->rl = shm_new();
}

/* The fixture's engine again, on the shared table as worker index. */
static void reopen_shared(fx *f, int index)
{
    char *err = NULL;
    f->e = pol_open(f->cfg, f->db, &err);
    if (!f->e) fail_msg("pol_open: %s", err);
    assert_int_equal(pol_use_shared_rl(f->e, f->rl, index), 0);
}

/* A request of KeyBBBBB in the fixture's engine, which must be rate limited. */
static void assert_rate_limited(fx *f)
{
    int rc;
    od_req *r = admit(f, SECRET_B, "KeyBBBBB", 0, &rc);
    assert_int_equal(rc, -1);
    assert_int_equal(r->status, 429);
    assert_string_equal(r->reason, OD_R_RATE_LIMITED);
    assert_true(r->retry_after_s >= 1);
    pol_record(f->e, r);
}

/* Admits up to want requests into r (in a worker); how many. */
static int take(pol_engine *e, od_req *r, int want)
{
    int n = 0;
    while (n < want && worker_admit(e, &r[n]) == 0) n++;
    return n;
}

/* enough admissions that the two workers overlap, on a busy machine too */
enum { HAMMER_RPM = 2000, HAMMER_TRIES = 3000 };

/* Says it is ready, waits for the start, then admits as fast as it can;
 * says how many were admitted. Every denial must be a rate limit with a
 * retry-after. */
static int hammer(pol_engine *e, int in, int out)
{
    say(out, 1);
    if (hear(in) != 1) return 92;
    int admitted = 0;
    for (int i = 0; i < HAMMER_TRIES; i++) {
        od_req r;
        if (worker_admit(e, &r) == 0) {
            admitted++;
            pol_settle(e, &r, 0, 10);
        } else if (r.status != 429 || strcmp(r.reason, OD_R_RATE_LIMITED) || r.retry_after_s < 1) {
            return 93;
        }
        pol_record(e, &r);
    }
    say(out, admitted);
    return 0;
}

/* Two workers on one table and one key: together they get the key's rpm,
 * not twice it. */
static void test_rl_shared_rpm_two_processes(void **state)
{
    fx *f = *state;
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE keys SET rpm = %d WHERE id = 'KeyBBBBB'", HAMMER_RPM);
    before_fork(f, sql);
    worker w[2];
    for (int i = 0; i < 2; i++) worker_start(&w[i], f, f->rl, i, hammer);
    for (int i = 0; i < 2; i++) assert_int_equal(hear(w[i].from), 1);
    for (int i = 0; i < 2; i++) say(w[i].to, 1); /* both race from here */
    int total = 0;
    for (int i = 0; i < 2; i++) {
        int n = hear(w[i].from);
        assert_true(n >= 0);
        print_message("# worker %d admitted %d of %d\n", i, n, HAMMER_TRIES);
        total += n;
        assert_int_equal(worker_end(&w[i]), 0);
    }
    assert_int_equal(total, HAMMER_RPM);
}

/* Holds three requests in flight until told to finish them. */
static int hold_three(pol_engine *e, int in, int out)
{
    od_req r[3];
    int n = take(e, r, 3);
    say(out, n);
    if (hear(in) != 1) return 92;
    for (int i = 0; i < n; i++) pol_record(e, &r[i]);
    say(out, 0);
    return 0;
}

static void test_rl_shared_max_parallel(void **state)
{
    fx *f = *state;
    before_fork(f, "UPDATE keys SET max_parallel = 3 WHERE id = 'KeyBBBBB'");
    worker a;
    worker_start(&a, f, f->rl, 0, hold_three);
    assert_int_equal(hear(a.from), 3);
    reopen_shared(f, 1);
    assert_rate_limited(f); /* the other worker holds all three */
    say(a.to, 1);
    assert_int_equal(hear(a.from), 0); /* released */
    int rc;
    od_req r2 = *admit(f, SECRET_B, "KeyBBBBB", 0, &rc);
    assert_int_equal(rc, 0);
    pol_record(f->e, &r2);
    assert_int_equal(worker_end(&a), 0);
}

/* Takes two requests in flight and dies without finishing them. */
static int die_holding_two(pol_engine *e, int in, int out)
{
    od_req r[2];
    say(out, take(e, r, 2));
    _exit(0);
}

static void test_rl_shm_worker_gone(void **state)
{
    fx *f = *state;
    before_fork(f, "UPDATE keys SET max_parallel = 2 WHERE id = 'KeyBBBBB'");
    worker a;
    worker_start(&a, f, f->rl, 5, die_holding_two);
    assert_int_equal(hear(a.from), 2);
    assert_int_equal(worker_end(&a), 0);
    reopen_shared(f, 1);
    assert_rate_limited(f); /* the dead worker's two still count */
    pol_rl_shm_worker_gone(f->rl, 5); /* what the master does before starting a replacement */
    pol_rl_shm_worker_gone(f->rl, POL_MAX_WORKERS); /* out of range: ignored */
    int rc;
    od_req r2 = *admit(f, SECRET_B, "KeyBBBBB", 0, &rc);
    assert_int_equal(rc, 0);
    od_req r3 = *admit(f, SECRET_B, "KeyBBBBB", 0, &rc);
    assert_int_equal(rc, 0);
    assert_rate_limited(f); /* and the limit still holds for the living */
    pol_record(f->e, &r2);
    pol_record(f->e, &r3);
}

/* A full table admits new subjects without rate state (fail open) and
 * counts them; subjects already in it keep their limits. */
static void test_rl_table_full(void **state)
{
    fx *f = *state;
    pol_rl_shm *t = f->rl = shm_new();
    char s[POL_RL_SUBJECT + 40];
    /* a subject longer than an entry holds is cut, and still finds itself */
    memset(s, 'x', sizeof s - 1);
    s[sizeof s - 1] = '\0';
    assert_int_equal(pol_rl_slot(t, s), 0);
    assert_int_equal(pol_rl_slot(t, s), 0);
    for (int i = 1; i < POL_RL_CAP; i++) {
        snprintf(s, sizeof s, "t:team%d", i);
        assert_int_equal(pol_rl_slot(t, s), i);
    }
    assert_int_equal(pol_rl_slot(t, "t:team77"), 77);
    assert_int_equal(pol_rl_slot(t, "t:one-too-many"), -1);

    admin_sql(f, "UPDATE keys SET rpm = 1 WHERE id = 'KeyBBBBB'");
    pol_tick(f->e);
    assert_int_equal(pol_use_shared_rl(f->e, t, -1), -1);
    assert_int_equal(pol_use_shared_rl(f->e, t, POL_MAX_WORKERS), -1);
    assert_int_equal(pol_use_shared_rl(f->e, t, 0), 0);
    for (int i = 0; i < 3; i++) {
        int rc;
        od_req *r = admit(f, SECRET_B, "KeyBBBBB", 0, &rc);
        assert_int_equal(rc, 0); /* rpm 1, but no room to count it */
        assert_int_equal(r->rl_slot, -1);
        assert_int_equal(r->rl_limit_requests, -1);
        pol_record(f->e, r);
    }
    pol_stats st;
    pol_get_stats(f->e, &st);
    assert_int_equal(st.rate_untracked, 3);
    assert_int_equal(st.rate_denials, 0);
}

/* A process dies holding the table's lock: the next one to take it
 * recovers it (EOWNERDEAD) and admissions go on. */
static void test_rl_lock_holder_dies(void **state)
{
    fx *f = *state;
    before_fork(f, "UPDATE keys SET rpm = 2 WHERE id = 'KeyBBBBB'");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pol_rl_lock(f->rl);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    reopen_shared(f, 0);
    int rc;
    for (int i = 0; i < 2; i++) {
        od_req r = *admit(f, SECRET_B, "KeyBBBBB", 0, &rc);
        assert_int_equal(rc, 0);
        pol_record(f->e, &r);
    }
    assert_rate_limited(f); /* the limit still counts */
}

static long rss_kb(void)
{
    long pages = 0, resident = 0;
    FILE *fp = fopen("/proc/self/statm", "r");
    assert_non_null(fp);
    assert_int_equal(fscanf(fp, "%ld %ld", &pages, &resident), 2);
    fclose(fp);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Right after a window rolls over, the previous window's count still
 * weighs almost whole: rpm 6 used up in a window's last millisecond leaves
 * no room in the next window's first. (Rounding the estimate down let a 7th
 * through: 6 x 59999/60000 read as 5.) The room comes back as the old
 * window slides out: one request after 10 s, six after a full minute. */
static void test_rl_window_roll(void **state)
{
    (void)state;
    pol_rl_shm *t = shm_new();
    int slot = pol_rl_slot(t, "k:KeyRoll1");
    pol_rl_ask ask = {6, 0, 0, 0};
    pol_rl_out o;
    int64_t w0 = 1700000040000; /* a window start: a multiple of 60 s */
    for (int i = 0; i < 6; i++) assert_int_equal(pol_rl_admit(t, slot, 0, w0 + 59999, &ask, &o), 0);
    assert_int_equal(pol_rl_admit(t, slot, 0, w0 + 59999, &ask, &o), -1);
    assert_int_equal(pol_rl_admit(t, slot, 0, w0 + 60001, &ask, &o), -1); /* the next window's start */
    int64_t retry = o.retry_ms;
    assert_int_equal(retry, 9999); /* 10 s into the new window the old 6 weigh 5 */
    assert_int_equal(pol_rl_admit(t, slot, 0, w0 + 60001 + retry - 1, &ask, &o), -1);
    assert_int_equal(pol_rl_admit(t, slot, 0, w0 + 60001 + retry, &ask, &o), 0); /* when it said */
    assert_int_equal(pol_rl_admit(t, slot, 0, w0 + 70000, &ask, &o), -1);
    for (int i = 0; i < 5; i++) assert_int_equal(pol_rl_admit(t, slot, 0, w0 + 120000, &ask, &o), 0);
    pol_rl_shm_free(t);
}

/* The table maps ~6 MB, but only what is used becomes resident. */
static void test_rl_shm_rss(void **state)
{
    (void)state;
    rss_kb(); /* once for stdio's own buffers */
    long before = rss_kb();
    pol_rl_shm *t = shm_new();
    long created = rss_kb();
    pol_rl_ask ask = {1000, 0, 10, 0};
    for (int i = 0; i < 1000; i++) {
        char s[32];
        snprintf(s, sizeof s, "k:Key%05d", i);
        int slot = pol_rl_slot(t, s);
        assert_int_equal(slot, i);
        pol_rl_out o;
        assert_int_equal(pol_rl_admit(t, slot, 0, fake_now, &ask, &o), 0);
    }
    long used = rss_kb();
    print_message("# rate-limit table: RSS +%ld KB when created, +%ld KB with 1000 subjects\n", created - before,
                  used - before);
    assert_true(created - before <= 64);
    assert_true(used - before <= 1024);
    pol_rl_shm_free(t);
}

/* ---- events ---- */

/* ---- schema ---- */

/* A ledger written by schema 1 (status CHECK as an IN list) is rewritten in
 * place: rows kept, the constraint still enforced, and the event insert no
 * longer builds an ephemeral table per row. */
static void test_migrate_v2_status_check(void **state)
{
    fx *f = *state;
    char *err = NULL;
    sqlite3 *db = f->admin;
    int on = 0;
    assert_int_equal(sqlite3_db_config(db, SQLITE_DBCONFIG_WRITABLE_SCHEMA, 1, &on), SQLITE_OK);
    int64_t cookie = db_int(db, "PRAGMA schema_version");
    char sql[512];
    snprintf(sql, sizeof sql,
             "UPDATE sqlite_schema SET sql = replace(sql, "
             "'CHECK(status = ''ok'' OR status = ''denied'' OR status = ''error'')', "
             "'CHECK(status IN (''ok'',''denied'',''error''))') WHERE name = 'events';"
             "PRAGMA schema_version = %lld;"
             "UPDATE meta SET v = 1 WHERE k = 'schema_version';"
             "INSERT INTO events(ts_ms, request_id, kind, status) VALUES(1, 'req_a', 'llm', 'ok'), "
             "(2, 'req_b', 'tool', 'denied');",
             (long long)cookie + 1);
    if (ldg_exec(db, sql, &err) != 0) fail_msg("%s", err);
    sqlite3_db_config(db, SQLITE_DBCONFIG_WRITABLE_SCHEMA, 0, NULL);
    assert_int_equal(db_int(db, "SELECT instr(sql, 'CHECK(status IN (''ok'',''denied'',''error''))') > 0 FROM sqlite_schema WHERE name = 'events'"), 1);
    ldg_close(db);

    f->admin = db = ldg_open(f->db, 0, &err);
    if (!db) fail_msg("reopen: %s", err);
    assert_int_equal(db_int(db, "SELECT v FROM meta WHERE k = 'schema_version'"), LDG_SCHEMA_VERSION);
    assert_int_equal(db_int(db, "SELECT instr(sql, 'CHECK(status IN (''ok'',''denied'',''error''))') FROM sqlite_schema WHERE name = 'events'"), 0);
    assert_int_equal(db_int(db, "SELECT count(*) FROM events WHERE request_id IN ('req_a', 'req_b')"), 2);
    assert_int_equal(db_int(db, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"), 1);
    assert_int_not_equal(ldg_exec(db, "INSERT INTO events(ts_ms, request_id, kind, status) "
                                      "VALUES(3, 'req_c', 'llm', 'maybe')", &err), 0);
    assert_non_null(strstr(err, "CHECK constraint failed"));
    free(err);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "EXPLAIN INSERT INTO events(ts_ms, request_id, kind, status) "
                                            "VALUES(?, ?, ?, ?)", -1, &st, NULL), SQLITE_OK);
    int ops = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        ops++;
        assert_string_not_equal((const char *)sqlite3_column_text(st, 1), "OpenEphemeral");
    }
    sqlite3_finalize(st);
    assert_true(ops > 10);
}

static void test_event_fields(void **state)
{
    fx *f = *state;
    int rc;
    od_req r = *admit(f, SECRET_A, "KeyAAAAA", 10, &rc);
    assert_int_equal(rc, 0);
    snprintf(r.provider, sizeof r.provider, "openai");
    snprintf(r.upstream_model, sizeof r.upstream_model, "gpt-4o-2024-08-06");
    r.prompt_tokens = 11;
    r.completion_tokens = 22;
    r.attempts = 2;
    pol_settle(f->e, &r, 7, 33);
    pol_record(f->e, &r);
    pol_flush(f->e);
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE request_id = '%s' AND key_id = 'KeyAAAAA' AND team = 'web' "
                              "AND kind = 'llm' AND provider = 'openai' AND model = 'gpt-4o-2024-08-06' AND status = 'ok' "
                              "AND prompt_tokens = 11 AND completion_tokens = 22 AND cost_micros = 7 AND attempts = 2", r.id);
    assert_int_equal(db_int(f->admin, sql), 1);
}

/* 37 events in one batch: two 16-row INSERTs and five single ones; every
 * row lands whole, in order, nulls where the event had none */
static void test_commit_batch_rows(void **state)
{
    fx *f = *state;
    enum { N = 37 };
    ldg_event ev[N];
    memset(ev, 0, sizeof ev);
    for (int i = 0; i < N; i++) {
        ev[i].ts_ms = 1000 + i;
        snprintf(ev[i].request_id, sizeof ev[i].request_id, "req_batch_%02d", i);
        snprintf(ev[i].key_id, sizeof ev[i].key_id, "K%07d", i);
        if (i % 3 == 0) snprintf(ev[i].team, sizeof ev[i].team, "team%d", i);
        ev[i].kind = i % 2 ? "tool" : "llm";
        snprintf(ev[i].target, sizeof ev[i].target, "t%d", i);
        ev[i].status = i % 5 ? "ok" : "denied";
        ev[i].http_status = 200 + i;
        ev[i].prompt_tokens = i * 10;
        ev[i].cost_micros = i * 7;
        ev[i].ttft_us = i % 4 ? i : 0;
        ev[i].findings = i == 20 ? "{\"pii\":1}" : NULL;
    }
    char *err = NULL;
    if (ldg_commit_batch(f->admin, ev, N, "test", NULL, 0, NULL, 0, 0, 0, &err) != 0) fail_msg("%s", err);
    assert_int_equal(db_int(f->admin, "SELECT count(*) FROM events WHERE request_id LIKE 'req_batch_%'"), N);
    char sql[512];
    for (int i = 0; i < N; i++) {
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM events WHERE request_id = 'req_batch_%02d' AND ts_ms = %d AND key_id = 'K%07d' "
                 "AND team IS %s AND kind = '%s' AND target = 't%d' AND status = '%s' AND http_status = %d "
                 "AND prompt_tokens = %d AND cost_micros = %d AND ttft_us IS %s AND findings IS %s",
                 i, 1000 + i, i, i % 3 == 0 ? "NOT NULL" : "NULL", i % 2 ? "tool" : "llm", i,
                 i % 5 ? "ok" : "denied", 200 + i, i * 10, i * 7, i % 4 ? "NOT NULL" : "NULL",
                 i == 20 ? "'{\"pii\":1}'" : "NULL");
        if (db_int(f->admin, sql) != 1) fail_msg("row %d: %s", i, sql);
    }
    /* ids follow the batch order */
    assert_int_equal(db_int(f->admin, "SELECT count(*) FROM events a JOIN events b ON b.id = a.id + 1 "
                                      "WHERE a.request_id LIKE 'req_batch_%' AND b.request_id LIKE 'req_batch_%' "
                                      "AND b.ts_ms = a.ts_ms + 1"), N - 1);
}

/* The writer's queue grows while the ledger is locked and is handed back
 * once drained: a burst must not stay resident. */
static void test_writer_queue_shrinks(void **state)
{
    fx *f = *state;
    pol_writer *w = &f->e->writer;
    char *err = NULL;
    if (ldg_exec(f->admin, "BEGIN IMMEDIATE", &err) != 0) fail_msg("%s", err); /* the writer waits on this */
    ldg_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = "llm";
    ev.status = "ok";
    for (int i = 0; i < 5000; i++) {
        ev.ts_ms = i;
        snprintf(ev.request_id, sizeof ev.request_id, "req_shrink_%d", i);
        pol_writer_push(w, &ev);
    }
    pthread_mutex_lock(&w->mu);
    int grown = w->cap;
    pthread_mutex_unlock(&w->mu);
    if (ldg_exec(f->admin, "COMMIT", &err) != 0) fail_msg("%s", err);
    assert_true(grown >= 4096);
    pol_writer_flush(w);
    pthread_mutex_lock(&w->mu);
    int cap = w->cap;
    pthread_mutex_unlock(&w->mu);
    assert_int_equal(cap, 0);
    assert_int_equal(db_int(f->admin, "SELECT count(*) FROM events WHERE request_id LIKE 'req_shrink_%'"), 5000);
}

/* A backlog drains from the front without moving the rest, and a full
 * array whose front half is taken slides down instead of growing; the
 * events are written in the order they were pushed, whatever happened. */
static void push_numbered(pol_writer *w, int attempt, int i)
{
    ldg_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = "tool";
    ev.status = "ok";
    ev.ts_ms = i;
    snprintf(ev.request_id, sizeof ev.request_id, "req_order%d_%06d", attempt, i);
    pol_writer_push(w, &ev);
}

static void test_writer_backlog_order(void **state)
{
    fx *f = *state;
    pol_writer *w = &f->e->writer;
    char *err = NULL;
    int pushed = 0, busy = 0, head = -1;
    /* The writer must take a full batch off the front of a longer queue.
     * Pushed one by one, that was a race: a writer that woke at exactly 512
     * took them all (the queue empty, head back to 0), and one whose 50 ms
     * ran out took fewer; retried five times, it still lost under load. So
     * the writer is paused while the 1024 go in, and then takes its batch.
     * It then blocks on the ledger locked here. */
    pol_writer_flush(w);
    if (ldg_exec(f->admin, "BEGIN IMMEDIATE", &err) != 0) fail_msg("%s", err);
    pthread_mutex_lock(&w->mu);
    w->paused = 1;
    pthread_mutex_unlock(&w->mu);
    while (pushed < 1024) push_numbered(w, 0, pushed++);
    pthread_mutex_lock(&w->mu);
    w->paused = 0;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (int tries = 0; tries < 10000 && !busy; tries++) {
        pthread_mutex_lock(&w->mu);
        head = w->head, busy = w->busy;
        pthread_mutex_unlock(&w->mu);
        if (!busy) usleep(1000);
    }
    /* stuck committing a full batch: read now, check once unlocked (every
     * exit commits first: a writer left behind the lock would keep teardown
     * waiting forever) */
    pthread_mutex_lock(&w->mu);
    int cap1 = w->cap, n1 = w->n;
    pthread_mutex_unlock(&w->mu);
    push_numbered(w, 0, pushed++); /* full, front half taken: slides down */
    pthread_mutex_lock(&w->mu);
    int head2 = w->head, cap2 = w->cap, n2 = w->n;
    pthread_mutex_unlock(&w->mu);
    while (pushed < 1700) push_numbered(w, 0, pushed++);
    if (ldg_exec(f->admin, "COMMIT", &err) != 0) fail_msg("%s", err);
    pol_writer_flush(w);
    assert_true(busy);
    assert_int_equal(head, LDG_BATCH_FULL);
    assert_int_equal(cap1, 1024);
    assert_int_equal(n1, 1024 - LDG_BATCH_FULL);
    assert_int_equal(head2, 0);
    assert_int_equal(cap2, 1024);
    assert_int_equal(n2, 1024 - LDG_BATCH_FULL + 1);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->admin,
                                        "SELECT ts_ms, request_id FROM events WHERE request_id LIKE 'req_order0_%' ORDER BY id",
                                        -1, &st, NULL), SQLITE_OK);
    int i = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        char want[32];
        snprintf(want, sizeof want, "req_order0_%06d", i);
        assert_int_equal(sqlite3_column_int64(st, 0), i);
        assert_string_equal((const char *)sqlite3_column_text(st, 1), want);
        i++;
    }
    sqlite3_finalize(st);
    assert_int_equal(i, pushed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_revoked_expired_rotated_live, setup, teardown),
        cmocka_unit_test(test_grant_patterns),
        cmocka_unit_test_setup_teardown(test_authorize, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_deny, setup_deny, teardown),
        cmocka_unit_test_setup_teardown(test_budget_hold_settle_exceed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_scopes_and_period, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_limit_change_live, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_invariant_two_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_refilled_ahead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crashed_lease_is_reaped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tpm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rl_shared_rpm_two_processes, setup, teardown),
        cmocka_unit_test(test_rl_window_roll),
        cmocka_unit_test_setup_teardown(test_rl_shared_max_parallel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rl_shm_worker_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rl_table_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rl_lock_holder_dies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rl_shm_rss, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_v2_status_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_batch_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_queue_shrinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_backlog_order, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
