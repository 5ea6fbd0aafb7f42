/* tests/unit/test_loop.c — the event loop: timers, fd watches, and upstream
 * HTTP through curl multi against an lws server running on the same loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <libwebsockets.h>

#include "core/loop.h"
#include "core/od.h"

/* ---------------- a tiny lws test server on the same loop ---------------- */
enum { M_HELLO = 1, M_ECHO, M_STREAM, M_HANG, M_STATUS, M_CUT };

typedef struct pss {
    int mode;
    od_buf body;
    int sent, total_chunks;
    od_timer t;
    struct lws *wsi;
    int status;
} pss;

static void stream_tick(od_timer *t, void *ud)
{
    pss *p = ud;
    (void)t;
    lws_callback_on_writable(p->wsi);
}

static int write_headers(struct lws *wsi, int status, size_t len)
{
    unsigned char buf[LWS_PRE + 512], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf;
    if (lws_add_http_common_headers(wsi, (unsigned)status, "text/plain", len, &p, end))
        return -1;
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)"x-test:", (const unsigned char *)"yes", 3, &p, end))
        return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    return 0;
}

#define CHUNK "chunk-of-data|"
static int srv_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    pss *p = user;
    unsigned char buf[LWS_PRE + 65536];
    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        const char *uri = in;
        memset(p, 0, sizeof *p);
        p->wsi = wsi;
        if (!strcmp(uri, "/hello")) p->mode = M_HELLO;
        else if (!strcmp(uri, "/echo")) p->mode = M_ECHO;
        else if (!strcmp(uri, "/stream")) p->mode = M_STREAM;
        else if (!strcmp(uri, "/hang")) p->mode = M_HANG;
        else if (!strcmp(uri, "/cut")) p->mode = M_CUT;
        else if (!strcmp(uri, "/500")) { p->mode = M_STATUS; p->status = 500; }
        else return lws_return_http_status(wsi, 404, NULL) ? -1 : lws_http_transaction_completed(wsi);
        if (p->mode == M_ECHO)
            return 0; /* wait for the body */
        if (p->mode == M_HANG)
            return 0;
        if (p->mode == M_HELLO) {
            if (write_headers(wsi, 200, 5)) return -1;
        } else if (p->mode == M_STATUS) {
            if (write_headers(wsi, p->status, 4)) return -1;
        } else if (p->mode == M_CUT) {
            if (write_headers(wsi, 200, 1000)) return -1;
        } else if (p->mode == M_STREAM) {
            p->total_chunks = 5;
            if (write_headers(wsi, 200, strlen(CHUNK) * 5)) return -1;
        }
        lws_callback_on_writable(wsi);
        return 0;
    }
    case LWS_CALLBACK_HTTP_BODY:
        od_buf_put(&p->body, in, len);
        return 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (write_headers(wsi, 200, p->body.len)) return -1;
        lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (p->mode == M_HELLO) {
            memcpy(buf + LWS_PRE, "hello", 5);
            if (lws_write(wsi, buf + LWS_PRE, 5, LWS_WRITE_HTTP_FINAL) != 5) return -1;
            return lws_http_transaction_completed(wsi) ? -1 : 0;
        }
        if (p->mode == M_STATUS) {
            memcpy(buf + LWS_PRE, "oops", 4);
            if (lws_write(wsi, buf + LWS_PRE, 4, LWS_WRITE_HTTP_FINAL) != 4) return -1;
            return lws_http_transaction_completed(wsi) ? -1 : 0;
        }
        if (p->mode == M_ECHO) {
            size_t left = p->body.len - (size_t)p->sent, n = left > 32768 ? 32768 : left;
            memcpy(buf + LWS_PRE, p->body.p + p->sent, n);
            int fin = (size_t)p->sent + n == p->body.len;
            if (lws_write(wsi, buf + LWS_PRE, n, fin ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n) return -1;
            p->sent += (int)n;
            if (fin) return lws_http_transaction_completed(wsi) ? -1 : 0;
            lws_callback_on_writable(wsi);
            return 0;
        }
        if (p->mode == M_CUT) {
            if (p->sent++)
                return -1; /* drop the connection mid-body */
            memcpy(buf + LWS_PRE, CHUNK, strlen(CHUNK));
            if (lws_write(wsi, buf + LWS_PRE, strlen(CHUNK), LWS_WRITE_HTTP) != (int)strlen(CHUNK)) return -1;
            od_timer_start(od_loop_from_wsi(wsi), &p->t, 30000, stream_tick, p);
            return 0;
        }
        if (p->mode == M_STREAM) {
            size_t n = strlen(CHUNK);
            memcpy(buf + LWS_PRE, CHUNK, n);
            p->sent++;
            int fin = p->sent == p->total_chunks;
            if (lws_write(wsi, buf + LWS_PRE, n, fin ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n) return -1;
            if (fin) return lws_http_transaction_completed(wsi) ? -1 : 0;
            od_timer_start(od_loop_from_wsi(wsi), &p->t, 30000, stream_tick, p);
            return 0;
        }
        return 0;
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (p) {
            od_timer_stop(&p->t);
            od_buf_free(&p->body);
        }
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protos[] = {
    {.name = "http", .callback = srv_cb, .per_session_data_size = sizeof(pss)},
    {.name = NULL, .callback = NULL},
};

/* ---------------- fixtures ---------------- */
typedef struct T {
    od_loop *l;
    int port;
    char url[128];
    od_timer watchdog;
    int watchdog_fired;
    /* http results */
    int status, nheaders_calls, ndata, ndone, timed_out;
    char err[128];
    od_buf data, headers;
    od_http *h;
    int cancel_after_chunks, pause_after_chunks;
    od_timer aux;
    int nfired[8], order[8], norder;
} T;

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    if (!d) return -1;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static void dog(od_timer *t, void *ud)
{
    T *x = ud;
    (void)t;
    x->watchdog_fired = 1;
    od_loop_stop(x->l);
}

static int setup_with(void **state, int busy_poll_us)
{
    T *x = od_calloc(1, sizeof *x);
    char *err = NULL;
    od_loop_opts o = {.listen = "127.0.0.1:0", .protocols = protos, .user = x, .busy_poll_us = busy_poll_us};
    x->l = od_loop_new(&o, &err);
    if (!x->l) {
        fprintf(stderr, "od_loop_new: %s\n", err ? err : "?");
        free(err);
        free(x);
        return -1;
    }
    x->port = od_loop_port(x->l);
    snprintf(x->url, sizeof x->url, "http://127.0.0.1:%d", x->port);
    od_timer_start(x->l, &x->watchdog, 5000000, dog, x);
    *state = x;
    return 0;
}

static int setup(void **state) { return setup_with(state, 0); }
/* busy polling for a whole second after any I/O: the loop spins through the
 * test, and timers, fds and transfers must behave as when it sleeps */
static int setup_busy(void **state) { return setup_with(state, 1000000); }

static int teardown(void **state)
{
    T *x = *state;
    od_timer_stop(&x->watchdog);
    od_timer_stop(&x->aux);
    od_loop_free(x->l);
    od_buf_free(&x->data);
    od_buf_free(&x->headers);
    free(x);
    return 0;
}

/* Runs the loop until a callback stops it; then clears the stop flag by
 * design of od_loop_run (it returns) — each test runs it once. */
static void run(T *x)
{
    od_loop_run(x->l);
    assert_false(x->watchdog_fired);
}

/* ---------------- timers ---------------- */
static void tfire(od_timer *t, void *ud)
{
    T *x = od_loop_user(t->loop);
    int i = (int)(intptr_t)ud;
    x->nfired[i]++;
    x->order[x->norder++] = i;
    if (i == 3)
        od_loop_stop(x->l);
}

static void test_timers(void **state)
{
    T *x = *state;
    od_timer t[4];
    memset(t, 0, sizeof t);
    od_timer_start(x->l, &t[0], 30000, tfire, (void *)0);
    od_timer_start(x->l, &t[1], 10000, tfire, (void *)1);
    od_timer_start(x->l, &t[2], 20000, tfire, (void *)2);
    od_timer_start(x->l, &t[3], 80000, tfire, (void *)3);
    od_timer_stop(&t[2]);
    od_timer_stop(&t[2]); /* twice is fine */
    od_timer_start(x->l, &t[0], 50000, tfire, (void *)0); /* moved, not doubled */
    int64_t t0 = od_mono_us();
    run(x);
    int64_t el = od_mono_us() - t0;
    assert_int_equal(x->norder, 3);
    assert_int_equal(x->order[0], 1);
    assert_int_equal(x->order[1], 0);
    assert_int_equal(x->order[2], 3);
    assert_int_equal(x->nfired[2], 0);
    assert_int_equal(x->nfired[0], 1);
    assert_true(el >= 75000);
    assert_false(t[0].armed);
}

/* ---------------- fd watch on a pipe ---------------- */
typedef struct FdT {
    T *x;
    int rfd, wfd;
    od_fd *rw, *ww;
    od_buf got;
    int writes, closed;
} FdT;

static void on_rd(od_fd *w, int ev, void *ud)
{
    FdT *f = ud;
    char b[4096];
    if (ev & OD_FD_READ) {
        ssize_t n;
        while ((n = read(f->rfd, b, sizeof b)) > 0)
            od_buf_put(&f->got, b, (size_t)n);
    }
    if (ev & OD_FD_CLOSED) {
        ssize_t n;
        while ((n = read(f->rfd, b, sizeof b)) > 0)
            od_buf_put(&f->got, b, (size_t)n);
        f->closed = 1;
        od_fd_close(w); /* from inside the callback */
        f->rw = NULL;
        od_loop_stop(f->x->l);
    }
}

static void on_wr(od_fd *w, int ev, void *ud)
{
    FdT *f = ud;
    if (!(ev & OD_FD_WRITE))
        return;
    char line[32];
    int n = snprintf(line, sizeof line, "line %d\n", f->writes);
    assert_int_equal(write(f->wfd, line, (size_t)n), n);
    if (++f->writes == 3) {
        od_fd_close(w);
        f->ww = NULL;
        close(f->wfd);
        f->wfd = -1;
    }
}

static void test_fd_pipe(void **state)
{
    T *x = *state;
    FdT f = {.x = x};
    int p[2];
    int before = count_fds();
    assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    f.rfd = p[0];
    f.wfd = p[1];
    f.rw = od_fd_watch(x->l, f.rfd, OD_FD_READ, on_rd, &f);
    f.ww = od_fd_watch(x->l, f.wfd, OD_FD_WRITE, on_wr, &f);
    assert_non_null(f.rw);
    assert_non_null(f.ww);
    run(x);
    assert_int_equal(f.closed, 1);
    assert_string_equal(f.got.p, "line 0\nline 1\nline 2\n");
    close(f.rfd);
    od_buf_free(&f.got);
    /* the dups lws held are gone after a turn or two of the loop */
    od_timer_start(x->l, &x->aux, 20000, dog, x);
    x->watchdog_fired = 0;
    od_loop_run(x->l);
    assert_int_equal(count_fds(), before);
}

static void on_rd_only(od_fd *w, int ev, void *ud)
{
    int *n = ud;
    (*n)++;
}

static void test_fd_close_outside(void **state)
{
    T *x = *state;
    int p[2], hits = 0;
    assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    od_fd *w = od_fd_watch(x->l, p[0], 0, on_rd_only, &hits);
    assert_non_null(w);
    assert_int_equal(write(p[1], "x", 1), 1);
    od_fd_want(w, 0); /* not reading: no callback */
    od_timer_start(x->l, &x->aux, 50000, dog, x);
    od_loop_run(x->l);
    assert_int_equal(hits, 0);
    od_fd_want(w, OD_FD_READ);
    x->watchdog_fired = 0;
    od_timer_start(x->l, &x->aux, 50000, dog, x);
    od_loop_run(x->l);
    assert_true(hits > 0);
    od_fd_close(w);
    close(p[0]);
    close(p[1]);
}

/* ---------------- http ---------------- */
static int h_headers(od_http *h, int status, const char *headers, void *ud)
{
    T *x = ud;
    assert_int_equal(x->ndata, 0);
    x->nheaders_calls++;
    x->status = status;
    od_buf_puts(&x->headers, headers);
    return 0;
}

static void aux_resume(od_timer *t, void *ud)
{
    T *x = ud;
    (void)t;
    od_http_pause(x->h, 0);
}

static void aux_stop(od_timer *t, void *ud)
{
    T *x = ud;
    (void)t;
    od_loop_stop(x->l);
}

static int h_data(od_http *h, const char *d, size_t n, void *ud)
{
    T *x = ud;
    x->ndata++;
    od_buf_put(&x->data, d, n);
    if (x->cancel_after_chunks && x->ndata == x->cancel_after_chunks) {
        od_http_cancel(h);
        x->h = NULL;
        od_timer_start(x->l, &x->aux, 200000, aux_stop, x); /* prove no on_done comes */
    }
    if (x->pause_after_chunks && x->ndata == x->pause_after_chunks) {
        od_http_pause(h, 1);
        od_timer_start(x->l, &x->aux, 150000, aux_resume, x);
    }
    return 0;
}

static void h_done(od_http *h, int status, const char *err, int timed_out, void *ud)
{
    T *x = ud;
    x->ndone++;
    x->status = status;
    x->timed_out = timed_out;
    snprintf(x->err, sizeof x->err, "%s", err ? err : "");
    x->h = NULL;
    od_loop_stop(x->l);
}

static const od_http_cbs cbs = {.on_headers = h_headers, .on_data = h_data, .on_done = h_done};

static od_http *get(T *x, const char *path, long timeout_ms, long idle_ms)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", x->url, path);
    const char *hd[] = {"Authorization: Bearer not-logged", "X-One: 1"};
    od_http_req r = {.url = url, .method = "GET", .headers = hd, .nheaders = 2,
                     .timeout_ms = timeout_ms, .idle_timeout_ms = idle_ms};
    x->h = od_http_start(x->l, &r, &cbs, x);
    assert_non_null(x->h);
    return x->h;
}

static void test_http_get(void **state)
{
    T *x = *state;
    get(x, "/hello", 2000, 0);
    run(x);
    assert_int_equal(x->ndone, 1);
    assert_int_equal(x->nheaders_calls, 1);
    assert_int_equal(x->status, 200);
    assert_string_equal(x->err, "");
    assert_string_equal(x->data.p, "hello");
    assert_non_null(strstr(x->headers.p, "x-test: yes"));
    assert_null(strstr(x->headers.p, "HTTP/1.1"));
}

static void test_http_get_twice_keepalive(void **state)
{
    T *x = *state;
    get(x, "/hello", 2000, 0);
    run(x);
    od_buf_reset(&x->data);
    x->ndone = 0;
    x->ndata = 0;
    get(x, "/500", 2000, 0);
    run(x);
    assert_int_equal(x->ndone, 1);
    assert_int_equal(x->status, 500);
    assert_string_equal(x->err, "");
    assert_string_equal(x->data.p, "oops");
}

static void test_http_post_echo(void **state)
{
    T *x = *state;
    size_t n = 300 * 1024;
    char *body = od_malloc(n);
    for (size_t i = 0; i < n; i++)
        body[i] = (char)('a' + i % 26);
    char url[256];
    snprintf(url, sizeof url, "%s/echo", x->url);
    const char *hd[] = {"Content-Type: application/octet-stream"};
    od_http_req r = {.url = url, .headers = hd, .nheaders = 1, .body = body, .body_len = n, .timeout_ms = 5000};
    x->h = od_http_start(x->l, &r, &cbs, x);
    free(body); /* copied at start */
    assert_non_null(x->h);
    run(x);
    assert_int_equal(x->status, 200);
    assert_int_equal(x->data.len, n);
    for (size_t i = 0; i < n; i++)
        if (x->data.p[i] != (char)('a' + i % 26))
            fail_msg("byte %zu differs", i);
}

static void test_http_stream(void **state)
{
    T *x = *state;
    get(x, "/stream", 5000, 1000);
    run(x);
    assert_int_equal(x->ndone, 1);
    assert_string_equal(x->err, "");
    assert_int_equal(x->data.len, strlen(CHUNK) * 5);
    assert_true(x->ndata >= 3); /* arrived piece by piece, not at the end */
}

static void test_http_pause(void **state)
{
    T *x = *state;
    x->pause_after_chunks = 1;
    int64_t t0 = od_mono_us();
    get(x, "/stream", 5000, 100); /* idle timeout must not fire while paused */
    run(x);
    assert_int_equal(x->ndone, 1);
    assert_string_equal(x->err, "");
    assert_int_equal(x->data.len, strlen(CHUNK) * 5);
    assert_true(od_mono_us() - t0 >= 150000);
}

static void test_http_timeout(void **state)
{
    T *x = *state;
    int64_t t0 = od_mono_us();
    get(x, "/hang", 200, 0);
    run(x);
    int64_t el = od_mono_us() - t0;
    assert_int_equal(x->ndone, 1);
    assert_string_equal(x->err, "timeout");
    assert_int_equal(x->timed_out, 1);
    assert_true(el >= 190000 && el < 2000000);
}

static void test_http_idle_timeout(void **state)
{
    T *x = *state;
    get(x, "/hang", 0, 150);
    run(x);
    assert_int_equal(x->ndone, 1);
    assert_string_equal(x->err, "timeout");
    assert_int_equal(x->timed_out, 1);
}

static void test_http_refused(void **state)
{
    T *x = *state;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(s, (struct sockaddr *)&a, &al);
    close(s); /* bound then closed: nobody listens there */
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", ntohs(a.sin_port));
    od_http_req r = {.url = url, .timeout_ms = 2000};
    x->h = od_http_start(x->l, &r, &cbs, x);
    assert_non_null(x->h);
    run(x);
    assert_int_equal(x->ndone, 1);
    assert_string_equal(x->err, "connection refused");
    assert_int_equal(x->status, 0);
    assert_int_equal(x->nheaders_calls, 0);
}

static void test_http_cancel_in_data(void **state)
{
    T *x = *state;
    x->cancel_after_chunks = 1;
    get(x, "/stream", 5000, 0);
    run(x);
    assert_int_equal(x->ndone, 0);
    assert_int_equal(x->ndata, 1);
}

static void test_http_cancel_before(void **state)
{
    T *x = *state;
    get(x, "/stream", 5000, 0);
    od_http_cancel(x->h);
    x->h = NULL;
    od_timer_start(x->l, &x->aux, 150000, aux_stop, x);
    run(x);
    assert_int_equal(x->ndone, 0);
    assert_int_equal(x->ndata, 0);
}

static void test_http_upstream_cut(void **state)
{
    T *x = *state;
    get(x, "/cut", 5000, 0);
    run(x);
    assert_int_equal(x->ndone, 1);
    assert_int_equal(x->status, 200);
    assert_string_equal(x->data.p, CHUNK);
    assert_string_equal(x->err, "connection closed mid-response");
}

static int abort_headers(od_http *h, int status, const char *headers, void *ud)
{
    return -1;
}

static void test_http_abort_from_headers(void **state)
{
    T *x = *state;
    char url[256];
    snprintf(url, sizeof url, "%s/stream", x->url);
    od_http_cbs c = {.on_headers = abort_headers, .on_data = h_data, .on_done = h_done};
    od_http_req r = {.url = url, .timeout_ms = 2000};
    x->h = od_http_start(x->l, &r, &c, x);
    run(x);
    assert_int_equal(x->ndone, 1);
    assert_int_equal(x->ndata, 0);
    assert_string_equal(x->err, "aborted");
}

/* many transfers at once; teardown with some still running */
static int many_left;
static void many_done(od_http *h, int status, const char *err, int timed_out, void *ud)
{
    T *x = ud;
    if (status == 200 && !err)
        x->ndone++;
    if (--many_left == 0)
        od_loop_stop(x->l);
}

static void test_http_many_and_teardown(void **state)
{
    T *x = *state;
    char url[256], hang[256];
    snprintf(url, sizeof url, "%s/hello", x->url);
    snprintf(hang, sizeof hang, "%s/hang", x->url);
    od_http_cbs c = {.on_done = many_done};
    od_http_req r = {.url = url, .timeout_ms = 5000};
    od_http_req rh = {.url = hang, .timeout_ms = 0};
    many_left = 50;
    for (int i = 0; i < 50; i++)
        assert_non_null(od_http_start(x->l, &r, &c, x));
    for (int i = 0; i < 3; i++)
        assert_non_null(od_http_start(x->l, &rh, &c, x)); /* freed by od_loop_free */
    run(x);
    assert_int_equal(x->ndone, 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_timers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_pipe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_close_outside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_get_twice_keepalive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_post_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_pause, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_idle_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_cancel_in_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_cancel_before, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_abort_from_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_upstream_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_many_and_teardown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timers, setup_busy, teardown),
        cmocka_unit_test_setup_teardown(test_fd_pipe, setup_busy, teardown),
        cmocka_unit_test_setup_teardown(test_http_post_echo, setup_busy, teardown),
        cmocka_unit_test_setup_teardown(test_http_stream, setup_busy, teardown),
        cmocka_unit_test_setup_teardown(test_http_timeout, setup_busy, teardown),
    };
    return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
