/* core/loop_int.h — private to core/: the loop's extra lws protocols. */
#ifndef OD_LOOP_INT_H
#define OD_LOOP_INT_H

struct lws;
#include <libwebsockets.h>

#define OD_WS_PROTO "od-ws-client"
/* core/ws.c: the WebSocket client connections' callback */
int od_ws_lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);

#endif
