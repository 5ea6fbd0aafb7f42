/* gateway/server.c — the server's life: tunables, the loop, the 100 ms tick
 * (pol_tick, shutdown), graceful drain on SIGTERM/SIGINT. */
#include "conn.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

volatile sig_atomic_t gw_signalled;

static void on_signal(int sig)
{
    gw_signalled = sig;
}

static gw_server *server_new(od_config *cfg, const char *listen, const char *db, const gw_worker *w, char **err)
{
    gw_server *s = od_calloc(1, sizeof *s);
    s->cfg = cfg;
    s->t = cfg->router;
    od_router_env(&s->t);
    s->max_body = cfg->max_body_bytes > 0 ? cfg->max_body_bytes : 10 * 1024 * 1024;
    od_strlcpy(s->listen, listen ? listen : cfg->listen ? cfg->listen : "127.0.0.1:8787", sizeof s->listen);
    s->pol = pol_open(cfg, db, err);
    if (!s->pol)
        goto fail;
    s->nworkers = 1;
    if (w) {
        s->worker = w->index;
        s->nworkers = w->count;
        s->fwd_port = w->index ? w->internal_port : 0;
        /* worker 0 answers a relay by the slowest MCP server's timeout */
        s->fwd_idle_ms = 60000;
        for (int i = 0; i < cfg->nmcp_servers; i++)
            if (cfg->mcp_servers[i].timeout_ms + 30000L > s->fwd_idle_ms)
                s->fwd_idle_ms = cfg->mcp_servers[i].timeout_ms + 30000L;
        s->shm = w->shm;
        if (pol_use_shared_rl(s->pol, gw_shm_rl(w->shm), w->index) < 0) {
            *err = od_strdup("worker index out of range");
            goto fail;
        }
    }
    s->router = gw_router_new(cfg, &s->t);
    s->metrics = gw_metrics_new();
    od_loop_opts o = {
        .listen = s->listen,
        .protocols = gw_http_protocols(),
        .tls_cert = cfg->tls_cert,
        .tls_key = cfg->tls_key,
        .max_http_header_data = 32768,
        .timeout_secs = s->t.header_timeout_s,
        .user = s,
        .os_ca = od_config_needs_ws_tls(cfg),
        .listen_fd = w ? w->listen_fd : 0,
        .plain_fd = w ? w->internal_fd : 0,
        .on_plain = gw_h1s_adopt,
        .busy_poll_us = cfg->busy_poll_us,
    };
    s->loop = od_loop_new(&o, err);
    if (!s->loop)
        goto fail;
    gw_mcp_front_init(s);
    if (!s->fwd_port)
        gw_mcp_start(s); /* other workers relay MCP to worker 0 */
    return s;
fail:
    gw_server_free(s);
    return NULL;
}

gw_server *gw_server_new(od_config *cfg, const char *listen, const char *db, char **err)
{
    return server_new(cfg, listen, db, NULL, err);
}

gw_server *gw_server_new_worker(od_config *cfg, const char *listen, const char *db, const gw_worker *w,
                                char **err)
{
    return server_new(cfg, listen, db, w, err);
}

int gw_server_port(gw_server *s)
{
    return od_loop_port(s->loop);
}

static void tick(od_timer *t, void *ud)
{
    gw_server *s = ud;
    int64_t now = od_mono_us();
    (void)t;
    pol_tick(s->pol);
    gw_shm_publish(s);
    gw_http_sweep(s, s->draining);
    if (gw_signalled && !s->draining) {
        s->draining = 1;
        s->drain_deadline_us = now + (int64_t)s->t.drain_timeout_ms * 1000;
        gw_mcp_drain(s); /* before counting: a held initialize need not wait for slow servers */
        od_info("odock serve: shutting down, %d request(s) in flight", s->inflight + gw_mcp_pending(s));
    }
    if (s->draining) {
        int busy = s->inflight + gw_mcp_pending(s); /* MCP requests in flight finish too */
        if (busy > 0 && now >= s->drain_deadline_us) {
            od_warn("odock serve: drain timeout, aborting %d request(s)", busy);
            gw_calls_abort_all(s);
            gw_forward_abort_all(s);
            od_loop_stop(s->loop); /* MCP calls left end with their sessions */
            return;
        }
        if (busy == 0) {
            od_loop_stop(s->loop);
            return;
        }
    }
    od_timer_start(s->loop, &s->tick, 100000, tick, s);
}

static void stop_cb(od_timer *t, void *ud)
{
    gw_server *s = ud;
    (void)t;
    od_loop_stop(s->loop);
}

int gw_server_run(gw_server *s)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    od_timer_start(s->loop, &s->tick, 100000, tick, s);
    const char *scheme = s->cfg->tls_cert ? "https" : "http";
    char host[256];
    od_strlcpy(host, s->listen, sizeof host);
    char *colon = strrchr(host, ':');
    if (colon) *colon = 0;
    if (s->nworkers == 1) /* else the master says it */
        od_info("odock serve: listening on %s://%s:%d", scheme, host, gw_server_port(s));
    od_loop_run(s->loop);
    /* responses already queued (errors of aborted calls) get a moment to go out */
    od_timer_stop(&s->tick);
    od_timer_start(s->loop, &s->tick, 200000, stop_cb, s);
    od_loop_run(s->loop);
    return 0;
}

void gw_server_free(gw_server *s)
{
    if (!s)
        return;
    if (s->loop) {
        gw_calls_abort_all(s);
        gw_forward_abort_all(s);
        gw_mcp_stop(s); /* MCP sessions end: in-flight tool calls recorded client_closed */
        gw_http_unwatch_all(s); /* od_loop_free frees the watches */
        gw_h1s_close_all(s);
        od_timer_stop(&s->tick);
        od_loop_free(s->loop); /* closes connections: DROP_PROTOCOL on each */
    }
    if (s->pol)
        pol_close(s->pol); /* flushes the ledger */
    gw_router_free(s->router);
    gw_metrics_free(s->metrics);
    od_config_free(s->cfg);
    free(s);
}
