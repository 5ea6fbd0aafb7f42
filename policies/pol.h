/* policies/pol.h — the one policy engine for model calls and tool calls.
 *
 * It knows nothing of HTTP or MCP. A caller fills an od_req with the
 * principal's presented key, the kind and the target, then walks it through
 * the stages (authenticate, authorize, inspect, reserve); each stage returns
 * 0 to go on, or -1 with the decision (status + stable reason) set on the
 * request. After the upstream call the caller settles the actual usage and
 * records the request: exactly one ledger event per request.
 *
 * Threading: an engine is used from one thread (the event loop). Ledger
 * writes go to a writer thread, batched.
 *
 * Processes: several engines (one per forked worker) may share one ledger
 * (budgets are leased from it) and one rate-limit table (pol_rl_shm). */
#ifndef POL_H
#define POL_H

#include <stdint.h>
#include <cjson/cJSON.h>
#include "../core/config.h"
#include "guard.h"

typedef struct pol_engine pol_engine;
typedef struct pol_rl_shm pol_rl_shm;

typedef enum { OD_KIND_LLM = 0, OD_KIND_TOOL = 1 } od_kind;

/* Stable reason strings (also used as error codes, JSON-RPC error.data,
 * ledger reasons and CLI filters). */
#define OD_R_INVALID_KEY        "invalid_key"
#define OD_R_KEY_REVOKED        "key_revoked"
#define OD_R_KEY_EXPIRED        "key_expired"
#define OD_R_MODEL_NOT_ALLOWED  "model_not_allowed"
#define OD_R_TOOL_NOT_ALLOWED   "tool_not_allowed"
#define OD_R_BUDGET_EXCEEDED    "budget_exceeded"
#define OD_R_RATE_LIMITED       "rate_limited"
#define OD_R_MODEL_NOT_FOUND    "model_not_found"
#define OD_R_NO_PRICE           "model_not_priced"
#define OD_R_BAD_REQUEST        "invalid_request"
#define OD_R_UPSTREAM_ERROR     "upstream_error"
#define OD_R_UPSTREAM_TIMEOUT   "upstream_timeout"
#define OD_R_CLIENT_CLOSED      "client_closed"

/* A budget hold against one scope, kept on the request until settle. */
typedef struct pol_hold {
    int budget;       /* index into the engine's budget table, -1 = none */
    int64_t micros;
} pol_hold;

#define POL_MAX_HOLDS 3 /* key, team, global */

/* The request context: flows through the whole pipeline. Strings are copied
 * in, so a key reload mid-request cannot pull them away. */
typedef struct od_req {
    char id[32];               /* request id, "req_" + 24 hex */
    od_kind kind;
    /* principal (filled by authenticate) */
    int authenticated;
    char key_id[16];           /* public id, safe to log */
    char key_name[64];
    char team[64];
    char user[64];
    /* what is asked */
    char target[256];          /* model alias, "provider/model", or "server/tool" */
    char provider[64];         /* provider or MCP server actually used */
    char upstream_model[128];
    /* decision */
    int status;                /* HTTP-style status; 200 while allowed */
    const char *reason;        /* NULL while allowed, else OD_R_* / guardrail reason */
    char message[256];         /* human explanation, no secrets */
    int retry_after_s;         /* rate_limited: when to retry */
    int64_t rl_limit_requests, rl_remaining_requests; /* for x-ratelimit-* headers; -1 none */
    int64_t rl_limit_tokens, rl_remaining_tokens;
    int64_t rl_reset_ms;
    /* budget and rate-limit holds */
    pol_hold holds[POL_MAX_HOLDS];
    int nholds;
    int64_t held_micros;
    int64_t held_tokens;       /* tpm estimate */
    int parallel_taken;        /* 1 while counted in max-parallel */
    int rl_slot;               /* private: rate-limit state index, -1 none */
    int rl_team_slot;
    int settled;
    /* usage and outcome */
    int64_t prompt_tokens, completion_tokens, cached_tokens;
    int64_t cost_micros;
    int attempts;
    int64_t bytes_in, bytes_out;
    int64_t t_start_us, t_first_us, t_end_us; /* od_mono_us */
    int64_t ts_ms;             /* wall clock at start */
    int error;                 /* 1 when the call failed after admission */
    /* guardrails */
    gr_ctx gr;
    int gr_inited;
} od_req;

/* ---- engine lifecycle ---- */
/* Opens (creating and migrating) the ledger at db_path, loads keys, grants,
 * budgets into memory, compiles guardrails, starts the writer thread.
 * NULL on error with *err set (caller frees). */
pol_engine *pol_open(const od_config *cfg, const char *db_path, char **err);
/* Flushes budgets and events, stops the writer thread, releases leases. */
void pol_close(pol_engine *e);
/* Call every ~100 ms from the loop: picks up key/budget changes made by other
 * processes, flushes settled spend and returns unused budget leases. */
void pol_tick(pol_engine *e);
const od_config *pol_config(const pol_engine *e);
const gr_engine *pol_guard(const pol_engine *e);

/* ---- rate limits shared by forked workers ----
 * Rate-limit state (rpm, tpm, max parallel per key and team) lives in one
 * table; without pol_use_shared_rl an engine has a private one. For N
 * workers the master creates one table before fork, and each worker hands
 * it to its engine right after pol_open, before any request. In-flight
 * counts are kept per worker, so a dead worker's can be dropped. */
#define POL_MAX_WORKERS 64
/* mmap(MAP_SHARED | MAP_ANONYMOUS) of the whole table (~6 MB of address
 * space; pages are touched only as subjects are added). NULL on error with
 * *err set (caller frees). */
pol_rl_shm *pol_rl_shm_new(char **err);
void pol_rl_shm_free(pol_rl_shm *t);
/* The master, after worker (0 .. POL_MAX_WORKERS-1) died and before its
 * replacement starts: forgets the dead worker's requests in flight. */
void pol_rl_shm_worker_gone(pol_rl_shm *t, int worker);
/* From now on e keeps rate-limit state in t (which it never frees) and
 * counts its requests in flight as worker's. 0, or -1 when worker is out
 * of range (e unchanged). */
int pol_use_shared_rl(pol_engine *e, pol_rl_shm *t, int worker);

/* ---- the stages ---- */
void od_req_init(od_req *r, od_kind kind, const char *target);
void od_req_free(od_req *r); /* frees guardrail state; does not record */

/* Sets the decision to deny (used by stages and by callers for their own
 * denials such as bad requests or unknown models). Always returns -1. */
int od_req_deny(od_req *r, int status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* presented: the full "odk_<id>_<secret>" (NULL or empty: missing). */
int pol_authenticate(pol_engine *e, od_req *r, const char *presented);
/* Model grants for LLM requests, tool grants ("server/tool") for tool calls,
 * against r->target. */
int pol_authorize(pol_engine *e, od_req *r);
/* Whether the authenticated principal may use target (for listings). */
int pol_allowed(pol_engine *e, const od_req *r, od_kind kind, const char *target);
/* Guardrails on every string in node (masking in place). where: OD_WHERE_*. */
int pol_inspect(pol_engine *e, od_req *r, unsigned where, cJSON *node);
/* Rate limits (rpm, tpm at est_tokens, max parallel) and budget holds of
 * est_cost_micros against every scope that applies. */
int pol_reserve(pol_engine *e, od_req *r, int64_t est_cost_micros, int64_t est_tokens);
/* Actual usage after the call: releases the holds and charges cost_micros
 * (also when above the hold: the excess is charged). Idempotent. */
void pol_settle(pol_engine *e, od_req *r, int64_t cost_micros, int64_t tokens);
/* Queues the ledger event (settling at 0 first if the caller did not settle)
 * and releases the parallel slot. Exactly once per request. */
void pol_record(pol_engine *e, od_req *r);

/* ---- counters for /metrics ---- */
typedef struct pol_stats {
    int64_t events_queued, events_written, events_dropped;
    int64_t budget_denials, rate_denials;
    int64_t rate_untracked;    /* admissions without rate state: the rate-limit table was full */
    int64_t lease_transactions;
} pol_stats;
void pol_get_stats(const pol_engine *e, pol_stats *out);

/* Test hook: wait until every queued event is committed. */
void pol_flush(pol_engine *e);

#endif
