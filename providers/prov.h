/* providers/prov.h — one adapter per provider behind one small interface,
 * plus the price table. Adapters are pure translation: they build upstream
 * HTTP requests from the normalized (OpenAI-shaped) request and turn upstream
 * answers back into OpenAI shapes. They never do I/O; the gateway sends. */
#ifndef PROV_H
#define PROV_H

#include <stdint.h>
#include <cjson/cJSON.h>
#include "../core/od.h"
#include "../core/config.h"

/* An upstream HTTP request to send. Headers carry credentials: never log them. */
#define PROV_MAX_HEADERS 16
typedef struct prov_http {
    char *url;                        /* owned */
    char *headers[PROV_MAX_HEADERS];  /* owned "Name: value" lines */
    int nheaders;
    od_buf body;                      /* JSON body */
} prov_http;
void prov_http_free(prov_http *h);
void prov_http_header(prov_http *h, const char *name, const char *value); /* "name: value" */

typedef struct prov_usage {
    int64_t prompt_tokens;      /* all input tokens, cached ones included */
    int64_t completion_tokens;
    int64_t cached_tokens;      /* input tokens read from a cache */
    int64_t cache_write_tokens; /* input tokens written to a cache (Anthropic) */
    int seen;                   /* 1 once the upstream reported usage */
    int64_t cache_write_1h_tokens; /* added: of cache_write_tokens, those with the 1-hour TTL */
} prov_usage;

/* Stream translation state (one per upstream stream). */
typedef struct prov_stream prov_stream;

/* Called for each normalized OpenAI chat.completion.chunk produced from the
 * upstream stream. The chunk is borrowed; copy what you keep. */
typedef void (*prov_chunk_fn)(void *ud, const cJSON *chunk);

typedef struct prov_adapter {
    const char *type; /* "openai", "openai-compatible", "azure", "anthropic", "gemini", "mock" */

    /* Builds the upstream chat request. req is the normalized OpenAI chat
     * request (read-only); model is the deployment's upstream model name.
     * stream: 1 to ask for a stream (with usage included in it). 0 ok, -1 err. */
    int (*chat_request)(const od_provider_cfg *p, const char *model,
                        const cJSON *req, int stream, prov_http *out, char **err);

    /* Upstream 2xx body of a non-streamed call -> OpenAI chat.completion
     * (new object, caller frees). Fills *u. NULL on a body it cannot read. */
    cJSON *(*chat_response)(const char *model, const char *body, size_t len,
                            prov_usage *u, char **err);

    /* Streaming: one state per stream; feed every SSE event (event name may be
     * NULL; data is the joined data lines). Emits zero or more OpenAI chunks
     * through fn and accumulates usage in *u. Returns 1 when the upstream
     * stream is finished ([DONE], message_stop, ...), 0 to continue, -1 on an
     * unreadable event. */
    prov_stream *(*stream_new)(const char *model);
    int (*stream_event)(prov_stream *s, const char *event, const char *data,
                        size_t len, prov_chunk_fn fn, void *ud, prov_usage *u);
    void (*stream_free)(prov_stream *s);
    /* 1: each stream event is itself the OpenAI chunk handed to fn (not a
     * translation), so its bytes may be relayed as they came */
    int chunks_verbatim;

    /* Embeddings; NULL when the provider has none. */
    int (*embed_request)(const od_provider_cfg *p, const char *model,
                         const cJSON *req, prov_http *out, char **err);
    cJSON *(*embed_response)(const char *model, const char *body, size_t len,
                             prov_usage *u, char **err);

    /* An upstream error body -> a short human message (new string), never
     * including credentials. */
    char *(*error_message)(int status, const char *body, size_t len);
} prov_adapter;

/* The adapter for a provider type; NULL when unknown. */
const prov_adapter *prov_adapter_for(const char *type);

/* ---- the mock provider: deterministic, in-process, no network ----
 * Upstream model names select behaviour: "echo" (default: answers with the
 * last user message), "fail" (HTTP 500), "fail-429" (429, Retry-After: 1),
 * "slow" (delay_ms 2000 before the answer), "tools" (answers with a tool
 * call to the first tool offered). Also "fail-<status>" and "slow-<ms>".
 * Usage: prompt = ceil(bytes of all message text / 4), completion =
 * ceil(reply bytes / 4); a reply longer than max_tokens is cut there
 * (finish_reason "length"). prov_mock_chat returns 0 with *out filled (any
 * status), -1 for an unreadable request (status 400, error set); free with
 * prov_mock_result_free either way. prov_mock_embed: 0, or -1 on bad input. */
typedef struct prov_mock_result {
    int status;            /* HTTP status the mock "upstream" returns */
    int retry_after_s;     /* for 429 */
    int delay_ms;          /* before the first byte */
    int chunk_delay_ms;    /* between stream chunks */
    cJSON *response;       /* status 200, non-stream: OpenAI chat.completion */
    cJSON **chunks;        /* status 200, stream: OpenAI chunks, the last carries usage */
    int nchunks;
    prov_usage usage;
    char *error;           /* status != 200 */
} prov_mock_result;
int prov_mock_chat(const char *model, const cJSON *req, int stream, prov_mock_result *out);
int prov_mock_embed(const char *model, const cJSON *req, cJSON **resp, prov_usage *u);
void prov_mock_result_free(prov_mock_result *r);

/* ---- Anthropic Messages API front (/v1/messages) ----
 * Translation between Anthropic's native shapes and the normalized OpenAI
 * shapes, for clients using the Anthropic SDK against any provider. */
cJSON *prov_anthropic_to_openai_request(const cJSON *anthropic_req, char **err);
cJSON *prov_openai_to_anthropic_response(const cJSON *openai_resp);
/* OpenAI chunks -> Anthropic SSE events ("event: ...\ndata: ...\n\n") */
typedef struct prov_astream prov_astream;
prov_astream *prov_astream_new(const char *model);
void prov_astream_chunk(prov_astream *s, const cJSON *openai_chunk, od_buf *out);
void prov_astream_finish(prov_astream *s, const prov_usage *u, od_buf *out);
void prov_astream_free(prov_astream *s);

/* ---- prices ----
 * Looks up a price: config `prices` first (by alias, then "provider/model",
 * then the upstream model name), then the built-in table. 0 found, -1 none. */
int prov_price_lookup(const od_config *cfg, const char *alias, const char *provider,
                      const char *model, od_price_cfg *out);
/* Cost in micro-dollars, rounded up (never under-charge). */
int64_t prov_cost_micros(const od_price_cfg *price, const prov_usage *u);
/* Conservative prompt-token estimate of a normalized chat request. */
int64_t prov_estimate_prompt_tokens(const cJSON *req);
/* The model's maximum output tokens (for a hold when max_tokens is absent);
 * 0 when unknown. */
int64_t prov_max_output_tokens(const char *model);

/* ---- additions (providers engineer) ----
 * Notes on the API above:
 * - prov_price_lookup: out->model is borrowed (from cfg or a static table);
 *   dated names match their family ("gpt-4o-2024-08-06" -> "gpt-4o"); when the
 *   upstream name is unknown the alias is tried (Azure deployment names); any
 *   provider of type mock costs $1/M input, $0.50/M cached, $2/M output.
 * - prov_cost_micros also charges Anthropic cache writes (cache_write_tokens,
 *   counted in prompt_tokens) their 25% surcharge (100% for 1-hour writes).
 * - Anthropic front streams: give prov_astream_chunk every chunk, the usage
 *   chunk included (never strip it there); call prov_astream_finish once,
 *   when the upstream stream ended, with the settled usage. */

/* After stream_event returned -1 because the upstream reported an error
 * inside the stream: its message (borrowed, no credentials); else NULL. */
const char *prov_stream_error(const prov_stream *s);

/* Usage chunks. Adapters always ask the upstream for usage in streams and
 * emit it as a final OpenAI chunk with "choices":[] and "usage":{...}. The
 * gateway forwards that chunk only when the client asked for it:
 *   if (prov_chunk_is_usage(chunk) && !prov_client_wants_usage(req)) skip; */
int prov_client_wants_usage(const cJSON *req); /* stream_options.include_usage */
int prov_chunk_is_usage(const cJSON *chunk);

/* Replaces each occurrence of secret (when non-empty) in s by "***", in place.
 * For messages built from upstream answers before they reach a client or log. */
void prov_redact(char *s, const char *secret);

/* Incremental SSE parser (text/event-stream): feed bytes as they arrive, in
 * pieces of any size; fn gets each dispatched event (event name or NULL; data
 * lines joined by '\n'). \n, \r\n and \r line ends; comments skipped. A
 * non-zero return of fn stops feeding and is returned. Zero-initialise. */
typedef int (*prov_sse_fn)(void *ud, const char *event, const char *data, size_t len);
typedef struct prov_sse {
    od_buf line, data, event;
    int has_data, last_cr;
} prov_sse;
int prov_sse_feed(prov_sse *p, const char *buf, size_t n, prov_sse_fn fn, void *ud);
void prov_sse_free(prov_sse *p);

/* 1 for provider types served in-process (the mock): call prov_mock_chat /
 * prov_mock_embed instead of sending adapter->chat_request. */
int prov_is_inprocess(const char *type);

/* An upstream Retry-After header value -> seconds; -1 when it is not a
 * plain number of seconds (HTTP dates are not read). */
int prov_retry_after_seconds(const char *value);

/* ---- Anthropic passthrough (/v1/messages served by an anthropic deployment) ----
 * The client's Anthropic body goes upstream as it is (cache_control, thinking,
 * documents, server tools, top_k, metadata, service_tier...), only model
 * replaced by the deployment's; version: the client's anthropic-version (NULL
 * or "": the default); beta: its anthropic-beta (NULL: none). The answer and
 * the events are relayed natively by the gateway. 0 ok, -1 with *err. */
int prov_anthropic_native_request(const od_provider_cfg *p, const char *model, const cJSON *areq,
                                  const char *version, const char *beta, int stream, prov_http *out,
                                  char **err);
/* An Anthropic usage object (message, message_start.message or
 * message_delta) into *u: present fields replace, absent ones keep; cache
 * reads and writes (cache_creation.ephemeral_1h_input_tokens included). */
void prov_anthropic_usage(const cJSON *usage, prov_usage *u);
/* Conservative prompt-token estimate of an Anthropic Messages request. */
int64_t prov_anthropic_estimate_prompt_tokens(const cJSON *areq);

#endif
