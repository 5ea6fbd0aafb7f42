/* core/config.h — odock.json, parsed and validated into plain structs.
 * Every string is owned by the od_config and freed by od_config_free. */
#ifndef OD_CONFIG_H
#define OD_CONFIG_H

#include <stdint.h>
#include "od.h"

typedef enum { OD_ACT_OFF = 0, OD_ACT_FLAG, OD_ACT_MASK, OD_ACT_BLOCK } od_action;
const char *od_action_name(od_action a);
int od_action_parse(const char *s, od_action *out); /* 0 ok, -1 unknown */

/* where a guardrail rule applies (bit set) */
enum {
    OD_WHERE_INPUT = 1,
    OD_WHERE_OUTPUT = 2,
    OD_WHERE_TOOL_ARGS = 4,
    OD_WHERE_TOOL_RESULTS = 8,
};

typedef struct od_kv {
    char *key, *value;
} od_kv;

typedef struct od_provider_cfg {
    char *name;
    char *type;        /* openai | openai-compatible | azure | anthropic | gemini | mock */
    char *base_url;    /* NULL: the provider's default */
    char *api_key;     /* interpolated secret; NULL when none; never log */
    char *api_version; /* azure */
    od_kv *headers;    /* extra upstream headers */
    int nheaders;
    int timeout_ms;    /* whole request; default 600000 */
    int connect_timeout_ms; /* default 10000 */
    int max_retries;   /* per deployment; default 2 */
} od_provider_cfg;

typedef struct od_deploy_cfg {
    char *provider;
    char *model;
    int weight;   /* default 1 */
    int priority; /* lower first; default: position in the list */
} od_deploy_cfg;

typedef struct od_model_cfg {
    char *name;
    char *strategy; /* failover | weighted | least-busy | lowest-latency */
    od_deploy_cfg *deployments;
    int ndeployments;
} od_model_cfg;

typedef struct od_price_cfg {
    char *model;
    /* micro-dollars per million tokens: $2.50/M is 2500000 */
    int64_t input, output, cached_input; /* cached_input < 0: not given */
} od_price_cfg;

typedef struct od_mcp_cfg {
    char *name;
    char *transport; /* stdio | http | sse | websocket */
    char *command;
    char **args;
    int nargs;
    od_kv *env;
    int nenv;
    char *cwd;
    char *url;
    od_kv *headers;
    int nheaders;
    int prefix;            /* 1 (default): tools are exposed as name__tool */
    int64_t price_micros;  /* flat price per tools/call; 0 = free */
    int timeout_ms;        /* per request; default 60000 */
} od_mcp_cfg;

typedef struct od_rule_cfg {
    char *name;
    char *pattern;     /* PCRE2; a leading (?i) is honoured by PCRE2 itself */
    od_action action;
    unsigned applies_to; /* OD_WHERE_* bits; default input|tool_args */
    char **keys;  int nkeys;  /* limit to these key ids/names; none = all */
    char **teams; int nteams;
} od_rule_cfg;

typedef struct od_detector_cfg {
    char *name;       /* email, phone, card, iban, ssn, ip, aws_key, ... */
    od_action action;
} od_detector_cfg;

typedef struct od_guard_cfg {
    od_action pii;        /* default mask */
    od_action secrets;    /* default block */
    od_action injection;  /* default block */
    int injection_threshold; /* score at which injection triggers; default 100 */
    od_detector_cfg *detectors; /* per-detector overrides, for pii and secrets */
    int ndetectors;
    od_rule_cfg *rules;
    int nrules;
} od_guard_cfg;

/* Routing and timeout tunables: name, default, min, max. One list serves the
 * struct, the config parser ("router": {...}) and the ODOCK_<NAME>
 * environment overrides. */
#define OD_ROUTER_FIELDS(X)                                  \
    X(breaker_failures, 5, 1, 1000)                          \
    X(breaker_cooldown_ms, 30000, 1, 3600000)                \
    X(retry_base_ms, 250, 1, 60000)                          \
    X(retry_max_ms, 10000, 1, 600000)                        \
    X(ttft_timeout_ms, 60000, 0, 3600000)                    \
    X(stream_idle_ms, 120000, 0, 3600000)                    \
    X(max_attempts, 8, 1, 100)                               \
    X(header_timeout_s, 30, 1, 3600)                         \
    X(drain_timeout_ms, 30000, 0, 3600000)                   \
    X(client_stall_ms, 60000, 1000, 3600000)                 \
    X(request_timeout_ms, 600000, 100, 86400000)

typedef struct od_router_cfg {
#define OD_ROUTER_FIELD(name, def, min, max) int name;
    OD_ROUTER_FIELDS(OD_ROUTER_FIELD)
#undef OD_ROUTER_FIELD
} od_router_cfg;

/* Applies ODOCK_<NAME> environment overrides (in range) to r. */
void od_router_env(od_router_cfg *r);

/* MCP over HTTP on odock serve ("mcp": {...}); ODOCK_MCP_* env overrides. */
typedef struct od_mcp_front_cfg {
    char *allowed_origins; /* comma-separated origins allowed besides loopback; NULL none */
    char *allowed_hosts;   /* comma-separated Host names allowed on a loopback listener */
    int session_idle_s;    /* idle sessions end after this; default 1800 */
} od_mcp_front_cfg;

#define OD_MAX_WORKERS 64 /* = POL_MAX_WORKERS */

typedef struct od_config {
    char *path;        /* file it came from; NULL = embedded default */
    char *listen;      /* "127.0.0.1:8787" */
    char *database;    /* "./odock.db" */
    char *tls_cert, *tls_key;
    int64_t max_body_bytes;   /* default 10 MiB */
    int workers;              /* odock serve processes; 0 = one per core; default 1 */
    int busy_poll_us;         /* loop polls without sleeping this long after I/O; default 0 = off */
    int default_grant_allow;  /* no grant configured: 1 allow all (default), 0 deny all */
    int unpriced_deny;        /* model with no price: 1 deny (default 0: charge default_price) */
    od_price_cfg default_price; /* used for unpriced models when !unpriced_deny; default 0 */
    int64_t default_max_output_tokens; /* worst case when the caller gives no max_tokens; default 4096 */
    od_provider_cfg *providers; int nproviders;
    od_model_cfg *models;       int nmodels;
    od_price_cfg *prices;       int nprices;
    od_mcp_cfg *mcp_servers;    int nmcp_servers;
    od_guard_cfg guardrails;
    od_router_cfg router;
    od_mcp_front_cfg mcp;
} od_config;

/* Loads path (NULL: the embedded default). On error returns NULL and fills
 * *errors with one line per problem, each naming the field path
 * ("providers[2].base_url: expected a string"); the caller frees *errors. */
od_config *od_config_load(const char *path, char **errors);
/* Same, from a JSON text (path only used in messages). */
od_config *od_config_parse(const char *json, const char *path, char **errors);
void od_config_free(od_config *cfg);

/* The embedded default as JSON text. */
const char *od_config_default_json(void);

const od_provider_cfg *od_config_provider(const od_config *cfg, const char *name);
const od_model_cfg *od_config_model(const od_config *cfg, const char *name);
/* Whether some MCP upstream is reached over TLS by the WebSocket client
 * (wss://): only then does the event loop need the OS CA store. */
int od_config_needs_ws_tls(const od_config *cfg);
const od_mcp_cfg *od_config_mcp(const od_config *cfg, const char *name);

#endif
