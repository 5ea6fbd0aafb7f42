/* providers/prov.c — the adapter registry and the helpers adapters share:
 * HTTP request building, JSON access, OpenAI chunk shapes, error text. */
#include "prov_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <math.h>
#include <strings.h>

const prov_adapter *prov_adapter_for(const char *type)
{
    static const prov_adapter *const all[] = {
        &prov_openai_adapter, &prov_compat_adapter, &prov_azure_adapter,
        &prov_anthropic_adapter, &prov_gemini_adapter, &prov_mock_adapter,
    };
    if (!type) return NULL;
    for (size_t i = 0; i < OD_ARRAY_LEN(all); i++)
        if (strcmp(all[i]->type, type) == 0) return all[i];
    return NULL;
}

int prov_is_inprocess(const char *type)
{
    return od_str_eq(type, "mock");
}

/* ---- prov_http ---- */

void prov_http_free(prov_http *h)
{
    if (!h) return;
    free(h->url);
    for (int i = 0; i < h->nheaders; i++) free(h->headers[i]);
    od_buf_free(&h->body);
    memset(h, 0, sizeof *h);
}

void prov_http_header(prov_http *h, const char *name, const char *value)
{
    if (h->nheaders >= PROV_MAX_HEADERS) {
        od_warn("provider request: more than %d headers, extra dropped", PROV_MAX_HEADERS);
        return;
    }
    size_t n = strlen(name), v = strlen(value);
    char *line = od_malloc(n + v + 3);
    memcpy(line, name, n);
    memcpy(line + n, ": ", 2);
    memcpy(line + n + 2, value, v + 1);
    /* a header line must not smuggle another one in */
    for (char *c = line; *c; c++)
        if (*c == '\r' || *c == '\n') *c = ' ';
    h->headers[h->nheaders++] = line;
}

void prov_base_headers(prov_http *h, int stream)
{
    prov_http_header(h, "Content-Type", "application/json");
    prov_http_header(h, "Accept", stream ? "text/event-stream" : "application/json");
}

void prov_config_headers(prov_http *h, const od_provider_cfg *p)
{
    for (int i = 0; p && i < p->nheaders; i++) {
        const char *k = p->headers[i].key, *v = p->headers[i].value;
        if (!k || !v || !*k) continue;
        size_t n = strlen(k);
        int j;
        for (j = 0; j < h->nheaders; j++)
            if (strncasecmp(h->headers[j], k, n) == 0 && h->headers[j][n] == ':') break;
        if (j < h->nheaders) { /* the operator's value wins over ours */
            free(h->headers[j]);
            h->headers[j] = h->headers[--h->nheaders];
            h->headers[h->nheaders] = NULL;
        }
        prov_http_header(h, k, v);
    }
}

void prov_set_body(prov_http *h, const cJSON *body)
{
    od_buf_reset(&h->body);
    od_json_write(&h->body, body);
}

void prov_set_body_as(prov_http *h, const cJSON *req, const char *const *ours, const char *model, const char *more)
{
    od_buf extra = {0};
    od_buf_puts(&extra, "\"model\":");
    od_json_string(&extra, model);
    if (more) od_buf_puts(&extra, more);
    od_buf_reset(&h->body);
    od_json_write_object(&h->body, req, ours, extra.p);
    od_buf_free(&extra);
}

char *prov_base(const od_provider_cfg *p, const char *def, char **err)
{
    const char *b = p && p->base_url && *p->base_url ? p->base_url : def;
    if (!b) {
        prov_set_err(err, "provider %s: base_url is required for type %s",
                     p && p->name ? p->name : "?", p && p->type ? p->type : "?");
        return NULL;
    }
    size_t n = strlen(b);
    while (n > 0 && b[n - 1] == '/') n--;
    return od_strndup(b, n);
}

int prov_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

void prov_url_escape(od_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || strchr("-._~:@", *p)) od_buf_putc(b, (char)*p);
        else od_buf_printf(b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
    }
}

int prov_retry_after_seconds(const char *value)
{
    if (!value) return -1;
    while (*value == ' ') value++;
    int64_t v;
    char tmp[32];
    size_t n = strcspn(value, " \r\n");
    if (n == 0 || n >= sizeof tmp) return -1;
    memcpy(tmp, value, n);
    tmp[n] = '\0';
    if (od_parse_i64(tmp, &v) != 0 || v < 0) return -1;
    return v > 86400 ? 86400 : (int)v;
}

/* ---- errors ---- */

void prov_set_err(char **err, const char *fmt, ...)
{
    if (!err) return;
    od_buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    od_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    free(*err);
    *err = od_buf_take(&b);
}

void prov_redact(char *s, const char *secret)
{
    if (!s || !secret || !*secret) return;
    size_t n = strlen(secret);
    char *w = s;
    for (const char *r = s; *r;) {
        if (strncmp(r, secret, n) == 0) {
            size_t k = n < 3 ? n : 3; /* never longer than what it replaces */
            memset(w, '*', k);
            w += k;
            r += n;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

/* Looks like a credential: upstreams sometimes quote a (partial) key back. */
static int secretish(const char *w, size_t n)
{
    static const char *const prefixes[] = {"sk-", "sk_", "AIza", "key-", "Bearer"};
    for (size_t i = 0; i < OD_ARRAY_LEN(prefixes); i++) {
        size_t k = strlen(prefixes[i]);
        if (n > k + 3 && strncmp(w, prefixes[i], k) == 0) return 1;
    }
    return n >= 32;
}

/* Copies at most PROV_ERR_MAX printable bytes, masking credential-like words. */
static char *clean_message(const char *m, size_t len)
{
    od_buf b = {0};
    size_t i = 0;
    while (i < len && b.len < PROV_ERR_MAX) {
        unsigned char c = (unsigned char)m[i];
        if (isalnum(c) || c == '-' || c == '_' || c == '*') {
            size_t j = i;
            while (j < len && (isalnum((unsigned char)m[j]) || m[j] == '-' || m[j] == '_' ||
                               m[j] == '*'))
                j++;
            if (secretish(m + i, j - i)) od_buf_puts(&b, "[redacted]");
            else od_buf_put(&b, m + i, j - i);
            i = j;
            continue;
        }
        od_buf_putc(&b, (c < 0x20 || c == 0x7f) ? ' ' : (char)c);
        i++;
    }
    if (i < len) {
        /* don't leave half a UTF-8 sequence before the ellipsis */
        while (b.len > 0 && ((unsigned char)b.p[b.len - 1] & 0xC0) == 0x80) b.len--;
        if (b.len > 0 && ((unsigned char)b.p[b.len - 1] & 0xC0) == 0xC0) b.len--;
        b.p[b.len] = '\0';
        od_buf_puts(&b, "...");
    }
    return od_buf_take(&b);
}

static const char *error_text(const cJSON *j)
{
    if (cJSON_IsArray(j)) j = cJSON_GetArrayItem(j, 0); /* Gemini streams wrap errors */
    if (!cJSON_IsObject(j)) return NULL;
    const cJSON *e = od_jget(j, "error");
    if (cJSON_IsString(e)) return e->valuestring;
    const char *m = prov_jstr(e, "message");
    if (m) return m;
    return prov_jstr(j, "message");
}

char *prov_error_generic(int status, const char *body, size_t len)
{
    char *out = NULL;
    cJSON *j = body && len ? prov_parse(body, len) : NULL;
    const char *m = error_text(j);
    if (m && *m) {
        out = clean_message(m, strlen(m));
    } else if (!j && body && len) {
        size_t n = len;
        while (n && isspace((unsigned char)body[n - 1])) n--;
        if (n) out = clean_message(body, n);
    }
    if (!out) {
        od_buf b = {0};
        od_buf_printf(&b, "upstream returned HTTP %d", status);
        out = od_buf_take(&b);
    }
    cJSON_Delete(j);
    return out;
}

/* ---- JSON ---- */

cJSON *prov_parse(const char *body, size_t len)
{
    return od_json_parse(body, len, NULL);
}

const char *prov_jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_IsObject(o) ? od_jget(o, key) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int prov_jhas_num(const cJSON *o, const char *key)
{
    return cJSON_IsObject(o) && cJSON_IsNumber(od_jget(o, key));
}

int64_t prov_jint(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_IsObject(o) ? od_jget(o, key) : NULL;
    if (!cJSON_IsNumber(v) || isnan(v->valuedouble)) return 0;
    double d = v->valuedouble;
    if (d <= 0) return 0;
    if (d >= 9.0e15) return (int64_t)9.0e15; /* token counts; far past anything real */
    return (int64_t)d;
}

void prov_content_text(const cJSON *content, od_buf *out)
{
    if (cJSON_IsString(content)) {
        od_buf_puts(out, content->valuestring);
        return;
    }
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        const char *t = prov_jstr(part, "text");
        if (t) od_buf_puts(out, t);
    }
}

void prov_copy_member(cJSON *dst, const cJSON *src, const char *key, const char *key2)
{
    const cJSON *v = od_jget(src, key);
    if (v && !cJSON_IsNull(v))
        cJSON_AddItemToObject(dst, key2 ? key2 : key, cJSON_Duplicate(v, 1));
}

cJSON *prov_json_lenient(const char *s)
{
    if (!s) return NULL;
    cJSON *j = od_json_parse(s, strlen(s), NULL);
    return j ? j : cJSON_Parse(s);
}

cJSON *prov_args_object(const char *args)
{
    cJSON *o = prov_json_lenient(args);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        o = cJSON_CreateObject();
    }
    return o;
}

/* ---- OpenAI shapes ---- */

int64_t prov_now_s(void)
{
    return od_wall_ms() / 1000;
}

char *prov_make_id(const char *prefix)
{
    char id[25];
    od_request_id(id);
    od_buf b = {0};
    od_buf_printf(&b, "%s%s", prefix, id);
    return od_buf_take(&b);
}

cJSON *prov_chunk_new(const char *id, int64_t created, const char *model, cJSON **delta)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "id", id ? id : "chatcmpl");
    cJSON_AddStringToObject(c, "object", "chat.completion.chunk");
    cJSON_AddNumberToObject(c, "created", (double)created);
    cJSON_AddStringToObject(c, "model", model ? model : "");
    cJSON *choices = cJSON_AddArrayToObject(c, "choices");
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", 0);
    cJSON *d = cJSON_AddObjectToObject(ch, "delta");
    cJSON_AddNullToObject(ch, "logprobs");
    cJSON_AddNullToObject(ch, "finish_reason");
    cJSON_AddItemToArray(choices, ch);
    if (delta) *delta = d;
    return c;
}

cJSON *prov_usage_json(const prov_usage *u)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "prompt_tokens", (double)u->prompt_tokens);
    cJSON_AddNumberToObject(o, "completion_tokens", (double)u->completion_tokens);
    cJSON_AddNumberToObject(o, "total_tokens", (double)(u->prompt_tokens + u->completion_tokens));
    cJSON *d = cJSON_AddObjectToObject(o, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", (double)u->cached_tokens);
    return o;
}

cJSON *prov_usage_chunk(const char *id, int64_t created, const char *model, const prov_usage *u)
{
    cJSON *c = prov_chunk_new(id, created, model, NULL);
    cJSON_DeleteItemFromArray(od_jget(c, "choices"), 0);
    cJSON_AddItemToObject(c, "usage", prov_usage_json(u));
    return c;
}

int prov_usage_from_openai(const cJSON *usage, prov_usage *u)
{
    if (!cJSON_IsObject(usage)) return 0;
    u->prompt_tokens = prov_jint(usage, "prompt_tokens");
    u->completion_tokens = prov_jint(usage, "completion_tokens");
    const cJSON *d = od_jget(usage, "prompt_tokens_details");
    u->cached_tokens = prov_jint(d, "cached_tokens");
    if (!u->cached_tokens) u->cached_tokens = prov_jint(usage, "prompt_cache_hit_tokens");
    if (u->cached_tokens > u->prompt_tokens) u->cached_tokens = u->prompt_tokens;
    u->seen = 1;
    return 1;
}

int prov_client_wants_usage(const cJSON *req)
{
    const cJSON *so = od_jget(req, "stream_options");
    return cJSON_IsTrue(od_jget(so, "include_usage"));
}

int prov_chunk_is_usage(const cJSON *chunk)
{
    const cJSON *ch = od_jget(chunk, "choices");
    const cJSON *us = od_jget(chunk, "usage");
    return cJSON_IsObject(us) && (!ch || (cJSON_IsArray(ch) && cJSON_GetArraySize(ch) == 0));
}

/* ---- streams ---- */

prov_stream *prov_stream_alloc(const char *model)
{
    prov_stream *s = od_calloc(1, sizeof *s);
    s->model = od_strdup(model ? model : "");
    s->created = prov_now_s();
    return s;
}

void prov_stream_release(prov_stream *s)
{
    if (!s) return;
    free(s->model);
    free(s->id);
    free(s->block_tool);
    free(s->finish);
    free(s->error);
    od_jarena_free(&s->events);
    free(s);
}

const char *prov_stream_error(const prov_stream *s)
{
    return s ? s->error : NULL;
}

void prov_push_turn(cJSON *list, const char *role, const char *field, cJSON *items)
{
    if (cJSON_GetArraySize(items) == 0) {
        cJSON_Delete(items);
        return;
    }
    int n = cJSON_GetArraySize(list);
    cJSON *last = n ? cJSON_GetArrayItem(list, n - 1) : NULL;
    if (last && od_str_eq(prov_jstr(last, "role"), role)) {
        cJSON *dst = od_jget(last, field);
        cJSON *it;
        while ((it = cJSON_DetachItemFromArray(items, 0))) cJSON_AddItemToArray(dst, it);
        cJSON_Delete(items);
        return;
    }
    cJSON *turn = cJSON_CreateObject();
    cJSON_AddStringToObject(turn, "role", role);
    cJSON_AddItemToObject(turn, field, items);
    cJSON_AddItemToArray(list, turn);
}

int prov_content_items(const cJSON *content, cJSON *out, const prov_content_ops *ops, char **err)
{
    if (cJSON_IsString(content)) {
        if (*content->valuestring) cJSON_AddItemToArray(out, ops->text(content->valuestring));
        return 0;
    }
    if (!content || cJSON_IsNull(content)) return 0;
    if (!cJSON_IsArray(content)) {
        prov_set_err(err, "message content must be a string or an array of parts");
        return -1;
    }
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        const char *type = prov_jstr(part, "type");
        if (od_str_eq(type, "text")) {
            const char *t = prov_jstr(part, "text");
            if (t && *t) cJSON_AddItemToArray(out, ops->text(t));
        } else if (od_str_eq(type, "image_url")) {
            const cJSON *iu = od_jget(part, "image_url");
            const char *url = cJSON_IsString(iu) ? iu->valuestring : prov_jstr(iu, "url");
            if (!url) {
                prov_set_err(err, "image_url part without a url");
                return -1;
            }
            cJSON *item = ops->image(url, err);
            if (!item) return -1;
            cJSON_AddItemToArray(out, item);
        } else {
            prov_set_err(err, "content part type '%s' is not supported by %s", type ? type : "?", ops->who);
            return -1;
        }
    }
    return 0;
}

cJSON *prov_completion(const char *id, const char *model, const od_buf *text, cJSON *calls,
                       const char *finish, const prov_usage *u)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "id", id);
    cJSON_AddStringToObject(r, "object", "chat.completion");
    cJSON_AddNumberToObject(r, "created", (double)prov_now_s());
    cJSON_AddStringToObject(r, "model", model);
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", 0);
    cJSON *msg = cJSON_AddObjectToObject(ch, "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    int ncalls = cJSON_GetArraySize(calls);
    if (text->len || !ncalls) cJSON_AddStringToObject(msg, "content", text->p ? text->p : "");
    else cJSON_AddNullToObject(msg, "content");
    if (ncalls) cJSON_AddItemToObject(msg, "tool_calls", calls);
    else cJSON_Delete(calls);
    cJSON_AddNullToObject(ch, "logprobs");
    cJSON_AddStringToObject(ch, "finish_reason", finish ? finish : "stop");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(r, "choices"), ch);
    cJSON_AddItemToObject(r, "usage", prov_usage_json(u));
    return r;
}
