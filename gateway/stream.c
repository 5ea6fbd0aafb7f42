/* gateway/stream.c — the client side of a streamed answer: OpenAI SSE
 * chunks (or Anthropic events via prov_astream), usage-chunk stripping,
 * error events after the first byte, backpressure. */
#include "call.h"

#include <string.h>

static void write_str(gw_call *c, const char *s, size_t n)
{
    c->r.bytes_out += (int64_t)n;
    gw_conn_stream_write(c->conn, s, n);
}

static void begin(gw_call *c)
{
    od_timer_stop(&c->timer); /* the TTFT timer */
    c->timer_kind = GW_T_NONE;
    c->r.t_first_us = od_mono_us();
    if (c->dep && c->dep_begun) {
        gw_dep_success(c->s->router, c->dep, c->r.t_first_us - c->attempt_t0);
        c->dep_begun = 0;
    }
    gw_call_add_headers(c);
    gw_conn_stream_start(c->conn, 200, "text/event-stream");
}

static void count_chars(gw_call *c, const cJSON *choices)
{
    for (const cJSON *ch = choices ? choices->child : NULL; ch; ch = ch->next) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(ch, "delta");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(d, "content");
        if (cJSON_IsString(t)) c->out_chars += (int64_t)strlen(t->valuestring);
        const cJSON *tcs = cJSON_GetObjectItemCaseSensitive(d, "tool_calls");
        for (const cJSON *tc = tcs ? tcs->child : NULL; tc; tc = tc->next) {
            const cJSON *f = cJSON_GetObjectItemCaseSensitive(tc, "function");
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(f, "arguments");
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(f, "name");
            if (cJSON_IsString(a)) c->out_chars += (int64_t)strlen(a->valuestring);
            if (cJSON_IsString(nm)) c->out_chars += (int64_t)strlen(nm->valuestring);
        }
    }
}

void gw_stream_chunk(void *ud, const cJSON *chunk)
{
    gw_call *c = ud;
    if (!c->conn || c->finished)
        return;
    c->got_event = 1;
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(chunk, "choices");
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(chunk, "usage");
    int usage_only = cJSON_GetArraySize(choices) == 0 && usage && !cJSON_IsNull(usage);
    count_chars(c, choices);
    if (!gw_conn_streaming(c->conn))
        begin(c);
    if (c->front == GW_FRONT_ANTHROPIC) {
        od_buf_reset(&c->tmp);
        prov_astream_chunk(c->as, chunk, &c->tmp);
        if (c->tmp.len)
            write_str(c, c->tmp.p, c->tmp.len);
    } else {
        if (usage_only && !c->include_usage)
            return; /* we asked for it to charge exactly; the client did not */
        char *js = cJSON_PrintUnformatted(chunk);
        od_buf_reset(&c->tmp);
        od_buf_puts(&c->tmp, "data: ");
        od_buf_puts(&c->tmp, js);
        od_buf_puts(&c->tmp, "\n\n");
        free(js);
        write_str(c, c->tmp.p, c->tmp.len);
    }
    if (c->http && !c->paused && gw_conn_pending(c->conn) > GW_HIGH_WATER) {
        od_http_pause(c->http, 1);
        c->paused = 1;
    }
}

void gw_call_drained(gw_call *c)
{
    if (!c->paused)
        return;
    c->paused = 0;
    if (c->http)
        od_http_pause(c->http, 0);
    else
        gw_mock_pump(c);
}

void gw_stream_finish(gw_call *c)
{
    if (c->conn) {
        if (!gw_conn_streaming(c->conn))
            begin(c);
        if (c->front == GW_FRONT_ANTHROPIC) {
            od_buf_reset(&c->tmp);
            prov_astream_finish(c->as, &c->usage, &c->tmp);
            if (c->tmp.len)
                write_str(c, c->tmp.p, c->tmp.len);
        } else {
            static const char done[] = "data: [DONE]\n\n";
            write_str(c, done, sizeof done - 1);
        }
        gw_conn_stream_end(c->conn);
    }
    prov_usage u = c->usage;
    if (!u.seen) {
        u.prompt_tokens = c->est_prompt;
        u.completion_tokens = (c->out_chars + 3) / 4;
    }
    gw_call_settle(c, &u);
    gw_call_finish(c);
}

void gw_stream_error(gw_call *c, int status, const char *reason, const char *message)
{
    if (!c->conn)
        return;
    od_buf_reset(&c->tmp);
    cJSON *root = cJSON_CreateObject(), *e = cJSON_CreateObject();
    if (c->front == GW_FRONT_ANTHROPIC) {
        cJSON_AddStringToObject(root, "type", "error");
        cJSON_AddStringToObject(e, "type", gw_anthropic_error_type(status));
        cJSON_AddStringToObject(e, "message", message ? message : "");
        cJSON_AddItemToObject(root, "error", e);
        char *js = cJSON_PrintUnformatted(root);
        od_buf_printf(&c->tmp, "event: error\ndata: %s\n\n", js);
        free(js);
    } else {
        cJSON_AddStringToObject(e, "message", message ? message : "");
        cJSON_AddStringToObject(e, "type", gw_error_type(status));
        cJSON_AddStringToObject(e, "code", reason ? reason : OD_R_UPSTREAM_ERROR);
        cJSON_AddItemToObject(root, "error", e);
        char *js = cJSON_PrintUnformatted(root);
        od_buf_printf(&c->tmp, "data: %s\n\n", js);
        free(js);
    }
    cJSON_Delete(root);
    write_str(c, c->tmp.p, c->tmp.len);
    gw_conn_stream_end(c->conn);
}
