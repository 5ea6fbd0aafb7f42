/* providers/gemini.c — Google's native Gemini API (generateContent,
 * streamGenerateContent?alt=sse, batchEmbedContents), translated from and to
 * the normalized OpenAI shapes. */
#include "prov_int.h"

#include <stdlib.h>
#include <string.h>

#define GEMINI_BASE "https://generativelanguage.googleapis.com"

/* {base}/v1beta/models/{model}:{method}; the base may already carry a version */
static char *gemini_url(const od_provider_cfg *p, const char *model, const char *method,
                        char **err)
{
    char *base = prov_base(p, GEMINI_BASE, err);
    if (!base) return NULL;
    od_buf b = {0};
    od_buf_puts(&b, base);
    if (!prov_ends_with(base, "/v1beta") && !prov_ends_with(base, "/v1"))
        od_buf_puts(&b, "/v1beta");
    od_buf_puts(&b, "/models/");
    if (strncmp(model, "models/", 7) == 0) model += 7;
    prov_url_escape(&b, model);
    od_buf_printf(&b, ":%s", method);
    free(base);
    return od_buf_take(&b);
}

static void gemini_headers(const od_provider_cfg *p, prov_http *out, int stream)
{
    prov_base_headers(out, stream);
    if (p->api_key && *p->api_key) prov_http_header(out, "x-goog-api-key", p->api_key);
    prov_config_headers(out, p);
}

/* ---- request ---- */

static cJSON *text_part(const char *t)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "text", t);
    return p;
}

static const char *mime_from_url(const char *url)
{
    static const struct { const char *ext, *mime; } m[] = {
        {".png", "image/png"}, {".gif", "image/gif"}, {".webp", "image/webp"},
        {".pdf", "application/pdf"}, {".heic", "image/heic"},
    };
    size_t n = strcspn(url, "?#");
    for (size_t i = 0; i < OD_ARRAY_LEN(m); i++) {
        size_t k = strlen(m[i].ext);
        if (n >= k && strncasecmp(url + n - k, m[i].ext, k) == 0) return m[i].mime;
    }
    return "image/jpeg";
}

static cJSON *image_part(const char *url, char **err)
{
    cJSON *p = cJSON_CreateObject();
    if (strncmp(url, "data:", 5) == 0) {
        const char *semi = strchr(url, ';'), *comma = strchr(url, ',');
        if (!semi || !comma || semi > comma || strncmp(semi, ";base64,", 8) != 0) {
            cJSON_Delete(p);
            prov_set_err(err, "image data URLs must be base64 encoded");
            return NULL;
        }
        char *mime = od_strndup(url + 5, (size_t)(semi - url - 5));
        cJSON *d = cJSON_AddObjectToObject(p, "inlineData");
        cJSON_AddStringToObject(d, "mimeType", mime);
        cJSON_AddStringToObject(d, "data", comma + 1);
        free(mime);
    } else {
        cJSON *d = cJSON_AddObjectToObject(p, "fileData");
        cJSON_AddStringToObject(d, "mimeType", mime_from_url(url));
        cJSON_AddStringToObject(d, "fileUri", url);
    }
    return p;
}

static const prov_content_ops CONTENT_OPS = {"gemini", text_part, image_part};

static int content_parts(const cJSON *content, cJSON *parts, char **err)
{
    return prov_content_items(content, parts, &CONTENT_OPS, err);
}

/* The function name a tool message answers: Gemini wants the name, OpenAI
 * tool messages only carry the call id. */
static const char *tool_name_for(const cJSON *messages, const char *call_id)
{
    const cJSON *m, *tc;
    cJSON_ArrayForEach(m, messages) {
        cJSON_ArrayForEach(tc, od_jget(m, "tool_calls")) {
            if (call_id && od_str_eq(prov_jstr(tc, "id"), call_id))
                return prov_jstr(od_jget(tc, "function"), "name");
        }
    }
    return NULL;
}

static int convert_one(const cJSON *all, const cJSON *m, cJSON *contents, cJSON *sys,
                       char **err)
{
    const char *role = prov_jstr(m, "role");
    const cJSON *content = od_jget(m, "content");
    cJSON *parts = cJSON_CreateArray();
    if (od_str_eq(role, "system") || od_str_eq(role, "developer")) {
        od_buf t = {0};
        prov_content_text(content, &t);
        if (t.len) cJSON_AddItemToArray(sys, text_part(t.p));
        od_buf_free(&t);
        cJSON_Delete(parts);
    } else if (od_str_eq(role, "user")) {
        if (content_parts(content, parts, err) != 0) goto fail;
        prov_push_turn(contents, "user", "parts", parts);
    } else if (od_str_eq(role, "assistant")) {
        if (content_parts(content, parts, err) != 0) goto fail;
        const cJSON *tc;
        cJSON_ArrayForEach(tc, od_jget(m, "tool_calls")) {
            const cJSON *f = od_jget(tc, "function");
            const char *name = prov_jstr(f, "name");
            cJSON *p = cJSON_CreateObject();
            cJSON *fc = cJSON_AddObjectToObject(p, "functionCall");
            cJSON_AddStringToObject(fc, "name", name ? name : "");
            cJSON_AddItemToObject(fc, "args", prov_args_object(prov_jstr(f, "arguments")));
            cJSON_AddItemToArray(parts, p);
        }
        prov_push_turn(contents, "model", "parts", parts);
    } else if (od_str_eq(role, "tool")) {
        od_buf t = {0};
        prov_content_text(content, &t);
        const char *name = prov_jstr(m, "name");
        if (!name) name = tool_name_for(all, prov_jstr(m, "tool_call_id"));
        cJSON *resp = prov_json_lenient(t.p);
        if (!cJSON_IsObject(resp)) { /* Gemini wants an object */
            cJSON_Delete(resp);
            resp = cJSON_CreateObject();
            cJSON_AddStringToObject(resp, "content", t.p ? t.p : "");
        }
        od_buf_free(&t);
        cJSON *p = cJSON_CreateObject();
        cJSON *fr = cJSON_AddObjectToObject(p, "functionResponse");
        cJSON_AddStringToObject(fr, "name", name ? name : "tool");
        cJSON_AddItemToObject(fr, "response", resp);
        cJSON_AddItemToArray(parts, p);
        prov_push_turn(contents, "user", "parts", parts);
    } else {
        prov_set_err(err, "message role '%s' is not supported", role ? role : "?");
        goto fail;
    }
    return 0;
fail:
    cJSON_Delete(parts);
    return -1;
}

/* JSON Schema keywords Gemini's OpenAPI-subset schema rejects */
static void clean_schema(cJSON *s)
{
    if (!cJSON_IsObject(s) && !cJSON_IsArray(s)) return;
    if (cJSON_IsObject(s)) {
        cJSON_DeleteItemFromObjectCaseSensitive(s, "$schema");
        cJSON_DeleteItemFromObjectCaseSensitive(s, "additionalProperties");
        cJSON_DeleteItemFromObjectCaseSensitive(s, "strict");
    }
    cJSON *c;
    cJSON_ArrayForEach(c, s) clean_schema(c);
}

static int convert_tools(const cJSON *req, cJSON *body, char **err)
{
    const cJSON *tools = od_jget(req, "tools");
    if (cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0) {
        cJSON *decls = cJSON_CreateArray();
        const cJSON *t;
        cJSON_ArrayForEach(t, tools) {
            const cJSON *f = od_jget(t, "function");
            const char *name = prov_jstr(f, "name");
            if (!name) {
                cJSON_Delete(decls);
                prov_set_err(err, "tools: each tool needs function.name");
                return -1;
            }
            cJSON *d = cJSON_CreateObject();
            cJSON_AddStringToObject(d, "name", name);
            prov_copy_member(d, f, "description", NULL);
            const cJSON *params = od_jget(f, "parameters");
            const cJSON *props = od_jget(params, "properties");
            /* Gemini rejects an OBJECT schema with no properties: leave it out */
            if (cJSON_IsObject(params) && cJSON_GetArraySize(props) > 0) {
                cJSON *c = cJSON_Duplicate(params, 1);
                clean_schema(c);
                cJSON_AddItemToObject(d, "parameters", c);
            }
            cJSON_AddItemToArray(decls, d);
        }
        cJSON *tw = cJSON_CreateObject();
        cJSON_AddItemToObject(tw, "functionDeclarations", decls);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(body, "tools"), tw);
    }
    const cJSON *tc = od_jget(req, "tool_choice");
    if (!tc) return 0;
    cJSON *fcc = cJSON_CreateObject();
    if (cJSON_IsString(tc)) {
        const char *s = tc->valuestring;
        cJSON_AddStringToObject(fcc, "mode", od_str_eq(s, "required") ? "ANY"
                                             : od_str_eq(s, "none")   ? "NONE"
                                                                      : "AUTO");
    } else {
        const char *name = prov_jstr(od_jget(tc, "function"), "name");
        if (!name) {
            cJSON_Delete(fcc);
            prov_set_err(err, "tool_choice: function.name is required");
            return -1;
        }
        cJSON_AddStringToObject(fcc, "mode", "ANY");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(fcc, "allowedFunctionNames"),
                             cJSON_CreateString(name));
    }
    cJSON *cfg = cJSON_AddObjectToObject(body, "toolConfig");
    cJSON_AddItemToObject(cfg, "functionCallingConfig", fcc);
    return 0;
}

static void generation_config(const cJSON *req, cJSON *body)
{
    cJSON *g = cJSON_CreateObject();
    int64_t max = prov_jint(req, "max_tokens");
    if (!max) max = prov_jint(req, "max_completion_tokens");
    if (max > 0) cJSON_AddNumberToObject(g, "maxOutputTokens", (double)max);
    prov_copy_member(g, req, "temperature", NULL);
    prov_copy_member(g, req, "top_p", "topP");
    prov_copy_member(g, req, "n", "candidateCount");
    prov_copy_member(g, req, "seed", NULL);
    prov_copy_member(g, req, "presence_penalty", "presencePenalty");
    prov_copy_member(g, req, "frequency_penalty", "frequencyPenalty");
    const cJSON *stop = od_jget(req, "stop");
    if (cJSON_IsString(stop))
        cJSON_AddItemToArray(cJSON_AddArrayToObject(g, "stopSequences"),
                             cJSON_CreateString(stop->valuestring));
    else if (cJSON_IsArray(stop) && cJSON_GetArraySize(stop) > 0)
        cJSON_AddItemToObject(g, "stopSequences", cJSON_Duplicate(stop, 1));
    const char *rf = prov_jstr(od_jget(req, "response_format"), "type");
    if (od_str_eq(rf, "json_object") || od_str_eq(rf, "json_schema"))
        cJSON_AddStringToObject(g, "responseMimeType", "application/json");
    if (cJSON_GetArraySize(g) > 0) cJSON_AddItemToObject(body, "generationConfig", g);
    else cJSON_Delete(g);
}

static cJSON *gemini_body(const cJSON *req, char **err)
{
    const cJSON *messages = od_jget(req, "messages");
    if (!cJSON_IsObject(req) || !cJSON_IsArray(messages)) {
        prov_set_err(err, "messages must be an array");
        return NULL;
    }
    cJSON *body = cJSON_CreateObject();
    cJSON *contents = cJSON_AddArrayToObject(body, "contents");
    cJSON *sys = cJSON_CreateArray();
    const cJSON *m;
    cJSON_ArrayForEach(m, messages) {
        if (convert_one(messages, m, contents, sys, err) != 0) {
            cJSON_Delete(sys);
            cJSON_Delete(body);
            return NULL;
        }
    }
    if (cJSON_GetArraySize(sys) > 0)
        cJSON_AddItemToObject(cJSON_AddObjectToObject(body, "systemInstruction"), "parts", sys);
    else
        cJSON_Delete(sys);
    if (convert_tools(req, body, err) != 0) {
        cJSON_Delete(body);
        return NULL;
    }
    generation_config(req, body);
    return body;
}

static int gem_chat_request(const od_provider_cfg *p, const char *model, const cJSON *req,
                            int stream, prov_http *out, char **err)
{
    memset(out, 0, sizeof *out);
    cJSON *body = gemini_body(req, err);
    if (!body) return -1;
    out->url = gemini_url(p, model, stream ? "streamGenerateContent?alt=sse" : "generateContent",
                          err);
    if (!out->url) {
        cJSON_Delete(body);
        return -1;
    }
    prov_set_body(out, body);
    cJSON_Delete(body);
    gemini_headers(p, out, stream);
    return 0;
}

/* ---- response ---- */

static const char *finish_reason(const char *r, int has_tools)
{
    if (!r) return NULL;
    if (!strcmp(r, "MAX_TOKENS")) return "length";
    if (!strcmp(r, "SAFETY") || !strcmp(r, "RECITATION") || !strcmp(r, "BLOCKLIST") ||
        !strcmp(r, "PROHIBITED_CONTENT") || !strcmp(r, "SPII") || !strcmp(r, "IMAGE_SAFETY"))
        return "content_filter";
    return has_tools ? "tool_calls" : "stop";
}

static void read_usage(const cJSON *um, prov_usage *u)
{
    if (!cJSON_IsObject(um)) return;
    /* thinking tokens are billed as output; tool-use prompt tokens as input */
    u->prompt_tokens = prov_jint(um, "promptTokenCount") + prov_jint(um, "toolUsePromptTokenCount");
    u->completion_tokens = prov_jint(um, "candidatesTokenCount") + prov_jint(um, "thoughtsTokenCount");
    u->cached_tokens = prov_jint(um, "cachedContentTokenCount");
    if (u->cached_tokens > u->prompt_tokens) u->cached_tokens = u->prompt_tokens;
    u->seen = 1;
}

static cJSON *tool_call(const cJSON *fc, int index, int with_index)
{
    cJSON *tc = cJSON_CreateObject();
    if (with_index) cJSON_AddNumberToObject(tc, "index", index);
    const char *id = prov_jstr(fc, "id");
    od_buf b = {0};
    if (id) od_buf_puts(&b, id);
    else od_buf_printf(&b, "call_%d", index); /* Gemini gives no ids before 2.5 */
    cJSON_AddStringToObject(tc, "id", b.p);
    od_buf_free(&b);
    cJSON_AddStringToObject(tc, "type", "function");
    cJSON *f = cJSON_AddObjectToObject(tc, "function");
    const char *name = prov_jstr(fc, "name");
    cJSON_AddStringToObject(f, "name", name ? name : "");
    const cJSON *args = od_jget(fc, "args");
    char *a = args ? od_json_print(args) : NULL;
    cJSON_AddStringToObject(f, "arguments", a ? a : "{}");
    free(a);
    return tc;
}

/* Text and function calls of the first candidate; *ntools counts calls. */
static void candidate_parts(const cJSON *cand, od_buf *text, cJSON *calls, int *ntools,
                            int with_index)
{
    const cJSON *parts = od_jget(
        od_jget(cand, "content"), "parts");
    const cJSON *p;
    cJSON_ArrayForEach(p, parts) {
        if (cJSON_IsTrue(od_jget(p, "thought"))) continue;
        const char *t = prov_jstr(p, "text");
        const cJSON *fc = od_jget(p, "functionCall");
        if (t) od_buf_puts(text, t);
        if (cJSON_IsObject(fc)) cJSON_AddItemToArray(calls, tool_call(fc, (*ntools)++, with_index));
    }
}

static cJSON *gem_chat_response(const char *model, const char *body, size_t len,
                                prov_usage *u, char **err)
{
    cJSON *j = prov_parse(body, len);
    if (!cJSON_IsObject(j) || (!od_jget(j, "candidates") &&
                               !od_jget(j, "promptFeedback"))) {
        cJSON_Delete(j);
        prov_set_err(err, "upstream answer is not a Gemini GenerateContentResponse");
        return NULL;
    }
    const cJSON *cand = cJSON_GetArrayItem(od_jget(j, "candidates"), 0);
    od_buf text = {0};
    cJSON *calls = cJSON_CreateArray();
    int ntools = 0;
    candidate_parts(cand, &text, calls, &ntools, 0);
    read_usage(od_jget(j, "usageMetadata"), u);

    const char *rid = prov_jstr(j, "responseId");
    char *id = rid ? od_strdup(rid) : prov_make_id("chatcmpl-");
    const char *mv = prov_jstr(j, "modelVersion");
    const char *fr = cand ? finish_reason(prov_jstr(cand, "finishReason"), ntools > 0)
                          : "content_filter"; /* prompt blocked: no candidate */
    cJSON *r = prov_completion(id, mv ? mv : model, &text, calls, fr, u);
    free(id);
    od_buf_free(&text);
    cJSON_Delete(j);
    return r;
}

/* ---- stream: every event is a whole GenerateContentResponse holding the
 * next piece; the one with a finishReason is the last ---- */

static prov_stream *gem_stream_new(const char *model)
{
    prov_stream *s = prov_stream_alloc(model);
    s->id = prov_make_id("chatcmpl-");
    return s;
}

static int gem_stream_event(prov_stream *s, const char *event, const char *data, size_t len,
                            prov_chunk_fn fn, void *ud, prov_usage *u)
{
    if (s->done) return 1;
    /* read-only: every value is copied into the chunks made from it */
    const cJSON *j = od_json_parse_in(&s->events, data, len);
    if (cJSON_IsArray(j) || od_jget(j, "error")) {
        free(s->error);
        s->error = prov_error_generic(500, data, len);
        return -1;
    }
    if (!cJSON_IsObject(j)) {
        prov_set_err(&s->error, "unreadable stream event from upstream");
        return -1;
    }
    cJSON *delta;
    if (!s->started) {
        cJSON *c = prov_chunk_new(s->id, s->created, s->model, &delta);
        cJSON_AddStringToObject(delta, "role", "assistant");
        cJSON_AddStringToObject(delta, "content", "");
        fn(ud, c);
        cJSON_Delete(c);
        s->started = 1;
    }
    const cJSON *cand = cJSON_GetArrayItem(od_jget(j, "candidates"), 0);
    od_buf text = {0};
    cJSON *calls = cJSON_CreateArray();
    candidate_parts(cand, &text, calls, &s->ntools, 1);
    if (text.len || cJSON_GetArraySize(calls) > 0) {
        cJSON *c = prov_chunk_new(s->id, s->created, s->model, &delta);
        if (text.len) cJSON_AddStringToObject(delta, "content", text.p);
        if (cJSON_GetArraySize(calls) > 0) {
            cJSON_AddItemToObject(delta, "tool_calls", calls);
            calls = NULL;
        }
        fn(ud, c);
        cJSON_Delete(c);
    }
    cJSON_Delete(calls);
    od_buf_free(&text);
    read_usage(od_jget(j, "usageMetadata"), u);

    const char *fr = finish_reason(prov_jstr(cand, "finishReason"), s->ntools > 0);
    if (!cand && od_jget(
                     od_jget(j, "promptFeedback"), "blockReason"))
        fr = "content_filter";
    int rc = 0;
    if (fr) {
        cJSON *c = prov_chunk_new(s->id, s->created, s->model, &delta);
        cJSON *ch = cJSON_GetArrayItem(od_jget(c, "choices"), 0);
        cJSON_ReplaceItemInObjectCaseSensitive(ch, "finish_reason", cJSON_CreateString(fr));
        fn(ud, c);
        cJSON_Delete(c);
        c = prov_usage_chunk(s->id, s->created, s->model, u);
        fn(ud, c);
        cJSON_Delete(c);
        s->done = 1;
        rc = 1;
    }
    return rc;
}

static void gem_stream_free(prov_stream *s)
{
    prov_stream_release(s);
}

/* ---- embeddings: batchEmbedContents ---- */

static int gem_embed_request(const od_provider_cfg *p, const char *model, const cJSON *req,
                             prov_http *out, char **err)
{
    memset(out, 0, sizeof *out);
    const cJSON *input = od_jget(req, "input");
    cJSON *texts = cJSON_CreateArray();
    if (cJSON_IsString(input)) {
        cJSON_AddItemToArray(texts, cJSON_CreateString(input->valuestring));
    } else if (cJSON_IsArray(input) && cJSON_GetArraySize(input) > 0) {
        const cJSON *t;
        cJSON_ArrayForEach(t, input) {
            if (!cJSON_IsString(t)) {
                cJSON_Delete(texts);
                prov_set_err(err, "input: gemini embeddings take strings only");
                return -1;
            }
            cJSON_AddItemToArray(texts, cJSON_CreateString(t->valuestring));
        }
    } else {
        cJSON_Delete(texts);
        prov_set_err(err, "input must be a string or an array of strings");
        return -1;
    }
    out->url = gemini_url(p, model, "batchEmbedContents", err);
    if (!out->url) {
        cJSON_Delete(texts);
        return -1;
    }
    od_buf name = {0};
    od_buf_printf(&name, "models/%s", strncmp(model, "models/", 7) == 0 ? model + 7 : model);
    cJSON *body = cJSON_CreateObject();
    cJSON *reqs = cJSON_AddArrayToObject(body, "requests");
    const cJSON *t;
    cJSON_ArrayForEach(t, texts) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "model", name.p);
        cJSON *c = cJSON_AddObjectToObject(r, "content");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(c, "parts"), text_part(t->valuestring));
        prov_copy_member(r, req, "dimensions", "outputDimensionality");
        cJSON_AddItemToArray(reqs, r);
    }
    prov_set_body(out, body);
    cJSON_Delete(body);
    cJSON_Delete(texts);
    od_buf_free(&name);
    gemini_headers(p, out, 0);
    return 0;
}

static cJSON *gem_embed_response(const char *model, const char *body, size_t len,
                                 prov_usage *u, char **err)
{
    cJSON *j = prov_parse(body, len);
    const cJSON *embs = od_jget(j, "embeddings");
    if (!cJSON_IsArray(embs)) {
        cJSON_Delete(j);
        prov_set_err(err, "upstream answer is not a Gemini embedding list");
        return NULL;
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(r, "data");
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, embs) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "object", "embedding");
        cJSON_AddNumberToObject(d, "index", i++);
        const cJSON *v = od_jget(e, "values");
        cJSON_AddItemToObject(d, "embedding", v ? cJSON_Duplicate(v, 1) : cJSON_CreateArray());
        cJSON_AddItemToArray(data, d);
    }
    cJSON_AddStringToObject(r, "model", model);
    /* Gemini reports no token counts for embeddings: u->seen stays 0 and the
     * gateway settles on its estimate */
    cJSON *us = cJSON_AddObjectToObject(r, "usage");
    cJSON_AddNumberToObject(us, "prompt_tokens", 0);
    cJSON_AddNumberToObject(us, "total_tokens", 0);
    (void)u;
    cJSON_Delete(j);
    return r;
}

const prov_adapter prov_gemini_adapter = {
    .type = "gemini",
    .chat_request = gem_chat_request,
    .chat_response = gem_chat_response,
    .stream_new = gem_stream_new,
    .stream_event = gem_stream_event,
    .stream_free = gem_stream_free,
    .embed_request = gem_embed_request,
    .embed_response = gem_embed_response,
    .error_message = prov_error_generic,
};
