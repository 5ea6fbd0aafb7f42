/* core/listen.c — listening sockets made by the process itself, and the
 * accept loop that hands their connections to lws (or, plain ones, to the
 * gateway's own HTTP/1 server). Worker processes share
 * one listening socket made before fork (lws 4.1 cannot listen with
 * SO_REUSEPORT), so each worker's loop accepts on it and adopts the
 * connection into its own vhost. */
#include "loop.h"
#include "od.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "loop_int.h"

#define BACKLOG 1024
#define EMFILE_PAUSE_US 100000

int od_socket_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return -1;
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

int od_listen_tcp(const char *addr, int *port, char **err)
{
    char host[256];
    int p = 0, fd = -1, one = 1;
    struct addrinfo hints, *ai = NULL;
    char ps[16];
    if (err) *err = NULL;
    if (od_split_listen(addr, host, sizeof host, &p) < 0) {
        if (err) *err = od_strdup_printf("listen: expected HOST:PORT, got \"%s\"", addr);
        return -1;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(ps, sizeof ps, "%d", p);
    int rc = getaddrinfo(host[0] ? host : NULL, ps, &hints, &ai);
    if (rc != 0 || !ai) {
        if (err) *err = od_strdup_printf("cannot listen on %s: %s", addr, gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    /* restart while old connections sit in TIME_WAIT, as lws's listener does */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, BACKLOG) < 0)
        goto fail;
    if (fd <= 2) {
        /* started with stdio closed: od_loop_opts takes 0-2 for "none" */
        int hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (hi < 0)
            goto fail;
        close(fd);
        fd = hi;
    }
    if ((*port = od_socket_port(fd)) < 0)
        goto fail;
    freeaddrinfo(ai);
    return fd;
fail:
    if (err) *err = od_strdup_printf("cannot listen on %s: %s", addr, strerror(errno));
    if (fd >= 0) close(fd);
    freeaddrinfo(ai);
    return -1;
}

struct od_acceptor {
    od_loop *l;
    int fd;
    int tls, shared;
    void (*on_plain)(od_loop *l, int fd);
    od_fd *w;
    od_timer pause; /* out of descriptors: stop accepting for a moment */
    int64_t warned_us;
};

static void resume(od_timer *t, void *ud)
{
    od_acceptor *a = ud;
    (void)t;
    od_fd_want(a->w, OD_FD_READ);
}

/* one connection to lws or on_plain; -1 when there is none to take */
static int accept_one(od_acceptor *a)
{
    int c = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* the pending connection keeps the socket readable: without a
             * pause the loop would spin on it */
            int64_t now = od_mono_us();
            if (now - a->warned_us > 10000000) { /* once per 10 s, not per pause */
                od_warn("accept: %s; pausing for 100 ms at a time", strerror(errno));
                a->warned_us = now;
            }
            od_fd_want(a->w, 0);
            od_timer_start(a->l, &a->pause, EMFILE_PAUSE_US, resume, a);
        }
        return -1; /* EAGAIN: none left, or another worker took it */
    }
    int one = 1;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!a->tls && a->on_plain) {
        a->on_plain(a->l, c);
        return 0;
    }
    lws_sock_file_fd_type fd;
    fd.sockfd = c;
    int type = LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP | (a->tls ? LWS_ADOPT_ALLOW_SSL : 0);
    /* on failure lws closes c */
    lws_adopt_descriptor_vhost(od_loop_vhost(a->l), (lws_adoption_type)type, fd, NULL, NULL);
    return 0;
}

/* A shared socket: one connection per wake-up, as every worker polls it
 * and one that took the whole queue at once would take whole bursts. */
static void on_accept(od_fd *w, int ev, void *ud)
{
    od_acceptor *a = ud;
    (void)w;
    if (!(ev & OD_FD_READ))
        return;
    for (int k = a->shared ? 1 : 32; k > 0; k--)
        if (accept_one(a) < 0)
            return;
}

od_acceptor *od_acceptor_new(od_loop *l, int fd, int tls, int shared, void (*on_plain)(od_loop *l, int fd))
{
    od_acceptor *a = od_calloc(1, sizeof *a);
    a->l = l;
    a->fd = fd;
    a->tls = tls;
    a->shared = shared;
    a->on_plain = on_plain;
    a->w = od_fd_watch(l, fd, OD_FD_READ, on_accept, a);
    if (!a->w) {
        free(a);
        return NULL;
    }
    return a;
}

void od_acceptor_free(od_acceptor *a)
{
    if (!a)
        return;
    od_timer_stop(&a->pause);
    od_fd_close(a->w);
    free(a); /* the socket belongs to whoever made it */
}
