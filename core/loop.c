/* core/loop.c — the one event loop: lws's own poll loop, with curl multi,
 * raw descriptors and timers driven on it. See ../shared/LWS-NOTES.md.
 *
 * Re-entrancy rules kept here so callers need not think about them:
 *  - curl must not see curl_multi_add_handle/remove_handle/easy_pause(CONT)
 *    from inside its own callbacks: while l->in_curl > 0 those are deferred
 *    to a zero-delay sul (the "pending" list).
 *  - a user callback may cancel/close the very object it is called for:
 *    objects carry an in_cb counter and are freed by whoever holds them
 *    after the callback returns. */
#include "loop.h"
#include "od.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libwebsockets.h>

#include "loop_int.h"

_Static_assert(sizeof(lws_sorted_usec_list_t) <= sizeof(((od_timer *)0)->sul),
               "od_timer.sul too small for lws_sorted_usec_list_t");
_Static_assert(offsetof(od_timer, sul) == 0, "od_timer.sul must come first");

#define RAW_PROTO "od-raw"

enum { K_SOCK = 1, K_FD = 2 };

typedef struct csock csock;

/* curl_easy_init/cleanup per transfer was ~3 % of a relayed call; a reset
 * handle is reused instead (connections live in the multi either way) */
#define EASY_SPARE 64

struct od_loop {
    struct lws_context *ctx;
    struct lws_vhost *vh;
    struct lws_protocols *protos;
    void *user;
    volatile sig_atomic_t stop;
    int destroying;
    CURLM *multi;
    lws_sorted_usec_list_t curl_sul;  /* curl's own timer */
    lws_sorted_usec_list_t defer_sul; /* deferred work */
    int defer_armed;
    int in_curl;                      /* depth inside curl calls that may call back */
    od_http *live;                    /* all live transfers (teardown) */
    od_http *pending;                 /* transfers with deferred work */
    csock *lost;                      /* curl sockets whose wsi lws closed */
    csock **parked;                   /* idle curl sockets by fd: their wsi is kept for reuse */
    int nparked;
    od_fd *fds;                       /* all live fd watchers (teardown) */
    int curl_inited;
    CURL *spare[EASY_SPARE];          /* finished easy handles, reset, for the next transfers */
    int nspare;
    od_acceptor *acc[2];              /* workers: the shared and the internal listening socket */
    od_h1 *h1;                        /* the native client's pools (h1.c) */
    int h1_off;                       /* ODOCK_UPSTREAM_CURL=1: curl for everything */
    int listen_fd;
    int own_listen;                   /* listen_fd is ours: a plain listen address with on_plain */
    int busy_poll_us;
    unsigned activity;                /* bumped by every I/O callback: busy polling goes on */
};

/* a socket curl asked us to watch; owned by curl's assignment */
struct csock {
    int kind;
    od_loop *l;
    curl_socket_t s;
    struct lws *wsi;
    int want; /* CURL_POLL_IN / OUT / INOUT */
    lws_sorted_usec_list_t rearm;
    csock *lnext, *lprev; /* lost list */
    int lost;
    int parked;           /* idle in curl's connection cache: not polled */
};

struct od_fd {
    int kind;
    od_loop *l;
    int fd;
    struct lws *wsi;
    int want;
    od_fd_fn fn;
    void *ud;
    lws_sorted_usec_list_t rearm;
    int in_cb, closing;
    od_fd *next, *prev;
};

struct od_http {
    int native;           /* 0: curl's; h1.c's transfers have 1 here */
    od_loop *l;
    CURL *easy;
    struct curl_slist *hdrs;
    od_http_cbs cbs;
    void *ud;
    od_buf hbuf;          /* header lines of the last response */
    int headers_done;     /* on_headers delivered */
    int paused;           /* caller wants no on_data */
    int curl_paused;      /* we returned CURL_WRITEFUNC_PAUSE */
    int cancelled;
    int aborted;          /* a callback returned -1 */
    int too_large;
    int added;            /* in the multi handle */
    int in_cb;
    int pend_add, pend_unpause, in_pending;
    long max_bytes, got;
    long idle_ms;
    int64_t last_us;
    od_timer idle;
    od_http *next, *prev;   /* live list */
    od_http *pnext, *pprev; /* pending list */
};

static void defer_schedule(od_loop *l);
static void process_done(od_loop *l);

/* lws's log lines go to stderr as before, less one: lws 4.1 logs every
 * socket adopted with bytes already read (each WebSocket upgrade that the
 * gateway's HTTP/1 server hands over) at error level */
static void lws_emit(int level, const char *line)
{
    if (strstr(line, "adopt_socket_readbuf: calling service"))
        return;
    lwsl_emit_stderr(level, line);
}

/* ------------------------------------------------------------------ */
/* timers */

static void timer_fire(lws_sorted_usec_list_t *sul)
{
    od_timer *t = (od_timer *)(void *)sul;
    t->armed = 0;
    if (t->fn)
        t->fn(t, t->ud);
}

void od_timer_start(od_loop *l, od_timer *t, int64_t delay_us, od_timer_fn fn, void *ud)
{
    lws_sorted_usec_list_t *sul = (lws_sorted_usec_list_t *)(void *)t->sul;
    if (!t->armed)
        memset(sul, 0, sizeof *sul);
    if (delay_us < 0)
        delay_us = 0;
    t->loop = l;
    t->fn = fn;
    t->ud = ud;
    t->armed = 1;
    lws_sul_schedule(l->ctx, 0, sul, timer_fire, (lws_usec_t)delay_us);
}

void od_timer_stop(od_timer *t)
{
    if (!t || !t->armed)
        return;
    lws_sul_cancel((lws_sorted_usec_list_t *)(void *)t->sul);
    t->armed = 0;
}

/* ------------------------------------------------------------------ */
/* raw descriptors: curl sockets and od_fd watchers share one protocol */

static struct lws *adopt_dup(od_loop *l, int fd, void *opaque)
{
    /* lws closes what it adopts: give it a dup so the owner's fd survives */
    int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (d < 0)
        return NULL;
    lws_adopt_desc_t ad;
    memset(&ad, 0, sizeof ad);
    ad.vh = l->vh;
    ad.type = LWS_ADOPT_RAW_FILE_DESC;
    ad.fd.filefd = d;
    ad.vh_prot_name = RAW_PROTO;
    ad.opaque = opaque;
    struct lws *wsi = lws_adopt_descriptor_vhost_via_info(&ad);
    /* on failure lws has closed d already */
    return wsi;
}

static void detach_wsi(struct lws *wsi)
{
    lws_set_opaque_user_data(wsi, NULL);
    lws_rx_flow_control(wsi, 0);
    lws_set_timeout(wsi, 1, LWS_TO_KILL_ASYNC);
}

static void lost_unlink(csock *cs)
{
    od_loop *l = cs->l;
    if (!cs->lost)
        return;
    if (cs->lprev) cs->lprev->lnext = cs->lnext;
    else l->lost = cs->lnext;
    if (cs->lnext) cs->lnext->lprev = cs->lprev;
    cs->lnext = cs->lprev = NULL;
    cs->lost = 0;
}

static void csock_apply(csock *cs)
{
    if (!cs->wsi)
        return;
    lws_rx_flow_control(cs->wsi, (cs->want & CURL_POLL_IN) ? 1 : 0);
    if (cs->want & CURL_POLL_OUT)
        lws_callback_on_writable(cs->wsi);
}

static void csock_rearm(lws_sorted_usec_list_t *sul)
{
    csock *cs = lws_container_of(sul, csock, rearm);
    if (cs->wsi && (cs->want & CURL_POLL_OUT))
        lws_callback_on_writable(cs->wsi);
}

static void fd_rearm(lws_sorted_usec_list_t *sul)
{
    od_fd *w = lws_container_of(sul, od_fd, rearm);
    if (w->wsi && !w->closing && (w->want & OD_FD_WRITE))
        lws_callback_on_writable(w->wsi);
}

static void curl_action(od_loop *l, curl_socket_t s, int ev)
{
    int running = 0;
    l->in_curl++;
    curl_multi_socket_action(l->multi, s, ev, &running);
    l->in_curl--;
    process_done(l);
}

static void fd_free(od_fd *w)
{
    od_loop *l = w->l;
    lws_sul_cancel(&w->rearm);
    if (w->prev) w->prev->next = w->next;
    else l->fds = w->next;
    if (w->next) w->next->prev = w->prev;
    free(w);
}

static int fd_call(od_fd *w, int ev)
{
    if (w->closing || !w->fn)
        return 0;
    w->in_cb++;
    w->fn(w, ev, w->ud);
    w->in_cb--;
    if (w->closing && !w->in_cb) {
        fd_free(w);
        return 1; /* gone */
    }
    return 0;
}

static int raw_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    void *op = lws_get_opaque_user_data(wsi);
    int kind = op ? *(int *)op : 0;

    switch (reason) {
    case LWS_CALLBACK_RAW_RX_FILE:
        od_loop_active(wsi);
        if (kind == K_SOCK) {
            csock *cs = op;
            curl_action(cs->l, cs->s, CURL_CSELECT_IN);
        } else if (kind == K_FD) {
            fd_call(op, OD_FD_READ);
        }
        break;
    case LWS_CALLBACK_RAW_WRITEABLE_FILE:
        od_loop_active(wsi);
        if (kind == K_SOCK) {
            csock *cs = op;
            od_loop *l = cs->l;
            curl_action(l, cs->s, CURL_CSELECT_OUT);
            /* cs may be gone: REMOVE clears the wsi's opaque before freeing */
            if (lws_get_opaque_user_data(wsi) == cs && (cs->want & CURL_POLL_OUT))
                lws_sul_schedule(l->ctx, 0, &cs->rearm, csock_rearm, 0);
        } else if (kind == K_FD) {
            od_fd *w = op;
            if (fd_call(w, OD_FD_WRITE))
                break;
            if (lws_get_opaque_user_data(wsi) == w && (w->want & OD_FD_WRITE))
                lws_sul_schedule(w->l->ctx, 0, &w->rearm, fd_rearm, 0);
        }
        break;
    case LWS_CALLBACK_RAW_CLOSE_FILE:
        if (kind == K_SOCK) {
            csock *cs = op;
            od_loop *l = cs->l;
            cs->wsi = NULL;
            lws_sul_cancel(&cs->rearm);
            if (l->destroying) {
                free(cs);
                break;
            }
            if (cs->parked)
                break; /* idle: curl finds out when it next uses or closes it */
            /* lws closed it under curl (hang-up): let curl find out */
            if (!cs->lost) {
                cs->lost = 1;
                cs->lprev = NULL;
                cs->lnext = l->lost;
                if (l->lost) l->lost->lprev = cs;
                l->lost = cs;
            }
            defer_schedule(l);
        } else if (kind == K_FD) {
            od_fd *w = op;
            w->wsi = NULL;
            /* lws may call again for this wsi (its final free): w can be
             * gone by then, closed from inside the callback below */
            lws_set_opaque_user_data(wsi, NULL);
            lws_sul_cancel(&w->rearm);
            if (!w->l->destroying)
                fd_call(w, OD_FD_CLOSED);
        }
        break;
    default:
        break;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* fd watchers */

od_fd *od_fd_watch(od_loop *l, int fd, int events, od_fd_fn fn, void *ud)
{
    od_fd *w = od_calloc(1, sizeof *w);
    w->kind = K_FD;
    w->l = l;
    w->fd = fd;
    w->fn = fn;
    w->ud = ud;
    w->wsi = adopt_dup(l, fd, w);
    if (!w->wsi) {
        free(w);
        return NULL;
    }
    w->next = l->fds;
    if (l->fds) l->fds->prev = w;
    l->fds = w;
    od_fd_want(w, events);
    return w;
}

void od_fd_want(od_fd *w, int events)
{
    if (!w || w->closing)
        return;
    w->want = events & (OD_FD_READ | OD_FD_WRITE);
    if (!w->wsi)
        return;
    lws_rx_flow_control(w->wsi, (w->want & OD_FD_READ) ? 1 : 0);
    if (w->want & OD_FD_WRITE)
        lws_callback_on_writable(w->wsi);
}

void od_fd_close(od_fd *w)
{
    if (!w || w->closing)
        return;
    w->closing = 1;
    if (w->wsi) {
        detach_wsi(w->wsi);
        w->wsi = NULL;
    }
    lws_sul_cancel(&w->rearm);
    if (!w->in_cb)
        fd_free(w);
}

/* ------------------------------------------------------------------ */
/* curl multi glue */

/* An idle upstream connection keeps its adopted wsi, with polling off:
 * curl removes a socket from its watch list after every transfer and adds it
 * back for the next one on the same connection, and re-adopting each time
 * costs a dup, an adoption and a close (lws 4.1 scans its whole fd table on
 * a close). The wsi goes when curl really closes the socket (close_cb). */
static void park(od_loop *l, csock *cs)
{
    if (cs->s >= l->nparked) {
        int n = l->nparked ? l->nparked : 64;
        while (n <= cs->s) n *= 2;
        l->parked = od_realloc(l->parked, (size_t)n * sizeof *l->parked);
        memset(l->parked + l->nparked, 0, (size_t)(n - l->nparked) * sizeof *l->parked);
        l->nparked = n;
    }
    l->parked[cs->s] = cs;
    cs->parked = 1;
}

static csock *unpark(od_loop *l, curl_socket_t s)
{
    if (s < 0 || s >= l->nparked || !l->parked[s]) return NULL;
    csock *cs = l->parked[s];
    l->parked[s] = NULL;
    cs->parked = 0;
    return cs;
}

static void csock_free(csock *cs)
{
    lost_unlink(cs);
    lws_sul_cancel(&cs->rearm);
    if (cs->wsi) detach_wsi(cs->wsi);
    free(cs);
}

static int close_cb(void *clientp, curl_socket_t s)
{
    od_loop *l = clientp;
    csock *cs = unpark(l, s);
    if (cs) csock_free(cs);
    return close(s);
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    od_loop *l = userp;
    csock *cs = socketp;
    (void)e;

    if (what == CURL_POLL_REMOVE) {
        if (cs) {
            curl_multi_assign(l->multi, s, NULL);
            lost_unlink(cs);
            lws_sul_cancel(&cs->rearm);
            cs->want = 0;
            if (cs->wsi) {
                lws_rx_flow_control(cs->wsi, 0);
                park(l, cs);
            } else {
                free(cs);
            }
        }
        return 0;
    }
    if (!cs) {
        cs = unpark(l, s);
        if (!cs) {
            cs = od_calloc(1, sizeof *cs);
            cs->kind = K_SOCK;
            cs->l = l;
            cs->s = s;
        }
        curl_multi_assign(l->multi, s, cs);
    }
    cs->want = what;
    if (!cs->wsi) {
        lost_unlink(cs);
        cs->wsi = adopt_dup(l, s, cs);
        if (!cs->wsi) {
            od_warn("loop: cannot watch an upstream socket (%s)", strerror(errno));
            return -1;
        }
    }
    csock_apply(cs);
    return 0;
}

static void curl_timer_fire(lws_sorted_usec_list_t *sul)
{
    od_loop *l = lws_container_of(sul, od_loop, curl_sul);
    curl_action(l, CURL_SOCKET_TIMEOUT, 0);
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    od_loop *l = userp;
    (void)m;
    if (timeout_ms < 0) {
        lws_sul_cancel(&l->curl_sul);
        return 0;
    }
    lws_sul_schedule(l->ctx, 0, &l->curl_sul, curl_timer_fire, (lws_usec_t)timeout_ms * 1000);
    return 0;
}

/* ------------------------------------------------------------------ */
/* transfers */

static void pending_add(od_http *h)
{
    od_loop *l = h->l;
    if (!h->in_pending) {
        h->in_pending = 1;
        h->pprev = NULL;
        h->pnext = l->pending;
        if (l->pending) l->pending->pprev = h;
        l->pending = h;
    }
    defer_schedule(l);
}

static void pending_unlink(od_http *h)
{
    od_loop *l = h->l;
    if (!h->in_pending)
        return;
    if (h->pprev) h->pprev->pnext = h->pnext;
    else l->pending = h->pnext;
    if (h->pnext) h->pnext->pprev = h->pprev;
    h->pnext = h->pprev = NULL;
    h->in_pending = 0;
}

static void http_free(od_http *h)
{
    od_loop *l = h->l;
    od_timer_stop(&h->idle);
    pending_unlink(h);
    if (h->added) {
        curl_multi_remove_handle(l->multi, h->easy);
        h->added = 0;
    }
    if (h->prev) h->prev->next = h->next;
    else l->live = h->next;
    if (h->next) h->next->prev = h->prev;
    if (l->nspare < EASY_SPARE && !l->destroying) {
        curl_easy_reset(h->easy);
        l->spare[l->nspare++] = h->easy;
    } else {
        curl_easy_cleanup(h->easy);
    }
    curl_slist_free_all(h->hdrs);
    od_buf_free(&h->hbuf);
    free(h);
}

static int deliver_headers(od_http *h)
{
    long st = 0;
    h->headers_done = 1;
    if (!h->cbs.on_headers)
        return 0;
    curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &st);
    h->in_cb++;
    int rc = h->cbs.on_headers(h, (int)st, h->hbuf.p ? h->hbuf.p : "", h->ud);
    h->in_cb--;
    return rc;
}

static size_t hdr_cb(char *p, size_t sz, size_t n, void *ud)
{
    od_http *h = ud;
    size_t len = sz * n, l = len;
    if (h->cancelled)
        return 0;
    while (l && (p[l - 1] == '\n' || p[l - 1] == '\r'))
        l--;
    if (l >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        od_buf_reset(&h->hbuf); /* a new response (after 100 Continue, ...) */
        return len;
    }
    if (l == 0)
        return len;
    if (h->hbuf.len + l > 256 * 1024)
        return len; /* absurd header volume: keep what we have */
    if (h->hbuf.len)
        od_buf_putc(&h->hbuf, '\n');
    od_buf_put(&h->hbuf, p, l);
    return len;
}

static size_t write_cb(char *p, size_t sz, size_t n, void *ud)
{
    od_http *h = ud;
    size_t len = sz * n;
    if (h->cancelled || h->aborted)
        return 0;
    if (h->paused) {
        h->curl_paused = 1;
        return CURL_WRITEFUNC_PAUSE;
    }
    if (!h->headers_done) {
        if (deliver_headers(h) < 0 || h->cancelled) {
            h->aborted = 1;
            return 0;
        }
    }
    h->got += (long)len;
    if (h->max_bytes > 0 && h->got > h->max_bytes) {
        h->too_large = 1;
        return 0;
    }
    h->last_us = od_mono_us();
    if (h->cbs.on_data && len) {
        h->in_cb++;
        int rc = h->cbs.on_data(h, p, len, h->ud);
        h->in_cb--;
        if (rc < 0 || h->cancelled) {
            h->aborted = 1;
            return 0;
        }
    }
    return len;
}

/* Ends a transfer that is still known to us: reports and frees it. */
static void finish(od_http *h, const char *err, int timed_out)
{
    long st = 0;
    if (h->added) {
        curl_multi_remove_handle(h->l->multi, h->easy);
        h->added = 0;
    }
    od_timer_stop(&h->idle);
    if (h->cancelled) {
        if (!h->in_cb)
            http_free(h);
        return;
    }
    curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &st);
    if (!err && !h->headers_done && deliver_headers(h) < 0)
        err = "aborted";
    if (h->cancelled) {
        if (!h->in_cb)
            http_free(h);
        return;
    }
    h->cancelled = 1; /* nothing else will be delivered */
    pending_unlink(h);
    if (h->cbs.on_done) {
        h->in_cb++;
        h->cbs.on_done(h, (int)st, err, timed_out, h->ud);
        h->in_cb--;
    }
    http_free(h);
}

static const char *curl_err(od_http *h, CURLcode rc, int *timed_out)
{
    *timed_out = 0;
    if (h->too_large)
        return "response too large";
    if (h->aborted)
        return "aborted";
    switch (rc) {
    case CURLE_OK: return NULL;
    case CURLE_OPERATION_TIMEDOUT: *timed_out = 1; return "timeout";
    case CURLE_COULDNT_CONNECT: return "connection refused";
    case CURLE_COULDNT_RESOLVE_HOST: return "could not resolve host";
    case CURLE_COULDNT_RESOLVE_PROXY: return "could not resolve proxy";
    case CURLE_GOT_NOTHING: return "empty reply from upstream";
    case CURLE_SEND_ERROR: return "send error";
    case CURLE_RECV_ERROR: return "connection reset";
    case CURLE_PARTIAL_FILE: return "connection closed mid-response";
    case CURLE_SSL_CONNECT_ERROR: return "TLS handshake failed";
    case CURLE_PEER_FAILED_VERIFICATION: return "TLS certificate rejected";
    case CURLE_WRITE_ERROR: return "aborted";
    default: return curl_easy_strerror(rc);
    }
}

static void process_done(od_loop *l)
{
    CURLMsg *m;
    int q;
    if (l->in_curl)
        return; /* the outermost caller will do it */
    while ((m = curl_multi_info_read(l->multi, &q))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        od_http *h = NULL;
        CURLcode rc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&h);
        if (!h)
            continue;
        int to = 0;
        const char *err = curl_err(h, rc, &to);
        finish(h, err, to);
    }
}

static void idle_fire(od_timer *t, void *ud)
{
    od_http *h = ud;
    (void)t;
    if (h->cancelled)
        return;
    int64_t now = od_mono_us(), due = h->last_us + (int64_t)h->idle_ms * 1000;
    if (h->paused || now < due) {
        od_timer_start(h->l, &h->idle, h->paused ? h->idle_ms * 1000 : due - now, idle_fire, h);
        return;
    }
    finish(h, "timeout", 1);
}

static int http_add(od_http *h)
{
    od_loop *l = h->l;
    h->pend_add = 0;
    l->in_curl++;
    CURLMcode mc = curl_multi_add_handle(l->multi, h->easy);
    l->in_curl--;
    if (mc != CURLM_OK)
        return -1;
    h->added = 1;
    h->last_us = od_mono_us();
    if (h->idle_ms > 0)
        od_timer_start(l, &h->idle, h->idle_ms * 1000, idle_fire, h);
    return 0;
}

static void http_unpause(od_http *h)
{
    od_loop *l = h->l;
    h->pend_unpause = 0;
    if (h->paused || !h->curl_paused || !h->added)
        return;
    h->curl_paused = 0;
    h->last_us = od_mono_us();
    l->in_curl++;
    h->in_cb++;
    curl_easy_pause(h->easy, CURLPAUSE_CONT);
    h->in_cb--;
    l->in_curl--;
    if (h->cancelled) {
        /* cancelled from a callback during the unpause */
        if (h->added) {
            curl_multi_remove_handle(l->multi, h->easy);
            h->added = 0;
        }
        http_free(h);
        process_done(l);
        return;
    }
    process_done(l);
}

static void run_pending(od_loop *l)
{
    while (l->pending) {
        od_http *h = l->pending;
        pending_unlink(h);
        if (h->cancelled) {
            http_free(h);
            continue;
        }
        if (h->pend_add) {
            if (http_add(h) < 0)
                finish(h, "cannot start transfer", 0);
        }
        else if (h->pend_unpause)
            http_unpause(h);
    }
}

static void run_lost(od_loop *l)
{
    while (l->lost) {
        csock *cs = l->lost;
        lost_unlink(cs);
        /* curl reads the error or EOF, then removes or re-registers it */
        curl_action(l, cs->s, CURL_CSELECT_IN | CURL_CSELECT_ERR);
    }
}

static void defer_fire(lws_sorted_usec_list_t *sul)
{
    od_loop *l = lws_container_of(sul, od_loop, defer_sul);
    l->defer_armed = 0;
    run_lost(l);
    run_pending(l);
    process_done(l);
}

static void defer_schedule(od_loop *l)
{
    if (l->defer_armed || l->destroying)
        return;
    l->defer_armed = 1;
    lws_sul_schedule(l->ctx, 0, &l->defer_sul, defer_fire, 0);
}

od_http *od_http_start(od_loop *l, const od_http_req *req, const od_http_cbs *cbs, void *ud)
{
    if (!req || !req->url)
        return NULL;
    if (!l->h1_off) {
        int declined = 0;
        od_http *n = od_h1_start(l, req, cbs, ud, &declined);
        if (!declined)
            return n;
    }
    od_http *h = od_calloc(1, sizeof *h);
    h->l = l;
    if (cbs)
        h->cbs = *cbs;
    h->ud = ud;
    h->easy = l->nspare ? l->spare[--l->nspare] : curl_easy_init();
    if (!h->easy) {
        free(h);
        return NULL;
    }
    CURL *e = h->easy;
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)h);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, hdr_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_cb);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, l);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 10000L);
    if (req->timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms);
    h->idle_ms = req->idle_timeout_ms > 0 ? req->idle_timeout_ms : 0;
    h->max_bytes = req->max_response_bytes > 0 ? req->max_response_bytes : 64L * 1024 * 1024;

    for (int i = 0; i < req->nheaders; i++)
        if (req->headers[i])
            h->hdrs = curl_slist_append(h->hdrs, req->headers[i]);
    h->hdrs = curl_slist_append(h->hdrs, "Expect:"); /* no 100-continue round trip */
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->hdrs);

    const char *m = req->method;
    if (req->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req->body);
        if (m && strcmp(m, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
    } else if (!m || strcmp(m, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(m, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
        if (strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
            curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, "");
        }
    }

    h->next = l->live;
    if (l->live) l->live->prev = h;
    l->live = h;

    if (l->in_curl) {
        h->pend_add = 1;
        pending_add(h);
    } else if (http_add(h) < 0) {
        http_free(h); /* NULL: never started, no callback */
        return NULL;
    }
    return h;
}

void od_http_cancel(od_http *h)
{
    if (h && od_http_is_native(h)) {
        od_h1_cancel(h);
        return;
    }
    if (!h || h->cancelled)
        return;
    h->cancelled = 1;
    od_timer_stop(&h->idle);
    if (h->in_cb || h->l->in_curl) {
        pending_add(h); /* freed by the pending pass (or by its holder) */
        return;
    }
    http_free(h);
}

void od_http_pause(od_http *h, int paused)
{
    if (h && od_http_is_native(h)) {
        od_h1_pause(h, paused);
        return;
    }
    if (!h || h->cancelled)
        return;
    if (paused) {
        h->paused = 1;
        return;
    }
    if (!h->paused)
        return;
    h->paused = 0;
    if (!h->curl_paused)
        return;
    if (h->in_cb || h->l->in_curl) {
        h->pend_unpause = 1;
        pending_add(h);
        return;
    }
    http_unpause(h);
}

/* ------------------------------------------------------------------ */
/* the loop */

int od_split_listen(const char *listen, char *host, size_t hostsz, int *port)
{
    const char *colon = strrchr(listen, ':');
    int64_t p;
    if (!colon) {
        if (od_parse_i64(listen, &p) < 0) return -1;
        snprintf(host, hostsz, "127.0.0.1");
    } else {
        size_t hl = (size_t)(colon - listen);
        const char *hs = listen;
        if (hl >= 2 && hs[0] == '[' && hs[hl - 1] == ']') { hs++; hl -= 2; }
        if (hl >= hostsz) return -1;
        memcpy(host, hs, hl);
        host[hl] = 0;
        if (od_parse_i64(colon + 1, &p) < 0) return -1;
    }
    if (p < 0 || p > 65535) return -1;
    *port = (int)p;
    return 0;
}

od_loop *od_loop_new(const od_loop_opts *opts, char **err)
{
    od_loop_opts dflt;
    struct lws_context_creation_info info;
    char host[256] = "";
    int port = CONTEXT_PORT_NO_LISTEN;
    int nproto = 0;

    if (err) *err = NULL;
    if (!opts) {
        memset(&dflt, 0, sizeof dflt);
        opts = &dflt;
    }
    if (opts->listen && od_split_listen(opts->listen, host, sizeof host, &port) < 0) {
        if (err) {
            od_buf b = {0};
            od_buf_printf(&b, "listen: expected HOST:PORT, got \"%s\"", opts->listen);
            *err = od_buf_take(&b);
        }
        return NULL;
    }

    signal(SIGPIPE, SIG_IGN);
    od_loop *l = od_calloc(1, sizeof *l);
    l->user = opts->user;
    l->busy_poll_us = opts->busy_poll_us;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        if (err) *err = od_strdup("curl_global_init failed");
        free(l);
        return NULL;
    }
    l->curl_inited = 1;
    /* curl honours proxy settings (and no_proxy) for http://: leave such
     * setups to it rather than quietly going around the proxy */
    const char *force_curl = getenv("ODOCK_UPSTREAM_CURL"), *env;
    l->h1_off = force_curl && *force_curl && strcmp(force_curl, "0") != 0;
    const char *proxy_vars[] = {"http_proxy", "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < OD_ARRAY_LEN(proxy_vars); i++)
        if ((env = getenv(proxy_vars[i])) && *env)
            l->h1_off = 1;

    if (opts->protocols)
        while (opts->protocols[nproto].name || opts->protocols[nproto].callback)
            nproto++;
    l->protos = od_calloc((size_t)nproto + 3, sizeof *l->protos);
    for (int i = 0; i < nproto; i++)
        l->protos[i] = opts->protocols[i];
    l->protos[nproto].name = RAW_PROTO;
    l->protos[nproto].callback = raw_cb;
    l->protos[nproto + 1].name = OD_WS_PROTO;
    l->protos[nproto + 1].callback = od_ws_lws_cb;

    lws_set_log_level(LLL_ERR, lws_emit);
    memset(&info, 0, sizeof info);
    info.port = port;
    info.iface = host[0] && opts->listen ? host : NULL;
    int own = opts->listen && opts->on_plain && !(opts->tls_cert && opts->tls_key) && opts->listen_fd <= 2;
    if (own) {
        /* plain HTTP goes to on_plain: the loop listens, not lws */
        l->listen_fd = od_listen_tcp(opts->listen, &port, err);
        if (l->listen_fd < 0)
            goto fail;
        l->own_listen = 1;
        info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
        info.iface = NULL;
    } else if (opts->listen_fd > 2 || opts->plain_fd > 2) {
        /* workers: the loop accepts on sockets made before fork */
        info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
        info.iface = NULL;
        if (opts->tls_cert && opts->tls_key)
            info.options |= LWS_SERVER_OPTION_CREATE_VHOST_SSL_CTX;
        l->listen_fd = opts->listen_fd;
    }
    info.protocols = l->protos;
    info.mounts = opts->mounts;
    info.user = l;
    info.max_http_header_data = (unsigned short)(opts->max_http_header_data ? opts->max_http_header_data : 16384);
    if (opts->max_http_header_data > 65535)
        info.max_http_header_data = 65535;
    info.timeout_secs = opts->timeout_secs > 0 ? (unsigned)opts->timeout_secs : 30;
    info.keepalive_timeout = (int)info.timeout_secs; /* also bounds a client that never finishes its headers */
    if (host[0] && !strchr(host, ':'))
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    /* TLS is initialised always: wss:// MCP upstreams are clients of it */
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    /* parsing the OS CA store is ~240M instructions (~60 ms) at every start,
     * which `odock mcp` pays each time an agent spawns it; curl has its own */
    if (!opts->os_ca)
        info.options |= LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
    if (opts->tls_cert && opts->tls_key) {
        info.ssl_cert_filepath = opts->tls_cert;
        info.ssl_private_key_filepath = opts->tls_key;
        /* HTTP/1.1 only: the front writes its own chunked framing for SSE */
        info.alpn = "http/1.1";
    }
    info.fd_limit_per_thread = 0;

    l->ctx = lws_create_context(&info);
    if (!l->ctx) {
        if (err) {
            od_buf b = {0};
            if (opts->listen)
                od_buf_printf(&b, "cannot listen on %s (address in use, or bad TLS cert/key?)", opts->listen);
            else
                od_buf_puts(&b, "cannot create the event loop");
            *err = od_buf_take(&b);
        }
        goto fail;
    }
    l->vh = lws_get_vhost_by_name(l->ctx, "default");
    if (!l->vh) {
        if (err) *err = od_strdup("no default vhost");
        goto fail;
    }

    l->multi = curl_multi_init();
    if (!l->multi) {
        if (err) *err = od_strdup("curl_multi_init failed");
        goto fail;
    }
    curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
    curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
    curl_multi_setopt(l->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    /* keep idle upstream connections for reuse: by default curl keeps only
     * about 4 per transfer in flight, and a gateway's bursts then reconnect */
    curl_multi_setopt(l->multi, CURLMOPT_MAXCONNECTS, 1024L);
    if (l->listen_fd > 2 &&
        !(l->acc[0] = od_acceptor_new(l, l->listen_fd, opts->tls_cert && opts->tls_key, !own, opts->on_plain))) {
        if (err) *err = od_strdup("cannot watch the listening socket");
        goto fail;
    }
    if (opts->plain_fd > 2 && !(l->acc[1] = od_acceptor_new(l, opts->plain_fd, 0, 1, opts->on_plain))) {
        if (err) *err = od_strdup("cannot watch the internal listening socket");
        goto fail;
    }
    return l;

fail:
    od_loop_free(l);
    return NULL;
}

void od_loop_free(od_loop *l)
{
    if (!l)
        return;
    /* transfers: no callbacks from here on */
    l->in_curl = 0;
    while (l->live) {
        od_http *h = l->live;
        h->cancelled = 1;
        http_free(h);
    }
    l->pending = NULL;
    od_h1_free(l);
    while (l->nspare) curl_easy_cleanup(l->spare[--l->nspare]);
    if (l->multi)
        curl_multi_cleanup(l->multi); /* may REMOVE cached sockets via sock_cb */
    l->multi = NULL;
    while (l->lost) {
        csock *cs = l->lost;
        lost_unlink(cs);
        free(cs);
    }
    od_acceptor_free(l->acc[0]);
    od_acceptor_free(l->acc[1]);
    if (l->own_listen)
        close(l->listen_fd);
    for (int i = 0; i < l->nparked; i++)
        if (l->parked[i]) csock_free(l->parked[i]);
    free(l->parked);
    l->parked = NULL;
    l->nparked = 0;
    while (l->fds) {
        od_fd *w = l->fds;
        if (w->wsi) {
            lws_set_opaque_user_data(w->wsi, NULL);
            w->wsi = NULL;
        }
        w->closing = 1;
        fd_free(w);
    }
    l->destroying = 1;
    if (l->ctx) {
        lws_sul_cancel(&l->curl_sul);
        lws_sul_cancel(&l->defer_sul);
        lws_context_destroy(l->ctx);
    }
    free(l->protos);
    if (l->curl_inited)
        curl_global_cleanup();
    free(l);
}

int od_loop_run(od_loop *l)
{
    int64_t spin_until = 0;
    unsigned seen = l->activity;
    while (!l->stop) {
        /* lws_service(ctx, -1) polls with a zero timeout */
        int spin = spin_until && od_mono_us() < spin_until; /* set only when busy polling */
        if (lws_service(l->ctx, spin ? -1 : 0) < 0)
            break;
        if (l->busy_poll_us <= 0)
            continue;
        if (l->activity != seen) {
            seen = l->activity;
            spin_until = od_mono_us() + l->busy_poll_us;
        } else if (spin) {
            sched_yield(); /* the ledger writer, or whatever shares the core, runs first */
        }
    }
    l->stop = 0; /* a later od_loop_run runs again (drain after shutdown) */
    return 0;
}

void od_loop_stop(od_loop *l)
{
    if (!l)
        return;
    l->stop = 1;
    if (l->ctx)
        lws_cancel_service(l->ctx);
}

void *od_loop_user(od_loop *l) { return l ? l->user : NULL; }
od_h1 **od_loop_h1(od_loop *l) { return &l->h1; }
struct lws_context *od_loop_lws(od_loop *l) { return l ? l->ctx : NULL; }
struct lws_vhost *od_loop_vhost(od_loop *l) { return l ? l->vh : NULL; }

int od_loop_port(od_loop *l)
{
    if (!l || !l->vh)
        return -1;
    return l->listen_fd > 2 ? od_socket_port(l->listen_fd) : lws_get_vhost_listen_port(l->vh);
}

void od_loop_active(struct lws *wsi)
{
    od_loop *l = od_loop_from_wsi(wsi);
    if (l)
        l->activity++;
}

od_loop *od_loop_from_wsi(struct lws *wsi)
{
    return wsi ? lws_context_user(lws_get_context(wsi)) : NULL;
}
