/* core/time.c — clocks (the wall clock is injectable for tests), durations
 * and dates. */
#include "od.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t (*wall_fn)(void);

void od_clock_set_wall(int64_t (*fn)(void))
{
    wall_fn = fn;
}

int64_t od_wall_ms(void)
{
    if (wall_fn) return wall_fn();
    /* ODOCK_FAKE_NOW (Unix ms or a date) pins the clock: end-to-end tests of
     * expiry and budget periods use it. Read once. */
    static int fake_read;
    static int64_t fake = -1;
    if (!fake_read) {
        fake_read = 1;
        const char *s = getenv("ODOCK_FAKE_NOW");
        if (s && *s && od_parse_i64(s, &fake) != 0 && od_date_parse(s, &fake) != 0) fake = -1;
    }
    if (fake >= 0) return fake;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t od_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int od_duration_parse(const char *s, int64_t *ms)
{
    if (!s || !*s) return -1;
    int64_t n = 0;
    const char *p = s;
    if (*p < '0' || *p > '9') return -1;
    while (*p >= '0' && *p <= '9') {
        if (n > 1000000000) return -1;
        n = n * 10 + (*p++ - '0');
    }
    int64_t unit;
    if (!strcmp(p, "ms")) unit = 1;
    else if (!strcmp(p, "s")) unit = 1000;
    else if (!strcmp(p, "m")) unit = 60000;
    else if (!strcmp(p, "h")) unit = 3600000;
    else if (!strcmp(p, "d")) unit = 86400000;
    else if (!strcmp(p, "w")) unit = 7 * 86400000LL;
    else return -1;
    *ms = n * unit;
    return 0;
}

/* days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant) */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int od_date_parse(const char *s, int64_t *ms)
{
    if (!s) return -1;
    int y, mo, d, h = 0, mi = 0, se = 0, n = 0;
    size_t len = strlen(s);
    if (len == 10) {
        if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10) return -1;
    } else if (len == 20 && (s[10] == 'T' || s[10] == ' ') && s[19] == 'Z') {
        if (sscanf(s, "%4d-%2d-%2d%*c%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 || n != 19)
            return -1;
    } else if (len == 19 && (s[10] == 'T' || s[10] == ' ')) {
        if (sscanf(s, "%4d-%2d-%2d%*c%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 || n != 19)
            return -1;
    } else {
        return -1;
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1]) return -1;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap) return -1;
    if (h > 23 || mi > 59 || se > 59) return -1;
    *ms = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000LL + se * 1000LL;
    return 0;
}

int od_when_parse(const char *s, int64_t now_ms, int future, int64_t *ms)
{
    int64_t d;
    if (od_duration_parse(s, &d) == 0) {
        *ms = future ? now_ms + d : now_ms - d;
        return 0;
    }
    return od_date_parse(s, ms);
}

char *od_time_fmt(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return out;
}
