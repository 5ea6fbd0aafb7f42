/* mcp/names.h — how upstream names are exposed downstream, reversibly.
 *
 * Tools and prompts: "server__tool" (MCP_NAME_SEP), only [A-Za-z0-9_-],
 * at most 64 characters (clients such as Claude and Cursor reject others).
 * Characters outside the set become '_'; a name that would be longer than 64
 * is cut and given an 8-hex suffix derived from server and original name, so
 * it is stable. A server configured with prefix:false exposes its names as
 * they are (sanitised the same way).
 *
 * Collisions (two entries wanting the same exposed name) are resolved
 * deterministically and never fatal: prefixed names win over unprefixed ones,
 * then the server listed first in the config wins, then the upstream's own
 * order. A loser that was unprefixed falls back to its prefixed name; if that
 * is taken too, it gets the stable 8-hex suffix. Because a prefixed name is
 * made only of its own server's name, adding a server never renames the
 * tools of another (short of pathological names containing "__").
 *
 * Resource URIs: "scheme://x" of server "files" is exposed as
 * "files+scheme://x" (still a valid URI: '+' is allowed in a scheme); a
 * prefix:false server's URIs are left as they are.
 */
#ifndef MCP_NAMES_H
#define MCP_NAMES_H

#include <stddef.h>

#define MCP_NAME_MAX 64
#define MCP_NAME_SEP "__"

/* The exposed name before collision handling. out holds MCP_NAME_MAX+1. */
void mcp_name_expose(const char *server, const char *name, int prefix, char *out);
/* The stable 8-hex suffix variant: base cut to fit, "_" + hex8(server/name). */
void mcp_name_suffixed(const char *server, const char *name, int prefix, char *out);
/* Whether s is a valid exposed name. */
int mcp_name_valid(const char *s);

typedef struct mcp_name_entry {
    const char *server;    /* upstream's configured name */
    int server_order;      /* index in the config */
    const char *name;      /* upstream's original name */
    int prefix;            /* server's prefix setting */
    int collided;          /* out: 1 when it did not get its first-choice name */
    char exposed[MCP_NAME_MAX + 1]; /* out */
} mcp_name_entry;

/* Fills exposed (and collided) for every entry. Entries of one server are
 * expected in that server's order. Returns the number of collisions. */
int mcp_names_resolve(mcp_name_entry *e, int n);

/* URIs. wrap returns a new string (caller frees); unwrap returns a pointer
 * into uri past "server+" when uri belongs to server, else NULL. */
char *mcp_uri_wrap(const char *server, int prefix, const char *uri);
const char *mcp_uri_unwrap(const char *server, const char *uri);

/* Cursors of odock's merged lists: opaque to clients, "odc1-<kind>-<offset>".
 * decode returns 0 and the offset, -1 on a cursor that is not ours. */
void mcp_cursor_encode(const char *kind, int offset, char *out, size_t n);
int mcp_cursor_decode(const char *kind, const char *cursor, int *offset);

#endif
