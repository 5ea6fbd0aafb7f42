/* core/config.c — odock.json: ${ENV} interpolation, then validation into
 * od_config with errors that name the field path. */
#include "config.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <math.h>

typedef struct cfg_ctx {
    od_buf errs;
    int nerr;
} cfg_ctx;

static void cfg_err(cfg_ctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void cfg_err(cfg_ctx *c, const char *path, const char *fmt, ...)
{
    if (c->nerr >= 50) return; /* enough to fix a file; keep the output readable */
    va_list ap;
    va_start(ap, fmt);
    od_buf_printf(&c->errs, "%s: ", path && *path ? path : "(top level)");
    od_buf_vprintf(&c->errs, fmt, ap);
    od_buf_putc(&c->errs, '\n');
    va_end(ap);
    c->nerr++;
}

/* ---- actions ---- */

const char *od_action_name(od_action a)
{
    switch (a) {
    case OD_ACT_OFF: return "off";
    case OD_ACT_FLAG: return "flag";
    case OD_ACT_MASK: return "mask";
    case OD_ACT_BLOCK: return "block";
    }
    return "off";
}

int od_action_parse(const char *s, od_action *out)
{
    static const od_action all[] = {OD_ACT_OFF, OD_ACT_FLAG, OD_ACT_MASK, OD_ACT_BLOCK};
    for (size_t i = 0; i < OD_ARRAY_LEN(all); i++)
        if (od_str_eq(s, od_action_name(all[i]))) {
            *out = all[i];
            return 0;
        }
    return -1;
}

/* ---- ${VAR} and ${VAR:-default} ---- */

static char *interpolate(cfg_ctx *c, const char *path, const char *s)
{
    od_buf out = {0};
    const char *p = s;
    while (*p) {
        if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            if (!end) {
                cfg_err(c, path, "unterminated ${ in \"%s\"", s);
                break;
            }
            char name[128];
            size_t n = (size_t)(end - (p + 2));
            if (n == 0 || n >= sizeof name) {
                cfg_err(c, path, "bad variable reference");
                break;
            }
            memcpy(name, p + 2, n);
            name[n] = '\0';
            const char *def = NULL;
            char *colon = strstr(name, ":-");
            if (colon) {
                *colon = '\0';
                def = colon + 2;
            }
            const char *val = getenv(name);
            if (!val || !*val) val = def;
            if (val) od_buf_puts(&out, val);
            /* unset without default: empty. Providers then report "no API
             * key" at call time; config check lists them. */
            p = end + 1;
        } else {
            od_buf_putc(&out, *p++);
        }
    }
    return od_buf_take(&out);
}

static void interpolate_tree(cfg_ctx *c, cJSON *node, const char *path, int depth)
{
    if (depth > 32) return;
    char sub[512];
    if (cJSON_IsString(node) && strstr(node->valuestring, "${")) {
        char *v = interpolate(c, path, node->valuestring);
        cJSON_SetValuestring(node, v);
        free(v);
        return;
    }
    int i = 0;
    for (cJSON *ch = node->child; ch; ch = ch->next, i++) {
        if (cJSON_IsArray(node))
            snprintf(sub, sizeof sub, "%s[%d]", path, i);
        else
            snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", ch->string ? ch->string : "");
        interpolate_tree(c, ch, sub, depth + 1);
    }
}

/* ---- typed field access with path-naming errors ---- */

static void field_path(char *out, size_t n, const char *path, const char *name)
{
    snprintf(out, n, "%s%s%s", path, *path ? "." : "", name);
}

/* Errors on fields not in allowed; returns 0 when obj is an object. */
static int check_object(cfg_ctx *c, const cJSON *obj, const char *path, const char *const *allowed)
{
    if (!cJSON_IsObject(obj)) {
        cfg_err(c, path, "expected an object");
        return -1;
    }
    for (const cJSON *ch = obj->child; ch; ch = ch->next) {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            if (!strcmp(*a, ch->string)) ok = 1;
        if (!ok) {
            char fp[512];
            field_path(fp, sizeof fp, path, ch->string);
            cfg_err(c, fp, "unknown field");
        }
    }
    return 0;
}

static char *get_str(cfg_ctx *c, const cJSON *obj, const char *name, const char *path,
                     int required, const char *def)
{
    char fp[512];
    field_path(fp, sizeof fp, path, name);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v)) {
        if (required) cfg_err(c, fp, "missing (required)");
        return od_strdup(def);
    }
    if (!cJSON_IsString(v)) {
        cfg_err(c, fp, "expected a string");
        return od_strdup(def);
    }
    if (required && !*v->valuestring) cfg_err(c, fp, "must not be empty");
    return od_strdup(v->valuestring);
}

static int64_t get_int(cfg_ctx *c, const cJSON *obj, const char *name, const char *path,
                       int64_t def, int64_t min, int64_t max)
{
    char fp[512];
    field_path(fp, sizeof fp, path, name);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v) return def;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble)) {
        cfg_err(c, fp, "expected a whole number");
        return def;
    }
    if (v->valuedouble < (double)min || v->valuedouble > (double)max) {
        cfg_err(c, fp, "must be between %lld and %lld", (long long)min, (long long)max);
        return def;
    }
    return (int64_t)v->valuedouble;
}

static int get_bool(cfg_ctx *c, const cJSON *obj, const char *name, const char *path, int def)
{
    char fp[512];
    field_path(fp, sizeof fp, path, name);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v) return def;
    if (!cJSON_IsBool(v)) {
        cfg_err(c, fp, "expected true or false");
        return def;
    }
    return cJSON_IsTrue(v);
}

/* Dollars as a JSON number or string ("2.50") -> micros. JSON numbers come to
 * us as doubles: we print them with 6 decimals and parse that text, so the
 * conversion is exact for every amount with at most 6 decimals. */
static int64_t get_money(cfg_ctx *c, const cJSON *obj, const char *name, const char *path,
                         int64_t def)
{
    char fp[512];
    field_path(fp, sizeof fp, path, name);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v) return def;
    char text[64];
    if (cJSON_IsNumber(v)) {
        if (v->valuedouble < 0 || v->valuedouble > 1e9) {
            cfg_err(c, fp, "expected an amount of dollars between 0 and 1000000000");
            return def;
        }
        snprintf(text, sizeof text, "%.6f", v->valuedouble);
    } else if (cJSON_IsString(v)) {
        od_strlcpy(text, v->valuestring, sizeof text);
    } else {
        cfg_err(c, fp, "expected an amount of dollars");
        return def;
    }
    int64_t m;
    if (od_money_parse(text, &m) != 0) {
        cfg_err(c, fp, "expected an amount of dollars with at most 6 decimals, got \"%s\"", text);
        return def;
    }
    return m;
}

static const cJSON *get_array(cfg_ctx *c, const cJSON *obj, const char *name, const char *path)
{
    char fp[512];
    field_path(fp, sizeof fp, path, name);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v)) return NULL;
    if (!cJSON_IsArray(v)) {
        cfg_err(c, fp, "expected an array");
        return NULL;
    }
    return v;
}

static char **get_str_array(cfg_ctx *c, const cJSON *obj, const char *name, const char *path, int *n)
{
    *n = 0;
    const cJSON *arr = get_array(c, obj, name, path);
    if (!arr) return NULL;
    int cnt = cJSON_GetArraySize(arr);
    char **out = od_calloc((size_t)cnt + 1, sizeof *out);
    int i = 0;
    for (const cJSON *v = arr->child; v; v = v->next, i++) {
        if (!cJSON_IsString(v)) {
            char fp[512];
            snprintf(fp, sizeof fp, "%s%s%s[%d]", path, *path ? "." : "", name, i);
            cfg_err(c, fp, "expected a string");
            continue;
        }
        out[(*n)++] = od_strdup(v->valuestring);
    }
    return out;
}

static od_kv *get_kv(cfg_ctx *c, const cJSON *obj, const char *name, const char *path, int *n)
{
    *n = 0;
    char fp[512];
    field_path(fp, sizeof fp, path, name);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v)) return NULL;
    if (!cJSON_IsObject(v)) {
        cfg_err(c, fp, "expected an object of strings");
        return NULL;
    }
    od_kv *out = od_calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof *out);
    for (const cJSON *ch = v->child; ch; ch = ch->next) {
        if (!cJSON_IsString(ch)) {
            char sub[600];
            field_path(sub, sizeof sub, fp, ch->string);
            cfg_err(c, sub, "expected a string");
            continue;
        }
        out[*n].key = od_strdup(ch->string);
        out[*n].value = od_strdup(ch->valuestring);
        (*n)++;
    }
    return out;
}

static int one_of(cfg_ctx *c, const char *val, const char *fp, const char *const *options)
{
    if (!val) return -1;
    for (const char *const *o = options; *o; o++)
        if (!strcmp(*o, val)) return (int)(o - options);
    od_buf list = {0};
    for (const char *const *o = options; *o; o++) od_buf_printf(&list, "%s%s", o == options ? "" : ", ", *o);
    cfg_err(c, fp, "\"%s\" is not one of %s", val, list.p);
    od_buf_free(&list);
    return -1;
}

static int is_name(const char *s)
{
    if (!s || !*s) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return 0;
    return 1;
}

/* ---- sections ---- */

static const char *const PROVIDER_TYPES[] = {"openai", "openai-compatible", "azure", "anthropic",
                                             "gemini", "mock", NULL};

static void parse_providers(cfg_ctx *c, od_config *cfg, const cJSON *root)
{
    const cJSON *arr = get_array(c, root, "providers", "");
    if (!arr) return;
    cfg->providers = od_calloc((size_t)cJSON_GetArraySize(arr), sizeof *cfg->providers);
    static const char *const fields[] = {"name", "type", "base_url", "api_key", "api_version",
                                         "headers", "timeout_ms", "connect_timeout_ms",
                                         "max_retries", NULL};
    int i = 0;
    for (const cJSON *o = arr->child; o; o = o->next, i++) {
        char path[64], fp[96];
        snprintf(path, sizeof path, "providers[%d]", i);
        if (check_object(c, o, path, fields) != 0) continue;
        od_provider_cfg *p = &cfg->providers[cfg->nproviders++];
        p->name = get_str(c, o, "name", path, 1, NULL);
        p->type = get_str(c, o, "type", path, 1, NULL);
        p->base_url = get_str(c, o, "base_url", path, 0, NULL);
        p->api_key = get_str(c, o, "api_key", path, 0, NULL);
        p->api_version = get_str(c, o, "api_version", path, 0, NULL);
        p->headers = get_kv(c, o, "headers", path, &p->nheaders);
        p->timeout_ms = (int)get_int(c, o, "timeout_ms", path, 600000, 1, 3600000);
        p->connect_timeout_ms = (int)get_int(c, o, "connect_timeout_ms", path, 10000, 1, 600000);
        p->max_retries = (int)get_int(c, o, "max_retries", path, 2, 0, 10);
        snprintf(fp, sizeof fp, "%s.type", path);
        int t = one_of(c, p->type, fp, PROVIDER_TYPES);
        snprintf(fp, sizeof fp, "%s.name", path);
        if (p->name && *p->name && !is_name(p->name))
            cfg_err(c, fp, "use letters, digits, '-', '_' and '.' only");
        for (int j = 0; j < cfg->nproviders - 1; j++)
            if (od_str_eq(cfg->providers[j].name, p->name))
                cfg_err(c, fp, "duplicate provider name \"%s\"", p->name);
        snprintf(fp, sizeof fp, "%s.base_url", path);
        if (p->base_url && strncmp(p->base_url, "http://", 7) && strncmp(p->base_url, "https://", 8))
            cfg_err(c, fp, "expected an http:// or https:// URL");
        if ((t == 1 || t == 2) && !p->base_url)
            cfg_err(c, fp, "missing (required for type %s)", p->type);
        snprintf(fp, sizeof fp, "%s.api_version", path);
        if (t == 2 && !p->api_version) p->api_version = od_strdup("2024-10-21");
        if (p->api_key && !*p->api_key) {
            free(p->api_key);
            p->api_key = NULL;
        }
    }
}

static const char *const STRATEGIES[] = {"failover", "weighted", "least-busy", "lowest-latency", NULL};

static void parse_models(cfg_ctx *c, od_config *cfg, const cJSON *root)
{
    const cJSON *arr = get_array(c, root, "models", "");
    if (!arr) return;
    cfg->models = od_calloc((size_t)cJSON_GetArraySize(arr), sizeof *cfg->models);
    static const char *const fields[] = {"name", "strategy", "deployments", NULL};
    static const char *const dfields[] = {"provider", "model", "weight", "priority", NULL};
    int i = 0;
    for (const cJSON *o = arr->child; o; o = o->next, i++) {
        char path[64], fp[256];
        snprintf(path, sizeof path, "models[%d]", i);
        if (check_object(c, o, path, fields) != 0) continue;
        od_model_cfg *m = &cfg->models[cfg->nmodels++];
        m->name = get_str(c, o, "name", path, 1, NULL);
        m->strategy = get_str(c, o, "strategy", path, 0, "failover");
        snprintf(fp, sizeof fp, "%s.strategy", path);
        one_of(c, m->strategy, fp, STRATEGIES);
        for (int j = 0; j < cfg->nmodels - 1; j++)
            if (od_str_eq(cfg->models[j].name, m->name)) {
                snprintf(fp, sizeof fp, "%s.name", path);
                cfg_err(c, fp, "duplicate model name \"%s\"", m->name);
            }
        const cJSON *deps = get_array(c, o, "deployments", path);
        snprintf(fp, sizeof fp, "%s.deployments", path);
        if (!deps || cJSON_GetArraySize(deps) == 0) {
            cfg_err(c, fp, "needs at least one deployment");
            continue;
        }
        m->deployments = od_calloc((size_t)cJSON_GetArraySize(deps), sizeof *m->deployments);
        int k = 0;
        for (const cJSON *d = deps->child; d; d = d->next, k++) {
            char dp[128];
            snprintf(dp, sizeof dp, "%s.deployments[%d]", path, k);
            if (check_object(c, d, dp, dfields) != 0) continue;
            od_deploy_cfg *dc = &m->deployments[m->ndeployments++];
            dc->provider = get_str(c, d, "provider", dp, 1, NULL);
            dc->model = get_str(c, d, "model", dp, 1, NULL);
            dc->weight = (int)get_int(c, d, "weight", dp, 1, 0, 1000000);
            dc->priority = (int)get_int(c, d, "priority", dp, k, 0, 1000000);
            if (dc->provider && *dc->provider && !od_config_provider(cfg, dc->provider)) {
                snprintf(fp, sizeof fp, "%s.provider", dp);
                cfg_err(c, fp, "no provider named \"%s\"", dc->provider);
            }
        }
    }
}

static void parse_price(cfg_ctx *c, const cJSON *o, const char *path, od_price_cfg *p)
{
    static const char *const fields[] = {"input", "output", "cached_input", NULL};
    if (check_object(c, o, path, fields) != 0) return;
    /* USD per million tokens -> micro-dollars per million tokens */
    p->input = get_money(c, o, "input", path, 0);
    p->output = get_money(c, o, "output", path, 0);
    p->cached_input = get_money(c, o, "cached_input", path, -1);
}

static void parse_prices(cfg_ctx *c, od_config *cfg, const cJSON *root)
{
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(root, "prices");
    if (!obj || cJSON_IsNull(obj)) return;
    if (!cJSON_IsObject(obj)) {
        cfg_err(c, "prices", "expected an object of model -> {input, output}");
        return;
    }
    cfg->prices = od_calloc((size_t)cJSON_GetArraySize(obj), sizeof *cfg->prices);
    for (const cJSON *o = obj->child; o; o = o->next) {
        char path[300];
        snprintf(path, sizeof path, "prices.%s", o->string);
        od_price_cfg *p = &cfg->prices[cfg->nprices++];
        p->model = od_strdup(o->string);
        parse_price(c, o, path, p);
    }
}

static const char *const TRANSPORTS[] = {"stdio", "http", "sse", "websocket", NULL};

static void parse_mcp(cfg_ctx *c, od_config *cfg, const cJSON *root)
{
    const cJSON *arr = get_array(c, root, "mcp_servers", "");
    if (!arr) return;
    cfg->mcp_servers = od_calloc((size_t)cJSON_GetArraySize(arr), sizeof *cfg->mcp_servers);
    static const char *const fields[] = {"name", "transport", "command", "args", "env", "cwd",
                                         "url", "headers", "prefix", "price", "timeout_ms", NULL};
    int i = 0;
    for (const cJSON *o = arr->child; o; o = o->next, i++) {
        char path[64], fp[96];
        snprintf(path, sizeof path, "mcp_servers[%d]", i);
        if (check_object(c, o, path, fields) != 0) continue;
        od_mcp_cfg *m = &cfg->mcp_servers[cfg->nmcp_servers++];
        m->name = get_str(c, o, "name", path, 1, NULL);
        m->transport = get_str(c, o, "transport", path, 0, "stdio");
        m->command = get_str(c, o, "command", path, 0, NULL);
        m->args = get_str_array(c, o, "args", path, &m->nargs);
        m->env = get_kv(c, o, "env", path, &m->nenv);
        m->cwd = get_str(c, o, "cwd", path, 0, NULL);
        m->url = get_str(c, o, "url", path, 0, NULL);
        m->headers = get_kv(c, o, "headers", path, &m->nheaders);
        m->prefix = get_bool(c, o, "prefix", path, 1);
        m->price_micros = get_money(c, o, "price", path, 0);
        m->timeout_ms = (int)get_int(c, o, "timeout_ms", path, 60000, 1, 3600000);
        snprintf(fp, sizeof fp, "%s.name", path);
        /* server names become tool prefixes ("name__tool"): keep them clean */
        if (m->name && *m->name && (!is_name(m->name) || strchr(m->name, '.') || strstr(m->name, "__")))
            cfg_err(c, fp, "use letters, digits, '-' and single '_' only");
        for (int j = 0; j < cfg->nmcp_servers - 1; j++)
            if (od_str_eq(cfg->mcp_servers[j].name, m->name))
                cfg_err(c, fp, "duplicate MCP server name \"%s\"", m->name);
        snprintf(fp, sizeof fp, "%s.transport", path);
        int t = one_of(c, m->transport, fp, TRANSPORTS);
        if (t == 0 && !m->command) {
            snprintf(fp, sizeof fp, "%s.command", path);
            cfg_err(c, fp, "missing (required for transport stdio)");
        }
        if (t > 0 && !m->url) {
            snprintf(fp, sizeof fp, "%s.url", path);
            cfg_err(c, fp, "missing (required for transport %s)", m->transport);
        }
    }
}

static void parse_action(cfg_ctx *c, const cJSON *o, const char *name, const char *path,
                         od_action *out)
{
    char fp[512];
    field_path(fp, sizeof fp, path, name);
    char *s = get_str(c, o, name, path, 0, NULL);
    if (s && od_action_parse(s, out) != 0) cfg_err(c, fp, "\"%s\" is not one of block, mask, flag, off", s);
    free(s);
}

static const char *const DETECTORS[] = {
    "email", "phone", "card", "iban", "ssn", "ip",
    "aws_key", "openai_key", "anthropic_key", "github_token", "jwt", "private_key", "stripe_key",
    "slack_token", "google_api_key", "high_entropy",
    NULL};

static void parse_family(cfg_ctx *c, od_guard_cfg *g, const cJSON *root, const char *family,
                         od_action *action)
{
    char path[64];
    snprintf(path, sizeof path, "guardrails.%s", family);
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, family);
    if (!o) return;
    static const char *const fields[] = {"action", "detectors", "threshold", NULL};
    if (check_object(c, o, path, fields) != 0) return;
    parse_action(c, o, "action", path, action);
    if (!strcmp(family, "injection"))
        g->injection_threshold = (int)get_int(c, o, "threshold", path, g->injection_threshold, 1, 100000);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "detectors");
    if (!d) return;
    char dp[96];
    snprintf(dp, sizeof dp, "%s.detectors", path);
    if (!cJSON_IsObject(d)) {
        cfg_err(c, dp, "expected an object of detector -> action");
        return;
    }
    g->detectors = od_realloc(g->detectors, ((size_t)g->ndetectors + (size_t)cJSON_GetArraySize(d)) *
                                                sizeof *g->detectors);
    for (const cJSON *ch = d->child; ch; ch = ch->next) {
        char fp[300];
        field_path(fp, sizeof fp, dp, ch->string);
        if (one_of(c, ch->string, fp, DETECTORS) < 0) continue;
        od_action a;
        if (!cJSON_IsString(ch) || od_action_parse(ch->valuestring, &a) != 0) {
            cfg_err(c, fp, "expected one of block, mask, flag, off");
            continue;
        }
        od_detector_cfg *dc = NULL;
        for (int k = 0; k < g->ndetectors; k++)
            if (!strcmp(g->detectors[k].name, ch->string)) dc = &g->detectors[k];
        if (!dc) {
            dc = &g->detectors[g->ndetectors++];
            dc->name = od_strdup(ch->string);
        }
        dc->action = a;
    }
}

static const char *const WHERE[] = {"input", "output", "tool_args", "tool_results", NULL};

static void parse_guardrails(cfg_ctx *c, od_config *cfg, const cJSON *root)
{
    od_guard_cfg *g = &cfg->guardrails;
    g->pii = OD_ACT_MASK;
    g->secrets = OD_ACT_BLOCK;
    g->injection = OD_ACT_BLOCK;
    g->injection_threshold = 100;
    /* IP addresses are everywhere in ordinary logs and configs: flag them
     * rather than mask them, unless the config says otherwise */
    g->detectors = od_calloc(1, sizeof *g->detectors);
    g->detectors[0].name = od_strdup("ip");
    g->detectors[0].action = OD_ACT_FLAG;
    g->ndetectors = 1;
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, "guardrails");
    if (!o || cJSON_IsNull(o)) return;
    static const char *const fields[] = {"pii", "secrets", "injection", "rules", NULL};
    if (check_object(c, o, "guardrails", fields) != 0) return;
    parse_family(c, g, o, "pii", &g->pii);
    parse_family(c, g, o, "secrets", &g->secrets);
    parse_family(c, g, o, "injection", &g->injection);
    const cJSON *rules = get_array(c, o, "rules", "guardrails");
    if (!rules) return;
    g->rules = od_calloc((size_t)cJSON_GetArraySize(rules), sizeof *g->rules);
    static const char *const rfields[] = {"name", "pattern", "action", "applies_to", "keys", "teams", NULL};
    int i = 0;
    for (const cJSON *r = rules->child; r; r = r->next, i++) {
        char path[64];
        snprintf(path, sizeof path, "guardrails.rules[%d]", i);
        if (check_object(c, r, path, rfields) != 0) continue;
        od_rule_cfg *rc = &g->rules[g->nrules++];
        rc->name = get_str(c, r, "name", path, 1, NULL);
        rc->pattern = get_str(c, r, "pattern", path, 1, NULL);
        rc->action = OD_ACT_BLOCK;
        parse_action(c, r, "action", path, &rc->action);
        rc->keys = get_str_array(c, r, "keys", path, &rc->nkeys);
        rc->teams = get_str_array(c, r, "teams", path, &rc->nteams);
        int nw = 0;
        char **where = get_str_array(c, r, "applies_to", path, &nw);
        rc->applies_to = where ? 0 : (OD_WHERE_INPUT | OD_WHERE_TOOL_ARGS);
        for (int k = 0; k < nw; k++) {
            char fp[96];
            snprintf(fp, sizeof fp, "%s.applies_to[%d]", path, k);
            int w = one_of(c, where[k], fp, WHERE);
            if (w >= 0) rc->applies_to |= 1u << w;
            free(where[k]);
        }
        free(where);
    }
}

static void parse_router(cfg_ctx *c, od_config *cfg, const cJSON *root)
{
    static const char *const fields[] = {
#define NAME(name, def, min, max) #name,
        OD_ROUTER_FIELDS(NAME)
#undef NAME
        NULL};
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, "router");
    if (o && check_object(c, o, "router", fields) != 0) o = NULL;
#define FIELD(name, def, min, max) cfg->router.name = (int)get_int(c, o, #name, "router", def, min, max);
    OD_ROUTER_FIELDS(FIELD)
#undef FIELD
}

void od_router_env(od_router_cfg *r)
{
    char env[64];
    int64_t v;
#define ENV(name, def, min, max)                                               \
    do {                                                                       \
        snprintf(env, sizeof env, "ODOCK_%s", #name);                          \
        for (char *p = env; *p; p++) *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p); \
        const char *e = getenv(env);                                           \
        if (e && od_parse_i64(e, &v) == 0 && v >= (min) && v <= (max)) r->name = (int)v; \
    } while (0);
    OD_ROUTER_FIELDS(ENV)
#undef ENV
}

/* a list of strings -> "a,b,c" (the matchers take that form), NULL if empty */
static char *get_joined(cfg_ctx *c, const cJSON *obj, const char *name, const char *path)
{
    int n = 0;
    char **v = get_str_array(c, obj, name, path, &n);
    od_buf b = {0};
    for (int i = 0; i < n; i++) {
        if (!*v[i] || strchr(v[i], ',')) {
            char fp[128];
            snprintf(fp, sizeof fp, "%s.%s[%d]", path, name, i);
            cfg_err(c, fp, "expected a non-empty value without commas");
        }
        od_buf_printf(&b, "%s%s", i ? "," : "", v[i]);
        free(v[i]);
    }
    free(v);
    return b.len ? od_buf_take(&b) : (od_buf_free(&b), NULL);
}

static void parse_mcp_front(cfg_ctx *c, od_config *cfg, const cJSON *root)
{
    static const char *const fields[] = {"allowed_origins", "allowed_hosts", "session_idle_s", NULL};
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, "mcp");
    cfg->mcp.session_idle_s = 1800;
    if (!o || check_object(c, o, "mcp", fields) != 0) return;
    cfg->mcp.allowed_origins = get_joined(c, o, "allowed_origins", "mcp");
    cfg->mcp.allowed_hosts = get_joined(c, o, "allowed_hosts", "mcp");
    cfg->mcp.session_idle_s = (int)get_int(c, o, "session_idle_s", "mcp", 1800, 1, 30 * 86400);
}

static void parse_defaults(cfg_ctx *c, od_config *cfg, const cJSON *root)
{
    cfg->listen = get_str(c, root, "listen", "", 0, "127.0.0.1:8787");
    cfg->database = get_str(c, root, "database", "", 0, "./odock.db");
    cfg->max_body_bytes = get_int(c, root, "max_body_bytes", "", 10 * 1024 * 1024, 1024, 1LL << 30);
    cfg->workers = (int)get_int(c, root, "workers", "", 1, 0, OD_MAX_WORKERS);
    cfg->busy_poll_us = (int)get_int(c, root, "busy_poll_us", "", 0, 0, 1000000);
    cfg->default_max_output_tokens = get_int(c, root, "default_max_output_tokens", "", 4096, 1, 10000000);
    char *grant = get_str(c, root, "default_grant", "", 0, "allow");
    static const char *const grants[] = {"allow", "deny", NULL};
    cfg->default_grant_allow = one_of(c, grant, "default_grant", grants) != 1;
    free(grant);
    char *unpriced = get_str(c, root, "unpriced_models", "", 0, "default_price");
    static const char *const up[] = {"default_price", "deny", NULL};
    cfg->unpriced_deny = one_of(c, unpriced, "unpriced_models", up) == 1;
    free(unpriced);
    cfg->default_price.cached_input = -1;
    const cJSON *dp = cJSON_GetObjectItemCaseSensitive(root, "default_price");
    if (dp) parse_price(c, dp, "default_price", &cfg->default_price);
    const cJSON *tls = cJSON_GetObjectItemCaseSensitive(root, "tls");
    if (tls) {
        static const char *const tf[] = {"cert", "key", NULL};
        if (check_object(c, tls, "tls", tf) == 0) {
            cfg->tls_cert = get_str(c, tls, "cert", "tls", 1, NULL);
            cfg->tls_key = get_str(c, tls, "key", "tls", 1, NULL);
        }
    }
    const char *colon = cfg->listen ? strrchr(cfg->listen, ':') : NULL;
    int64_t port;
    if (!colon || od_parse_i64(colon + 1, &port) != 0 || port < 0 || port > 65535)
        cfg_err(c, "listen", "expected HOST:PORT, got \"%s\"", cfg->listen ? cfg->listen : "");
}

od_config *od_config_parse(const char *json, const char *path, char **errors)
{
    cfg_ctx c = {0};
    od_config *cfg = od_calloc(1, sizeof *cfg);
    cfg->path = od_strdup(path);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
    if (!root) {
        /* point at the line of the syntax error */
        int line = 1;
        for (const char *p = json; end && p < end; p++) line += *p == '\n';
        cfg_err(&c, "", "not valid JSON (near line %d)", line);
        goto done;
    }
    static const char *const top[] = {"listen", "database", "providers", "models", "prices",
                                      "mcp_servers", "guardrails", "tls", "max_body_bytes", "workers", "busy_poll_us",
                                      "default_grant", "unpriced_models", "default_price",
                                      "default_max_output_tokens", "router", "mcp", NULL};
    if (check_object(&c, root, "", top) != 0) goto done;
    interpolate_tree(&c, root, "", 0);
    parse_defaults(&c, cfg, root);
    parse_providers(&c, cfg, root);
    parse_models(&c, cfg, root);
    parse_prices(&c, cfg, root);
    parse_mcp(&c, cfg, root);
    parse_guardrails(&c, cfg, root);
    parse_router(&c, cfg, root);
    parse_mcp_front(&c, cfg, root);
done:
    cJSON_Delete(root);
    if (c.nerr) {
        od_config_free(cfg);
        if (errors) *errors = od_buf_take(&c.errs);
        else od_buf_free(&c.errs);
        return NULL;
    }
    od_buf_free(&c.errs);
    if (errors) *errors = NULL;
    return cfg;
}

const char *od_config_default_json(void)
{
    /* mock always; real providers only when their key variable is set */
    static char text[2048];
    od_buf b = {0};
    od_buf_puts(&b, "{\n  \"listen\": \"127.0.0.1:8787\",\n  \"database\": \"./odock.db\",\n"
                    "  \"providers\": [\n    {\"name\": \"mock\", \"type\": \"mock\"}");
    static const struct { const char *env, *name, *type; } known[] = {
        {"OPENAI_API_KEY", "openai", "openai"},
        {"ANTHROPIC_API_KEY", "anthropic", "anthropic"},
        {"GEMINI_API_KEY", "gemini", "gemini"},
    };
    for (size_t i = 0; i < OD_ARRAY_LEN(known); i++) {
        const char *v = getenv(known[i].env);
        if (v && *v)
            od_buf_printf(&b, ",\n    {\"name\": \"%s\", \"type\": \"%s\", \"api_key\": \"${%s}\"}",
                          known[i].name, known[i].type, known[i].env);
    }
    od_buf_puts(&b, "\n  ]\n}\n");
    od_strlcpy(text, b.p, sizeof text);
    od_buf_free(&b);
    return text;
}

od_config *od_config_load(const char *path, char **errors)
{
    if (!path) return od_config_parse(od_config_default_json(), NULL, errors);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errors) {
            od_buf b = {0};
            od_buf_printf(&b, "%s: cannot open: %m\n", path);
            *errors = od_buf_take(&b);
        }
        return NULL;
    }
    od_buf text = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        od_buf_put(&text, chunk, n);
        if (text.len > 16 * 1024 * 1024) break;
    }
    fclose(f);
    if (text.len > 16 * 1024 * 1024) {
        od_buf_free(&text);
        if (errors) *errors = od_strdup("config file larger than 16 MiB\n");
        return NULL;
    }
    od_config *cfg = od_config_parse(text.p ? text.p : "", path, errors);
    od_buf_free(&text);
    return cfg;
}

static void kv_free(od_kv *kv, int n)
{
    for (int i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

static void strs_free(char **s, int n)
{
    for (int i = 0; i < n; i++) free(s[i]);
    free(s);
}

void od_config_free(od_config *cfg)
{
    if (!cfg) return;
    free(cfg->path);
    free(cfg->listen);
    free(cfg->database);
    free(cfg->tls_cert);
    free(cfg->tls_key);
    for (int i = 0; i < cfg->nproviders; i++) {
        od_provider_cfg *p = &cfg->providers[i];
        free(p->name);
        free(p->type);
        free(p->base_url);
        free(p->api_key);
        free(p->api_version);
        kv_free(p->headers, p->nheaders);
    }
    free(cfg->providers);
    for (int i = 0; i < cfg->nmodels; i++) {
        od_model_cfg *m = &cfg->models[i];
        free(m->name);
        free(m->strategy);
        for (int j = 0; j < m->ndeployments; j++) {
            free(m->deployments[j].provider);
            free(m->deployments[j].model);
        }
        free(m->deployments);
    }
    free(cfg->models);
    for (int i = 0; i < cfg->nprices; i++) free(cfg->prices[i].model);
    free(cfg->prices);
    for (int i = 0; i < cfg->nmcp_servers; i++) {
        od_mcp_cfg *m = &cfg->mcp_servers[i];
        free(m->name);
        free(m->transport);
        free(m->command);
        strs_free(m->args, m->nargs);
        kv_free(m->env, m->nenv);
        free(m->cwd);
        free(m->url);
        kv_free(m->headers, m->nheaders);
    }
    free(cfg->mcp_servers);
    od_guard_cfg *g = &cfg->guardrails;
    for (int i = 0; i < g->ndetectors; i++) free(g->detectors[i].name);
    free(g->detectors);
    for (int i = 0; i < g->nrules; i++) {
        od_rule_cfg *r = &g->rules[i];
        free(r->name);
        free(r->pattern);
        strs_free(r->keys, r->nkeys);
        strs_free(r->teams, r->nteams);
    }
    free(g->rules);
    free(cfg->mcp.allowed_origins);
    free(cfg->mcp.allowed_hosts);
    free(cfg);
}

const od_provider_cfg *od_config_provider(const od_config *cfg, const char *name)
{
    for (int i = 0; i < cfg->nproviders; i++)
        if (od_str_eq(cfg->providers[i].name, name)) return &cfg->providers[i];
    return NULL;
}

int od_config_needs_ws_tls(const od_config *cfg)
{
    for (int i = 0; cfg && i < cfg->nmcp_servers; i++) {
        const char *u = cfg->mcp_servers[i].url;
        if (u && !strncasecmp(u, "wss://", 6)) return 1;
    }
    return 0;
}

const od_model_cfg *od_config_model(const od_config *cfg, const char *name)
{
    for (int i = 0; i < cfg->nmodels; i++)
        if (od_str_eq(cfg->models[i].name, name)) return &cfg->models[i];
    return NULL;
}

const od_mcp_cfg *od_config_mcp(const od_config *cfg, const char *name)
{
    for (int i = 0; i < cfg->nmcp_servers; i++)
        if (od_str_eq(cfg->mcp_servers[i].name, name)) return &cfg->mcp_servers[i];
    return NULL;
}
