/* gateway/gateway.h — `odock serve`: the OpenAI/Anthropic-compatible LLM
 * gateway on one event loop. */
#ifndef GATEWAY_H
#define GATEWAY_H

#include "../core/config.h"

typedef struct gw_server gw_server;
typedef struct gw_shm gw_shm;

/* One of several worker processes (workers.c makes them). */
typedef struct gw_worker {
    int index, count;      /* this worker, of how many */
    int listen_fd;         /* the shared listening socket */
    int internal_fd;       /* worker 0: the internal socket others forward MCP to; else 0 */
    int internal_port;     /* its port */
    gw_shm *shm;           /* shared metrics slots and rate limits */
} gw_worker;

/* Takes ownership of cfg. listen overrides cfg->listen when not NULL; db is
 * the ledger path. NULL on error with *err set (caller frees). */
gw_server *gw_server_new(od_config *cfg, const char *listen, const char *db, char **err);
/* Serves until SIGTERM/SIGINT (gw_signalled), then drains in-flight requests
 * and returns 0. */
int gw_server_run(gw_server *s);
/* A worker: as gw_server_new, accepting on the master's sockets. */
gw_server *gw_server_new_worker(od_config *cfg, const char *listen, const char *db, const gw_worker *w,
                                char **err);
/* The master of n workers: forks them, restarts one that dies, stops them
 * on SIGTERM/SIGINT. Takes ownership of cfg. Returns the exit code; 1 with
 * *err set when it could not start. */
int gw_workers_run(od_config *cfg, const char *listen, const char *db, int n, char **err);
int gw_server_port(gw_server *s);
/* Flushes the ledger (pol_close) and frees everything. */
void gw_server_free(gw_server *s);

#endif
