/* core/loop_int.h — private to core/: the loop's extra lws protocols. */
#ifndef OD_LOOP_INT_H
#define OD_LOOP_INT_H

struct lws;
#include <stddef.h>
#include "loop.h"
#include <libwebsockets.h>

#define OD_WS_PROTO "od-ws-client"
/* core/ws.c: the WebSocket client connections' callback */
int od_ws_lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);

/* core/loop.c: "HOST:PORT", ":PORT" or "PORT" */
int od_split_listen(const char *listen, char *host, size_t hostsz, int *port);

/* core/listen.c: accepts connections on a listening socket the caller owns
 * and adopts them into the loop's vhost (tls: with TLS as configured), or
 * hands plain ones to on_plain when given. shared: other processes accept
 * on the socket too (one connection per wake-up). */
typedef struct od_acceptor od_acceptor;
od_acceptor *od_acceptor_new(od_loop *l, int fd, int tls, int shared, void (*on_plain)(od_loop *l, int fd));
void od_acceptor_free(od_acceptor *a);
/* the local port a socket is bound to; -1 on error */
int od_socket_port(int fd);

/* core/h1.c: the loop's own HTTP/1.1 client for http://IP and localhost.
 * Its transfers are od_http handles too; both kinds start with an int that
 * says which one it is (od_http_is_native). */
typedef struct od_h1 od_h1;
od_h1 **od_loop_h1(od_loop *l);
/* NULL with *declined = 1 when the URL is curl's (https, a host name...) */
od_http *od_h1_start(od_loop *l, const od_http_req *req, const od_http_cbs *cbs, void *ud, int *declined);
void od_h1_cancel(od_http *h);
void od_h1_pause(od_http *h, int paused);
void od_h1_free(od_loop *l); /* every transfer and pooled connection */
static inline int od_http_is_native(const od_http *h) { return *(const int *)(const void *)h; }

#endif
