/* core/money.c — dollars <-> integer micro-dollars, never through a float. */
#include "od.h"

#include <stdio.h>
#include <string.h>

int od_money_parse(const char *s, int64_t *micros)
{
    if (!s) return -1;
    if (*s == '$') s++;
    const char *p = s;
    int64_t whole = 0, frac = 0;
    int nwhole = 0, nfrac = 0;
    while (*p >= '0' && *p <= '9') {
        if (whole > (INT64_MAX / OD_MICROS_PER_USD) / 10) return -1;
        whole = whole * 10 + (*p++ - '0');
        nwhole++;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (nfrac == 6) return -1; /* finer than a micro-dollar */
            frac = frac * 10 + (*p++ - '0');
            nfrac++;
        }
        if (nfrac == 0 && nwhole == 0) return -1;
    }
    if (*p || nwhole + nfrac == 0) return -1;
    for (int i = nfrac; i < 6; i++) frac *= 10;
    *micros = whole * OD_MICROS_PER_USD + frac;
    return 0;
}

char *od_money_fmt(int64_t micros, char out[32])
{
    const char *sign = "";
    uint64_t v;
    if (micros < 0) {
        sign = "-";
        v = (uint64_t)(-(micros + 1)) + 1;
    } else {
        v = (uint64_t)micros;
    }
    snprintf(out, 32, "%s%llu.%06llu", sign, (unsigned long long)(v / 1000000),
             (unsigned long long)(v % 1000000));
    return out;
}
