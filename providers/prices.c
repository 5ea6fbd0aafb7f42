/* providers/prices.c — the built-in price table (micro-dollars per million
 * tokens: $2.50/M is 2500000), config overrides, cost with round-up integer
 * math, and the conservative estimates budget holds are made of. No floats. */
#include "prov_int.h"

#include <string.h>

typedef struct price_row {
    const char *model;       /* matched exactly or as a prefix before '-', '@', ':' */
    int64_t in, cached, out; /* micro-dollars per 1M tokens; cached < 0: same as in */
    int64_t max_out;         /* maximum output tokens, 0 unknown */
} price_row;

/* Public list prices, standard tier, prompts under the long-context threshold. */
static const price_row prices[] = {
    /* OpenAI */
    {"gpt-5", 1250000, 125000, 10000000, 128000},
    {"gpt-5-mini", 250000, 25000, 2000000, 128000},
    {"gpt-5-nano", 50000, 5000, 400000, 128000},
    {"gpt-4.1", 2000000, 500000, 8000000, 32768},
    {"gpt-4.1-mini", 400000, 100000, 1600000, 32768},
    {"gpt-4.1-nano", 100000, 25000, 400000, 32768},
    {"gpt-4o", 2500000, 1250000, 10000000, 16384},
    {"gpt-4o-2024-05-13", 5000000, -1, 15000000, 4096},
    {"gpt-4o-mini", 150000, 75000, 600000, 16384},
    {"chatgpt-4o-latest", 5000000, -1, 15000000, 16384},
    {"gpt-4.5-preview", 75000000, 37500000, 150000000, 16384},
    {"gpt-4-turbo", 10000000, -1, 30000000, 4096},
    {"gpt-4", 30000000, -1, 60000000, 8192},
    {"gpt-3.5-turbo", 500000, -1, 1500000, 4096},
    {"o1", 15000000, 7500000, 60000000, 100000},
    {"o1-mini", 1100000, 550000, 4400000, 65536},
    {"o1-pro", 150000000, -1, 600000000, 100000},
    {"o3", 2000000, 500000, 8000000, 100000},
    {"o3-pro", 20000000, -1, 80000000, 100000},
    {"o3-mini", 1100000, 550000, 4400000, 100000},
    {"o4-mini", 1100000, 275000, 4400000, 100000},
    {"text-embedding-3-small", 20000, -1, 0, 0},
    {"text-embedding-3-large", 130000, -1, 0, 0},
    {"text-embedding-ada-002", 100000, -1, 0, 0},
    /* Anthropic: cached = cache read (0.1x); cache writes are charged on top
     * in prov_cost_micros */
    {"claude-3-haiku", 250000, 30000, 1250000, 4096},
    {"claude-3-opus", 15000000, 1500000, 75000000, 4096},
    {"claude-3-5-haiku", 800000, 80000, 4000000, 8192},
    {"claude-3-5-sonnet", 3000000, 300000, 15000000, 8192},
    {"claude-3-7-sonnet", 3000000, 300000, 15000000, 64000},
    {"claude-sonnet-4", 3000000, 300000, 15000000, 64000},
    {"claude-sonnet-4-5", 3000000, 300000, 15000000, 64000},
    {"claude-opus-4", 15000000, 1500000, 75000000, 32000},
    {"claude-opus-4-1", 15000000, 1500000, 75000000, 32000},
    {"claude-opus-4-5", 5000000, 500000, 25000000, 64000},
    {"claude-haiku-4-5", 1000000, 100000, 5000000, 64000},
    /* Google Gemini */
    {"gemini-2.5-pro", 1250000, 125000, 10000000, 65536},
    {"gemini-2.5-flash", 300000, 30000, 2500000, 65536},
    {"gemini-2.5-flash-lite", 100000, 10000, 400000, 65536},
    {"gemini-2.0-flash", 100000, 25000, 400000, 8192},
    {"gemini-2.0-flash-lite", 75000, -1, 300000, 8192},
    {"gemini-1.5-pro", 1250000, 312500, 5000000, 8192},
    {"gemini-1.5-flash", 75000, 18750, 300000, 8192},
    {"gemini-1.5-flash-8b", 37500, 10000, 150000, 8192},
    {"gemini-embedding-001", 150000, -1, 0, 0},
    {"text-embedding-004", 0, -1, 0, 0},
};

/* The mock: fixed and round, so tests can check cost to the micro-dollar:
 * 1 micro-dollar per prompt token, 2 per completion token. */
static const price_row mock_price = {"mock", 1000000, 500000, 2000000, 0};

static int boundary(char c)
{
    return c == '\0' || c == '-' || c == '@' || c == ':';
}

/* Exact match, else the longest table name that prefixes model at a
 * boundary ("gpt-4o-2024-08-06" -> "gpt-4o", "claude-3-5-haiku-latest"). */
static const price_row *find_row(const char *model)
{
    if (!model || !*model) return NULL;
    if (strncmp(model, "models/", 7) == 0) model += 7; /* Gemini resource names */
    const price_row *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < OD_ARRAY_LEN(prices); i++) {
        size_t n = strlen(prices[i].model);
        if (strncmp(model, prices[i].model, n) == 0 && boundary(model[n]) && n > best_len) {
            best = &prices[i];
            best_len = n;
        }
    }
    if (!best) {
        /* router-style names: "openai/gpt-4o", "anthropic/claude-sonnet-4" */
        const char *slash = strrchr(model, '/');
        if (slash && slash[1]) return find_row(slash + 1);
    }
    return best;
}

static void fill(const price_row *r, od_price_cfg *out)
{
    out->model = (char *)r->model; /* borrowed from the static table */
    out->input = r->in;
    out->output = r->out;
    out->cached_input = r->cached;
}

static int provider_is_mock(const od_config *cfg, const char *provider)
{
    if (!provider) return 0;
    for (int i = 0; cfg && i < cfg->nproviders; i++)
        if (od_str_eq(cfg->providers[i].name, provider))
            return od_str_eq(cfg->providers[i].type, "mock");
    return od_str_eq(provider, "mock");
}

static const od_price_cfg *config_price(const od_config *cfg, const char *name)
{
    for (int i = 0; cfg && name && i < cfg->nprices; i++)
        if (od_str_eq(cfg->prices[i].model, name)) return &cfg->prices[i];
    return NULL;
}

int prov_price_lookup(const od_config *cfg, const char *alias, const char *provider,
                      const char *model, od_price_cfg *out)
{
    const od_price_cfg *c = config_price(cfg, alias);
    if (!c && provider && model) {
        od_buf b = {0};
        od_buf_printf(&b, "%s/%s", provider, model);
        c = config_price(cfg, b.p);
        od_buf_free(&b);
    }
    if (!c) c = config_price(cfg, model);
    if (c) {
        *out = *c; /* out->model borrowed from cfg */
        return 0;
    }
    if (provider_is_mock(cfg, provider)) {
        fill(&mock_price, out);
        return 0;
    }
    /* the upstream name first; an alias helps Azure, whose deployment names are free-form */
    const price_row *r = find_row(model);
    if (!r) r = find_row(alias);
    if (!r) return -1;
    fill(r, out);
    return 0;
}

int64_t prov_max_output_tokens(const char *model)
{
    const price_row *r = find_row(model);
    return r ? r->max_out : 0;
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

int64_t prov_cost_micros(const od_price_cfg *price, const prov_usage *u)
{
    if (!price || !u) return 0;
    const int64_t big = (int64_t)1 << 50; /* tokens or prices beyond this are nonsense */
    int64_t prompt = clamp(u->prompt_tokens, 0, big);
    int64_t cached = clamp(u->cached_tokens, 0, prompt);
    int64_t write = clamp(u->cache_write_tokens, 0, prompt - cached);
    int64_t write1h = clamp(u->cache_write_1h_tokens, 0, write);
    int64_t completion = clamp(u->completion_tokens, 0, big);
    int64_t in = clamp(price->input, 0, big), out = clamp(price->output, 0, big);
    int64_t cin = price->cached_input >= 0 ? clamp(price->cached_input, 0, big) : in;
    /* in quarter-units: cache writes cost 1.25x input (5-minute TTL) or 2x (1 hour),
     * on top of the 1x already counted in prompt */
    __int128 q = (__int128)(prompt - cached) * in * 4 + (__int128)cached * cin * 4 +
                 (__int128)completion * out * 4 + (__int128)(write - write1h) * in +
                 (__int128)write1h * in * 4;
    const __int128 den = (__int128)4 * 1000000;
    __int128 cost = (q + den - 1) / den;
    return cost > INT64_MAX ? INT64_MAX : (int64_t)cost;
}

/* ---- estimates ---- */

/* Token estimate of text that is always above what real tokenizers count:
 * ASCII bytes / 3, other bytes / 2 (a CJK character, 3 bytes, as 1.5). */
static int64_t text_tokens(const char *s)
{
    if (!s) return 0;
    const uint64_t ones = 0x0101010101010101ULL;
    size_t n = strlen(s), other = 0, i = 0;
    /* eight bytes at a time: each byte's top bit moved to its low bit,
     * then summed by the multiply into the top byte (at most 8) */
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        other += (size_t)((((w >> 7) & ones) * ones) >> 56);
    }
    for (; i < n; i++) other += (unsigned char)s[i] >= 0x80;
    return (int64_t)((n - other + 2) / 3 + (other + 1) / 2);
}

static int64_t json_tokens(const cJSON *v)
{
    if (!v) return 0;
    char *s = cJSON_PrintUnformatted(v);
    int64_t t = text_tokens(s);
    cJSON_free(s);
    return t;
}

/* An image's tokens: OpenAI's high-detail tiles, Anthropic's ~1.15 MP cap and
 * Gemini's 258 all stay below 4000, except gpt-4o-mini's inflated count. */
static int64_t image_tokens(const cJSON *req)
{
    const char *model = prov_jstr(req, "model");
    return model && strstr(model, "4o-mini") ? 48200 : 4000;
}

int64_t prov_estimate_prompt_tokens(const cJSON *req)
{
    int64_t t = 3; /* the reply's priming */
    const cJSON *m, *part;
    cJSON_ArrayForEach(m, od_jget(req, "messages")) {
        t += 4 + text_tokens(prov_jstr(m, "role")) + text_tokens(prov_jstr(m, "name"));
        const cJSON *content = od_jget(m, "content");
        if (cJSON_IsString(content)) {
            t += text_tokens(content->valuestring);
        } else {
            cJSON_ArrayForEach(part, content) {
                const char *type = prov_jstr(part, "type");
                if (od_str_eq(type, "text")) t += text_tokens(prov_jstr(part, "text"));
                else if (od_str_eq(type, "image_url")) t += image_tokens(req);
                else t += json_tokens(part); /* audio, files: their encoded size bounds them */
            }
        }
        t += json_tokens(od_jget(m, "tool_calls"));
        t += text_tokens(prov_jstr(m, "tool_call_id"));
    }
    t += json_tokens(od_jget(req, "tools"));
    t += json_tokens(od_jget(req, "response_format"));
    /* embeddings requests: input is a string, strings, or token arrays */
    const cJSON *input = od_jget(req, "input");
    if (cJSON_IsString(input)) t += text_tokens(input->valuestring);
    const cJSON *inputs = cJSON_IsArray(input) ? input : NULL;
    cJSON_ArrayForEach(part, inputs) {
        if (cJSON_IsString(part)) t += text_tokens(part->valuestring);
        else if (cJSON_IsNumber(part)) t += 1;
        else if (cJSON_IsArray(part)) t += cJSON_GetArraySize(part);
    }
    return t;
}

/* Anthropic Messages request: text blocks by their text, images at the
 * same 4000 as above, anything else (documents, thinking, tool blocks) by
 * its encoded size, which bounds it from above. */
static int64_t anthropic_content_tokens(const cJSON *content)
{
    if (cJSON_IsString(content)) return text_tokens(content->valuestring);
    int64_t t = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, content) {
        const char *type = prov_jstr(b, "type");
        if (od_str_eq(type, "text")) t += text_tokens(prov_jstr(b, "text"));
        else if (od_str_eq(type, "image")) t += 4000;
        else if (od_str_eq(type, "tool_result")) {
            const cJSON *c = od_jget(b, "content");
            t += 8 + (cJSON_IsArray(c) ? anthropic_content_tokens(c) : text_tokens(cJSON_IsString(c) ? c->valuestring : NULL));
        } else t += json_tokens(b);
    }
    return t;
}

int64_t prov_anthropic_estimate_prompt_tokens(const cJSON *areq)
{
    int64_t t = 3;
    t += anthropic_content_tokens(od_jget(areq, "system"));
    const cJSON *m;
    cJSON_ArrayForEach(m, od_jget(areq, "messages")) {
        t += 4 + anthropic_content_tokens(od_jget(m, "content"));
    }
    t += json_tokens(od_jget(areq, "tools"));
    t += json_tokens(od_jget(areq, "tool_choice"));
    return t;
}
