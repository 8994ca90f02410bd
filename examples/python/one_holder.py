#!/usr/bin/env python3
"""A gauntlet checker program: at most one process holds a lock at a time.

Usage: one_holder.py RUN_DIR   (gauntlet passes the run's directory last)
Reads RUN_DIR/history.jsonl of a `lock` workload (ops "acquire"/"release",
the lock in "key"). A process holds lock k from the completion of its ok
acquire until the invoke of its next release of k, whatever came of it (or
to the end). An info acquire may or may not have been granted: not counted
(no false alarm); fail is nothing. Prints one result object, exits 0:
valid false with each overlap as evidence ("index": the acquire's invoke,
"completion-index": its grant, so gauntlet shows it beside the nemesis),
true when none and something was acquired, "unknown" when nothing was.

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
>>> bad["valid"], [(e["key"], e["first"]["process"], e["second"]["process"]) for e in bad["evidence"]]
(False, [(1, 0, 1)])
>>> bad["evidence"][0]["second"]
{'process': 1, 'index': 2, 'completion-index': 3, 'time': 3}
"""
import json, os, sys

def check(run_dir):
    invoked, holders, evidence, acquired = {}, {}, [], 0
    with open(os.path.join(run_dir, "history.jsonl")) as f:
        for n, line in enumerate(f):
            op = json.loads(line)
            p, kind, key = op.get("process"), op.get("type"), json.dumps(op.get("key"))
            if p == "nemesis" or op.get("f") not in ("acquire", "release"):
                continue
            held = holders.setdefault(key, {})
            if kind == "invoke":
                invoked[p] = op.get("index", n)
                if op["f"] == "release":
                    held.pop(p, None)  # its hold ends as it asks to release
            elif kind == "ok" and op["f"] == "acquire":
                acquired += 1
                grant = {"process": p, "index": invoked.get(p),
                         "completion-index": op.get("index", n), "time": op.get("time")}
                for q, first in held.items():
                    if q != p:
                        evidence.append({"problem": "two holders", "key": op.get("key"),
                                         "first": first, "second": grant})
                held.setdefault(p, grant)
    valid = False if evidence else (True if acquired else "unknown")
    result = {"valid": valid, "checker": "one-holder", "acquired": acquired,
              "evidence-count": len(evidence), "evidence": evidence[:20]}
    if evidence:
        result["problem"] = "two holders"
    return result

if __name__ == "__main__":
    print(json.dumps(check(sys.argv[-1])))
