/* providers/anthropic.c — the Anthropic Messages API as an upstream: the
 * normalized OpenAI request is translated to /v1/messages, the answer and the
 * stream events back to OpenAI shapes. */
#include "prov_int.h"

#include <stdlib.h>
#include <string.h>

#define ANTHROPIC_BASE "https://api.anthropic.com"

/* ---- request: OpenAI -> Anthropic ---- */

/* "data:image/png;base64,AAAA" -> {"type":"base64","media_type","data"};
 * anything else is a URL source. */
static cJSON *image_source(const char *url, char **err)
{
    cJSON *src = cJSON_CreateObject();
    if (strncmp(url, "data:", 5) == 0) {
        const char *semi = strchr(url, ';');
        const char *comma = strchr(url, ',');
        if (!semi || !comma || semi > comma || strncmp(semi, ";base64,", 8) != 0) {
            cJSON_Delete(src);
            prov_set_err(err, "image data URLs must be base64 encoded");
            return NULL;
        }
        char *mime = od_strndup(url + 5, (size_t)(semi - url - 5));
        cJSON_AddStringToObject(src, "type", "base64");
        cJSON_AddStringToObject(src, "media_type", mime);
        cJSON_AddStringToObject(src, "data", comma + 1);
        free(mime);
    } else {
        cJSON_AddStringToObject(src, "type", "url");
        cJSON_AddStringToObject(src, "url", url);
    }
    return src;
}

static cJSON *text_block(const char *text)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "text");
    cJSON_AddStringToObject(b, "text", text);
    return b;
}

/* OpenAI content (string or parts) -> blocks appended to arr. Empty text is
 * skipped: Anthropic rejects empty text blocks. */
static cJSON *image_block(const char *url, char **err)
{
    cJSON *src = image_source(url, err);
    if (!src) return NULL;
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "image");
    cJSON_AddItemToObject(b, "source", src);
    return b;
}

static const prov_content_ops CONTENT_OPS = {"anthropic", text_block, image_block};

static int content_blocks(const cJSON *content, cJSON *arr, char **err)
{
    return prov_content_items(content, arr, &CONTENT_OPS, err);
}

/* One OpenAI message -> appended to msgs (system text goes to sys). */
static int convert_one(const cJSON *m, cJSON *msgs, od_buf *sys, char **err)
{
    const char *role = prov_jstr(m, "role");
    const cJSON *content = od_jget(m, "content");
    if (od_str_eq(role, "system") || od_str_eq(role, "developer")) {
        od_buf t = {0};
        prov_content_text(content, &t);
        if (t.len) {
            if (sys->len) od_buf_puts(sys, "\n\n");
            od_buf_put(sys, t.p, t.len);
        }
        od_buf_free(&t);
        return 0;
    }
    cJSON *blocks = cJSON_CreateArray();
    if (od_str_eq(role, "user")) {
        if (content_blocks(content, blocks, err) != 0) goto fail;
        prov_push_turn(msgs, "user", "content", blocks);
    } else if (od_str_eq(role, "assistant")) {
        if (content_blocks(content, blocks, err) != 0) goto fail;
        const cJSON *tc;
        cJSON_ArrayForEach(tc, od_jget(m, "tool_calls")) {
            const cJSON *fnc = od_jget(tc, "function");
            const char *id = prov_jstr(tc, "id"), *name = prov_jstr(fnc, "name");
            cJSON *b = cJSON_CreateObject();
            cJSON_AddStringToObject(b, "type", "tool_use");
            cJSON_AddStringToObject(b, "id", id ? id : "");
            cJSON_AddStringToObject(b, "name", name ? name : "");
            cJSON_AddItemToObject(b, "input", prov_args_object(prov_jstr(fnc, "arguments")));
            cJSON_AddItemToArray(blocks, b);
        }
        prov_push_turn(msgs, "assistant", "content", blocks);
    } else if (od_str_eq(role, "tool")) {
        od_buf t = {0};
        prov_content_text(content, &t);
        const char *id = prov_jstr(m, "tool_call_id");
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "type", "tool_result");
        cJSON_AddStringToObject(b, "tool_use_id", id ? id : "");
        cJSON_AddStringToObject(b, "content", t.p ? t.p : "");
        od_buf_free(&t);
        cJSON_AddItemToArray(blocks, b);
        prov_push_turn(msgs, "user", "content", blocks);
    } else {
        prov_set_err(err, "message role '%s' is not supported", role ? role : "?");
        goto fail;
    }
    return 0;
fail:
    cJSON_Delete(blocks);
    return -1;
}

static int convert_messages(const cJSON *messages, cJSON *body, char **err)
{
    od_buf sys = {0};
    cJSON *msgs = cJSON_CreateArray();
    const cJSON *m;
    cJSON_ArrayForEach(m, messages) {
        if (convert_one(m, msgs, &sys, err) != 0) {
            od_buf_free(&sys);
            cJSON_Delete(msgs);
            return -1;
        }
    }
    if (sys.len) cJSON_AddStringToObject(body, "system", sys.p);
    od_buf_free(&sys);
    cJSON_AddItemToObject(body, "messages", msgs);
    return 0;
}

static int convert_tools(const cJSON *req, cJSON *body, char **err)
{
    const cJSON *tools = od_jget(req, "tools");
    if (cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0) {
        cJSON *out = cJSON_AddArrayToObject(body, "tools");
        const cJSON *t;
        cJSON_ArrayForEach(t, tools) {
            const cJSON *f = od_jget(t, "function");
            const char *name = prov_jstr(f, "name");
            if (!name) {
                prov_set_err(err, "tools: each tool needs function.name");
                return -1;
            }
            cJSON *a = cJSON_CreateObject();
            cJSON_AddStringToObject(a, "name", name);
            prov_copy_member(a, f, "description", NULL);
            const cJSON *params = od_jget(f, "parameters");
            if (cJSON_IsObject(params)) {
                cJSON_AddItemToObject(a, "input_schema", cJSON_Duplicate(params, 1));
            } else {
                cJSON *s = cJSON_AddObjectToObject(a, "input_schema");
                cJSON_AddStringToObject(s, "type", "object");
                cJSON_AddObjectToObject(s, "properties");
            }
            cJSON_AddItemToArray(out, a);
        }
    }
    const cJSON *tc = od_jget(req, "tool_choice");
    const cJSON *ptc = od_jget(req, "parallel_tool_calls");
    cJSON *choice = NULL;
    if (cJSON_IsString(tc)) {
        const char *s = tc->valuestring;
        choice = cJSON_CreateObject();
        cJSON_AddStringToObject(choice, "type", od_str_eq(s, "required") ? "any"
                                                : od_str_eq(s, "none")   ? "none"
                                                                         : "auto");
    } else if (cJSON_IsObject(tc)) {
        const char *name = prov_jstr(od_jget(tc, "function"), "name");
        if (!name) {
            prov_set_err(err, "tool_choice: function.name is required");
            return -1;
        }
        choice = cJSON_CreateObject();
        cJSON_AddStringToObject(choice, "type", "tool");
        cJSON_AddStringToObject(choice, "name", name);
    } else if (cJSON_IsFalse(ptc) && od_jget(body, "tools")) {
        choice = cJSON_CreateObject();
        cJSON_AddStringToObject(choice, "type", "auto");
    }
    if (choice) {
        if (cJSON_IsFalse(ptc) && !od_str_eq(prov_jstr(choice, "type"), "none"))
            cJSON_AddTrueToObject(choice, "disable_parallel_tool_use");
        cJSON_AddItemToObject(body, "tool_choice", choice);
    }
    return 0;
}

static cJSON *anthropic_body(const char *model, const cJSON *req, int stream, char **err)
{
    if (!cJSON_IsObject(req)) {
        prov_set_err(err, "request body must be a JSON object");
        return NULL;
    }
    const cJSON *messages = od_jget(req, "messages");
    if (!cJSON_IsArray(messages)) {
        prov_set_err(err, "messages must be an array");
        return NULL;
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "model", model);
    int64_t max = prov_jint(req, "max_tokens");
    if (!max) max = prov_jint(req, "max_completion_tokens");
    cJSON_AddNumberToObject(body, "max_tokens", (double)(max > 0 ? max : PROV_DEFAULT_MAX_TOKENS));
    if (convert_messages(messages, body, err) != 0) goto fail;
    if (convert_tools(req, body, err) != 0) goto fail;

    const cJSON *stop = od_jget(req, "stop");
    if (cJSON_IsString(stop)) {
        cJSON *a = cJSON_AddArrayToObject(body, "stop_sequences");
        cJSON_AddItemToArray(a, cJSON_CreateString(stop->valuestring));
    } else if (cJSON_IsArray(stop) && cJSON_GetArraySize(stop) > 0) {
        cJSON_AddItemToObject(body, "stop_sequences", cJSON_Duplicate(stop, 1));
    }
    const cJSON *temp = od_jget(req, "temperature");
    if (cJSON_IsNumber(temp)) /* OpenAI allows 0..2, Anthropic 0..1 */
        cJSON_AddNumberToObject(body, "temperature", temp->valuedouble > 1 ? 1 : temp->valuedouble);
    prov_copy_member(body, req, "top_p", NULL);
    const char *user = prov_jstr(req, "user");
    if (user) cJSON_AddStringToObject(cJSON_AddObjectToObject(body, "metadata"), "user_id", user);
    if (stream) cJSON_AddTrueToObject(body, "stream");
    return body;
fail:
    cJSON_Delete(body);
    return NULL;
}

/* The URL and headers of a POST to Anthropic's Messages API; the caller
 * writes out->body. version NULL or "": ours; beta NULL: none. */
static int messages_target(const od_provider_cfg *p, int stream, const char *version, const char *beta,
                           prov_http *out, char **err)
{
    char *base = prov_base(p, ANTHROPIC_BASE, err);
    if (!base) return -1;
    od_buf u = {0};
    /* base_url is written without /v1, as Anthropic's SDK does; tolerate it */
    od_buf_printf(&u, "%s%s", base, prov_ends_with(base, "/v1") ? "/messages" : "/v1/messages");
    free(base);
    out->url = od_buf_take(&u);
    prov_base_headers(out, stream);
    if (p->api_key && *p->api_key) prov_http_header(out, "x-api-key", p->api_key);
    prov_http_header(out, "anthropic-version", version && *version ? version : PROV_ANTHROPIC_VERSION);
    if (beta && *beta) prov_http_header(out, "anthropic-beta", beta);
    prov_config_headers(out, p);
    return 0;
}

static int anth_chat_request(const od_provider_cfg *p, const char *model, const cJSON *req,
                             int stream, prov_http *out, char **err)
{
    memset(out, 0, sizeof *out);
    cJSON *body = anthropic_body(model, req, stream, err);
    if (!body) return -1;
    prov_set_body(out, body);
    cJSON_Delete(body);
    return messages_target(p, stream, NULL, NULL, out, err);
}

/* ---- passthrough: the client's own Anthropic body, only model replaced ---- */

/* A header value from the client goes on one upstream header line: refuse
 * control characters rather than let them split the line. */
static int header_value_ok(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || *v == 0x7f) return 0;
    return 1;
}

int prov_anthropic_native_request(const od_provider_cfg *p, const char *model, const cJSON *areq,
                                  const char *version, const char *beta, int stream, prov_http *out,
                                  char **err)
{
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(areq)) {
        prov_set_err(err, "request body must be a JSON object");
        return -1;
    }
    if ((version && !header_value_ok(version)) || (beta && !header_value_ok(beta))) {
        prov_set_err(err, "anthropic-version / anthropic-beta: control characters are not allowed");
        return -1;
    }
    /* the client's body as it is, model ours: written straight from its
     * tree, so a body with images or PDFs is printed once, never copied */
    static const char *const ours[] = {"model", NULL};
    prov_set_body_as(out, areq, ours, model, NULL);
    return messages_target(p, stream, version, beta, out, err);
}

/* ---- response: Anthropic -> OpenAI ---- */

static const char *finish_reason(const char *stop)
{
    if (!stop) return NULL;
    if (!strcmp(stop, "max_tokens") || !strcmp(stop, "model_context_window_exceeded"))
        return "length";
    if (!strcmp(stop, "tool_use")) return "tool_calls";
    if (!strcmp(stop, "refusal")) return "content_filter";
    return "stop"; /* end_turn, stop_sequence, pause_turn */
}

static void read_usage(const cJSON *us, prov_usage *u)
{
    if (!cJSON_IsObject(us)) return;
    /* present fields replace, absent ones keep (message_delta carries only some) */
    if (prov_jhas_num(us, "input_tokens") || prov_jhas_num(us, "cache_read_input_tokens") ||
        prov_jhas_num(us, "cache_creation_input_tokens")) {
        int64_t in = prov_jhas_num(us, "input_tokens")
                         ? prov_jint(us, "input_tokens")
                         : u->prompt_tokens - u->cached_tokens - u->cache_write_tokens;
        if (prov_jhas_num(us, "cache_read_input_tokens"))
            u->cached_tokens = prov_jint(us, "cache_read_input_tokens");
        if (prov_jhas_num(us, "cache_creation_input_tokens"))
            u->cache_write_tokens = prov_jint(us, "cache_creation_input_tokens");
        u->prompt_tokens = in + u->cached_tokens + u->cache_write_tokens;
    }
    if (prov_jhas_num(us, "output_tokens")) u->completion_tokens = prov_jint(us, "output_tokens");
    /* 1-hour cache writes cost 2x input, 5-minute ones 1.25x */
    const cJSON *cc = od_jget(us, "cache_creation");
    if (prov_jhas_num(cc, "ephemeral_1h_input_tokens"))
        u->cache_write_1h_tokens = prov_jint(cc, "ephemeral_1h_input_tokens");
    u->seen = 1;
}

void prov_anthropic_usage(const cJSON *usage, prov_usage *u)
{
    read_usage(usage, u);
}

static cJSON *tool_call_json(const cJSON *block)
{
    cJSON *tc = cJSON_CreateObject();
    const char *id = prov_jstr(block, "id"), *name = prov_jstr(block, "name");
    cJSON_AddStringToObject(tc, "id", id ? id : "");
    cJSON_AddStringToObject(tc, "type", "function");
    cJSON *f = cJSON_AddObjectToObject(tc, "function");
    cJSON_AddStringToObject(f, "name", name ? name : "");
    const cJSON *input = od_jget(block, "input");
    char *args = input ? od_json_print(input) : NULL;
    cJSON_AddStringToObject(f, "arguments", args ? args : "{}");
    free(args);
    return tc;
}

static cJSON *anth_chat_response(const char *model, const char *body, size_t len,
                                 prov_usage *u, char **err)
{
    cJSON *j = prov_parse(body, len);
    const cJSON *content = od_jget(j, "content");
    if (!cJSON_IsObject(j) || !cJSON_IsArray(content)) {
        cJSON_Delete(j);
        prov_set_err(err, "upstream answer is not an Anthropic message");
        return NULL;
    }
    od_buf text = {0};
    cJSON *calls = cJSON_CreateArray();
    const cJSON *b;
    cJSON_ArrayForEach(b, content) {
        const char *type = prov_jstr(b, "type");
        if (od_str_eq(type, "text")) od_buf_puts(&text, prov_jstr(b, "text") ? prov_jstr(b, "text") : "");
        else if (od_str_eq(type, "tool_use")) cJSON_AddItemToArray(calls, tool_call_json(b));
        /* thinking / redacted_thinking blocks are not part of the OpenAI shape */
    }
    read_usage(od_jget(j, "usage"), u);

    const char *id = prov_jstr(j, "id");
    const char *m = prov_jstr(j, "model");
    cJSON *r = prov_completion(id ? id : "msg", m ? m : model, &text, calls,
                               finish_reason(prov_jstr(j, "stop_reason")), u);
    od_buf_free(&text);
    cJSON_Delete(j);
    return r;
}

/* ---- stream: Anthropic events -> OpenAI chunks ---- */

static prov_stream *anth_stream_new(const char *model)
{
    return prov_stream_alloc(model);
}

static void emit(prov_stream *s, cJSON *chunk, prov_chunk_fn fn, void *ud)
{
    fn(ud, chunk);
    cJSON_Delete(chunk);
}

static cJSON *chunk(prov_stream *s, cJSON **delta)
{
    return prov_chunk_new(s->id, s->created, s->model, delta);
}

static void set_block_tool(prov_stream *s, int block, int tool1)
{
    if (block < 0 || block > 4096) return;
    if (block >= s->nblocks) {
        int n = block + 8;
        s->block_tool = od_realloc(s->block_tool, (size_t)n * sizeof *s->block_tool);
        memset(s->block_tool + s->nblocks, 0, (size_t)(n - s->nblocks) * sizeof *s->block_tool);
        s->nblocks = n;
    }
    s->block_tool[block] = tool1;
}

static int block_tool(const prov_stream *s, int block)
{
    return block >= 0 && block < s->nblocks ? s->block_tool[block] : 0;
}

static int anth_stream_event(prov_stream *s, const char *event, const char *data, size_t len,
                             prov_chunk_fn fn, void *ud, prov_usage *u)
{
    if (s->done) return 1;
    /* read-only: every value is copied into the chunks made from it */
    const cJSON *j = od_json_parse_in(&s->events, data, len);
    if (!cJSON_IsObject(j)) {
        prov_set_err(&s->error, "unreadable stream event from upstream");
        return -1;
    }
    const char *type = prov_jstr(j, "type");
    if (!type) type = event ? event : "";
    int rc = 0;
    cJSON *delta;
    if (!strcmp(type, "message_start")) {
        const cJSON *m = od_jget(j, "message");
        free(s->id);
        s->id = od_strdup(prov_jstr(m, "id") ? prov_jstr(m, "id") : "msg");
        read_usage(od_jget(m, "usage"), u);
        cJSON *c = chunk(s, &delta);
        cJSON_AddStringToObject(delta, "role", "assistant");
        cJSON_AddStringToObject(delta, "content", "");
        s->started = 1;
        emit(s, c, fn, ud);
    } else if (!strcmp(type, "content_block_start")) {
        const cJSON *cb = od_jget(j, "content_block");
        int idx = (int)prov_jint(j, "index");
        if (od_str_eq(prov_jstr(cb, "type"), "tool_use")) {
            int tool = s->ntools++;
            set_block_tool(s, idx, tool + 1);
            cJSON *c = chunk(s, &delta);
            cJSON *tcs = cJSON_AddArrayToObject(delta, "tool_calls");
            cJSON *tc = cJSON_CreateObject();
            cJSON_AddNumberToObject(tc, "index", tool);
            cJSON_AddStringToObject(tc, "id", prov_jstr(cb, "id") ? prov_jstr(cb, "id") : "");
            cJSON_AddStringToObject(tc, "type", "function");
            cJSON *f = cJSON_AddObjectToObject(tc, "function");
            cJSON_AddStringToObject(f, "name", prov_jstr(cb, "name") ? prov_jstr(cb, "name") : "");
            cJSON_AddStringToObject(f, "arguments", "");
            cJSON_AddItemToArray(tcs, tc);
            emit(s, c, fn, ud);
        } else if (od_str_eq(prov_jstr(cb, "type"), "text")) {
            const char *t = prov_jstr(cb, "text");
            if (t && *t) {
                cJSON *c = chunk(s, &delta);
                cJSON_AddStringToObject(delta, "content", t);
                emit(s, c, fn, ud);
            }
        }
    } else if (!strcmp(type, "content_block_delta")) {
        const cJSON *d = od_jget(j, "delta");
        const char *dt = prov_jstr(d, "type");
        if (od_str_eq(dt, "text_delta")) {
            cJSON *c = chunk(s, &delta);
            cJSON_AddStringToObject(delta, "content", prov_jstr(d, "text") ? prov_jstr(d, "text") : "");
            emit(s, c, fn, ud);
        } else if (od_str_eq(dt, "input_json_delta")) {
            int tool = block_tool(s, (int)prov_jint(j, "index"));
            const char *pj = prov_jstr(d, "partial_json");
            if (tool && pj && *pj) {
                cJSON *c = chunk(s, &delta);
                cJSON *tc = cJSON_CreateObject();
                cJSON_AddNumberToObject(tc, "index", tool - 1);
                cJSON_AddStringToObject(cJSON_AddObjectToObject(tc, "function"), "arguments", pj);
                cJSON_AddItemToArray(cJSON_AddArrayToObject(delta, "tool_calls"), tc);
                emit(s, c, fn, ud);
            }
        }
        /* thinking_delta, signature_delta, citations_delta: no OpenAI counterpart */
    } else if (!strcmp(type, "message_delta")) {
        read_usage(od_jget(j, "usage"), u);
        const char *fr = finish_reason(prov_jstr(od_jget(j, "delta"),
                                                 "stop_reason"));
        if (fr) {
            cJSON *c = chunk(s, &delta);
            cJSON *ch = cJSON_GetArrayItem(od_jget(c, "choices"), 0);
            cJSON_ReplaceItemInObjectCaseSensitive(ch, "finish_reason", cJSON_CreateString(fr));
            emit(s, c, fn, ud);
        }
    } else if (!strcmp(type, "message_stop")) {
        emit(s, prov_usage_chunk(s->id, s->created, s->model, u), fn, ud);
        s->done = 1;
        rc = 1;
    } else if (!strcmp(type, "error")) {
        char *m = prov_error_generic(500, data, len);
        free(s->error);
        s->error = m;
        rc = -1;
    }
    /* ping, content_block_stop and unknown events: nothing to emit */
    return rc;
}

static void anth_stream_free(prov_stream *s)
{
    prov_stream_release(s);
}

const prov_adapter prov_anthropic_adapter = {
    .type = "anthropic",
    .chat_request = anth_chat_request,
    .chat_response = anth_chat_response,
    .stream_new = anth_stream_new,
    .stream_event = anth_stream_event,
    .stream_free = anth_stream_free,
    .embed_request = NULL,
    .embed_response = NULL,
    .error_message = prov_error_generic,
};
