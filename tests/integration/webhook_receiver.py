#!/usr/bin/env python3
"""webhook_receiver.py - the webhook receiver of the apnsd shell tests.

serve WORK SECRET: an HTTP server on 127.0.0.1 (port written to
  WORK/receiver.port). Every POST is logged as one JSON line in
  WORK/received.jsonl: the app (the URL path without "/"), whether its
  X-Apnsd-Signature checks (HMAC-SHA256 of "<X-Apnsd-Timestamp>.<body>" with
  SECRET), X-Apnsd-Delivery and the body. Apps listed in WORK/down (one per
  line) are answered 503 (the receiver "down"), the others 200.

check LOG APP N FIRST: LOG's requests for APP: every signature good, every
  delivery id names one batch of event ids, and the requests answered 200
  hold exactly N distinct events (by event_id and by (job_id, index)) with
  indexes FIRST..FIRST+N-1, each accepted, its token the shell tests'
  gw_token(index). Exit 0 with a summary line, else 1 with what is wrong.
"""
import hashlib
import hmac
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def serve(work, secret):
    lock = threading.Lock()

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            app = self.path.strip("/")
            down = open(os.path.join(work, "down")).read().split()
            ts = self.headers.get("X-Apnsd-Timestamp", "")
            sig = self.headers.get("X-Apnsd-Signature", "")
            want = "sha256=" + hmac.new(secret, ts.encode() + b"." + body,
                                        hashlib.sha256).hexdigest()
            rec = {"app": app, "down": app in down, "sig_ok": hmac.compare_digest(sig, want),
                   "delivery": self.headers.get("X-Apnsd-Delivery", ""),
                   "body": json.loads(body)}
            with lock:
                with open(os.path.join(work, "received.jsonl"), "a") as f:
                    f.write(json.dumps(rec) + "\n")
            self.send_response(503 if app in down else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    s = ThreadingHTTPServer(("127.0.0.1", 0), H)
    tmp = os.path.join(work, "receiver.port.tmp")
    with open(tmp, "w") as f:
        f.write(str(s.server_address[1]))
    os.rename(tmp, os.path.join(work, "receiver.port"))
    s.serve_forever()


def check(path, app, want, first):
    ids, keys, by_delivery, ok_reqs, bad = set(), set(), {}, 0, []
    for line in open(path) if os.path.exists(path) else []:
        r = json.loads(line)
        if r["app"] != app:
            continue
        if not r["sig_ok"]:
            bad.append("bad signature")
        if r["body"]["app"] != app:
            bad.append("app %r" % r["body"]["app"])
        evs = r["body"]["results"]
        if any("event_id" not in e for e in evs):
            bad.append("a result without event_id")
        eids = tuple(e.get("event_id") for e in evs)
        if by_delivery.setdefault(r["delivery"], eids) != eids:
            bad.append("delivery id %s names two batches" % r["delivery"])
        if r["down"]:
            continue
        ok_reqs += 1
        for e in evs:
            ids.add(e.get("event_id"))
            keys.add((e["job_id"], e["index"]))
            if e["token"] != "a1b2c3d4%056x" % e["index"] or e["state"] != "accepted":
                bad.append("event %r" % e)
    idx = sorted(k[1] for k in keys)
    if len(ids) != want or len(keys) != want or idx != list(range(first, first + want)):
        bad.append("%d event ids, %d (job, index), indexes %s..%s; want %d from %d" %
                   (len(ids), len(keys), idx[:1], idx[-1:], want, first))
    if bad:
        print("; ".join(bad[:5]))
        return 1
    print("%d distinct events in %d delivered requests, %d delivery ids" %
          (len(ids), ok_reqs, len(by_delivery)))
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3].encode())
    else:
        sys.exit(check(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
