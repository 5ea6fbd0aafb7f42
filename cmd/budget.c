/* cmd/budget.c — odock budget set | show | reset. Amounts are read and
 * printed as dollars with up to 6 decimals, stored as micro-dollars. */
#include "budget_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *USAGE =
    "usage: odock budget COMMAND [flags]\n"
    "\n"
    "  set   (--key ID|NAME | --team T | --global) --limit USD [--period daily|weekly|monthly|total]\n"
    "  show  [--key ID|NAME | --team T | --global] [--json]\n"
    "  reset (--key ID|NAME | --team T | --global)     spent back to 0 for the current period\n"
    "\n"
    "Periods are calendar periods in UTC (weeks start on Monday); the default is monthly.\n"
    "Common flags: --db PATH, --config FILE.\n";

int budget_parse_limit(const char *cmd, const cli_args *a, int64_t *limit, ldg_period *period)
{
    *limit = -1;
    const char *l = cli_get(a, "--limit");
    if (!l) l = cli_get(a, "--budget");
    if (l && od_money_parse(l, limit) != 0) {
        cli_fail(cmd, "%s: expected an amount of dollars such as 25 or 0.50 (at most 6 decimals), got \"%s\"",
                 cli_has(a, "--limit") ? "--limit" : "--budget", l);
        return -1;
    }
    const char *p = cli_get(a, "--period");
    if (p && ldg_period_parse(p, period) != 0) {
        cli_fail(cmd, "--period: expected daily, weekly, monthly or total, got \"%s\"", p);
        return -1;
    }
    return 0;
}

int budget_upsert(sqlite3 *db, ldg_scope scope, const char *subject, int64_t limit, ldg_period period,
                  int64_t now)
{
    sqlite3_stmt *st;
    const char *sql =
        "INSERT INTO budgets(scope, subject, limit_micros, period, period_start_ms) VALUES(?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT(scope, subject) DO UPDATE SET limit_micros = excluded.limit_micros, "
        "spent_micros = CASE WHEN period = excluded.period THEN spent_micros ELSE 0 END, "
        "period_start_ms = CASE WHEN period = excluded.period THEN period_start_ms ELSE excluded.period_start_ms END, "
        "period = excluded.period";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_text(st, 1, ldg_scope_name(scope), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, limit);
    sqlite3_bind_text(st, 4, ldg_period_name(period), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, ldg_period_start(period, now));
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return rc;
}

static cJSON *budget_json(const ldg_budget *b, const char *label)
{
    cJSON *o = cJSON_CreateObject();
    cli_json_str(o, "scope", ldg_scope_name(b->scope));
    cli_json_str(o, "subject", b->subject);
    cli_json_str(o, "name", label);
    cli_json_str(o, "period", ldg_period_name(b->period));
    int64_t remaining = b->limit_micros - b->spent_micros - b->held_micros;
    if (remaining < 0) remaining = 0;
    cli_json_money(o, "limit", b->limit_micros);
    cli_json_money(o, "spent", b->spent_micros);
    cli_json_money(o, "held", b->held_micros);
    cli_json_money(o, "remaining", remaining);
    cli_json_i64(o, "limit_micros", b->limit_micros);
    cli_json_i64(o, "spent_micros", b->spent_micros);
    cli_json_i64(o, "held_micros", b->held_micros);
    cli_json_i64(o, "remaining_micros", remaining);
    cli_json_time(o, "period_start", b->period == LDG_PERIOD_TOTAL ? 0 : b->period_start_ms);
    cli_json_time(o, "next_reset", ldg_period_next(b->period, b->period_start_ms));
    return o;
}

void budget_json_for_key(sqlite3 *db, const char *key_id, cJSON *obj, int64_t now)
{
    ldg_budget *bs;
    int n;
    cJSON *found = NULL;
    if (ldg_budgets_load(db, now, &bs, &n) == 0) {
        for (int i = 0; i < n && !found; i++)
            if (bs[i].scope == LDG_SCOPE_KEY && !strcmp(bs[i].subject, key_id)) found = budget_json(&bs[i], NULL);
        free(bs);
    }
    cJSON_AddItemToObject(obj, "budget", found ? found : cJSON_CreateNull());
}

/* Resolves --key/--team/--global into a scope and subject. required: one must
 * be given. Returns 0, 1 when none was given (and !required), -1 on error. */
static int parse_scope(const char *cmd, sqlite3 *db, const cli_args *a, int required, ldg_scope *scope,
                       char subject[64])
{
    int given = cli_has(a, "--key") + cli_has(a, "--team") + cli_has(a, "--global");
    if (given > 1) return cli_fail(cmd, "give only one of --key, --team, --global") ? -1 : -1;
    if (given == 0) {
        if (required) cli_fail(cmd, "say whose budget: --key ID|NAME, --team T or --global");
        return required ? -1 : 1;
    }
    subject[0] = '\0';
    if (cli_has(a, "--global")) {
        *scope = LDG_SCOPE_GLOBAL;
    } else if (cli_has(a, "--team")) {
        *scope = LDG_SCOPE_TEAM;
        snprintf(subject, 64, "%s", cli_get(a, "--team"));
    } else {
        *scope = LDG_SCOPE_KEY;
        ldg_key k;
        int rc = ldg_key_find(db, cli_get(a, "--key"), &k);
        if (rc != 0) {
            if (rc > 0) cli_fail(cmd, "no key with id or name \"%s\"", cli_get(a, "--key"));
            else cli_fail(cmd, "ledger error: %s", sqlite3_errmsg(db));
            return -1;
        }
        snprintf(subject, 64, "%s", k.id);
        ldg_key_free(&k);
    }
    return 0;
}

#define SCOPE_FLAGS {"--db", 1, NULL}, {"--config", 1, NULL}, {"--key", 1, NULL}, \
                    {"--team", 1, NULL}, {"--global", 0, NULL}

static int budget_set(int argc, char **argv)
{
    cli_flag f[] = {SCOPE_FLAGS, {"--limit", 1, NULL}, {"--period", 1, NULL}};
    cli_args a;
    int rc = cli_parse("budget set", argc, argv, f, (int)OD_ARRAY_LEN(f), &a);
    if (rc) return rc > 0 ? (fputs(USAGE, stdout), 0) : 1;
    if (a.npos) return cli_fail("budget set", "unexpected argument \"%s\"", a.pos[0]);
    int64_t limit;
    ldg_period period = LDG_PERIOD_MONTHLY;
    if (budget_parse_limit("budget set", &a, &limit, &period) != 0) return 1;
    if (limit < 0) return cli_fail("budget set", "--limit is required");
    if (!cli_has(&a, "--key") && !cli_has(&a, "--team") && !cli_has(&a, "--global"))
        return cli_fail("budget set", "say whose budget: --key ID|NAME, --team T or --global");
    sqlite3 *db = cli_open_db("budget set", &a, 1);
    if (!db) return 1;
    ldg_scope scope;
    char subject[64];
    int64_t now = od_wall_ms();
    rc = 1;
    if (ldg_begin(db) != 0) {
        cli_fail("budget set", "ledger is busy");
        goto out;
    }
    if (parse_scope("budget set", db, &a, 1, &scope, subject) != 0) {
        ldg_rollback(db);
        goto out;
    }
    if ((scope == LDG_SCOPE_TEAM && ldg_team_ensure(db, subject, now) != 0) ||
        budget_upsert(db, scope, subject, limit, period, now) != 0 || ldg_bump_generation(db) != 0 ||
        ldg_commit(db) != 0) {
        cli_fail("budget set", "ledger error: %s", sqlite3_errmsg(db));
        ldg_rollback(db);
        goto out;
    }
    char m[32];
    printf("budget for %s%s%s: %s USD %s\n", ldg_scope_name(scope), *subject ? " " : "", subject,
           od_money_fmt(limit, m), ldg_period_name(period));
    rc = 0;
out:
    ldg_close(db);
    return rc;
}

static int budget_show(int argc, char **argv)
{
    cli_flag f[] = {SCOPE_FLAGS, {"--json", 0, NULL}};
    cli_args a;
    int rc = cli_parse("budget show", argc, argv, f, (int)OD_ARRAY_LEN(f), &a);
    if (rc) return rc > 0 ? (fputs(USAGE, stdout), 0) : 1;
    if (a.npos) return cli_fail("budget show", "unexpected argument \"%s\"", a.pos[0]);
    sqlite3 *db = cli_open_db("budget show", &a, 0);
    if (!db) return 1;
    ldg_scope scope = LDG_SCOPE_GLOBAL;
    char subject[64] = "";
    int filter = parse_scope("budget show", db, &a, 0, &scope, subject);
    if (filter < 0) {
        ldg_close(db);
        return 1;
    }
    int64_t now = od_wall_ms();
    ldg_budget *bs;
    int n;
    ldg_key *keys;
    int nkeys;
    if (ldg_budgets_load(db, now, &bs, &n) != 0 || ldg_keys_load(db, &keys, &nkeys) != 0) {
        ldg_close(db);
        return cli_fail("budget show", "ledger error: %s", sqlite3_errmsg(db));
    }
    cJSON *arr = cJSON_CreateArray();
    static const char *const heads[] = {"SCOPE", "SUBJECT", "PERIOD", "LIMIT", "SPENT", "HELD",
                                        "REMAINING", "NEXT RESET"};
    cli_table t;
    cli_table_init(&t, 8, heads, "lllrrrrl");
    for (int i = 0; i < n; i++) {
        ldg_budget *b = &bs[i];
        if (filter == 0 && (b->scope != scope || strcmp(b->subject, subject))) continue;
        const char *label = NULL;
        for (int k = 0; k < nkeys && b->scope == LDG_SCOPE_KEY; k++)
            if (!strcmp(keys[k].id, b->subject)) label = keys[k].name;
        cJSON *o = budget_json(b, label);
        cJSON_AddItemToArray(arr, o);
        char subj[160];
        if (label) snprintf(subj, sizeof subj, "%s (%s)", b->subject, label);
        else od_strlcpy(subj, b->subject, sizeof subj);
        const char *next = cJSON_GetStringValue(cJSON_GetObjectItem(o, "next_reset"));
        cli_table_row(&t, ldg_scope_name(b->scope), subj, ldg_period_name(b->period),
                      cJSON_GetStringValue(cJSON_GetObjectItem(o, "limit")),
                      cJSON_GetStringValue(cJSON_GetObjectItem(o, "spent")),
                      cJSON_GetStringValue(cJSON_GetObjectItem(o, "held")),
                      cJSON_GetStringValue(cJSON_GetObjectItem(o, "remaining")), next ? next : "never");
    }
    if (cli_has(&a, "--json")) cli_json_print(arr);
    else {
        cli_table_print(&t);
        cJSON_Delete(arr);
    }
    cli_table_free(&t);
    free(bs);
    ldg_keys_free(keys, nkeys);
    ldg_close(db);
    return 0;
}

static int budget_reset(int argc, char **argv)
{
    cli_flag f[] = {SCOPE_FLAGS};
    cli_args a;
    int rc = cli_parse("budget reset", argc, argv, f, (int)OD_ARRAY_LEN(f), &a);
    if (rc) return rc > 0 ? (fputs(USAGE, stdout), 0) : 1;
    if (a.npos) return cli_fail("budget reset", "unexpected argument \"%s\"", a.pos[0]);
    if (!cli_has(&a, "--key") && !cli_has(&a, "--team") && !cli_has(&a, "--global"))
        return cli_fail("budget reset", "say whose budget: --key ID|NAME, --team T or --global");
    sqlite3 *db = cli_open_db("budget reset", &a, 0);
    if (!db) return 1;
    ldg_scope scope;
    char subject[64];
    rc = 1;
    if (ldg_begin(db) != 0) {
        cli_fail("budget reset", "ledger is busy");
        goto out;
    }
    if (parse_scope("budget reset", db, &a, 1, &scope, subject) != 0) goto rollback;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "UPDATE budgets SET spent_micros = 0 WHERE scope = ? AND subject = ?", -1, &st,
                           NULL) != SQLITE_OK)
        goto dberr;
    sqlite3_bind_text(st, 1, ldg_scope_name(scope), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
    int ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    if (!ok) goto dberr;
    if (sqlite3_changes(db) == 0) {
        cli_fail("budget reset", "%s%s%s has no budget", ldg_scope_name(scope), *subject ? " " : "", subject);
        goto rollback;
    }
    if (ldg_bump_generation(db) != 0 || ldg_commit(db) != 0) goto dberr;
    printf("budget for %s%s%s reset: spent is 0\n", ldg_scope_name(scope), *subject ? " " : "", subject);
    rc = 0;
    goto out;
dberr:
    cli_fail("budget reset", "ledger error: %s", sqlite3_errmsg(db));
rollback:
    ldg_rollback(db);
out:
    ldg_close(db);
    return rc;
}

int cmd_budget(int argc, char **argv)
{
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
        fputs(USAGE, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (!strcmp(argv[0], "set")) return budget_set(argc - 1, argv + 1);
    if (!strcmp(argv[0], "show")) return budget_show(argc - 1, argv + 1);
    if (!strcmp(argv[0], "reset")) return budget_reset(argc - 1, argv + 1);
    return cli_fail("budget", "unknown command \"%s\" (set, show, reset)", argv[0]);
}
