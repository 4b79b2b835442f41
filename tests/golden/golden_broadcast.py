#!/usr/bin/python3
"""golden_broadcast.py - apns-sim's broadcast APIs (channel management on
--manage-listen, broadcast publish on the push listener), driven through
every row of tests/golden/broadcast.tsv with a raw HTTP/2 client
(python3-h2, sim/selftest/simclient.py; nothing of libapns). ctest
golden_broadcast.

Each row: the request its condition describes, on an apns-sim set up for
it; the answer must be the row's status and reason ("-": no reason).
Successes are checked further: the created channel's apns-channel-id is
base64, a read returns the configuration, the list holds the channel, a
publish answer carries apns-request-id (the one sent) and apns-unique-id,
and the delivery log has exactly one "broadcast <channel-id> <request-id>
<bytes>" line per accepted publish. The recipes say how to cause a
condition, never what the answer is; a row without a recipe, or a recipe
without a row, is a failure. Then the fault flags: --goaway-every and
--no-answer-rate apply to publishes, none applies to channel management.
Prints one line per check; any difference is a FAIL line and exit 1.
usage: golden_broadcast.py   (env APNS_BIN_DIR, APNS_TEST_CERTS)
"""
import os, sys, tempfile, shutil, re, time, json

HERE = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault("APNS_SIM", os.path.join(os.environ["APNS_BIN_DIR"], "apns-sim"))
WORK = tempfile.mkdtemp(prefix="apns-golden-bc-")
os.environ["SELFTEST_WORK"] = WORK
sys.path.insert(0, os.path.join(HERE, "..", "..", "sim", "selftest"))
from simclient import Sim, Client, jwt, CERTS  # noqa: E402
from goldentsv import table, report, failures, body  # noqa: E402

APP = "com.example.app"          # the certificate's bundle id; broadcast enabled
APP2 = "com.example.app2"        # broadcast enabled too
OTHER = "com.example.other"      # allowed (--topics), no broadcast capability
STRANGER = "com.stranger.app"    # not the certificate's
CH, ALL, PUB = "/1/apps/%s/channels", "/1/apps/%s/all-channels", "/4/broadcasts/apps/%s"
CREATE = b'{"message-storage-policy":%d,"push-type":"LiveActivity"}'
UPDATE = b'{"aps":{"event":"update","timestamp":1700000000,"content-state":{"score":"1-0"}}}'
RID = "0e3c4a52-7a5b-4f1e-9a43-1b2c3d4e5f60"
DLOG = os.path.join(WORK, "delivered.log")
B64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


class BcSim(Sim):
    """apns-sim with --manage-listen; .mport is the management port."""

    def __init__(self, *args):
        super().__init__("--manage-listen", "127.0.0.1:0", *args)
        line = self.p.stdout.readline().strip()
        m = re.match(r"apns-sim manage listening on .*:(\d+)$", line)
        assert m, line
        self.mport = int(m.group(1))


SETUPS = {
    "open": ["--topics", ",".join((APP, APP2, OTHER)), "--broadcast-topics", APP + "," + APP2,
             "--delivery-log", DLOG],
    "token": ["--auth-keys", f"{CERTS}/keys", "--topics", APP],
    "cert": ["--client-ca", f"{CERTS}/ca.pem"],
    "limit": ["--channel-limit", "2"],
    "fail429": ["--fail-rate", "429:1"],
    "fail500": ["--fail-rate", "500:1"],
    "fail503": ["--fail-rate", "503:1"],
    "shutdown": ["--shutdown-after", "1"],
    "goaway": ["--goaway-every", "1"],
    "noanswer": ["--no-answer-rate", "1"],
    "threads": ["--threads", "4"],
}
sims = {}


def sim(setup):
    if setup not in sims:
        sims[setup] = BcSim(*SETUPS[setup])
    return sims[setup]


def cert(name):
    return (f"{CERTS}/{name}.pem", f"{CERTS}/{name}.key") if name else None


def send(port, certname=None, **kw):
    c = Client(port, cert=cert(certname))
    try:
        return c.req(**kw)
    finally:
        c.close()


def manage(setup, method="GET", path=CH % APP, headers=(), body=None, certname=None, token=None):
    h = list(headers) + ([("authorization", "bearer " + token)] if token else [])
    return send(sim(setup).mport, certname, method=method, path=path, headers=h, body=body)


def create(setup, policy=1, bundle=APP, **kw):
    """A new channel's id (the creation itself is a row of its own)."""
    r = manage(setup, "POST", CH % bundle, body=CREATE % policy, **kw)
    assert r and r[0] == 201, ("channel creation failed", setup, r)
    return r[2]["apns-channel-id"]


def pub_headers(ch, exp="0", prio="10", pt="liveactivity", rid=None, drop=()):
    h = [("apns-channel-id", ch), ("apns-push-type", pt), ("apns-expiration", exp),
         ("apns-priority", prio)] + ([("apns-request-id", rid)] if rid else [])
    return [(k, v) for k, v in h if k not in drop]


def publish(setup, headers=None, body=UPDATE, path=PUB % APP, method="POST", certname=None,
            token=None):
    h = pub_headers(create(setup)) if headers is None else headers
    h = h + ([("authorization", "bearer " + token)] if token else [])
    r = send(sim(setup).port, certname, method=method, path=path, headers=h, body=body)
    if setup == "open" and r and r[0] == 200:
        accepted[0] += 1
    return r


def read(setup, ch, bundle=APP):
    return manage(setup, "GET", CH % bundle, headers=[("apns-channel-id", ch)])


def delete(setup, ch):
    return manage(setup, "DELETE", CH % APP, headers=[("apns-channel-id", ch)])


def deleted(setup):
    ch = create(setup)
    delete(setup, ch)
    return ch


def over_limit():
    for _ in range(2):
        create("limit", bundle="com.example.full")
    return manage("limit", "POST", CH % "com.example.full", body=CREATE % 1)


def token_updates():
    c = Client(sim("token").mport)
    try:
        for t in (jwt(), jwt(raw=False), jwt(std=True)):  # the first change is allowed
            r = c.req(method="GET", path=ALL % APP, body=None, headers=[("authorization", "bearer " + t)])
        return r
    finally:
        c.close()


def shutdown_publish():
    c = Client(sim("shutdown").port)
    try:
        h = pub_headers(create("shutdown"))
        c.req(path=PUB % APP, headers=h, body=UPDATE)  # stream 1 of --shutdown-after 1
        return c.req(path=PUB % APP, headers=h, body=UPDATE)
    finally:
        c.close()


accepted = [0]  # publishes the "open" simulator (the one with the log) answered 200


# Success rows: further checks of the answer (headers, body) -> (ok, detail).
created = {}


def check_create(r):
    ch = r[2].get("apns-channel-id", "")
    created["id"] = ch
    return bool(B64.match(ch)) and r[3] is None and "apns-request-id" in r[2], r[2]


def check_read(r):
    return r[3] == {"message-storage-policy": 1, "push-type": "LiveActivity"}, r[3]


def check_list(r):
    return isinstance(r[3], dict) and created.get("list") in r[3].get("channels", []), r[3]


def check_publish(r):
    ok = r[2].get("apns-request-id") == RID and re.match(r"^[0-9a-f-]{36}$",
                                                         r[2].get("apns-unique-id", ""))
    return bool(ok), r[2]


def listed():
    created["list"] = create("open")
    return manage("open", "GET", ALL % APP)


def published():
    ch = create("open", 0)
    created["published"] = ch
    return publish("open", pub_headers(ch, rid=RID))


T = lambda: jwt()  # noqa: E731
RECIPES = {
    "m-create": (lambda: manage("open", "POST", body=CREATE % 1), check_create),
    "m-create-no-storage": (lambda: manage("open", "POST", body=CREATE % 0), None),
    "m-read": (lambda: read("open", create("open", 1)), check_read),
    "m-list": (listed, check_list),
    "m-delete": (lambda: delete("open", create("open")), lambda r: (r[3] is None, r[3])),
    "m-method": (lambda: manage("open", "PUT", body=CREATE % 1), None),
    "m-bad-path": (lambda: manage("open", "POST", ALL % APP, body=CREATE % 1), None),
    "m-unknown-path": (lambda: manage("open", "GET", "/1/apps/%s/channel" % APP), None),
    "m-no-token": (lambda: manage("token", "GET", ALL % APP), None),
    "m-invalid-token": (lambda: manage("token", "GET", ALL % APP,
                                       token=jwt(key=f"{CERTS}/AuthKey_XYZ987WVUT.p8")), None),
    "m-expired-token": (lambda: manage("token", "GET", ALL % APP,
                                       token=jwt(iat=int(time.time()) - 3700)), None),
    "m-token-updates": (token_updates, None),
    "m-cert-no-topic": (lambda: manage("cert", "GET", ALL % APP, certname="client-notopic"), None),
    "m-cert-other-env": (lambda: manage("cert", "GET", ALL % APP, certname="client-dev"), None),
    "m-suffix": (lambda: manage("open", "GET", ALL % (APP + ".push-type.liveactivity")), None),
    "m-topic-mismatch": (lambda: manage("cert", "GET", ALL % STRANGER, certname="client"), None),
    "m-feature": (lambda: manage("open", "GET", ALL % OTHER), None),
    "m-request-id": (lambda: manage("open", "GET", ALL % APP, headers=[("apns-request-id", "x")]), None),
    "m-create-empty": (lambda: manage("open", "POST", body=b""), None),
    "m-create-unparsable": (lambda: manage("open", "POST", body=b'{"message-storage-policy":'), None),
    "m-create-unknown": (lambda: manage("open", "POST", body=b'{"message-storage-policy":1,'
                                        b'"push-type":"LiveActivity","name":"final"}'), None),
    "m-create-no-push-type": (lambda: manage("open", "POST", body=b'{"message-storage-policy":1}'), None),
    "m-create-push-type": (lambda: manage("open", "POST", body=b'{"message-storage-policy":1,'
                                          b'"push-type":"alert"}'), None),
    "m-create-policy": (lambda: manage("open", "POST", body=CREATE % 2), None),
    "m-create-too-large": (lambda: manage("open", "POST", body=b" " * 5121 + CREATE % 1), None),
    "m-create-limit": (over_limit, None),
    "m-read-no-channel": (lambda: manage("open", "GET"), None),
    "m-read-bad-channel": (lambda: read("open", "not base64!"), None),
    "m-read-long-channel": (lambda: read("open", "A" * 132), None),
    "m-read-unknown": (lambda: read("open", "dHN0LXNyY2gtY2hubA=="), None),
    "m-read-other-app": (lambda: read("open", create("open"), bundle=APP2), None),
    "m-delete-no-channel": (lambda: manage("open", "DELETE"), None),
    "m-delete-deleted": (lambda: delete("open", deleted("open")), None),
    "p-ok": (published, check_publish),
    "p-max-size": (lambda: publish("open", body=body(5120)), None),
    "p-stored-expiration": (lambda: publish("open", pub_headers(create("open", 1), exp="4102444800")),
                            None),
    "p-cert": (lambda: publish("cert", pub_headers(create("cert", certname="client")),
                               certname="client"), None),
    "p-method": (lambda: publish("open", method="GET", body=None), None),
    "p-bad-path": (lambda: publish("open", path=PUB % ""), None),
    "p-no-token": (lambda: publish("token", pub_headers(create("token", token=T()))), None),
    "p-suffix": (lambda: publish("open", path=PUB % (APP + ".push-type.liveactivity")), None),
    "p-topic-mismatch": (lambda: publish("cert", pub_headers(create("cert", certname="client")),
                                         path=PUB % STRANGER, certname="client"), None),
    "p-feature": (lambda: publish("open", path=PUB % OTHER), None),
    "p-no-channel": (lambda: publish("open", pub_headers("x", drop=("apns-channel-id",))), None),
    "p-bad-channel": (lambda: publish("open", pub_headers("not base64!")), None),
    "p-no-push-type": (lambda: publish("open", pub_headers(create("open"), drop=("apns-push-type",))),
                       None),
    "p-push-type": (lambda: publish("open", pub_headers(create("open"), pt="alert")), None),
    "p-no-priority": (lambda: publish("open", pub_headers(create("open"), drop=("apns-priority",))),
                      None),
    "p-priority": (lambda: publish("open", pub_headers(create("open"), prio="7")), None),
    "p-request-id": (lambda: publish("open", pub_headers(create("open"), rid="not-a-uuid")), None),
    "p-no-expiration": (lambda: publish("open", pub_headers(create("open"),
                                                            drop=("apns-expiration",))), None),
    "p-expiration": (lambda: publish("open", pub_headers(create("open"), exp="soon")), None),
    "p-empty": (lambda: publish("open", body=b""), None),
    "p-too-large": (lambda: publish("open", body=body(5121)), None),
    "p-not-json": (lambda: publish("open", body=b'{"aps":'), None),
    "p-unknown-channel": (lambda: publish("open", pub_headers("dHN0LXNyY2gtY2hubA==")), None),
    "p-deleted-channel": (lambda: publish("open", pub_headers(deleted("open"))), None),
    "p-no-storage-expiration": (lambda: publish("open", pub_headers(create("open", 0),
                                                                    exp="4102444800")), None),
    "p-fail429": (lambda: publish("fail429"), None),
    "p-fail500": (lambda: publish("fail500"), None),
    "p-fail503": (lambda: publish("fail503"), None),
    "p-shutdown": (shutdown_publish, None),
}


def check_rows():
    rows = table("broadcast.tsv")
    ids = {r["id"] for r in rows}
    for rid in sorted(set(RECIPES) - ids):
        report(False, "recipe %s has a row in broadcast.tsv" % rid, "none", "a row")
    for row in rows:
        want = (int(row["status"]), None if row["reason"] == "-" else row["reason"])
        what = "%s: %s %s %s (%s)" % (row["id"], row["api"], want[0], row["reason"], row["source"])
        if row["id"] not in RECIPES:
            report(False, what, "no recipe in golden_broadcast.py", "one")
            continue
        fn, extra = RECIPES[row["id"]]
        r = fn()
        got = (r[0], r[1]) if r else None
        ok = got == want
        detail = r
        if ok and extra:
            ok, detail = extra(r)
        report(ok, what, detail if got == want else got, want)


def check_log():
    sims["open"].stop()
    lines = open(DLOG).read().splitlines() if os.path.exists(DLOG) else []
    bc = [l for l in lines if l.startswith("broadcast ")]
    n = accepted[0]
    report(n > 0 and len(bc) == len(lines) == n, "delivery log: one line per accepted publish",
           len(lines), n)
    want = "broadcast %s %s %d" % (created.get("published"), RID, len(UPDATE))
    report(want in bc, "delivery log: " + want, bc[:4], want)
    st = sims["open"].stats or {}
    report(st.get("broadcasts") == n and st.get("accepted") == 0,
           "counters: broadcasts = accepted publishes", st.get("broadcasts"), n)


def check_faults():
    r = publish("fail503")
    ch = create("fail503")
    report(r and r[0] == 503 and bool(ch), "--fail-rate: publishes fail, channel management does not",
           r and r[0], 503)
    c = Client(sim("goaway").port)
    try:
        r = c.req(path=PUB % APP, headers=pub_headers(create("goaway")), body=UPDATE)
        c.pump(until=lambda: c.goaway is not None, timeout=3)
        report(r and r[0] == 200 and c.goaway is not None, "--goaway-every 1: publish answered, then GOAWAY",
               (r and r[0], c.goaway), (200, "GOAWAY"))
    finally:
        c.close()
    c = Client(sim("noanswer").port)
    try:
        sid = c.send(path=PUB % APP, headers=pub_headers(create("noanswer")), body=UPDATE)
        r = c.result(sid, timeout=0.5)
        report(r is None, "--no-answer-rate 1: a publish is never answered", r, None)
    finally:
        c.close()


def check_threads():
    """One store for every loop: a channel made on one connection is read,
    published to and deleted on others (SO_REUSEPORT spreads them)."""
    ch = create("threads")
    got = [publish("threads", pub_headers(ch)) for _ in range(8)]
    got += [read("threads", ch) for _ in range(4)]
    ok = all(r and r[0] == 200 for r in got)
    report(ok, "--threads 4: 8 publishes and 4 reads of one channel on new connections",
           [r and r[0] for r in got], 200)
    st = sims["threads"].stop()
    report(st.get("connections", 0) >= 13 and st.get("broadcasts") == 8 and st.get("channels") == 1,
           "--threads 4: counters", st, "13 connections, 8 broadcasts, 1 channel")


try:
    check_rows()
    check_threads()
    check_log()
    check_faults()
finally:
    for s in sims.values():
        if s.p.poll() is None:
            s.stop()
fails = failures()
if fails == 0:
    shutil.rmtree(WORK)
print("golden_broadcast: %s" % ("apns-sim agrees with tests/golden/broadcast.tsv" if fails == 0
                                else "%d differences" % fails))
sys.exit(1 if fails else 0)
