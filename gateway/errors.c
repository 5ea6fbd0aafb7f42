/* gateway/errors.c — error bodies in the shape the client's SDK expects. */
#include "gw.h"

#include <string.h>

const char *gw_error_type(int status)
{
    switch (status) {
    case 400: case 404: case 413: case 422: return "invalid_request_error";
    case 401: return "authentication_error";
    case 402: return "insufficient_quota";
    case 403: return "permission_error";
    case 429: return "rate_limit_error";
    case 504: return "timeout_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

const char *gw_anthropic_error_type(int status)
{
    switch (status) {
    case 400: case 402: case 413: case 422: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    case 529: return "overloaded_error";
    case 503: return "overloaded_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

char *gw_error_body(int front, int status, const char *code, const char *message)
{
    cJSON *root = cJSON_CreateObject(), *e = cJSON_CreateObject();
    if (front == GW_FRONT_ANTHROPIC) {
        cJSON_AddStringToObject(root, "type", "error");
        cJSON_AddStringToObject(e, "type", gw_anthropic_error_type(status));
        cJSON_AddStringToObject(e, "message", message ? message : "");
        if (code)
            cJSON_AddStringToObject(e, "code", code);
    } else {
        cJSON_AddStringToObject(e, "message", message ? message : "");
        cJSON_AddStringToObject(e, "type", gw_error_type(status));
        cJSON_AddNullToObject(e, "param");
        if (code)
            cJSON_AddStringToObject(e, "code", code);
        else
            cJSON_AddNullToObject(e, "code");
    }
    cJSON_AddItemToObject(root, "error", e);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

void gw_send_error(gw_conn *c, int front, const od_req *r, int status, const char *code,
                   const char *message)
{
    if (!c)
        return;
    if (r) {
        if (r->id[0])
            gw_conn_header(c, "x-odock-request-id", "%s", r->id);
        if (status == 429 && r->retry_after_s > 0)
            gw_conn_header(c, "retry-after", "%d", r->retry_after_s);
        if (r->rl_limit_requests >= 0 && r->rl_limit_requests > 0) {
            gw_conn_header(c, "x-ratelimit-limit-requests", "%lld", (long long)r->rl_limit_requests);
            gw_conn_header(c, "x-ratelimit-remaining-requests", "%lld",
                           (long long)(r->rl_remaining_requests < 0 ? 0 : r->rl_remaining_requests));
        }
        if (r->rl_limit_tokens > 0) {
            gw_conn_header(c, "x-ratelimit-limit-tokens", "%lld", (long long)r->rl_limit_tokens);
            gw_conn_header(c, "x-ratelimit-remaining-tokens", "%lld",
                           (long long)(r->rl_remaining_tokens < 0 ? 0 : r->rl_remaining_tokens));
        }
        if (status == 429 && r->rl_reset_ms > 0)
            gw_conn_header(c, "x-ratelimit-reset-requests", "%lldms", (long long)r->rl_reset_ms);
    }
    /* OpenAI SDKs retry 429/5xx themselves unless told not to: let them, but
     * a budget or policy denial is final. */
    if (status == 402 || status == 403 || status == 400 || status == 401 || status == 404 || status == 413)
        gw_conn_header(c, "x-should-retry", "false");
    char *body = gw_error_body(front, status, code, message);
    gw_conn_respond(c, status, "application/json", body, strlen(body));
    free(body);
}
