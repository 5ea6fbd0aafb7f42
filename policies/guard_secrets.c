/* policies/guard_secrets.c — credentials: provider keys recognised by their
 * documented prefixes (AWS, OpenAI, Anthropic, GitHub, Stripe, Slack,
 * Google), JWTs (header must decode to JSON with "alg"), PEM private keys,
 * and a high-entropy fallback for keys with no known shape.
 *
 * One pass cuts the text into tokens of [A-Za-z0-9_+/=-]; tokens shorter
 * than 16 bytes (nearly every word of prose) are skipped at once.
 *
 * high_entropy, the false-positive trade-off: a token counts when it is
 * 20..256 bytes, mixes upper case, lower case and digits, switches
 * character class often (random text does ~60% of the time, identifiers
 * like getUserAccount2 rarely) and its Shannon entropy is near the maximum
 * for its length. That leaves out hex (git SHAs, SHA-256 sums, UUIDs: no
 * upper case), words and identifiers, tokens inside URLs (file and
 * document ids) and base64 blobs over 256 bytes (images, attachments).
 * It still takes base64 of random bytes, which is usually a secret anyway. */
#include <math.h>
#include <string.h>
#include "guard_int.h"
#if defined(__SSE2__)
#include <emmintrin.h> /* baseline on x86-64; a scalar fallback otherwise */
#endif

#define ON(e, d) ((e)->act[d] != OD_ACT_OFF)

static inline int tok_char(unsigned char c)
{
    return gr_isalnum(c) || c == '_' || c == '-' || c == '+' || c == '/' || c == '=';
}
static inline int b64url_char(unsigned char c) { return gr_isalnum(c) || c == '_' || c == '-'; }

static size_t run(const char *s, size_t n, size_t i, int (*cls)(unsigned char))
{
    while (i < n && cls((unsigned char)s[i])) i++;
    return i;
}
static int alnum_c(unsigned char c) { return gr_isalnum(c); }
static int alnum_us(unsigned char c) { return gr_isalnum(c) || c == '_'; }
static int alnum_dash(unsigned char c) { return gr_isalnum(c) || c == '-'; }
static int b64url_c(unsigned char c) { return b64url_char(c); }
static int upper_digit(unsigned char c) { return gr_isupper(c) || gr_isdigit(c); }

/* -------------------------------------------------------------- base64 */

static int b64_val(unsigned char c)
{
    if (gr_isupper(c)) return c - 'A';
    if (gr_islower(c)) return c - 'a' + 26;
    if (gr_isdigit(c)) return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

size_t gr_b64_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
    size_t m = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t k = 0; k < n && m < cap; k++) {
        int v = b64_val((unsigned char)s[k]);
        if (v < 0) {
            if (s[k] == '=') break;
            continue;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[m++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return m;
}

/* ------------------------------------------------------------- entropy */

double gr_entropy(const char *s, size_t n)
{
    if (n == 0) return 0;
    unsigned cnt[256] = {0};
    for (size_t k = 0; k < n; k++) cnt[(unsigned char)s[k]]++;
    double h = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned c = cnt[(unsigned char)s[k]];
        if (!c) continue;
        double p = (double)c / (double)n;
        h -= p * log2(p);
        cnt[(unsigned char)s[k]] = 0;
    }
    return h;
}

static int cls_of(unsigned char c)
{
    return gr_isupper(c) ? 0 : gr_islower(c) ? 1 : gr_isdigit(c) ? 2 : 3;
}

static int high_entropy(const char *s, size_t n)
{
    while (n > 0 && s[n - 1] == '=') n--;
    if (n < 20 || n > 256) return 0;
    if (memmem(s, n, "//", 2)) return 0; /* a path or URL */
    int seen[4] = {0}, switches = 0, prev = -1;
    for (size_t k = 0; k < n; k++) {
        int c = cls_of((unsigned char)s[k]);
        seen[c]++;
        if (prev >= 0 && c != prev) switches++;
        prev = c;
    }
    if (!seen[0] || !seen[1] || !seen[2]) return 0;
    if ((double)switches < 0.35 * (double)(n - 1)) return 0;
    /* random base62/64 text of length n reaches about log2(n) - 0.6 bits
     * per byte (for n <= 64); ask for a little less */
    double want = n >= 64 ? 5.0 : log2((double)n) - 0.9;
    if (gr_entropy(s, n) < want) return 0;
    /* base64 of readable text (an encoded prompt, a JSON blob) is data,
     * not a credential: keys decode to binary noise */
    unsigned char buf[192];
    size_t m = gr_b64_decode(s, n, buf, sizeof buf), ok = 0;
    for (size_t k = 0; k < m; k++) ok += (buf[k] >= 0x20 && buf[k] < 0x7F) || buf[k] == '\n';
    return !(m >= 12 && ok * 10 >= m * 9);
}

/* --------------------------------------------------------- private key */

static int pem_body(unsigned char c)
{
    return gr_isalnum(c) || c == '+' || c == '/' || c == '=' || c == '\r' || c == '\n' || c == '\t' ||
           c == ' ' || c == ':' || c == ',' || c == '-' || c == '\\';
}

/* "-----BEGIN ... PRIVATE KEY-----" through its "-----END ...-----"; when
 * the END line is missing, through the base64 body (at most 16 KB). */
static void scan_private_keys(const char *s, size_t n, gr_spans *out)
{
    size_t i = 0;
    while (i < n) {
        const char *b = memchr(s + i, '-', n - i); /* memchr is far faster than memmem */
        if (!b) return;
        if (n - (size_t)(b - s) < 11 || memcmp(b, "-----BEGIN ", 11)) {
            i = (size_t)(b - s) + 1;
            continue;
        }
        size_t a = (size_t)(b - s), hs = a + 11;
        size_t lim = n - hs < 80 ? n - hs : 80;
        const char *h = memmem(s + hs, lim, "-----", 5);
        if (!h || !memmem(s + a, (size_t)(h - s) - a, "PRIVATE KEY", 11)) {
            i = hs;
            continue;
        }
        size_t end = (size_t)(h - s) + 5, cap = end + 16384 < n ? end + 16384 : n;
        while (end < cap && pem_body((unsigned char)s[end])) {
            if (s[end] == '-' && cap - end >= 9 && !memcmp(s + end, "-----END ", 9)) {
                size_t l2 = cap - end - 9 < 80 ? cap - end - 9 : 80;
                const char *t = memmem(s + end + 9, l2, "-----", 5);
                end = t ? (size_t)(t - s) + 5 : end + 9;
                break;
            }
            end++;
        }
        gr_spans_push(out, a, end, GR_D_PRIVATE_KEY);
        i = end > hs ? end : hs;
    }
}

/* ----------------------------------------------------------------- jwt */

static size_t try_jwt(const char *s, size_t n, size_t p)
{
    size_t e1 = run(s, n, p, b64url_c);
    if (e1 - p < 10 || e1 >= n || s[e1] != '.') return 0;
    size_t e2 = run(s, n, e1 + 1, b64url_c);
    if (e2 - e1 - 1 < 10 || e2 >= n || s[e2] != '.') return 0;
    size_t e3 = run(s, n, e2 + 1, b64url_c);
    unsigned char hdr[512];
    size_t m = gr_b64_decode(s + p, e1 - p, hdr, sizeof hdr);
    size_t k = 0;
    while (k < m && (hdr[k] == ' ' || hdr[k] == '\n' || hdr[k] == '\r' || hdr[k] == '\t')) k++;
    if (k >= m || hdr[k] != '{' || !memmem(hdr, m, "\"alg\"", 5)) return 0;
    return e3;
}

/* -------------------------------------------------------- known prefixes */

static int mixed(const char *s, size_t n)
{
    int u = 0, l = 0, d = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        u |= gr_isupper(c);
        l |= gr_islower(c);
        d |= gr_isdigit(c);
    }
    return u && l && d;
}

static int has(const char *s, size_t n, size_t p, const char *pre)
{
    size_t l = strlen(pre);
    return n - p >= l && !memcmp(s + p, pre, l);
}

/* A known key shape starting at p: its detector, end in *end; -1 if none. */
static int known_key(const gr_engine *e, const char *s, size_t n, size_t p, size_t *end)
{
    size_t q;
    switch (s[p]) {
    case 'e':
        if (ON(e, GR_D_JWT) && has(s, n, p, "eyJ") && (q = try_jwt(s, n, p))) {
            *end = q;
            return GR_D_JWT;
        }
        break;
    case 's':
        if (has(s, n, p, "sk-ant-")) {
            q = run(s, n, p + 7, b64url_c);
            if (ON(e, GR_D_ANTHROPIC) && q - p - 7 >= 32) {
                *end = q;
                return GR_D_ANTHROPIC;
            }
        } else if (has(s, n, p, "sk-")) {
            q = run(s, n, p + 3, b64url_c);
            if (ON(e, GR_D_OPENAI) && q - p - 3 >= 20 && mixed(s + p + 3, q - p - 3)) {
                *end = q;
                return GR_D_OPENAI;
            }
        } else if (has(s, n, p, "sk_live_") || has(s, n, p, "sk_test_")) {
            goto stripe;
        }
        break;
    case 'r':
        if (has(s, n, p, "rk_live_") || has(s, n, p, "rk_test_")) goto stripe;
        break;
    case 'A':
        if (has(s, n, p, "AKIA") || has(s, n, p, "ASIA")) {
            q = run(s, n, p + 4, upper_digit);
            if (ON(e, GR_D_AWS) && q - p == 20 && (q >= n || !gr_isalnum((unsigned char)s[q]))) {
                *end = q;
                return GR_D_AWS;
            }
        } else if (has(s, n, p, "AIza")) {
            q = run(s, n, p + 4, b64url_c);
            if (ON(e, GR_D_GOOGLE) && q - p == 39) {
                *end = q;
                return GR_D_GOOGLE;
            }
        }
        break;
    case 'g':
        if (has(s, n, p, "github_pat_")) {
            q = run(s, n, p + 11, alnum_us);
            if (ON(e, GR_D_GITHUB) && q - p - 11 >= 40) {
                *end = q;
                return GR_D_GITHUB;
            }
        } else if (n - p > 4 && s[p + 1] == 'h' && strchr("posur", s[p + 2]) && s[p + 2] && s[p + 3] == '_') {
            q = run(s, n, p + 4, alnum_c);
            if (ON(e, GR_D_GITHUB) && q - p - 4 >= 30 && q - p - 4 <= 255) {
                *end = q;
                return GR_D_GITHUB;
            }
        }
        break;
    case 'x':
        if (n - p > 5 && !memcmp(s + p, "xox", 3) && strchr("abprs", s[p + 3]) && s[p + 3] && s[p + 4] == '-') {
            q = run(s, n, p + 5, alnum_dash);
            if (ON(e, GR_D_SLACK) && q - p - 5 >= 20) {
                *end = q;
                return GR_D_SLACK;
            }
        }
        break;
    }
    return -1;
stripe:
    q = run(s, n, p + 8, alnum_c);
    if (ON(e, GR_D_STRIPE) && q - p - 8 >= 20) {
        *end = q;
        return GR_D_STRIPE;
    }
    return -1;
}

/* ----------------------------------------------------------------- scan */

/* The token starting at a sits inside a URL: "://" earlier in the same
 * whitespace-delimited word. */
static int in_url(const char *s, size_t a)
{
    size_t lim = a > 512 ? a - 512 : 0;
    for (size_t k = a; k >= lim + 3; k--) {
        unsigned char c = (unsigned char)s[k - 1];
        if (c <= ' ' || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`') return 0;
        if (c == '/' && s[k - 2] == '/' && s[k - 3] == ':') return 1;
    }
    return 0;
}

/* One token [a, b) of >= 16 bytes: known key shapes at its start or after
 * '=', '/', '+'; else the high-entropy test. Returns where scanning goes
 * on (a JWT runs past the token's dots). */
static size_t token(const gr_engine *e, const char *s, size_t n, size_t a, size_t b, gr_spans *out)
{
    int found = 0;
    for (size_t p = a; p < b; p++) {
        if (p != a && s[p - 1] != '=' && s[p - 1] != '/' && s[p - 1] != '+') continue;
        size_t end = 0;
        int det = known_key(e, s, n, p, &end);
        if (det < 0) continue;
        gr_spans_push(out, p, end, det);
        found = 1;
        if (end > b) b = end;
        p = end - 1;
    }
    if (found || !ON(e, GR_D_ENTROPY) || in_url(s, a)) return b;
    if (a >= 7 && !memcmp(s + a - 7, "base64,", 7)) return b; /* data: URL */
    /* NAME=value: judge the value alone ('=' at the end is padding) */
    size_t v = a;
    for (size_t k = a; k + 1 < b; k++)
        if (s[k] == '=' && s[k + 1] != '=') {
            v = k + 1;
            break;
        }
    if (high_entropy(s + v, b - v)) gr_spans_push(out, v, b, GR_D_ENTROPY);
    return b;
}

#if defined(__SSE2__)
/* Token bytes [A-Za-z0-9_+/=-] among 16, as a 16-bit mask. */
static inline unsigned tok16(const char *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i l = _mm_sub_epi8(_mm_or_si128(v, _mm_set1_epi8(0x20)), _mm_set1_epi8('a'));
    __m128i d = _mm_sub_epi8(v, _mm_set1_epi8('0'));
    __m128i t = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(l, _mm_set1_epi8(25)), l),
                             _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d));
    t = _mm_or_si128(t, _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('_')), _mm_cmpeq_epi8(v, _mm_set1_epi8('+'))));
    t = _mm_or_si128(t, _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('/')), _mm_cmpeq_epi8(v, _mm_set1_epi8('='))));
    t = _mm_or_si128(t, _mm_cmpeq_epi8(v, _mm_set1_epi8('-')));
    return (unsigned)_mm_movemask_epi8(t);
}
#else
static inline unsigned tok16(const char *p)
{
    unsigned m = 0;
    for (unsigned k = 0; k < 16; k++) m |= (unsigned)((gr_cls[(unsigned char)p[k]] & GR_C_TOK) != 0) << k;
    return m;
}
#endif

/* Bytes below '+' (space, newline, quotes, comma...) among 16: one is
 * in nearly every 8 bytes of prose. */
static inline unsigned small16(const char *p)
{
#if defined(__SSE2__)
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    return ~(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8('+')), v)) & 0xFFFFu;
#else
    unsigned m = 0;
    for (unsigned k = 0; k < 16; k++) m |= (unsigned)((unsigned char)p[k] < '+') << k;
    return m;
#endif
}

void gr_secrets_scan(const gr_engine *e, const char *s, size_t n, gr_spans *out)
{
    if (ON(e, GR_D_PRIVATE_KEY)) scan_private_keys(s, n, out);
    /* A token of 16+ bytes covers some whole 8-byte block at an offset that
     * is a multiple of 8: test blocks, two at a time, and look closer only
     * where a block is all token bytes (rare in prose, where spaces come
     * every few bytes). */
    size_t i = 0; /* everything before i is done */
    char pad[16];
    for (size_t j = 0; j + 8 <= n; j += 16) {
        const char *p = s + j;
        if (n - j < 16) { /* zero: a small byte, so a half past n never passes */
            memset(pad, 0, sizeof pad);
            memcpy(pad, p, n - j);
            p = pad;
        }
        unsigned sm = small16(p);
        if ((sm & 0xFFu) && (sm & 0xFF00u)) continue;
        unsigned tk = tok16(p);
        for (unsigned h = 0; h < 16; h += 8) {
            size_t blk = j + h;
            if (blk < i || ((tk >> h) & 0xFFu) != 0xFFu) continue;
            size_t a = blk, b = blk + 8;
            while (a > i && (gr_cls[(unsigned char)s[a - 1]] & GR_C_TOK)) a--;
            while (b < n && (gr_cls[(unsigned char)s[b]] & GR_C_TOK)) b++;
            i = b - a >= 16 ? token(e, s, n, a, b, out) : b;
        }
    }
}
