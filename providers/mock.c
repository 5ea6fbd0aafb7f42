/* providers/mock.c — the built-in mock provider: deterministic, in-process,
 * no network, so everything can be tried (and tested) with no account.
 * Usage is computed from byte lengths: prompt = ceil(message text bytes / 4),
 * completion = ceil(reply bytes / 4) — the same rule as the fake upstream. */
#include "prov_int.h"

#include <stdlib.h>
#include <string.h>

#define MOCK_PIECE 16        /* bytes of text per stream chunk */
#define MOCK_SLOW_MS 2000
#define MOCK_MAX_DIMS 4096

static int64_t tokens_of(size_t bytes)
{
    return (int64_t)((bytes + 3) / 4);
}

/* Total bytes of message text (system prompts and tool results included). */
static size_t prompt_bytes(const cJSON *messages)
{
    size_t n = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, messages) {
        od_buf t = {0};
        prov_content_text(od_jget(m, "content"), &t);
        n += t.len;
        od_buf_free(&t);
    }
    return n;
}

static char *last_user_text(const cJSON *messages)
{
    const cJSON *m, *last = NULL;
    cJSON_ArrayForEach(m, messages)
        if (od_str_eq(prov_jstr(m, "role"), "user")) last = m;
    od_buf t = {0};
    prov_content_text(od_jget(last, "content"), &t);
    return od_buf_take(&t);
}

/* Length of s cut to at most max bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max) return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    return n;
}

/* Arguments for a tool from its JSON schema: a value of the right type per property. */
static char *mock_args(const cJSON *params)
{
    cJSON *args = cJSON_CreateObject();
    const cJSON *p;
    cJSON_ArrayForEach(p, od_jget(params, "properties")) {
        const char *type = prov_jstr(p, "type");
        if (od_str_eq(type, "integer") || od_str_eq(type, "number"))
            cJSON_AddNumberToObject(args, p->string, 1);
        else if (od_str_eq(type, "boolean")) cJSON_AddTrueToObject(args, p->string);
        else if (od_str_eq(type, "array")) cJSON_AddArrayToObject(args, p->string);
        else if (od_str_eq(type, "object")) cJSON_AddObjectToObject(args, p->string);
        else cJSON_AddStringToObject(args, p->string, "mock");
    }
    char *s = cJSON_PrintUnformatted(args);
    cJSON_Delete(args);
    char *r = od_strdup(s);
    cJSON_free(s);
    return r;
}

static char *mock_id(const char *model, const char *text)
{
    od_buf b = {0};
    od_buf_printf(&b, "%s\n%s", model, text);
    uint8_t h[32];
    od_sha256(b.p, b.len, h);
    char hex[25];
    od_hex(h, 12, hex);
    od_buf_reset(&b);
    od_buf_printf(&b, "chatcmpl-mock-%s", hex);
    return od_buf_take(&b);
}

static void set_error(prov_mock_result *out, int status, const char *msg)
{
    out->status = status;
    out->error = od_strdup(msg);
}

/* The tool call of the "tools" model, or NULL when no tool was offered. */
static cJSON *mock_tool_call(const cJSON *req, int with_index, const char *args_override)
{
    const cJSON *tool = cJSON_GetArrayItem(od_jget(req, "tools"), 0);
    const cJSON *f = od_jget(tool, "function");
    const char *name = prov_jstr(f, "name");
    if (!name) return NULL;
    cJSON *tc = cJSON_CreateObject();
    if (with_index) cJSON_AddNumberToObject(tc, "index", 0);
    cJSON_AddStringToObject(tc, "id", "call_mock_0");
    cJSON_AddStringToObject(tc, "type", "function");
    cJSON *fn = cJSON_AddObjectToObject(tc, "function");
    cJSON_AddStringToObject(fn, "name", name);
    if (args_override) {
        cJSON_AddStringToObject(fn, "arguments", args_override);
    } else {
        char *a = mock_args(od_jget(f, "parameters"));
        cJSON_AddStringToObject(fn, "arguments", a);
        free(a);
    }
    return tc;
}

static void add_chunk(prov_mock_result *out, cJSON *c)
{
    out->chunks = od_realloc(out->chunks, (size_t)(out->nchunks + 1) * sizeof *out->chunks);
    out->chunks[out->nchunks++] = c;
}

static void build_stream(prov_mock_result *out, const char *id, int64_t created, const char *model,
                         const char *text, size_t tlen, const cJSON *req, int tools,
                         const char *finish)
{
    cJSON *delta, *c = prov_chunk_new(id, created, model, &delta);
    cJSON_AddStringToObject(delta, "role", "assistant");
    cJSON_AddStringToObject(delta, "content", "");
    add_chunk(out, c);
    if (tools) {
        c = prov_chunk_new(id, created, model, &delta);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(delta, "tool_calls"), mock_tool_call(req, 1, ""));
        add_chunk(out, c);
        /* then the arguments, the way OpenAI streams them */
        c = prov_chunk_new(id, created, model, &delta);
        cJSON *tc = cJSON_CreateObject();
        cJSON_AddNumberToObject(tc, "index", 0);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(tc, "function"), "arguments", text);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(delta, "tool_calls"), tc);
        add_chunk(out, c);
    } else {
        for (size_t off = 0; off < tlen;) {
            size_t n = utf8_cut(text + off, tlen - off, MOCK_PIECE);
            if (n == 0) n = tlen - off; /* never stall on a malformed sequence */
            char *piece = od_strndup(text + off, n);
            c = prov_chunk_new(id, created, model, &delta);
            cJSON_AddStringToObject(delta, "content", piece);
            free(piece);
            add_chunk(out, c);
            off += n;
        }
    }
    c = prov_chunk_new(id, created, model, &delta);
    cJSON *ch = cJSON_GetArrayItem(od_jget(c, "choices"), 0);
    cJSON_ReplaceItemInObjectCaseSensitive(ch, "finish_reason", cJSON_CreateString(finish));
    add_chunk(out, c);
    add_chunk(out, prov_usage_chunk(id, created, model, &out->usage));
}

static cJSON *build_response(const char *id, int64_t created, const char *model, const char *text,
                             const cJSON *req, int tools, const char *finish, const prov_usage *u)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "id", id);
    cJSON_AddStringToObject(r, "object", "chat.completion");
    cJSON_AddNumberToObject(r, "created", (double)created);
    cJSON_AddStringToObject(r, "model", model);
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", 0);
    cJSON *msg = cJSON_AddObjectToObject(ch, "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    if (tools) {
        cJSON_AddNullToObject(msg, "content");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(msg, "tool_calls"), mock_tool_call(req, 0, text));
    } else {
        cJSON_AddStringToObject(msg, "content", text);
    }
    cJSON_AddNullToObject(ch, "logprobs");
    cJSON_AddStringToObject(ch, "finish_reason", finish);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(r, "choices"), ch);
    cJSON_AddItemToObject(r, "usage", prov_usage_json(u));
    return r;
}

/* "name" or "name-<number>": 1 and *num set (-1 when no number) */
static int model_is(const char *model, const char *name, int64_t *num)
{
    size_t n = strlen(name);
    if (strncmp(model, name, n) != 0) return 0;
    *num = -1;
    if (model[n] == '\0') return 1;
    return model[n] == '-' && od_parse_i64(model + n + 1, num) == 0 && *num >= 0;
}

int prov_mock_chat(const char *model, const cJSON *req, int stream, prov_mock_result *out)
{
    memset(out, 0, sizeof *out);
    if (!model) model = "echo";
    const cJSON *messages = od_jget(req, "messages");
    if (!cJSON_IsArray(messages)) {
        set_error(out, 400, "messages must be an array");
        return -1;
    }
    int64_t num;
    if (model_is(model, "fail", &num)) {
        int status = num >= 400 && num <= 599 ? (int)num : 500;
        if (status == 429) out->retry_after_s = 1;
        set_error(out, status, status == 429 ? "mock: rate limited" : "mock: upstream failure");
        return 0;
    }
    if (model_is(model, "slow", &num)) out->delay_ms = num >= 0 ? (int)(num > 600000 ? 600000 : num)
                                                                : MOCK_SLOW_MS;
    const cJSON *f = od_jget(
        cJSON_GetArrayItem(od_jget(req, "tools"), 0), "function");
    int tools = od_str_eq(model, "tools") && prov_jstr(f, "name");
    out->status = 200;

    char *text = NULL; /* the reply, or the tool call's arguments */
    size_t tlen;       /* bytes the completion is counted from */
    if (tools) {
        text = mock_args(od_jget(f, "parameters"));
        tlen = strlen(text) + strlen(prov_jstr(f, "name"));
    } else {
        text = last_user_text(messages);
        tlen = strlen(text);
    }
    const char *finish = tools ? "tool_calls" : "stop";
    int64_t max = prov_jint(req, "max_tokens");
    if (!max) max = prov_jint(req, "max_completion_tokens");
    if (!tools && max > 0 && tokens_of(tlen) > max) {
        /* like a real model: stop at max_tokens */
        tlen = utf8_cut(text, tlen, (size_t)max * 4);
        text[tlen] = '\0';
        finish = "length";
    }
    out->usage.prompt_tokens = tokens_of(prompt_bytes(messages));
    out->usage.completion_tokens = tokens_of(tlen);
    out->usage.seen = 1;

    char *id = mock_id(model, text);
    int64_t created = prov_now_s();
    if (stream)
        build_stream(out, id, created, model, text, strlen(text), req, tools, finish);
    else
        out->response = build_response(id, created, model, text, req, tools, finish, &out->usage);
    free(id);
    free(text);
    return 0;
}

void prov_mock_result_free(prov_mock_result *r)
{
    if (!r) return;
    cJSON_Delete(r->response);
    for (int i = 0; i < r->nchunks; i++) cJSON_Delete(r->chunks[i]);
    free(r->chunks);
    free(r->error);
    memset(r, 0, sizeof *r);
}

int prov_mock_embed(const char *model, const cJSON *req, cJSON **resp, prov_usage *u)
{
    *resp = NULL;
    const cJSON *input = od_jget(req, "input");
    if (!cJSON_IsString(input) && !(cJSON_IsArray(input) && cJSON_GetArraySize(input) > 0))
        return -1;
    int64_t dims = prov_jint(req, "dimensions");
    if (dims <= 0) dims = 8;
    if (dims > MOCK_MAX_DIMS) dims = MOCK_MAX_DIMS;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(r, "data");
    size_t bytes = 0;
    int n = cJSON_IsString(input) ? 1 : cJSON_GetArraySize(input);
    for (int i = 0; i < n; i++) {
        const cJSON *t = cJSON_IsString(input) ? input : cJSON_GetArrayItem(input, i);
        if (!cJSON_IsString(t)) {
            cJSON_Delete(r);
            return -1;
        }
        bytes += strlen(t->valuestring);
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "object", "embedding");
        cJSON_AddNumberToObject(d, "index", i);
        cJSON *vec = cJSON_AddArrayToObject(d, "embedding");
        uint8_t h[32];
        for (int64_t k = 0; k < dims; k++) {
            if (k % 32 == 0) { /* the next 32 bytes: sha256(text, block number) */
                od_buf b = {0};
                od_buf_printf(&b, "%s\n%lld", t->valuestring, (long long)(k / 32));
                od_sha256(b.p, b.len, h);
                od_buf_free(&b);
            }
            /* -1..1 in steps of 1/128: exact in binary, so printing is stable */
            cJSON_AddItemToArray(vec, cJSON_CreateNumber(((int)h[k % 32] - 128) / 128.0));
        }
        cJSON_AddItemToArray(data, d);
    }
    cJSON_AddStringToObject(r, "model", model ? model : "mock");
    memset(u, 0, sizeof *u);
    u->prompt_tokens = tokens_of(bytes);
    u->seen = 1;
    cJSON *us = cJSON_AddObjectToObject(r, "usage");
    cJSON_AddNumberToObject(us, "prompt_tokens", (double)u->prompt_tokens);
    cJSON_AddNumberToObject(us, "total_tokens", (double)u->prompt_tokens);
    *resp = r;
    return 0;
}
