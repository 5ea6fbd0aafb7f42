/* mcp/jsonrpc.h — JSON-RPC 2.0 framing for MCP: parsing and validating one
 * message or a batch, building responses and errors, and splitting a byte
 * stream into newline-delimited messages (the stdio transport) with a size
 * cap. Pure functions over cJSON: no I/O, no loop. */
#ifndef MCP_JSONRPC_H
#define MCP_JSONRPC_H

#include <stddef.h>
#include <cjson/cJSON.h>

/* JSON-RPC 2.0 error codes */
#define MCP_ERR_PARSE            (-32700)
#define MCP_ERR_INVALID_REQUEST  (-32600)
#define MCP_ERR_METHOD_NOT_FOUND (-32601)
#define MCP_ERR_INVALID_PARAMS   (-32602)
#define MCP_ERR_INTERNAL         (-32603)
/* odock's own (implementation-defined server error range) */
#define MCP_ERR_DENIED           (-32001) /* policy denial; error.data.reason says why */
#define MCP_ERR_UPSTREAM         (-32002) /* upstream unavailable or failed */
#define MCP_ERR_TIMEOUT          (-32003) /* upstream did not answer in time */
#define MCP_ERR_TOO_LARGE        (-32004) /* message over the size limit */

#define MCP_MAX_MESSAGE_DEFAULT  (4u * 1024u * 1024u)

typedef enum {
    MCP_MSG_INVALID = 0,
    MCP_MSG_REQUEST,
    MCP_MSG_NOTIFICATION,
    MCP_MSG_RESPONSE,
} mcp_msg_kind;

/* A view into one message object; every pointer points into `obj`, which
 * stays owned by the caller. */
typedef struct mcp_msg {
    mcp_msg_kind kind;
    cJSON *obj;
    cJSON *id;             /* request/response; NULL for notifications (and
                              for invalid messages whose id was unusable) */
    const char *method;    /* request/notification */
    cJSON *params;         /* NULL when absent */
    cJSON *result;         /* response */
    cJSON *error;          /* response */
    /* MCP_MSG_INVALID: the error to answer with */
    int err_code;
    const char *err_msg;
} mcp_msg;

/* Parses text. Returns the parsed JSON (object, or array for a batch) or NULL
 * with *err_code / *err_msg set: MCP_ERR_PARSE for bad JSON, MCP_ERR_TOO_LARGE
 * when len > max_len (0 = MCP_MAX_MESSAGE_DEFAULT). */
cJSON *mcp_rpc_parse(const char *text, size_t len, size_t max_len,
                     int *err_code, const char **err_msg);

/* Classifies one element (object expected). Never fails to fill m. */
mcp_msg_kind mcp_rpc_classify(cJSON *item, mcp_msg *m);

/* Whether id is a valid JSON-RPC id for MCP (string or integral number). */
int mcp_rpc_id_valid(const cJSON *id);
/* Id as compact text ("7", "\"abc\""); out holds n bytes. */
void mcp_rpc_id_text(const cJSON *id, char *out, size_t n);

/* Builders. Each returns a new cJSON object the caller owns. id may be NULL
 * (serialised as null). The *_take variants take ownership of result/data. */
cJSON *mcp_rpc_result_take(const cJSON *id, cJSON *result);
cJSON *mcp_rpc_error_obj(const cJSON *id, int code, const char *message, cJSON *data_take);
/* An error whose data is {"reason": reason} (reason may be NULL: no data). */
cJSON *mcp_rpc_error_reason(const cJSON *id, int code, const char *message, const char *reason);
cJSON *mcp_rpc_request(const cJSON *id, const char *method, cJSON *params_take);
cJSON *mcp_rpc_notification(const char *method, cJSON *params_take);

/* ---- newline-delimited framing (stdio) ----
 * Feed bytes; complete lines come out through the callback (without the
 * newline, a trailing '\r' stripped, blank lines skipped). A line longer than
 * max_line is dropped whole and reported once with too_long = 1 (line NULL). */
typedef void (*mcp_line_fn)(void *ud, const char *line, size_t len, int too_long);
typedef struct mcp_lines {
    char *buf;
    size_t len, cap;
    size_t max_line;
    int discarding;   /* inside an oversized line: drop until '\n' */
} mcp_lines;

void mcp_lines_init(mcp_lines *l, size_t max_line);
void mcp_lines_feed(mcp_lines *l, const char *data, size_t n, mcp_line_fn fn, void *ud);
void mcp_lines_free(mcp_lines *l);

#endif
