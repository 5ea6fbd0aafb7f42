/* policies/grants.c — ordered glob grants with '!' exclusions. */
#include "pol_int.h"

#include <string.h>

int pol_grant_match(const char *patterns, const char *target)
{
    if (!patterns || !*patterns) return -1;
    /* no positive pattern at all ("!*-preview"): start from allowed */
    int allowed = 1;
    for (const char *p = patterns; *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n && *p != '!') {
            allowed = 0;
            break;
        }
        p += n + (comma != NULL);
    }
    char pat[256];
    for (const char *p = patterns; *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        int neg = n && *p == '!';
        size_t off = (size_t)neg;
        if (n - off > 0 && n - off < sizeof pat) {
            memcpy(pat, p + off, n - off);
            pat[n - off] = '\0';
            if (od_glob_match(pat, target)) allowed = !neg; /* the last match wins */
        }
        p += n + (comma != NULL);
    }
    return allowed;
}
