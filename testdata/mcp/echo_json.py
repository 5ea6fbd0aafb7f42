#!/usr/bin/env python3
# A stdio MCP server in Python, for tests/e2e/mcp_big_numbers.sh: its one
# tool, echo_json, answers with its arguments as compact JSON text. Python
# reads a JSON integer of any size exactly, so the answer shows the digits
# the server received (a JavaScript server would round them itself).
import json
import sys

for line in sys.stdin:
    msg = json.loads(line)
    if "id" not in msg or "method" not in msg:
        continue
    method = msg["method"]
    if method == "initialize":
        result = {"protocolVersion": msg["params"].get("protocolVersion", "2025-06-18"),
                  "capabilities": {"tools": {}}, "serverInfo": {"name": "echo-json", "version": "1"}}
    elif method == "tools/list":
        result = {"tools": [{"name": "echo_json", "description": "its arguments, as JSON text",
                             "inputSchema": {"type": "object"}}]}
    elif method == "tools/call":
        text = json.dumps(msg["params"].get("arguments", {}), separators=(",", ":"))
        result = {"content": [{"type": "text", "text": text}]}
    else:
        result = {}
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}) + "\n")
    sys.stdout.flush()
