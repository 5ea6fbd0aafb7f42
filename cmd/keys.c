/* cmd/keys.c — odock keys: create, list, show, rotate, revoke, update.
 * The full key is printed once, at creation (or rotation); only the SHA-256
 * of its secret is stored. */
#include "cli.h"
#include "budget_cli.h"
#include "../policies/ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *USAGE =
    "usage: odock keys COMMAND [flags]\n"
    "\n"
    "  create --name NAME [--team T] [--user U] [--models PATTERNS] [--tools PATTERNS]\n"
    "         [--budget USD --period daily|weekly|monthly|total] [--rpm N] [--tpm N]\n"
    "         [--max-parallel N] [--expires 30d|2027-01-01] [--metadata JSON] [--json]\n"
    "  list   [--team T] [--all] [--json]          (--all includes revoked and expired keys)\n"
    "  show   ID|NAME [--json]\n"
    "  rotate ID|NAME [--grace 1h] [--json]        new secret; the old one works for the grace period\n"
    "  revoke ID|NAME\n"
    "  update ID|NAME [--name N] [--team T] [--user U] [--models P] [--tools P] [--rpm N]\n"
    "         [--tpm N] [--max-parallel N] [--expires 30d|DATE|never] [--metadata JSON]\n"
    "\n"
    "PATTERNS are comma-separated globs, in order, '!' excludes: 'gpt-4o*,claude-*,!*-preview'.\n"
    "Tools are named SERVER/TOOL: 'github/*,!github/delete_*'. A later match wins.\n"
    "Common flags: --db PATH, --config FILE.\n";

#define COMMON_FLAGS {"--db", 1, NULL}, {"--config", 1, NULL}, {"--json", 0, NULL}

/* ---- validation of flag values ---- */

static int parse_expires(const char *v, int64_t now, int64_t *out, int allow_never)
{
    if (!v) return 0;
    if (allow_never && !strcmp(v, "never")) {
        *out = 0;
        return 0;
    }
    if (od_when_parse(v, now, 1, out) != 0) {
        cli_fail("keys", "--expires: expected a duration (30d, 12h) or a date (2027-01-01), got \"%s\"", v);
        return -1;
    }
    if (*out <= now) {
        cli_fail("keys", "--expires: %s is in the past", v);
        return -1;
    }
    return 0;
}

static int check_metadata(const char *v)
{
    if (!v) return 0;
    cJSON *j = cJSON_Parse(v);
    int ok = cJSON_IsObject(j);
    cJSON_Delete(j);
    if (!ok) return cli_fail("keys", "--metadata: expected a JSON object") ? -1 : -1;
    return 0;
}

static int check_name(const char *flag, const char *v)
{
    if (!v) return 0;
    if (strlen(v) > 63) {
        cli_fail("keys", "%s: at most 63 characters", flag);
        return -1;
    }
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 33 || *p == ',') {
            cli_fail("keys", "%s: \"%s\" may not contain spaces, commas or control characters", flag, v);
            return -1;
        }
    return 0;
}

/* ---- status ---- */

static const char *key_status(const ldg_key *k, int64_t now)
{
    if (k->revoked_ms) return "revoked";
    if (k->expires_ms && k->expires_ms <= now) return "expired";
    return "active";
}

static int64_t count_or_zero(const char *v)
{
    int64_t n = 0;
    if (v) od_parse_i64(v, &n);
    return n;
}

static cJSON *key_json(const ldg_key *k, int64_t now)
{
    cJSON *o = cJSON_CreateObject();
    char prefix[32];
    snprintf(prefix, sizeof prefix, "odk_%s_", k->id);
    cli_json_str(o, "id", k->id);
    cli_json_str(o, "name", k->name);
    cli_json_str(o, "prefix", prefix);
    cli_json_str(o, "team", k->team);
    cli_json_str(o, "user", k->user);
    cli_json_str(o, "status", key_status(k, now));
    cli_json_time(o, "created", k->created_ms);
    cli_json_time(o, "expires", k->expires_ms);
    cli_json_time(o, "revoked", k->revoked_ms);
    cli_json_time(o, "previous_secret_valid_until", k->has_prev && k->prev_until_ms > now ? k->prev_until_ms : 0);
    cli_json_str(o, "models", k->models);
    cli_json_str(o, "tools", k->tools);
    cli_json_i64(o, "rpm", k->rpm);
    cli_json_i64(o, "tpm", k->tpm);
    cli_json_i64(o, "max_parallel", k->max_parallel);
    cJSON *meta = k->metadata ? cJSON_Parse(k->metadata) : NULL;
    cJSON_AddItemToObject(o, "metadata", meta ? meta : cJSON_CreateNull());
    return o;
}

/* Makes a new secret; writes the full key to full (>= 64 bytes), its hash. */
static int new_secret(const char *id, char *full, size_t n, uint8_t hash[32])
{
    char secret[LDG_KEY_SECRET_LEN + 1];
    if (od_random_base62(secret, LDG_KEY_SECRET_LEN) != 0) return -1;
    od_sha256(secret, LDG_KEY_SECRET_LEN, hash);
    snprintf(full, n, "odk_%s_%s", id, secret);
    memset(secret, 0, sizeof secret);
    return 0;
}

static void print_new_key(const char *verb, const ldg_key *k, const char *full, int json, int64_t now,
                          sqlite3 *db)
{
    if (json) {
        cJSON *o = key_json(k, now);
        cJSON_AddStringToObject(o, "key", full);
        budget_json_for_key(db, k->id, o, now);
        cli_json_print(o);
        return;
    }
    printf("%s key \"%s\" (id %s)\n\n    %s\n\n", verb, k->name, k->id, full);
    puts("This is the only time the full key is shown: store it now.");
}

/* ---- create ---- */

static int keys_create(int argc, char **argv)
{
    cli_flag f[] = {COMMON_FLAGS, {"--name", 1, NULL}, {"--team", 1, NULL}, {"--user", 1, NULL},
                    {"--models", 1, NULL}, {"--tools", 1, NULL}, {"--budget", 1, NULL},
                    {"--period", 1, NULL}, {"--rpm", 1, NULL}, {"--tpm", 1, NULL},
                    {"--max-parallel", 1, NULL}, {"--expires", 1, NULL}, {"--metadata", 1, NULL}};
    cli_args a;
    int rc = cli_parse("keys create", argc, argv, f, (int)OD_ARRAY_LEN(f), &a);
    if (rc) return rc > 0 ? (fputs(USAGE, stdout), 0) : 1;
    if (a.npos) return cli_fail("keys create", "unexpected argument \"%s\"", a.pos[0]);
    int64_t now = od_wall_ms();
    ldg_key k = {0};
    const char *name = cli_get(&a, "--name");
    if (!name) return cli_fail("keys create", "--name is required");
    int64_t budget = -1;
    ldg_period period = LDG_PERIOD_MONTHLY;
    if (check_name("--name", name) || check_name("--team", cli_get(&a, "--team")) ||
        check_name("--user", cli_get(&a, "--user")) ||
        cli_check_patterns("keys", "--models", cli_get(&a, "--models")) ||
        cli_check_patterns("keys", "--tools", cli_get(&a, "--tools")) ||
        cli_parse_count("keys", "--rpm", cli_get(&a, "--rpm"), &k.rpm) ||
        cli_parse_count("keys", "--tpm", cli_get(&a, "--tpm"), &k.tpm) ||
        cli_parse_count("keys", "--max-parallel", cli_get(&a, "--max-parallel"), &k.max_parallel) ||
        parse_expires(cli_get(&a, "--expires"), now, &k.expires_ms, 0) ||
        check_metadata(cli_get(&a, "--metadata")) ||
        budget_parse_limit("keys create", &a, &budget, &period))
        return 1;
    if (cli_has(&a, "--period") && budget < 0)
        return cli_fail("keys create", "--period needs --budget");

    sqlite3 *db = cli_open_db("keys create", &a, 1);
    if (!db) return 1;
    char full[80] = {0};
    sqlite3_stmt *st = NULL;
    rc = 1;
    if (od_random_base62(k.id, LDG_KEY_ID_LEN) != 0 || new_secret(k.id, full, sizeof full, k.hash) != 0) {
        cli_fail("keys create", "the system's random source failed");
        goto out;
    }
    k.name = (char *)name;
    k.team = (char *)cli_get(&a, "--team");
    k.user = (char *)cli_get(&a, "--user");
    k.models = (char *)cli_get(&a, "--models");
    k.tools = (char *)cli_get(&a, "--tools");
    k.metadata = (char *)cli_get(&a, "--metadata");
    k.created_ms = now;
    if (ldg_begin(db) != 0) {
        cli_fail("keys create", "ledger is busy");
        goto out;
    }
    ldg_key existing;
    if (ldg_key_find(db, name, &existing) == 0) {
        ldg_key_free(&existing);
        cli_fail("keys create", "a key named \"%s\" already exists", name);
        goto rollback;
    }
    if (k.team && ldg_team_ensure(db, k.team, now) != 0) goto dberr;
    if (sqlite3_prepare_v2(db, "INSERT INTO keys(id, name, secret_hash, team, user, created_ms, expires_ms, "
                               "models, tools, rpm, tpm, max_parallel, metadata) "
                               "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    sqlite3_bind_text(st, 1, k.id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, k.name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, k.hash, 32, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, k.team, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, k.user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, k.created_ms);
    if (k.expires_ms) sqlite3_bind_int64(st, 7, k.expires_ms);
    sqlite3_bind_text(st, 8, k.models, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, k.tools, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 10, k.rpm);
    sqlite3_bind_int64(st, 11, k.tpm);
    sqlite3_bind_int64(st, 12, k.max_parallel);
    sqlite3_bind_text(st, 13, k.metadata, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) goto dberr;
    if (budget >= 0 && budget_upsert(db, LDG_SCOPE_KEY, k.id, budget, period, now) != 0) goto dberr;
    if (ldg_bump_generation(db) != 0 || ldg_commit(db) != 0) goto dberr;
    print_new_key("Created", &k, full, cli_has(&a, "--json"), now, db);
    rc = 0;
    goto out;
dberr:
    cli_fail("keys create", "ledger error: %s", sqlite3_errmsg(db));
rollback:
    ldg_rollback(db);
out:
    memset(full, 0, sizeof full);
    sqlite3_finalize(st);
    ldg_close(db);
    return rc;
}

/* ---- list and show ---- */

static int keys_list(int argc, char **argv)
{
    cli_flag f[] = {COMMON_FLAGS, {"--team", 1, NULL}, {"--all", 0, NULL}};
    cli_args a;
    int rc = cli_parse("keys list", argc, argv, f, (int)OD_ARRAY_LEN(f), &a);
    if (rc) return rc > 0 ? (fputs(USAGE, stdout), 0) : 1;
    if (a.npos) return cli_fail("keys list", "unexpected argument \"%s\"", a.pos[0]);
    sqlite3 *db = cli_open_db("keys list", &a, 0);
    if (!db) return 1;
    ldg_key *keys;
    int n;
    if (ldg_keys_load(db, &keys, &n) != 0) {
        cli_fail("keys list", "ledger error: %s", sqlite3_errmsg(db));
        ldg_close(db);
        return 1;
    }
    int64_t now = od_wall_ms();
    const char *team = cli_get(&a, "--team");
    int all = cli_has(&a, "--all"), json = cli_has(&a, "--json");
    cJSON *arr = cJSON_CreateArray();
    static const char *const heads[] = {"ID", "NAME", "TEAM", "USER", "STATUS", "CREATED", "EXPIRES",
                                        "MODELS", "TOOLS"};
    cli_table t;
    cli_table_init(&t, 9, heads, "lllllllll");
    for (int i = 0; i < n; i++) {
        ldg_key *k = &keys[i];
        const char *status = key_status(k, now);
        if (team && !od_str_eq(team, k->team)) continue;
        if (!all && strcmp(status, "active")) continue;
        if (json) {
            cJSON *o = key_json(k, now);
            budget_json_for_key(db, k->id, o, now);
            cJSON_AddItemToArray(arr, o);
            continue;
        }
        char created[32], expires[32];
        od_time_fmt(k->created_ms, created);
        created[10] = '\0';
        if (k->expires_ms) od_time_fmt(k->expires_ms, expires);
        cli_table_row(&t, k->id, k->name, k->team, k->user, status, created,
                      k->expires_ms ? expires : NULL, k->models, k->tools);
    }
    if (json) cli_json_print(arr);
    else {
        cJSON_Delete(arr);
        cli_table_print(&t);
    }
    cli_table_free(&t);
    ldg_keys_free(keys, n);
    ldg_close(db);
    return 0;
}

/* Finds the key named by the single positional argument. */
static int find_key(const char *cmd, sqlite3 *db, const cli_args *a, ldg_key *k)
{
    if (a->npos != 1) return cli_fail(cmd, "expected one key id or name");
    int rc = ldg_key_find(db, a->pos[0], k);
    if (rc == 1) return cli_fail(cmd, "no key with id or name \"%s\"", a->pos[0]);
    if (rc < 0) return cli_fail(cmd, "ledger error: %s", sqlite3_errmsg(db));
    return 0;
}

static int keys_show(int argc, char **argv)
{
    cli_flag f[] = {COMMON_FLAGS};
    cli_args a;
    int rc = cli_parse("keys show", argc, argv, f, (int)OD_ARRAY_LEN(f), &a);
    if (rc) return rc > 0 ? (fputs(USAGE, stdout), 0) : 1;
    sqlite3 *db = cli_open_db("keys show", &a, 0);
    if (!db) return 1;
    ldg_key k;
    if (find_key("keys show", db, &a, &k)) {
        ldg_close(db);
        return 1;
    }
    int64_t now = od_wall_ms();
    cJSON *o = key_json(&k, now);
    budget_json_for_key(db, k.id, o, now);
    if (cli_has(&a, "--json")) {
        cli_json_print(o);
    } else {
        /* the same fields as the JSON, one per line */
        for (cJSON *it = o->child; it; it = it->next) {
            if (cJSON_IsObject(it)) {
                for (cJSON *b = it->child; b; b = b->next) {
                    char *v = cJSON_IsString(b) ? NULL : cJSON_PrintUnformatted(b);
                    printf("%s.%-22s %s\n", it->string, b->string, cJSON_IsString(b) ? b->valuestring : v);
                    free(v);
                }
                continue;
            }
            char *v = cJSON_IsString(it) ? NULL : cJSON_PrintUnformatted(it);
            const char *s = cJSON_IsString(it) ? it->valuestring : v;
            printf("%-29s %s\n", it->string, cJSON_IsNull(it) ? "-" : s);
            free(v);
        }
        cJSON_Delete(o);
    }
    ldg_key_free(&k);
    ldg_close(db);
    return 0;
}

/* ---- revoke, rotate, update ---- */

static int keys_revoke(int argc, char **argv)
{
    cli_flag f[] = {COMMON_FLAGS};
    cli_args a;
    int rc = cli_parse("keys revoke", argc, argv, f, (int)OD_ARRAY_LEN(f), &a);
    if (rc) return rc > 0 ? (fputs(USAGE, stdout), 0) : 1;
    sqlite3 *db = cli_open_db("keys revoke", &a, 0);
    if (!db) return 1;
    ldg_key k;
    rc = 1;
    if (ldg_begin(db) != 0) {
        cli_fail("keys revoke", "ledger is busy");
        goto out;
    }
    if (find_key("keys revoke", db, &a, &k)) {
        ldg_rollback(db);
        goto out;
    }
    if (k.revoked_ms) {
        printf("key \"%s\" (id %s) was already revoked\n", k.name, k.id);
        ldg_rollback(db);
        rc = 0;
        goto free_key;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "UPDATE keys SET revoked_ms = ? WHERE id = ?", -1, &st, NULL) != SQLITE_OK) {
        cli_fail("keys revoke", "ledger error: %s", sqlite3_errmsg(db));
        ldg_rollback(db);
        goto free_key;
    }
    sqlite3_bind_int64(st, 1, od_wall_ms());
    sqlite3_bind_text(st, 2, k.id, -1, SQLITE_STATIC);
    int ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    if (!ok || ldg_bump_generation(db) != 0 || ldg_commit(db) != 0) {
        cli_fail("keys revoke", "ledger error: %s", sqlite3_errmsg(db));
        ldg_rollback(db);
        goto free_key;
    }
    printf("revoked key \"%s\" (id %s)\n", k.name, k.id);
    rc = 0;
free_key:
    ldg_key_free(&k);
out:
    ldg_close(db);
    return rc;
}

static int keys_rotate(int argc, char **argv)
{
    cli_flag f[] = {COMMON_FLAGS, {"--grace", 1, NULL}};
    cli_args a;
    int rc = cli_parse("keys rotate", argc, argv, f, (int)OD_ARRAY_LEN(f), &a);
    if (rc) return rc > 0 ? (fputs(USAGE, stdout), 0) : 1;
    int64_t grace = 0;
    const char *g = cli_get(&a, "--grace");
    if (g && od_duration_parse(g, &grace) != 0)
        return cli_fail("keys rotate", "--grace: expected a duration such as 90s, 15m, 1h, 2d; got \"%s\"", g);
    sqlite3 *db = cli_open_db("keys rotate", &a, 0);
    if (!db) return 1;
    ldg_key k;
    char full[80] = {0};
    rc = 1;
    if (ldg_begin(db) != 0) {
        cli_fail("keys rotate", "ledger is busy");
        goto out;
    }
    if (find_key("keys rotate", db, &a, &k)) {
        ldg_rollback(db);
        goto out;
    }
    int64_t now = od_wall_ms();
    if (k.revoked_ms) {
        cli_fail("keys rotate", "key \"%s\" is revoked", k.name);
        ldg_rollback(db);
        goto free_key;
    }
    uint8_t old[32];
    memcpy(old, k.hash, 32);
    if (new_secret(k.id, full, sizeof full, k.hash) != 0) {
        cli_fail("keys rotate", "the system's random source failed");
        ldg_rollback(db);
        goto free_key;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "UPDATE keys SET secret_hash = ?, prev_hash = ?, prev_until_ms = ? WHERE id = ?",
                           -1, &st, NULL) != SQLITE_OK) {
        cli_fail("keys rotate", "ledger error: %s", sqlite3_errmsg(db));
        ldg_rollback(db);
        goto free_key;
    }
    sqlite3_bind_blob(st, 1, k.hash, 32, SQLITE_STATIC);
    if (grace > 0) {
        sqlite3_bind_blob(st, 2, old, 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, now + grace);
    }
    sqlite3_bind_text(st, 4, k.id, -1, SQLITE_STATIC);
    int ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    if (!ok || ldg_bump_generation(db) != 0 || ldg_commit(db) != 0) {
        cli_fail("keys rotate", "ledger error: %s", sqlite3_errmsg(db));
        ldg_rollback(db);
        goto free_key;
    }
    k.has_prev = grace > 0;
    k.prev_until_ms = now + grace;
    print_new_key("Rotated", &k, full, cli_has(&a, "--json"), now, db);
    if (!cli_has(&a, "--json")) {
        char t[32];
        if (grace > 0) printf("The previous secret keeps working until %s.\n", od_time_fmt(now + grace, t));
        else puts("The previous secret no longer works.");
    }
    rc = 0;
free_key:
    ldg_key_free(&k);
out:
    memset(full, 0, sizeof full);
    ldg_close(db);
    return rc;
}

static int keys_update(int argc, char **argv)
{
    cli_flag f[] = {COMMON_FLAGS, {"--name", 1, NULL}, {"--team", 1, NULL}, {"--user", 1, NULL},
                    {"--models", 1, NULL}, {"--tools", 1, NULL}, {"--rpm", 1, NULL},
                    {"--tpm", 1, NULL}, {"--max-parallel", 1, NULL}, {"--expires", 1, NULL},
                    {"--metadata", 1, NULL}};
    cli_args a;
    int rc = cli_parse("keys update", argc, argv, f, (int)OD_ARRAY_LEN(f), &a);
    if (rc) return rc > 0 ? (fputs(USAGE, stdout), 0) : 1;
    int64_t now = od_wall_ms(), n, expires = 0;
    int changes = 0;
    for (int i = 3; i < a.nflags; i++) changes += a.flags[i].value != NULL;
    if (!changes) return cli_fail("keys update", "nothing to change (see odock keys --help)");
    /* "" clears a grant (--models '') is refused by the parser; use '*' */
    if (check_name("--name", cli_get(&a, "--name")) || check_name("--team", cli_get(&a, "--team")) ||
        check_name("--user", cli_get(&a, "--user")) ||
        cli_check_patterns("keys", "--models", cli_get(&a, "--models")) ||
        cli_check_patterns("keys", "--tools", cli_get(&a, "--tools")) ||
        cli_parse_count("keys", "--rpm", cli_get(&a, "--rpm"), &n) || cli_parse_count("keys", "--tpm", cli_get(&a, "--tpm"), &n) ||
        cli_parse_count("keys", "--max-parallel", cli_get(&a, "--max-parallel"), &n) ||
        parse_expires(cli_get(&a, "--expires"), now, &expires, 1) ||
        check_metadata(cli_get(&a, "--metadata")))
        return 1;
    sqlite3 *db = cli_open_db("keys update", &a, 0);
    if (!db) return 1;
    ldg_key k;
    rc = 1;
    if (ldg_begin(db) != 0) {
        cli_fail("keys update", "ledger is busy");
        goto out;
    }
    if (find_key("keys update", db, &a, &k)) {
        ldg_rollback(db);
        goto out;
    }
    const char *newname = cli_get(&a, "--name");
    ldg_key other;
    if (newname && strcmp(newname, k.name) && ldg_key_find(db, newname, &other) == 0) {
        ldg_key_free(&other);
        cli_fail("keys update", "a key named \"%s\" already exists", newname);
        goto rollback;
    }
    if (cli_get(&a, "--team") && ldg_team_ensure(db, cli_get(&a, "--team"), now) != 0) goto dberr;
    /* one UPDATE, COALESCE keeps the fields that were not given */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
            "UPDATE keys SET name = COALESCE(?1, name), team = COALESCE(?2, team), user = COALESCE(?3, user), "
            "models = COALESCE(?4, models), tools = COALESCE(?5, tools), rpm = COALESCE(?6, rpm), "
            "tpm = COALESCE(?7, tpm), max_parallel = COALESCE(?8, max_parallel), "
            "expires_ms = CASE WHEN ?9 IS NULL THEN expires_ms WHEN ?9 = 0 THEN NULL ELSE ?9 END, "
            "metadata = COALESCE(?10, metadata) WHERE id = ?11", -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    const char *text_flags[] = {"--name", "--team", "--user", "--models", "--tools"};
    for (int i = 0; i < 5; i++) sqlite3_bind_text(st, i + 1, cli_get(&a, text_flags[i]), -1, SQLITE_STATIC);
    const char *num_flags[] = {"--rpm", "--tpm", "--max-parallel"};
    for (int i = 0; i < 3; i++)
        if (cli_get(&a, num_flags[i])) sqlite3_bind_int64(st, i + 6, count_or_zero(cli_get(&a, num_flags[i])));
    if (cli_get(&a, "--expires")) sqlite3_bind_int64(st, 9, expires);
    sqlite3_bind_text(st, 10, cli_get(&a, "--metadata"), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, k.id, -1, SQLITE_STATIC);
    int ok = sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    if (!ok || ldg_bump_generation(db) != 0 || ldg_commit(db) != 0) goto dberr;
    printf("updated key \"%s\" (id %s)\n", newname ? newname : k.name, k.id);
    rc = 0;
    goto free_key;
dberr:
    cli_fail("keys update", "ledger error: %s", sqlite3_errmsg(db));
rollback:
    ldg_rollback(db);
free_key:
    ldg_key_free(&k);
out:
    ldg_close(db);
    return rc;
}

int cmd_keys(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } subs[] = {{"create", keys_create}, {"list", keys_list},     {"show", keys_show},
                {"revoke", keys_revoke}, {"rotate", keys_rotate}, {"update", keys_update}};
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
        fputs(USAGE, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    for (size_t i = 0; i < OD_ARRAY_LEN(subs); i++)
        if (!strcmp(argv[0], subs[i].name)) return subs[i].fn(argc - 1, argv + 1);
    return cli_fail("keys", "unknown command \"%s\" (create, list, show, rotate, revoke, update)", argv[0]);
}
