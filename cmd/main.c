/* cmd/main.c — odock's entry point: dispatches to one file per subcommand. */
#include "cli.h"
#include "../core/json.h"

#include <stdio.h>
#include <string.h>

#define ODOCK_VERSION "0.1.0"

/* serve and mcp are linked in when their modules are built; weak so that the
 * administration commands work in a tree where they are not (yet). */
int cmd_serve(int argc, char **argv) __attribute__((weak));
int cmd_mcp(int argc, char **argv) __attribute__((weak));

static void usage(FILE *to)
{
    fputs("odock " ODOCK_VERSION " — a governing gateway for AI traffic\n"
          "\n"
          "usage: odock COMMAND [flags]\n"
          "\n"
          "  serve          run the OpenAI/Anthropic-compatible gateway and the /mcp endpoint\n"
          "  mcp            run the MCP multiplexer on stdin/stdout\n"
          "  keys           create, list, show, rotate, revoke and update virtual keys\n"
          "  teams          a team's grants and rate limits\n"
          "  budget         set, show and reset budgets\n"
          "  audit          reports over the ledger's events; tail; show one request\n"
          "  config check   validate a config file and print a summary\n"
          "  version        print the version\n"
          "\n"
          "Every command takes --help. The ledger is --db, $ODOCK_DB, the config's\n"
          "\"database\", or ./odock.db; the config is --config or $ODOCK_CONFIG.\n",
          to);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    od_json_init();
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        puts("odock " ODOCK_VERSION);
        return 0;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"serve", cmd_serve}, {"mcp", cmd_mcp},       {"keys", cmd_keys},
        {"budget", cmd_budget}, {"audit", cmd_audit}, {"config", cmd_config},
        {"teams", cmd_teams},
    };
    for (size_t i = 0; i < OD_ARRAY_LEN(cmds); i++)
        if (!strcmp(cmd, cmds[i].name)) {
            if (!cmds[i].fn) {
                fprintf(stderr, "odock: \"%s\" is not part of this build\n", cmd);
                return 2;
            }
            return cmds[i].fn(argc - 2, argv + 2);
        }
    fprintf(stderr, "odock: unknown command \"%s\" (see odock --help)\n", cmd);
    return 2;
}
