/* providers/sse.c — an incremental text/event-stream parser, following the
 * WHATWG rules: data lines joined by '\n', a blank line dispatches, comments
 * and unknown fields ignored, any of \n, \r\n, \r ends a line. */
#include "prov_int.h"

#include <string.h>

static int dispatch(prov_sse *p, prov_sse_fn fn, void *ud)
{
    int rc = 0;
    if (p->has_data)
        rc = fn(ud, p->event.len ? p->event.p : NULL, p->data.p ? p->data.p : "", p->data.len);
    od_buf_reset(&p->data);
    od_buf_reset(&p->event);
    p->has_data = 0;
    return rc;
}

static int line(prov_sse *p, prov_sse_fn fn, void *ud)
{
    const char *l = p->line.p ? p->line.p : "";
    size_t n = p->line.len;
    if (n == 0) return dispatch(p, fn, ud);
    if (l[0] == ':') return 0;
    const char *colon = memchr(l, ':', n);
    size_t fl = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    if (colon && v < l + n && *v == ' ') v++;
    size_t vl = (size_t)(l + n - v);
    if (fl == 4 && memcmp(l, "data", 4) == 0) {
        if (p->has_data) od_buf_putc(&p->data, '\n');
        od_buf_put(&p->data, v, vl);
        p->has_data = 1;
    } else if (fl == 5 && memcmp(l, "event", 5) == 0) {
        od_buf_reset(&p->event);
        od_buf_put(&p->event, v, vl);
    }
    return 0;
}

int prov_sse_feed(prov_sse *p, const char *buf, size_t n, prov_sse_fn fn, void *ud)
{
    for (size_t i = 0; i < n; i++) {
        char c = buf[i];
        if (c == '\n' && p->last_cr) { /* the \n of a \r\n split or not */
            p->last_cr = 0;
            continue;
        }
        p->last_cr = c == '\r';
        if (c == '\r' || c == '\n') {
            int rc = line(p, fn, ud);
            od_buf_reset(&p->line);
            if (rc) return rc;
        } else {
            /* find the run up to the next line end and copy it at once */
            size_t j = i;
            while (j < n && buf[j] != '\r' && buf[j] != '\n') j++;
            od_buf_put(&p->line, buf + i, j - i);
            i = j - 1;
        }
    }
    return 0;
}

void prov_sse_free(prov_sse *p)
{
    od_buf_free(&p->line);
    od_buf_free(&p->data);
    od_buf_free(&p->event);
    memset(p, 0, sizeof *p);
}
