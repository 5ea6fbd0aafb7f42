/* core/loop.h — the one event loop: a libwebsockets context running lws's own
 * poll loop, with libcurl's multi interface, child-process pipes and timers
 * driven on it (see ../shared/LWS-NOTES.md). Everything that waits in odock
 * waits here: HTTP front, upstream HTTP calls, stdio MCP servers.
 * Single-threaded: every function is called on the loop's thread. */
#ifndef OD_LOOP_H
#define OD_LOOP_H

#include <stdint.h>
#include <stddef.h>

struct lws_protocols;
struct lws_context;
struct lws_vhost;
struct lws;

typedef struct od_loop od_loop;

typedef struct od_loop_opts {
    /* HTTP/WebSocket listener; NULL listen = no listener (odock mcp). */
    const char *listen;                       /* "127.0.0.1:8787" */
    const struct lws_protocols *protocols;    /* the front's protocols, terminated by a zeroed entry */
    const void *mounts;                       /* optional const struct lws_http_mount * */
    const char *tls_cert, *tls_key;           /* optional TLS */
    size_t max_http_header_data;              /* default 16384 */
    int timeout_secs;                         /* lws idle timeout for the front; default 30 */
    void *user;                               /* returned by od_loop_user */
    int os_ca;                                /* load the OS CA store: only wss:// upstreams need it */
    /* Worker processes: listening sockets made before fork and shared. When
     * listen_fd > 2 the loop accepts on it (TLS as configured) and lws does
     * not listen; plain_fd > 2 is accepted without TLS (the internal socket
     * other workers forward to). 0 = none. */
    int listen_fd, plain_fd;
    /* Plain (non-TLS) connections go to this instead of lws's HTTP server
     * (fd: accepted, non-blocking, now the callee's). With it, a plain
     * listen address is listened on by the loop itself, not by lws. */
    void (*on_plain)(od_loop *l, int fd);
    /* > 0: after I/O, keep polling without sleeping for this long before
     * blocking again. An idle core's wake-up is tens of µs on a VM; this
     * trades a busy core for it while traffic flows (0 = off). */
    int busy_poll_us;
} od_loop_opts;

od_loop *od_loop_new(const od_loop_opts *opts, char **err);
void od_loop_free(od_loop *l);
/* Runs until od_loop_stop (also when stopped before it started). Returns 0;
 * may be called again afterwards, e.g. to drain in-flight work on shutdown. */
int od_loop_run(od_loop *l);
void od_loop_stop(od_loop *l);
void *od_loop_user(od_loop *l);
struct lws_context *od_loop_lws(od_loop *l);
/* I/O was handled: busy polling goes on (callbacks lws owns call this) */
void od_loop_active(struct lws *wsi);
struct lws_vhost *od_loop_vhost(od_loop *l);
int od_loop_port(od_loop *l); /* the bound port (useful with port 0) */
/* A listening TCP socket on HOST:PORT ("[::1]:0" too), non-blocking, for
 * od_loop_opts.listen_fd; *port gets the bound port. -1 with *err. */
int od_listen_tcp(const char *listen, int *port, char **err);
/* The loop a front wsi belongs to (lws_context_user of the context is the
 * od_loop). */
struct lws;
od_loop *od_loop_from_wsi(struct lws *wsi);

/* ---- timers (lws sul); the struct is embedded in the caller's object ----
 * Zero it before first use (calloc). Restarting an armed timer moves it; stop
 * is a no-op on a timer that is not armed. Stop it before freeing its owner. */
typedef struct od_timer od_timer;
typedef void (*od_timer_fn)(od_timer *t, void *ud);
struct od_timer {
    unsigned char sul[64];    /* holds an lws_sorted_usec_list_t */
    od_loop *loop;
    od_timer_fn fn;
    void *ud;
    int armed;
};
void od_timer_start(od_loop *l, od_timer *t, int64_t delay_us, od_timer_fn fn, void *ud);
void od_timer_stop(od_timer *t);

/* ---- file descriptors (pipes of child processes, stdin/stdout) ----
 * Adopted as lws raw files. The callback gets OD_FD_READ / OD_FD_WRITE /
 * OD_FD_CLOSED. The loop watches a private dup() of fd, so the caller keeps
 * owning fd and closes it after od_fd_close. OD_FD_CLOSED means hang-up: read
 * fd until it returns 0 / EAGAIN (data may remain), then od_fd_close(w).
 * od_fd_close may be called from inside the callback. OD_FD_WRITE stays
 * wanted (callback on every writable turn) until od_fd_want drops it. */
enum { OD_FD_READ = 1, OD_FD_WRITE = 2, OD_FD_CLOSED = 4 };
typedef struct od_fd od_fd;
typedef void (*od_fd_fn)(od_fd *w, int events, void *ud);
od_fd *od_fd_watch(od_loop *l, int fd, int events, od_fd_fn fn, void *ud);
void od_fd_want(od_fd *w, int events); /* OD_FD_READ | OD_FD_WRITE */
void od_fd_close(od_fd *w);             /* stops watching; w is freed */

/* ---- upstream HTTP calls through curl multi ---- */
typedef struct od_http od_http;
typedef struct od_http_req {
    const char *method;        /* "POST" (default when body), "GET", "DELETE" */
    const char *url;
    const char *const *headers; /* "Name: value" lines; may carry secrets: never logged */
    int nheaders;
    const char *body;
    size_t body_len;
    long timeout_ms;           /* whole transfer; 0 = none (streams use idle) */
    long connect_timeout_ms;   /* default 10000 */
    long idle_timeout_ms;      /* abort when no byte arrives for this long; 0 = off */
    long max_response_bytes;   /* 0 = 64 MiB */
} od_http_req;

typedef struct od_http_cbs {
    /* status and headers are known (called once, before any on_data).
     * headers: raw "Name: value" lines joined by "\n". Return -1 to abort. */
    int (*on_headers)(od_http *h, int status, const char *headers, void *ud);
    /* a piece of the body as it arrives. Return -1 to abort. */
    int (*on_data)(od_http *h, const char *data, size_t len, void *ud);
    /* always called exactly once at the end (not after od_http_cancel).
     * err: NULL on a complete transfer, else a short message
     * ("timeout", "connection refused", ...); timed_out is 1 on timeouts. */
    void (*on_done)(od_http *h, int status, const char *err, int timed_out, void *ud);
} od_http_cbs;

/* NULL when the transfer could not even start (no callback is called then).
 * Callbacks never run from inside od_http_start. */
od_http *od_http_start(od_loop *l, const od_http_req *req, const od_http_cbs *cbs, void *ud);
/* Aborts; no callback is called afterwards. h is freed. Safe from inside any
 * callback, also h's own on_headers/on_data; a no-op inside h's on_done (h is
 * freed when on_done returns). */
void od_http_cancel(od_http *h);
/* Pause / resume delivery of on_data (backpressure from a slow client). */
void od_http_pause(od_http *h, int paused);

/* ---- WebSocket client (ws:// and wss://) ----
 * One whole text message per on_message (fragments are joined, up to
 * max_message bytes; a larger message closes the connection). */
typedef struct od_ws od_ws;
typedef struct od_ws_cbs {
    void (*on_open)(od_ws *w, void *ud);
    void (*on_message)(od_ws *w, const char *data, size_t len, void *ud);
    /* called once when the connection fails or ends; no callback follows.
     * The owner frees w with od_ws_free later, never from inside it. */
    void (*on_closed)(od_ws *w, const char *why, void *ud);
} od_ws_cbs;

/* headers: "Name: value" lines added to the handshake (may carry secrets);
 * Sec-WebSocket-Protocol, Host and Origin lines set what lws sends for them.
 * NULL with *err on a URL it cannot use. */
od_ws *od_ws_connect(od_loop *l, const char *url, const char *const *headers, int nheaders,
                     size_t max_message, const od_ws_cbs *cbs, void *ud, char **err);
/* Queues one text message; 0 ok, -1 when the connection is gone. */
int od_ws_send(od_ws *w, const char *text, size_t len);
/* Closes (if still open) and frees; no callback afterwards. */
void od_ws_free(od_ws *w);

#endif
