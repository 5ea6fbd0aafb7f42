/* mcp/jsonrpc.c — JSON-RPC 2.0 parsing, validation and framing. */
#include "jsonrpc.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "../core/json.h"
#include "../core/od.h"

cJSON *mcp_rpc_parse(const char *text, size_t len, size_t max_len,
                     int *err_code, const char **err_msg)
{
    if (!max_len) max_len = MCP_MAX_MESSAGE_DEFAULT;
    if (len > max_len) {
        *err_code = MCP_ERR_TOO_LARGE;
        *err_msg = "Message too large";
        return NULL;
    }
    size_t off = 0;
    /* the parser bounds nesting, so deep input cannot blow the stack */
    cJSON *j = od_json_parse(text, len, &off);
    if (j) {
        /* trailing garbage other than whitespace is a parse error */
        while (off < len && (text[off] == ' ' || text[off] == '\t' ||
                             text[off] == '\r' || text[off] == '\n' || text[off] == '\0'))
            off++;
        if (off < len) { cJSON_Delete(j); j = NULL; }
    }
    if (!j) {
        static _Thread_local char why[128];
        const char *dup = od_json_dup_key();
        *err_code = MCP_ERR_PARSE;
        *err_msg = "Parse error";
        if (dup) {
            snprintf(why, sizeof why, "Parse error: \"%.60s\" given twice in one object", dup);
            *err_msg = why;
        }
        return NULL;
    }
    *err_code = 0;
    *err_msg = NULL;
    return j;
}

int mcp_rpc_id_valid(const cJSON *id)
{
    if (!id) return 0;
    if (cJSON_IsString(id)) return 1;
    if (cJSON_IsNumber(id)) {
        double d = id->valuedouble;
        return isfinite(d) && d == floor(d) && fabs(d) < 9007199254740992.0;
    }
    return 0;
}

void mcp_rpc_id_text(const cJSON *id, char *out, size_t n)
{
    if (!n) return;
    od_buf b = {0};
    od_json_write(&b, id);
    size_t l = b.len < n ? b.len : n - 1;
    memcpy(out, b.p, l);
    out[l] = 0;
    od_buf_free(&b);
}

static void invalid(mcp_msg *m, int code, const char *msg)
{
    m->kind = MCP_MSG_INVALID;
    m->err_code = code;
    m->err_msg = msg;
}

mcp_msg_kind mcp_rpc_classify(cJSON *item, mcp_msg *m)
{
    memset(m, 0, sizeof *m);
    m->obj = item;
    if (!cJSON_IsObject(item)) {
        invalid(m, MCP_ERR_INVALID_REQUEST, "Invalid Request: not an object");
        return m->kind;
    }
    cJSON *id = od_jget(item, "id");
    if (mcp_rpc_id_valid(id)) m->id = id;
    cJSON *ver = od_jget(item, "jsonrpc");
    if (!cJSON_IsString(ver) || strcmp(ver->valuestring, "2.0") != 0) {
        invalid(m, MCP_ERR_INVALID_REQUEST, "Invalid Request: jsonrpc must be \"2.0\"");
        return m->kind;
    }
    cJSON *method = od_jget(item, "method");
    cJSON *result = od_jget(item, "result");
    cJSON *error = od_jget(item, "error");
    if (method) {
        if (!cJSON_IsString(method) || !method->valuestring[0]) {
            invalid(m, MCP_ERR_INVALID_REQUEST, "Invalid Request: method must be a non-empty string");
            return m->kind;
        }
        if (result || error) {
            invalid(m, MCP_ERR_INVALID_REQUEST, "Invalid Request: both method and result/error");
            return m->kind;
        }
        cJSON *params = od_jget(item, "params");
        if (params && !cJSON_IsObject(params) && !cJSON_IsNull(params)) {
            /* MCP params are always objects (by-name) */
            invalid(m, id && m->id ? MCP_ERR_INVALID_PARAMS : MCP_ERR_INVALID_REQUEST,
                    "Invalid params: params must be an object");
            return m->kind;
        }
        m->method = method->valuestring;
        m->params = cJSON_IsObject(params) ? params : NULL;
        if (!id) { m->kind = MCP_MSG_NOTIFICATION; return m->kind; }
        if (!m->id) {
            invalid(m, MCP_ERR_INVALID_REQUEST, "Invalid Request: id must be a string or an integer");
            return m->kind;
        }
        m->kind = MCP_MSG_REQUEST;
        return m->kind;
    }
    if ((result != NULL) == (error != NULL)) {
        invalid(m, MCP_ERR_INVALID_REQUEST,
                "Invalid Request: no method, and not exactly one of result/error");
        return m->kind;
    }
    if (error) {
        cJSON *code = od_jget(error, "code");
        if (!cJSON_IsObject(error) || !cJSON_IsNumber(code)) {
            invalid(m, MCP_ERR_INVALID_REQUEST, "Invalid Request: malformed error object");
            return m->kind;
        }
    }
    /* a response to a request whose id we could not read still comes back
     * with id null: accept it so the caller can log and drop it */
    if (!m->id && !(id && cJSON_IsNull(id) && error)) {
        invalid(m, MCP_ERR_INVALID_REQUEST, "Invalid Request: response without a valid id");
        return m->kind;
    }
    m->result = result;
    m->error = error;
    m->kind = MCP_MSG_RESPONSE;
    return m->kind;
}

static cJSON *envelope(const cJSON *id)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "jsonrpc", "2.0");
    if (id) cJSON_AddItemToObject(o, "id", cJSON_Duplicate(id, 1));
    return o;
}

cJSON *mcp_rpc_result_take(const cJSON *id, cJSON *result)
{
    cJSON *o = envelope(id);
    if (!id) cJSON_AddNullToObject(o, "id");
    cJSON_AddItemToObject(o, "result", result ? result : cJSON_CreateObject());
    return o;
}

cJSON *mcp_rpc_error_obj(const cJSON *id, int code, const char *message, cJSON *data_take)
{
    cJSON *o = envelope(id);
    if (!id) cJSON_AddNullToObject(o, "id");
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddNumberToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", message ? message : "Error");
    if (data_take) cJSON_AddItemToObject(e, "data", data_take);
    return o;
}

cJSON *mcp_rpc_error_reason(const cJSON *id, int code, const char *message, const char *reason)
{
    cJSON *data = NULL;
    if (reason) {
        data = cJSON_CreateObject();
        cJSON_AddStringToObject(data, "reason", reason);
    }
    return mcp_rpc_error_obj(id, code, message, data);
}

cJSON *mcp_rpc_request(const cJSON *id, const char *method, cJSON *params_take)
{
    cJSON *o = envelope(id);
    cJSON_AddStringToObject(o, "method", method);
    if (params_take) cJSON_AddItemToObject(o, "params", params_take);
    return o;
}

cJSON *mcp_rpc_notification(const char *method, cJSON *params_take)
{
    return mcp_rpc_request(NULL, method, params_take);
}

/* ---- newline framing ---- */

void mcp_lines_init(mcp_lines *l, size_t max_line)
{
    memset(l, 0, sizeof *l);
    l->max_line = max_line ? max_line : MCP_MAX_MESSAGE_DEFAULT;
}

void mcp_lines_free(mcp_lines *l)
{
    free(l->buf);
    memset(l, 0, sizeof *l);
}

static void emit(mcp_lines *l, const char *p, size_t n, mcp_line_fn fn, void *ud)
{
    if (n && p[n - 1] == '\r') n--;
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t')) i++;
    if (i == n) return; /* blank */
    fn(ud, p, n, 0);
}

void mcp_lines_feed(mcp_lines *l, const char *data, size_t n, mcp_line_fn fn, void *ud)
{
    while (n) {
        const char *nl = memchr(data, '\n', n);
        size_t chunk = nl ? (size_t)(nl - data) : n;
        if (l->discarding) {
            if (nl) l->discarding = 0;
        } else if (l->len + chunk > l->max_line) {
            /* oversized: drop what we held and the rest of this line */
            l->len = 0;
            fn(ud, NULL, 0, 1);
            if (!nl) l->discarding = 1;
        } else if (nl && l->len == 0) {
            emit(l, data, chunk, fn, ud); /* whole line in the input: no copy */
        } else {
            if (l->len + chunk + 1 > l->cap) {
                size_t cap = l->cap ? l->cap : 4096;
                while (cap < l->len + chunk + 1) cap *= 2;
                l->buf = od_realloc(l->buf, cap);
                l->cap = cap;
            }
            memcpy(l->buf + l->len, data, chunk);
            l->len += chunk;
            l->buf[l->len] = 0;
            if (nl) {
                size_t len = l->len;
                l->len = 0;
                emit(l, l->buf, len, fn, ud);
            }
        }
        if (!nl) break;
        n -= chunk + 1;
        data = nl + 1;
    }
}
