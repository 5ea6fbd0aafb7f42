/* core/h1.c — the loop's own HTTP/1.1 client for plain http:// upstreams
 * given by IP address or as localhost (self-hosted models, the fake
 * upstream, the relay to worker 0). Connections are kept alive in a pool
 * per address. Everything else (https, host names to resolve, proxies)
 * stays with curl in loop.c.
 *
 * Why: on a relayed chat call curl was ~100k of ~400k instructions and a
 * good share of the mallocs; this path is a send, a recv and a parse.
 *
 * Same contract as the curl path (loop.h), same error strings. A pooled
 * connection the server closed meanwhile is noticed while idle (it turns
 * readable) and, for the race in between, a request that dies on a reused
 * connection before any response byte is sent again once on a fresh one. */
#include "loop.h"
#include "od.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop_int.h"

#define H1_HEAD_MAX (256 * 1024)    /* response header block */
#define H1_LINE_MAX 4096            /* chunk-size or trailer line */
#define H1_RECV 65536
#define H1_IDLE_MAX_US (60LL * 1000000) /* close pooled connections idle longer */
#define H1_IDLE_PER_POOL 256
#define H1_SWEEP_US (5LL * 1000000)

typedef struct h1_conn h1_conn;
typedef struct h1_pool h1_pool;
typedef struct h1x h1x;

enum { S_CONNECT, S_SEND, S_HEAD, S_BODY };
enum { B_NONE, B_LENGTH, B_CHUNKED, B_EOF };
enum { C_SIZE, C_DATA, C_DATA_END, C_TRAILER };

struct h1_pool {
    struct sockaddr_storage sa;    /* the upstream's address: the pool's key */
    socklen_t salen;
    int localhost;                 /* named "localhost": a pool of its own */
    int on_v6;                     /* ... that found 127.0.0.1 refusing and moved to ::1 */
    h1_conn *idle;                 /* most recently used first */
    int nidle;
    h1_pool *next;
};

struct h1_conn {
    od_h1 *o;
    h1_pool *pool;
    int fd;
    od_fd *w;
    h1x *x;                        /* transfer using it; NULL while pooled */
    int pooled;                    /* on its pool's idle list */
    int dead;                      /* lws saw a hang-up: its watch is gone */
    int reused;                    /* has completed a response before */
    int64_t idle_since;
    h1_conn *next, *prev;          /* pool's idle list */
};

struct od_h1 {
    od_loop *l;
    h1_pool *pools;
    h1x *live;
    od_timer sweep;
    int nidle;
    char *rbuf;                    /* recv buffer, one per loop */
};

struct h1x {
    int native;                    /* 1; first member, see od_http_is_native */
    od_h1 *o;
    h1_pool *pool;
    h1_conn *c;
    od_http_cbs cbs;
    void *ud;
    od_buf req;                    /* the request bytes */
    size_t sent;
    od_buf in;                     /* partial header block, or body bytes held while paused */
    size_t in_off;
    od_buf hbuf;                   /* header lines for on_headers */
    od_buf line;                   /* partial chunk-size / trailer line */
    int state, body, chunk, status;
    int head;                      /* HEAD request: no body */
    int keep;                      /* the connection may be reused afterwards */
    int any_byte;                  /* a response byte arrived */
    int retried;
    int early;                     /* the response began before the request was all sent */
    int last_full;                 /* the last recv filled the buffer: more may wait */
    int paused, cancelled, done, refs;
    int starting;                  /* inside od_http_start: no callbacks */
    int64_t remain;
    size_t trailer_bytes;
    long max_bytes, got;
    int64_t deadline_us, connect_due_us, last_us;
    long idle_ms, connect_ms;
    const char *late_err;          /* found inside od_http_start: reported from the timer */
    od_timer timer;
    h1x *next, *prev;              /* live list */
};

static void conn_event(od_fd *w, int ev, void *ud);
static void x_finish(h1x *x, const char *err, int timed_out);
static void x_arm(h1x *x);
static void x_read(h1x *x, h1_conn *c, int hup);

/* ------------------------------------------------------------------ */
/* URLs: only http://IP[:port]/path is ours */

static int parse_url(const char *url, struct sockaddr_storage *sa, socklen_t *salen,
                     char *hostport, size_t hpsz, const char **path, int *localhost)
{
    if (strncasecmp(url, "http://", 7) != 0)
        return -1;
    const char *a = url + 7, *e = a + strcspn(a, "/?#@ \t\r\n");
    if (*e == '#' || *e == '@' || *e == ' ' || *e == '\t' || *e == '\r' || *e == '\n')
        return -1;
    if (e[strcspn(e, "# \t\r\n")])
        return -1;                 /* fragments, spaces: curl's business */
    char host[64];
    const char *hs = a, *he, *port = NULL;
    if (*a == '[') {
        he = memchr(a, ']', (size_t)(e - a));
        if (!he) return -1;
        hs = a + 1;
        if (he + 1 < e) {
            if (he[1] != ':') return -1;
            port = he + 2;
        }
    } else {
        he = memchr(a, ':', (size_t)(e - a));
        if (he) port = he + 1;
        else he = e;
    }
    size_t hl = (size_t)(he - hs);
    if (hl == 0 || hl >= sizeof host)
        return -1;
    memcpy(host, hs, hl);
    host[hl] = 0;
    long p = 80;
    if (port) {
        if (port == e) return -1;
        p = 0;
        for (const char *q = port; q < e; q++) {
            if (*q < '0' || *q > '9' || p > 65535) return -1;
            p = p * 10 + (*q - '0');
        }
        if (p < 1 || p > 65535) return -1;
    }
    memset(sa, 0, sizeof *sa);
    struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
    /* localhost needs no resolver: 127.0.0.1, then ::1 if that refuses */
    *localhost = !strcasecmp(host, "localhost");
    if (*localhost) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)p);
        s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        *salen = sizeof *s4;
    } else if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)p);
        *salen = sizeof *s4;
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)p);
        *salen = sizeof *s6;
    } else {
        return -1;                 /* a name: resolving is curl's job (threaded) */
    }
    size_t n = (size_t)(e - a);
    if (n >= hpsz) return -1;
    memcpy(hostport, a, n);
    hostport[n] = 0;
    *path = *e ? e : "/";
    return 0;
}

/* ------------------------------------------------------------------ */
/* pools and connections */

static h1_pool *pool_get(od_h1 *o, const struct sockaddr_storage *sa, socklen_t salen, int localhost)
{
    const struct sockaddr_in *s4 = (const void *)sa;
    /* parse_url zeroed sa before filling it: whole-struct compares are exact */
    for (h1_pool *p = o->pools; p; p = p->next) {
        if (p->localhost != localhost)
            continue;
        if (localhost ? ntohs(((const struct sockaddr_in *)&p->sa)->sin_port) == ntohs(s4->sin_port)
                      : p->salen == salen && !memcmp(&p->sa, sa, salen))
            return p;
    }
    h1_pool *p = od_calloc(1, sizeof *p);
    p->localhost = localhost;
    p->sa = *sa;
    p->salen = salen;
    p->next = o->pools;
    o->pools = p;
    return p;
}

static void idle_unlink(h1_conn *c)
{
    h1_pool *p = c->pool;
    if (c->prev) c->prev->next = c->next;
    else p->idle = c->next;
    if (c->next) c->next->prev = c->prev;
    c->next = c->prev = NULL;
    p->nidle--;
    c->o->nidle--;
    c->pooled = 0;
}

static void conn_close(h1_conn *c)
{
    if (c->pooled)
        idle_unlink(c);
    od_fd_close(c->w);
    close(c->fd);
    free(c);
}

static void sweep_fire(od_timer *t, void *ud)
{
    od_h1 *o = ud;
    int64_t now = od_mono_us();
    (void)t;
    for (h1_pool *p = o->pools; p; p = p->next) {
        h1_conn *c = p->idle, *n;
        for (; c; c = n) {
            n = c->next;
            if (now - c->idle_since > H1_IDLE_MAX_US)
                conn_close(c);
        }
    }
    if (o->nidle)
        od_timer_start(o->l, &o->sweep, H1_SWEEP_US, sweep_fire, o);
}

/* back to the pool after a complete response */
static void conn_park(h1_conn *c)
{
    h1_pool *p = c->pool;
    od_h1 *o = c->o;
    c->x = NULL;
    if (c->dead || p->nidle >= H1_IDLE_PER_POOL) {
        conn_close(c);
        return;
    }
    c->pooled = 1;
    c->reused = 1;
    c->idle_since = od_mono_us();
    c->prev = NULL;
    c->next = p->idle;
    if (p->idle) p->idle->prev = c;
    p->idle = c;
    p->nidle++;
    o->nidle++;
    od_fd_want(c->w, OD_FD_READ); /* readable while idle = closed by the server */
    if (!o->sweep.armed)
        od_timer_start(o->l, &o->sweep, H1_SWEEP_US, sweep_fire, o);
}

/* a new connection, connecting; NULL with *err when it failed at once */
static h1_conn *conn_open(od_h1 *o, h1_pool *p, const char **err)
{
    int fd = socket(p->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = "cannot create a socket";
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)&p->sa, p->salen) < 0 && errno != EINPROGRESS) {
        *err = "connection refused";
        close(fd);
        return NULL;
    }
    h1_conn *c = od_calloc(1, sizeof *c);
    c->o = o;
    c->pool = p;
    c->fd = fd;
    c->w = od_fd_watch(o->l, fd, OD_FD_WRITE, conn_event, c);
    if (!c->w) {
        *err = "cannot watch an upstream socket";
        close(fd);
        free(c);
        return NULL;
    }
    return c;
}

/* ------------------------------------------------------------------ */
/* transfers */

static void x_free(h1x *x)
{
    od_timer_stop(&x->timer);
    od_buf_free(&x->req);
    od_buf_free(&x->in);
    od_buf_free(&x->hbuf);
    od_buf_free(&x->line);
    free(x);
}

static void x_unlink(h1x *x)
{
    od_h1 *o = x->o;
    if (x->prev) x->prev->next = x->next;
    else if (o->live == x) o->live = x->next;
    if (x->next) x->next->prev = x->prev;
    x->next = x->prev = NULL;
}

static void x_drop_conn(h1x *x)
{
    if (x->c) {
        h1_conn *c = x->c;
        x->c = NULL;
        c->x = NULL;
        conn_close(c);
    }
}

static void x_hold(h1x *x) { x->refs++; }

static void x_release(h1x *x)
{
    if (--x->refs == 0 && (x->done || x->cancelled))
        x_free(x);
}

static void x_finish(h1x *x, const char *err, int timed_out)
{
    if (x->done || x->cancelled)
        return;
    if (x->starting) {
        x_drop_conn(x);
        x->late_err = err;         /* reported from the timer */
        return;
    }
    x->done = 1;
    od_timer_stop(&x->timer);
    x_drop_conn(x);
    x_unlink(x);
    if (x->cbs.on_done) {
        x_hold(x);
        x->cbs.on_done((od_http *)x, x->status, err, timed_out, x->ud);
        x_release(x);
    }
}

/* sends what is left of the request; 0 while it goes on, -1 when x ended */
static int x_send(h1x *x, h1_conn *c);

/* a fresh connection for x (first one, or the retry after a stale one) */
static int x_connect(h1x *x, const char **err)
{
    h1_conn *c = conn_open(x->o, x->pool, err);
    if (!c)
        return -1;
    c->x = x;
    x->c = c;
    x->state = S_CONNECT;
    x->sent = 0;
    x->connect_due_us = od_mono_us() + x->connect_ms * 1000;
    return 0;
}

/* "localhost" refused on 127.0.0.1: its pool moves to ::1 for good, and x
 * connects there. 0 when there is nothing left to try. */
static int x_localhost_v6(h1x *x)
{
    h1_pool *p = x->pool;
    const char *err = NULL;
    if (!p->localhost || p->on_v6)
        return 0;
    uint16_t port = ((struct sockaddr_in *)&p->sa)->sin_port;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&p->sa;
    memset(&p->sa, 0, sizeof p->sa);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = port;
    s6->sin6_addr = in6addr_loopback;
    p->salen = sizeof *s6;
    p->on_v6 = 1;
    x_drop_conn(x);
    if (x_connect(x, &err) < 0)
        return 0;
    x_arm(x);
    return 1;
}

/* the connection died before the response began: once more on a new one
 * if it was a pooled connection (the server may have closed it meanwhile) */
static void x_conn_failed(h1x *x, const char *err)
{
    h1_conn *c = x->c;
    if (c && c->reused && !x->any_byte && !x->retried) {
        const char *e2 = NULL;
        x->retried = 1;
        x_drop_conn(x);
        if (x_connect(x, &e2) == 0) {
            x_arm(x);
            return;
        }
        err = e2;
    }
    x_finish(x, err, 0);
}

static int x_send(h1x *x, h1_conn *c)
{
    while (x->sent < x->req.len) {
        ssize_t n = send(c->fd, x->req.p + x->sent, x->req.len - x->sent, MSG_NOSIGNAL);
        if (n > 0) {
            x->sent += (size_t)n;
            x->last_us = od_mono_us();
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            od_fd_want(c->w, OD_FD_READ | OD_FD_WRITE);
            return 0;
        }
        x_conn_failed(x, "send error");
        return -1;
    }
    x->state = S_HEAD;
    od_fd_want(c->w, OD_FD_READ);
    return 0;
}

/* body work that waits only for the caller to resume: held bytes, an end
 * already complete, a hang-up seen while paused */
static int x_resumable(const h1x *x)
{
    return !x->paused && x->state == S_BODY &&
           (x->in_off < x->in.len || x->body == B_NONE || (x->c && x->c->dead));
}

static void x_timer(od_timer *t, void *ud)
{
    h1x *x = ud;
    (void)t;
    if (x->done || x->cancelled)
        return;
    x_hold(x);
    int64_t now = od_mono_us();
    if (x->late_err) {
        const char *e = x->late_err;
        x->late_err = NULL;
        x_finish(x, e, 0);
    } else if ((x->deadline_us && now >= x->deadline_us) ||
               (x->state == S_CONNECT && now >= x->connect_due_us) ||
               (x->idle_ms > 0 && !x->paused && x->state >= S_SEND &&
                now >= x->last_us + (int64_t)x->idle_ms * 1000)) {
        x_finish(x, "timeout", 1);
    } else {
        if (x->c && x_resumable(x))
            x_read(x, x->c, x->c->dead);
        if (!x->done && !x->cancelled)
            x_arm(x);
    }
    x_release(x);
}

/* the nearest deadline (or now, for held work) */
static void x_arm(h1x *x)
{
    int64_t now = od_mono_us(), due = INT64_MAX;
    if (x->late_err || x_resumable(x))
        due = now;
    if (x->deadline_us && x->deadline_us < due)
        due = x->deadline_us;
    if (x->state == S_CONNECT && x->connect_due_us < due)
        due = x->connect_due_us;
    if (x->idle_ms > 0 && x->state >= S_SEND) {
        int64_t i = x->paused ? now + (int64_t)x->idle_ms * 1000 : x->last_us + (int64_t)x->idle_ms * 1000;
        if (i < due) due = i;
    }
    if (due == INT64_MAX) {
        od_timer_stop(&x->timer);
        return;
    }
    od_timer_start(x->o->l, &x->timer, due - now, x_timer, x);
}

/* ------------------------------------------------------------------ */
/* the response */

/* after a user callback (held around it): -1 when x ended, was cancelled,
 * or the callback asked to abort */
static int x_went_on(h1x *x, int rc)
{
    x_release(x);
    if (x->cancelled || x->done)
        return -1;
    if (rc < 0) {
        x_finish(x, "aborted", 0);
        return -1;
    }
    return 0;
}

static int x_deliver(h1x *x, const char *p, size_t n)
{
    if (!n)
        return 0;
    x->got += (long)n;
    if (x->max_bytes > 0 && x->got > x->max_bytes) {
        x_finish(x, "response too large", 0);
        return -1;
    }
    if (x->cbs.on_data) {
        x_hold(x);
        int rc = x->cbs.on_data((od_http *)x, p, n, x->ud);
        if (x_went_on(x, rc) < 0)
            return -1;
    }
    return 0;
}

static int ieq_prefix(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    return len > n && strncasecmp(line, name, n) == 0 && line[n] == ':';
}

static const char *hval(const char *line, size_t len, size_t name_len, size_t *vlen)
{
    const char *v = line + name_len + 1, *e = line + len;
    while (v < e && (*v == ' ' || *v == '\t')) v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t')) e--;
    *vlen = (size_t)(e - v);
    return v;
}

static int has_token(const char *v, size_t n, const char *tok)
{
    size_t t = strlen(tok);
    for (size_t i = 0; i + t <= n; i++)
        if (strncasecmp(v + i, tok, t) == 0 &&
            (i == 0 || v[i - 1] == ',' || v[i - 1] == ' ') &&
            (i + t == n || v[i + t] == ',' || v[i + t] == ' ' || v[i + t] == ';'))
            return 1;
    return 0;
}

/* parses one complete header block (status line included); 1 for a 1xx to
 * skip, 0 for the final response, -1 for garbage */
static int parse_head(h1x *x, const char *p, size_t n)
{
    const char *e = p + n, *nl = memchr(p, '\n', n);
    if (!nl || n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ')
        return -1;
    int st = 0;
    for (int i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        st = st * 10 + (p[i] - '0');
    }
    if (p[12] != ' ' && p[12] != '\r' && p[12] != '\n')
        return -1;
    if (st < 100)
        return -1;
    if (st < 200 && st != 101)
        return 1;
    int http10 = p[7] == '0';
    int chunked = 0, close_ = 0, ka = 0;
    int64_t cl = -1;
    od_buf_reset(&x->hbuf);
    for (const char *l = nl + 1; l < e;) {
        const char *le = memchr(l, '\n', (size_t)(e - l));
        if (!le) le = e;
        size_t len = (size_t)(le - l);
        if (len && l[len - 1] == '\r') len--;
        if (len) {
            size_t vl;
            const char *v;
            if (ieq_prefix(l, len, "content-length")) {
                v = hval(l, len, 14, &vl);
                int64_t c = 0;
                if (!vl) return -1;
                for (size_t i = 0; i < vl; i++) {
                    if (v[i] < '0' || v[i] > '9' || c > (INT64_MAX - 9) / 10) return -1;
                    c = c * 10 + (v[i] - '0');
                }
                if (cl >= 0 && cl != c) return -1; /* conflicting lengths: smuggling */
                cl = c;
            } else if (ieq_prefix(l, len, "transfer-encoding")) {
                v = hval(l, len, 17, &vl);
                if (vl == 7 && !strncasecmp(v, "chunked", 7)) chunked = 1;
                else return -1;    /* gzip and friends: not ours to decode */
            } else if (ieq_prefix(l, len, "connection")) {
                v = hval(l, len, 10, &vl);
                if (has_token(v, vl, "close")) close_ = 1;
                if (has_token(v, vl, "keep-alive")) ka = 1;
            }
            if (x->hbuf.len)
                od_buf_putc(&x->hbuf, '\n');
            od_buf_put(&x->hbuf, l, len);
        }
        l = le + 1;
    }
    x->status = st;
    /* both lengths: chunked wins, but the connection is not trusted again */
    x->keep = !close_ && (!http10 || ka) && !(chunked && cl >= 0);
    if (x->head || st == 204 || st == 304) {
        x->body = B_NONE;
    } else if (chunked) {
        x->body = B_CHUNKED;
        x->chunk = C_SIZE;
    } else if (cl >= 0) {
        x->body = cl ? B_LENGTH : B_NONE;
        x->remain = cl;
    } else {
        x->body = B_EOF;
        x->keep = 0;
    }
    return 0;
}

/* a chunk-size or trailer line complete in x->line; -1 on garbage */
static int chunk_line(h1x *x)
{
    const char *s = x->line.p ? x->line.p : "";
    size_t n = x->line.len;
    if (n && s[n - 1] == '\r') n--;
    if (x->chunk == C_TRAILER) {
        if (n == 0)
            return 1;              /* end of the trailers: the response is complete */
        x->trailer_bytes += n;
        return x->trailer_bytes > H1_HEAD_MAX ? -1 : 0;
    }
    int64_t v;
    if (od_chunk_size(s, n, &v) < 0)
        return -1;
    x->remain = v;
    x->chunk = v ? C_DATA : C_TRAILER;
    return 0;
}

/* the response ended well: the connection goes back to the pool first, so
 * a request started from on_done can have it */
static void x_complete(h1x *x, int extra)
{
    h1_conn *c = x->c;
    x->c = NULL;
    if (c) {
        c->x = NULL;
        char b;
        if (x->keep && !extra && !x->early &&
            !(x->last_full && recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) != -1))
            conn_park(c);              /* (bytes past the response: not reusable) */
        else
            conn_close(c);
    }
    x_finish(x, NULL, 0);
}

/* body bytes; returns how many were used (the rest is held when paused),
 * or -1 when x ended or was cancelled */
static long x_body(h1x *x, const char *p, size_t n)
{
    size_t used = 0;
    while (!x->done && !x->cancelled) {
        if (x->paused)
            return (long)used;
        if (x->body == B_NONE) {
            x_complete(x, used < n);
            return -1;
        }
        if (x->body == B_EOF || x->body == B_LENGTH || (x->body == B_CHUNKED && x->chunk == C_DATA)) {
            size_t k = n - used;
            if (x->body != B_EOF && (int64_t)k > x->remain)
                k = (size_t)x->remain;
            if (!k && used == n)
                return (long)used;
            if (x_deliver(x, p + used, k) < 0)
                return -1;
            used += k;
            if (x->body == B_EOF)
                continue;
            x->remain -= (int64_t)k;
            if (x->remain == 0) {
                if (x->body == B_LENGTH) x->body = B_NONE;
                else x->chunk = C_DATA_END;
            }
            continue;
        }
        /* chunked framing: a line at a time */
        if (used == n)
            return (long)used;
        const char *nl = memchr(p + used, '\n', n - used);
        size_t k = nl ? (size_t)(nl - (p + used)) : n - used;
        if (x->line.len + k > H1_LINE_MAX) {
            x_finish(x, "bad chunked encoding", 0);
            return -1;
        }
        od_buf_put(&x->line, p + used, k);
        used += k;
        if (!nl)
            return (long)used;
        used++;                    /* the '\n' */
        int r;
        if (x->chunk == C_DATA_END) {
            r = (x->line.len == 0 || (x->line.len == 1 && x->line.p[0] == '\r')) ? 0 : -1;
            x->chunk = C_SIZE;
        } else {
            r = chunk_line(x);
        }
        od_buf_reset(&x->line);
        if (r < 0) {
            x_finish(x, "bad chunked encoding", 0);
            return -1;
        }
        if (r == 1)
            x->body = B_NONE;
    }
    return -1;
}

/* response bytes as they come; -1 when x ended */
static int x_feed(h1x *x, const char *p, size_t n)
{
    x->any_byte = 1;
    x->last_us = od_mono_us();
    if (x->state == S_HEAD || x->state == S_SEND) { /* S_SEND: answered early (413...) */
        size_t from = x->in.len > 3 ? x->in.len - 3 : 0;
        if (x->in.len + n > H1_HEAD_MAX) {
            x_finish(x, "response headers too large", 0);
            return -1;
        }
        od_buf_put(&x->in, p, n);
        for (;;) {
            char *end = NULL;
            for (size_t i = from; i + 1 < x->in.len; i++) {
                if (x->in.p[i] == '\n' && (x->in.p[i + 1] == '\n' ||
                    (x->in.p[i + 1] == '\r' && i + 2 < x->in.len && x->in.p[i + 2] == '\n'))) {
                    end = x->in.p + i + (x->in.p[i + 1] == '\n' ? 2 : 3);
                    break;
                }
            }
            if (!end)
                return 0;          /* more to come */
            size_t hl = (size_t)(end - x->in.p);
            int r = parse_head(x, x->in.p, hl);
            if (r < 0) {
                x_finish(x, "bad response from upstream", 0);
                return -1;
            }
            size_t rest = x->in.len - hl;
            memmove(x->in.p, end, rest);
            x->in.len = rest;
            x->in.p[rest] = 0;
            from = 0;
            if (r == 1)
                continue;          /* 100 Continue and friends */
            break;
        }
        if (x->state == S_SEND) {
            /* the final answer came before the whole request went out:
             * stop sending; the connection is not reusable */
            x->early = 1;
            od_fd_want(x->c->w, OD_FD_READ);
        }
        x->state = S_BODY;
        if (x->cbs.on_headers) {
            x_hold(x);
            int rc = x->cbs.on_headers((od_http *)x, x->status, x->hbuf.p ? x->hbuf.p : "", x->ud);
            if (x_went_on(x, rc) < 0)
                return -1;
        }
        /* what followed the headers is body: hand it over like held bytes */
        x->in_off = 0;
        long u = x_body(x, x->in.p ? x->in.p : "", x->in.len);
        if (u < 0)
            return -1;
        x->in_off = (size_t)u;
        if (x->in_off == x->in.len) {
            od_buf_reset(&x->in);
            x->in_off = 0;
        }
        return 0;
    }
    if (x->in_off < x->in.len) {
        od_buf_put(&x->in, p, n); /* behind bytes still held */
        return 0;
    }
    long u = x_body(x, p, n);
    if (u < 0)
        return -1;
    if ((size_t)u < n) {
        od_buf_reset(&x->in);
        od_buf_put(&x->in, p + u, n - (size_t)u);
        x->in_off = 0;
    }
    return 0;
}

/* held bytes first, then the socket; hup: the peer hung up, read to the end */
static void x_read(h1x *x, h1_conn *c, int hup)
{
    if (x->state == S_BODY && (x->in_off < x->in.len || x->body == B_NONE)) {
        if (x->paused)
            return;
        long u = x_body(x, x->in.p ? x->in.p + x->in_off : "", x->in.len - x->in_off);
        if (u < 0)
            return;
        x->in_off += (size_t)u;
        if (x->in_off < x->in.len) {
            od_fd_want(c->w, 0);   /* paused again */
            return;
        }
        od_buf_reset(&x->in);
        x->in_off = 0;
        od_fd_want(c->w, OD_FD_READ);
    }
    char *buf = x->o->rbuf;
    int reset = 0;
    for (;;) {
        if (x->paused) {
            od_fd_want(c->w, 0);
            return;
        }
        ssize_t n = recv(c->fd, buf, H1_RECV, 0);
        x->last_full = n == H1_RECV;
        if (n > 0) {
            if (x_feed(x, buf, (size_t)n) < 0)
                return;
            if (!hup && n < H1_RECV)
                return;            /* drained for now: poll tells us about more */
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (hup)
                break;             /* lws closed its side: treat as the end */
            return;
        }
        if (n == 0 && x->state == S_BODY && x->body == B_EOF) {
            x->keep = 0;
            x_complete(x, 0);
            return;
        }
        reset = n < 0;
        if (!x->any_byte) {
            x_conn_failed(x, n == 0 ? "empty reply from upstream" : "connection reset");
            return;
        }
        break;
    }
    if (x->state == S_BODY && x->body == B_EOF) {
        x->keep = 0;
        x_complete(x, 0);
        return;
    }
    x_finish(x, reset ? "connection reset" : "connection closed mid-response", 0);
}

static void conn_event(od_fd *w, int ev, void *ud)
{
    h1_conn *c = ud;
    h1x *x = c->x;
    (void)w;
    if (ev & OD_FD_CLOSED)
        c->dead = 1;
    if (c->pooled || !x) {
        /* pooled: readable or hung up means the server closed it (or sent
         * junk); either way it is no use any more */
        conn_close(c);
        return;
    }
    x_hold(x);
    if (x->state == S_CONNECT) {
        if (!(ev & (OD_FD_WRITE | OD_FD_CLOSED)))
            goto out;
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr || (ev & OD_FD_CLOSED)) {
            if (!soerr)
                soerr = ECONNREFUSED; /* a hang-up while connecting */
            if (soerr == ECONNREFUSED && x_localhost_v6(x))
                goto out;
            x_finish(x, soerr == ETIMEDOUT ? "timeout" : "connection refused", soerr == ETIMEDOUT);
            goto out;
        }
        x->state = S_SEND;
        x->last_us = od_mono_us();
        if (x_send(x, c) == 0)
            x_arm(x);
        goto out;
    }
    if (x->state == S_SEND && (ev & OD_FD_WRITE)) {
        if (x_send(x, c) < 0)
            goto out;
    }
    if (ev & (OD_FD_READ | OD_FD_CLOSED))
        x_read(x, c, (ev & OD_FD_CLOSED) != 0);
out:
    x_release(x);
}

/* ------------------------------------------------------------------ */
/* the API, called from loop.c */

static void put_request(h1x *x, const od_http_req *req, const char *hostport, const char *path)
{
    od_buf *b = &x->req;
    const char *m = req->method ? req->method : req->body ? "POST" : "GET";
    int has_host = 0, has_accept = 0;
    od_buf_puts(b, m);
    od_buf_putc(b, ' ');
    if (*path == '?') od_buf_putc(b, '/');
    od_buf_puts(b, path);
    od_buf_puts(b, " HTTP/1.1\r\n");
    for (int i = 0; i < req->nheaders; i++) {
        const char *h = req->headers[i];
        if (!h || strpbrk(h, "\r\n"))
            continue;              /* no header injection through a value */
        const char *colon = strchr(h, ':');
        if (!colon || colon == h)
            continue;
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        if (!*v)
            continue;              /* "Name:" means "do not send" (as with curl) */
        size_t nl = (size_t)(colon - h);
        if (nl == 4 && !strncasecmp(h, "host", 4)) has_host = 1;
        if (nl == 6 && !strncasecmp(h, "accept", 6)) has_accept = 1;
        if ((nl == 14 && !strncasecmp(h, "content-length", 14)) ||
            (nl == 17 && !strncasecmp(h, "transfer-encoding", 17)))
            continue;              /* framing is ours */
        od_buf_puts(b, h);
        od_buf_puts(b, "\r\n");
    }
    if (!has_host) {
        od_buf_puts(b, "Host: ");
        od_buf_puts(b, hostport);
        od_buf_puts(b, "\r\n");
    }
    if (!has_accept)
        od_buf_puts(b, "Accept: */*\r\n");
    if (req->body || !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH")) {
        od_buf_puts(b, "Content-Length: ");
        od_buf_put_i64(b, req->body ? (int64_t)req->body_len : 0);
        od_buf_puts(b, "\r\n");
    }
    od_buf_puts(b, "\r\n");
    if (req->body && req->body_len)
        od_buf_put(b, req->body, req->body_len);
    x->head = !strcmp(m, "HEAD");
}

static od_h1 *h1_of(od_loop *l)
{
    od_h1 **slot = od_loop_h1(l);
    if (!*slot) {
        od_h1 *o = od_calloc(1, sizeof *o);
        o->l = l;
        o->rbuf = od_malloc(H1_RECV);
        *slot = o;
    }
    return *slot;
}

od_http *od_h1_start(od_loop *l, const od_http_req *req, const od_http_cbs *cbs, void *ud, int *declined)
{
    struct sockaddr_storage sa;
    socklen_t salen = 0;
    char hostport[128];
    const char *path;
    int localhost = 0;
    *declined = 0;
    if (parse_url(req->url, &sa, &salen, hostport, sizeof hostport, &path, &localhost) < 0) {
        *declined = 1;
        return NULL;
    }
    od_h1 *o = h1_of(l);
    h1x *x = od_calloc(1, sizeof *x);
    x->native = 1;
    x->o = o;
    x->pool = pool_get(o, &sa, salen, localhost);
    if (cbs) x->cbs = *cbs;
    x->ud = ud;
    x->max_bytes = req->max_response_bytes > 0 ? req->max_response_bytes : 64L * 1024 * 1024;
    x->idle_ms = req->idle_timeout_ms > 0 ? req->idle_timeout_ms : 0;
    x->connect_ms = req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 10000;
    int64_t now = od_mono_us();
    x->last_us = now;
    if (req->timeout_ms > 0)
        x->deadline_us = now + (int64_t)req->timeout_ms * 1000;
    put_request(x, req, hostport, path);
    x->next = o->live;
    if (o->live) o->live->prev = x;
    o->live = x;

    h1_pool *p = x->pool;
    if (p->idle) {
        h1_conn *c = p->idle;     /* the warmest one */
        idle_unlink(c);
        c->x = x;
        x->c = c;
        x->state = S_SEND;
        x->starting = 1;
        x_send(x, c);             /* a failure retries, or leaves late_err */
        x->starting = 0;
    } else {
        const char *err = NULL;
        if (x_connect(x, &err) < 0 && !(x->pool->localhost && x_localhost_v6(x)))
            x->late_err = err;
    }
    x_arm(x);
    return (od_http *)x;
}

void od_h1_cancel(od_http *h)
{
    h1x *x = (h1x *)(void *)h;
    if (x->cancelled || x->done)
        return;
    x->cancelled = 1;
    od_timer_stop(&x->timer);
    x_drop_conn(x);               /* mid-response: the connection cannot be reused */
    x_unlink(x);
    if (!x->refs)
        x_free(x);
}

void od_h1_pause(od_http *h, int paused)
{
    h1x *x = (h1x *)(void *)h;
    if (x->cancelled || x->done || x->paused == !!paused)
        return;
    x->paused = !!paused;
    if (x->c) {
        if (paused)
            od_fd_want(x->c->w, x->state == S_SEND ? OD_FD_WRITE : 0);
        else if (x->state >= S_HEAD)
            od_fd_want(x->c->w, OD_FD_READ);
    }
    x->last_us = od_mono_us();
    x_arm(x);                     /* held bytes go out from the timer, never from here */
}

void od_h1_free(od_loop *l)
{
    od_h1 **slot = od_loop_h1(l), *o = *slot;
    if (!o)
        return;
    while (o->live) {
        h1x *x = o->live;
        x->cancelled = 1;
        x_drop_conn(x);
        x_unlink(x);
        if (!x->refs)
            x_free(x);
    }
    od_timer_stop(&o->sweep);
    while (o->pools) {
        h1_pool *p = o->pools;
        while (p->idle)
            conn_close(p->idle);
        o->pools = p->next;
        free(p);
    }
    free(o->rbuf);
    free(o);
    *slot = NULL;
}
