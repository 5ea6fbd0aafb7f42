/* gateway/h1serve.c — HTTP/1.1 on plain TCP connections, read and written
 * by the gateway itself on the loop. lws keeps TLS connections, and
 * WebSocket upgrades are handed to it with the bytes read so far.
 *
 * Why not lws's server for these: lws 4.1.6 crashed or hung the whole
 * server on pipelined requests, never answered some header names (a
 * strict prefix of one it knows: "X-Auth:"), spun a core on bytes behind
 * an open stream, and cost about a quarter of a relayed call's loop
 * instructions (its header parser and logging). Here a connection carries
 * one request at a time, in order: bytes behind it (pipelined requests)
 * wait, up to HS_AHEAD, and are read when the answer is out. An answer is
 * written as soon as it is made: from the read callback itself, or, when
 * it comes from an upstream's callback, from the ready list that a
 * zero-delay timer runs before the loop polls again. Deadlines (a head or
 * body due, a client not reading a stream) are swept from the 100 ms tick,
 * so a request puts nothing in lws's sorted timer list. */
#include "conn.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <libwebsockets.h>

#define HS_READ 16384         /* room for one read */
#define HS_HEAD_MAX 32768     /* a request head beyond this: 431 */
#define HS_AHEAD (64 * 1024)  /* bytes read behind the request in progress */
#define HS_MAX_HEADERS 128
#define HS_COMPACT (256 * 1024) /* written bytes kept before the rest moves down */
#define HS_LINGER_US 2000000  /* reading what a closed-on client still sends */

/* HS_LINGER: the last answer is out and our side shut; what the client
 * still sends (a body we refused) is read and dropped until it closes, so
 * the close is not a reset that could destroy that answer in flight */
enum { HS_HEAD, HS_BODY, HS_CHUNKS, HS_BUSY, HS_LINGER };
/* within HS_CHUNKS: a chunked request body (RFC 9112 7.1) */
enum { CK_SIZE, CK_DATA, CK_DATA_END, CK_TRAILER };
#define HS_CHUNK_LINE 4096    /* a chunk-size or trailer line */

typedef struct hs_hdr {
    const char *name, *value;
} hs_hdr;

struct gw_h1s {
    gw_server *srv;
    int fd;
    od_fd *w;
    int state;
    int eof;               /* the client's side ended, or failed */
    int want;              /* OD_FD_READ | OD_FD_WRITE as last asked */
    int queued;            /* on srv->h1_ready */
    int in_cb, dead;       /* closed inside a callback: freed when it returns */
    char *ib;              /* bytes read: [ioff, ilen) not yet used */
    size_t ioff, ilen, icap;
    size_t scan;           /* the head does not end before ib + ioff + scan */
    char *head;            /* the request's head, split in place (kept for the next) */
    size_t head_cap;
    hs_hdr hdr[HS_MAX_HEADERS];
    int nhdr;
    const char *query;     /* after '?', or "" */
    int64_t body_left;     /* of the body, or of the chunk */
    int chunk;             /* CK_* */
    int64_t trailer_bytes;
    int http10, keep;
    od_buf wq;             /* the answer's head, not yet written */
    size_t wq_off;
    int64_t deadline_us;   /* head or body due, or a client not reading: swept; 0 none */
    gw_h1s *next, *prev;   /* srv->h1_conns */
    gw_h1s *rnext;         /* srv->h1_ready */
    gw_conn c;
};

static void io(od_fd *w, int ev, void *ud);
static void advance(gw_h1s *h);
static void flush(gw_h1s *h);
static void flush_ready(gw_server *s);

/* ---------------- life ---------------- */

static void want(gw_h1s *h, int ev)
{
    if (h->want != ev) {
        h->want = ev;
        od_fd_want(h->w, ev);
    }
}

static void conn_reset(gw_h1s *h)
{
    gw_conn *c = &h->c;
    od_buf_free(&c->body);
    od_buf_free(&c->hdrs);
    od_buf_free(&c->out);
    free(c->key);
    memset(c, 0, sizeof *c);
    c->h1 = h;
    c->srv = h->srv;
    if (h->head_cap > 4096) { /* a rare large head does not stay for the connection's life */
        free(h->head);
        h->head = NULL;
        h->head_cap = 0;
    }
    h->nhdr = 0;
    h->query = "";
    od_buf_reset(&h->wq);
    h->wq_off = 0;
}

static void ready_unlink(gw_h1s *h)
{
    gw_h1s **pp = &h->srv->h1_ready;
    while (*pp && *pp != h)
        pp = &(*pp)->rnext;
    if (*pp)
        *pp = h->rnext;
    h->queued = 0;
}

static void hs_free(gw_h1s *h)
{
    gw_server *s = h->srv;
    if (h->queued)
        ready_unlink(h);
    if (h->prev) h->prev->next = h->next;
    else s->h1_conns = h->next;
    if (h->next) h->next->prev = h->prev;
    if (h->w)
        od_fd_close(h->w);
    if (h->fd >= 0)
        close(h->fd);
    conn_reset(h);
    od_buf_free(&h->wq);
    free(h->head);
    free(h->ib);
    free(h);
}

/* ends the connection; what works for its request is told the client left */
static void hs_close(gw_h1s *h)
{
    if (h->dead)
        return;
    h->dead = 1;
    gw_conn_gone(&h->c);
    if (!h->in_cb)
        hs_free(h);
}

void gw_h1s_adopt(od_loop *l, int fd)
{
    gw_server *s = od_loop_user(l);
    gw_h1s *h = od_calloc(1, sizeof *h);
    h->srv = s;
    h->fd = fd;
    h->c.h1 = h;
    h->c.srv = s;
    h->query = "";
    h->w = od_fd_watch(l, fd, OD_FD_READ, io, h);
    if (!h->w) {
        close(fd);
        free(h);
        return;
    }
    h->want = OD_FD_READ;
    h->deadline_us = od_mono_us() + (int64_t)s->t.header_timeout_s * 1000000;
    h->next = s->h1_conns;
    if (h->next) h->next->prev = h;
    s->h1_conns = h;
}

void gw_h1s_close_all(gw_server *s)
{
    od_timer_stop(&s->h1_flush);
    while (s->h1_conns) {
        gw_h1s *h = s->h1_conns;
        h->in_cb = 0;
        h->dead = 0;
        hs_close(h);
    }
}

void gw_h1s_sweep(gw_server *s, int all)
{
    int64_t now = od_mono_us();
    gw_h1s *h = s->h1_conns, *next;
    for (; h; h = next) {
        next = h->next;
        int idle = h->state == HS_HEAD && h->ioff == h->ilen;
        if ((h->deadline_us && now >= h->deadline_us) || (all && idle))
            hs_close(h);
    }
}

/* ---------------- reading ---------------- */

/* reads what the socket holds, up to HS_AHEAD unused bytes (the rest
 * waits for the next turn); the number of bytes read */
static size_t read_in(gw_h1s *h)
{
    size_t got = 0;
    while (!h->eof) {
        size_t ahead = h->ilen - h->ioff;
        if (h->state == HS_LINGER)
            h->ioff = h->ilen = ahead = 0;
        if (ahead >= HS_AHEAD)
            return got; /* parsed first; a request in progress: read again when its answer is out */
        if (h->ioff == h->ilen) {
            h->ioff = h->ilen = 0;
        } else if (h->icap - h->ilen < HS_READ && h->ioff) {
            memmove(h->ib, h->ib + h->ioff, ahead);
            h->ilen = ahead;
            h->ioff = 0;
        }
        if (h->icap - h->ilen < HS_READ) {
            size_t cap = h->icap ? h->icap * 2 : HS_READ;
            while (cap - h->ilen < HS_READ) cap *= 2;
            h->ib = od_realloc(h->ib, cap);
            h->icap = cap;
        }
        size_t room = h->icap - h->ilen;
        ssize_t n = recv(h->fd, h->ib + h->ilen, room, 0);
        if (n > 0) {
            h->ilen += (size_t)n;
            got += (size_t)n;
            if ((size_t)n < room)
                return got; /* drained: no second call just to hear EAGAIN */
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return got;
        h->eof = 1; /* closed, or reset */
    }
    return got;
}

static void consume(gw_h1s *h, size_t n)
{
    h->ioff += n;
    if (h->ioff == h->ilen)
        h->ioff = h->ilen = 0;
}

/* offset just past the blank line ending the head in the unread bytes, 0
 * when it has not all arrived */
static size_t head_end(gw_h1s *h)
{
    const char *p = h->ib + h->ioff, *e = h->ib + h->ilen;
    const char *q = p + (h->scan ? h->scan - 1 : 0);
    while (q < e && (q = memchr(q, '\n', (size_t)(e - q)))) {
        const char *r = q + 1;
        if (r < e && *r == '\r') r++;
        if (r < e && *r == '\n')
            return (size_t)(r + 1 - p);
        if (r >= e)
            break;
        q++;
    }
    h->scan = (size_t)(e - p) > 2 ? (size_t)(e - p) - 2 : 1;
    return 0;
}

/* ---------------- the request head ---------------- */

static int tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* %XX in place; -1 on an encoded NUL */
static int pct_decode(char *s)
{
    char *o = s;
    for (; *s; s++) {
        int a, b;
        if (*s == '%' && (a = od_hex_digit(s[1])) >= 0 && (b = od_hex_digit(s[2])) >= 0) {
            if (!a && !b)
                return -1;
            *o++ = (char)(a * 16 + b);
            s += 2;
        } else {
            *o++ = *s;
        }
    }
    *o = 0;
    return 0;
}

/* control bytes a head may not hold; CR and LF are checked where lines end */
static int bad_byte(unsigned char c)
{
    return (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7F;
}

/* one line of the head in place: its end (NUL-terminated, CR dropped) and
 * the start of the next; NULL on a bare CR */
static char *cut_line(char *p, char **next)
{
    char *nl = strchr(p, '\n');
    if (!nl)
        return NULL;
    *next = nl + 1;
    if (nl > p && nl[-1] == '\r') nl--;
    *nl = 0;
    return memchr(p, '\r', (size_t)(nl - p)) ? NULL : nl;
}

static int has_token(const char *v, const char *tok)
{
    size_t n = strlen(tok);
    while (*v) {
        while (*v == ' ' || *v == '\t' || *v == ',') v++;
        const char *e = v;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > v && (t[-1] == ' ' || t[-1] == '\t')) t--;
        if ((size_t)(t - v) == n && !strncasecmp(v, tok, n))
            return 1;
        v = e;
    }
    return 0;
}

/* name in lower case, as parse_head leaves the head's names */
static const char *hdr_get(const gw_h1s *h, const char *name, int *count)
{
    const char *v = NULL;
    int k = 0;
    for (int i = 0; i < h->nhdr; i++)
        if (h->hdr[i].name[0] == name[0] && !strcmp(h->hdr[i].name, name) && k++ == 0)
            v = h->hdr[i].value;
    if (count) *count = k;
    return v;
}

/* the head's first len unread bytes, split into h; the path (decoded, no
 * query) and method through the out pointers. An HTTP status to refuse it
 * with, or 0. */
static int parse_head(gw_h1s *h, size_t len, char **path, char **method, const char **why)
{
    if (len + 1 > h->head_cap) {
        h->head_cap = len + 1 > 1024 ? len + 1 : 1024;
        free(h->head);
        h->head = od_malloc(h->head_cap);
    }
    memcpy(h->head, h->ib + h->ioff, len);
    h->head[len] = 0;
    char *p = h->head, *next, *e;
    *why = "malformed request";
    for (size_t i = 0; i < len; i++)
        if (bad_byte((unsigned char)p[i]))
            return 400; /* NUL too */
    while (*p == '\r' || *p == '\n') p++; /* blank lines before the request line (RFC 9112 2.2) */
    if (!(e = cut_line(p, &next)))
        return 400;
    char *sp1 = strchr(p, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || sp1 == p || sp2 == sp1 + 1)
        return 400;
    *sp1 = *sp2 = 0;
    for (char *m = p; *m; m++)
        if (!tchar((unsigned char)*m))
            return 400;
    char *target = sp1 + 1, *ver = sp2 + 1;
    if (!strcmp(ver, "HTTP/1.1")) {
        h->http10 = 0;
    } else if (!strcmp(ver, "HTTP/1.0")) {
        h->http10 = 1;
    } else {
        *why = "only HTTP/1.0 and HTTP/1.1 are served here";
        return strncmp(ver, "HTTP/", 5) ? 400 : 505;
    }
    *method = p;
    /* absolute-form (a proxy's): the path is what follows the authority */
    if (!strncasecmp(target, "http://", 7) || !strncasecmp(target, "https://", 8)) {
        char *a = strstr(target, "//") + 2;
        target = strchr(a, '/');
        if (!target)
            target = "/";
    }
    if (*target != '/' && strcmp(target, "*"))
        return 400;
    char *q = strchr(target, '?');
    if (q) {
        *q = 0;
        h->query = q + 1;
    }
    if (pct_decode(target) < 0)
        return 400;
    *path = target;
    for (p = next; *p != '\r' && *p != '\n'; p = next) {
        if (!(e = cut_line(p, &next)))
            return 400;
        char *colon = strchr(p, ':');
        if (!colon || colon == p)
            return 400; /* also obs-fold: a line starting with white space */
        *colon = 0;
        for (char *n = p; *n; n++) {
            if (!tchar((unsigned char)*n))
                return 400; /* white space before the colon too (RFC 9112 5.1) */
            if (*n >= 'A' && *n <= 'Z')
                *n |= 0x20; /* names match in lower case */
        }
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        while (e > v && (e[-1] == ' ' || e[-1] == '\t')) *--e = 0;
        if (h->nhdr == HS_MAX_HEADERS) {
            *why = "too many request header lines";
            return 431;
        }
        h->hdr[h->nhdr++] = (hs_hdr){p, v};
    }
    return 0;
}

int gw_h1s_header(gw_h1s *h, const char *name, char *buf, size_t n)
{
    const char *v = hdr_get(h, name, NULL);
    buf[0] = 0;
    if (!v)
        return 0;
    size_t len = strlen(v);
    if (len + 1 > n)
        return -1;
    memcpy(buf, v, len + 1);
    return (int)len;
}

int gw_h1s_query(gw_h1s *h, const char *name, char *buf, size_t n)
{
    size_t nl = strlen(name);
    for (const char *p = h->query; *p;) {
        const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
        if ((size_t)(end - p) > nl && !strncmp(p, name, nl) && p[nl] == '=') {
            size_t len = (size_t)(end - p) - nl - 1;
            if (len + 1 > n)
                return -1;
            memcpy(buf, p + nl + 1, len);
            buf[len] = 0;
            if (pct_decode(buf) < 0)
                return -1;
            return (int)strlen(buf);
        }
        p = amp ? amp + 1 : end;
    }
    return -1;
}

/* answered with an error and closed after: nothing more is read */
static void refuse(gw_h1s *h, int status, const char *code, const char *msg)
{
    gw_conn *c = &h->c;
    h->keep = 0;
    c->close_after = 1;
    gw_send_error(c, c->route == RT_MESSAGES, NULL, status, code, msg);
    h->state = HS_BUSY;
    h->deadline_us = 0;
}

/* lws serves the WebSocket from here: the head goes back to it unread */
static void hand_to_lws(gw_h1s *h)
{
    struct lws_vhost *vh = od_loop_vhost(h->srv->loop);
    int fd = h->fd;
    od_fd_close(h->w);
    h->w = NULL;
    h->fd = -1;
    /* lws closes fd if it cannot take it */
    lws_adopt_socket_vhost_readbuf(vh, fd, h->ib + h->ioff, h->ilen - h->ioff);
    hs_close(h);
}

static void begin(gw_h1s *h, size_t len)
{
    gw_conn *c = &h->c;
    gw_server *s = h->srv;
    char *path = NULL, *method = NULL;
    const char *why;
    int bad = parse_head(h, len, &path, &method, &why);
    h->scan = 0;
    if (bad) {
        consume(h, len);
        refuse(h, bad, bad == 505 ? "http_version_not_supported" : bad == 431 ? "request_too_large"
                                                                             : "invalid_request", why);
        return;
    }
    const char *up = hdr_get(h, "upgrade", NULL);
    if (up && has_token(up, "websocket")) {
        hand_to_lws(h);
        return;
    }
    consume(h, len);
    const char *conn = hdr_get(h, "connection", NULL);
    h->keep = h->http10 ? conn && has_token(conn, "keep-alive") : !(conn && has_token(conn, "close"));
    c->unchunked = h->http10;
    if (!h->keep)
        c->close_after = 1;

    int ncl = 0, nte = 0, nhost = 0;
    const char *cl = hdr_get(h, "content-length", &ncl), *te = hdr_get(h, "transfer-encoding", &nte);
    int64_t length = 0;
    gw_conn_open(c, path, method);
    hdr_get(h, "host", &nhost);
    if (!h->http10 && nhost != 1) {
        refuse(h, 400, "invalid_request", "Host: an HTTP/1.1 request carries exactly one (RFC 9112 3.2)");
        return;
    }
    int chunked = 0;
    if (te) {
        /* where the body ends is unclear with both, or with a coding we do
         * not read: nothing is read and the connection closes (RFC 9112 6.1, 6.3) */
        if (cl || h->http10) {
            refuse(h, 400, "invalid_request", cl ? "both Content-Length and Transfer-Encoding: send only Content-Length"
                                                 : "Transfer-Encoding in an HTTP/1.0 request");
            return;
        }
        if (nte > 1 || strcasecmp(te, "chunked")) {
            refuse(h, 501, "not_implemented", "Transfer-Encoding: only chunked is supported");
            return;
        }
        chunked = 1;
    }
    if (cl) {
        const char *d = cl;
        while (*d >= '0' && *d <= '9') d++;
        if (ncl > 1 || d == cl || *d || d - cl > 18 || od_parse_i64(cl, &length) != 0) {
            refuse(h, 400, "invalid_request", "Content-Length: expected one non-negative integer");
            return;
        }
    }
    if ((length > 0 || chunked) && !h->http10 && length <= s->max_body) {
        const char *ex = hdr_get(h, "expect", NULL);
        if (ex && !strcasecmp(ex, "100-continue") && (chunked || (int64_t)(h->ilen - h->ioff) < length)) {
            static const char go[] = "HTTP/1.1 100 Continue\r\n\r\n";
            (void)!send(h->fd, go, sizeof go - 1, MSG_NOSIGNAL); /* best effort: the client sends anyway after a wait */
        }
    }
    if (gw_conn_start(c, length > 0 || chunked, length) == 0) {
        h->state = chunked ? HS_CHUNKS : HS_BODY;
        h->chunk = CK_SIZE;
        h->trailer_bytes = 0;
        h->body_left = length;
        h->deadline_us = od_mono_us() + (int64_t)s->t.header_timeout_s * 1000000;
    } else {
        h->state = HS_BUSY;
        h->deadline_us = 0;
    }
}

/* a Content-Length body's bytes to the request: 1 at its end, 0 for more */
static int body(gw_h1s *h)
{
    size_t n = h->ilen - h->ioff;
    if ((int64_t)n > h->body_left)
        n = (size_t)h->body_left;
    if (n) {
        gw_conn_body(&h->c, h->ib + h->ioff, n);
        consume(h, n);
        h->body_left -= (int64_t)n;
    }
    return h->body_left == 0;
}

/* a chunked body's bytes to the request: 1 at its end, 0 for more, -1 on
 * bad framing */
static int chunks(gw_h1s *h)
{
    for (;;) {
        char *p = h->ib + h->ioff;
        size_t avail = h->ilen - h->ioff;
        if (h->chunk == CK_DATA) {
            size_t n = (int64_t)avail > h->body_left ? (size_t)h->body_left : avail;
            if (!n)
                return 0;
            gw_conn_body(&h->c, p, n);
            consume(h, n);
            if ((h->body_left -= (int64_t)n) == 0)
                h->chunk = CK_DATA_END;
            continue;
        }
        if (h->chunk == CK_DATA_END) { /* the line end after a chunk's data */
            if (!avail)
                return 0;
            if (p[0] == '\n') {
                consume(h, 1);
            } else {
                if (p[0] != '\r' || (avail > 1 && p[1] != '\n'))
                    return -1;
                if (avail < 2)
                    return 0;
                consume(h, 2);
            }
            h->chunk = CK_SIZE;
            continue;
        }
        char *nl = memchr(p, '\n', avail);
        if (!nl)
            return avail > HS_CHUNK_LINE ? -1 : 0;
        size_t ll = (size_t)(nl - p);
        if (ll > HS_CHUNK_LINE)
            return -1;
        size_t end = ll && p[ll - 1] == '\r' ? ll - 1 : ll;
        if (h->chunk == CK_TRAILER) {
            consume(h, ll + 1);
            if (!end)
                return 1;
            if ((h->trailer_bytes += (int64_t)ll) > HS_HEAD_MAX)
                return -1;
            continue;
        }
        int64_t v;
        if (od_chunk_size(p, end, &v) < 0)
            return -1;
        consume(h, ll + 1);
        h->body_left = v;
        h->chunk = v ? CK_DATA : CK_TRAILER;
    }
}

/* parses and dispatches what has been read, as far as it goes */
static void advance(gw_h1s *h)
{
    while (!h->dead) {
        if (h->state == HS_HEAD) {
            if (h->ioff == h->ilen) {
                if (h->eof) hs_close(h);
                return;
            }
            size_t len = head_end(h);
            if (len > HS_HEAD_MAX || (!len && h->ilen - h->ioff > HS_HEAD_MAX)) {
                h->ioff = h->ilen = 0;
                refuse(h, 431, "request_too_large", "request header too large");
                return;
            }
            if (!len) {
                if (h->eof) hs_close(h);
                return;
            }
            begin(h, len);
        } else if (h->state == HS_BODY || h->state == HS_CHUNKS) {
            int r = h->state == HS_BODY ? body(h) : chunks(h);
            if (r < 0) {
                refuse(h, 400, "invalid_request", "malformed chunked request body");
                return;
            }
            if (!r) {
                if (h->eof) hs_close(h);
                return;
            }
            h->state = HS_BUSY;
            h->deadline_us = 0;
            gw_conn_body_end(&h->c);
        } else if (h->state == HS_LINGER) {
            h->ioff = h->ilen = 0;
            if (h->eof)
                hs_close(h);
            return;
        } else {
            if (h->eof && h->c.ended)
                flush(h); /* a client that shut its side after the request still gets this answer */
            else if (h->eof)
                hs_close(h); /* gone before its answer */
            return;
        }
    }
}

/* ---------------- writing ---------------- */

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

/* "date: ...": formatted once a second */
static void put_date(od_buf *b)
{
    static time_t at;
    static char text[40];
    time_t now = time(NULL);
    if (now != at) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(text, sizeof text, "date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        at = now;
    }
    od_buf_puts(b, text);
}

static void put_head(gw_h1s *h)
{
    gw_conn *c = &h->c;
    od_buf *b = &h->wq;
    char num[21];
    od_buf_put(b, "HTTP/1.1 ", 9);
    od_buf_put(b, num, od_fmt_i64(num, c->status));
    od_buf_putc(b, ' ');
    od_buf_puts(b, reason(c->status));
    od_buf_put(b, "\r\n", 2);
    gw_conn_put_headers(c, b);
    if (c->streaming) {
        if (c->unchunked) c->close_after = 1; /* the end of the body is the end of the connection */
        else od_buf_puts(b, "transfer-encoding: chunked\r\n");
        od_buf_puts(b, "cache-control: no-cache\r\n");
    } else if (c->status != 204 && c->status != 304) {
        od_buf_put(b, "content-length: ", 16);
        od_buf_put(b, num, od_fmt_i64(num, (int64_t)(c->out.len - c->off)));
        od_buf_put(b, "\r\n", 2);
    }
    if (c->close_after) od_buf_puts(b, "connection: close\r\n");
    else if (h->http10) od_buf_puts(b, "connection: keep-alive\r\n");
    put_date(b);
    od_buf_put(b, "\r\n", 2);
    c->headers_sent = 1;
}

/* the answer is out: the next request, or the end */
static void complete(gw_h1s *h)
{
    if (h->c.close_after) {
        if (h->eof) {
            hs_close(h);
            return;
        }
        shutdown(h->fd, SHUT_WR);
        h->state = HS_LINGER;
        h->deadline_us = od_mono_us() + HS_LINGER_US;
        want(h, OD_FD_READ);
        advance(h);
        return;
    }
    conn_reset(h);
    h->state = HS_HEAD;
    h->deadline_us = od_mono_us() + (int64_t)h->srv->t.header_timeout_s * 1000000;
    want(h, h->eof ? 0 : OD_FD_READ);
    advance(h); /* a pipelined request already read */
}

static void flush(gw_h1s *h)
{
    gw_conn *c = &h->c;
    if (h->dead || !c->responding)
        return;
    if (!c->headers_sent)
        put_head(h);
    if (c->head_only)
        c->off = c->out.len;
    for (;;) {
        struct iovec iov[2];
        int n = 0;
        size_t a = h->wq.len - h->wq_off, b = c->out.len - c->off;
        if (a) iov[n++] = (struct iovec){h->wq.p + h->wq_off, a};
        if (b) iov[n++] = (struct iovec){c->out.p + c->off, b};
        if (!n)
            break;
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(h->fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            hs_close(h);
            return;
        }
        size_t k = (size_t)w < a ? (size_t)w : a;
        h->wq_off += k;
        c->off += (size_t)w - k;
        if ((size_t)w < a + b)
            break; /* the socket is full */
    }
    size_t pending = (h->wq.len - h->wq_off) + (c->out.len - c->off);
    if (!pending) {
        od_buf_reset(&h->wq);
        h->wq_off = 0;
        od_buf_reset(&c->out);
        c->off = 0;
        h->deadline_us = 0;
        if (c->ended) {
            complete(h);
            return;
        }
        want(h, h->want & ~OD_FD_WRITE);
    } else {
        if (c->off > HS_COMPACT) {
            memmove(c->out.p, c->out.p + c->off, c->out.len - c->off);
            c->out.len -= c->off;
            c->out.p[c->out.len] = 0;
            c->off = 0;
        }
        /* a client that stops reading is dropped after client_stall_ms */
        h->deadline_us = od_mono_us() + (int64_t)h->srv->t.client_stall_ms * 1000;
        want(h, h->want | OD_FD_WRITE);
    }
    if (c->streaming && c->out.len - c->off < GW_LOW_WATER) {
        if (c->call)
            gw_call_drained(c->call);
        if (c->fwd)
            gw_forward_drained(c->fwd);
    }
}

static void flush_ready(gw_server *s)
{
    while (s->h1_ready) {
        gw_h1s *h = s->h1_ready;
        s->h1_ready = h->rnext;
        h->queued = 0;
        h->in_cb++;
        flush(h);
        if (--h->in_cb == 0 && h->dead)
            hs_free(h);
    }
}

static void flush_fire(od_timer *t, void *ud)
{
    (void)t;
    flush_ready(ud);
}

void gw_h1s_kick(gw_h1s *h)
{
    gw_server *s = h->srv;
    if (h->queued || h->dead)
        return;
    h->queued = 1;
    h->rnext = s->h1_ready;
    s->h1_ready = h;
    if (!s->h1_flush.armed)
        od_timer_start(s->loop, &s->h1_flush, 0, flush_fire, s);
}

static void io(od_fd *w, int ev, void *ud)
{
    gw_h1s *h = ud;
    (void)w;
    h->in_cb++;
    if (ev & OD_FD_WRITE)
        flush(h);
    if (!h->dead && (ev & (OD_FD_READ | OD_FD_CLOSED))) {
        if (read_in(h) && (h->state == HS_BODY || h->state == HS_CHUNKS))
            h->deadline_us = od_mono_us() + (int64_t)h->srv->t.header_timeout_s * 1000000; /* a body stalls, not lasts */
        if (h->eof)
            want(h, h->want & ~OD_FD_READ); /* EOF stays readable: hearing it once is enough */
        else if (h->state == HS_BUSY && !h->eof && h->ilen - h->ioff >= HS_AHEAD)
            want(h, h->want & ~OD_FD_READ); /* enough read ahead: the rest waits in the socket */
        advance(h);
    }
    h->in_cb--;
    if (h->dead && !h->in_cb) {
        hs_free(h);
        return;
    }
    flush_ready(h->srv); /* answers made just now go out before the next poll */
}
