/* core/od.h — the small helpers every layer uses: a growable buffer, logging,
 * clocks (injectable for tests), money in micro-dollars, randomness, SHA-256,
 * durations. Depends on nothing but libc. */
#ifndef OD_H
#define OD_H

#include <stddef.h>
#include <string.h>
#include <stdint.h>
#include <stdarg.h>

#define OD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- memory: abort on OOM, so callers never half-handle it ---- */
void *od_malloc(size_t n);
void *od_calloc(size_t n, size_t size);
void *od_realloc(void *p, size_t n);
char *od_strdup(const char *s);            /* NULL in, NULL out */
char *od_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *od_strndup(const char *s, size_t n);
/* copies s (NULL: "") into dst of size n, cut to fit, always terminated;
 * the snprintf("%s") of the hot paths without the format machinery */
void od_strlcpy(char *dst, const char *s, size_t n);
/* ASCII white space as JSON and text splitting mean it: space, tab, CR, LF */
static inline int od_is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* ---- growable byte buffer, always NUL-terminated when p != NULL ---- */
typedef struct od_buf {
    char *p;
    size_t len, cap;
} od_buf;

void od_buf_put_grow(od_buf *b, const void *data, size_t n); /* the slow path of the two below */
/* Inline: JSON is written a few bytes at a time, ~1,000 calls a request */
static inline void od_buf_put(od_buf *b, const void *data, size_t n)
{
    if (b->len + n < b->cap) {
        if (n) memcpy(b->p + b->len, data, n);
        b->len += n;
        b->p[b->len] = '\0';
    } else {
        od_buf_put_grow(b, data, n);
    }
}
static inline void od_buf_putc(od_buf *b, char c)
{
    if (b->len + 1 < b->cap) {
        b->p[b->len++] = c;
        b->p[b->len] = '\0';
    } else {
        od_buf_put_grow(b, &c, 1);
    }
}
void od_buf_puts(od_buf *b, const char *s);
void od_buf_printf(od_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void od_buf_put_i64(od_buf *b, int64_t v); /* decimal */
size_t od_fmt_i64(char out[21], int64_t v); /* decimal, no NUL; returns its length */
void od_buf_put_hex(od_buf *b, uint64_t v); /* lower-case hex, no prefix */
void od_buf_vprintf(od_buf *b, const char *fmt, va_list ap);
void od_buf_reset(od_buf *b);              /* len = 0, keeps memory */
void od_buf_free(od_buf *b);
char *od_buf_take(od_buf *b);              /* hands ownership of p to the caller ("" if empty) */

/* ---- logging to stderr; never pass secrets ---- */
enum { OD_LOG_DEBUG, OD_LOG_INFO, OD_LOG_WARN, OD_LOG_ERROR };
extern int od_log_level;
void od_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define od_debug(...) do { if (od_log_level <= OD_LOG_DEBUG) od_log(OD_LOG_DEBUG, __VA_ARGS__); } while (0)
#define od_info(...)  od_log(OD_LOG_INFO, __VA_ARGS__)
#define od_warn(...)  od_log(OD_LOG_WARN, __VA_ARGS__)
#define od_error(...) od_log(OD_LOG_ERROR, __VA_ARGS__)

/* ---- clocks ----
 * od_wall_ms: Unix time in ms, for timestamps and budget periods. Tests (and
 * the ODOCK_FAKE_NOW env var, read once) can pin it.
 * od_mono_us: monotonic microseconds, for latencies and timers. */
int64_t od_wall_ms(void);
int64_t od_mono_us(void);
void od_clock_set_wall(int64_t (*fn)(void)); /* NULL restores the real clock */

/* ---- money: integer micro-dollars, parsed and printed without floats ---- */
#define OD_MICROS_PER_USD 1000000LL
/* "25", "25.5", "0.000001", "$3" -> micros. Rejects signs, junk, > 6 decimals,
 * overflow. Returns 0 on success, -1 on error. */
int od_money_parse(const char *s, int64_t *micros);
/* 12345678 -> "12.345678"; out must hold 32 bytes. Negative values get "-". */
char *od_money_fmt(int64_t micros, char out[32]);

/* ---- durations and dates ----
 * od_duration_parse: "90s", "15m", "1h", "30d", "2w" -> milliseconds.
 * od_date_parse: "2027-01-01" or "2027-01-01T12:00:00Z" -> Unix ms (UTC).
 * od_when_parse: either a date, or a duration relative to `now` (added when
 * future != 0, subtracted otherwise). */
int od_duration_parse(const char *s, int64_t *ms);
int od_date_parse(const char *s, int64_t *ms);
int od_when_parse(const char *s, int64_t now_ms, int future, int64_t *ms);
/* Unix ms -> "2026-11-23T17:34:11Z"; out must hold 32 bytes. */
char *od_time_fmt(int64_t ms, char out[32]);

/* ---- randomness and hashing ---- */
int od_random_bytes(void *buf, size_t n);  /* OS CSPRNG; 0 ok, -1 error */
/* n base62 characters from the CSPRNG, NUL-terminated (out holds n+1). */
int od_random_base62(char *out, size_t n);
void od_sha256(const void *data, size_t n, uint8_t out[32]);
/* SipHash-2-4, 128-bit tag: out[0] and out[1] are its two little-endian halves. */
void od_siphash128(const uint8_t key[16], const void *data, size_t n, uint64_t out[2]);
void od_hex(const uint8_t *in, size_t n, char *out); /* out holds 2n+1 */
/* constant-time compare */
int od_ct_equal(const void *a, const void *b, size_t n);
/* A fresh request id: 24 hex characters, "req_" prefix not included. */
void od_request_id(char out[25]);

/* ---- strings ---- */
int od_str_eq(const char *a, const char *b);  /* NULL-safe */
int od_parse_i64(const char *s, int64_t *out); /* whole string, base 10 */
int od_hex_digit(int c); /* 0-15, or -1 */
/* An HTTP/1.1 chunk-size line (its line end removed; extensions after ';'
 * ignored): 0 with *size, -1 when malformed or beyond int64 (RFC 9112 7.1) */
int od_chunk_size(const char *s, size_t n, int64_t *size);
/* shell-style glob with '*' and '?' only, case-sensitive */
int od_glob_match(const char *pattern, const char *s);

#endif
