/* mcp/upstream_stdio.c — an MCP server as a child process: JSON-RPC lines on
 * its stdin/stdout, its stderr logged line by line under the server's name.
 * The child runs in its own session (setsid) so that a wrapper such as npx
 * and everything it starts can be signalled as one process group. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../core/od.h"
#include "jsonrpc.h"
#include "transport.h"

typedef struct stdio_t {
    mcp_transport base;
    mcp_transport_cbs cbs;
    void *ud;
    char *name;
    pid_t pid;
    int reaped;
    int in_fd, out_fd, err_fd;
    od_fd *w_in, *w_out, *w_err;
    od_buf wbuf;       /* bytes not yet written to the child's stdin */
    size_t woff;
    mcp_lines out_lines, err_lines;
    int dead;          /* on_closed delivered */
    int64_t closing_us; /* when stdin was closed (0: not yet) */
    int in_out_cb;     /* inside the stdout callback: defer nothing, just mark */
} stdio_t;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void mark_dead(stdio_t *t, const char *why)
{
    if (t->dead) return;
    t->dead = 1;
    /* stop reading so a hung-up pipe cannot spin the loop; the watchers are
     * closed in st_close, never from inside their own callbacks */
    od_fd_want(t->w_out, 0);
    od_fd_want(t->w_in, 0);
    if (t->cbs.on_closed) t->cbs.on_closed(t->ud, why);
}

static void on_out_line(void *ud, const char *line, size_t len, int too_long)
{
    stdio_t *t = ud;
    if (t->dead) return;
    if (too_long) {
        od_warn("mcp %s: dropped a message over the size limit", t->name);
        return;
    }
    t->cbs.on_message(t->ud, line, len);
}

static void on_err_line(void *ud, const char *line, size_t len, int too_long)
{
    stdio_t *t = ud;
    if (too_long) { od_info("mcp %s: [stderr line too long, dropped]", t->name); return; }
    od_info("mcp %s: %.*s", t->name, (int)(len > 1500 ? 1500 : len), line);
}

static void out_cb(od_fd *w, int events, void *ud)
{
    stdio_t *t = ud;
    char buf[65536];
    ssize_t n = read(t->out_fd, buf, sizeof buf);
    if (n > 0) {
        mcp_lines_feed(&t->out_lines, buf, (size_t)n, on_out_line, t);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    mark_dead(t, n == 0 ? "exited (stdout closed)" : "stdout read error");
}

static void err_cb(od_fd *w, int events, void *ud)
{
    stdio_t *t = ud;
    char buf[8192];
    ssize_t n = read(t->err_fd, buf, sizeof buf);
    if (n > 0) {
        mcp_lines_feed(&t->err_lines, buf, (size_t)n, on_err_line, t);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    od_fd_want(t->w_err, 0);
}

static void flush_in(stdio_t *t)
{
    while (t->woff < t->wbuf.len) {
        ssize_t n = write(t->in_fd, t->wbuf.p + t->woff, t->wbuf.len - t->woff);
        if (n > 0) { t->woff += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            if (t->w_in) od_fd_want(t->w_in, OD_FD_WRITE);
            return;
        }
        mark_dead(t, "stdin write failed");
        return;
    }
    od_buf_reset(&t->wbuf);
    t->woff = 0;
    if (t->w_in) od_fd_want(t->w_in, 0);
}

static void in_cb(od_fd *w, int events, void *ud)
{
    stdio_t *t = ud;
    if (events & OD_FD_CLOSED) { mark_dead(t, "stdin closed"); return; }
    if (events & OD_FD_WRITE) flush_in(t);
}

static int st_send(mcp_transport *base, const char *json, size_t len)
{
    stdio_t *t = (stdio_t *)base;
    if (t->dead || t->in_fd < 0) return -1;
    od_buf_put(&t->wbuf, json, len);
    od_buf_putc(&t->wbuf, '\n');
    flush_in(t);
    return t->dead ? -1 : 0;
}

static void st_set_protocol(mcp_transport *base, const char *v) { (void)base; (void)v; }

static void st_begin_close(mcp_transport *base)
{
    stdio_t *t = (stdio_t *)base;
    if (t->w_in) { od_fd_close(t->w_in); t->w_in = NULL; }
    if (t->in_fd >= 0) { close(t->in_fd); t->in_fd = -1; }
    if (!t->closing_us) t->closing_us = od_mono_us();
}

static int wait_exit(stdio_t *t, int ms)
{
    for (int waited = 0;; waited += 10) {
        int st;
        pid_t r = waitpid(t->pid, &st, WNOHANG);
        if (r == t->pid || (r < 0 && errno == ECHILD)) { t->reaped = 1; return 1; }
        if (waited >= ms) return 0;
        sleep_ms(10);
    }
}

static void st_close(mcp_transport *base)
{
    stdio_t *t = (stdio_t *)base;
    if (!t) return;
    st_begin_close(base);
    if (t->w_out) od_fd_close(t->w_out);
    if (t->w_err) od_fd_close(t->w_err);
    if (t->pid > 0 && !t->reaped) {
        /* the spec's order: stdin closed, then SIGTERM, then SIGKILL. The
         * second counts from when stdin was closed: the mux closes every
         * server's stdin first, so servers that ignore it (server-everything
         * does) share that second instead of taking one each, in turn */
        int64_t left_ms = 1000 - (od_mono_us() - t->closing_us) / 1000;
        if (!wait_exit(t, left_ms > 0 ? (int)left_ms : 0)) {
            kill(-t->pid, SIGTERM);
            if (!wait_exit(t, 1000)) {
                kill(-t->pid, SIGKILL);
                waitpid(t->pid, NULL, 0);
                t->reaped = 1;
            }
        }
    }
    /* whatever the leader left behind in its group goes too */
    if (t->pid > 0) kill(-t->pid, SIGKILL);
    if (t->out_fd >= 0) close(t->out_fd);
    if (t->err_fd >= 0) close(t->err_fd);
    mcp_lines_free(&t->out_lines);
    mcp_lines_free(&t->err_lines);
    od_buf_free(&t->wbuf);
    free(t->name);
    free(t);
}

static const mcp_transport_ops stdio_ops = {
    .send = st_send,
    .set_protocol = st_set_protocol,
    .begin_close = st_begin_close,
    .close = st_close,
};

extern char **environ;

/* environ with the server's env entries overriding: built before fork, since
 * the child of a threaded process must not allocate */
static char **build_env(const od_mcp_cfg *c)
{
    size_t n = 0;
    while (environ[n]) n++;
    char **envp = od_calloc(n + (size_t)c->nenv + 1, sizeof *envp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t kl = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        int overridden = 0;
        for (int j = 0; j < c->nenv; j++)
            if (c->env[j].key && strlen(c->env[j].key) == kl && !strncmp(c->env[j].key, environ[i], kl))
                overridden = 1;
        if (!overridden) envp[k++] = od_strdup(environ[i]);
    }
    for (int j = 0; j < c->nenv; j++) {
        if (!c->env[j].key) continue;
        od_buf b = {0};
        od_buf_printf(&b, "%s=%s", c->env[j].key, c->env[j].value ? c->env[j].value : "");
        envp[k++] = od_buf_take(&b);
    }
    return envp;
}

static void free_env(char **envp)
{
    for (size_t i = 0; envp && envp[i]; i++) free(envp[i]);
    free(envp);
}

mcp_transport *mcp_stdio_start(const mcp_transport_args *a, char **err)
{
    const od_mcp_cfg *c = a->cfg;
    int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    if (!c->command || !c->command[0]) {
        *err = od_strdup("no command");
        return NULL;
    }
    if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC)) {
        *err = od_strdup(strerror(errno));
        goto fail;
    }
    /* argv and env are built before fork: no allocation in the child */
    char **argv = od_calloc((size_t)c->nargs + 2, sizeof *argv);
    argv[0] = c->command;
    for (int i = 0; i < c->nargs; i++) argv[i + 1] = c->args[i];
    char **envp = build_env(c);

    pid_t pid = fork();
    if (pid < 0) {
        free(argv);
        free_env(envp);
        *err = od_strdup(strerror(errno));
        goto fail;
    }
    if (pid == 0) {
        setsid();
        dup2(pin[0], 0);
        dup2(pout[1], 1);
        dup2(perr[1], 2);
        signal(SIGPIPE, SIG_DFL);
        if (c->cwd && c->cwd[0] && chdir(c->cwd) != 0) {
            dprintf(2, "odock: cannot chdir to %s: %s\n", c->cwd, strerror(errno));
            _exit(127);
        }
        execvpe(c->command, argv, envp);
        dprintf(2, "odock: cannot run %s: %s\n", c->command, strerror(errno));
        _exit(127);
    }
    free(argv);
    free_env(envp);
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);

    stdio_t *t = od_calloc(1, sizeof *t);
    t->base.ops = &stdio_ops;
    t->cbs = *a->cbs;
    t->ud = a->ud;
    t->name = od_strdup(c->name);
    t->pid = pid;
    t->in_fd = pin[1];
    t->out_fd = pout[0];
    t->err_fd = perr[0];
    fcntl(t->in_fd, F_SETFL, fcntl(t->in_fd, F_GETFL) | O_NONBLOCK);
    mcp_lines_init(&t->out_lines, a->max_message);
    mcp_lines_init(&t->err_lines, 16384);
    t->w_out = od_fd_watch(a->loop, t->out_fd, OD_FD_READ, out_cb, t);
    t->w_err = od_fd_watch(a->loop, t->err_fd, OD_FD_READ, err_cb, t);
    t->w_in = od_fd_watch(a->loop, t->in_fd, 0, in_cb, t);
    if (!t->w_out || !t->w_in) {
        *err = od_strdup("cannot watch the child's pipes");
        st_close(&t->base);
        return NULL;
    }
    od_info("mcp %s: started pid %d (%s)", t->name, (int)pid, c->command);
    return &t->base;

fail:
    for (int i = 0; i < 2; i++) {
        if (pin[i] >= 0) close(pin[i]);
        if (pout[i] >= 0) close(pout[i]);
        if (perr[i] >= 0) close(perr[i]);
    }
    return NULL;
}
