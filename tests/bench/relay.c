/* tests/bench/relay.c — the floor of any stdio MCP relay: a byte copy.
 *
 *   relay CMD [ARG...]
 *
 * Spawns CMD with pipes for its stdin and stdout (stderr inherited), then,
 * with poll(), copies its own stdin to the child's stdin and the child's
 * stdout to its own stdout: bytes only, no line or JSON parsing, 64 KB
 * buffers. When its stdin ends it closes the child's stdin and keeps copying
 * the child's output until that ends; when the child's stdout ends (or its
 * own stdout is gone) it stops. Then it waits for the child and exits with
 * its status (128 + signal if the child was killed). SIGTERM, SIGINT and
 * SIGHUP are passed on to the child.
 *
 * The bench (tests/bench/run.sh) runs server-everything through it to show
 * what one extra process and two extra pipes cost, with no work in between.
 * Dependency-free C11.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)

/* One direction: bytes read from `in`, not yet all written to `out`. */
typedef struct {
    int in, out;    /* -1 once closed */
    size_t off, len; /* pending bytes are buf[off, len) */
    char buf[BUF_SIZE];
} pipe_dir;

static volatile sig_atomic_t g_child;

static void forward_signal(int sig)
{
    if (g_child > 0) kill((pid_t)g_child, sig);
}

static void close_fd(int *fd)
{
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/* Read into an empty buffer. Returns 0 at end of input or on an error, 1 otherwise. */
static int dir_read(pipe_dir *d)
{
    ssize_t n;
    do n = read(d->in, d->buf, sizeof d->buf);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 1;
    if (n <= 0) return 0;
    d->off = 0;
    d->len = (size_t)n;
    return 1;
}

/* Write as much of the pending bytes as the output takes. Returns 0 on an error. */
static int dir_write(pipe_dir *d)
{
    while (d->off < d->len) {
        ssize_t n = write(d->out, d->buf + d->off, d->len - d->off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 1;
        if (n < 0) return 0;
        d->off += (size_t)n;
    }
    d->off = d->len = 0;
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: relay CMD [ARG...]\n");
        return 2;
    }
    int to_child[2], from_child[2];
    if (pipe2(to_child, O_CLOEXEC) < 0 || pipe2(from_child, O_CLOEXEC) < 0) {
        perror("relay: pipe2");
        return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("relay: fork");
        return 1;
    }
    if (pid == 0) {
        if (dup2(to_child[0], 0) < 0 || dup2(from_child[1], 1) < 0) _exit(127);
        execvp(argv[1], argv + 1);
        fprintf(stderr, "relay: %s: %s\n", argv[1], strerror(errno));
        _exit(127);
    }
    g_child = pid;
    close(to_child[0]);
    close(from_child[1]);

    static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP};
    struct sigaction sa = {.sa_handler = forward_signal};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaction(forwarded[i], &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a closed reader shows as EPIPE */

    /* The child's ends are ours alone: non-blocking. Our own stdin and stdout
     * keep the mode the caller gave them (their flags are shared with whoever
     * else holds them); poll() says when they are ready. */
    fcntl(to_child[1], F_SETFL, fcntl(to_child[1], F_GETFL) | O_NONBLOCK);
    fcntl(from_child[0], F_SETFL, fcntl(from_child[0], F_GETFL) | O_NONBLOCK);

    static pipe_dir up, down; /* up: our stdin -> child; down: child -> our stdout */
    up.in = 0;
    up.out = to_child[1];
    down.in = from_child[0];
    down.out = 1;

    while (down.in >= 0 || down.len > 0) {
        /* our stdin ended and everything read is with the child: the child sees its end */
        if (up.in < 0 && up.len == 0) close_fd(&up.out);
        struct pollfd p[2];
        pipe_dir *dir[2];
        int want_write[2], n = 0;
        pipe_dir *dirs[2] = {&up, &down};
        for (int i = 0; i < 2; i++) {
            pipe_dir *d = dirs[i];
            int w = d->len > 0;
            int fd = w ? d->out : d->in;
            if (fd < 0) continue;
            p[n] = (struct pollfd){.fd = fd, .events = w ? POLLOUT : POLLIN};
            dir[n] = d;
            want_write[n++] = w;
        }
        if (n == 0) break;
        if (poll(p, (nfds_t)n, -1) < 0) {
            if (errno == EINTR) continue;
            perror("relay: poll");
            break;
        }
        int stop = 0;
        for (int i = 0; i < n; i++) {
            pipe_dir *d = dir[i];
            if (!p[i].revents) continue;
            if (!want_write[i] && !dir_read(d)) {
                close_fd(&d->in); /* end of input */
                continue;
            }
            if (dir_write(d)) continue; /* after a read, try at once: usually no second poll */
            close_fd(&d->out);          /* the reader is gone */
            d->len = 0;
            if (d == &down) stop = 1;   /* our stdout: nothing left to do */
            else close_fd(&up.in);      /* the child's stdin: drain its output */
        }
        if (stop) break;
    }
    close_fd(&up.out);
    close_fd(&down.in);

    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            perror("relay: waitpid");
            return 1;
        }
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 1;
}
