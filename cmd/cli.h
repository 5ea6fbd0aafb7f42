/* cmd/cli.h — what every subcommand shares: flag parsing, opening the
 * ledger, tables, JSON output. */
#ifndef CMD_CLI_H
#define CMD_CLI_H

#include <stdint.h>
#include <sqlite3.h>
#include <cjson/cJSON.h>
#include "../core/od.h"

/* ---- flags ----
 * A command declares its flags; cli_parse fills values (NULL when absent;
 * "" for a boolean flag that was given) and collects positional words. */
typedef struct cli_flag {
    const char *name;   /* "--team" */
    int takes_value;
    const char *value;  /* filled */
} cli_flag;

typedef struct cli_args {
    cli_flag *flags;
    int nflags;
    const char *pos[8];
    int npos;
} cli_args;

/* Returns 0, or -1 after printing "odock CMD: ..." to stderr. Recognises
 * --help itself (returns 1: print usage). */
int cli_parse(const char *cmd, int argc, char **argv, cli_flag *flags, int nflags, cli_args *out);
const char *cli_get(const cli_args *a, const char *name);
int cli_has(const cli_args *a, const char *name);

/* Prints "odock CMD: message" to stderr; returns 1 (the exit code). */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The config named by --config or $ODOCK_CONFIG, else the embedded
 * default. NULL after printing every problem to stderr. */
struct od_config *cli_load_config(const char *cmd, const cli_args *a);
/* The ledger path: --db, $ODOCK_DB, the config's database, ./odock.db.
 * cli_db_path_for takes an already loaded config (or NULL). */
const char *cli_db_path(const cli_args *a);
const char *cli_db_path_for(const cli_args *a, const struct od_config *cfg);
/* ODOCK_LOG=debug|info|warn|error sets the log level. */
void cli_log_level_from_env(void);
/* Opens the ledger; for read-only commands (create == 0) a missing file is
 * an error naming the path. NULL after printing the error. */
sqlite3 *cli_open_db(const char *cmd, const cli_args *a, int create);

/* Grant patterns: comma-separated, none empty, no white space. 0 ok. */
int cli_check_patterns(const char *cmd, const char *flag, const char *v);
/* A whole number >= 0 (limits); v NULL leaves *out alone. 0 ok. */
int cli_parse_count(const char *cmd, const char *flag, const char *v, int64_t *out);

/* ---- output ---- */
typedef struct cli_table {
    int ncols;
    const char *const *heads;
    const char *align; /* 'l' or 'r' per column */
    char **cells;      /* row-major */
    int nrows, cap;
} cli_table;
void cli_table_init(cli_table *t, int ncols, const char *const *heads, const char *align);
void cli_table_row(cli_table *t, ...); /* ncols const char * values (NULL prints "-") */
void cli_table_print(cli_table *t);
void cli_table_free(cli_table *t);

void cli_json_i64(cJSON *obj, const char *name, int64_t v); /* exact, never through a double */
void cli_json_money(cJSON *obj, const char *name, int64_t micros); /* "12.345678" */
void cli_json_str(cJSON *obj, const char *name, const char *s);   /* null when s == NULL */
void cli_json_time(cJSON *obj, const char *name, int64_t ms);     /* ISO string or null when 0 */
void cli_json_print(cJSON *j); /* prints and frees */

/* Subcommands */
int cmd_keys(int argc, char **argv);
int cmd_budget(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_teams(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_mcp(int argc, char **argv);

#endif
