/* cmd/serve.c — `odock serve`: flags, config and ledger resolution, then
 * the gateway's loop until SIGTERM/SIGINT. */
#include "cli.h"
#include "../core/config.h"
#include "../gateway/gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
    fputs("usage: odock serve [--config FILE] [--listen HOST:PORT] [--db FILE]\n"
          "\n"
          "Runs the OpenAI- and Anthropic-compatible gateway: POST /v1/chat/completions,\n"
          "/v1/messages, /v1/embeddings; GET /v1/models, /healthz, /metrics.\n"
          "\n"
          "  --config FILE       odock.json (default: $ODOCK_CONFIG, else the embedded default)\n"
          "  --listen HOST:PORT  overrides the config's listen (default 127.0.0.1:8787)\n"
          "  --db FILE           the ledger (default: $ODOCK_DB, the config's database, ./odock.db)\n"
          "\n"
          "SIGTERM or SIGINT stops accepting requests, finishes those in flight and\n"
          "flushes the ledger. ODOCK_LOG=debug|info|warn|error sets the log level.\n",
          stdout);
}

int cmd_serve(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--config", 1, NULL},
        {"--listen", 1, NULL},
        {"--db", 1, NULL},
    };
    cli_args a;
    int rc = cli_parse("serve", argc, argv, flags, (int)OD_ARRAY_LEN(flags), &a);
    if (rc == 1) {
        usage();
        return 0;
    }
    if (rc < 0)
        return 2;
    if (a.npos > 0)
        return cli_fail("serve", "unexpected argument \"%s\" (see odock serve --help)", a.pos[0]);

    cli_log_level_from_env();
    od_config *cfg = cli_load_config("serve", &a);
    if (!cfg) return 1;
    const char *db = cli_db_path_for(&a, cfg);
    char *err = NULL;
    gw_server *s = gw_server_new(cfg, cli_get(&a, "--listen"), db, &err);
    if (!s) {
        fprintf(stderr, "odock serve: %s\n", err ? err : "cannot start");
        free(err);
        return 1;
    }
    rc = gw_server_run(s);
    gw_server_free(s);
    return rc;
}
