/* providers/anthropic_front.c — odock's own /v1/messages: clients using the
 * Anthropic SDK are served by any provider. Anthropic requests become
 * normalized OpenAI requests; OpenAI answers and chunks become Anthropic
 * messages and the SSE event sequence the Anthropic SDK expects. */
#include "prov_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- request: Anthropic -> OpenAI ---- */

static void blocks_text(const cJSON *content, const char *sep, od_buf *out)
{
    if (cJSON_IsString(content)) {
        od_buf_puts(out, content->valuestring);
        return;
    }
    const cJSON *b;
    cJSON_ArrayForEach(b, content) {
        const char *t = od_str_eq(prov_jstr(b, "type"), "text") ? prov_jstr(b, "text") : NULL;
        if (!t) continue;
        if (out->len && sep) od_buf_puts(out, sep);
        od_buf_puts(out, t);
    }
}

static cJSON *image_part(const cJSON *block, char **err)
{
    const cJSON *src = od_jget(block, "source");
    const char *type = prov_jstr(src, "type");
    od_buf url = {0};
    if (od_str_eq(type, "base64") && prov_jstr(src, "data")) {
        const char *mt = prov_jstr(src, "media_type");
        od_buf_printf(&url, "data:%s;base64,%s", mt ? mt : "image/png", prov_jstr(src, "data"));
    } else if (od_str_eq(type, "url") && prov_jstr(src, "url")) {
        od_buf_puts(&url, prov_jstr(src, "url"));
    } else {
        prov_set_err(err, "image source type '%s' is not supported", type ? type : "?");
        return NULL;
    }
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "type", "image_url");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(p, "image_url"), "url", url.p);
    od_buf_free(&url);
    return p;
}

/* A user turn: tool_result blocks become role "tool" messages (first: they
 * must follow the assistant's tool calls), the rest one user message. */
static int user_turn(const cJSON *content, cJSON *msgs, char **err)
{
    if (cJSON_IsString(content)) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "user");
        cJSON_AddStringToObject(m, "content", content->valuestring);
        cJSON_AddItemToArray(msgs, m);
        return 0;
    }
    if (!cJSON_IsArray(content)) {
        prov_set_err(err, "messages: content must be a string or an array of blocks");
        return -1;
    }
    cJSON *parts = cJSON_CreateArray();
    const cJSON *b;
    cJSON_ArrayForEach(b, content) {
        const char *type = prov_jstr(b, "type");
        if (od_str_eq(type, "tool_result")) {
            od_buf t = {0};
            blocks_text(od_jget(b, "content"), "\n", &t);
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "role", "tool");
            const char *id = prov_jstr(b, "tool_use_id");
            cJSON_AddStringToObject(m, "tool_call_id", id ? id : "");
            cJSON_AddStringToObject(m, "content", t.p ? t.p : "");
            od_buf_free(&t);
            cJSON_AddItemToArray(msgs, m);
        } else if (od_str_eq(type, "text")) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "type", "text");
            cJSON_AddStringToObject(p, "text", prov_jstr(b, "text") ? prov_jstr(b, "text") : "");
            cJSON_AddItemToArray(parts, p);
        } else if (od_str_eq(type, "image")) {
            cJSON *p = image_part(b, err);
            if (!p) goto fail;
            cJSON_AddItemToArray(parts, p);
        } else {
            prov_set_err(err, "content block type '%s' is not supported", type ? type : "?");
            goto fail;
        }
    }
    int n = cJSON_GetArraySize(parts);
    if (n == 0) {
        cJSON_Delete(parts);
        return 0;
    }
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    const cJSON *first = cJSON_GetArrayItem(parts, 0);
    if (n == 1 && od_str_eq(prov_jstr(first, "type"), "text")) {
        cJSON_AddStringToObject(m, "content", prov_jstr(first, "text"));
        cJSON_Delete(parts);
    } else {
        cJSON_AddItemToObject(m, "content", parts);
    }
    cJSON_AddItemToArray(msgs, m);
    return 0;
fail:
    cJSON_Delete(parts);
    return -1;
}

static int assistant_turn(const cJSON *content, cJSON *msgs, char **err)
{
    od_buf text = {0};
    cJSON *calls = cJSON_CreateArray();
    if (cJSON_IsString(content)) {
        od_buf_puts(&text, content->valuestring);
    } else if (cJSON_IsArray(content)) {
        const cJSON *b;
        cJSON_ArrayForEach(b, content) {
            const char *type = prov_jstr(b, "type");
            if (od_str_eq(type, "text")) {
                od_buf_puts(&text, prov_jstr(b, "text") ? prov_jstr(b, "text") : "");
            } else if (od_str_eq(type, "tool_use")) {
                cJSON *tc = cJSON_CreateObject();
                const char *id = prov_jstr(b, "id"), *name = prov_jstr(b, "name");
                cJSON_AddStringToObject(tc, "id", id ? id : "");
                cJSON_AddStringToObject(tc, "type", "function");
                cJSON *f = cJSON_AddObjectToObject(tc, "function");
                cJSON_AddStringToObject(f, "name", name ? name : "");
                const cJSON *input = od_jget(b, "input");
                char *args = input ? od_json_print(input) : NULL;
                cJSON_AddStringToObject(f, "arguments", args ? args : "{}");
                free(args);
                cJSON_AddItemToArray(calls, tc);
            }
            /* thinking blocks are the model's own; OpenAI has no place for them */
        }
    } else {
        od_buf_free(&text);
        cJSON_Delete(calls);
        prov_set_err(err, "messages: content must be a string or an array of blocks");
        return -1;
    }
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "assistant");
    if (text.len || cJSON_GetArraySize(calls) == 0)
        cJSON_AddStringToObject(m, "content", text.p ? text.p : "");
    else
        cJSON_AddNullToObject(m, "content");
    if (cJSON_GetArraySize(calls) > 0) cJSON_AddItemToObject(m, "tool_calls", calls);
    else cJSON_Delete(calls);
    cJSON_AddItemToArray(msgs, m);
    od_buf_free(&text);
    return 0;
}

static int front_tools(const cJSON *areq, cJSON *out, char **err)
{
    const cJSON *tools = od_jget(areq, "tools");
    if (cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0) {
        cJSON *arr = cJSON_AddArrayToObject(out, "tools");
        const cJSON *t;
        cJSON_ArrayForEach(t, tools) {
            const char *type = prov_jstr(t, "type");
            const char *name = prov_jstr(t, "name");
            if ((type && strcmp(type, "custom") != 0) || !name) {
                prov_set_err(err, "tools: only custom tools with a name are supported (got %s)",
                             type ? type : "a tool without name");
                return -1;
            }
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "type", "function");
            cJSON *f = cJSON_AddObjectToObject(o, "function");
            cJSON_AddStringToObject(f, "name", name);
            prov_copy_member(f, t, "description", NULL);
            prov_copy_member(f, t, "input_schema", "parameters");
            cJSON_AddItemToArray(arr, o);
        }
    }
    const cJSON *tc = od_jget(areq, "tool_choice");
    const char *type = prov_jstr(tc, "type");
    if (od_str_eq(type, "auto")) cJSON_AddStringToObject(out, "tool_choice", "auto");
    else if (od_str_eq(type, "any")) cJSON_AddStringToObject(out, "tool_choice", "required");
    else if (od_str_eq(type, "none")) cJSON_AddStringToObject(out, "tool_choice", "none");
    else if (od_str_eq(type, "tool") && prov_jstr(tc, "name")) {
        cJSON *c = cJSON_AddObjectToObject(out, "tool_choice");
        cJSON_AddStringToObject(c, "type", "function");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(c, "function"), "name", prov_jstr(tc, "name"));
    }
    if (cJSON_IsTrue(od_jget(tc, "disable_parallel_tool_use")))
        cJSON_AddFalseToObject(out, "parallel_tool_calls");
    return 0;
}

cJSON *prov_anthropic_to_openai_request(const cJSON *areq, char **err)
{
    const cJSON *messages = od_jget(areq, "messages");
    if (!cJSON_IsObject(areq) || !cJSON_IsArray(messages)) {
        prov_set_err(err, "messages: expected an array");
        return NULL;
    }
    cJSON *out = cJSON_CreateObject();
    prov_copy_member(out, areq, "model", NULL);
    cJSON *msgs = cJSON_AddArrayToObject(out, "messages");
    const cJSON *sys = od_jget(areq, "system");
    if (sys) {
        od_buf t = {0};
        blocks_text(sys, "\n", &t);
        if (t.len) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "role", "system");
            cJSON_AddStringToObject(m, "content", t.p);
            cJSON_AddItemToArray(msgs, m);
        }
        od_buf_free(&t);
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, messages) {
        const char *role = prov_jstr(m, "role");
        const cJSON *content = od_jget(m, "content");
        int rc;
        if (od_str_eq(role, "user")) rc = user_turn(content, msgs, err);
        else if (od_str_eq(role, "assistant")) rc = assistant_turn(content, msgs, err);
        else {
            prov_set_err(err, "messages: role must be user or assistant");
            rc = -1;
        }
        if (rc != 0) goto fail;
    }
    if (front_tools(areq, out, err) != 0) goto fail;
    prov_copy_member(out, areq, "max_tokens", NULL);
    prov_copy_member(out, areq, "stop_sequences", "stop");
    prov_copy_member(out, areq, "temperature", NULL);
    prov_copy_member(out, areq, "top_p", NULL);
    if (cJSON_IsTrue(od_jget(areq, "stream")))
        cJSON_AddTrueToObject(out, "stream");
    const char *user = prov_jstr(od_jget(areq, "metadata"), "user_id");
    if (user) cJSON_AddStringToObject(out, "user", user);
    return out;
fail:
    cJSON_Delete(out);
    return NULL;
}

/* ---- response: OpenAI -> Anthropic ---- */

static const char *stop_reason(const char *finish)
{
    if (!finish) return "end_turn";
    if (!strcmp(finish, "length")) return "max_tokens";
    if (!strcmp(finish, "tool_calls") || !strcmp(finish, "function_call")) return "tool_use";
    if (!strcmp(finish, "content_filter")) return "refusal";
    return "end_turn";
}

static char *message_id(const char *id)
{
    od_buf b = {0};
    if (id && strncmp(id, "msg_", 4) == 0) od_buf_puts(&b, id);
    else if (id && *id) od_buf_printf(&b, "msg_%s", strncmp(id, "chatcmpl-", 9) ? id : id + 9);
    else {
        char r[25];
        od_request_id(r);
        od_buf_printf(&b, "msg_%s", r);
    }
    return od_buf_take(&b);
}

/* Anthropic counts input_tokens without the cached ones. */
static cJSON *anth_usage(int64_t prompt, int64_t cached, int64_t completion)
{
    if (cached > prompt) cached = prompt;
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "input_tokens", (double)(prompt - cached));
    cJSON_AddNumberToObject(u, "cache_creation_input_tokens", 0);
    cJSON_AddNumberToObject(u, "cache_read_input_tokens", (double)cached);
    cJSON_AddNumberToObject(u, "output_tokens", (double)completion);
    return u;
}

cJSON *prov_openai_to_anthropic_response(const cJSON *oresp)
{
    if (!cJSON_IsObject(oresp)) return NULL;
    const cJSON *ch = cJSON_GetArrayItem(od_jget(oresp, "choices"), 0);
    const cJSON *msg = od_jget(ch, "message");
    cJSON *r = cJSON_CreateObject();
    char *id = message_id(prov_jstr(oresp, "id"));
    cJSON_AddStringToObject(r, "id", id);
    free(id);
    cJSON_AddStringToObject(r, "type", "message");
    cJSON_AddStringToObject(r, "role", "assistant");
    const char *model = prov_jstr(oresp, "model");
    cJSON_AddStringToObject(r, "model", model ? model : "");
    cJSON *content = cJSON_AddArrayToObject(r, "content");
    od_buf text = {0};
    prov_content_text(od_jget(msg, "content"), &text);
    if (!text.len) prov_content_text(od_jget(msg, "refusal"), &text);
    if (text.len) {
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "type", "text");
        cJSON_AddStringToObject(b, "text", text.p);
        cJSON_AddItemToArray(content, b);
    }
    od_buf_free(&text);
    const cJSON *tc;
    cJSON_ArrayForEach(tc, od_jget(msg, "tool_calls")) {
        const cJSON *f = od_jget(tc, "function");
        const char *tid = prov_jstr(tc, "id"), *name = prov_jstr(f, "name");
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "type", "tool_use");
        cJSON_AddStringToObject(b, "id", tid ? tid : "");
        cJSON_AddStringToObject(b, "name", name ? name : "");
        cJSON_AddItemToObject(b, "input", prov_args_object(prov_jstr(f, "arguments")));
        cJSON_AddItemToArray(content, b);
    }
    cJSON_AddStringToObject(r, "stop_reason", stop_reason(prov_jstr(ch, "finish_reason")));
    cJSON_AddNullToObject(r, "stop_sequence");
    prov_usage u = {0};
    prov_usage_from_openai(od_jget(oresp, "usage"), &u);
    cJSON_AddItemToObject(r, "usage", anth_usage(u.prompt_tokens, u.cached_tokens,
                                                 u.completion_tokens));
    return r;
}

/* ---- stream: OpenAI chunks -> Anthropic events ---- */

struct prov_astream {
    char *model;
    char *id;
    int started, finished;
    int open;          /* a content block is open */
    int open_tool;     /* ... and it is a tool_use block for OpenAI tool index cur_tool */
    int cur_tool;
    char *cur_id;      /* id of the open tool_use block */
    int next_block;    /* index of the next content block */
    const char *stop;  /* static string */
    prov_usage usage;  /* from a usage chunk, when one came */
};

static void event(od_buf *out, const char *name, cJSON *data)
{
    char *s = cJSON_PrintUnformatted(data);
    od_buf_printf(out, "event: %s\ndata: %s\n\n", name, s ? s : "{}");
    cJSON_free(s);
    cJSON_Delete(data);
}

static cJSON *typed(const char *type)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    return o;
}

prov_astream *prov_astream_new(const char *model)
{
    prov_astream *s = od_calloc(1, sizeof *s);
    s->model = od_strdup(model ? model : "");
    s->stop = "end_turn";
    return s;
}

void prov_astream_free(prov_astream *s)
{
    if (!s) return;
    free(s->model);
    free(s->id);
    free(s->cur_id);
    free(s);
}

static void start(prov_astream *s, const char *chunk_id, od_buf *out)
{
    if (s->started) return;
    s->started = 1;
    s->id = message_id(chunk_id);
    cJSON *e = typed("message_start");
    cJSON *m = cJSON_AddObjectToObject(e, "message");
    cJSON_AddStringToObject(m, "id", s->id);
    cJSON_AddStringToObject(m, "type", "message");
    cJSON_AddStringToObject(m, "role", "assistant");
    cJSON_AddStringToObject(m, "model", s->model);
    cJSON_AddArrayToObject(m, "content");
    cJSON_AddNullToObject(m, "stop_reason");
    cJSON_AddNullToObject(m, "stop_sequence");
    /* input tokens are known only at the end; message_delta carries them */
    cJSON_AddItemToObject(m, "usage", anth_usage(0, 0, 0));
    event(out, "message_start", e);
}

static void close_block(prov_astream *s, od_buf *out)
{
    if (!s->open) return;
    cJSON *e = typed("content_block_stop");
    cJSON_AddNumberToObject(e, "index", s->next_block - 1);
    event(out, "content_block_stop", e);
    s->open = 0;
    s->open_tool = 0;
}

static void open_block(prov_astream *s, cJSON *block, od_buf *out)
{
    close_block(s, out);
    cJSON *e = typed("content_block_start");
    cJSON_AddNumberToObject(e, "index", s->next_block++);
    cJSON_AddItemToObject(e, "content_block", block);
    event(out, "content_block_start", e);
    s->open = 1;
}

static void block_delta(prov_astream *s, cJSON *delta, od_buf *out)
{
    cJSON *e = typed("content_block_delta");
    cJSON_AddNumberToObject(e, "index", s->next_block - 1);
    cJSON_AddItemToObject(e, "delta", delta);
    event(out, "content_block_delta", e);
}

static void text_delta(prov_astream *s, const char *text, od_buf *out)
{
    if (!s->open || s->open_tool) {
        cJSON *b = typed("text");
        cJSON_AddStringToObject(b, "text", "");
        open_block(s, b, out);
    }
    cJSON *d = typed("text_delta");
    cJSON_AddStringToObject(d, "text", text);
    block_delta(s, d, out);
}

static void tool_delta(prov_astream *s, const cJSON *tc, od_buf *out)
{
    int idx = (int)prov_jint(tc, "index");
    const cJSON *f = od_jget(tc, "function");
    const char *id = prov_jstr(tc, "id"), *name = prov_jstr(f, "name");
    /* a new call: OpenAI streams calls one after the other, the first delta
     * of each with its id and name (some servers repeat them later) */
    if (!s->open_tool || idx != s->cur_tool || (id && !od_str_eq(id, s->cur_id))) {
        free(s->cur_id);
        s->cur_id = id ? od_strdup(id) : prov_make_id("toolu_");
        cJSON *b = typed("tool_use");
        cJSON_AddStringToObject(b, "id", s->cur_id);
        cJSON_AddStringToObject(b, "name", name ? name : "");
        cJSON_AddObjectToObject(b, "input");
        open_block(s, b, out);
        s->open_tool = 1;
        s->cur_tool = idx;
    }
    const char *args = prov_jstr(f, "arguments");
    if (args && *args) {
        cJSON *d = typed("input_json_delta");
        cJSON_AddStringToObject(d, "partial_json", args);
        block_delta(s, d, out);
    }
}

void prov_astream_chunk(prov_astream *s, const cJSON *chunk, od_buf *out)
{
    if (s->finished || !cJSON_IsObject(chunk)) return;
    start(s, prov_jstr(chunk, "id"), out);
    prov_usage_from_openai(od_jget(chunk, "usage"), &s->usage);
    const cJSON *ch = cJSON_GetArrayItem(od_jget(chunk, "choices"), 0);
    const cJSON *delta = od_jget(ch, "delta");
    const char *text = prov_jstr(delta, "content");
    if (!text || !*text) text = prov_jstr(delta, "refusal");
    if (text && *text) text_delta(s, text, out);
    const cJSON *tc;
    cJSON_ArrayForEach(tc, od_jget(delta, "tool_calls"))
        tool_delta(s, tc, out);
    const char *fr = prov_jstr(ch, "finish_reason");
    if (fr) s->stop = stop_reason(fr);
}

void prov_astream_finish(prov_astream *s, const prov_usage *u, od_buf *out)
{
    if (s->finished) return;
    start(s, NULL, out);
    close_block(s, out);
    const prov_usage *use = u && u->seen ? u : &s->usage;
    cJSON *e = typed("message_delta");
    cJSON *d = cJSON_AddObjectToObject(e, "delta");
    cJSON_AddStringToObject(d, "stop_reason", s->stop);
    cJSON_AddNullToObject(d, "stop_sequence");
    cJSON_AddItemToObject(e, "usage", anth_usage(use->prompt_tokens, use->cached_tokens,
                                                 use->completion_tokens));
    event(out, "message_delta", e);
    event(out, "message_stop", typed("message_stop"));
    s->finished = 1;
}
