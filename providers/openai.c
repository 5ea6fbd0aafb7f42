/* providers/openai.c — OpenAI, OpenAI-compatible (vLLM, Ollama, LM Studio,
 * Mistral, Groq, Together, DeepSeek, OpenRouter...) and Azure OpenAI. Same
 * wire format: the request passes through with `model` replaced, so fields
 * odock does not know (tools, response_format, seed, ...) reach the upstream. */
#include "prov_int.h"

#include <stdlib.h>
#include <string.h>

#define OPENAI_BASE "https://api.openai.com/v1"
#define AZURE_DEFAULT_VERSION "2024-10-21"

typedef enum { FLAVOUR_OPENAI, FLAVOUR_COMPAT, FLAVOUR_AZURE } flavour;

/* {base}/{what} for OpenAI-style, {base}/openai/deployments/{model}/{what}?api-version= for Azure */
static char *build_url(flavour f, const od_provider_cfg *p, const char *model,
                       const char *what, char **err)
{
    char *base = prov_base(p, f == FLAVOUR_OPENAI ? OPENAI_BASE : NULL, err);
    if (!base) return NULL;
    od_buf b = {0};
    od_buf_puts(&b, base);
    if (f == FLAVOUR_AZURE) {
        /* tolerate a base_url given with the /openai suffix */
        if (!prov_ends_with(base, "/openai")) od_buf_puts(&b, "/openai");
        od_buf_puts(&b, "/deployments/");
        prov_url_escape(&b, model);
        od_buf_printf(&b, "/%s?api-version=", what);
        prov_url_escape(&b, p->api_version && *p->api_version ? p->api_version
                                                               : AZURE_DEFAULT_VERSION);
    } else {
        od_buf_printf(&b, "/%s", what);
    }
    free(base);
    return od_buf_take(&b);
}

static void auth_headers(flavour f, const od_provider_cfg *p, prov_http *out)
{
    if (!p->api_key || !*p->api_key) return;
    if (f == FLAVOUR_AZURE) {
        prov_http_header(out, "api-key", p->api_key);
    } else {
        char *bearer = od_malloc(strlen(p->api_key) + 8);
        memcpy(bearer, "Bearer ", 7);
        strcpy(bearer + 7, p->api_key);
        prov_http_header(out, "Authorization", bearer);
        free(bearer);
    }
}

static int chat_request(flavour f, const od_provider_cfg *p, const char *model,
                        const cJSON *req, int stream, prov_http *out, char **err)
{
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(req)) {
        prov_set_err(err, "request body must be a JSON object");
        return -1;
    }
    out->url = build_url(f, p, model, "chat/completions", err);
    if (!out->url) return -1;
    /* the client's body as it is, with model and the stream fields ours:
     * written straight out, no copy of the tree */
    static const char *const ours[] = {"model", "stream", "stream_options", NULL};
    /* always ask for usage: settling needs it; the gateway strips the
     * usage chunk again when its client did not ask */
    prov_set_body_as(out, req, ours, model, stream ? ",\"stream\":true,\"stream_options\":{\"include_usage\":true}" : NULL);
    prov_base_headers(out, stream);
    auth_headers(f, p, out);
    prov_config_headers(out, p);
    return 0;
}

static int openai_chat(const od_provider_cfg *p, const char *model, const cJSON *req,
                       int stream, prov_http *out, char **err)
{
    return chat_request(FLAVOUR_OPENAI, p, model, req, stream, out, err);
}

static int compat_chat(const od_provider_cfg *p, const char *model, const cJSON *req,
                       int stream, prov_http *out, char **err)
{
    return chat_request(FLAVOUR_COMPAT, p, model, req, stream, out, err);
}

static int azure_chat(const od_provider_cfg *p, const char *model, const cJSON *req,
                      int stream, prov_http *out, char **err)
{
    return chat_request(FLAVOUR_AZURE, p, model, req, stream, out, err);
}

cJSON *prov_openai_chat_response(const char *model, const char *body, size_t len,
                                 prov_usage *u, char **err)
{
    cJSON *j = prov_parse(body, len);
    if (!cJSON_IsObject(j) || !cJSON_IsArray(od_jget(j, "choices"))) {
        cJSON_Delete(j);
        prov_set_err(err, "upstream answer is not a chat completion");
        return NULL;
    }
    if (!prov_jstr(j, "model")) {
        cJSON_DeleteItemFromObjectCaseSensitive(j, "model");
        cJSON_AddStringToObject(j, "model", model ? model : "");
    }
    prov_usage_from_openai(od_jget(j, "usage"), u);
    return j;
}

static prov_stream *openai_stream_new(const char *model)
{
    return prov_stream_alloc(model);
}

int prov_openai_stream_event(prov_stream *s, const char *event, const char *data,
                             size_t len, prov_chunk_fn fn, void *ud, prov_usage *u)
{
    if (s->done) return 1;
    while (len && (data[len - 1] == ' ' || data[len - 1] == '\n')) len--;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        s->done = 1;
        return 1;
    }
    /* read-only: chunks are handed out const and copied by who keeps them */
    const cJSON *j = od_json_parse_in(&s->events, data, len);
    if (!cJSON_IsObject(j)) {
        prov_set_err(&s->error, "unreadable stream event from upstream");
        return -1;
    }
    if (od_jget(j, "error")) {
        char *m = prov_error_generic(500, data, len);
        free(s->error);
        s->error = m;
        return -1;
    }
    prov_usage_from_openai(od_jget(j, "usage"), u);
    fn(ud, j);
    return 0;
}

static void openai_stream_free(prov_stream *s)
{
    prov_stream_release(s);
}

static int embed_request(flavour f, const od_provider_cfg *p, const char *model,
                         const cJSON *req, prov_http *out, char **err)
{
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(req)) {
        prov_set_err(err, "request body must be a JSON object");
        return -1;
    }
    out->url = build_url(f, p, model, "embeddings", err);
    if (!out->url) return -1;
    cJSON *body = cJSON_Duplicate(req, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(body, "model");
    cJSON_AddStringToObject(body, "model", model);
    prov_set_body(out, body);
    cJSON_Delete(body);
    prov_base_headers(out, 0);
    auth_headers(f, p, out);
    prov_config_headers(out, p);
    return 0;
}

static int openai_embed(const od_provider_cfg *p, const char *model, const cJSON *req,
                        prov_http *out, char **err)
{
    return embed_request(FLAVOUR_OPENAI, p, model, req, out, err);
}

static int compat_embed(const od_provider_cfg *p, const char *model, const cJSON *req,
                        prov_http *out, char **err)
{
    return embed_request(FLAVOUR_COMPAT, p, model, req, out, err);
}

static int azure_embed(const od_provider_cfg *p, const char *model, const cJSON *req,
                       prov_http *out, char **err)
{
    return embed_request(FLAVOUR_AZURE, p, model, req, out, err);
}

static cJSON *openai_embed_response(const char *model, const char *body, size_t len,
                                    prov_usage *u, char **err)
{
    cJSON *j = prov_parse(body, len);
    if (!cJSON_IsObject(j) || !cJSON_IsArray(od_jget(j, "data"))) {
        cJSON_Delete(j);
        prov_set_err(err, "upstream answer is not an embedding list");
        return NULL;
    }
    prov_usage_from_openai(od_jget(j, "usage"), u);
    return j;
}

#define OPENAI_LIKE(name, chat, embed)                                                   \
    {                                                                                    \
        .type = name, .chat_request = chat, .chat_response = prov_openai_chat_response, \
        .stream_new = openai_stream_new, .stream_event = prov_openai_stream_event,      \
        .stream_free = openai_stream_free, .chunks_verbatim = 1, .embed_request = embed, \
        .embed_response = openai_embed_response, .error_message = prov_error_generic,   \
    }

const prov_adapter prov_openai_adapter = OPENAI_LIKE("openai", openai_chat, openai_embed);
const prov_adapter prov_compat_adapter =
    OPENAI_LIKE("openai-compatible", compat_chat, compat_embed);
const prov_adapter prov_azure_adapter = OPENAI_LIKE("azure", azure_chat, azure_embed);

/* The mock is served in-process (prov_mock_chat); its adapter only reads the
 * OpenAI shapes the mock produces, so shared code paths work on it. */
static int mock_chat_request(const od_provider_cfg *p, const char *model, const cJSON *req,
                             int stream, prov_http *out, char **err)
{
    memset(out, 0, sizeof *out);
    prov_set_err(err, "the mock provider is served in-process (prov_mock_chat)");
    return -1;
}

const prov_adapter prov_mock_adapter = {
    .type = "mock",
    .chat_request = mock_chat_request,
    .chat_response = prov_openai_chat_response,
    .stream_new = openai_stream_new,
    .stream_event = prov_openai_stream_event,
    .stream_free = openai_stream_free,
    .embed_request = NULL,
    .embed_response = openai_embed_response,
    .error_message = prov_error_generic,
};
