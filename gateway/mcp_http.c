/* gateway/mcp_http.c — `odock serve` as an MCP server over HTTP, in front of
 * the one shared multiplexer (mcp/): Streamable HTTP on /mcp, the legacy
 * HTTP+SSE pair /sse + /messages, and one JSON-RPC message per text frame
 * on the WebSocket /mcp/ws. Governance happens in the session API; this
 * file is transport only: sessions, streams, replay, origin and key checks.
 *
 * A session (gw_msess) wraps one mcp_session. Its responses go to the POST
 * that carried the request (JSON, or SSE once something else must go out
 * first); other messages go to an SSE-capable POST still waiting, else to
 * the session's GET stream, else wait (bounded) for one. Every SSE event has
 * a session-unique id and is kept in a bounded replay buffer for
 * Last-Event-ID. A client that disconnects with requests unanswered gets
 * them cancelled upstream (recorded client_closed). */
#include "gw.h"
#include "mcp_sse.h"
#include "../mcp/jsonrpc.h"
#include "../mcp/mcp.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <libwebsockets.h>

#define MS_MAX_SESSIONS 10000
#define MS_REPLAY_EVENTS 256
#define MS_REPLAY_BYTES (1024 * 1024)
#define MS_LATER_MAX 256          /* messages waiting for a GET stream */
#define MS_KEEPALIVE_US (15 * 1000000LL)

enum { T_STREAMABLE = 1, T_LEGACY, T_WS };
enum { ST_POST = 1, ST_GET, ST_LEGACY };

typedef struct gw_msess gw_msess;
typedef struct gw_mstream gw_mstream;
typedef struct gw_mws gw_mws;
typedef struct ws_msg ws_msg;

struct gw_mstream {            /* one HTTP response bound to a session */
    gw_msess *ms;
    gw_conn *conn;
    int kind, sid;
    int sse_ok, json_ok;       /* what the client accepts */
    int streaming;
    int expect;                /* answers still to come: 0 or 1 (a batch is one) */
    int batch;
    char idt[128];             /* id text of a single request; "" otherwise */
    cJSON *reqids;             /* ids of every request carried: cancelled if the client goes */
    int64_t last_write_us;
    gw_mstream *next;
};

struct ws_msg {
    ws_msg *next;
    size_t len;
    char data[];
};

struct gw_mws {                /* lws per-session data of a /mcp/ws connection */
    struct lws *wsi;
    gw_msess *ms;
    od_buf rx;
    int rx_too_large;
    ws_msg *qh, *qt;
    int closing;
    od_ws *relay;              /* workers other than 0: the connection to worker 0 */
};

struct gw_msess {
    gw_mcp *g;
    mcp_session *s;
    char id[33];
    char *key;
    int transport;
    gw_mstream *streams;
    gw_mstream *get;           /* the GET (or legacy /sse) stream */
    gw_mws *ws;
    int next_sid;
    int64_t seq;
    gw_replay replay;
    char **later;
    size_t *later_len;
    int nlater;
    int64_t last_active_us;
    gw_msess *next, *prev;
};

struct gw_mcp {
    gw_server *srv;
    mcp_mux *mux;
    gw_msess *sessions;
    int nsessions;
    od_timer tick;
    int64_t idle_us;
};

/* ---------------- answers of our own ---------------- */

void gw_mcp_error(gw_conn *c, int status, int code, const char *msg, const char *reason)
{
    cJSON *o = mcp_rpc_error_reason(NULL, code, msg, reason);
    od_buf b = {0};
    od_json_write(&b, o);
    gw_conn_respond(c, status, "application/json", b.p, b.len);
    od_buf_free(&b);
    cJSON_Delete(o);
}

void gw_mcp_too_large(gw_conn *c)
{
    gw_mcp_error(c, 413, MCP_ERR_INVALID_REQUEST, "Request body exceeds max_body_bytes", "request_too_large");
}

/* Origin (and, on a loopback listener, Host) against DNS rebinding: 403.
 * Every worker checks, also one that only relays to worker 0. */
static int origin_ok(gw_server *s, gw_conn *c, struct lws *wsi)
{
    char buf[512];
    int n = gw_req_header(c, wsi, "origin", buf, sizeof buf);
    if (n < 0 || (n > 0 && !gw_origin_allowed(buf, s->mcp_origins)))
        return 0;
    if (s->mcp_check_host) {
        n = gw_req_header(c, wsi, "host", buf, sizeof buf);
        if (n < 0 || (n > 0 && !gw_host_allowed(buf, s->mcp_hosts)))
            return 0;
    }
    return 1;
}

/* 401 with the reason when the key is missing or refused; 0 when good */
static int authenticate(gw_mcp *g, gw_conn *c, const char *key)
{
    od_req r;
    od_req_init(&r, OD_KIND_TOOL, "");
    int bad = !key || !*key;
    if (bad) {
        r.reason = OD_R_INVALID_KEY;
        snprintf(r.message, sizeof r.message, "missing API key: send Authorization: Bearer odk_...");
    } else if (g->srv->pol) {
        bad = pol_authenticate(g->srv->pol, &r, key) != 0;
    }
    if (bad) {
        gw_conn_header(c, "www-authenticate", "Bearer realm=\"odock\"");
        gw_mcp_error(c, 401, MCP_ERR_DENIED, r.message[0] ? r.message : "invalid API key",
                  r.reason ? r.reason : OD_R_INVALID_KEY);
    }
    od_req_free(&r);
    return bad;
}

static int same_key(const gw_msess *ms, const char *key)
{
    size_t a = strlen(ms->key), b = key ? strlen(key) : 0;
    return key && a == b && od_ct_equal(ms->key, key, a);
}

/* ---------------- streams ---------------- */

static gw_mstream *stream_new(gw_msess *ms, gw_conn *c, int kind)
{
    gw_mstream *st = od_calloc(1, sizeof *st);
    st->ms = ms;
    st->conn = c;
    st->kind = kind;
    st->sid = ++ms->next_sid;
    st->last_write_us = od_mono_us();
    st->next = ms->streams;
    ms->streams = st;
    gw_conn_bind(c, st);
    return st;
}

/* unlinks and frees; the conn is already answered, ended or gone */
static void stream_free(gw_mstream *st)
{
    gw_msess *ms = st->ms;
    for (gw_mstream **pp = &ms->streams; *pp; pp = &(*pp)->next)
        if (*pp == st) { *pp = st->next; break; }
    if (ms->get == st)
        ms->get = NULL;
    if (st->conn)
        gw_conn_bind(st->conn, NULL);
    cJSON_Delete(st->reqids);
    free(st);
}

static void stream_write(gw_mstream *st, const char *text, size_t len)
{
    gw_conn_stream_write(st->conn, text, len);
    st->last_write_us = od_mono_us();
}

/* one message as an SSE event with a fresh id, kept for replay */
static void stream_event(gw_mstream *st, const char *json, size_t len)
{
    gw_msess *ms = st->ms;
    od_buf ev = {0};
    int64_t seq = ++ms->seq;
    gw_sse_event(&ev, seq, "message", json, len);
    if (st->kind != ST_LEGACY)
        gw_replay_push(&ms->replay, seq, st->sid, ev.p, ev.len);
    stream_write(st, ev.p, ev.len);
    od_buf_free(&ev);
}

/* SEP-1699: an event id before any data lets a client resume from the start.
 * Older clients choke on empty data, so only for 2025-11-25 and later. */
static void stream_prime(gw_mstream *st)
{
    gw_msess *ms = st->ms;
    if (strcmp(mcp_session_protocol(ms->s), "2025-11-25") < 0)
        return;
    od_buf ev = {0};
    int64_t seq = ++ms->seq;
    od_buf_printf(&ev, "id: %lld\nretry: 1000\ndata: \n\n", (long long)seq);
    gw_replay_push(&ms->replay, seq, st->sid, ev.p, ev.len);
    stream_write(st, ev.p, ev.len);
    od_buf_free(&ev);
}

static void stream_begin_sse(gw_mstream *st)
{
    gw_conn_header(st->conn, "mcp-session-id", "%s", st->ms->id);
    gw_conn_stream_start(st->conn, 200, "text/event-stream");
    st->streaming = 1;
    gw_conn_watch_hangup(st->conn);
}

/* the last chunk of an SSE stream: the connection may carry a next request */
static void stream_end(gw_mstream *st)
{
    gw_conn_stream_end(st->conn);
}

/* ends a stream from our side (session over) */
static void stream_close(gw_mstream *st)
{
    if (st->conn) {
        if (st->streaming)
            stream_end(st);
        else
            gw_mcp_error(st->conn, 404, MCP_ERR_INVALID_REQUEST, "Session terminated", "session_not_found");
    }
    stream_free(st);
}

/* ---------------- sessions ---------------- */

static void ws_enqueue(gw_mws *w, const char *json, size_t len);
static void ws_close(gw_mws *w);

static void later_push(gw_msess *ms, const char *json, size_t len)
{
    if (ms->nlater == MS_LATER_MAX) {
        free(ms->later[0]);
        memmove(ms->later, ms->later + 1, sizeof *ms->later * (size_t)(ms->nlater - 1));
        memmove(ms->later_len, ms->later_len + 1, sizeof *ms->later_len * (size_t)(ms->nlater - 1));
        ms->nlater--;
    }
    ms->later = od_realloc(ms->later, sizeof *ms->later * (size_t)(ms->nlater + 1));
    ms->later_len = od_realloc(ms->later_len, sizeof *ms->later_len * (size_t)(ms->nlater + 1));
    ms->later[ms->nlater] = od_strndup(json, len);
    ms->later_len[ms->nlater++] = len;
}

static void later_flush(gw_msess *ms, gw_mstream *st)
{
    for (int i = 0; i < ms->nlater; i++) {
        stream_event(st, ms->later[i], ms->later_len[i]);
        free(ms->later[i]);
    }
    ms->nlater = 0;
}

/* the answer st waited for */
static void deliver_answer(gw_mstream *st, const char *json, size_t len)
{
    st->expect = 0;
    if (!st->streaming && !st->json_ok)
        stream_begin_sse(st);
    if (st->streaming) {
        stream_event(st, json, len);
        stream_end(st);
    } else {
        gw_conn_header(st->conn, "mcp-session-id", "%s", st->ms->id);
        gw_conn_respond(st->conn, 200, "application/json", json, len);
    }
    stream_free(st);
}

static gw_mstream *post_for(gw_msess *ms, int kind, const char *id_text)
{
    gw_mstream *fallback = NULL;
    for (gw_mstream *st = ms->streams; st; st = st->next) {
        if (st->kind != ST_POST || !st->expect)
            continue;
        if (kind == MCP_OUT_RESPONSE && !st->batch && st->idt[0] && id_text && !strcmp(st->idt, id_text))
            return st;
        if ((kind == MCP_OUT_BATCH && st->batch) || (kind == MCP_OUT_RESPONSE && !st->idt[0]))
            fallback = st; /* the list is newest first: ends on the oldest */
    }
    return fallback;
}

/* where a message that answers nothing goes: a POST still waiting that may
 * stream (the newest), else the GET stream */
static gw_mstream *stream_for_other(gw_msess *ms)
{
    for (gw_mstream *st = ms->streams; st; st = st->next)
        if (st->kind == ST_POST && st->expect && st->sse_ok && st->conn)
            return st;
    return ms->get;
}

/* mcp_send_fn */
static void on_send(void *ud, const char *json, size_t len, int kind, const char *id_text)
{
    gw_msess *ms = ud;
    ms->last_active_us = od_mono_us();
    if (ms->transport == T_WS) {
        if (ms->ws) ws_enqueue(ms->ws, json, len);
        return;
    }
    if (ms->transport == T_LEGACY) {
        if (ms->get) stream_event(ms->get, json, len);
        return;
    }
    gw_mstream *st = NULL;
    if (kind == MCP_OUT_RESPONSE || kind == MCP_OUT_BATCH) {
        st = post_for(ms, kind, id_text);
        if (st) {
            deliver_answer(st, json, len);
            return;
        }
    }
    st = stream_for_other(ms);
    if (!st) {
        later_push(ms, json, len);
        return;
    }
    if (!st->streaming)
        stream_begin_sse(st);
    stream_event(st, json, len);
}

static gw_msess *sess_new(gw_mcp *g, const char *key, int transport)
{
    gw_msess *ms = od_calloc(1, sizeof *ms);
    ms->g = g;
    ms->key = od_strdup(key);
    ms->transport = transport;
    ms->s = mcp_session_new(g->mux, key, on_send, ms);
    od_strlcpy(ms->id, mcp_session_id(ms->s), sizeof ms->id);
    gw_replay_init(&ms->replay, MS_REPLAY_EVENTS, MS_REPLAY_BYTES);
    ms->last_active_us = od_mono_us();
    ms->next = g->sessions;
    if (g->sessions) g->sessions->prev = ms;
    g->sessions = ms;
    g->nsessions++;
    return ms;
}

static gw_msess *sess_find(gw_mcp *g, const char *id, int transport)
{
    size_t n = strlen(id);
    if (n != 32)
        return NULL;
    for (gw_msess *ms = g->sessions; ms; ms = ms->next)
        if (ms->transport == transport && od_ct_equal(ms->id, id, 32))
            return ms;
    return NULL;
}

/* Ends a session: in-flight calls are cancelled upstream (client_closed),
 * its streams end, its WebSocket closes. */
static void sess_end(gw_msess *ms)
{
    gw_mcp *g = ms->g;
    mcp_session_free(ms->s); /* sends nothing */
    ms->s = NULL;
    while (ms->streams)
        stream_close(ms->streams);
    if (ms->ws) {
        ms->ws->ms = NULL;
        ws_close(ms->ws);
    }
    if (ms->prev) ms->prev->next = ms->next;
    else g->sessions = ms->next;
    if (ms->next) ms->next->prev = ms->prev;
    g->nsessions--;
    for (int i = 0; i < ms->nlater; i++)
        free(ms->later[i]);
    free(ms->later);
    free(ms->later_len);
    gw_replay_free(&ms->replay);
    free(ms->key);
    free(ms);
}

/* cancels what st still waited for, as the client would have */
static void cancel_requests(gw_msess *ms, cJSON *ids)
{
    cJSON *id;
    cJSON_ArrayForEach(id, ids) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddItemToObject(p, "requestId", cJSON_Duplicate(id, 1));
        cJSON_AddStringToObject(p, "reason", "client disconnected");
        cJSON *n = mcp_rpc_notification("notifications/cancelled", p);
        char *t = od_json_print(n); /* the client's id as it wrote it */
        mcp_session_handle(ms->s, t, strlen(t));
        free(t);
        cJSON_Delete(n);
    }
}

void gw_mcp_conn_gone(void *ref)
{
    gw_mstream *st = ref;
    gw_msess *ms = st->ms;
    st->conn = NULL;
    if (st->kind == ST_LEGACY) {
        sess_end(ms);
        return;
    }
    cJSON *ids = st->expect ? st->reqids : NULL;
    st->reqids = NULL;
    stream_free(st);
    if (ids)
        cancel_requests(ms, ids);
    cJSON_Delete(ids);
    ms->last_active_us = od_mono_us();
}

/* ---------------- Streamable HTTP: /mcp ---------------- */

typedef struct req_info {
    gw_conn *c;
    const char *key;
    char sid[64];
    char proto[32];
    char accept[512];
} req_info;

/* the session named by Mcp-Session-Id: 400 without one, 404 unknown */
static gw_msess *need_session(gw_mcp *g, gw_conn *c, const req_info *ri, int transport)
{
    if (!ri->sid[0]) {
        gw_mcp_error(c, 400, MCP_ERR_INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required", NULL);
        return NULL;
    }
    gw_msess *ms = sess_find(g, ri->sid, transport);
    if (!ms || !same_key(ms, ri->key)) {
        gw_mcp_error(c, 404, MCP_ERR_INVALID_REQUEST, "Session not found", "session_not_found");
        return NULL;
    }
    ms->last_active_us = od_mono_us();
    return ms;
}

static int is_initialize(const cJSON *j)
{
    const cJSON *m = od_jget(j, "method");
    return cJSON_IsObject(j) && cJSON_IsString(m) && !strcmp(m->valuestring, "initialize");
}

/* requests (method + id) and malformed messages want an answer */
static int wants_answer(const cJSON *j, cJSON *ids)
{
    if (!cJSON_IsObject(j))
        return 1;
    const cJSON *m = od_jget(j, "method"), *id = od_jget(j, "id");
    if (cJSON_IsString(m)) {
        if (id && ids)
            cJSON_AddItemToArray(ids, cJSON_Duplicate(id, 1));
        return id != NULL;
    }
    return !(id && (od_jget(j, "result") || od_jget(j, "error")));
}

/* a notifications/cancelled ends the wait of the POST that carried the request */
static void note_cancels(gw_msess *ms, const cJSON *j)
{
    const cJSON *m = od_jget(j, "method");
    if (!cJSON_IsString(m) || strcmp(m->valuestring, "notifications/cancelled"))
        return;
    char idt[128];
    mcp_rpc_id_text(od_jget(od_jget(j, "params"), "requestId"), idt, sizeof idt);
    for (gw_mstream *st = ms->streams; st; st = st->next) {
        if (st->kind != ST_POST || !st->expect || st->batch || strcmp(st->idt, idt))
            continue;
        st->expect = 0;
        if (st->conn && st->streaming) stream_end(st);
        else if (st->conn) gw_mcp_error(st->conn, 200, MCP_ERR_INTERNAL, "Request cancelled", "client_closed");
        stream_free(st);
        return;
    }
}

static void mcp_post(gw_mcp *g, gw_conn *c, req_info *ri, const char *body, size_t len)
{
    int code;
    const char *emsg;
    cJSON *j = mcp_rpc_parse(body, len, 0, &code, &emsg);
    if (!j) {
        if (code == MCP_ERR_TOO_LARGE) gw_mcp_too_large(c);
        else gw_mcp_error(c, 400, code, emsg ? emsg : "Parse error", NULL);
        return;
    }
    gw_msess *ms = NULL;
    if (is_initialize(j)) {
        if (g->nsessions >= MS_MAX_SESSIONS) {
            gw_mcp_error(c, 503, MCP_ERR_INTERNAL, "Too many sessions", NULL);
            goto out;
        }
        ms = sess_new(g, ri->key, T_STREAMABLE);
    } else {
        if (ri->proto[0] && !mcp_protocol_supported(ri->proto)) {
            gw_mcp_error(c, 400, MCP_ERR_INVALID_REQUEST, "Bad Request: unsupported MCP-Protocol-Version", NULL);
            goto out;
        }
        if (cJSON_IsArray(j)) {
            cJSON *it;
            cJSON_ArrayForEach(it, j) if (is_initialize(it)) {
                gw_mcp_error(c, 400, MCP_ERR_INVALID_REQUEST, "Invalid Request: initialize cannot be batched", NULL);
                goto out;
            }
        }
        if (!(ms = need_session(g, c, ri, T_STREAMABLE)))
            goto out;
    }
    cJSON *ids = cJSON_CreateArray();
    int expect = 0;
    if (cJSON_IsArray(j)) {
        cJSON *it;
        cJSON_ArrayForEach(it, j) expect |= wants_answer(it, ids);
        cJSON_ArrayForEach(it, j) note_cancels(ms, it);
        if (cJSON_GetArraySize(j) == 0) expect = 1;
    } else {
        expect = wants_answer(j, ids);
        note_cancels(ms, j);
    }
    if (!expect) {
        cJSON_Delete(ids);
        mcp_session_handle(ms->s, body, len);
        gw_conn_header(c, "mcp-session-id", "%s", ms->id);
        gw_conn_respond(c, 202, "application/json", "", 0);
        goto out;
    }
    int json_ok = !ri->accept[0] || gw_accepts(ri->accept, "application/json");
    int sse_ok = gw_accepts(ri->accept, "text/event-stream");
    if (!json_ok && !sse_ok) {
        cJSON_Delete(ids);
        gw_mcp_error(c, 406, MCP_ERR_INVALID_REQUEST,
                  "Not Acceptable: client must accept application/json or text/event-stream", NULL);
        if (is_initialize(j)) sess_end(ms);
        goto out;
    }
    gw_mstream *st = stream_new(ms, c, ST_POST);
    st->json_ok = json_ok;
    st->sse_ok = sse_ok;
    st->expect = 1;
    st->batch = cJSON_IsArray(j);
    st->reqids = ids;
    if (!st->batch && cJSON_GetArraySize(ids) == 1)
        mcp_rpc_id_text(cJSON_GetArrayItem(ids, 0), st->idt, sizeof st->idt);
    mcp_session_handle_parsed(ms->s, body, len, j); /* may answer (and free st) at once */
out:
    cJSON_Delete(j);
}

static void replay_cb(void *ud, const char *text, size_t len)
{
    stream_write(ud, text, len);
}

static void mcp_get(gw_mcp *g, gw_conn *c, req_info *ri)
{
    char lei[64];
    if (!gw_accepts(ri->accept, "text/event-stream")) {
        gw_mcp_error(c, 406, MCP_ERR_INVALID_REQUEST, "Not Acceptable: client must accept text/event-stream", NULL);
        return;
    }
    if (ri->proto[0] && !mcp_protocol_supported(ri->proto)) {
        gw_mcp_error(c, 400, MCP_ERR_INVALID_REQUEST, "Bad Request: unsupported MCP-Protocol-Version", NULL);
        return;
    }
    gw_msess *ms = need_session(g, c, ri, T_STREAMABLE);
    if (!ms)
        return;
    int64_t after = gw_req_header(ri->c, NULL, "last-event-id", lei, sizeof lei) > 0 ? gw_sse_parse_id(lei) : -1;
    if (ms->get) {
        if (after < 0) {
            gw_mcp_error(c, 409, MCP_ERR_INVALID_REQUEST, "Conflict: only one SSE stream is allowed per session", NULL);
            return;
        }
        stream_close(ms->get); /* a resuming client replaces its old stream */
    }
    gw_mstream *st = stream_new(ms, c, ST_GET);
    ms->get = st;
    stream_begin_sse(st);
    int from = after >= 0 ? gw_replay_stream_of(&ms->replay, after) : -1;
    if (from >= 0) {
        gw_replay_since(&ms->replay, after, from, replay_cb, st);
        st->sid = from; /* what follows continues that stream */
    } else {
        stream_prime(st);
    }
    later_flush(ms, st);
}

static void mcp_delete(gw_mcp *g, gw_conn *c, req_info *ri)
{
    gw_msess *ms = need_session(g, c, ri, T_STREAMABLE);
    if (!ms)
        return;
    sess_end(ms);
    gw_conn_respond(c, 200, "application/json", "", 0);
}

/* ---------------- legacy HTTP+SSE: /sse + /messages ---------------- */

static void legacy_open(gw_mcp *g, gw_conn *c, req_info *ri)
{
    if (g->nsessions >= MS_MAX_SESSIONS) {
        gw_mcp_error(c, 503, MCP_ERR_INTERNAL, "Too many sessions", NULL);
        return;
    }
    gw_msess *ms = sess_new(g, ri->key, T_LEGACY);
    gw_mstream *st = stream_new(ms, c, ST_LEGACY);
    ms->get = st;
    gw_conn_stream_start(c, 200, "text/event-stream");
    st->streaming = 1;
    gw_conn_watch_hangup(c);
    od_buf ev = {0};
    od_buf_printf(&ev, "event: endpoint\ndata: /messages?sessionId=%s\n\n", ms->id);
    stream_write(st, ev.p, ev.len);
    od_buf_free(&ev);
}

static void legacy_post(gw_mcp *g, gw_conn *c, req_info *ri, const char *body, size_t len)
{
    if (gw_req_query(c, NULL, "sessionId", ri->sid, sizeof ri->sid) < 0)
        ri->sid[0] = 0;
    gw_msess *ms = need_session(g, c, ri, T_LEGACY);
    if (!ms)
        return;
    int code;
    const char *emsg;
    cJSON *j = mcp_rpc_parse(body, len, 0, &code, &emsg);
    if (!j) {
        if (code == MCP_ERR_TOO_LARGE) gw_mcp_too_large(c);
        else gw_mcp_error(c, 400, code, emsg ? emsg : "Parse error", NULL);
        return;
    }
    cJSON_Delete(j);
    mcp_session_handle(ms->s, body, len); /* answers go on the /sse stream */
    gw_conn_respond(c, 202, "text/plain", "Accepted", 8);
}

/* ---------------- the HTTP entry ---------------- */

void gw_mcp_request(gw_server *s, gw_conn *c, int transport, const char *method, const char *body, size_t len)
{
    gw_mcp *g = s->mcp;
    req_info ri = {.c = c, .key = gw_conn_key(c)};
    int is_post = !strcmp(method, "POST"), is_get = !strcmp(method, "GET"), is_del = !strcmp(method, "DELETE");
    if (transport == GW_MCP_SSE && !is_get) {
        gw_conn_header(c, "allow", "GET");
        gw_mcp_error(c, 405, MCP_ERR_INVALID_REQUEST, "Method not allowed", NULL);
        return;
    }
    if (transport == GW_MCP_MESSAGES && !is_post) {
        gw_conn_header(c, "allow", "POST");
        gw_mcp_error(c, 405, MCP_ERR_INVALID_REQUEST, "Method not allowed", NULL);
        return;
    }
    if (!is_post && !is_get && !is_del) {
        gw_conn_header(c, "allow", "GET, POST, DELETE");
        gw_mcp_error(c, 405, MCP_ERR_INVALID_REQUEST, "Method not allowed", NULL);
        return;
    }
    if (s->fwd_port) { /* sessions live in worker 0, which checks the rest */
        gw_forward(s, c, transport, body, len);
        return;
    }
    if (!g) {
        gw_mcp_error(c, 503, MCP_ERR_INTERNAL, "MCP is not available", NULL);
        return;
    }
    if (!origin_ok(s, c, NULL)) {
        gw_mcp_error(c, 403, MCP_ERR_INVALID_REQUEST, "Forbidden: Origin or Host not allowed", "origin_not_allowed");
        return;
    }
    if (authenticate(g, c, ri.key))
        return;
    gw_req_header(c, NULL, "mcp-session-id", ri.sid, sizeof ri.sid);
    gw_req_header(c, NULL, "mcp-protocol-version", ri.proto, sizeof ri.proto);
    gw_req_header(c, NULL, "accept", ri.accept, sizeof ri.accept);
    if (transport == GW_MCP_SSE)
        legacy_open(g, c, &ri);
    else if (transport == GW_MCP_MESSAGES)
        legacy_post(g, c, &ri, body, len);
    else if (is_post)
        mcp_post(g, c, &ri, body, len);
    else if (is_get)
        mcp_get(g, c, &ri);
    else
        mcp_delete(g, c, &ri);
}

/* ---------------- WebSocket: /mcp/ws ---------------- */

static void ws_enqueue(gw_mws *w, const char *json, size_t len)
{
    ws_msg *m = od_malloc(sizeof *m + LWS_PRE + len);
    m->next = NULL;
    m->len = len;
    memcpy(m->data + LWS_PRE, json, len);
    if (w->qt) w->qt->next = m;
    else w->qh = m;
    w->qt = m;
    lws_callback_on_writable(w->wsi);
}

static void ws_close(gw_mws *w)
{
    w->closing = 1;
    lws_callback_on_writable(w->wsi);
}

static void ws_free_queue(gw_mws *w)
{
    while (w->qh) {
        ws_msg *m = w->qh;
        w->qh = m->next;
        free(m);
    }
    w->qt = NULL;
    od_buf_free(&w->rx);
}

/* ---------------- /mcp/ws on a worker other than 0 ----------------
 * The session lives in worker 0: each message is relayed to a WebSocket
 * connection to worker 0's internal socket and back. Worker 0 checks the
 * origin and the key; its refusal closes this connection too. */
static void relay_message(od_ws *r, const char *data, size_t len, void *ud)
{
    (void)r;
    ws_enqueue(ud, data, len);
}

static void relay_closed(od_ws *r, const char *why, void *ud)
{
    (void)r;
    (void)why;
    ws_close(ud); /* the relay is freed with this connection */
}

static const od_ws_cbs RELAY_CBS = {NULL, relay_message, relay_closed};

static void relay_open(gw_server *s, gw_mws *w, struct lws *wsi)
{
    char url[64], v[512], *err = NULL;
    char *key = gw_req_key(NULL, wsi);
    char *lines[4];
    int n = 0;
    lines[n++] = od_strdup("sec-websocket-protocol: mcp");
    if (key)
        lines[n++] = od_strdup_printf("authorization: Bearer %s", key);
    /* worker 0 checks them again, as the client sent them */
    if (gw_req_header(NULL, wsi, "origin", v, sizeof v) > 0)
        lines[n++] = od_strdup_printf("origin: %s", v);
    if (gw_req_header(NULL, wsi, "host", v, sizeof v) > 0)
        lines[n++] = od_strdup_printf("host: %s", v);
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/mcp/ws", s->fwd_port);
    w->relay = od_ws_connect(s->loop, url, (const char *const *)lines, n, (size_t)s->max_body * 2 + 65536,
                             &RELAY_CBS, w, &err);
    if (!w->relay) {
        od_warn("odock serve: relaying /mcp/ws to worker 0 failed: %s", err ? err : "?");
        ws_close(w);
    }
    free(err);
    free(key);
    for (int i = 0; i < n; i++)
        free(lines[i]);
}

static int ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    gw_mws *w = user;
    gw_server *s = od_loop_user(od_loop_from_wsi(wsi));
    gw_mcp *g = s ? s->mcp : NULL;
    od_loop_active(wsi);
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        char path[256];
        if ((!g && !(s && s->fwd_port)) || s->draining ||
            lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI) <= 0)
            return 1;
        char *q = strchr(path, '?');
        if (q) *q = 0;
        size_t n = strlen(path);
        while (n > 1 && path[n - 1] == '/') path[--n] = 0;
        if (strcmp(path, "/mcp/ws") || !origin_ok(s, NULL, wsi))
            return 1;
        return 0;
    }
    case LWS_CALLBACK_ESTABLISHED: {
        memset(w, 0, sizeof *w);
        w->wsi = wsi;
        if (!g) {
            relay_open(s, w, wsi);
            return 0;
        }
        char *key = gw_req_key(NULL, wsi);
        od_req r;
        od_req_init(&r, OD_KIND_TOOL, "");
        int bad = !key || !*key || !g || g->nsessions >= MS_MAX_SESSIONS ||
                  (s->pol && pol_authenticate(s->pol, &r, key) != 0);
        if (bad) {
            /* the reason, as /mcp gives it, then close: policy violation */
            cJSON *o = mcp_rpc_error_reason(NULL, MCP_ERR_DENIED,
                                            r.message[0] ? r.message : "missing or invalid API key",
                                            r.reason ? r.reason : OD_R_INVALID_KEY);
            char *t = cJSON_PrintUnformatted(o);
            ws_enqueue(w, t, strlen(t));
            cJSON_free(t);
            cJSON_Delete(o);
            ws_close(w);
        } else {
            w->ms = sess_new(g, key, T_WS);
            w->ms->ws = w;
        }
        od_req_free(&r);
        free(key);
        return 0;
    }
    case LWS_CALLBACK_RECEIVE:
        if (!w->ms && !w->relay)
            return 0;
        if (!w->rx_too_large) {
            if ((int64_t)(w->rx.len + len) > s->max_body) {
                w->rx_too_large = 1;
                od_buf_free(&w->rx);
            } else {
                od_buf_put(&w->rx, in, len);
            }
        }
        if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
            return 0;
        if (w->relay) {
            if (w->rx_too_large) {
                cJSON *o = mcp_rpc_error_reason(NULL, MCP_ERR_TOO_LARGE, "Message exceeds max_body_bytes",
                                                "request_too_large");
                od_buf b = {0};
                od_json_write(&b, o);
                ws_enqueue(w, b.p, b.len);
                od_buf_free(&b);
                cJSON_Delete(o);
            } else if (od_ws_send(w->relay, w->rx.p ? w->rx.p : "", w->rx.len) < 0) {
                ws_close(w);
            }
            w->rx_too_large = 0;
            od_buf_reset(&w->rx);
            return 0;
        }
        w->ms->last_active_us = od_mono_us();
        if (w->rx_too_large) {
            mcp_session_too_large(w->ms->s);
        } else {
            char *msg = od_buf_take(&w->rx);
            mcp_session_handle(w->ms->s, msg, strlen(msg));
            free(msg);
        }
        w->rx_too_large = 0;
        od_buf_reset(&w->rx);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        ws_msg *m = w->qh;
        if (m) {
            w->qh = m->next;
            if (!w->qh) w->qt = NULL;
            int r = lws_write(wsi, (unsigned char *)m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
            free(m);
            if (r < 0)
                return -1;
            if (w->qh || w->closing)
                lws_callback_on_writable(wsi);
            return 0;
        }
        if (w->closing) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, NULL, 0);
            return -1;
        }
        return 0;
    }
    case LWS_CALLBACK_CLOSED:
        od_ws_free(w->relay);
        w->relay = NULL;
        if (w->ms) {
            gw_msess *ms = w->ms;
            ms->ws = NULL;
            w->ms = NULL;
            sess_end(ms);
        }
        ws_free_queue(w);
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols ws_proto = {
    .name = "mcp", .callback = ws_cb, .per_session_data_size = sizeof(gw_mws), .rx_buffer_size = 0,
};

const struct lws_protocols *gw_mcp_ws_protocol(void)
{
    return &ws_proto;
}

/* ---------------- life ---------------- */

static void tick(od_timer *t, void *ud)
{
    gw_mcp *g = ud;
    int64_t now = od_mono_us();
    (void)t;
    for (gw_msess *ms = g->sessions, *nx; ms; ms = nx) {
        nx = ms->next;
        for (gw_mstream *st = ms->streams; st; st = st->next)
            if (st->streaming && now - st->last_write_us >= MS_KEEPALIVE_US && !gw_conn_pending(st->conn))
                stream_write(st, ": keep-alive\n\n", 14);
        if (ms->transport == T_STREAMABLE && !ms->streams && mcp_session_pending(ms->s) <= 0 &&
            now - ms->last_active_us >= g->idle_us) {
            od_info("mcp: session %.8s... idle, ended", ms->id);
            sess_end(ms);
        }
    }
    od_timer_start(g->srv->loop, &g->tick, 1000000, tick, g);
}

static int listen_is_loopback(const char *listen)
{
    char host[256];
    od_strlcpy(host, listen, sizeof host);
    char *colon = strrchr(host, ':');
    if (colon) *colon = 0;
    return !strcmp(host, "127.0.0.1") || !strcmp(host, "localhost") || !strcmp(host, "[::1]") ||
           !strcmp(host, "::1") || !strncmp(host, "127.", 4);
}

void gw_mcp_front_init(gw_server *s)
{
    /* the config's "mcp" section; ODOCK_MCP_* override it */
    const char *e = getenv("ODOCK_MCP_ALLOWED_ORIGINS");
    s->mcp_origins = e ? e : s->cfg->mcp.allowed_origins;
    e = getenv("ODOCK_MCP_ALLOWED_HOSTS");
    s->mcp_hosts = e ? e : s->cfg->mcp.allowed_hosts;
    s->mcp_check_host = listen_is_loopback(s->listen);
}

void gw_mcp_start(gw_server *s)
{
    gw_mcp *g = od_calloc(1, sizeof *g);
    g->srv = s;
    mcp_mux_opts o = {.loop = s->loop, .cfg = s->cfg, .pol = s->pol, .shared = 1};
    g->mux = mcp_mux_new(&o);
    /* the config's "mcp" section; ODOCK_MCP_* override it */
    g->idle_us = (int64_t)s->cfg->mcp.session_idle_s * 1000000;
    const char *e = getenv("ODOCK_MCP_SESSION_IDLE_S");
    int64_t v;
    if (e && !od_parse_i64(e, &v) && v > 0 && v < 86400 * 30)
        g->idle_us = v * 1000000;
    s->mcp = g;
    od_timer_start(s->loop, &g->tick, 1000000, tick, g);
}

int gw_mcp_pending(gw_server *s)
{
    int n = 0;
    for (gw_msess *ms = s->mcp ? s->mcp->sessions : NULL; ms; ms = ms->next)
        n += mcp_session_pending(ms->s);
    return n;
}

void gw_mcp_drain(gw_server *s)
{
    for (gw_msess *ms = s->mcp ? s->mcp->sessions : NULL; ms; ms = ms->next)
        mcp_session_refuse_initialize(ms->s, "the gateway is shutting down"); /* send never ends a session */
}

void gw_mcp_stop(gw_server *s)
{
    gw_mcp *g = s->mcp;
    if (!g)
        return;
    od_timer_stop(&g->tick);
    while (g->sessions)
        sess_end(g->sessions);
    mcp_mux_free(g->mux);
    s->mcp = NULL;
    free(g);
}
