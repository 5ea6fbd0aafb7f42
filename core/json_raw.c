/* core/json_raw.c — finding a member's text inside JSON that the parser has
 * already accepted, so that an unchanged part of an upstream's message can
 * be passed on as it was written instead of being printed again from its
 * tree (the tree is still what guardrails inspect).
 *
 * The text and the tree must say the same thing, or a guardrail would pass
 * one thing and the client receive another. Where they could differ, these
 * functions refuse (return 0) and the caller prints the tree:
 *  - a key written with escapes ("r\u0065sult" is "result" in the tree);
 *  - a member present twice (the tree's accessors take the first);
 *  - "\u0000" anywhere: the tree holds U+FFFD there (its strings are C
 *    strings), and what goes out must be what the guardrails read. */
#include "json.h"

#include <string.h>

static size_t skip_ws(const char *t, size_t n, size_t i)
{
    while (i < n && od_is_space((unsigned char)t[i])) i++;
    return i;
}

/* past the string opening at t[i] (a quote); n when unterminated */
static size_t skip_string(const char *t, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (t[i] == '\\') i++;
        else if (t[i] == '"') return i + 1;
    }
    return n;
}

/* past the value starting at t[i]; n when it does not end */
static size_t skip_value(const char *t, size_t n, size_t i)
{
    if (i >= n) return n;
    if (t[i] == '"') return skip_string(t, n, i);
    if (t[i] != '{' && t[i] != '[') {
        while (i < n && t[i] != ',' && t[i] != '}' && t[i] != ']' && t[i] != ' ' && t[i] != '\t' &&
               t[i] != '\n' && t[i] != '\r')
            i++;
        return i;
    }
    int depth = 0;
    while (i < n) {
        char ch = t[i];
        if (ch == '"') {
            i = skip_string(t, n, i);
            continue;
        }
        if (ch == '{' || ch == '[') depth++;
        else if ((ch == '}' || ch == ']') && --depth == 0) return i + 1;
        i++;
    }
    return n;
}

int od_json_has_nul(const char *t, size_t n)
{
    /* in valid JSON every backslash starts an escape: step over each whole,
     * or the text \\u0000 (a backslash, then u0000) would count */
    for (const char *p = t, *e = t + n; (p = memchr(p, '\\', (size_t)(e - p)));) {
        if (e - p >= 6 && !memcmp(p, "\\u0000", 6)) return 1;
        if (e - p < 3) break;
        p += 2;
    }
    return 0;
}

int od_json_raw_member(const char *t, size_t n, const char *key, size_t *off, size_t *len)
{
    size_t klen = strlen(key), i = skip_ws(t, n, 0);
    int found = 0;
    if (i >= n || t[i] != '{') return 0;
    for (i++;;) {
        i = skip_ws(t, n, i);
        if (i < n && t[i] == ',') i = skip_ws(t, n, i + 1);
        if (i >= n) return 0;
        if (t[i] == '}') break;
        if (t[i] != '"') return 0;
        size_t ks = i + 1, ke = ks;
        while (ke < n && t[ke] != '"' && t[ke] != '\\') ke++;
        if (ke >= n || t[ke] == '\\') return 0; /* an escaped key */
        i = skip_ws(t, n, ke + 1);
        if (i >= n || t[i] != ':') return 0;
        size_t vs = skip_ws(t, n, i + 1);
        i = skip_value(t, n, vs);
        if (i >= n) return 0; /* the object's '}' is still to come */
        if (ke - ks == klen && !memcmp(t + ks, key, klen)) {
            if (found) return 0; /* twice */
            found = 1;
            *off = vs;
            *len = i - vs;
        }
    }
    return found && !od_json_has_nul(t + *off, *len);
}
