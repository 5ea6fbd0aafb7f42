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

static int line(prov_sse *p, const char *l, size_t n, prov_sse_fn fn, void *ud)
{
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

/* Lines are found with memchr (a byte-at-a-time scan was the largest
 * cost of a relayed stream after JSON); a line whole in buf is read in
 * place, only one split across reads is gathered in p->line. */
int prov_sse_feed(prov_sse *p, const char *buf, size_t n, prov_sse_fn fn, void *ud)
{
    size_t i = 0;
    while (i < n) {
        if (p->last_cr) { /* the \n of a \r\n, split or not */
            p->last_cr = 0;
            if (buf[i] == '\n') {
                i++;
                continue;
            }
        }
        const char *nl = memchr(buf + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - buf) : n;
        const char *cr = memchr(buf + i, '\r', end - i);
        if (cr) end = (size_t)(cr - buf);
        if (end == n) { /* no line end yet */
            od_buf_put(&p->line, buf + i, n - i);
            break;
        }
        int rc;
        if (p->line.len) {
            od_buf_put(&p->line, buf + i, end - i);
            rc = line(p, p->line.p, p->line.len, fn, ud);
            od_buf_reset(&p->line);
        } else {
            rc = line(p, buf + i, end - i, fn, ud);
        }
        p->last_cr = buf[end] == '\r';
        i = end + 1;
        if (rc) return rc;
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
