#!/usr/bin/env python3
"""A Maelstrom echo node in plain Python (stdlib only).

Shows that any language works with Gauntlet: read one JSON message per line
from stdin, write replies as one JSON line each to stdout, log to stderr.

    gauntlet test -w echo --bin examples/python/echo.py --node-count 3 --time-limit 10
"""
import json
import sys

node_id = None
next_msg_id = 0


def reply(request, body):
    global next_msg_id
    next_msg_id += 1
    body["msg_id"] = next_msg_id
    body["in_reply_to"] = request["body"]["msg_id"]
    out = {"src": node_id, "dest": request["src"], "body": body}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    if body["type"] == "init":
        node_id = body["node_id"]
        print(f"{node_id}: initialised", file=sys.stderr)
        reply(msg, {"type": "init_ok"})
    elif body["type"] == "echo":
        reply(msg, {"type": "echo_ok", "echo": body["echo"]})
    else:
        reply(msg, {"type": "error", "code": 10, "text": f"unsupported: {body['type']}"})
