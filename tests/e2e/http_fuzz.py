#!/usr/bin/env python3
"""tests/e2e/http_fuzz.py — mutated HTTP/1.1 requests against odock serve's
own HTTP server: valid requests (chat with a body, chunked, pipelined, HEAD,
HTTP/1.0, a WebSocket upgrade) with bytes flipped, inserted, cut or
repeated, each written in two pieces on a connection of its own, some read,
most dropped. What it checks is the server: still answering after, and (in
the sanitizer build) nothing reported at its stop.

  http_fuzz.py PORT COUNT SEED [KEY]
"""
import json
import random
import socket
import sys


def seeds(key):
    body = json.dumps({"model": "mock/echo", "messages": [{"role": "user", "content": "hi"}]}).encode()
    auth = b"Authorization: Bearer " + key.encode() + b"\r\n"
    return [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Length: %d\r\n\r\n" % len(body) + body,
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + auth + b"Transfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % len(body) + body + b"\r\n0\r\nT: 1\r\n\r\n",
        b"GET /v1/models?x=%41&sessionId=abc HTTP/1.0\r\nConnection: keep-alive\r\n" + auth + b"\r\n",
        b"POST /messages?sessionId=zz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n{}",
        b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /mcp HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n",
        b"GET /mcp/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mcp\r\n\r\n",
    ]


ALPHA = b"\r\n :;%0aA\x00\x7f\xff0123456789abcdef-?&=/"


def mutate(rnd, d, pool):
    d = bytearray(d)
    for _ in range(rnd.randint(1, 6)):
        op, i = rnd.random(), rnd.randrange(len(d) + 1)
        if op < 0.3 and d:
            d[min(i, len(d) - 1)] = rnd.choice(ALPHA)
        elif op < 0.5:
            d[i:i] = bytes(rnd.choice(ALPHA) for _ in range(rnd.randint(1, 5)))
        elif op < 0.7 and d:
            del d[i:i + rnd.randint(1, 8)]
        elif op < 0.85:
            d[i:i] = rnd.choice(pool)
        else:
            d = d * rnd.randint(1, 3)
    return bytes(d)


def main():
    port, count, rnd = int(sys.argv[1]), int(sys.argv[2]), random.Random(int(sys.argv[3]))
    pool = seeds(sys.argv[4] if len(sys.argv) > 4 else "odk_none")
    open_ = []
    for _ in range(count):
        d = mutate(rnd, rnd.choice(pool), pool)
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        cut = rnd.randrange(len(d) + 1)
        try:
            s.send(d[:cut])
            s.send(d[cut:])
        except (BlockingIOError, ConnectionError):
            pass
        open_.append(s)
        if len(open_) > 50:
            for c in open_[:25]:
                try:
                    if rnd.random() < 0.5:
                        c.recv(65536)
                except (BlockingIOError, ConnectionError):
                    pass
                c.close()
            open_ = open_[25:]
    for c in open_:
        c.close()
    print("sent", count)


main()
