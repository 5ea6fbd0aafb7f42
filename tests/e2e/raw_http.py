#!/usr/bin/env python3
"""tests/e2e/raw_http.py — HTTP/1.1 requests written on one raw connection,
as a client that pipelines would: what curl and the SDKs never do.

  raw_http.py PORT SERVER_PID SPEC_JSON   (or @FILE holding it)

SPEC: {"send": [[DELAY_S, [REQ, ...]], ...], "expect": N, "timeout": S, "min_s": S,
       "tls": true (https, certificate not checked)}
  each step waits DELAY_S, then writes its requests in one write;
  REQ: {"method", "path", "headers": {...}, "body": JSON value or absent},
  or {"raw": TEXT} written as it is.
Reads until N answers, a close or `timeout` of silence, and for at least
`min_s` in all, then prints one JSON line: the statuses, whether the server
closed, the answers' bodies and the server's CPU ticks (user + system) over
the run, so a busy loop shows.
"""
import json
import re
import socket
import ssl
import sys
import time


def request(port, r):
    if "raw" in r:
        return r["raw"].encode()
    body = b"" if "body" not in r else json.dumps(r["body"]).encode()
    head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (r.get("method", "POST"), r["path"], port)
    for k, v in r.get("headers", {}).items():
        head += "%s: %s\r\n" % (k, v)
    if "body" in r:
        head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    return head.encode() + b"\r\n" + body


def ticks(pid):
    f = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def main():
    arg = sys.argv[3]
    if arg.startswith("@"):
        arg = open(arg[1:]).read()
    port, pid, spec = int(sys.argv[1]), sys.argv[2], json.loads(arg)
    t0, c0 = time.time(), ticks(pid)
    s = socket.create_connection(("127.0.0.1", port))
    if spec.get("tls"):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s)
    for delay, reqs in spec["send"]:
        time.sleep(delay)
        s.sendall(b"".join(request(port, r) for r in reqs))
    s.settimeout(spec.get("timeout", 3))
    data, closed = b"", False
    try:
        while len(re.findall(rb"HTTP/1.1 \d{3} ", data)) < spec.get("expect", 1 << 30):
            b = s.recv(65536)
            if not b:
                closed = True
                break
            data += b
    except socket.timeout:
        pass
    except (ConnectionResetError, ssl.SSLError):
        closed = True
    time.sleep(max(0, spec.get("min_s", 0) - (time.time() - t0)))
    parts = re.split(rb"HTTP/1.1 (\d{3}) ", data)[1:]
    print(json.dumps({
        "status": [int(x) for x in parts[0::2]],
        "closed": closed,
        "bodies": [p.split(b"\r\n\r\n", 1)[-1].decode("utf-8", "replace") for p in parts[1::2]],
        "cpu_ticks": ticks(pid) - c0,
        "seconds": round(time.time() - t0, 2),
    }))


main()
