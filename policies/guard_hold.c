/* policies/guard_hold.c — how much of a streamed answer's end must wait for
 * more text before it can be inspected for good.
 *
 * A stream's text is released piece by piece; a value still being written
 * at its end ("call +1 415 55", "jane.roe@exa") must stay back until it is
 * whole, and so must the context a detector reads before a value ("ssn",
 * "phone": at most GR_HOLD_CONTEXT bytes). What can still grow is known
 * from the detectors' shapes:
 *  - a token (address, key, JWT, IP, e-mail): no white space in it, so the
 *    last run of non-white-space bytes;
 *  - digits and codes in groups (cards, phones, IBANs, SSNs): groups of at
 *    most 6 letters or digits joined by 1-3 of " -.()/", no further back
 *    than the longest such value;
 *  - a PEM block whose header line is not finished yet.
 * PCRE2 rules have no known shape: with a rule on output the caller keeps
 * its fixed window (GR_HOLD_UNKNOWN). */
#include <string.h>
#include "guard_int.h"

#define GROUPED_MAX 64 /* longer than any grouped value: IBAN 34 + 8 spaces */

static int group_char(unsigned char c) { return gr_isalnum(c) || c == '+'; }

/* Start of the groups that end at q, walking back no further than floor. */
static size_t groups_start(const char *t, size_t q, size_t floor, int digits)
{
    while (q > floor) {
        size_t s = q;
        while (s > floor && q - s < 3 && gr_group_sep((unsigned char)t[s - 1])) s--;
        if (s == q) break; /* no separator: the groups end here */
        size_t a = s;
        int dig = 0;
        while (a > floor && s - a < 7 && group_char((unsigned char)t[a - 1])) dig |= gr_isdigit((unsigned char)t[--a]);
        size_t len = s - a;
        if (len == 0 || len > 6 || (a > floor && group_char((unsigned char)t[a - 1]))) break;
        /* a group of letters only is an IBAN's ("WEST"): four of them, and
         * digits after */
        if (!dig && (len != 4 || !digits)) break;
        digits |= dig;
        q = a;
    }
    return q;
}

size_t gr_stream_hold(const gr_engine *e, const char *t, size_t n)
{
    for (int i = 0; i < e->nrules; i++)
        if (e->rules[i].where & OD_WHERE_OUTPUT)
            return GR_HOLD_UNKNOWN;
    size_t p = n;
    while (p > 0 && !od_is_space((unsigned char)t[p - 1])) p--;
    int digits = 0;
    for (size_t i = p; i < n; i++) digits |= gr_isdigit((unsigned char)t[i]);
    size_t q = groups_start(t, p, n > GROUPED_MAX ? n - GROUPED_MAX : 0, digits);
    if (p < q) q = p;
    /* a PEM header still being written: from its "-----BEGIN " (the last
     * one; text without a '-' costs one memrchr) */
    for (const char *d = memrchr(t, '-', n); d; d = d > t ? memrchr(t, '-', (size_t)(d - t)) : NULL) {
        size_t i = (size_t)(d - t);
        if (n - i < 11 || memcmp(d, "-----BEGIN ", 11)) continue;
        if (!memmem(d + 11, n - i - 11, "-----", 5) && i < q) q = i;
        break;
    }
    return n - q + GR_HOLD_CONTEXT;
}
