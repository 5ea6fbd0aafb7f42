/* policies/pol.c — the engine: lifecycle, live reloads, and the stages of
 * the governed path (authenticate, authorize, inspect, reserve, settle,
 * record). Everything here runs on the loop thread and touches memory only,
 * except a budget lease transaction when a process's slice runs out. */
#include "pol_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- keys ---- */

unsigned pol_hash(const char *s)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (const char *p = s; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
    return h;
}

pol_key *pol_key_by_id(pol_engine *e, const char *id)
{
    if (!e->nslots) return NULL;
    for (unsigned i = pol_hash(id) & (unsigned)(e->nslots - 1);; i = (i + 1) & (unsigned)(e->nslots - 1)) {
        int k = e->key_slots[i];
        if (k < 0) return NULL;
        if (!strcmp(e->keys[k].k.id, id)) return &e->keys[k];
    }
}

static void keys_free(pol_engine *e)
{
    for (int i = 0; i < e->nkeys; i++) ldg_key_free(&e->keys[i].k);
    free(e->keys);
    free(e->key_slots);
    ldg_teams_free(e->teams, e->nteams);
    e->keys = NULL;
    e->key_slots = NULL;
    e->teams = NULL;
    e->nkeys = e->nslots = e->nteams = 0;
}

int pol_keys_reload(pol_engine *e)
{
    ldg_key *rows;
    int n;
    ldg_team *teams;
    int nteams;
    if (ldg_keys_load(e->db, &rows, &n) != 0) return -1;
    if (ldg_teams_load(e->db, &teams, &nteams) != 0) {
        ldg_keys_free(rows, n);
        return -1;
    }
    keys_free(e);
    e->teams = teams;
    e->nteams = nteams;
    e->keys = od_calloc((size_t)n + 1, sizeof *e->keys);
    e->nkeys = n;
    e->nslots = 16;
    while (e->nslots < n * 2) e->nslots *= 2;
    e->key_slots = od_malloc((size_t)e->nslots * sizeof *e->key_slots);
    for (int i = 0; i < e->nslots; i++) e->key_slots[i] = -1;
    for (int i = 0; i < n; i++) {
        pol_key *k = &e->keys[i];
        k->k = rows[i];
        k->team = -1;
        k->rl_slot = k->rl_team_slot = POL_RL_UNKNOWN;
        for (int t = 0; t < nteams && k->k.team; t++)
            if (!strcmp(teams[t].name, k->k.team)) k->team = t;
        unsigned s = pol_hash(k->k.id) & (unsigned)(e->nslots - 1);
        while (e->key_slots[s] >= 0) s = (s + 1) & (unsigned)(e->nslots - 1);
        e->key_slots[s] = i;
    }
    free(rows); /* the strings moved into e->keys */
    return 0;
}

/* ---- lifecycle ---- */

static int reload_all(pol_engine *e, int64_t now)
{
    int64_t gen = ldg_generation(e->db);
    if (pol_keys_reload(e) != 0 || pol_budgets_reload(e, now) != 0) return -1;
    e->generation = gen;
    return 0;
}

static int data_version(sqlite3 *db)
{
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA data_version", -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

pol_engine *pol_open(const od_config *cfg, const char *db_path, char **err)
{
    pol_engine *e = od_calloc(1, sizeof *e);
    e->cfg = cfg;
    e->db_path = od_strdup(db_path);
    *err = NULL;
    char rnd[17];
    if (od_random_base62(rnd, 16) != 0) snprintf(rnd, sizeof rnd, "%lld", (long long)od_mono_us());
    snprintf(e->owner, sizeof e->owner, "%d-%s", (int)getpid(), rnd);
    e->guard = gr_engine_new(&cfg->guardrails, err);
    if (!e->guard) goto fail;
    /* a private table until pol_use_shared_rl: mapping it costs address
     * space and the mutex's page, nothing more until subjects are added */
    e->rl = pol_rl_shm_new(err);
    if (!e->rl) goto fail;
    e->rl_private = 1;
    e->db = ldg_open(db_path, 1, err);
    if (!e->db) goto fail;
    if (reload_all(e, od_wall_ms()) != 0) {
        *err = od_strdup(sqlite3_errmsg(e->db));
        goto fail;
    }
    e->data_version = data_version(e->db);
    if (pol_writer_start(&e->writer, db_path, e->owner, err) != 0) goto fail;
    return e;
fail:
    pol_close(e);
    return NULL;
}

void pol_close(pol_engine *e)
{
    if (!e) return;
    if (e->writer.db) {
        pol_writer_flush(&e->writer);
        pol_budgets_take_grants(e); /* so that the slices given back below include them */
        pol_writer_stop(&e->writer);
    }
    if (e->db) {
        /* give every slice back: the room belongs to the other processes now */
        for (int i = 0; i < e->nbudgets; i++) e->budgets[i].reserved = 0;
        pol_budgets_sync(e, od_wall_ms(), 1);
        ldg_close(e->db);
    }
    keys_free(e);
    free(e->budgets);
    if (e->rl_private) pol_rl_shm_free(e->rl);
    gr_engine_free(e->guard);
    free(e->db_path);
    free(e);
}

/* Keys and budgets again when an admin changed them. data_version moves
 * when another connection commits (the CLI, our writer, another server);
 * the generation only on admin changes. */
static void refresh(pol_engine *e, int64_t now)
{
    int dv = data_version(e->db);
    if (dv != e->data_version) {
        e->data_version = dv;
        if (ldg_generation(e->db) != e->generation) {
            if (reload_all(e, now) != 0) od_warn("ledger: reloading keys and budgets failed");
        }
    }
}

void pol_tick(pol_engine *e)
{
    int64_t now = od_wall_ms();
    e->last_tick_ms = now;
    refresh(e, now);
    if (pol_budgets_sync(e, now, 0) != 0) od_warn("ledger: writing budget spend failed; will retry");
}

int pol_use_shared_rl(pol_engine *e, pol_rl_shm *t, int worker)
{
    if (worker < 0 || worker >= POL_MAX_WORKERS) return -1;
    /* before any request: the private table holds nothing worth keeping */
    if (e->rl_private) pol_rl_shm_free(e->rl);
    e->rl = t;
    e->rl_private = 0;
    e->rl_worker = worker;
    for (int i = 0; i < e->nkeys; i++) e->keys[i].rl_slot = e->keys[i].rl_team_slot = POL_RL_UNKNOWN;
    return 0;
}

const od_config *pol_config(const pol_engine *e)
{
    return e->cfg;
}

const gr_engine *pol_guard(const pol_engine *e)
{
    return e->guard;
}

void pol_get_stats(const pol_engine *e, pol_stats *out)
{
    *out = e->stats;
    pol_writer *w = (pol_writer *)&e->writer;
    pthread_mutex_lock(&w->mu);
    out->events_queued = w->queued;
    out->events_written = w->written;
    out->events_dropped = w->dropped;
    pthread_mutex_unlock(&w->mu);
}

void pol_flush(pol_engine *e)
{
    pol_budgets_sync(e, od_wall_ms(), 0);
    pol_writer_flush(&e->writer);
}

/* ---- requests ---- */

void od_req_init(od_req *r, od_kind kind, const char *target)
{
    memset(r, 0, sizeof *r);
    memcpy(r->id, "req_", 4);
    od_request_id(r->id + 4);
    r->kind = kind;
    r->status = 200;
    r->rl_slot = r->rl_team_slot = -1;
    r->rl_limit_requests = r->rl_remaining_requests = -1;
    r->rl_limit_tokens = r->rl_remaining_tokens = -1;
    od_strlcpy(r->target, target ? target : "", sizeof r->target);
    r->t_start_us = od_mono_us();
    r->ts_ms = od_wall_ms();
}

void od_req_free(od_req *r)
{
    if (r->gr_inited) gr_ctx_free(&r->gr);
    r->gr_inited = 0;
}

int od_req_deny(od_req *r, int status, const char *reason, const char *fmt, ...)
{
    r->status = status;
    r->reason = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    return -1;
}

int pol_authenticate(pol_engine *e, od_req *r, const char *presented)
{
    /* odk_<8 id>_<32 secret> */
    if (!presented || !*presented)
        return od_req_deny(r, 401, OD_R_INVALID_KEY, "No API key: send an odock virtual key as a Bearer token");
    size_t len = strlen(presented);
    if (len != 4 + LDG_KEY_ID_LEN + 1 + LDG_KEY_SECRET_LEN || strncmp(presented, "odk_", 4) ||
        presented[4 + LDG_KEY_ID_LEN] != '_')
        return od_req_deny(r, 401, OD_R_INVALID_KEY, "Invalid API key");
    char id[LDG_KEY_ID_LEN + 1];
    memcpy(id, presented + 4, LDG_KEY_ID_LEN);
    id[LDG_KEY_ID_LEN] = '\0';
    const uint8_t *secret = (const uint8_t *)presented + 4 + LDG_KEY_ID_LEN + 1;
    pol_key *k = pol_key_by_id(e, id);
    if (!k) {
        /* made a moment ago (`odock keys create`, then a request at once):
         * the tick reloads keys every 100 ms, so look at the ledger before
         * saying no; at most once a millisecond, so a spray of made-up keys
         * costs a few microseconds a millisecond */
        int64_t t = od_mono_us();
        if (t - e->unknown_check_us >= 1000) {
            e->unknown_check_us = t;
            refresh(e, od_wall_ms());
            k = pol_key_by_id(e, id);
        }
    }
    if (!k) return od_req_deny(r, 401, OD_R_INVALID_KEY, "Invalid API key");
    int64_t now = od_wall_ms();
    int ok = k->has_verified && od_ct_equal(secret, k->verified, LDG_KEY_SECRET_LEN);
    if (!ok) {
        uint8_t h[32];
        od_sha256(secret, LDG_KEY_SECRET_LEN, h);
        ok = od_ct_equal(h, k->k.hash, 32);
        if (ok) {
            memcpy(k->verified, secret, LDG_KEY_SECRET_LEN);
            k->has_verified = 1;
        } else if (k->k.has_prev && now < k->k.prev_until_ms) {
            ok = od_ct_equal(h, k->k.prev_hash, 32);
        }
    }
    if (!ok) return od_req_deny(r, 401, OD_R_INVALID_KEY, "Invalid API key");
    /* the key's public id is safe to show from here on */
    od_strlcpy(r->key_id, k->k.id, sizeof r->key_id);
    od_strlcpy(r->key_name, k->k.name ? k->k.name : "", sizeof r->key_name);
    od_strlcpy(r->team, k->k.team ? k->k.team : "", sizeof r->team);
    od_strlcpy(r->user, k->k.user ? k->k.user : "", sizeof r->user);
    if (k->k.revoked_ms) return od_req_deny(r, 401, OD_R_KEY_REVOKED, "API key %s has been revoked", k->k.id);
    if (k->k.expires_ms && k->k.expires_ms <= now)
        return od_req_deny(r, 401, OD_R_KEY_EXPIRED, "API key %s has expired", k->k.id);
    r->authenticated = 1;
    return 0;
}

int pol_allowed(pol_engine *e, const od_req *r, od_kind kind, const char *target)
{
    const pol_key *k = pol_key_by_id(e, r->key_id);
    if (!k) return 0;
    const ldg_team *t = k->team >= 0 ? &e->teams[k->team] : NULL;
    const char *kp = kind == OD_KIND_LLM ? k->k.models : k->k.tools;
    const char *tp = t ? (kind == OD_KIND_LLM ? t->models : t->tools) : NULL;
    int km = pol_grant_match(kp, target), tm = pol_grant_match(tp, target);
    if (km < 0 && tm < 0) return e->cfg->default_grant_allow;
    /* a key gets the intersection with its team's grant */
    return km != 0 && tm != 0;
}

int pol_authorize(pol_engine *e, od_req *r)
{
    if (!r->authenticated) return od_req_deny(r, 401, OD_R_INVALID_KEY, "Not authenticated");
    if (pol_allowed(e, r, r->kind, r->target)) return 0;
    if (r->kind == OD_KIND_LLM)
        return od_req_deny(r, 403, OD_R_MODEL_NOT_ALLOWED, "API key %s may not use model %s", r->key_id, r->target);
    return od_req_deny(r, 403, OD_R_TOOL_NOT_ALLOWED, "API key %s may not use tool %s", r->key_id, r->target);
}

int pol_inspect(pol_engine *e, od_req *r, unsigned where, cJSON *node)
{
    if (!r->gr_inited) {
        gr_ctx_init(&r->gr, r->key_id, r->key_name, r->team);
        r->gr_inited = 1;
    }
    if (!node || !gr_scan_json(e->guard, &r->gr, where, node)) return 0;
    return od_req_deny(r, 403, r->gr.block_reason ? r->gr.block_reason : "guardrail_block",
                       "Blocked by guardrail %s", r->gr.block_detector);
}

/* ---- reserve / settle / record ---- */

/* The rate-limit entry of prefix + name, looked up once per key and kept in
 * *cache (a key reload or a change of table starts over). */
static int rl_entry(pol_engine *e, int *cache, const char *prefix, const char *name)
{
    if (*cache == POL_RL_UNKNOWN) {
        char subject[POL_RL_SUBJECT + 8];
        snprintf(subject, sizeof subject, "%s%s", prefix, name);
        *cache = pol_rl_slot(e->rl, subject);
    }
    return *cache;
}

/* Admits r under the limits of entry slot: 0, or -1 with the decision's
 * retry-after set. Slot -1 (the table was full) admits uncounted. */
static int rl_check(pol_engine *e, od_req *r, int slot, const pol_rl_ask *ask, int64_t now)
{
    if (slot < 0) {
        e->stats.rate_untracked++;
        return 0;
    }
    pol_rl_out o;
    int rc = pol_rl_admit(e->rl, slot, e->rl_worker, now, ask, &o);
    if (ask->rpm > 0 && (r->rl_remaining_requests < 0 || o.rem_req < r->rl_remaining_requests)) {
        r->rl_limit_requests = ask->rpm;
        r->rl_remaining_requests = o.rem_req;
    }
    if (ask->tpm > 0 && (r->rl_remaining_tokens < 0 || o.rem_tok < r->rl_remaining_tokens)) {
        r->rl_limit_tokens = ask->tpm;
        r->rl_remaining_tokens = o.rem_tok;
    }
    if (o.reset_ms > r->rl_reset_ms) r->rl_reset_ms = o.reset_ms;
    if (rc == 0) return 0;
    r->retry_after_s = (int)((o.retry_ms + 999) / 1000);
    if (r->retry_after_s < 1) r->retry_after_s = 1;
    e->stats.rate_denials++;
    return -1;
}

static void release_holds(pol_engine *e, od_req *r, int64_t actual, int64_t now)
{
    for (int i = 0; i < r->nholds; i++) pol_budget_settle(e, r->holds[i].budget, r->holds[i].micros, actual, now);
    r->nholds = 0;
}

int pol_reserve(pol_engine *e, od_req *r, int64_t est_cost, int64_t est_tokens)
{
    if (!r->authenticated) return od_req_deny(r, 401, OD_R_INVALID_KEY, "Not authenticated");
    pol_key *k = pol_key_by_id(e, r->key_id);
    if (!k) return od_req_deny(r, 401, OD_R_INVALID_KEY, "Invalid API key");
    int64_t now = od_wall_ms();
    if (est_cost < 0) est_cost = 0;
    if (est_tokens < 0) est_tokens = 0;

    /* rate limits: key, then team */
    const ldg_team *t = k->team >= 0 ? &e->teams[k->team] : NULL;
    if (k->k.rpm || k->k.tpm || k->k.max_parallel) {
        int s = rl_entry(e, &k->rl_slot, "k:", k->k.id);
        pol_rl_ask ask = {k->k.rpm, k->k.tpm, k->k.max_parallel, est_tokens};
        if (rl_check(e, r, s, &ask, now) != 0)
            return od_req_deny(r, 429, OD_R_RATE_LIMITED, "Rate limit of key %s reached; retry in %d s",
                               r->key_id, r->retry_after_s);
        r->rl_slot = s;
    }
    if (t && (t->rpm || t->tpm || t->max_parallel)) {
        int s = rl_entry(e, &k->rl_team_slot, "t:", t->name);
        pol_rl_ask ask = {t->rpm, t->tpm, t->max_parallel, est_tokens};
        if (rl_check(e, r, s, &ask, now) != 0) goto undo_rl_team;
        r->rl_team_slot = s;
    }
    r->held_tokens = est_tokens;
    r->parallel_taken = 1;

    /* budgets: every scope that applies must hold the worst case */
    struct { ldg_scope scope; const char *subject; } scopes[] = {
        {LDG_SCOPE_KEY, r->key_id}, {LDG_SCOPE_TEAM, r->team}, {LDG_SCOPE_GLOBAL, ""}};
    for (size_t i = 0; i < OD_ARRAY_LEN(scopes); i++) {
        if (scopes[i].scope == LDG_SCOPE_TEAM && !*r->team) continue;
        int b = pol_budget_find(e, scopes[i].scope, scopes[i].subject);
        if (b < 0) continue;
        if (pol_budget_hold(e, b, est_cost, now) != 0) {
            release_holds(e, r, 0, now);
            e->stats.budget_denials++;
            char m[32];
            od_req_deny(r, 402, OD_R_BUDGET_EXCEEDED, "Budget exceeded for %s%s%s (this request may cost up to $%s)",
                        ldg_scope_name(scopes[i].scope), *scopes[i].subject ? " " : "", scopes[i].subject,
                        od_money_fmt(est_cost, m));
            goto undo_rl;
        }
        r->holds[r->nholds].budget = b;
        r->holds[r->nholds].micros = est_cost;
        r->nholds++;
    }
    r->held_micros = est_cost;
    return 0;

undo_rl_team:
    od_req_deny(r, 429, OD_R_RATE_LIMITED, "Rate limit of team %s reached; retry in %d s", t->name, r->retry_after_s);
undo_rl:
    /* a denied request does not count against the rate limits it passed */
    if (r->rl_slot >= 0) pol_rl_undo(e->rl, r->rl_slot, e->rl_worker, now, est_tokens);
    if (r->rl_team_slot >= 0) pol_rl_undo(e->rl, r->rl_team_slot, e->rl_worker, now, est_tokens);
    r->rl_slot = r->rl_team_slot = -1;
    r->parallel_taken = 0;
    return -1;
}

void pol_settle(pol_engine *e, od_req *r, int64_t cost, int64_t tokens)
{
    if (r->settled) return;
    r->settled = 1;
    int64_t now = od_wall_ms();
    if (cost < 0) cost = 0;
    r->cost_micros = cost;
    release_holds(e, r, cost, now);
    if (r->rl_slot >= 0) pol_rl_settle(e->rl, r->rl_slot, now, r->held_tokens, tokens);
    if (r->rl_team_slot >= 0) pol_rl_settle(e->rl, r->rl_team_slot, now, r->held_tokens, tokens);
}

void pol_record(pol_engine *e, od_req *r)
{
    if (!r->settled) pol_settle(e, r, r->cost_micros, r->prompt_tokens + r->completion_tokens);
    if (r->parallel_taken) {
        if (r->rl_slot >= 0) pol_rl_release(e->rl, r->rl_slot, e->rl_worker);
        if (r->rl_team_slot >= 0) pol_rl_release(e->rl, r->rl_team_slot, e->rl_worker);
        r->parallel_taken = 0;
    }
    if (!r->t_end_us) r->t_end_us = od_mono_us();
    ldg_event ev;
    memset(&ev, 0, sizeof ev);
    ev.ts_ms = r->ts_ms;
    memcpy(ev.request_id, r->id, sizeof ev.request_id);
    memcpy(ev.key_id, r->key_id, sizeof ev.key_id);
    memcpy(ev.team, r->team, sizeof ev.team);
    memcpy(ev.user, r->user, sizeof ev.user);
    ev.kind = r->kind == OD_KIND_LLM ? "llm" : "tool";
    memcpy(ev.target, r->target, sizeof ev.target);
    memcpy(ev.provider, r->provider, sizeof ev.provider);
    memcpy(ev.model, r->upstream_model, sizeof ev.model);
    ev.status = r->reason && !r->error ? "denied" : (r->error || r->status >= 400) ? "error" : "ok";
    ev.http_status = r->status;
    od_strlcpy(ev.reason, r->reason ? r->reason : "", sizeof ev.reason);
    ev.prompt_tokens = r->prompt_tokens;
    ev.completion_tokens = r->completion_tokens;
    ev.cached_tokens = r->cached_tokens;
    ev.cost_micros = r->cost_micros;
    ev.latency_us = r->t_end_us - r->t_start_us;
    ev.ttft_us = r->t_first_us ? r->t_first_us - r->t_start_us : 0;
    ev.attempts = r->attempts;
    ev.bytes_in = r->bytes_in;
    ev.bytes_out = r->bytes_out;
    ev.findings = r->gr_inited ? gr_findings_json(&r->gr) : NULL;
    pol_writer_push(&e->writer, &ev);
}
