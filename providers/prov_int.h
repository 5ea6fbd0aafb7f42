/* providers/prov_int.h — private to providers/: shared helpers and the
 * stream state every adapter uses. Nothing outside providers/ includes it. */
#ifndef PROV_INT_H
#define PROV_INT_H

#include "prov.h"
#include "../core/json.h"

#define PROV_ERR_MAX 300 /* upstream error messages are cut to this */
#define PROV_ANTHROPIC_VERSION "2023-06-01"
#define PROV_DEFAULT_MAX_TOKENS 4096 /* Anthropic requires max_tokens */

/* One state per upstream stream; adapters use the fields they need. */
struct prov_stream {
    char *model;
    char *id;          /* upstream message id, or a generated one */
    int64_t created;
    int started;       /* the role chunk went out */
    int ntools;        /* tool calls announced so far */
    int *block_tool;   /* anthropic: content block index -> tool index + 1 (0: not a tool) */
    int nblocks;
    char *finish;      /* finish_reason seen, not yet flushed */
    char *error;       /* error reported inside the stream */
    int done;
    od_jarena events;  /* each event's tree, read-only, until the next one */
};

prov_stream *prov_stream_alloc(const char *model);
void prov_stream_release(prov_stream *s);

/* ---- errors ---- */
void prov_set_err(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Generic upstream error text (OpenAI, Anthropic and Gemini shapes). */
char *prov_error_generic(int status, const char *body, size_t len);

/* ---- JSON ---- */
cJSON *prov_parse(const char *body, size_t len);
const char *prov_jstr(const cJSON *o, const char *key);     /* string member or NULL */
/* Appends items (taking them) as a turn {"role": role, field: items} to list,
 * merging into the last turn when it has the same role: Anthropic and Gemini
 * both want alternating turns. Empty items are dropped. */
void prov_push_turn(cJSON *list, const char *role, const char *field, cJSON *items);

/* OpenAI message content (a string, or text and image_url parts) -> the
 * provider's items, appended to out: ops->text for each non-empty text,
 * ops->image for each image URL (NULL with *err set refuses it). Other part
 * types are refused naming ops->who. 0 ok, -1 with *err. */
/* An OpenAI chat.completion with one choice: text (content is null when
 * there is none and there are tool calls), calls (taken; empty: none),
 * finish (NULL: "stop") and usage. */
cJSON *prov_completion(const char *id, const char *model, const od_buf *text, cJSON *calls,
                       const char *finish, const prov_usage *u);

typedef struct prov_content_ops {
    const char *who;
    cJSON *(*text)(const char *text);
    cJSON *(*image)(const char *url, char **err);
} prov_content_ops;
int prov_content_items(const cJSON *content, cJSON *out, const prov_content_ops *ops, char **err);
int64_t prov_jint(const cJSON *o, const char *key);         /* number member or 0 */
int prov_jhas_num(const cJSON *o, const char *key);
void prov_set_body(prov_http *h, const cJSON *body);
/* The body is the client's object req written as it is, except the members
 * named in ours (NULL-terminated; "model" among them): "model" is set to
 * model, then more (encoded members, or NULL) follows. No copy of the tree. */
void prov_set_body_as(prov_http *h, const cJSON *req, const char *const *ours, const char *model, const char *more);
/* Text of an OpenAI content value: a string, or the text parts of an array. */
void prov_content_text(const cJSON *content, od_buf *out);
/* Copies member key of src into dst (as key2, or key when NULL), if present. */
void prov_copy_member(cJSON *dst, const cJSON *src, const char *key, const char *key2);

/* ---- HTTP ---- */
/* base_url (or def), without trailing '/'. NULL and *err when neither. */
char *prov_base(const od_provider_cfg *p, const char *def, char **err);
int prov_ends_with(const char *s, const char *suffix);
void prov_url_escape(od_buf *b, const char *s); /* one path segment */
/* Content-Type and Accept; adapters add their auth headers after these (so
 * they are never the ones dropped at PROV_MAX_HEADERS), then the provider's
 * configured headers, which replace same-named ones (e.g. anthropic-version). */
void prov_base_headers(prov_http *h, int stream);
void prov_config_headers(prov_http *h, const od_provider_cfg *p);

/* ---- OpenAI shapes ---- */
int64_t prov_now_s(void);
/* A chunk with one choice: {"index":0,"delta":{},"logprobs":null,"finish_reason":null}.
 * *delta points at the empty delta object. */
cJSON *prov_chunk_new(const char *id, int64_t created, const char *model, cJSON **delta);
cJSON *prov_usage_chunk(const char *id, int64_t created, const char *model, const prov_usage *u);
cJSON *prov_usage_json(const prov_usage *u);
/* OpenAI usage object -> *u (prompt_tokens_details.cached_tokens, DeepSeek's
 * prompt_cache_hit_tokens). Returns 1 when usage was present. */
int prov_usage_from_openai(const cJSON *usage, prov_usage *u);
/* Generates a deterministic-looking id: prefix + 24 hex from the CSPRNG. */
char *prov_make_id(const char *prefix);

/* OpenAI stream parsing, shared by openai, compatible, azure and mock. */
int prov_openai_stream_event(prov_stream *s, const char *event, const char *data,
                             size_t len, prov_chunk_fn fn, void *ud, prov_usage *u);
cJSON *prov_openai_chat_response(const char *model, const char *body, size_t len,
                                 prov_usage *u, char **err);

/* a tool-call arguments string -> object ({} when unreadable) */
cJSON *prov_args_object(const char *args);
/* s parsed, strictly (od_json_parse: a big integer keeps its text) or, if
 * that fails, as leniently as cJSON does (trailing text, a name twice):
 * what a model or a tool wrote is kept rather than dropped. NULL if neither. */
cJSON *prov_json_lenient(const char *s);

extern const prov_adapter prov_openai_adapter, prov_compat_adapter, prov_azure_adapter,
    prov_anthropic_adapter, prov_gemini_adapter, prov_mock_adapter;

#endif
