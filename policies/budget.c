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

/* Applies, inside a transaction: spent += unflushed (taken out of our lease
 * as far as it goes), lease += delta (delta < 0 returns room), and writes the
 * lease row. */
static int write_back(pol_engine *e, pol_budget *b, int64_t delta, int64_t now)
{
    int64_t moved = b->unflushed < b->lease ? b->unflushed : b->lease;
    if (moved < 0) moved = 0;
    int64_t new_lease = b->lease - moved + delta;
    if (new_lease < 0) {
        delta -= new_lease;
        new_lease = 0;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(e->db, "UPDATE budgets SET spent_micros = spent_micros + ?1, "
                                  "held_micros = MAX(0, held_micros - ?2 + ?3) WHERE id = ?4",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, b->unflushed);
    sqlite3_bind_int64(st, 2, moved);
    sqlite3_bind_int64(st, 3, delta);
    sqlite3_bind_int64(st, 4, b->b.id);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    if (rc) return -1;
    int64_t expires = new_lease > 0 ? now + LEASE_TTL_MS : 0;
    if (new_lease > 0) {
        rc = sqlite3_prepare_v2(e->db, "INSERT INTO leases(owner, budget_id, micros, expires_ms) VALUES(?1, ?2, ?3, ?4) "
                                       "ON CONFLICT(owner, budget_id) DO UPDATE SET micros = ?3, expires_ms = ?4",
                                -1, &st, NULL);
    } else {
        rc = sqlite3_prepare_v2(e->db, "DELETE FROM leases WHERE owner = ?1 AND budget_id = ?2", -1, &st, NULL);
    }
    if (rc != SQLITE_OK) return -1;
    sqlite3_bind_text(st, 1, e->owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, b->b.id);
    if (new_lease > 0) {
        sqlite3_bind_int64(st, 3, new_lease);
        sqlite3_bind_int64(st, 4, expires);
    }
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    if (rc) return -1;
    b->b.spent_micros += b->unflushed;
    b->b.held_micros += delta - moved;
    b->unflushed = 0;
    b->lease = new_lease;
    b->lease_expires_ms = expires;
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

int pol_budget_hold(pol_engine *e, int i, int64_t amount, int64_t now)
{
    pol_budget *b = &e->budgets[i];
    b->last_use_ms = now;
    if (avail(b) >= amount) {
        b->reserved += amount;
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
    int64_t slice = room / 8;
    if (slice > amount * 1024) slice = amount * 1024;
    if (slice > want) want = slice;
    if (want > room) want = room;
    if (want < missing) want = 0; /* cannot cover this request: take nothing */
    if (write_back(e, b, want, now) != 0 || ldg_commit(e->db) != 0) goto fail;
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
    int need = 0;
    for (int i = 0; i < e->nbudgets; i++) {
        pol_budget *b = &e->budgets[i];
        int idle = b->reserved == 0 && (return_all || now - b->last_use_ms > IDLE_RETURN_MS);
        if (b->unflushed || (b->lease && (idle || b->lease_expires_ms - now < LEASE_RENEW_MS))) need = 1;
    }
    if (!need) return 0;
    if (ldg_begin(e->db) != 0) return -1;
    for (int i = 0; i < e->nbudgets; i++) {
        pol_budget *b = &e->budgets[i];
        int idle = b->reserved == 0 && (return_all || now - b->last_use_ms > IDLE_RETURN_MS);
        if (!b->unflushed && !(b->lease && (idle || b->lease_expires_ms - now < LEASE_RENEW_MS))) continue;
        int64_t mine = lease_in_ledger(e, b);
        if (mine < 0) goto fail;
        if (mine < b->lease) b->lease = mine;
        /* idle: give back everything not spent; else keep the slice */
        int64_t delta = idle ? -(b->lease - b->unflushed - b->reserved) : 0;
        if (delta > 0) delta = 0;
        if (write_back(e, b, delta, now) != 0) goto fail;
    }
    return ldg_commit(e->db);
fail:
    ldg_rollback(e->db);
    return -1;
}
