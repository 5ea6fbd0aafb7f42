/* tests/bench/upstream.c — the benchmark's fake OpenAI-compatible upstream.
 *
 * A plain epoll HTTP/1.1 server (keep-alive, one thread per --threads, each
 * with its own SO_REUSEPORT listener) that answers from canned buffers so it
 * is never the bottleneck:
 *   POST /v1/chat/completions            a chat.completion JSON with usage
 *     ... with "stream": true            20 content chunks + a usage chunk +
 *                                        [DONE], SSE, chunked encoding, one write
 *     ... whose body names "slow-drip"   the same stream, dripped: headers and
 *                                        the first event at once, then one event
 *                                        every --drip-ms (holds the stream open)
 *   GET /stats                           {"requests":N,"chat":N,"streams":N,"held":N,"connections":N}
 *   anything else                        404
 * Built by `make bench` into build/rel/bench/upstream; used by tests/bench/run.sh.
 * usage: upstream --port P [--threads N] [--drip-ms MS] */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#define NEVENTS 20

static int g_port = 18000, g_threads = 1, g_drip_ms = 1000;
static atomic_long n_requests, n_chat, n_streams, n_held, n_conns;
static volatile sig_atomic_t g_stop;

static char *resp_json, *resp_stream, *resp_head_stream;
static size_t resp_json_len, resp_stream_len, resp_head_stream_len;
static char *ev_chunk[NEVENTS + 3]; /* chunk-framed events: 20 deltas, usage, [DONE], terminator */
static size_t ev_len[NEVENTS + 3];
#define NCHUNKS (NEVENTS + 3)

typedef struct conn {
    int fd;
    char *in; size_t in_len, in_cap;
    char *out; size_t out_len, out_off, out_cap;
    int close_after;
    int drip_next;             /* >0: dripping; index of the next event to send */
    long long drip_at;         /* ms deadline of the next drip */
    struct conn *dnext, *dprev; /* list of dripping connections (per thread) */
} conn;

typedef struct worker {
    int ep, lfd;
    conn *drips;
} worker;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) { perror("realloc"); exit(1); }
    return q;
}

static char *xasprintf_len(size_t *len, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *xasprintf_len(size_t *len, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) { perror("vasprintf"); exit(1); }
    if (len) *len = (size_t)n;
    return s;
}

static const char *WORDS[NEVENTS] = {
    "Here", " is", " a", " short", " answer", " from", " the", " benchmark", "'s", " fake",
    " upstream", ":", " it", " streams", " twenty", " small", " deltas", " and", " then", " stops."};

static void build_responses(void)
{
    const char *id = "chatcmpl-bench0000000000000000000000";
    long created = 1730000000;
    char content[512] = "";
    for (int i = 0; i < NEVENTS; i++) strcat(content, WORDS[i]);

    size_t blen;
    char *body = xasprintf_len(&blen,
        "{\"id\":\"%s\",\"object\":\"chat.completion\",\"created\":%ld,\"model\":\"gpt-4o-mini-2024-07-18\","
        "\"system_fingerprint\":\"fp_bench\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
        "\"content\":\"%s\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
        "\"usage\":{\"prompt_tokens\":231,\"completion_tokens\":20,\"total_tokens\":251,"
        "\"prompt_tokens_details\":{\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}",
        id, created, content);
    resp_json = xasprintf_len(&resp_json_len,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
        "Connection: keep-alive\r\n\r\n%s", blen, body);
    free(body);

    resp_head_stream = xasprintf_len(&resp_head_stream_len,
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n");
    for (int i = 0; i < NEVENTS + 2; i++) {
        char *ev;
        size_t el;
        if (i < NEVENTS)
            ev = xasprintf_len(&el,
                "data: {\"id\":\"%s\",\"object\":\"chat.completion.chunk\",\"created\":%ld,"
                "\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\"fp_bench\",\"choices\":[{\"index\":0,"
                "\"delta\":{%s\"content\":\"%s\"},\"logprobs\":null,\"finish_reason\":%s}],\"usage\":null}\n\n",
                id, created, i == 0 ? "\"role\":\"assistant\"," : "", WORDS[i],
                i == NEVENTS - 1 ? "\"stop\"" : "null");
        else if (i == NEVENTS)
            ev = xasprintf_len(&el,
                "data: {\"id\":\"%s\",\"object\":\"chat.completion.chunk\",\"created\":%ld,"
                "\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\"fp_bench\",\"choices\":[],"
                "\"usage\":{\"prompt_tokens\":231,\"completion_tokens\":20,\"total_tokens\":251}}\n\n",
                id, created);
        else
            ev = xasprintf_len(&el, "data: [DONE]\n\n");
        ev_chunk[i] = xasprintf_len(&ev_len[i], "%zx\r\n%s\r\n", el, ev);
        free(ev);
    }
    ev_chunk[NEVENTS + 2] = xasprintf_len(&ev_len[NEVENTS + 2], "0\r\n\r\n");

    resp_stream_len = resp_head_stream_len;
    for (int i = 0; i < NCHUNKS; i++) resp_stream_len += ev_len[i];
    resp_stream = malloc(resp_stream_len);
    size_t at = 0;
    memcpy(resp_stream, resp_head_stream, resp_head_stream_len);
    at += resp_head_stream_len;
    for (int i = 0; i < NCHUNKS; i++) { memcpy(resp_stream + at, ev_chunk[i], ev_len[i]); at += ev_len[i]; }
}

static void conn_close(worker *w, conn *c)
{
    if (c->drip_next > 0) {
        if (c->dprev) c->dprev->dnext = c->dnext; else w->drips = c->dnext;
        if (c->dnext) c->dnext->dprev = c->dprev;
        atomic_fetch_sub(&n_held, 1);
    }
    epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

/* Queue bytes and try to write them now; EPOLLOUT while some are left. */
static int conn_send(worker *w, conn *c, const char *p, size_t n)
{
    if (c->out_len == c->out_off) {
        while (n) {
            ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
            if (k < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                return -1;
            }
            p += k; n -= (size_t)k;
        }
        if (!n) return 0;
        c->out_len = c->out_off = 0;
    }
    if (c->out_len + n > c->out_cap) {
        c->out_cap = (c->out_len + n) * 2;
        c->out = xrealloc(c->out, c->out_cap);
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
    return 0;
}

static int conn_flush(worker *w, conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t k = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            return -1;
        }
        c->out_off += (size_t)k;
    }
    c->out_off = c->out_len = 0;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
    return c->close_after ? -1 : 0;
}

static const char *find_header(const char *h, size_t hlen, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    const char *end = h + hlen;
    const char *p = memchr(h, '\n', hlen);
    while (p && p + 1 < end) {
        p++;
        if ((size_t)(end - p) > nl + 1 && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < end && (*v == ' ' || *v == '\t')) v++;
            const char *e = memchr(v, '\r', (size_t)(end - v));
            if (!e) e = end;
            *vlen = (size_t)(e - v);
            return v;
        }
        p = memchr(p, '\n', (size_t)(end - p));
    }
    return NULL;
}

static int body_wants_stream(const char *b, size_t n)
{
    const char *end = b + n;
    const char *p = b;
    while ((p = memmem(p, (size_t)(end - p), "\"stream\"", 8))) {
        p += 8;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
        if (p < end && *p == ':') {
            p++;
            while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
            return p < end && *p == 't';
        }
    }
    return 0;
}

static void start_drip(worker *w, conn *c)
{
    c->drip_next = 1;
    c->drip_at = now_ms() + g_drip_ms;
    c->dprev = NULL;
    c->dnext = w->drips;
    if (w->drips) w->drips->dprev = c;
    w->drips = c;
    atomic_fetch_add(&n_held, 1);
}

/* Handle every complete request in c->in. Returns -1 to close. */
static int conn_process(worker *w, conn *c)
{
    size_t used = 0;
    while (c->drip_next == 0) {
        char *base = c->in + used;
        size_t avail = c->in_len - used;
        char *hend = memmem(base, avail, "\r\n\r\n", 4);
        if (!hend) break;
        size_t hlen = (size_t)(hend - base) + 4;
        size_t vl, clen = 0;
        const char *v = find_header(base, hlen, "content-length", &vl);
        if (v) clen = strtoul(v, NULL, 10);
        int chunked = 0;
        v = find_header(base, hlen, "transfer-encoding", &vl);
        if (v && vl >= 7 && strncasecmp(v, "chunked", 7) == 0) chunked = 1;
        size_t total;
        if (chunked) {
            char *z = memmem(base + hlen, avail - hlen, "\r\n0\r\n\r\n", 7);
            if (!z && avail - hlen >= 5 && memcmp(base + hlen, "0\r\n\r\n", 5) == 0) z = base + hlen - 2;
            if (!z) break;
            total = (size_t)(z - base) + 7;
            clen = total - hlen;
        } else {
            if (avail < hlen + clen) {
                v = find_header(base, hlen, "expect", &vl);
                if (v && vl >= 12 && strncasecmp(v, "100-continue", 12) == 0 && avail == hlen) {
                    if (conn_send(w, c, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0) return -1;
                }
                break;
            }
            total = hlen + clen;
        }
        v = find_header(base, hlen, "connection", &vl);
        if (v && vl >= 5 && strncasecmp(v, "close", 5) == 0) c->close_after = 1;

        atomic_fetch_add(&n_requests, 1);
        const char *body = base + hlen;
        int rc;
        if (strncmp(base, "POST /v1/chat/completions", 25) == 0) {
            atomic_fetch_add(&n_chat, 1);
            if (body_wants_stream(body, clen)) {
                atomic_fetch_add(&n_streams, 1);
                if (memmem(body, clen, "slow-drip", 9)) {
                    rc = conn_send(w, c, resp_head_stream, resp_head_stream_len);
                    if (rc == 0) rc = conn_send(w, c, ev_chunk[0], ev_len[0]);
                    if (rc == 0) start_drip(w, c);
                } else {
                    rc = conn_send(w, c, resp_stream, resp_stream_len);
                }
            } else {
                rc = conn_send(w, c, resp_json, resp_json_len);
            }
        } else if (strncmp(base, "GET /stats", 10) == 0) {
            char js[256], msg[512];
            int jl = snprintf(js, sizeof js, "{\"requests\":%ld,\"chat\":%ld,\"streams\":%ld,\"held\":%ld,\"connections\":%ld}\n",
                              atomic_load(&n_requests), atomic_load(&n_chat), atomic_load(&n_streams),
                              atomic_load(&n_held), atomic_load(&n_conns));
            int ml = snprintf(msg, sizeof msg,
                              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                              jl, js);
            rc = conn_send(w, c, msg, (size_t)ml);
        } else {
            static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
            rc = conn_send(w, c, nf, sizeof nf - 1);
        }
        if (rc < 0) return -1;
        used += total;
        if (c->close_after && c->out_len == c->out_off && c->drip_next == 0) return -1;
    }
    if (used) {
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
    }
    return 0;
}

static void drip_tick(worker *w)
{
    long long t = now_ms();
    conn *c = w->drips;
    while (c) {
        conn *nx = c->dnext;
        if (c->drip_at <= t) {
            int rc = conn_send(w, c, ev_chunk[c->drip_next], ev_len[c->drip_next]);
            c->drip_next++;
            c->drip_at = t + g_drip_ms;
            if (rc == 0 && c->drip_next == NEVENTS) { /* the rest at once: usage, [DONE], end */
                for (int i = NEVENTS; i < NCHUNKS && rc == 0; i++) rc = conn_send(w, c, ev_chunk[i], ev_len[i]);
                if (c->dprev) c->dprev->dnext = c->dnext; else w->drips = c->dnext;
                if (c->dnext) c->dnext->dprev = c->dprev;
                atomic_fetch_sub(&n_held, 1);
                c->drip_next = 0;
                if (rc == 0) rc = conn_process(w, c);
            }
            if (rc < 0) conn_close(w, c);
        }
        c = nx;
    }
}

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4096) < 0) {
        perror("upstream: bind/listen");
        exit(1);
    }
    return fd;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    w->ep = epoll_create1(0);
    w->lfd = listen_on(g_port);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(w->ep, EPOLL_CTL_ADD, w->lfd, &ev);
    struct epoll_event evs[256];
    while (!g_stop) {
        int timeout = -1;
        if (w->drips) {
            long long t = now_ms(), next = t + g_drip_ms;
            for (conn *c = w->drips; c; c = c->dnext) if (c->drip_at < next) next = c->drip_at;
            timeout = next > t ? (int)(next - t) : 0;
        }
        if (timeout < 0 || timeout > 500) timeout = 500;
        int n = epoll_wait(w->ep, evs, 256, timeout);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (!c) {
                for (;;) {
                    int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK);
                    if (fd < 0) break;
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    atomic_fetch_add(&n_conns, 1);
                    conn *nc = calloc(1, sizeof *nc);
                    nc->fd = fd;
                    struct epoll_event cev = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &cev);
                }
                continue;
            }
            if (evs[i].events & EPOLLOUT) {
                if (conn_flush(w, c) < 0) { conn_close(w, c); continue; }
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                int dead = 0;
                for (;;) {
                    if (c->in_cap - c->in_len < 4096) {
                        c->in_cap = c->in_cap ? c->in_cap * 2 : 8192;
                        c->in = xrealloc(c->in, c->in_cap);
                    }
                    ssize_t k = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
                    if (k > 0) { c->in_len += (size_t)k; if ((size_t)k < 4096) break; continue; }
                    if (k < 0 && errno == EINTR) continue;
                    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                    dead = 1;
                    break;
                }
                if (!dead && conn_process(w, c) < 0) dead = 1;
                if (dead) { conn_close(w, c); continue; }
            }
        }
        if (w->drips) drip_tick(w);
    }
    return NULL;
}

static void on_signal(int sig) { (void)sig; g_stop = 1; }

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--port") && i + 1 < argc) g_port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) g_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--drip-ms") && i + 1 < argc) g_drip_ms = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: upstream --port P [--threads N] [--drip-ms MS]\n");
            return 2;
        }
    }
    if (g_threads < 1) g_threads = 1;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    build_responses();
    worker *ws = calloc((size_t)g_threads, sizeof *ws);
    pthread_t *th = calloc((size_t)g_threads, sizeof *th);
    for (int i = 1; i < g_threads; i++) pthread_create(&th[i], NULL, worker_main, &ws[i]);
    worker_main(&ws[0]);
    for (int i = 1; i < g_threads; i++) pthread_join(th[i], NULL);
    return 0;
}
