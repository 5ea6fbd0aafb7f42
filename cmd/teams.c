/* cmd/teams.c — odock teams: a team's grants and rate limits. A key's grant
 * is intersected with its team's; team limits count every key of the team. */
#include "cli.h"
#include "../policies/ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *USAGE =
    "usage: odock teams COMMAND [flags]\n"
    "\n"
    "  set  TEAM [--models PATTERNS|none] [--tools PATTERNS|none] [--rpm N] [--tpm N] [--max-parallel N]\n"
    "  list [--json]\n"
    "  show TEAM [--json]\n"
    "\n"
    "A key may use a model or tool only if both its own grant and its team's allow it.\n"
    "'none' removes a team grant (then only the key's grant applies). 0 means no limit.\n"
    "Teams are also created by `odock keys create --team T`. Budgets: odock budget --team T.\n"
    "Common flags: --db PATH, --config FILE.\n";

static int64_t active_keys(const ldg_team *t, sqlite3 *db)
{
    sqlite3_stmt *st;
    int64_t keys = 0;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM keys WHERE team = ? AND revoked_ms IS NULL", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) keys = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    return keys;
}

static cJSON *team_json(const ldg_team *t, int64_t keys)
{
    cJSON *o = cJSON_CreateObject();
    cli_json_str(o, "name", t->name);
    cli_json_str(o, "models", t->models);
    cli_json_str(o, "tools", t->tools);
    cli_json_i64(o, "rpm", t->rpm);
    cli_json_i64(o, "tpm", t->tpm);
    cli_json_i64(o, "max_parallel", t->max_parallel);
    cli_json_i64(o, "active_keys", keys);
    return o;
}

static int teams_set(int argc, char **argv)
{
    cli_flag f[] = {{"--db", 1, NULL},     {"--config", 1, NULL}, {"--models", 1, NULL}, {"--tools", 1, NULL},
                    {"--rpm", 1, NULL},    {"--tpm", 1, NULL},    {"--max-parallel", 1, NULL}};
    cli_args a;
    int rc = cli_parse("teams set", argc, argv, f, (int)OD_ARRAY_LEN(f), &a);
    if (rc) return rc > 0 ? (fputs(USAGE, stdout), 0) : 1;
    if (a.npos != 1) return cli_fail("teams set", "expected one team name");
    const char *team = a.pos[0];
    int64_t n;
    const char *models = cli_get(&a, "--models"), *tools = cli_get(&a, "--tools");
    if ((models && strcmp(models, "none") && cli_check_patterns("teams set", "--models", models)) ||
        (tools && strcmp(tools, "none") && cli_check_patterns("teams set", "--tools", tools)) ||
        cli_parse_count("teams set", "--rpm", cli_get(&a, "--rpm"), &n) ||
        cli_parse_count("teams set", "--tpm", cli_get(&a, "--tpm"), &n) ||
        cli_parse_count("teams set", "--max-parallel", cli_get(&a, "--max-parallel"), &n))
        return 1;
    int changes = 0;
    for (int i = 2; i < a.nflags; i++) changes += a.flags[i].value != NULL;
    if (!changes) return cli_fail("teams set", "nothing to set (see odock teams --help)");
    sqlite3 *db = cli_open_db("teams set", &a, 1);
    if (!db) return 1;
    rc = 1;
    sqlite3_stmt *st = NULL;
    if (ldg_begin(db) != 0) {
        cli_fail("teams set", "ledger is busy");
        goto out;
    }
    if (ldg_team_ensure(db, team, od_wall_ms()) != 0) goto dberr;
    /* 'none' clears a grant; an absent flag keeps the current value */
    if (sqlite3_prepare_v2(db,
            "UPDATE teams SET models = CASE WHEN ?1 IS NULL THEN models WHEN ?1 = 'none' THEN NULL ELSE ?1 END, "
            "tools = CASE WHEN ?2 IS NULL THEN tools WHEN ?2 = 'none' THEN NULL ELSE ?2 END, "
            "rpm = COALESCE(?3, rpm), tpm = COALESCE(?4, tpm), max_parallel = COALESCE(?5, max_parallel) "
            "WHERE name = ?6", -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    sqlite3_bind_text(st, 1, models, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, tools, -1, SQLITE_STATIC);
    const char *nums[] = {"--rpm", "--tpm", "--max-parallel"};
    for (int i = 0; i < 3; i++)
        if (cli_get(&a, nums[i]) && cli_parse_count("teams set", nums[i], cli_get(&a, nums[i]), &n) == 0)
            sqlite3_bind_int64(st, 3 + i, n);
    sqlite3_bind_text(st, 6, team, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE || ldg_bump_generation(db) != 0 || ldg_commit(db) != 0) goto dberr;
    printf("team \"%s\" updated\n", team);
    rc = 0;
    goto out;
dberr:
    cli_fail("teams set", "ledger error: %s", sqlite3_errmsg(db));
    ldg_rollback(db);
out:
    sqlite3_finalize(st);
    ldg_close(db);
    return rc;
}

static int teams_list_or_show(int argc, char **argv, int show)
{
    const char *cmd = show ? "teams show" : "teams list";
    cli_flag f[] = {{"--db", 1, NULL}, {"--config", 1, NULL}, {"--json", 0, NULL}};
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, f, (int)OD_ARRAY_LEN(f), &a);
    if (rc) return rc > 0 ? (fputs(USAGE, stdout), 0) : 1;
    if (show ? a.npos != 1 : a.npos != 0)
        return cli_fail(cmd, show ? "expected one team name" : "unexpected argument \"%s\"", a.pos[0]);
    sqlite3 *db = cli_open_db(cmd, &a, 0);
    if (!db) return 1;
    ldg_team *teams;
    int n;
    if (ldg_teams_load(db, &teams, &n) != 0) {
        cli_fail(cmd, "ledger error: %s", sqlite3_errmsg(db));
        ldg_close(db);
        return 1;
    }
    cJSON *arr = cJSON_CreateArray();
    static const char *const heads[] = {"TEAM", "KEYS", "MODELS", "TOOLS", "RPM", "TPM", "MAX PARALLEL"};
    cli_table t;
    cli_table_init(&t, 7, heads, "lrllrrr");
    int found = 0;
    for (int i = 0; i < n; i++) {
        if (show && strcmp(teams[i].name, a.pos[0])) continue;
        found++;
        int64_t keys = active_keys(&teams[i], db);
        cJSON_AddItemToArray(arr, team_json(&teams[i], keys));
        char k[24], r[24], tp[24], p[24];
        snprintf(k, sizeof k, "%lld", (long long)keys);
        snprintf(r, sizeof r, "%lld", (long long)teams[i].rpm);
        snprintf(tp, sizeof tp, "%lld", (long long)teams[i].tpm);
        snprintf(p, sizeof p, "%lld", (long long)teams[i].max_parallel);
        cli_table_row(&t, teams[i].name, k, teams[i].models, teams[i].tools, r, tp, p);
    }
    rc = 0;
    if (show && !found) {
        rc = cli_fail(cmd, "no team \"%s\"", a.pos[0]);
        cJSON_Delete(arr);
    } else if (cli_has(&a, "--json")) {
        if (show) {
            cJSON *one = cJSON_DetachItemFromArray(arr, 0);
            cJSON_Delete(arr);
            cli_json_print(one);
        } else {
            cli_json_print(arr);
        }
    } else {
        cli_table_print(&t);
        cJSON_Delete(arr);
    }
    cli_table_free(&t);
    ldg_teams_free(teams, n);
    ldg_close(db);
    return rc;
}

int cmd_teams(int argc, char **argv)
{
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
        fputs(USAGE, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (!strcmp(argv[0], "set")) return teams_set(argc - 1, argv + 1);
    if (!strcmp(argv[0], "list")) return teams_list_or_show(argc - 1, argv + 1, 0);
    if (!strcmp(argv[0], "show")) return teams_list_or_show(argc - 1, argv + 1, 1);
    return cli_fail("teams", "unknown command \"%s\" (set, list, show)", argv[0]);
}
