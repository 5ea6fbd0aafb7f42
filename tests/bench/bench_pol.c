/* tests/bench/bench_pol.c — the cost of one policy decision on one core:
 * authenticate + authorize + every default guardrail over a 4 KB prompt +
 * budget hold + rate limit, then settle and record. A benchmark, not a test:
 * it prints figures and never fails on speed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "policies/pol.h"
#include "policies/ledger.h"

static const char *PARAGRAPH =
    "Please summarise the attached quarterly report for the board. Revenue grew in the "
    "northern region while costs in logistics rose because of fuel prices; the team expects "
    "the new warehouse to open in March. Highlight risks, list three decisions we need from "
    "the board, and keep the tone factual. Order numbers 4471-22 and 5580-19 are still open. ";

/* nanoseconds: od_mono_us is too coarse for per-decision quantiles */
static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of v[0..n) (sorts v), in microseconds. */
static double quantile_us(int64_t *v, int n, double q)
{
    qsort(v, (size_t)n, sizeof *v, cmp_i64);
    return v[(int)(q * (n - 1))] / 1000.0;
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 100000;
    if (iters <= 0) iters = 100000;
    char dir[] = "/tmp/odock-bench-pol.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char db[128];
    snprintf(db, sizeof db, "%s/ledger.db", dir);
    char *err = NULL;
    od_config *cfg = od_config_load(NULL, &err);
    sqlite3 *admin = ldg_open(db, 1, &err);
    if (!cfg || !admin) {
        fprintf(stderr, "setup: %s\n", err ? err : "?");
        return 1;
    }
    /* a key with grants, a team, budgets on all three scopes, generous rate limits */
    const char *secret = "S3cr3tS3cr3tS3cr3tS3cr3tS3cr3tXX";
    uint8_t h[32];
    od_sha256(secret, 32, h);
    char hex[65], sql[1024];
    od_hex(h, 32, hex);
    snprintf(sql, sizeof sql,
             "INSERT INTO teams(name, created_ms, rpm) VALUES('web', 0, 100000000);"
             "INSERT INTO keys(id, name, secret_hash, team, created_ms, models, tools, rpm, tpm, max_parallel) "
             "VALUES('BenchKey', 'bench', x'%s', 'web', 0, 'gpt-4o*,mock/*,!*-preview', 'github/*', 100000000, "
             "100000000000, 1000);"
             "INSERT INTO budgets(scope, subject, limit_micros, period, period_start_ms) VALUES"
             "('key', 'BenchKey', 1000000000000, 'total', 0), ('team', 'web', 1000000000000, 'total', 0),"
             "('global', '', 1000000000000, 'total', 0);",
             hex);
    if (ldg_exec(admin, sql, &err) != 0) {
        fprintf(stderr, "seed: %s\n", err);
        return 1;
    }
    pol_engine *e = pol_open(cfg, db, &err);
    if (!e) {
        fprintf(stderr, "pol_open: %s\n", err);
        return 1;
    }
    od_buf prompt = {0};
    while (prompt.len < 4096) od_buf_puts(&prompt, PARAGRAPH);
    cJSON *messages = cJSON_CreateArray();
    cJSON *sys = cJSON_CreateObject();
    cJSON_AddStringToObject(sys, "role", "system");
    cJSON_AddStringToObject(sys, "content", "You are a concise analyst.");
    cJSON_AddItemToArray(messages, sys);
    cJSON *user = cJSON_CreateObject();
    cJSON_AddStringToObject(user, "role", "user");
    cJSON *content = cJSON_AddStringToObject(user, "content", prompt.p);
    cJSON_AddItemToArray(messages, user);
    char key[64];
    snprintf(key, sizeof key, "odk_BenchKey_%s", secret);

    int64_t t_auth = 0, t_authz = 0, t_inspect = 0, t_reserve = 0, t_settle = 0, t_record = 0;
    /* per decision, for medians: a mean hides that a few budget holds
     * take a lease in a SQLite transaction */
    int64_t *v_decision = calloc((size_t)iters, sizeof *v_decision);
    int64_t *v_reserve = calloc((size_t)iters, sizeof *v_reserve);
    if (!v_decision || !v_reserve) return 1;
    int denied = 0;
    for (int i = 0; i < iters + 1000; i++) {
        od_req r;
        /* a prompt never seen before: the verdicts of clean texts are
         * remembered, and the same prompt again would time that cache */
        for (unsigned k = 0, n = (unsigned)i; k < 6; k++, n /= 26) content->valuestring[k] = (char)('a' + n % 26);
        int64_t t0 = now_ns();
        od_req_init(&r, OD_KIND_LLM, "gpt-4o");
        int rc = pol_authenticate(e, &r, key);
        int64_t t1 = now_ns();
        rc |= pol_authorize(e, &r);
        int64_t t2 = now_ns();
        rc |= pol_inspect(e, &r, OD_WHERE_INPUT, messages);
        int64_t t3 = now_ns();
        rc |= pol_reserve(e, &r, 12000, 1500);
        int64_t t4 = now_ns();
        pol_settle(e, &r, 9000, 1200);
        int64_t t5 = now_ns();
        pol_record(e, &r);
        od_req_free(&r);
        int64_t t6 = now_ns();
        denied += rc != 0;
        if (i < 1000) continue; /* warm-up */
        t_auth += t1 - t0;
        t_authz += t2 - t1;
        t_inspect += t3 - t2;
        t_reserve += t4 - t3;
        t_settle += t5 - t4;
        t_record += t6 - t5;
        v_decision[i - 1000] = t4 - t0;
        v_reserve[i - 1000] = t4 - t3;
        if (i % 1000 == 0) pol_tick(e);
    }
    double n = iters;
    printf("policy engine, %d decisions, one core, 4 KB prompt (%zu bytes), all default guardrails\n", iters, prompt.len);
    printf("  authenticate   %8.2f us\n", t_auth / n / 1000);
    printf("  authorize      %8.2f us\n", t_authz / n / 1000);
    printf("  guardrails     %8.2f us\n", t_inspect / n / 1000);
    printf("  budget + rate  %8.2f us\n", t_reserve / n / 1000);
    printf("  full decision  %8.2f us   (goal < 20)\n", (t_auth + t_authz + t_inspect + t_reserve) / n / 1000);
    printf("  decision p50 / p99       %8.2f / %.2f us\n", quantile_us(v_decision, iters, 0.5),
           quantile_us(v_decision, iters, 0.99));
    printf("  budget + rate p50 / p99  %8.2f / %.2f us\n", quantile_us(v_reserve, iters, 0.5),
           quantile_us(v_reserve, iters, 0.99));
    printf("  settle         %8.2f us   (goal < 5)\n", t_settle / n / 1000);
    printf("  record (queue) %8.2f us\n", t_record / n / 1000);
    printf("  denied         %d (must be 0)\n", denied);
    pol_stats st;
    pol_flush(e);
    pol_get_stats(e, &st);
    printf("  lease transactions %lld, events written %lld\n", (long long)st.lease_transactions,
           (long long)st.events_written);
    pol_close(e);
    ldg_close(admin);
    cJSON_Delete(messages);
    free(v_decision);
    free(v_reserve);
    od_buf_free(&prompt);
    od_config_free(cfg);
    snprintf(sql, sizeof sql, "rm -rf %s", dir);
    if (system(sql) != 0) return 1;
    return denied != 0;
}
