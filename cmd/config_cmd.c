/* cmd/config_cmd.c — odock config check: validate and summarise a config. */
#include "cli.h"
#include "../core/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *USAGE =
    "usage: odock config check [--config FILE]\n"
    "       odock config default        print the embedded default config\n"
    "\n"
    "Validates FILE (or $ODOCK_CONFIG, or the embedded default) and prints a summary;\n"
    "exits 1 listing every problem with its field path otherwise.\n";

static int config_check(int argc, char **argv)
{
    cli_flag f[] = {{"--config", 1, NULL}, {"--db", 1, NULL}};
    cli_args a;
    int rc = cli_parse("config check", argc, argv, f, (int)OD_ARRAY_LEN(f), &a);
    if (rc) return rc > 0 ? (fputs(USAGE, stdout), 0) : 1;
    const char *path = cli_get(&a, "--config");
    if (!path && a.npos) path = a.pos[0];
    if (!path) path = getenv("ODOCK_CONFIG");
    if (path && !*path) path = NULL;
    char *errors = NULL;
    od_config *cfg = od_config_load(path, &errors);
    if (!cfg) {
        fprintf(stderr, "odock config check: %s is not valid:\n%s", path ? path : "the embedded default",
                errors ? errors : "");
        free(errors);
        return 1;
    }
    printf("%s: ok\n", path ? path : "embedded default");
    printf("listen      %s\n", cfg->listen);
    printf("database    %s\n", cfg->database);
    if (cfg->workers == 0) printf("workers     one per core\n");
    else printf("workers     %d\n", cfg->workers);
    if (cfg->busy_poll_us > 0) printf("busy poll   %d us after I/O\n", cfg->busy_poll_us);
    printf("providers   %d\n", cfg->nproviders);
    for (int i = 0; i < cfg->nproviders; i++) {
        const od_provider_cfg *p = &cfg->providers[i];
        int needs_key = strcmp(p->type, "mock") && strcmp(p->type, "openai-compatible");
        printf("  %-16s %-18s %s%s\n", p->name, p->type, p->base_url ? p->base_url : "(default address)",
               needs_key && !p->api_key ? "  WARNING: no api_key (is its variable set?)" : "");
    }
    printf("models      %d\n", cfg->nmodels);
    for (int i = 0; i < cfg->nmodels; i++) {
        const od_model_cfg *m = &cfg->models[i];
        printf("  %-16s %-14s", m->name, m->strategy);
        for (int j = 0; j < m->ndeployments; j++)
            printf("%s%s/%s", j ? ", " : " ", m->deployments[j].provider, m->deployments[j].model);
        putchar('\n');
    }
    printf("prices      %d overrides\n", cfg->nprices);
    printf("mcp servers %d\n", cfg->nmcp_servers);
    for (int i = 0; i < cfg->nmcp_servers; i++) {
        const od_mcp_cfg *m = &cfg->mcp_servers[i];
        printf("  %-16s %-10s %s\n", m->name, m->transport, m->url ? m->url : m->command);
    }
    const od_guard_cfg *g = &cfg->guardrails;
    printf("guardrails  pii=%s secrets=%s injection=%s rules=%d\n", od_action_name(g->pii),
           od_action_name(g->secrets), od_action_name(g->injection), g->nrules);
    od_config_free(cfg);
    return 0;
}

int cmd_config(int argc, char **argv)
{
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
        fputs(USAGE, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (!strcmp(argv[0], "check")) return config_check(argc - 1, argv + 1);
    if (!strcmp(argv[0], "default")) {
        fputs(od_config_default_json(), stdout);
        return 0;
    }
    return cli_fail("config", "unknown command \"%s\" (check, default)", argv[0]);
}
