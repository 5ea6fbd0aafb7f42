/* cmd/mcp.c — `odock mcp`: the multiplexer as an MCP server on stdin/stdout.
 * stdout carries protocol messages only (one JSON-RPC message per line);
 * every log line goes to stderr. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/config.h"
#include "../core/loop.h"
#include "../mcp/jsonrpc.h"
#include "../mcp/mcp.h"
#include "../policies/pol.h"
#include "cli.h"

static od_loop *g_loop;
static volatile sig_atomic_t g_signalled;

typedef struct mcp_cmd {
    od_loop *loop;
    pol_engine *pol;
    mcp_session *s;
    od_fd *w_in;
    mcp_lines lines;
    int eof;
    int64_t eof_at_us;
    od_timer tick;
} mcp_cmd;

static void on_signal(int sig)
{
    (void)sig;
    g_signalled = 1;
    if (g_loop) od_loop_stop(g_loop);
}

/* stdout is the client's: write whole lines, waiting out EAGAIN */
static void write_all(const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(1, p, n);
        if (w > 0) { p += w; n -= (size_t)w; continue; }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) {
            struct pollfd pfd = {.fd = 1, .events = POLLOUT};
            poll(&pfd, 1, 1000);
            continue;
        }
        return; /* the client is gone; stdin EOF ends us */
    }
}

static void send_stdout(void *ud, const char *json, size_t len, int kind, const char *id_text)
{
    (void)ud; (void)kind; (void)id_text;
    /* one write per message keeps lines whole */
    char *buf = od_malloc(len + 1);
    memcpy(buf, json, len);
    buf[len] = '\n';
    write_all(buf, len + 1);
    free(buf);
}

static void on_line(void *ud, const char *line, size_t len, int too_long)
{
    mcp_cmd *c = ud;
    if (too_long) mcp_session_too_large(c->s);
    else mcp_session_handle(c->s, line, len);
}

static void stdin_cb(od_fd *w, int events, void *ud)
{
    mcp_cmd *c = ud;
    char buf[65536];
    ssize_t n = read(0, buf, sizeof buf);
    if (n > 0) {
        mcp_lines_feed(&c->lines, buf, (size_t)n, on_line, c);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    /* the client closed stdin: answer what is in flight (briefly), then go.
     * The watcher is closed at exit, not from inside its callback. */
    od_fd_want(c->w_in, 0);
    if (c->eof) return;
    c->eof = 1;
    c->eof_at_us = od_mono_us();
}

static void tick(od_timer *t, void *ud)
{
    mcp_cmd *c = ud;
    if (c->pol) pol_tick(c->pol);
    if (c->eof && (mcp_session_pending(c->s) <= 0 || od_mono_us() - c->eof_at_us > 30000000LL)) {
        od_loop_stop(c->loop);
        return;
    }
    od_timer_start(c->loop, &c->tick, c->eof ? 20000 : 100000, tick, c);
}

static char *read_key_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char buf[512];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *s = buf;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    size_t l = strlen(s);
    while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\n' || s[l - 1] == '\r')) s[--l] = 0;
    return od_strdup(s);
}

static void usage(void)
{
    fputs("usage: odock mcp [--config FILE] [--db FILE] [--key-file FILE] [--verbose]\n"
          "\n"
          "Speaks MCP on stdin/stdout in front of every server in the config's\n"
          "\"mcp_servers\", governing each call with the virtual key taken from\n"
          "--key-file or $ODOCK_API_KEY. Logs go to stderr.\n",
          stdout);
}

int cmd_mcp(int argc, char **argv)
{
    cli_flag flags[] = {
        {"--config", 1, NULL}, {"--db", 1, NULL}, {"--key-file", 1, NULL}, {"--verbose", 0, NULL},
    };
    cli_args a;
    int rc = cli_parse("mcp", argc, argv, flags, (int)OD_ARRAY_LEN(flags), &a);
    if (rc == 1) { usage(); return 0; }
    if (rc) return 2;
    cli_log_level_from_env();
    if (cli_has(&a, "--verbose")) od_log_level = OD_LOG_DEBUG;

    int ret = 1;
    od_config *cfg = NULL;
    pol_engine *pol = NULL;
    char *key = NULL, *err = NULL;
    mcp_mux *mux = NULL;
    mcp_cmd c = {0};

    cfg = cli_load_config("mcp", &a);
    if (!cfg) goto out;
    const char *kf = cli_get(&a, "--key-file");
    if (kf) {
        key = read_key_file(kf);
        if (!key) { cli_fail("mcp", "cannot read the key file %s: %s", kf, strerror(errno)); goto out; }
    } else {
        const char *k = getenv("ODOCK_API_KEY");
        key = od_strdup(k ? k : "");
    }
    pol = pol_open(cfg, cli_db_path_for(&a, cfg), &err);
    if (!pol) {
        cli_fail("mcp", "%s", err ? err : "cannot open the ledger");
        goto out;
    }
    {
        /* fail fast: an MCP client shows a server that exits with a reason */
        od_req r;
        od_req_init(&r, OD_KIND_TOOL, "");
        int bad = pol_authenticate(pol, &r, key);
        if (bad) cli_fail("mcp", "%s: %s (set ODOCK_API_KEY or --key-file)", r.reason ? r.reason : "invalid_key",
                          r.message[0] ? r.message : "the virtual key was refused");
        od_req_free(&r);
        if (bad) goto out;
    }

    signal(SIGPIPE, SIG_IGN);
    od_loop_opts lo = {.os_ca = od_config_needs_ws_tls(cfg), .busy_poll_us = cfg->busy_poll_us};
    c.loop = od_loop_new(&lo, &err);
    if (!c.loop) {
        cli_fail("mcp", "%s", err ? err : "cannot create the event loop");
        goto out;
    }
    g_loop = c.loop;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    mcp_mux_opts mo = {.loop = c.loop, .cfg = cfg, .pol = pol};
    mux = mcp_mux_new(&mo);
    c.pol = pol;
    c.s = mcp_session_new(mux, key, send_stdout, &c);
    mcp_lines_init(&c.lines, MCP_MAX_MESSAGE_DEFAULT);
    c.w_in = od_fd_watch(c.loop, 0, OD_FD_READ, stdin_cb, &c);
    if (!c.w_in) {
        cli_fail("mcp", "cannot watch stdin");
        goto out;
    }
    od_info("odock mcp: %d upstream server(s) configured", cfg->nmcp_servers);
    od_timer_start(c.loop, &c.tick, 100000, tick, &c);
    if (!g_signalled) od_loop_run(c.loop);
    ret = 0;

out:
    od_timer_stop(&c.tick);
    if (c.w_in) od_fd_close(c.w_in);
    if (c.s) mcp_session_free(c.s);
    mcp_mux_free(mux);
    mcp_lines_free(&c.lines);
    if (pol) pol_close(pol);
    g_loop = NULL;
    if (c.loop) od_loop_free(c.loop);
    od_config_free(cfg);
    free(key);
    free(err);
    return ret;
}
