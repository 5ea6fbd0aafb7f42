/* cmd/cli.c — flag parsing, ledger opening, tables and JSON for the CLI. */
#include "cli.h"
#include "../core/config.h"
#include "../policies/ledger.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "odock %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_parse(const char *cmd, int argc, char **argv, cli_flag *flags, int nflags, cli_args *out)
{
    memset(out, 0, sizeof *out);
    out->flags = flags;
    out->nflags = nflags;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) return 1;
        if (strncmp(arg, "--", 2) != 0 || !strcmp(arg, "--")) {
            if (out->npos == (int)OD_ARRAY_LEN(out->pos)) {
                cli_fail(cmd, "too many arguments at \"%s\"", arg);
                return -1;
            }
            out->pos[out->npos++] = arg;
            continue;
        }
        const char *eq = strchr(arg, '=');
        size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
        cli_flag *f = NULL;
        for (int k = 0; k < nflags; k++)
            if (strlen(flags[k].name) == nlen && !strncmp(flags[k].name, arg, nlen)) f = &flags[k];
        if (!f) {
            cli_fail(cmd, "unknown flag %.*s (see odock %s --help)", (int)nlen, arg, cmd);
            return -1;
        }
        if (!f->takes_value) {
            if (eq) {
                cli_fail(cmd, "%s takes no value", f->name);
                return -1;
            }
            f->value = "";
        } else if (eq) {
            f->value = eq + 1;
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            f->value = argv[++i];
        } else {
            cli_fail(cmd, "%s needs a value", f->name);
            return -1;
        }
        if (f->takes_value && !*f->value) {
            cli_fail(cmd, "%s needs a value", f->name);
            return -1;
        }
    }
    return 0;
}

const char *cli_get(const cli_args *a, const char *name)
{
    for (int i = 0; i < a->nflags; i++)
        if (!strcmp(a->flags[i].name, name)) return a->flags[i].value;
    return NULL;
}

int cli_has(const cli_args *a, const char *name)
{
    return cli_get(a, name) != NULL;
}

od_config *cli_load_config(const char *cmd, const cli_args *a)
{
    const char *path = cli_get(a, "--config");
    if (!path) path = getenv("ODOCK_CONFIG");
    if (path && !*path) path = NULL;
    char *errors = NULL;
    od_config *cfg = od_config_load(path, &errors);
    if (!cfg) {
        fprintf(stderr, "odock %s: invalid config %s:\n%s", cmd, path ? path : "(embedded default)",
                errors ? errors : "unknown error\n");
        free(errors);
    }
    return cfg;
}

const char *cli_db_path_for(const cli_args *a, const od_config *cfg)
{
    const char *p = cli_get(a, "--db");
    if (p) return p;
    p = getenv("ODOCK_DB");
    if (p && *p) return p;
    return cfg && cfg->database ? cfg->database : "./odock.db";
}

const char *cli_db_path(const cli_args *a)
{
    /* read the config only when one is named: the embedded default says ./odock.db */
    static char from_config[1024];
    const char *cfg_path = cli_get(a, "--config");
    if (!cfg_path) cfg_path = getenv("ODOCK_CONFIG");
    if (cli_get(a, "--db") || (getenv("ODOCK_DB") && *getenv("ODOCK_DB")) || !cfg_path || !*cfg_path)
        return cli_db_path_for(a, NULL);
    od_config *cfg = od_config_load(cfg_path, NULL);
    od_strlcpy(from_config, cli_db_path_for(a, cfg), sizeof from_config);
    od_config_free(cfg);
    return from_config;
}

void cli_log_level_from_env(void)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    const char *lv = getenv("ODOCK_LOG");
    for (int i = 0; lv && i < 4; i++)
        if (!strcmp(lv, names[i])) od_log_level = OD_LOG_DEBUG + i;
}

sqlite3 *cli_open_db(const char *cmd, const cli_args *a, int create)
{
    const char *path = cli_db_path(a);
    if (!create && access(path, F_OK) != 0) {
        cli_fail(cmd, "no ledger at %s (create a key first, or pass --db / set ODOCK_DB)", path);
        return NULL;
    }
    char *err = NULL;
    sqlite3 *db = ldg_open(path, create, &err);
    if (!db) {
        cli_fail(cmd, "%s", err);
        free(err);
    }
    return db;
}

/* ---- flag values shared by keys and teams ---- */

int cli_check_patterns(const char *cmd, const char *flag, const char *v)
{
    if (!v) return 0;
    const char *p = v;
    while (1) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == 0 || (n == 1 && *p == '!')) {
            cli_fail(cmd, "%s: empty pattern in \"%s\"", flag, v);
            return -1;
        }
        for (size_t i = 0; i < n; i++)
            if (p[i] == ' ' || p[i] == '\t' || (unsigned char)p[i] < 32) {
                cli_fail(cmd, "%s: pattern \"%.*s\" contains white space", flag, (int)n, p);
                return -1;
            }
        if (!comma) break;
        p = comma + 1;
    }
    return 0;
}

int cli_parse_count(const char *cmd, const char *flag, const char *v, int64_t *out)
{
    if (!v) return 0;
    if (od_parse_i64(v, out) != 0 || *out < 0 || *out > 1000000000000LL) {
        cli_fail(cmd, "%s: expected a whole number >= 0, got \"%s\"", flag, v);
        return -1;
    }
    return 0;
}

/* ---- tables ---- */

void cli_table_init(cli_table *t, int ncols, const char *const *heads, const char *align)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    t->heads = heads;
    t->align = align;
}

void cli_table_row(cli_table *t, ...)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = od_realloc(t->cells, (size_t)t->cap * (size_t)t->ncols * sizeof *t->cells);
    }
    va_list ap;
    va_start(ap, t);
    for (int c = 0; c < t->ncols; c++) {
        const char *s = va_arg(ap, const char *);
        t->cells[t->nrows * t->ncols + c] = od_strdup(s && *s ? s : "-");
    }
    va_end(ap);
    t->nrows++;
}

void cli_table_print(cli_table *t)
{
    int w[32] = {0};
    for (int c = 0; c < t->ncols && c < 32; c++) {
        w[c] = (int)strlen(t->heads[c]);
        for (int r = 0; r < t->nrows; r++) {
            int l = (int)strlen(t->cells[r * t->ncols + c]);
            if (l > w[c]) w[c] = l;
        }
    }
    for (int r = -1; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const char *s = r < 0 ? t->heads[c] : t->cells[r * t->ncols + c];
            int last = c == t->ncols - 1;
            if (t->align[c] == 'r') printf("%*s", w[c], s);
            else if (last) fputs(s, stdout);
            else printf("%-*s", w[c], s);
            if (!last) fputs("  ", stdout);
        }
        fputc('\n', stdout);
    }
    if (t->nrows == 0) puts("(none)");
}

void cli_table_free(cli_table *t)
{
    for (int i = 0; i < t->nrows * t->ncols; i++) free(t->cells[i]);
    free(t->cells);
}

/* ---- JSON ---- */

void cli_json_i64(cJSON *obj, const char *name, int64_t v)
{
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)v);
    cJSON_AddItemToObject(obj, name, cJSON_CreateRaw(num));
}

void cli_json_money(cJSON *obj, const char *name, int64_t micros)
{
    char m[32];
    cJSON_AddStringToObject(obj, name, od_money_fmt(micros, m));
}

void cli_json_str(cJSON *obj, const char *name, const char *s)
{
    if (s) cJSON_AddStringToObject(obj, name, s);
    else cJSON_AddNullToObject(obj, name);
}

void cli_json_time(cJSON *obj, const char *name, int64_t ms)
{
    char t[32];
    if (ms > 0) cJSON_AddStringToObject(obj, name, od_time_fmt(ms, t));
    else cJSON_AddNullToObject(obj, name);
}

void cli_json_print(cJSON *j)
{
    char *s = cJSON_Print(j);
    puts(s);
    free(s);
    cJSON_Delete(j);
}
