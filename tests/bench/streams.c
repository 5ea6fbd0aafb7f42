/* tests/bench/streams.c — the benchmark's streaming client (what wrk cannot do).
 *
 *   streams ttfb --port P [--seconds S] [--model M] [--key K] [--portkey-host URL]
 *       One keep-alive connection, streamed chat requests back to back for S
 *       seconds. Prints one JSON line: count, p50/p99 of the time to the first
 *       SSE event ("data:" in the body) and of the whole stream.
 *   streams hold --port P --n N [--pid PID] [--hold S] [--model M] [--key K] [--portkey-host URL]
 *       Opens N connections, each asking for a slow stream, waits until every
 *       one has received its first event, then reads VmRSS of PID (the gateway)
 *       and prints one JSON line; keeps the streams open S more seconds, then
 *       closes them all.
 * The request body is the same ~1 KB chat request as tests/bench/chat.lua. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *g_model = "gpt-4o-mini", *g_key = "sk-bench", *g_portkey = NULL;
static int g_port = 0;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *build_request(size_t *len)
{
    static const char body_fmt[] =
        "{\"model\":\"%s\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"You are a careful assistant for the operations team of a mid-sized "
        "logistics company. Answer in plain English, in at most five short bullet points, and say so when you are "
        "not sure. Prefer concrete numbers from the conversation over general advice, and never invent figures.\"},"
        "{\"role\":\"user\",\"content\":\"Our warehouse in Rotterdam reported 3.2%% damaged goods in August against "
        "2.7%% in July. The new pallet wrap was introduced on the 9th of August. What should we look at first?\"},"
        "{\"role\":\"assistant\",\"content\":\"Compare damage rates before and after the 9th, split by product "
        "category and by shift; check whether the increase is concentrated on the lines that switched wrap first.\"},"
        "{\"role\":\"user\",\"content\":\"Thanks. The split by shift shows the night shift at 4.1%% and the day shift "
        "at 2.6%%. Summarise what this suggests and propose two low-cost checks we can run next week, with owners.\"}],"
        "\"temperature\":0.2,\"max_tokens\":256,\"user\":\"bench-ops-1\",\"stream\":true,"
        "\"stream_options\":{\"include_usage\":true}}";
    char body[4096];
    int bl = snprintf(body, sizeof body, body_fmt, g_model);
    char extra[1024] = "";
    if (g_portkey)
        snprintf(extra, sizeof extra, "x-portkey-provider: openai\r\nx-portkey-custom-host: %s\r\n", g_portkey);
    char *req = NULL;
    int n = asprintf(&req,
                     "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                     "Accept: text/event-stream\r\nAuthorization: Bearer %s\r\n%sContent-Length: %d\r\n\r\n%s",
                     g_port, g_key, extra, bl, body);
    if (n < 0) exit(1);
    *len = (size_t)n;
    return req;
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) { close(fd); return -1; }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Incremental HTTP/1.1 response reader: headers, then a chunked or
 * content-length body. feed() returns 1 once the response is complete. */
typedef struct {
    char hdr[8192]; size_t hlen;
    int in_body, chunked, close_delim, status;
    long clen, left;          /* content-length remaining, or bytes left in the current chunk */
    int cstate;               /* chunked: 0 size line, 1 data, 2 CRLF after data, 3 trailers */
    char line[64]; size_t llen;
    int saw_data;             /* "data:" seen in the body */
    char tail[8]; size_t tlen;
} resp;

static void resp_reset(resp *r) { memset(r, 0, sizeof *r); }

static void scan_data(resp *r, const char *p, size_t n)
{
    if (r->saw_data) return;
    char tmp[8 + 64];
    /* look across the previous tail and this piece */
    size_t k = n < 64 ? n : 64;
    memcpy(tmp, r->tail, r->tlen);
    memcpy(tmp + r->tlen, p, k);
    if (memmem(tmp, r->tlen + k, "data:", 5) || memmem(p, n, "data:", 5)) { r->saw_data = 1; return; }
    size_t keep = n < 5 ? n : 5;
    memcpy(r->tail, p + n - keep, keep);
    r->tlen = keep;
}

static int resp_feed(resp *r, const char *p, size_t n, size_t *used)
{
    size_t i = 0;
    while (i < n) {
        if (!r->in_body) {
            r->hdr[r->hlen++] = p[i++];
            if (r->hlen >= 4 && memcmp(r->hdr + r->hlen - 4, "\r\n\r\n", 4) == 0) {
                r->hdr[r->hlen] = 0;
                r->status = atoi(r->hdr + 9);
                r->in_body = 1;
                char *te = strcasestr(r->hdr, "\ntransfer-encoding:");
                char *cl = strcasestr(r->hdr, "\ncontent-length:");
                if (te && strcasestr(te, "chunked") && strcasestr(te, "chunked") < strstr(te + 1, "\n")) r->chunked = 1;
                else if (cl) { r->clen = atol(cl + 16); r->left = r->clen; if (!r->left) { *used = i; return 1; } }
                else r->close_delim = 1;
            } else if (r->hlen >= sizeof r->hdr - 1) {
                fprintf(stderr, "streams: header too large\n");
                exit(1);
            }
            continue;
        }
        if (r->close_delim) { scan_data(r, p + i, n - i); i = n; break; }
        if (!r->chunked) {
            size_t k = n - i < (size_t)r->left ? n - i : (size_t)r->left;
            scan_data(r, p + i, k);
            i += k; r->left -= (long)k;
            if (!r->left) { *used = i; return 1; }
            continue;
        }
        switch (r->cstate) {
        case 0: case 2: case 3: {
            char c = p[i++];
            if (c == '\n') {
                r->line[r->llen] = 0;
                if (r->cstate == 2) { r->cstate = 0; r->llen = 0; break; }
                if (r->cstate == 3) {
                    if (r->llen <= 1) { *used = i; return 1; } /* empty line ends the trailers */
                    r->llen = 0; break;
                }
                r->left = strtol(r->line, NULL, 16);
                r->llen = 0;
                r->cstate = r->left ? 1 : 3;
            } else if (r->llen < sizeof r->line - 1) r->line[r->llen++] = c;
            break;
        }
        case 1: {
            size_t k = n - i < (size_t)r->left ? n - i : (size_t)r->left;
            scan_data(r, p + i, k);
            i += k; r->left -= (long)k;
            if (!r->left) r->cstate = 2;
            break;
        }
        }
    }
    *used = i;
    return 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    if (!n) return 0;
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i];
}

static int cmd_ttfb(double seconds)
{
    size_t rlen;
    char *req = build_request(&rlen);
    size_t cap = 1 << 16, n = 0;
    double *ttfb = malloc(cap * sizeof *ttfb), *total = malloc(cap * sizeof *total);
    int fd = connect_to(g_port), errors = 0, reconnects = 0;
    if (fd < 0) { perror("streams: connect"); return 1; }
    char buf[65536];
    size_t have = 0;   /* bytes of the next response already read */
    double end = now_s() + seconds;
    while (now_s() < end) {
        resp r;
        resp_reset(&r);
        double t0 = now_s(), tf = 0;
        if (send(fd, req, rlen, MSG_NOSIGNAL) != (ssize_t)rlen) { close(fd); fd = connect_to(g_port); reconnects++; continue; }
        int done = 0, dead = 0;
        while (!done) {
            if (!have) {
                ssize_t k = recv(fd, buf, sizeof buf, 0);
                if (k <= 0) { dead = 1; break; }
                have = (size_t)k;
            }
            size_t used;
            done = resp_feed(&r, buf, have, &used);
            if (r.saw_data && !tf) tf = now_s();
            memmove(buf, buf + used, have - used);
            have -= used;
        }
        if (dead && !(r.close_delim && r.saw_data)) { errors++; close(fd); fd = connect_to(g_port); reconnects++; have = 0; continue; }
        double t1 = now_s();
        if (r.status != 200 || !tf) { errors++; continue; }
        if (n == cap) { cap *= 2; ttfb = realloc(ttfb, cap * sizeof *ttfb); total = realloc(total, cap * sizeof *total); }
        ttfb[n] = (tf - t0) * 1e6;
        total[n] = (t1 - t0) * 1e6;
        n++;
        if (dead || r.close_delim) { close(fd); fd = connect_to(g_port); reconnects++; have = 0; }
    }
    close(fd);
    qsort(ttfb, n, sizeof *ttfb, cmp_d);
    qsort(total, n, sizeof *total, cmp_d);
    printf("{\"streams\":%zu,\"seconds\":%.1f,\"streams_per_s\":%.1f,\"ttfb_p50_us\":%.1f,\"ttfb_p99_us\":%.1f,"
           "\"total_p50_us\":%.1f,\"total_p99_us\":%.1f,\"errors\":%d,\"reconnects\":%d}\n",
           n, seconds, (double)n / seconds, pct(ttfb, n, 50), pct(ttfb, n, 99), pct(total, n, 50),
           pct(total, n, 99), errors, reconnects);
    free(req); free(ttfb); free(total);
    return 0;
}

static long rss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) { kb = atol(line + 6); break; }
    fclose(f);
    return kb;
}

static int cmd_hold(int nconn, int pid, double hold_s, double timeout_s)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)nconn + 64) {
        rl.rlim_cur = (rlim_t)nconn + 64;
        if (rl.rlim_max < rl.rlim_cur) rl.rlim_max = rl.rlim_cur;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    size_t rlen;
    char *req = build_request(&rlen);
    struct pollfd *pf = calloc((size_t)nconn, sizeof *pf);
    resp *rs = calloc((size_t)nconn, sizeof *rs);
    int *first = calloc((size_t)nconn, sizeof *first);
    int open_ok = 0, got_first = 0, failed = 0;
    double t0 = now_s();
    for (int i = 0; i < nconn; i++) {
        int fd = connect_to(g_port);
        if (fd < 0) { pf[i].fd = -1; failed++; continue; }
        if (send(fd, req, rlen, MSG_NOSIGNAL) != (ssize_t)rlen) { close(fd); pf[i].fd = -1; failed++; continue; }
        pf[i].fd = fd;
        pf[i].events = POLLIN;
        open_ok++;
    }
    char buf[16384];
    double deadline = t0 + timeout_s, t_all = 0;
    int reported = 0;
    long rss = -1;
    for (;;) {
        double now = now_s();
        if (!reported && (got_first + failed >= nconn || now >= deadline)) {
            t_all = now - t0;
            rss = pid > 0 ? rss_kb(pid) : -1;
            reported = 1;
            deadline = now + hold_s;
        }
        if (reported && now >= deadline) break;
        int k = poll(pf, (nfds_t)nconn, 100);
        if (k <= 0) continue;
        for (int i = 0; i < nconn; i++) {
            if (pf[i].fd < 0 || !pf[i].revents) continue;
            ssize_t m = recv(pf[i].fd, buf, sizeof buf, 0);
            if (m <= 0) { close(pf[i].fd); pf[i].fd = -1; if (!first[i]) failed++; continue; }
            size_t used, off = 0;
            while (off < (size_t)m) {
                int done = resp_feed(&rs[i], buf + off, (size_t)m - off, &used);
                off += used;
                if (done) resp_reset(&rs[i]);
            }
            if (!first[i] && (rs[i].saw_data || rs[i].status)) {
                if (rs[i].status && rs[i].status != 200) { failed++; first[i] = 1; close(pf[i].fd); pf[i].fd = -1; continue; }
                if (rs[i].saw_data) { first[i] = 1; got_first++; }
            }
        }
    }
    for (int i = 0; i < nconn; i++) if (pf[i].fd >= 0) close(pf[i].fd);
    printf("{\"requested\":%d,\"opened\":%d,\"streaming\":%d,\"failed\":%d,\"open_seconds\":%.2f,\"rss_kb\":%ld}\n",
           nconn, open_ok, got_first, failed, t_all, rss);
    free(pf); free(rs); free(first); free(req);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) goto usage;
    const char *cmd = argv[1];
    double seconds = 10, hold = 2, timeout = 30;
    int n = 1000, pid = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) goto usage;
        if (!strcmp(a, "--port")) g_port = atoi(v);
        else if (!strcmp(a, "--seconds")) seconds = atof(v);
        else if (!strcmp(a, "--model")) g_model = v;
        else if (!strcmp(a, "--key")) g_key = v;
        else if (!strcmp(a, "--portkey-host")) g_portkey = *v ? v : NULL;
        else if (!strcmp(a, "--n")) n = atoi(v);
        else if (!strcmp(a, "--pid")) pid = atoi(v);
        else if (!strcmp(a, "--hold")) hold = atof(v);
        else if (!strcmp(a, "--timeout")) timeout = atof(v);
        else goto usage;
        i++;
    }
    if (!g_port) goto usage;
    if (!strcmp(cmd, "ttfb")) return cmd_ttfb(seconds);
    if (!strcmp(cmd, "hold")) return cmd_hold(n, pid, hold, timeout);
usage:
    fprintf(stderr, "usage: streams ttfb|hold --port P [--seconds S] [--n N] [--pid PID] [--hold S] [--timeout S]\n"
                    "               [--model M] [--key K] [--portkey-host URL]\n");
    return 2;
}
