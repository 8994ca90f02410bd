#!/usr/bin/env python3
"""A gauntlet checker program: at most one process holds a lock at a time.

Usage: one_holder.py RUN_DIR   (gauntlet passes the run's directory last)
Reads RUN_DIR/history.jsonl of a `lock` workload ("acquire"/"release" of the
lock in "key"). A process holds lock k from the completion of its ok acquire
until the invoke of its next release of k that did not fail (ok, info or
unfinished: it may have freed k), or to the end. An info acquire may or may
not have been granted: not counted (no false alarm); a fail did not happen.
Prints one result, exits 0: valid false with each overlap as evidence (both
grants by "index" of invoke and "completion-index", so gauntlet shows them
beside the nemesis), true if none and something was acquired, else "unknown".

>>> import json, os, tempfile
>>> def run(ops):
...     d = tempfile.mkdtemp()
...     with open(os.path.join(d, "history.jsonl"), "w") as f:
...         f.writelines(json.dumps(dict(o, index=i, time=i)) + "\\n" for i, o in enumerate(ops))
...     return check(d)
>>> op = lambda p, t, f, k: {"process": p, "type": t, "f": f, "key": k}
>>> ok = [op(0, "invoke", "acquire", 1), op(0, "ok", "acquire", 1), op(1, "invoke", "acquire", 1),
...       op(0, "invoke", "release", 1), op(1, "info", "acquire", 1), op(0, "ok", "release", 1),
...       op(2, "invoke", "acquire", 1), op(2, "ok", "acquire", 1)]
>>> run(ok)["valid"], run(ok[:1])["valid"]
(True, 'unknown')
>>> bad = run(ok[:3] + [op(1, "ok", "acquire", 1)])
>>> bad["valid"], bad["evidence"][0]["key"], bad["evidence"][0]["first"]["process"], bad["evidence"][0]["second"]
(False, 1, 0, {'process': 1, 'index': 2, 'completion-index': 3, 'time': 3})
>>> run(ok[:5] + [op(0, "fail", "release", 1)] + ok[6:])["valid"]  # p0 still holds 1
False
"""
import json, os, sys

def check(run_dir):
    with open(os.path.join(run_dir, "history.jsonl")) as f:
        ops = [dict({"index": n}, **json.loads(line)) for n, line in enumerate(f)]
    ops = [o for o in ops if o.get("process") != "nemesis" and o.get("f") in ("acquire", "release")]
    outcome, invoked, holders, evidence, acquired = {}, {}, {}, [], 0
    for op in ops:  # how each invoke ended, by its index
        if op["type"] == "invoke":
            invoked[op["process"]] = op["index"]
        elif op["process"] in invoked:
            outcome[invoked.pop(op["process"])] = op["type"]
    for op in ops:
        p, held = op["process"], holders.setdefault(json.dumps(op.get("key")), {})
        if op["type"] == "invoke":
            invoked[p] = op["index"]
            if op["f"] == "release" and outcome.get(op["index"]) != "fail":
                held.pop(p, None)  # its hold ends as it asks to release
        elif op["type"] == "ok" and op["f"] == "acquire":
            acquired += 1
            grant = {"process": p, "index": invoked.get(p),
                     "completion-index": op["index"], "time": op.get("time")}
            for q, first in held.items():
                if q != p:
                    evidence.append({"problem": "two holders", "key": op.get("key"),
                                     "first": first, "second": grant})
            held.setdefault(p, grant)
    valid = False if evidence else (True if acquired else "unknown")
    return dict({"valid": valid, "checker": "one-holder", "acquired": acquired,
                 "evidence-count": len(evidence), "evidence": evidence[:20]},
                **({"problem": "two holders"} if evidence else {}))

if __name__ == "__main__":
    print(json.dumps(check(sys.argv[-1])))
