/* policies/budget.c — budgets held before the call, across processes.
 *
 * A budget row's room is limit - spent - held, where held is the sum of the
 * leases that processes took. A process leases a slice in one short
 * transaction, admits requests against its slice in memory, writes settled
 * spend back (moving it from its lease to spent) at every tick, and returns
 * the slice when idle. Leases carry an expiry renewed by their owner: a
 * crashed process's lease is reaped by whoever next touches the budget. The
 * slices never add up past the limit, so neither do the holds made against
 * them; only a call that costs more than its hold can push spent past the
 * limit, and then the excess is charged and the next request is denied. */
#include "pol_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEASE_TTL_MS 30000
#define LEASE_RENEW_MS 15000 /* renew when less than this is left */
#define IDLE_RETURN_MS 1000  /* give the slice back after this long unused */

int pol_budget_find(const pol_engine *e, ldg_scope scope, const char *subject)
{
    for (int i = 0; i < e->nbudgets; i++)
        if (e->budgets[i].live && e->budgets[i].b.scope == scope && !strcmp(e->budgets[i].b.subject, subject))
            return i;
    return -1;
}

int pol_budgets_reload(pol_engine *e, int64_t now)
{
    ldg_budget *rows;
    int n;
    if (ldg_budgets_load(e->db, now, &rows, &n) != 0) return -1;
    for (int i = 0; i < e->nbudgets; i++) e->budgets[i].live = 0;
    for (int r = 0; r < n; r++) {
        int found = -1;
        for (int i = 0; i < e->nbudgets; i++)
            if (e->budgets[i].b.id == rows[r].id) found = i;
        if (found < 0) {
            if (e->nbudgets == e->capbudgets) {
                e->capbudgets = e->capbudgets ? e->capbudgets * 2 : 16;
                e->budgets = od_realloc(e->budgets, (size_t)e->capbudgets * sizeof *e->budgets);
            }
            found = e->nbudgets++;
            memset(&e->budgets[found], 0, sizeof e->budgets[found]);
        }
        e->budgets[found].b = rows[r];
        e->budgets[found].live = 1;
    }
    free(rows);
    return 0;
}

static int64_t avail(const pol_budget *b)
{
    return b->lease - b->reserved - b->unflushed;
}

/* Reads one budget row into b->b; 0 ok, 1 gone, -1 error. */
static int read_row(sqlite3 *db, pol_budget *b)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT limit_micros, spent_micros, held_micros, period_start_ms FROM budgets "
                               "WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, b->b.id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        b->b.limit_micros = sqlite3_column_int64(st, 0);
        b->b.spent_micros = sqlite3_column_int64(st, 1);
        b->b.held_micros = sqlite3_column_int64(st, 2);
        b->b.period_start_ms = sqlite3_column_int64(st, 3);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -1;
}

/* Moves settled spend out of our lease into spent and changes the lease by
 * delta (< 0 returns room), as one relative ledger update: applied at once
 * inside the caller's transaction (db != NULL), or queued for the writer
 * thread, which commits it with the next batch of events. Local state moves
 * now either way. */
static int write_back(pol_engine *e, pol_budget *b, int64_t delta, int64_t now, sqlite3 *db)
{
    int64_t moved = b->unflushed < b->lease ? b->unflushed : b->lease;
    if (moved < 0) moved = 0;
    if (b->lease - moved + delta < 0) delta = moved - b->lease;
    ldg_spend op = {.budget_id = b->b.id, .spent = b->unflushed, .lease_delta = delta - moved,
                    .expires_ms = now + LEASE_TTL_MS};
    if (db) {
        if (ldg_spend_apply(db, e->owner, &op, 1) != 0) return -1;
    } else {
        pol_writer_push_spend(&e->writer, &op);
    }
    b->b.spent_micros += b->unflushed;
    b->b.held_micros += op.lease_delta;
    b->unflushed = 0;
    b->lease += op.lease_delta;
    b->lease_expires_ms = b->lease > 0 ? op.expires_ms : 0;
    return 0;
}

/* Our lease row may have been reaped (we stalled past its expiry): then the
 * room we think we hold is no longer ours. */
static int64_t lease_in_ledger(pol_engine *e, const pol_budget *b)
{
    sqlite3_stmt *st;
    int64_t v = 0;
    if (sqlite3_prepare_v2(e->db, "SELECT micros FROM leases WHERE owner = ? AND budget_id = ?", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, e->owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, b->b.id);
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

void pol_budgets_take_grants(pol_engine *e)
{
    ldg_grow *g;
    int n = pol_writer_take_grants(&e->writer, &g);
    for (int k = 0; k < n; k++) {
        for (int i = 0; i < e->nbudgets; i++) {
            pol_budget *b = &e->budgets[i];
            if (b->b.id != g[k].budget_id) continue;
            b->growing = 0;
            b->lease += g[k].granted;
            b->b.held_micros += g[k].granted;
            if (g[k].granted > 0 && g[k].expires_ms > b->lease_expires_ms) b->lease_expires_ms = g[k].expires_ms;
        }
    }
    free(g);
}

/* A quarter of the last slice used up: the writer thread leases the next one
 * while this one lasts, so the loop never waits on a lease transaction (a
 * synchronous one waited behind the writer's commit: ~1.6 ms, once every few
 * hundred requests). The synchronous path stays for when the slice runs out
 * first, and for the first lease. */
static void grow_ahead(pol_engine *e, pol_budget *b, int64_t now)
{
    if (b->growing || !b->slice || !e->writer.db || avail(b) >= b->slice / 4 * 3) return;
    ldg_grow g = {.budget_id = b->b.id, .want = b->slice, .expires_ms = now + LEASE_TTL_MS};
    b->growing = 1;
    pol_writer_push_grow(&e->writer, &g);
}

int pol_budget_hold(pol_engine *e, int i, int64_t amount, int64_t now)
{
    pol_budget *b = &e->budgets[i];
    b->last_use_ms = now;
    if (b->growing) pol_budgets_take_grants(e);
    if (avail(b) >= amount) {
        b->reserved += amount;
        grow_ahead(e, b, now);
        return 0;
    }
    /* lease more: what is missing, plus a slice so that the next ~1000
     * requests need no transaction; an eighth of the room at most, which
     * leaves plenty for other processes when the budget runs low */
    e->stats.lease_transactions++;
    if (ldg_begin(e->db) != 0) return -1;
    if (ldg_leases_reap(e->db, now) != 0 || ldg_budgets_roll(e->db, now) != 0) goto fail;
    int gone = read_row(e->db, b);
    if (gone) goto fail;
    int64_t mine = lease_in_ledger(e, b);
    if (mine < 0) goto fail;
    if (mine < b->lease) b->lease = mine;
    int64_t room = b->b.limit_micros - b->b.spent_micros - b->b.held_micros;
    /* our own unflushed spend still counts inside held: it is written now */
    int64_t missing = amount - avail(b);
    int64_t want = missing;
    /* ran dry while a refill was on its way: the writer needs more time
     * than the slice lasts here, so the slices grow (up to 16x) */
    if (b->growing && b->ahead < 16) b->ahead = b->ahead ? b->ahead * 2 : 2;
    int64_t slice = room / 8;
    if (slice > amount * 1024 * (b->ahead ? b->ahead : 1)) slice = amount * 1024 * (b->ahead ? b->ahead : 1);
    if (slice > want) want = slice;
    if (want > room) want = room;
    if (want < missing) want = 0; /* cannot cover this request: take nothing */
    if (write_back(e, b, want, now, e->db) != 0 || ldg_commit(e->db) != 0) goto fail;
    if (want > 0) b->slice = want;
    if (avail(b) < amount) return -1;
    b->reserved += amount;
    return 0;
fail:
    ldg_rollback(e->db);
    return -1;
}

void pol_budget_settle(pol_engine *e, int i, int64_t held, int64_t actual, int64_t now)
{
    pol_budget *b = &e->budgets[i];
    b->reserved -= held;
    if (b->reserved < 0) b->reserved = 0;
    b->unflushed += actual;
    b->last_use_ms = now;
}

int pol_budgets_sync(pol_engine *e, int64_t now, int return_all)
{
    /* at shutdown the writer thread is gone: write directly */
    sqlite3 *db = return_all ? e->db : NULL;
    int began = 0;
    if (!return_all) pol_budgets_take_grants(e);
    for (int i = 0; i < e->nbudgets; i++) {
        pol_budget *b = &e->budgets[i];
        int idle = b->reserved == 0 && (return_all || now - b->last_use_ms > IDLE_RETURN_MS);
        if (!b->unflushed && !(b->lease && (idle || b->lease_expires_ms - now < LEASE_RENEW_MS))) continue;
        if (db && !began) {
            if (ldg_begin(db) != 0) return -1;
            began = 1;
        }
        /* idle: give back everything not spent; else keep the slice */
        int64_t delta = idle ? -(b->lease - b->unflushed - b->reserved) : 0;
        if (delta > 0) delta = 0;
        if (write_back(e, b, delta, now, db) != 0) goto fail;
    }
    return began ? ldg_commit(db) : 0;
fail:
    ldg_rollback(db);
    return -1;
}
