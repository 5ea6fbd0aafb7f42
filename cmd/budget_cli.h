/* cmd/budget_cli.h — budget helpers shared by `odock budget` and `odock keys`. */
#ifndef CMD_BUDGET_CLI_H
#define CMD_BUDGET_CLI_H

#include "cli.h"
#include "../policies/ledger.h"

/* Reads --budget/--limit (dollars) and --period; *limit stays -1 when absent. */
int budget_parse_limit(const char *cmd, const cli_args *a, int64_t *limit, ldg_period *period);
/* Creates or changes the budget of a scope (inside the caller's transaction).
 * A changed period starts afresh; a changed limit keeps what was spent. */
int budget_upsert(sqlite3 *db, ldg_scope scope, const char *subject, int64_t limit, ldg_period period,
                  int64_t now);
/* Adds "budget": {...} (or null) for a key to obj. */
void budget_json_for_key(sqlite3 *db, const char *key_id, cJSON *obj, int64_t now);

#endif
