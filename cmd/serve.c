/* cmd/serve.c — `odock serve`: flags, config and ledger resolution, then
 * the gateway's loop until SIGTERM/SIGINT. */
#include "cli.h"
#include "../core/config.h"
#include "../gateway/gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(void)
{
    fputs("usage: odock serve [--config FILE] [--listen HOST:PORT] [--db FILE] [--workers N]\n"
          "\n"
          "Runs the OpenAI- and Anthropic-compatible gateway: POST /v1/chat/completions,\n"
          "/v1/messages, /v1/embeddings; GET /v1/models, /healthz, /metrics.\n"
          "\n"
          "  --config FILE       odock.json (default: $ODOCK_CONFIG, else the embedded default)\n"
          "  --listen HOST:PORT  overrides the config's listen (default 127.0.0.1:8787)\n"
          "  --db FILE           the ledger (default: $ODOCK_DB, the config's database, ./odock.db)\n"
          "  --workers N         processes serving the port, one event loop each (overrides the\n"
          "                      config's workers and $ODOCK_WORKERS; 0 = one per core; default 1)\n"
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
        {"--workers", 1, NULL},
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
    int workers = cfg->workers;
    const char *wv = cli_get(&a, "--workers");
    if (!wv)
        wv = getenv("ODOCK_WORKERS");
    if (wv) {
        int64_t v;
        if (od_parse_i64(wv, &v) < 0 || v < 0 || v > OD_MAX_WORKERS) {
            od_config_free(cfg);
            return cli_fail("serve", "%s: expected 0 to %d, got \"%s\"", cli_get(&a, "--workers") ? "--workers" : "ODOCK_WORKERS", OD_MAX_WORKERS, wv);
        }
        workers = (int)v;
    }
    if (workers == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        workers = cores < 1 ? 1 : cores > OD_MAX_WORKERS ? OD_MAX_WORKERS : (int)cores;
    }
    if (workers > 1) {
        rc = gw_workers_run(cfg, cli_get(&a, "--listen"), db, workers, &err);
        if (err) fprintf(stderr, "odock serve: %s\n", err);
        free(err);
        return rc;
    }
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
