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
 * and adopts them into the loop's vhost (tls: with TLS as configured). */
typedef struct od_acceptor od_acceptor;
od_acceptor *od_acceptor_new(od_loop *l, int fd, int tls);
void od_acceptor_free(od_acceptor *a);
/* the local port a socket is bound to; -1 on error */
int od_socket_port(int fd);

#endif
