/* gateway/gateway.h — `odock serve`: the OpenAI/Anthropic-compatible LLM
 * gateway on one event loop. */
#ifndef GATEWAY_H
#define GATEWAY_H

#include "../core/config.h"

typedef struct gw_server gw_server;

/* Takes ownership of cfg. listen overrides cfg->listen when not NULL; db is
 * the ledger path. NULL on error with *err set (caller frees). */
gw_server *gw_server_new(od_config *cfg, const char *listen, const char *db, char **err);
/* Serves until SIGTERM/SIGINT (gw_signalled), then drains in-flight requests
 * and returns 0. */
int gw_server_run(gw_server *s);
int gw_server_port(gw_server *s);
/* Flushes the ledger (pol_close) and frees everything. */
void gw_server_free(gw_server *s);

#endif
