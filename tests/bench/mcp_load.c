/* tests/bench/mcp_load.c — MCP tools/call load over Streamable HTTP, in C.
 *
 *   mcp_load --url http://HOST:PORT/PATH [--header 'Name: value' ...] [--tool echo]
 *            [--clients N] [--seconds S] [--warmup S] [--timeout S] [--no-expect-echo]
 *
 * The benchmark's MCP client over HTTP, as wrk is its LLM client: one
 * thread, epoll, non-blocking sockets, a few hundred bytes built and scanned
 * per call, so that the client is not what is being measured (the official
 * SDK client, tests/bench/mcp_bench.mjs, costs about 0.5 ms of its own per
 * HTTP call). Each of the N clients is its own MCP session on its own
 * keep-alive HTTP/1.1 connection: initialize (the Mcp-Session-Id of the
 * answer is sent from then on; none if the server gives none),
 * notifications/initialized, then tools/call back to back, the next sent as
 * soon as the previous answer is complete: N calls in flight. Session 0
 * first lists the tools to find the one named --tool: exactly, else the
 * name a gateway gives it (SERVER__NAME or SERVER_NAME).
 *
 * Answers may be application/json or text/event-stream (the event whose
 * JSON-RPC id is the request's; other events are skipped), framed by
 * Content-Length, chunked, or the end of the connection. A call is ok when
 * the status is 200, the id matches, there is a result, result.isError is
 * not true and the result contains the message sent (not checked with
 * --no-expect-echo, for a tool that does not echo). Anything else is an
 * error (the first 3 are printed on stderr). A call unanswered after
 * --timeout seconds (30) is an error, and its session starts over on a new
 * connection. At the end each session is DELETEd (its server-side state
 * freed; the answer is not checked).
 *
 * After --warmup seconds (2) of calls, --seconds (5) are measured. Prints one
 * JSON line, as mcp_bench.mjs does:
 *   {"clients","tool","calls","seconds","calls_per_s","p50_ms","p99_ms","errors","total_calls"}
 * calls: the ok calls sent in the measured window; errors: the failed ones
 * (warm-up errors are only reported on stderr, as mcp_bench.mjs resets them);
 * total_calls: every tools/call sent, warm-up included — what a gateway's
 * ledger must count. Exits 1 (the JSON line printed all the same, with the
 * errors) if the sessions could not be set up or the tool is not found.
 * IPv4 and plain http only; SSE lines must end in LF or CRLF (not a lone CR).
 * Dependency-free C11 (Linux: epoll).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG "hello from the odock benchmark"
#define PROTO "2025-06-18"
#define READ_MIN (16 * 1024) /* free room asked for before each read */
#define HEAD_MAX (64 * 1024) /* a response head longer than this is an error */
#define DRAIN_S 2.0          /* an SSE stream still open this long after its answer is dropped */
#define RETRY_S 0.1          /* a session whose re-initialisation failed waits this long */
#define DELETE_S 2.0         /* the final DELETEs get this long */
#define SHOW_ERRORS 3

/* ------------------------------------------------------------ small things */

static void die(const char *what)
{
    fprintf(stderr, "mcp_load: %s\n", what);
    exit(2);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A growable byte buffer, kept NUL-terminated (for the scans below). The
 * struct that holds it owns p. Out of memory ends the program: a load tool
 * has nothing better to do. */
typedef struct {
    char *p;
    size_t len, cap;
} buf;

static void buf_room(buf *b, size_t more)
{
    if (b->cap - b->len > more) return;
    size_t cap = b->cap ? b->cap : 512;
    while (cap - b->len <= more) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) die("out of memory");
    b->p = p;
    b->cap = cap;
}

static void buf_add(buf *b, const void *d, size_t n)
{
    buf_room(b, n);
    memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void buf_str(buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_free(buf *b)
{
    free(b->p);
    *b = (buf){0};
}

/* ------------------------------------------------------------ minimal JSON scan
 * Enough to read a JSON-RPC answer without building a tree: skip a value,
 * walk the members of an object or the elements of an array. Spans point
 * into the caller's text. */

typedef struct {
    const char *p;
    size_t n;
} span;

static const char *skip_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    return p;
}

/* The end of the value starting at p (after whitespace), or NULL if it is malformed or cut. */
static const char *skip_value(const char *p, const char *e)
{
    p = skip_ws(p, e);
    if (p >= e) return NULL;
    if (*p == '"') {
        for (p++; p < e; p++) {
            if (*p == '\\') p++;
            else if (*p == '"') return p + 1;
        }
        return NULL;
    }
    if (*p == '{' || *p == '[') {
        int depth = 0;
        bool str = false;
        for (; p < e; p++) {
            if (str) {
                if (*p == '\\') p++;
                else if (*p == '"') str = false;
            } else if (*p == '"') str = true;
            else if (*p == '{' || *p == '[') depth++;
            else if ((*p == '}' || *p == ']') && --depth == 0) return p + 1;
        }
        return NULL;
    }
    const char *s = p;
    while (p < e && !strchr(",:}] \t\r\n", *p)) p++;
    return p > s ? p : NULL;
}

/* Iteration over an object's members or an array's elements: it->p starts
 * just after the '{' or '['. Returns 1 with the member (key without quotes,
 * value as written), 0 at the end, -1 if malformed. */
typedef struct {
    const char *p, *e;
    bool first;
} json_it;

static bool json_open(json_it *it, span v, char open)
{
    const char *p = skip_ws(v.p, v.p + v.n);
    if (p >= v.p + v.n || *p != open) return false;
    *it = (json_it){p + 1, v.p + v.n, true};
    return true;
}

static int json_next(json_it *it, span *key, span *val)
{
    const char *p = skip_ws(it->p, it->e);
    if (p >= it->e) return -1;
    if (*p == '}' || *p == ']') return 0;
    if (!it->first) {
        if (*p != ',') return -1;
        p = skip_ws(p + 1, it->e);
    }
    it->first = false;
    if (key) {
        const char *k = p, *ke = skip_value(p, it->e);
        if (!ke || *k != '"') return -1;
        *key = (span){k + 1, (size_t)(ke - k - 2)};
        p = skip_ws(ke, it->e);
        if (p >= it->e || *p != ':') return -1;
        p = skip_ws(p + 1, it->e);
    }
    const char *ve = skip_value(p, it->e);
    if (!ve) return -1;
    *val = (span){p, (size_t)(ve - p)};
    it->p = ve;
    return 1;
}

static bool key_is(span k, const char *s) { return k.n == strlen(s) && memcmp(k.p, s, k.n) == 0; }

/* A string value without its quotes, if it has no escapes (names, versions, cursors do not). */
static bool plain_string(span v, span *out)
{
    if (v.n < 2 || v.p[0] != '"' || memchr(v.p, '\\', v.n)) return false;
    *out = (span){v.p + 1, v.n - 2};
    return true;
}

/* ------------------------------------------------------------ options, results */

static struct {
    char host[256], hostport[300], path[1024];
    struct sockaddr_in addr;
    buf extra; /* the --header lines, CRLF-terminated */
    const char *tool;
    int clients;
    double seconds, warmup, timeout;
    bool expect_echo;
} o = {.tool = "echo", .clients = 1, .seconds = 5, .warmup = 2, .timeout = 30, .expect_echo = true};

enum { P_SETUP, P_WARM, P_MEASURE, P_DELETE, P_QUIT };

static struct {
    int phase, ep;
    double deadline;      /* the end of the warm-up or measured phase */
    double m0, m1;        /* the measured window: its start, and when its last call ended */
    char *tool;           /* the tool's exposed name, once tools/list found it (owned) */
    int tool_rank;        /* 2 exact, 1 prefixed */
    int pages;            /* tools/list pages read */
    bool fatal;           /* set-up failed: no run */
    unsigned inflight;    /* sessions with a request out */
    unsigned long long total_calls, errors, warm_errors, setup_errors, shown;
    double *lat;          /* measured latencies, seconds (owned) */
    size_t nlat, caplat;
} g = {.phase = P_SETUP};

/* ------------------------------------------------------------ sessions */

enum { RQ_NONE, RQ_INIT, RQ_NOTIFY, RQ_LIST, RQ_CALL, RQ_DELETE };
static const char *const rq_name[] = {"-", "initialize", "notifications/initialized", "tools/list", "tools/call", "DELETE"};
enum { FR_NONE, FR_LENGTH, FR_CHUNKED, FR_EOF };
enum { CH_SIZE, CH_DATA, CH_CRLF, CH_TRAILER };

typedef struct {
    int idx, fd;
    uint32_t gen;               /* bumped on every close: epoll events of an old socket are ignored */
    bool connecting, want_out;  /* connect() pending; EPOLLOUT registered */
    bool inited, ready;         /* initialize answered; and the notification accepted */
    bool deleted;
    char sid[256], ver[64];     /* the server's session id ("" = none) and protocol version */
    buf head;                   /* "POST path HTTP/1.1\r\n" and the fixed headers, up to Content-Length */
    size_t head_line;           /* length of the request line in head */
    buf out;                    /* the request being sent */
    size_t out_off;
    buf in;                     /* bytes read and not yet consumed */
    buf body;                   /* the response body, de-chunked */
    buf data;                   /* an SSE event's data when it spans several lines */
    buf cursor;                 /* tools/list: the next page's cursor */
    /* the request out */
    int kind;
    unsigned long long id, next_id;
    double t_sent, t_answer, retry_at;
    bool measured;
    /* its response */
    bool head_done, body_done, answered, resp_close, is_sse, ok, reinit;
    int status, framing, chunk;
    size_t remain, sse_pos;
    char resp_sid[256];
    char why[320];
} sess;

static sess *S;

static void sess_next(sess *s);
static void check_phase(void);

static void sess_close(sess *s)
{
    if (s->fd >= 0) close(s->fd); /* also drops it from the epoll set */
    s->fd = -1;
    s->gen++;
    s->connecting = s->want_out = false;
    s->in.len = 0;
}

static void build_head(sess *s)
{
    s->head.len = 0;
    buf_str(&s->head, "POST ");
    buf_str(&s->head, o.path);
    buf_str(&s->head, " HTTP/1.1\r\n");
    s->head_line = s->head.len;
    buf_str(&s->head, "Host: ");
    buf_str(&s->head, o.hostport);
    buf_str(&s->head, "\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n");
    if (s->sid[0]) {
        buf_str(&s->head, "Mcp-Session-Id: ");
        buf_str(&s->head, s->sid);
        buf_str(&s->head, "\r\n");
    }
    if (s->ver[0]) {
        buf_str(&s->head, "MCP-Protocol-Version: ");
        buf_str(&s->head, s->ver);
        buf_str(&s->head, "\r\n");
    }
    buf_add(&s->head, o.extra.p ? o.extra.p : "", o.extra.len);
}

static void ep_set(sess *s, bool out)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0u),
                             .data.u64 = (uint64_t)s->gen << 32 | (uint32_t)s->idx};
    if (epoll_ctl(g.ep, EPOLL_CTL_MOD, s->fd, &ev) < 0) die("epoll_ctl");
    s->want_out = out;
}

static bool sess_connect(sess *s)
{
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) return false;
    int one = 1;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(s->fd, (struct sockaddr *)&o.addr, sizeof o.addr) < 0 && errno != EINPROGRESS) {
        int e = errno;
        sess_close(s);
        errno = e;
        return false;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLOUT,
                             .data.u64 = (uint64_t)s->gen << 32 | (uint32_t)s->idx};
    if (epoll_ctl(g.ep, EPOLL_CTL_ADD, s->fd, &ev) < 0) die("epoll_ctl");
    s->connecting = s->want_out = true;
    return true;
}

/* One failure, counted where it belongs and shown if among the first few. */
static void count_error(sess *s)
{
    if (g.phase == P_SETUP || g.fatal) g.setup_errors++, g.fatal = true;
    else if (s->kind == RQ_CALL ? s->measured : g.phase == P_MEASURE) g.errors++;
    else g.warm_errors++;
    if (g.shown++ < SHOW_ERRORS)
        fprintf(stderr, "mcp_load: session %d, %s id %llu: %s\n", s->idx, rq_name[s->kind], s->id, s->why);
}

/* The request is over: ok or s->why. conn_bad: the connection cannot carry
 * another request; reinit: the session must initialize again. */
static void finish(sess *s, bool conn_bad)
{
    int kind = s->kind;
    bool failed = !s->ok && kind != RQ_DELETE;
    if (failed) {
        count_error(s);
        /* Not retried from here (a refused connect fails at once: that would
         * recurse): the sweep picks the session up, a call at once, a failed
         * set-up step after RETRY_S. */
        if (s->reinit || kind != RQ_CALL) s->inited = s->ready = false;
        s->retry_at = now_s() + (kind == RQ_CALL ? 0 : RETRY_S);
    } else if (kind == RQ_CALL && s->measured) {
        if (g.nlat == g.caplat) {
            g.caplat = g.caplat ? g.caplat * 2 : 65536;
            double *l = realloc(g.lat, g.caplat * sizeof *l);
            if (!l) die("out of memory");
            g.lat = l;
        }
        g.lat[g.nlat++] = s->t_answer - s->t_sent;
    }
    /* not reused if anything is left over either way (an early answer to a request not all sent) */
    if (conn_bad || s->resp_close || !s->body_done || s->in.len || s->out_off < s->out.len) sess_close(s);
    s->kind = RQ_NONE;
    g.inflight--;
    if (s->ok && kind == RQ_INIT) {
        snprintf(s->sid, sizeof s->sid, "%s", s->resp_sid);
        build_head(s);
        s->inited = true;
    }
    if (s->ok && kind == RQ_NOTIFY) s->ready = true;
    if (!failed) sess_next(s);
    check_phase();
}

static void fail(sess *s, bool reinit, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof s->why, fmt, ap);
    va_end(ap);
    s->ok = false;
    s->reinit = s->reinit || reinit;
    finish(s, true);
}

/* Writes what is left of the request; EPOLLOUT only while some is left. */
static void sess_flush(sess *s)
{
    if (s->connecting) return;
    while (s->out_off < s->out.len) {
        ssize_t n = send(s->fd, s->out.p + s->out_off, s->out.len - s->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!s->want_out) ep_set(s, true);
            return;
        }
        if (n < 0) {
            fail(s, false, "send: %s", strerror(errno));
            return;
        }
        s->out_off += (size_t)n;
    }
    if (s->want_out) ep_set(s, false);
}

/* Sends a request: POST with body, or DELETE (body NULL). */
static void sess_send(sess *s, int kind, const char *body, size_t blen)
{
    s->out.len = s->out_off = 0;
    if (body) {
        char cl[48];
        int n = snprintf(cl, sizeof cl, "Content-Length: %zu\r\n\r\n", blen);
        buf_add(&s->out, s->head.p, s->head.len);
        buf_add(&s->out, cl, (size_t)n);
        buf_add(&s->out, body, blen);
    } else {
        buf_str(&s->out, "DELETE ");
        buf_str(&s->out, o.path);
        buf_str(&s->out, " HTTP/1.1\r\n");
        buf_add(&s->out, s->head.p + s->head_line, s->head.len - s->head_line);
        buf_str(&s->out, "Content-Length: 0\r\n\r\n");
    }
    s->kind = kind;
    s->t_sent = now_s();
    s->measured = kind == RQ_CALL && g.phase == P_MEASURE;
    if (kind == RQ_CALL) g.total_calls++;
    s->head_done = s->body_done = s->answered = s->resp_close = s->ok = s->reinit = false;
    s->status = s->framing = s->chunk = 0;
    s->remain = s->sse_pos = 0;
    s->body.len = 0;
    s->resp_sid[0] = s->why[0] = 0;
    g.inflight++;
    if (s->fd < 0 && !sess_connect(s)) {
        fail(s, false, "connect to %s: %s", o.hostport, strerror(errno));
        return;
    }
    sess_flush(s);
}

static void send_init(sess *s)
{
    static const char body[] = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"" PROTO
                               "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"odock-mcp-load\",\"version\":\"0.0.0\"}}}";
    /* a new session: no id, no version until the server gives them */
    sess_close(s);
    s->sid[0] = s->ver[0] = 0;
    s->inited = s->ready = s->deleted = false;
    build_head(s);
    s->id = 0;
    s->next_id = 1;
    sess_send(s, RQ_INIT, body, sizeof body - 1);
}

static void send_notify(sess *s)
{
    static const char body[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
    sess_send(s, RQ_NOTIFY, body, sizeof body - 1);
}

static void send_list(sess *s)
{
    char body[1400];
    int n;
    s->id = s->next_id++;
    if (s->cursor.len)
        n = snprintf(body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":%llu,\"method\":\"tools/list\",\"params\":{\"cursor\":\"%s\"}}",
                     s->id, s->cursor.p);
    else n = snprintf(body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":%llu,\"method\":\"tools/list\"}", s->id);
    sess_send(s, RQ_LIST, body, (size_t)n);
}

static void send_call(sess *s)
{
    static unsigned long long nth; /* a new text each call: odock caches clean verdicts */
    char body[512];
    s->id = s->next_id++;
    int n = snprintf(body, sizeof body,
                     "{\"jsonrpc\":\"2.0\",\"id\":%llu,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\","
                     "\"arguments\":{\"message\":\"" MSG " #%llu\"}}}",
                     s->id, g.tool, ++nth);
    sess_send(s, RQ_CALL, body, (size_t)n);
}

/* What an idle session does next, given the phase. */
static void sess_next(sess *s)
{
    if (s->kind != RQ_NONE || g.fatal) return;
    double now = now_s();
    switch (g.phase) {
    case P_SETUP:
        if (!s->inited) send_init(s);
        else if (!s->ready) send_notify(s);
        else if (s->idx == 0 && g.tool_rank < 2 && (!g.tool || s->cursor.len)) send_list(s);
        return;
    case P_WARM:
    case P_MEASURE:
        if (now >= g.deadline || now < s->retry_at) return;
        if (!s->inited) send_init(s);
        else if (!s->ready) send_notify(s);
        else send_call(s);
        return;
    case P_DELETE:
        if (s->sid[0] && !s->deleted) {
            s->deleted = true;
            sess_send(s, RQ_DELETE, NULL, 0);
        }
        return;
    default:
        return;
    }
}

static void start_phase(int phase, double secs)
{
    double now = now_s();
    g.phase = phase;
    g.deadline = now + secs;
    if (phase == P_MEASURE) g.m0 = now;
    for (int i = 0; i < o.clients; i++) sess_next(&S[i]);
}

/* Moves on when the phase's time is over and no request is out. */
static void check_phase(void)
{
    if (g.fatal) { /* set-up failed: nothing to wait for */
        g.phase = P_QUIT;
        return;
    }
    if (g.inflight || g.phase == P_QUIT) return;
    double now = now_s();
    switch (g.phase) {
    case P_SETUP:
        for (int i = 0; i < o.clients; i++)
            if (!S[i].ready) return;
        if (g.tool_rank == 0) return; /* session 0 is still listing (or retrying) */
        if (o.warmup > 0) start_phase(P_WARM, o.warmup);
        else start_phase(P_MEASURE, o.seconds);
        return;
    case P_WARM:
        if (now >= g.deadline) start_phase(P_MEASURE, o.seconds);
        return;
    case P_MEASURE:
        if (now < g.deadline) return;
        g.m1 = now;
        start_phase(P_DELETE, DELETE_S);
        if (!g.inflight) g.phase = P_QUIT;
        return;
    case P_DELETE:
        g.phase = P_QUIT;
        return;
    }
}

/* ------------------------------------------------------------ answers */

/* Judges one JSON-RPC message. Returns false if it is not the answer to the
 * request out (another id, or a request/notification from the server);
 * otherwise sets s->ok or s->why. */
static bool judge(sess *s, const char *p, size_t n)
{
    span v = {p, n}, k, val, id = {0}, result = {0}, error = {0};
    json_it it;
    bool method = false;
    int r;
    if (!json_open(&it, v, '{')) {
        snprintf(s->why, sizeof s->why, "not a JSON object: %.120s", p);
        return true;
    }
    while ((r = json_next(&it, &k, &val)) == 1) {
        if (key_is(k, "id")) id = val;
        else if (key_is(k, "result")) result = val;
        else if (key_is(k, "error")) error = val;
        else if (key_is(k, "method")) method = true;
    }
    if (r < 0) {
        snprintf(s->why, sizeof s->why, "malformed JSON: %.120s", p);
        return true;
    }
    char want[24];
    int wn = snprintf(want, sizeof want, "%llu", s->id);
    if (method || id.n != (size_t)wn || memcmp(id.p, want, id.n) != 0) return false;
    if (error.n) {
        snprintf(s->why, sizeof s->why, "JSON-RPC error %.200s", error.p);
        return true;
    }
    if (!result.n || !json_open(&it, result, '{')) {
        snprintf(s->why, sizeof s->why, "no result object: %.200s", p);
        return true;
    }
    switch (s->kind) {
    case RQ_CALL:
        while ((r = json_next(&it, &k, &val)) == 1)
            if (key_is(k, "isError") && val.p[0] == 't') {
                snprintf(s->why, sizeof s->why, "result.isError: %.200s", result.p);
                return true;
            }
        if (r < 0) {
            snprintf(s->why, sizeof s->why, "malformed result: %.200s", result.p);
            return true;
        }
        if (o.expect_echo && !memmem(result.p, result.n, MSG, sizeof MSG - 1)) {
            snprintf(s->why, sizeof s->why, "the result lacks the message sent: %.200s", result.p);
            return true;
        }
        break;
    case RQ_INIT: {
        span ver;
        snprintf(s->ver, sizeof s->ver, "%s", PROTO);
        while ((r = json_next(&it, &k, &val)) == 1)
            if (key_is(k, "protocolVersion") && plain_string(val, &ver) && ver.n < sizeof s->ver)
                snprintf(s->ver, sizeof s->ver, "%.*s", (int)ver.n, ver.p);
        break;
    }
    case RQ_LIST: {
        span tools = {0}, cursor = {0}, name, tk, tv;
        s->cursor.len = 0;
        g.pages++;
        while ((r = json_next(&it, &k, &val)) == 1) {
            if (key_is(k, "tools")) tools = val;
            else if (key_is(k, "nextCursor")) plain_string(val, &cursor);
        }
        json_it ti, oi;
        if (!tools.n || !json_open(&ti, tools, '[')) {
            snprintf(s->why, sizeof s->why, "tools/list without tools: %.200s", result.p);
            return true;
        }
        size_t tl = strlen(o.tool);
        while (json_next(&ti, NULL, &val) == 1) {
            if (!json_open(&oi, val, '{')) continue;
            while (json_next(&oi, &tk, &tv) == 1) {
                if (!key_is(tk, "name") || !plain_string(tv, &name)) continue;
                int rank = 0;
                if (name.n == tl && memcmp(name.p, o.tool, tl) == 0) rank = 2;
                else if (name.n > tl + 1 && name.p[name.n - tl - 1] == '_' && memcmp(name.p + name.n - tl, o.tool, tl) == 0)
                    rank = 1; /* SERVER_NAME or SERVER__NAME */
                if (rank > g.tool_rank && name.n < 200) {
                    free(g.tool);
                    g.tool = strndup(name.p, name.n);
                    if (!g.tool) die("out of memory");
                    g.tool_rank = rank;
                }
            }
        }
        if (g.tool_rank < 2 && cursor.n && cursor.n < 1024 && g.pages < 100) buf_add(&s->cursor, cursor.p, cursor.n);
        else if (!g.tool) {
            snprintf(s->why, sizeof s->why, "no tool named %s or *_%s", o.tool, o.tool);
            return true;
        }
        break;
    }
    default:
        break;
    }
    s->ok = true;
    return true;
}

/* The complete events of an SSE body not looked at yet; the first that
 * answers the request is judged. */
static void scan_sse(sess *s)
{
    const char *b = s->body.p;
    size_t n = s->body.len;
    while (!s->answered) {
        size_t p = s->sse_pos, ndata = 0;
        const char *d = NULL;
        size_t dn = 0;
        bool complete = false;
        while (p < n) {
            const char *nl = memchr(b + p, '\n', n - p);
            if (!nl) break;
            const char *line = b + p;
            size_t ll = (size_t)(nl - line);
            if (ll && line[ll - 1] == '\r') ll--;
            p = (size_t)(nl - b) + 1;
            if (ll == 0) {
                complete = true;
                break;
            }
            if (ll < 5 || memcmp(line, "data:", 5) != 0) continue; /* event:, id:, retry:, comments */
            const char *v = line + 5;
            size_t vn = ll - 5;
            if (vn && *v == ' ') v++, vn--;
            if (ndata++ == 0) {
                d = v;
                dn = vn;
                continue;
            }
            if (ndata == 2) { /* several data lines: joined with LF */
                s->data.len = 0;
                buf_add(&s->data, d, dn);
            }
            buf_add(&s->data, "\n", 1);
            buf_add(&s->data, v, vn);
            d = s->data.p;
            dn = s->data.len;
        }
        if (!complete) return;
        s->sse_pos = p;
        if (ndata && judge(s, d, dn)) {
            s->answered = true;
            s->t_answer = now_s();
        }
    }
}

/* Parses the response head in s->in; *pos gets its length. 0 = need more, -1 = bad. */
static int parse_head(sess *s, size_t *pos)
{
    for (;;) {
        const char *b = s->in.p, *end = memmem(b, s->in.len, "\r\n\r\n", 4);
        if (!end) return s->in.len > HEAD_MAX ? -1 : 0;
        size_t hl = (size_t)(end - b) + 4;
        if (hl < 16 || memcmp(b, "HTTP/1.", 7) != 0 || b[8] != ' ') return -1;
        int status = atoi(b + 9);
        if (status < 100 || status > 599) return -1;
        if (status < 200) { /* 100 Continue and the like: skip */
            memmove(s->in.p, b + hl, s->in.len - hl);
            s->in.len -= hl;
            continue;
        }
        bool chunked = false, has_len = false;
        unsigned long long clen = 0;
        s->status = status;
        s->is_sse = false;
        s->resp_close = b[7] == '0';
        const char *l = memchr(b, '\n', hl) + 1;
        while (l < end) {
            const char *le = memmem(l, (size_t)(end + 2 - l), "\r\n", 2);
            const char *c = memchr(l, ':', (size_t)(le - l));
            if (c) {
                size_t kn = (size_t)(c - l);
                const char *v = c + 1;
                while (v < le && (*v == ' ' || *v == '\t')) v++;
                size_t vn = (size_t)(le - v);
                while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t')) vn--;
#define HDR(name) (kn == sizeof name - 1 && strncasecmp(l, name, kn) == 0)
                if (HDR("content-length")) {
                    char *e;
                    clen = strtoull(v, &e, 10);
                    if (e == v || e != v + vn) return -1;
                    has_len = true;
                } else if (HDR("transfer-encoding")) {
                    chunked = memmem(v, vn, "chunked", 7) != NULL;
                } else if (HDR("content-type")) {
                    s->is_sse = vn >= 17 && strncasecmp(v, "text/event-stream", 17) == 0;
                } else if (HDR("connection")) {
                    if (memmem(v, vn, "close", 5)) s->resp_close = true;
                    else if (memmem(v, vn, "keep-alive", 10)) s->resp_close = false;
                } else if (HDR("mcp-session-id")) {
                    if (vn >= sizeof s->resp_sid) return -1;
                    for (size_t i = 0; i < vn; i++)
                        if (v[i] < 0x21 || v[i] > 0x7e) return -1; /* visible ASCII only (spec) */
                    memcpy(s->resp_sid, v, vn);
                    s->resp_sid[vn] = 0;
                }
#undef HDR
            }
            l = le + 2;
        }
        if (status == 204 || status == 304) s->framing = FR_NONE;
        else if (chunked) s->framing = FR_CHUNKED, s->chunk = CH_SIZE;
        else if (has_len) s->framing = clen ? FR_LENGTH : FR_NONE, s->remain = (size_t)clen;
        else s->framing = FR_EOF, s->resp_close = true;
        s->body_done = s->framing == FR_NONE;
        *pos = hl;
        return 1;
    }
}

/* Moves body bytes from s->in (from *pos) into s->body, de-chunked. -1 = bad framing. */
static int take_body(sess *s, size_t *pos)
{
    const char *b = s->in.p;
    size_t n = s->in.len, p = *pos;
    while (!s->body_done && p < n) {
        size_t k = n - p;
        if (s->framing == FR_EOF) {
            buf_add(&s->body, b + p, k);
            p = n;
        } else if (s->framing == FR_LENGTH || s->chunk == CH_DATA) {
            if (k > s->remain) k = s->remain;
            buf_add(&s->body, b + p, k);
            p += k;
            s->remain -= k;
            if (s->remain) continue;
            if (s->framing == FR_LENGTH) s->body_done = true;
            else s->chunk = CH_CRLF;
        } else { /* a chunk-size line, the CRLF after a chunk, or a trailer line */
            const char *nl = memchr(b + p, '\n', k);
            if (!nl) {
                if (k > 1024) return -1;
                break;
            }
            const char *line = b + p;
            size_t ll = (size_t)(nl - line);
            if (ll && line[ll - 1] == '\r') ll--;
            p = (size_t)(nl - b) + 1;
            if (s->chunk == CH_CRLF) {
                if (ll) return -1;
                s->chunk = CH_SIZE;
            } else if (s->chunk == CH_TRAILER) {
                if (!ll) s->body_done = true;
            } else {
                size_t v = 0, i = 0;
                for (; i < ll; i++) {
                    int c = line[i], x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                                  : c >= 'A' && c <= 'F'   ? c - 'A' + 10 : -1;
                    if (x < 0) break;
                    if (v > (SIZE_MAX >> 8)) return -1;
                    v = v * 16 + (size_t)x;
                }
                if (i == 0 || (i < ll && line[i] != ';' && line[i] != ' ' && line[i] != '\t')) return -1;
                if (v == 0) s->chunk = CH_TRAILER;
                else s->remain = v, s->chunk = CH_DATA;
            }
        }
    }
    *pos = p;
    return 0;
}

/* The response is complete, or (eof) the server closed the connection. */
static void on_response_end(sess *s)
{
    if (!s->answered) {
        s->t_answer = now_s();
        if (s->kind == RQ_DELETE) s->ok = true;
        else if (s->kind == RQ_NOTIFY && (s->status == 200 || s->status == 202 || s->status == 204)) s->ok = true;
        else if (s->status != 200) {
            snprintf(s->why, sizeof s->why, "HTTP %d: %.200s", s->status, s->body.len ? s->body.p : "");
            s->reinit = s->status == 404; /* the session is gone */
        } else if (s->is_sse) snprintf(s->why, sizeof s->why, "the SSE stream ended without the answer");
        else if (!s->body.len) snprintf(s->why, sizeof s->why, "HTTP 200 with an empty body");
        else if (!judge(s, s->body.p, s->body.len))
            snprintf(s->why, sizeof s->why, "the answer is for another id: %.200s", s->body.p);
    }
    finish(s, false);
}

static void on_readable(sess *s)
{
    if (s->connecting) return; /* the error comes with EPOLLOUT */
    buf_room(&s->in, READ_MIN);
    ssize_t n = read(s->fd, s->in.p + s->in.len, s->in.cap - s->in.len - 1);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (s->kind == RQ_NONE) { /* idle: the server closed a keep-alive connection, or sent what was not asked */
        sess_close(s);
        return;
    }
    if (n < 0) {
        fail(s, false, "read: %s", strerror(errno));
        return;
    }
    if (n == 0) {
        if (s->head_done && s->framing == FR_EOF) {
            s->body_done = true;
            if (s->is_sse && s->status == 200) scan_sse(s);
            on_response_end(s);
        } else fail(s, false, "the server closed the connection %s", s->head_done ? "mid-body" : "before answering");
        return;
    }
    s->in.len += (size_t)n;
    s->in.p[s->in.len] = 0;
    size_t pos = 0;
    if (!s->head_done) {
        int r = parse_head(s, &pos);
        if (r < 0) {
            fail(s, false, "bad HTTP response head: %.120s", s->in.p);
            return;
        }
        if (r == 0) return;
        s->head_done = true;
    }
    if (take_body(s, &pos) < 0) {
        fail(s, false, "bad chunked framing");
        return;
    }
    memmove(s->in.p, s->in.p + pos, s->in.len - pos); /* what is left: a partial chunk line, or extra bytes */
    s->in.len -= pos;
    if (s->is_sse && s->status == 200 && !s->answered) scan_sse(s);
    if (s->body_done) on_response_end(s);
}

static void on_writable(sess *s)
{
    if (s->connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            fail(s, false, "connect to %s: %s", o.hostport, strerror(err));
            return;
        }
        s->connecting = false;
    }
    sess_flush(s);
}

/* Timeouts: an unanswered request, or an SSE stream left open after its answer. */
static void sweep(double now)
{
    for (int i = 0; i < o.clients; i++) {
        sess *s = &S[i];
        if (s->kind == RQ_NONE) {
            if (s->retry_at && now >= s->retry_at) s->retry_at = 0, sess_next(s);
            continue;
        }
        if (s->answered && now - s->t_answer > DRAIN_S) finish(s, true);
        else if (!s->answered && now - s->t_sent > o.timeout)
            fail(s, true, "no answer after %.0f s", o.timeout);
    }
    check_phase();
}

/* ------------------------------------------------------------ main */

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct_ms(double p)
{
    if (!g.nlat) return 0;
    size_t i = (size_t)(p / 100 * (double)(g.nlat - 1) + 0.5);
    return g.lat[i < g.nlat ? i : g.nlat - 1] * 1000;
}

static void usage(void)
{
    fprintf(stderr, "usage: mcp_load --url http://HOST:PORT/PATH [--header 'Name: value' ...] [--tool NAME]\n"
                    "                [--clients N] [--seconds S] [--warmup S] [--timeout S] [--no-expect-echo]\n");
    exit(2);
}

static void parse_url(const char *url)
{
    const char *p = url;
    if (strncmp(p, "http://", 7) != 0) die("--url: http://HOST:PORT/PATH (IPv4, no TLS)");
    p += 7;
    size_t hn = strcspn(p, ":/");
    if (!hn || hn >= sizeof o.host) die("--url: bad host");
    memcpy(o.host, p, hn);
    o.host[hn] = 0;
    p += hn;
    long port = 80;
    if (*p == ':') {
        char *e;
        port = strtol(p + 1, &e, 10);
        if (e == p + 1 || port < 1 || port > 65535) die("--url: bad port");
        p = e;
    }
    snprintf(o.path, sizeof o.path, "%s", *p ? p : "/");
    if (o.path[0] != '/' || strpbrk(o.path, " \r\n")) die("--url: bad path");
    snprintf(o.hostport, sizeof o.hostport, "%s:%ld", o.host, port);
    o.addr.sin_family = AF_INET;
    o.addr.sin_port = htons((uint16_t)port);
    if (strcmp(o.host, "localhost") == 0) o.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, o.host, &o.addr.sin_addr) != 1) {
        struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
        if (getaddrinfo(o.host, NULL, &hints, &ai) != 0 || !ai) die("--url: cannot resolve the host (IPv4)");
        o.addr.sin_addr = ((struct sockaddr_in *)ai->ai_addr)->sin_addr;
        freeaddrinfo(ai);
    }
}

static double num_arg(const char *name, const char *v, double min, double max)
{
    char *e;
    double d = strtod(v, &e);
    if (e == v || *e || !(d >= min && d <= max)) {
        fprintf(stderr, "mcp_load: bad %s: %s\n", name, v);
        exit(2);
    }
    return d;
}

int main(int argc, char **argv)
{
    const char *url = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--no-expect-echo") == 0) {
            o.expect_echo = false;
            continue;
        }
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (strcmp(a, "--url") == 0) url = v;
        else if (strcmp(a, "--tool") == 0) o.tool = v;
        else if (strcmp(a, "--clients") == 0) o.clients = (int)num_arg(a, v, 1, 100000);
        else if (strcmp(a, "--seconds") == 0) o.seconds = num_arg(a, v, 0.001, 1e6);
        else if (strcmp(a, "--warmup") == 0) o.warmup = num_arg(a, v, 0, 1e6);
        else if (strcmp(a, "--timeout") == 0) o.timeout = num_arg(a, v, 0.001, 1e6);
        else if (strcmp(a, "--header") == 0) {
            const char *c = strchr(v, ':');
            if (!c || c == v || strpbrk(v, "\r\n")) die("--header 'Name: value'");
            buf_str(&o.extra, v);
            buf_str(&o.extra, "\r\n");
        } else usage();
    }
    if (!url) usage();
    parse_url(url);
    if (!*o.tool || strlen(o.tool) > 190 || strpbrk(o.tool, "\"\\")) die("--tool: a plain name");

    int rc = 0;
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    S = calloc((size_t)o.clients, sizeof *S);
    if (g.ep < 0 || !S) die("epoll_create1 / calloc");
    for (int i = 0; i < o.clients; i++) S[i].idx = i, S[i].fd = -1;
    start_phase(P_SETUP, 0);
    check_phase();

    struct epoll_event ev[256];
    double last_sweep = now_s();
    while (g.phase != P_QUIT) {
        int n = epoll_wait(g.ep, ev, 256, 10);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        for (int i = 0; i < n; i++) {
            sess *s = &S[(uint32_t)ev[i].data.u64];
            uint32_t gen = (uint32_t)(ev[i].data.u64 >> 32);
            if (gen != s->gen || s->fd < 0) continue; /* an event of a socket closed since */
            if (ev[i].events & (EPOLLOUT | EPOLLERR)) on_writable(s);
            if (gen == s->gen && s->fd >= 0 && ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP | EPOLLERR)) on_readable(s);
        }
        double now = now_s();
        if (now - last_sweep >= 0.01) {
            last_sweep = now;
            sweep(now);
            if (g.phase == P_DELETE && now >= g.deadline) g.phase = P_QUIT; /* DELETE answers are not waited for longer */
        }
    }

    if (g.fatal) {
        rc = 1;
        g.errors += g.setup_errors;
        g.m1 = g.m0;
    }
    if (g.warm_errors) fprintf(stderr, "mcp_load: %llu error(s) during the warm-up\n", g.warm_errors);
    if (g.nlat) qsort(g.lat, g.nlat, sizeof *g.lat, cmp_d);
    double secs = g.m1 > g.m0 ? g.m1 - g.m0 : 0;
    printf("{\"clients\":%d,\"tool\":\"%s\",\"calls\":%zu,\"seconds\":%.2f,\"calls_per_s\":%.1f,\"p50_ms\":%.3f,"
           "\"p99_ms\":%.3f,\"errors\":%llu,\"total_calls\":%llu}\n",
           o.clients, g.tool ? g.tool : o.tool, g.nlat, secs, secs > 0 ? (double)g.nlat / secs : 0, pct_ms(50),
           pct_ms(99), g.errors, g.total_calls);
    for (int i = 0; i < o.clients; i++) {
        sess_close(&S[i]);
        buf_free(&S[i].head), buf_free(&S[i].out), buf_free(&S[i].in), buf_free(&S[i].body);
        buf_free(&S[i].data), buf_free(&S[i].cursor);
    }
    free(S);
    free(g.lat);
    free(g.tool);
    buf_free(&o.extra);
    close(g.ep);
    return rc;
}
