/* core/json.h — compact JSON output of cJSON trees into an od_buf. */
#ifndef OD_JSON_H
#define OD_JSON_H

#include <cjson/cJSON.h>
#include <string.h>
#include "od.h"

/* Appends j, compact (as cJSON_PrintUnformatted would, numbers aside:
 * integral ones print without exponent, and an integer of more than 15
 * digits that od_json_parse read is written as it was read, not as the
 * double nearest to it). NULL prints null. */
void od_json_write(od_buf *b, const cJSON *j);

/* od_json_write into a new string, for free(): where a tree that came from
 * a client or an upstream goes out as text, instead of cJSON_PrintUnformatted
 * (which would turn a 64-bit ID into 1.79e+18). */
char *od_json_print(const cJSON *j);

/* Appends the object obj without its top-level members named in skip (a
 * NULL-terminated list, may be NULL), with extra (already-encoded members,
 * `"a":1,"b":2`, or NULL) first. obj NULL writes just extra. */
void od_json_write_object(od_buf *b, const cJSON *obj, const char *const *skip, const char *extra);

/* How many bytes of p[0..n) need no escaping in a JSON string (none of
 * control characters, '"', '\\'): the writer copies them, the parser
 * takes them as they are. */
size_t od_json_plain_run(const unsigned char *p, size_t n);

/* Appends s as a JSON string (NULL as ""). */
void od_json_string(od_buf *b, const char *s);

/* core/json_raw.c, on text the parser accepted: where top-level member key's
 * value is written in the object t[0..n) (*off, *len), for passing it on
 * unchanged. 0 when the text could say something the tree does not: an
 * escaped key, the member twice, or a \u0000 in the value. */
int od_json_raw_member(const char *t, size_t n, const char *key, size_t *off, size_t *len);

/* 1 when t[0..n) holds "\u0000": the parsed tree has U+FFFD there, so the
 * text is not what the guardrails read and must not go out as written */
int od_json_has_nul(const char *t, size_t n);

/* cJSON_GetObjectItemCaseSensitive, inline and without a strcmp call per
 * member: keys mostly differ in their first byte. A stream event takes ~14
 * lookups; through the library they cost ~130 instructions each. */
static inline cJSON *od_jget(const cJSON *o, const char *k)
{
    for (cJSON *c = o ? o->child : NULL; c; c = c->next)
        if (c->string && c->string[0] == k[0] && !strcmp(c->string, k))
            return c;
    return NULL;
}

/* core/json_alloc.c: a per-thread cache of small blocks for JSON trees.
 * od_json_init makes it cJSON's allocator (once, before any thread uses
 * cJSON); the parser below allocates from it too. Either function may take
 * the other's or malloc's blocks. */
void *od_jmalloc(size_t n);
void od_jfree(void *p);
void od_json_init(void);

/* core/json_parse.c: strict RFC 8259 parsing into a cJSON tree (free it
 * with cJSON_Delete). end NULL: p[0..n) must hold one value and whitespace;
 * else *end is set to the offset just past the value. NULL on bad input. */
cJSON *od_json_parse(const char *p, size_t n, size_t *end);

/* After a parse on this thread failed: the name an object gave twice, if
 * that was why (a name given twice is refused: see json_parse.c); NULL for
 * any other failure. */
const char *od_json_dup_key(void);

/* After a parse on this thread: 1 when a string or a name held \u0000.
 * The tree has U+FFFD there (its strings are C strings: a NUL would end
 * the text every guardrail reads). A client's input with one is refused,
 * as the caller cannot pass it on as written; an upstream's is passed on
 * with U+FFFD, whole and inspected. */
int od_json_saw_nul(void);

/* Read-only trees in an arena: for a stream's events, parsed and dropped
 * one after another, this saves a malloc and a free per node and string.
 * od_json_parse_in empties a (the previous tree is gone) and parses into it;
 * never cJSON_Delete or modify such a tree. */
typedef struct od_jarena {
    char *blk;         /* the newest block; older ones linked through the first word */
    size_t cap, used;  /* of the newest block */
    size_t total;      /* of all blocks */
} od_jarena;
cJSON *od_json_parse_in(od_jarena *a, const char *p, size_t n);
void od_jarena_free(od_jarena *a);

#endif
