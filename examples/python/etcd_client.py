#!/usr/bin/env python3
"""A gauntlet cluster-test client for etcd v3, through etcd's JSON gateway.

One op per stdin line ({"f":"read"|"write"|"cas","key":K,"value":V}), one
answer per stdout line: {"type":"ok"|"fail"|"info",...}. Usage:
    etcd_client.py --endpoints http://10.0.0.2:2379,http://10.0.0.3:2379 [--serializable]
"""
import base64, json, os, sys, urllib.error, urllib.request

args = sys.argv[1:]
endpoints = args[args.index("--endpoints") + 1].split(",")
serializable = "--serializable" in args
url = endpoints[os.getpid() % len(endpoints)]  # each client process sticks to one member
b64 = lambda s: base64.b64encode(str(s).encode()).decode()

def call(path, body):
    req = urllib.request.Request(url + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=2) as resp:
        return json.load(resp)

def apply(op):
    f, key = op["f"], b64(op["key"])
    if f == "read":
        kvs = call("/v3/kv/range", {"key": key, "serializable": serializable}).get("kvs", [])
        return {"type": "ok", "value": int(base64.b64decode(kvs[0]["value"])) if kvs else None}
    if f == "write":
        call("/v3/kv/put", {"key": key, "value": b64(op["value"])})
        return {"type": "ok"}
    if f == "cas":
        old, new = op["value"]
        cmp = [{"key": key, "target": "VALUE", "result": "EQUAL", "value": b64(old)}]
        r = call("/v3/kv/txn", {"compare": cmp, "success": [{"requestPut": {"key": key, "value": b64(new)}}]})
        return {"type": "ok"} if r.get("succeeded") else {"type": "fail", "error": "mismatch"}
    return {"type": "fail", "error": "unknown f " + f}

for line in sys.stdin:
    op = json.loads(line)
    try:
        answer = apply(op)
    except urllib.error.URLError as e:  # refused: it never reached etcd; a read changes nothing
        refused = isinstance(e.reason, ConnectionRefusedError)
        answer = {"type": "fail" if refused or op["f"] == "read" else "info", "error": str(e.reason)}
    except Exception as e:  # a timeout mid-write may or may not have applied
        answer = {"type": "fail" if op["f"] == "read" else "info", "error": repr(e)}
    print(json.dumps(answer), flush=True)
