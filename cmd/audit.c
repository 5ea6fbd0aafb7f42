/* cmd/audit.c — odock audit: reports over the ledger's events, tail, show. */
#include "cli.h"
#include "../policies/ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>

static const char *USAGE =
    "usage: odock audit [filters] [--by GROUP] [--format table|json|csv] [--limit N]\n"
    "       odock audit tail [-f|--follow] [filters] [--format table|json]\n"
    "       odock audit show REQUEST_ID [--format table|json]\n"
    "\n"
    "filters: --since 24h|7d|DATE  --until DATE|DURATION  --key ID|NAME  --team T\n"
    "         --model M  --tool SERVER/TOOL  --status ok|denied|error  --reason R\n"
    "GROUP:   key, team, model, provider, tool, reason, day, hour (requests, denials,\n"
    "         errors, tokens, cost, p50/p95 latency per group)\n"
    "Without --by, lists events, newest first (default --limit 100).\n"
    "Common flags: --db PATH, --config FILE.\n";

#define AUDIT_FLAGS {"--db", 1, NULL}, {"--config", 1, NULL}, {"--since", 1, NULL}, {"--until", 1, NULL}, \
    {"--key", 1, NULL}, {"--team", 1, NULL}, {"--model", 1, NULL}, {"--tool", 1, NULL},                 \
    {"--status", 1, NULL}, {"--reason", 1, NULL}, {"--format", 1, NULL}, {"--limit", 1, NULL}

typedef struct filter {
    od_buf where;          /* " AND ..." clauses */
    const char *params[16];
    int nparams;
    int64_t since, until;
    int fmt;               /* 0 table, 1 json, 2 csv */
    int64_t limit;
} filter;

static void add_clause(filter *f, const char *clause, const char *param)
{
    od_buf_printf(&f->where, " AND %s", clause);
    if (param) f->params[f->nparams++] = param;
}

/* Reads the filter flags; resolves a key name to its id. -1 after an error. */
static int parse_filter(const char *cmd, sqlite3 *db, const cli_args *a, filter *f, char key_id[16])
{
    memset(f, 0, sizeof *f);
    int64_t now = od_wall_ms();
    od_buf_puts(&f->where, "1=1");
    const char *s;
    if ((s = cli_get(a, "--since")) && od_when_parse(s, now, 0, &f->since) != 0)
        return cli_fail(cmd, "--since: expected a duration (24h, 7d) or a date (2026-11-01), got \"%s\"", s) ? -1 : -1;
    if ((s = cli_get(a, "--until")) && od_when_parse(s, now, 0, &f->until) != 0)
        return cli_fail(cmd, "--until: expected a duration (1h) or a date, got \"%s\"", s) ? -1 : -1;
    if (f->since) od_buf_printf(&f->where, " AND ts_ms >= %lld", (long long)f->since);
    if (f->until) od_buf_printf(&f->where, " AND ts_ms < %lld", (long long)f->until);
    if ((s = cli_get(a, "--key"))) {
        ldg_key k;
        int rc = ldg_key_find(db, s, &k);
        if (rc == 0) {
            snprintf(key_id, 16, "%s", k.id);
            ldg_key_free(&k);
        } else {
            snprintf(key_id, 16, "%s", s); /* events may outlive a key row: match the id as given */
        }
        add_clause(f, "key_id = ?", key_id);
    }
    if ((s = cli_get(a, "--team"))) add_clause(f, "team = ?", s);
    if ((s = cli_get(a, "--model"))) {
        add_clause(f, "kind = 'llm' AND (target = ? OR model = ?)", s);
        f->params[f->nparams++] = s;
    }
    if ((s = cli_get(a, "--tool"))) add_clause(f, "kind = 'tool' AND target GLOB ?", s);
    if ((s = cli_get(a, "--status"))) {
        if (strcmp(s, "ok") && strcmp(s, "denied") && strcmp(s, "error"))
            return cli_fail(cmd, "--status: expected ok, denied or error, got \"%s\"", s) ? -1 : -1;
        add_clause(f, "status = ?", s);
    }
    if ((s = cli_get(a, "--reason"))) add_clause(f, "reason = ?", s);
    s = cli_get(a, "--format");
    if (!s || !strcmp(s, "table")) f->fmt = 0;
    else if (!strcmp(s, "json")) f->fmt = 1;
    else if (!strcmp(s, "csv")) f->fmt = 2;
    else return cli_fail(cmd, "--format: expected table, json or csv, got \"%s\"", s) ? -1 : -1;
    f->limit = 100;
    if ((s = cli_get(a, "--limit")) && (od_parse_i64(s, &f->limit) != 0 || f->limit < 1))
        return cli_fail(cmd, "--limit: expected a whole number >= 1, got \"%s\"", s) ? -1 : -1;
    return 0;
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql, const filter *f)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return NULL;
    for (int i = 0; i < f->nparams; i++) sqlite3_bind_text(st, i + 1, f->params[i], -1, SQLITE_STATIC);
    return st;
}

/* ---- CSV ---- */

static void csv_field(const char *s, int last)
{
    if (!s) s = "";
    if (strpbrk(s, ",\"\n\r")) {
        putchar('"');
        for (const char *p = s; *p; p++) {
            if (*p == '"') putchar('"');
            putchar(*p);
        }
        putchar('"');
    } else {
        fputs(s, stdout);
    }
    putchar(last ? '\n' : ',');
}

/* Prints a JSON array of flat objects as CSV with the given columns. */
static void print_csv(cJSON *arr, const char *const *cols, int ncols)
{
    for (int c = 0; c < ncols; c++) csv_field(cols[c], c == ncols - 1);
    for (cJSON *o = arr->child; o; o = o->next)
        for (int c = 0; c < ncols; c++) {
            cJSON *v = cJSON_GetObjectItem(o, cols[c]);
            char *text = NULL;
            const char *s = NULL;
            if (cJSON_IsString(v)) s = v->valuestring;
            else if (v && !cJSON_IsNull(v)) s = text = cJSON_PrintUnformatted(v);
            csv_field(s, c == ncols - 1);
            free(text);
        }
}

/* ---- event rows ---- */

#define EVENT_COLS "ts_ms, request_id, key_id, team, user, kind, target, provider, model, status, " \
                   "http_status, reason, prompt_tokens, completion_tokens, cached_tokens, cost_micros, " \
                   "latency_us, ttft_us, attempts, bytes_in, bytes_out, findings, id"

static const char *col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static cJSON *event_json(sqlite3_stmt *st)
{
    cJSON *o = cJSON_CreateObject();
    cli_json_time(o, "time", sqlite3_column_int64(st, 0));
    cli_json_i64(o, "ts_ms", sqlite3_column_int64(st, 0));
    static const char *const text_cols[] = {NULL, "request_id", "key_id", "team", "user", "kind",
                                            "target", "provider", "model", "status"};
    for (int i = 1; i <= 9; i++) cli_json_str(o, text_cols[i], col(st, i));
    cli_json_i64(o, "http_status", sqlite3_column_int64(st, 10));
    cli_json_str(o, "reason", col(st, 11));
    cli_json_i64(o, "prompt_tokens", sqlite3_column_int64(st, 12));
    cli_json_i64(o, "completion_tokens", sqlite3_column_int64(st, 13));
    cli_json_i64(o, "cached_tokens", sqlite3_column_int64(st, 14));
    cli_json_money(o, "cost", sqlite3_column_int64(st, 15));
    cli_json_i64(o, "cost_micros", sqlite3_column_int64(st, 15));
    cli_json_i64(o, "latency_us", sqlite3_column_int64(st, 16));
    if (sqlite3_column_type(st, 17) == SQLITE_NULL) cJSON_AddNullToObject(o, "ttft_us");
    else cli_json_i64(o, "ttft_us", sqlite3_column_int64(st, 17));
    cli_json_i64(o, "attempts", sqlite3_column_int64(st, 18));
    cli_json_i64(o, "bytes_in", sqlite3_column_int64(st, 19));
    cli_json_i64(o, "bytes_out", sqlite3_column_int64(st, 20));
    cJSON *fnd = col(st, 21) ? cJSON_Parse(col(st, 21)) : NULL;
    cJSON_AddItemToObject(o, "findings", fnd ? fnd : cJSON_CreateNull());
    return o;
}

static const char *const EVENT_CSV[] = {"time", "request_id", "key_id", "team", "user", "kind", "target",
                                        "provider", "model", "status", "http_status", "reason",
                                        "prompt_tokens", "completion_tokens", "cached_tokens", "cost",
                                        "cost_micros", "latency_us", "ttft_us", "attempts"};

static void fmt_ms(int64_t us, char *out, size_t n)
{
    snprintf(out, n, "%lld.%01lld", (long long)(us / 1000), (long long)(us % 1000 / 100));
}

static void event_row(cli_table *t, sqlite3_stmt *st)
{
    char when[32], tokens[48], cost[32], lat[32];
    od_time_fmt(sqlite3_column_int64(st, 0), when);
    snprintf(tokens, sizeof tokens, "%lld/%lld", (long long)sqlite3_column_int64(st, 12),
             (long long)sqlite3_column_int64(st, 13));
    od_money_fmt(sqlite3_column_int64(st, 15), cost);
    fmt_ms(sqlite3_column_int64(st, 16), lat, sizeof lat);
    cli_table_row(t, when, col(st, 1), col(st, 2), col(st, 5), col(st, 6), col(st, 7), col(st, 9),
                  col(st, 11), tokens, cost, lat);
}

static const char *const EVENT_HEADS[] = {"TIME", "REQUEST", "KEY", "KIND", "TARGET", "PROVIDER",
                                          "STATUS", "REASON", "TOKENS IN/OUT", "COST", "MS"};

static int list_events(sqlite3 *db, filter *f)
{
    od_buf sql = {0};
    od_buf_printf(&sql, "SELECT " EVENT_COLS " FROM events WHERE %s ORDER BY ts_ms DESC, id DESC LIMIT %lld",
                  f->where.p, (long long)f->limit);
    sqlite3_stmt *st = prepare(db, sql.p, f);
    od_buf_free(&sql);
    if (!st) return cli_fail("audit", "ledger error: %s", sqlite3_errmsg(db));
    cJSON *arr = cJSON_CreateArray();
    cli_table t;
    cli_table_init(&t, 11, EVENT_HEADS, "lllllllllrr");
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (f->fmt) cJSON_AddItemToArray(arr, event_json(st));
        else event_row(&t, st);
    }
    sqlite3_finalize(st);
    if (f->fmt == 1) cli_json_print(arr);
    else {
        if (f->fmt == 2) print_csv(arr, EVENT_CSV, (int)OD_ARRAY_LEN(EVENT_CSV));
        else cli_table_print(&t);
        cJSON_Delete(arr);
    }
    cli_table_free(&t);
    return 0;
}

/* ---- grouped reports ---- */

typedef struct group {
    char *name;
    int64_t requests, denied, errors, prompt, completion, cost;
    int64_t *lat;
    int nlat, cap;
} group;

static int64_t percentile(const group *g, int pct)
{
    if (!g->nlat) return 0;
    int idx = (int)(((int64_t)pct * g->nlat + 99) / 100) - 1; /* nearest rank */
    if (idx < 0) idx = 0;
    return g->lat[idx];
}

static const char *group_expr(const char *by, const char **extra)
{
    *extra = "";
    if (!strcmp(by, "key")) return "key_id";
    if (!strcmp(by, "team")) return "team";
    if (!strcmp(by, "model")) {
        *extra = " AND kind = 'llm'";
        return "target";
    }
    if (!strcmp(by, "provider")) return "provider";
    if (!strcmp(by, "tool")) {
        *extra = " AND kind = 'tool'";
        return "target";
    }
    if (!strcmp(by, "reason")) return "reason";
    if (!strcmp(by, "day")) return "strftime('%Y-%m-%d', ts_ms / 1000, 'unixepoch')";
    if (!strcmp(by, "hour")) return "strftime('%Y-%m-%dT%H:00', ts_ms / 1000, 'unixepoch')";
    return NULL;
}

static int grouped(sqlite3 *db, filter *f, const char *by)
{
    const char *extra;
    const char *expr = group_expr(by, &extra);
    if (!expr)
        return cli_fail("audit", "--by: expected key, team, model, provider, tool, reason, day or hour, got \"%s\"", by);
    od_buf sql = {0};
    od_buf_printf(&sql, "SELECT %s AS g, count(*), sum(status = 'denied'), sum(status = 'error'), "
                        "sum(prompt_tokens), sum(completion_tokens), sum(cost_micros) FROM events "
                        "WHERE %s%s GROUP BY g ORDER BY g",
                  expr, f->where.p, extra);
    sqlite3_stmt *st = prepare(db, sql.p, f);
    group *gs = NULL;
    int n = 0, cap = 0, rc = 1;
    if (!st) goto dberr;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            gs = od_realloc(gs, (size_t)cap * sizeof *gs);
        }
        group *g = &gs[n++];
        memset(g, 0, sizeof *g);
        g->name = od_strdup(col(st, 0) ? col(st, 0) : "");
        g->requests = sqlite3_column_int64(st, 1);
        g->denied = sqlite3_column_int64(st, 2);
        g->errors = sqlite3_column_int64(st, 3);
        g->prompt = sqlite3_column_int64(st, 4);
        g->completion = sqlite3_column_int64(st, 5);
        g->cost = sqlite3_column_int64(st, 6);
    }
    sqlite3_finalize(st);
    /* latencies of the requests that reached a decision to call (not denials) */
    od_buf_reset(&sql);
    od_buf_printf(&sql, "SELECT COALESCE(%s, ''), latency_us FROM events WHERE %s%s AND status != 'denied' "
                        "AND latency_us IS NOT NULL ORDER BY 1, 2",
                  expr, f->where.p, extra);
    st = prepare(db, sql.p, f);
    if (!st) goto dberr;
    int gi = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = col(st, 0);
        while (gi < n && strcmp(gs[gi].name, name) < 0) gi++;
        if (gi == n || strcmp(gs[gi].name, name)) continue;
        group *g = &gs[gi];
        if (g->nlat == g->cap) {
            g->cap = g->cap ? g->cap * 2 : 64;
            g->lat = od_realloc(g->lat, (size_t)g->cap * sizeof *g->lat);
        }
        g->lat[g->nlat++] = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);

    cJSON *arr = cJSON_CreateArray();
    static const char *const heads[] = {"GROUP", "REQUESTS", "DENIED", "ERRORS", "PROMPT TOK", "COMPL TOK",
                                        "COST", "P50 MS", "P95 MS"};
    cli_table t;
    cli_table_init(&t, 9, heads, "lrrrrrrrr");
    for (int i = 0; i < n; i++) {
        group *g = &gs[i];
        cJSON *o = cJSON_CreateObject();
        cli_json_str(o, by, *g->name ? g->name : NULL);
        cli_json_i64(o, "requests", g->requests);
        cli_json_i64(o, "denied", g->denied);
        cli_json_i64(o, "errors", g->errors);
        cli_json_i64(o, "prompt_tokens", g->prompt);
        cli_json_i64(o, "completion_tokens", g->completion);
        cli_json_money(o, "cost", g->cost);
        cli_json_i64(o, "cost_micros", g->cost);
        cli_json_i64(o, "p50_latency_us", percentile(g, 50));
        cli_json_i64(o, "p95_latency_us", percentile(g, 95));
        cJSON_AddItemToArray(arr, o);
        char c[7][32];
        snprintf(c[0], 32, "%lld", (long long)g->requests);
        snprintf(c[1], 32, "%lld", (long long)g->denied);
        snprintf(c[2], 32, "%lld", (long long)g->errors);
        snprintf(c[3], 32, "%lld", (long long)g->prompt);
        snprintf(c[4], 32, "%lld", (long long)g->completion);
        fmt_ms(percentile(g, 50), c[5], 32);
        fmt_ms(percentile(g, 95), c[6], 32);
        char cost[32];
        cli_table_row(&t, *g->name ? g->name : "(none)", c[0], c[1], c[2], c[3], c[4],
                      od_money_fmt(g->cost, cost), c[5], c[6]);
    }
    if (f->fmt == 1) cli_json_print(arr);
    else {
        if (f->fmt == 2) {
            const char *cols[] = {by, "requests", "denied", "errors", "prompt_tokens", "completion_tokens",
                                  "cost", "cost_micros", "p50_latency_us", "p95_latency_us"};
            print_csv(arr, cols, (int)OD_ARRAY_LEN(cols));
        } else {
            cli_table_print(&t);
        }
        cJSON_Delete(arr);
    }
    cli_table_free(&t);
    rc = 0;
    goto out;
dberr:
    cli_fail("audit", "ledger error: %s", sqlite3_errmsg(db));
out:
    for (int i = 0; i < n; i++) {
        free(gs[i].name);
        free(gs[i].lat);
    }
    free(gs);
    od_buf_free(&sql);
    return rc;
}

/* ---- show and tail ---- */

static int audit_show(sqlite3 *db, const cli_args *a, const filter *f)
{
    if (a->npos != 2) return cli_fail("audit show", "expected one request id");
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT " EVENT_COLS " FROM events WHERE request_id = ? ORDER BY id DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return cli_fail("audit show", "ledger error: %s", sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, a->pos[1], -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return cli_fail("audit show", "no event with request id \"%s\"", a->pos[1]);
    }
    cJSON *o = event_json(st);
    sqlite3_finalize(st);
    if (f->fmt == 1) {
        cli_json_print(o);
        return 0;
    }
    for (cJSON *it = o->child; it; it = it->next) {
        char *v = cJSON_IsString(it) ? NULL : cJSON_PrintUnformatted(it);
        printf("%-18s %s\n", it->string, cJSON_IsString(it) ? it->valuestring : cJSON_IsNull(it) ? "-" : v);
        free(v);
    }
    cJSON_Delete(o);
    return 0;
}

static volatile sig_atomic_t tail_stop;
static void on_sigint(int sig)
{
    (void)sig;
    tail_stop = 1;
}

static int audit_tail(sqlite3 *db, const cli_args *a, filter *f)
{
    int follow = 0;
    for (int i = 1; i < a->npos; i++) {
        if (!strcmp(a->pos[i], "-f")) follow = 1;
        else return cli_fail("audit tail", "unexpected argument \"%s\"", a->pos[i]);
    }
    if (cli_has(a, "--follow")) follow = 1;
    if (!cli_has(a, "--limit")) f->limit = 10;
    int64_t last = 0;
    od_buf sql = {0};
    /* the newest N, oldest first, then everything after the last id seen */
    od_buf_printf(&sql, "SELECT * FROM (SELECT " EVENT_COLS " FROM events WHERE %s ORDER BY id DESC LIMIT %lld) "
                        "ORDER BY id",
                  f->where.p, (long long)f->limit);
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    int first = 1, rc = 0;
    while (!tail_stop) {
        sqlite3_stmt *st = prepare(db, sql.p, f);
        if (!st) {
            rc = cli_fail("audit tail", "ledger error: %s", sqlite3_errmsg(db));
            break;
        }
        if (!first) sqlite3_bind_int64(st, f->nparams + 1, last);
        while (sqlite3_step(st) == SQLITE_ROW) {
            last = sqlite3_column_int64(st, 22);
            if (f->fmt == 1) {
                cJSON *o = event_json(st);
                char *s = cJSON_PrintUnformatted(o);
                puts(s);
                free(s);
                cJSON_Delete(o);
            } else {
                cli_table t;
                cli_table_init(&t, 11, EVENT_HEADS, "lllllllllrr");
                event_row(&t, st);
                /* one line per event: no header, columns separated by two spaces */
                for (int c = 0; c < 11; c++) printf("%s%s", t.cells[c], c == 10 ? "\n" : "  ");
                cli_table_free(&t);
            }
        }
        sqlite3_finalize(st);
        fflush(stdout);
        if (!follow) break;
        if (first) {
            first = 0;
            od_buf_reset(&sql);
            od_buf_printf(&sql, "SELECT " EVENT_COLS " FROM events WHERE %s AND id > ? ORDER BY id", f->where.p);
        }
        usleep(200000);
    }
    od_buf_free(&sql);
    return rc;
}

int cmd_audit(int argc, char **argv)
{
    cli_flag fl[] = {AUDIT_FLAGS, {"--by", 1, NULL}, {"--follow", 0, NULL}};
    cli_args a;
    int rc = cli_parse("audit", argc, argv, fl, (int)OD_ARRAY_LEN(fl), &a);
    if (rc) return rc > 0 ? (fputs(USAGE, stdout), 0) : 1;
    const char *sub = a.npos ? a.pos[0] : NULL;
    if (sub && strcmp(sub, "tail") && strcmp(sub, "show"))
        return cli_fail("audit", "unknown command \"%s\" (tail, show, or flags only)", sub);
    sqlite3 *db = cli_open_db("audit", &a, 0);
    if (!db) return 1;
    filter f;
    char key_id[16];
    rc = 1;
    if (parse_filter("audit", db, &a, &f, key_id) != 0) goto out;
    if (sub && !strcmp(sub, "show")) rc = audit_show(db, &a, &f);
    else if (sub) rc = audit_tail(db, &a, &f);
    else if (cli_has(&a, "--by")) rc = grouped(db, &f, cli_get(&a, "--by"));
    else rc = list_events(db, &f);
out:
    od_buf_free(&f.where);
    ldg_close(db);
    return rc;
}
