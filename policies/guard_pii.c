/* policies/guard_pii.c — hand-written scanners for personal data: email,
 * phone, card (Luhn), iban (mod 97), ssn, ip (v4 and v6). No regex: each
 * scanner is one pass over the text triggered by a cheap byte ('@', ':',
 * a digit), so text without such bytes costs next to nothing. */
#include <string.h>
#include <strings.h>
#include "guard_int.h"
#if defined(__SSE2__)
#include <emmintrin.h> /* baseline on x86-64; a scalar fallback otherwise */
#endif

#define ON(e, d) ((e)->act[d] != OD_ACT_OFF)

/* ---------------------------------------------------------------- helpers */

/* s[i] starts a standalone value: not glued to a word, and not the tail of a
 * longer code ("ORD-4111...", "v1.2.3.4", "x/555..."). */
static int left_ok(const char *s, size_t i)
{
    if (i == 0) return 1;
    unsigned char p = (unsigned char)s[i - 1];
    if (gr_isalnum(p) || p == '_') return 0;
    if ((p == '-' || p == '.' || p == '/') && i >= 2 && gr_isalnum((unsigned char)s[i - 2])) return 0;
    return 1;
}

static int right_ok(const char *s, size_t n, size_t e)
{
    if (e >= n) return 1;
    unsigned char c = (unsigned char)s[e];
    if (gr_isalnum(c) || c == '_') return 0;
    if ((c == '-' || c == '.' || c == '/') && e + 1 < n && gr_isalnum((unsigned char)s[e + 1])) return 0;
    return 1;
}

/* One of words (lower case) starts a word in the win bytes before i. */
static int ctx_has(const char *s, size_t i, size_t win, const char *const *words)
{
    char low[64];
    if (win > sizeof low) win = sizeof low;
    size_t a = i > win ? i - win : 0, m = i - a;
    for (size_t k = 0; k < m; k++) {
        unsigned char c = (unsigned char)s[a + k];
        low[k] = (char)(gr_isupper(c) ? c | 0x20 : c);
    }
    for (size_t p = 0; p < m; p++) {
        /* every word starts with a letter, and not inside a word ("ver "
         * not in "server ") */
        if (!gr_islower((unsigned char)low[p]) || (p > 0 && gr_isalpha((unsigned char)low[p - 1]))) continue;
        for (const char *const *w = words; *w; w++) {
            if ((*w)[0] != low[p]) continue;
            size_t l = strlen(*w);
            if (l <= m - p && !memcmp(*w, low + p, l)) return 1;
        }
    }
    return 0;
}

/* Digit groups separated by one byte of seps (two bytes): "4111 1111". */
#define GR_MAXG 8
typedef struct grp {
    int ng;
    size_t ndig;
    size_t len[GR_MAXG];
    size_t gend[GR_MAXG]; /* end of each group */
    char sep[GR_MAXG];    /* separator after each group (0: none) */
} grp;

static void read_groups(const char *s, size_t n, size_t i, const char *seps, grp *g)
{
    memset(g, 0, sizeof *g);
    size_t j = i;
    while (g->ng < GR_MAXG) {
        size_t k = j;
        while (k < n && gr_isdigit((unsigned char)s[k])) k++;
        if (k == j) break;
        g->len[g->ng] = k - j;
        g->gend[g->ng] = k;
        g->ndig += k - j;
        g->ng++;
        if (k + 1 < n && (s[k] == seps[0] || s[k] == seps[1]) && gr_isdigit((unsigned char)s[k + 1])) {
            g->sep[g->ng - 1] = s[k];
            j = k + 1;
            continue;
        }
        break;
    }
}

/* ------------------------------------------------------------- checksums */

int gr_luhn_ok(const char *d, size_t n)
{
    if (n == 0) return 0;
    int sum = 0, dbl = 0;
    for (size_t k = n; k-- > 0;) {
        if (!gr_isdigit((unsigned char)d[k])) return 0;
        int v = d[k] - '0';
        if (dbl) {
            v *= 2;
            if (v > 9) v -= 9;
        }
        sum += v;
        dbl = !dbl;
    }
    return sum % 10 == 0;
}

int gr_iban_ok(const char *s, size_t n)
{
    if (n < 15 || n > 34) return 0;
    if (!gr_isupper((unsigned char)s[0]) || !gr_isupper((unsigned char)s[1]) ||
        !gr_isdigit((unsigned char)s[2]) || !gr_isdigit((unsigned char)s[3]))
        return 0;
    unsigned r = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[(k + 4) % n]; /* the first four go last */
        if (gr_isdigit(c)) r = (r * 10 + (unsigned)(c - '0')) % 97;
        else if (gr_isupper(c)) r = (r * 100 + (unsigned)(c - 'A' + 10)) % 97;
        else return 0;
    }
    return r == 1;
}

/* Never-issued SSNs: area 000, 666, 900-999; group 00; serial 0000; plus the
 * two famous specimen numbers that show up in forms and ads. */
int gr_ssn_ok(int area, int group, int serial)
{
    if (area <= 0 || area == 666 || area >= 900) return 0;
    if (group <= 0 || serial <= 0) return 0;
    if (area == 78 && group == 5 && serial == 1120) return 0;   /* Woolworth wallet card */
    if (area == 123 && group == 45 && serial == 6789) return 0; /* the textbook example */
    return 1;
}

static int num(const char *s, size_t n)
{
    int v = 0;
    for (size_t k = 0; k < n; k++) v = v * 10 + (s[k] - '0');
    return v;
}

/* ----------------------------------------------------------------- email */

/* Domains that are really file names ("logo@2x.png"). */
static int file_tld(const char *t, size_t n)
{
    static const char *const ext[] = {"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico",
                                      "js", "ts", "css", "json", "txt", "pdf", NULL};
    for (int k = 0; ext[k]; k++)
        if (strlen(ext[k]) == n && !strncasecmp(ext[k], t, n)) return 1;
    return 0;
}

static int local_char(unsigned char c)
{
    return gr_isalnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static void scan_email(const char *s, size_t n, gr_spans *out)
{
    size_t from = 0;
    while (from < n) {
        const char *at = memchr(s + from, '@', n - from);
        if (!at) return;
        size_t a = (size_t)(at - s), i = a;
        from = a + 1;
        while (i > 0 && local_char((unsigned char)s[i - 1]) && a - i < 64) i--;
        while (i < a && s[i] == '.') i++;
        if (i == a || s[a - 1] == '.') continue;
        /* domain: labels of [A-Za-z0-9-] joined by single dots */
        size_t j = a + 1, label = j, labels = 0, tld = j, tldlen = 0;
        for (;;) {
            size_t k = j;
            while (k < n && (gr_isalnum((unsigned char)s[k]) || s[k] == '-') && k - j < 63) k++;
            if (k == j || s[j] == '-' || s[k - 1] == '-') break;
            labels++;
            tld = j;
            tldlen = k - j;
            label = k;
            if (k + 1 < n && s[k] == '.' && gr_isalnum((unsigned char)s[k + 1])) {
                j = k + 1;
                continue;
            }
            break;
        }
        if (labels < 2 || tldlen < 2 || tldlen > 24) continue;
        int alpha = 1;
        for (size_t k = 0; k < tldlen; k++) alpha &= gr_isalpha((unsigned char)s[tld + k]);
        if (!alpha || file_tld(s + tld, tldlen)) continue;
        if (label < n && (s[label] == '_' || s[label] == '@')) continue;
        gr_spans_push(out, i, label, GR_D_EMAIL);
        from = label;
    }
}

/* ------------------------------------------------------------------ ipv4 */

/* Four octets 0-255 without leading zeros; end offset or 0. */
static size_t ipv4_at(const char *s, size_t n, size_t i)
{
    size_t j = i;
    for (int o = 0; o < 4; o++) {
        if (o > 0) {
            if (j >= n || s[j] != '.') return 0;
            j++;
        }
        size_t k = j;
        int v = 0;
        while (k < n && gr_isdigit((unsigned char)s[k]) && k - j < 4) v = v * 10 + (s[k++] - '0');
        if (k == j || k - j > 3 || v > 255 || (k - j > 1 && s[j] == '0')) return 0;
        j = k;
    }
    return j;
}

static size_t try_ipv4(const char *s, size_t n, size_t i)
{
    static const char *const version[] = {"version", "ver ", "ver.", "release", "build", "firmware",
                                          "v.", NULL};
    if (i > 0 && (gr_isalnum((unsigned char)s[i - 1]) || s[i - 1] == '.' || s[i - 1] == '_')) return 0;
    /* most numbers are not followed by '.' within four bytes */
    size_t q = i + 1;
    while (q < n && q - i < 4 && gr_isdigit((unsigned char)s[q])) q++;
    if (q >= n || s[q] != '.') return 0;
    size_t j = ipv4_at(s, n, i);
    if (!j) return 0;
    if (j < n && (gr_isalnum((unsigned char)s[j]) || s[j] == '_')) return 0;
    if (j + 1 < n && s[j] == '.' && gr_isdigit((unsigned char)s[j + 1])) return 0; /* 1.2.3.4.5 */
    if (ctx_has(s, i, GR_CTX_VERSION, version)) return 0;
    return j;
}

/* ------------------------------------------------------------------ ipv6 */

/* Parses an IPv6 address in s[a, b); returns its end or 0. Without "::"
 * it needs all 8 groups (so "12:30:45" and MAC addresses are not taken);
 * with "::" it needs 5+ hex digits ("fe80::1"), or is exactly "::1". */
static size_t ipv6_at(const char *s, size_t a, size_t b)
{
    size_t j = a;
    int ng = 0, dc = -1, hexd = 0, v4 = 0;
    if (s[j] == ':') {
        if (j + 1 < b && s[j + 1] == ':') {
            dc = 0;
            j += 2;
        } else return 0;
    }
    while (j < b) {
        size_t k = j;
        while (k < b && gr_ishex((unsigned char)s[k]) && k - j < 5) k++;
        if (k == j) break;
        if (k + 1 < b && s[k] == '.' && gr_isdigit((unsigned char)s[k + 1])) {
            size_t e4 = ipv4_at(s, b, j); /* dotted IPv4 tail: ::ffff:10.0.0.1 */
            if (!e4 || ng > 6) return 0;
            ng += 2;
            v4 = 1;
            j = e4;
            break;
        }
        if (k - j > 4) return 0;
        ng++;
        hexd += (int)(k - j);
        j = k;
        if (j + 1 < b && s[j] == ':' && s[j + 1] == ':') {
            if (dc >= 0) return 0;
            dc = ng;
            j += 2;
            continue;
        }
        if (j + 1 < b && s[j] == ':' && gr_ishex((unsigned char)s[j + 1])) {
            j++;
            continue;
        }
        break;
    }
    if (ng > 8) return 0;
    if (dc < 0) return ng == 8 ? j : 0;
    if (ng > 7) return 0;
    if (v4 || hexd >= 5) return j;
    if (ng == 1 && j - a == 3 && !memcmp(s + a, "::1", 3)) return j;
    return 0;
}

static void scan_ipv6(const char *s, size_t n, gr_spans *out)
{
    size_t i = 0;
    while (i < n) {
        const char *c = memchr(s + i, ':', n - i);
        if (!c) return;
        size_t k = (size_t)(c - s);
        i = k + 1;
        if (!((k > 0 && gr_ishex((unsigned char)s[k - 1])) || (k + 1 < n && s[k + 1] == ':'))) continue;
        size_t a = k;
        while (a > 0 && (gr_ishex((unsigned char)s[a - 1]) || s[a - 1] == ':') && k - a < 48) a--;
        size_t b = k;
        while (b < n && (gr_ishex((unsigned char)s[b]) || s[b] == ':' || s[b] == '.') && b - a < 64) b++;
        if (a > 0 && (gr_isalnum((unsigned char)s[a - 1]) || s[a - 1] == '_' || s[a - 1] == ':')) {
            i = b > i ? b : i; /* glued to something: skip the whole run */
            continue;
        }
        size_t e = ipv6_at(s, a, b);
        if (!e) {
            i = b > i ? b : i;
            continue;
        }
        /* an address that ended before this ':' ("fe80::1: up") was taken
         * at an earlier one: going back to it would loop forever */
        if (e <= k) continue;
        if (e < n && (gr_isalnum((unsigned char)s[e]) || s[e] == '_')) continue;
        gr_spans_push(out, a, e, GR_D_IPV6);
        i = e;
    }
}

/* ------------------------------------------------------------------ card */

/* 13-19 digits starting 2-6 (the networks in use), contiguous or in groups
 * of 3-6 split by one kind of separator with a 4-digit first group, Luhn
 * valid. A grouped card followed by more digits ("... 12/25") is taken
 * from its longest valid prefix. */
static size_t try_card(const char *s, size_t n, size_t i)
{
    if (s[i] < '2' || s[i] > '6' || !left_ok(s, i) || (i > 0 && s[i - 1] == '+')) return 0;
    grp g;
    read_groups(s, n, i, " -", &g);
    char d[24];
    if (g.ng == 1) {
        if (g.ndig < 13 || g.ndig > 19 || !right_ok(s, n, g.gend[0])) return 0;
        return gr_luhn_ok(s + i, g.ndig) ? g.gend[0] : 0;
    }
    if (g.len[0] != 4) return 0;
    size_t m = 0;
    size_t best = 0;
    for (int k = 0; k < g.ng; k++) {
        if (g.len[k] < 3 || g.len[k] > 6 || m + g.len[k] > 19) break;
        if (k > 0 && g.sep[k - 1] != g.sep[0]) break;
        memcpy(d + m, s + g.gend[k] - g.len[k], g.len[k]);
        m += g.len[k];
        if (k >= 1 && m >= 13 && gr_luhn_ok(d, m) &&
            (g.sep[k] == ' ' || g.sep[k] == 0) && right_ok(s, n, g.gend[k]))
            best = g.gend[k];
    }
    return best;
}

/* ------------------------------------------------------------------- ssn */

static const char *const SSN_CTX[] = {"ssn", "social security", "ss#", "ss #", "ss no", NULL};

static size_t try_ssn(const char *s, size_t n, size_t i)
{
    if (!left_ok(s, i)) return 0;
    grp g;
    read_groups(s, n, i, "- ", &g);
    size_t end = 0;
    if (g.ng >= 3 && g.len[0] == 3 && g.len[1] == 2 && g.len[2] == 4 && g.sep[0] == g.sep[1]) {
        if (g.ng > 3 && g.sep[2] == g.sep[0]) return 0; /* a longer code */
        end = g.gend[2];
    } else if (g.len[0] == 9 && ctx_has(s, i, GR_CTX_SSN, SSN_CTX)) {
        end = g.gend[0];
    } else {
        return 0;
    }
    if (!right_ok(s, n, end)) return 0;
    char d[9];
    size_t m = 0;
    for (size_t k = i; k < end && m < 9; k++)
        if (gr_isdigit((unsigned char)s[k])) d[m++] = s[k];
    if (m != 9) return 0;
    return gr_ssn_ok(num(d, 3), num(d + 3, 2), num(d + 5, 4)) ? end : 0;
}

/* ----------------------------------------------------------------- phone */

static const char *const PHONE_CTX[] = {"phone", "tel", "mobile", "cell", "call", "fax", "whatsapp",
                                        "sms", "text me", "reach me", "contact", "number:", NULL};

/* A separator between phone groups: parens plus one of "", " ", "-", ".",
 * " - ". A '.' must touch digits on both sides so "4567. 2 items" ends. */
static int phone_sep(const char *s, size_t a, size_t b, int *paren)
{
    char buf[4];
    size_t m = 0;
    for (size_t k = a; k < b; k++) {
        if (s[k] == '(') {
            if (*paren != 0) return 0;
            *paren = 1;
        } else if (s[k] == ')') {
            if (*paren != 1) return 0;
            *paren = 2;
        } else if (m < 3) {
            buf[m++] = s[k];
        } else {
            return 0;
        }
    }
    buf[m] = 0;
    return m == 0 || !strcmp(buf, " ") || !strcmp(buf, "-") || !strcmp(buf, ".") || !strcmp(buf, " - ");
}

static size_t try_phone(const char *s, size_t n, size_t i, size_t *start)
{
    size_t st = i;
    if (i > 0 && (s[i - 1] == '+' || s[i - 1] == '(')) st = i - 1;
    if (st > 0 && s[st] == '(' && s[st - 1] == '+') st--;
    if (!left_ok(s, st) || (st > 0 && (s[st - 1] == '#' || s[st - 1] == '+' || s[st - 1] == '$')))
        return 0;
    int plus = s[st] == '+', paren = 0;
    size_t len[16], gs[16]; /* group lengths and starts */
    int ng = 0;
    size_t ndig = 0, end = st, j = st + (size_t)plus;
    for (;;) {
        size_t k = j;
        while (k < n && k - j < 4 && (s[k] == ' ' || s[k] == '-' || s[k] == '.' || s[k] == '(' || s[k] == ')'))
            k++;
        if (k >= n || !gr_isdigit((unsigned char)s[k])) break;
        if (ng > 0 && k == j) break;
        if (!phone_sep(s, j, k, &paren)) break;
        size_t d = k;
        while (d < n && gr_isdigit((unsigned char)s[d])) d++;
        if (ng == 16 || ndig + (d - k) > 15) return 0;
        gs[ng] = k;
        len[ng++] = d - k;
        ndig += d - k;
        end = j = d;
    }
    if (ng == 0 || paren == 1 || !right_ok(s, n, end)) return 0;
    if (end < n && s[end] == ')') return 0;
    int ok = 0;
    if (plus) {
        ok = ndig >= 8 && ndig <= 15 && (ng > 1 || ndig >= 10);
    } else if (ndig == 10 && ng == 3 && len[0] == 3 && len[1] == 3 && len[2] == 4) {
        ok = s[gs[0]] >= '2' && s[gs[1]] >= '2'; /* NANP area and exchange */
    } else if (ndig == 11 && ng == 4 && s[gs[0]] == '1' && len[0] == 1 && len[1] == 3 && len[2] == 3) {
        ok = s[gs[1]] >= '2' && s[gs[2]] >= '2';
    } else if (s[gs[0]] == '0' && ndig >= 10 && ndig <= 11 && ng >= 2) {
        ok = 1;
        for (int k = 0; k < ng; k++) ok &= len[k] >= 2;
    }
    if (!ok && ndig >= 7 && (ng > 1 || ndig >= 10) && ctx_has(s, st, GR_CTX_PHONE, PHONE_CTX)) ok = 1;
    if (!ok) return 0;
    *start = st;
    return end;
}

/* ------------------------------------------------------------------ iban */

static int iban_len(char a, char b)
{
    static const char tab[] =
        "AD24AE23AL28AT20AZ28BA20BE16BG22BH22BR29BY28CH21CR22CY28CZ24DE22DK18DO28EE20EG29"
        "ES24FI18FO18FR27GB22GE22GI23GL18GR27GT28HR21HU28IE22IL23IQ23IS26IT27JO30KW30KZ20"
        "LB28LC32LI21LT20LU20LV21MC27MD24ME22MK19MR27MT31MU30NL18NO15PK24PL28PS29PT25QA29"
        "RO24RS22SA24SC31SE24SI19SK24SM27ST25SV28TL23TN24TR26UA29VA22VG24XK20";
    for (size_t k = 0; k + 4 <= sizeof tab - 1; k += 4)
        if (tab[k] == a && tab[k + 1] == b) return (tab[k + 2] - '0') * 10 + (tab[k + 3] - '0');
    return 0;
}

/* i: the first check digit; the country code is s[i-2..i-1]. Compact or in
 * groups of four split by single spaces. */
static size_t try_iban(const char *s, size_t n, size_t i)
{
    size_t a = i - 2;
    if (a > 0 && (gr_isalnum((unsigned char)s[a - 1]) || s[a - 1] == '_')) return 0;
    int L = iban_len(s[a], s[a + 1]);
    if (!L) return 0;
    char buf[34];
    int m = 0;
    size_t j = a;
    while (j < n && m < L) {
        unsigned char c = (unsigned char)s[j];
        if (gr_isalnum(c)) {
            buf[m++] = (char)(gr_islower(c) ? c - 32 : c);
            j++;
        } else if (c == ' ' && m % 4 == 0 && j + 1 < n && gr_isalnum((unsigned char)s[j + 1])) {
            j++;
        } else {
            break;
        }
    }
    if (m != L || (j < n && (gr_isalnum((unsigned char)s[j]) || s[j] == '_'))) return 0;
    return gr_iban_ok(buf, (size_t)m) ? j : 0;
}

/* ------------------------------------------------------------------ scan */

/* The digits among s[i, i + 16) as a 16-bit mask (bit k: s[i + k]); none
 * past n. */
static inline unsigned digits16(const char *s, size_t n, size_t i)
{
    char pad[16];
    const char *p = s + i;
    if (n - i < 16) {
        memset(pad, 0, sizeof pad);
        memcpy(pad, p, n - i);
        p = pad;
    }
#if defined(__SSE2__)
    __m128i d = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), _mm_set1_epi8('0'));
    return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d));
#else
    unsigned m = 0;
    for (unsigned k = 0; k < 16; k++) m |= (unsigned)gr_isdigit((unsigned char)p[k]) << k;
    return m;
#endif
}

/* End of the run of digits at i. */
static size_t digits_end(const char *s, size_t n, size_t i)
{
    for (; i < n; i += 16) {
        unsigned m = ~digits16(s, n, i) & 0xFFFFu; /* past n counts as a non-digit */
        if (m) return i + (size_t)__builtin_ctz(m);
    }
    return n;
}

/* Digits in the number-like cluster at i: digit runs joined by up to three
 * separator bytes ("(415) 555-0132"), counted up to 40. Most numbers in
 * prose ("42", "3.5%", "2024-10-01") are too short for any detector. */
static size_t cluster_digits(const char *s, size_t n, size_t i)
{
    size_t d = 0;
    while (i < n && d < 40) {
        size_t e = digits_end(s, n, i);
        d += e - i;
        i = e;
        size_t k = i;
        while (k < n && k - i < 3 &&
               gr_group_sep((unsigned char)s[k]))
            k++;
        if (k == i || k >= n || !gr_isdigit((unsigned char)s[k])) break;
        i = k;
    }
    return d;
}

/* The digits among the 64 bytes at p, as a bit mask (bit k: p[k]). */
static inline uint64_t digits64(const char *p)
{
#if defined(__SSE2__)
    uint64_t d = 0;
    for (unsigned c = 0; c < 64; c += 16) {
        __m128i t = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + c)), _mm_set1_epi8('0'));
        d |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(9)), t)) << c;
    }
    return d;
#else
    uint64_t d = 0;
    for (unsigned k = 0; k < 64; k++) d |= (uint64_t)gr_isdigit((unsigned char)p[k]) << k;
    return d;
#endif
}

/* The detectors that start with a digit, tried on the digit at i: a span
 * in [*st, return), or 0. */
static size_t try_digits(const gr_engine *e, const char *s, size_t n, size_t i, size_t *st, int *det)
{
    size_t d = cluster_digits(s, n, i), end = 0;
    *st = i;
    if (ON(e, GR_D_IBAN) && i >= 2 && gr_isupper((unsigned char)s[i - 2]) && gr_isupper((unsigned char)s[i - 1]) &&
        (end = try_iban(s, n, i))) { /* letters break its cluster: test it first */
        *det = GR_D_IBAN, *st = i - 2;
    } else if (d < 4) { /* nothing else is that short */
    } else if (ON(e, GR_D_IP) && d <= 12 && (end = try_ipv4(s, n, i))) {
        *det = GR_D_IP;
    } else if (ON(e, GR_D_CARD) && d >= 13 && (end = try_card(s, n, i))) {
        *det = GR_D_CARD;
    } else if (ON(e, GR_D_SSN) && d >= 9 && (end = try_ssn(s, n, i))) {
        *det = GR_D_SSN;
    } else if (ON(e, GR_D_PHONE) && d >= 7 && (end = try_phone(s, n, i, st))) {
        *det = GR_D_PHONE;
    }
    return end;
}

void gr_pii_scan(const gr_engine *e, const char *s, size_t n, gr_spans *out)
{
    int ip = ON(e, GR_D_IP);
    if (ON(e, GR_D_EMAIL)) scan_email(s, n, out);
    if (ip) scan_ipv6(s, n, out);
    int card = ON(e, GR_D_CARD), ssn = ON(e, GR_D_SSN), phone = ON(e, GR_D_PHONE),
        iban = ON(e, GR_D_IBAN);
    if (!(card || ssn || phone || iban || ip)) return;
    /* Every run of digits is a candidate. Most are numbers of 1-3 digits
     * that no separator joins to more digits ("42", "3.5%"): too short
     * for any detector but iban. Those are ruled out 64 bytes at a time
     * with bit masks; the others go to try_digits. */
    char pad[64];
    size_t i = 0;
    while (i < n) {
        const char *p = s + i;
        unsigned valid = 64; /* text bytes of the window (the pad past them has no digit) */
        if (n - i < 64) {
            valid = (unsigned)(n - i);
            memset(pad, 0, sizeof pad);
            memcpy(pad, p, valid);
            p = pad;
        }
        uint64_t dg = digits64(p);
        uint64_t rs = dg & ~(dg << 1), re = dg & ~(dg >> 1); /* run starts, run ends (last digit) */
        size_t next = i + valid;
        while (rs) {
            unsigned a = (unsigned)__builtin_ctzll(rs), z = (unsigned)__builtin_ctzll(re) + 1;
            rs &= rs - 1;
            re &= re - 1;
            size_t at = i + a;
            if (z == 64 && a > 0) { /* on past the window: the next one starts here */
                next = at;
                break;
            }
            if (z - a < 4 && (z + 3 < 64 || valid < 64) &&
                !(iban && at >= 2 && gr_isupper((unsigned char)s[at - 2]) && gr_isupper((unsigned char)s[at - 1]))) {
                unsigned gap = rs ? (unsigned)__builtin_ctzll(rs) - z : 4, k = 0; /* to the next digit */
                if (gap > 3) continue;
                while (k < gap && gr_group_sep((unsigned char)p[z + k])) k++;
                if (k < gap) continue;
            }
            size_t st = at, end;
            int det = -1;
            end = try_digits(e, s, n, at, &st, &det);
            if (det >= 0) {
                gr_spans_push(out, st, end, det);
                next = end;
                break;
            }
            if (z == 64) { /* 64+ digits from the window's start */
                next = digits_end(s, n, at);
                break;
            }
        }
        i = next;
    }
}
