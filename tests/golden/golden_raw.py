#!/usr/bin/python3
"""golden_raw.py - apns-sim, driven through every row of Apple's tables in
tests/golden/ with a raw HTTP/2 client (python3-h2, sim/selftest/simclient.py;
nothing of libapns). ctest golden_raw.

  conditions.tsv  each row: the request (or idle connection) the condition
                  describes, on an apns-sim set up for it; the answer must be
                  the row's status and reason, on the stream or as GOAWAY
                  debug data as the row says, with an integer millisecond
                  "timestamp" exactly when the row says so. Every reason of
                  reasons.tsv must have a condition, and every condition a
                  recipe below (the recipes say how to cause a condition,
                  never what the answer is).
  push-types.tsv  each row: a body of max_payload_bytes to <bundle><suffix>
                  is accepted and one byte more is PayloadTooLarge; the
                  forbidden priority is BadPriority; on a certificate
                  connection without Apple service extensions the type is
                  accepted or refused with certificate_refusal, and with a
                  certificate listing every service accepted unless
                  token-only.
The expected statuses of reasons come from reasons.tsv. Prints one line per
check; any difference is a FAIL line and exit 1.
usage: golden_raw.py   (env APNS_BIN_DIR, APNS_TEST_CERTS)
"""
import os, sys, tempfile, shutil, time

HERE = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault("APNS_SIM", os.path.join(os.environ["APNS_BIN_DIR"], "apns-sim"))
WORK = tempfile.mkdtemp(prefix="apns-golden-raw-")
os.environ["SELFTEST_WORK"] = WORK
sys.path.insert(0, os.path.join(HERE, "..", "..", "sim", "selftest"))
from simclient import Sim, Client, jwt, CERTS  # noqa: E402
from goldentsv import table, report, failures, body  # noqa: E402

TOPIC = "com.example.app"
TOK = "a" * 64
T_UNREG, T_EXPIRED, T_TOPIC, T_ENV, T_FORBIDDEN = ("%064x" % (0xB0 + i) for i in range(5))


REASONS = table("reasons.tsv")
STATUS = {r["reason"]: int(r["status"]) for r in REASONS}


# --- simulators, started once per setup ---------------------------------------
def token_file(name, lines):
    path = os.path.join(WORK, name)
    with open(path, "w") as f:
        f.write("".join(l + "\n" for l in lines))
    return path


SETUPS = {
    "open": lambda: ["--topics", TOPIC,
                     "--unregistered", token_file("unreg", [T_UNREG + " 1700000000123"]),
                     "--expired-tokens", token_file("expired", [T_EXPIRED + " 1700000000456"]),
                     "--other-topic", token_file("other-topic", [T_TOPIC]),
                     "--other-env", token_file("other-env", [T_ENV]),
                     "--forbidden-tokens", token_file("forbidden", [T_FORBIDDEN])],
    "token": lambda: ["--auth-keys", f"{CERTS}/keys", "--topics", TOPIC],
    "token-env": lambda: ["--auth-keys", f"{CERTS}/keys", "--other-env-keys", "XYZ987WVUT"],
    "cert": lambda: ["--client-ca", f"{CERTS}/ca.pem"],
    "fail429": lambda: ["--fail-rate", "429:1"],
    "fail500": lambda: ["--fail-rate", "500:1"],
    "fail503": lambda: ["--fail-rate", "503:1"],
    "shutdown": lambda: ["--shutdown-after", "1"],
    "goaway": lambda: ["--goaway-every", "1"],
    "idle": lambda: ["--idle-timeout", "0.2"],
}
sims = {}


def port(setup):
    if setup not in sims:
        sims[setup] = Sim(*SETUPS[setup]())
    return sims[setup].port


def cert(name):
    return (f"{CERTS}/{name}.pem", f"{CERTS}/{name}.key")


# --- how to cause each condition: (setup, function(client) -> answer) ---------
# An answer is ("stream", status, body dict) or ("goaway", debug reason).
def stream(c, **kw):
    r = c.req(**kw)
    return ("stream", r[0], r[3] or {}) if r else ("stream", None, {})


def goaway(c, timeout=3.0):
    c.pump(until=lambda: c.goaway is not None, timeout=timeout)
    if c.goaway is None:
        return ("goaway", None)
    import json
    try:
        return ("goaway", json.loads(c.goaway[2] or b"{}").get("reason"))
    except ValueError:
        return ("goaway", c.goaway[2])


H = [("apns-topic", TOPIC)]


def auth(tok):
    return H + [("authorization", "bearer " + tok)]


def token_updates(c):
    stream(c, headers=auth(jwt()))
    stream(c, headers=auth(jwt(raw=False)))  # the first change is allowed
    return stream(c, headers=auth(jwt(std=True)))


def unrelated_kid(c):
    stream(c, headers=auth(jwt()))
    return stream(c, headers=auth(jwt(kid="XYZ987WVUT", team="TEAM000002")))


def shutdown_stream(c):
    stream(c, headers=H)  # stream 1 of --shutdown-after 1
    return stream(c, headers=H)


def goaway_after(c):
    stream(c, headers=H)
    return goaway(c)


def cert_push(push_type, suffix):
    return lambda c: stream(c, headers=[("apns-topic", TOPIC + suffix), ("apns-push-type", push_type)])


RECIPES = {
    "method-not-post": ("open", None, lambda c: stream(c, headers=H, method="PUT")),
    "bad-path": ("open", None, lambda c: stream(c, headers=H, path="/3/devic")),
    "header-twice": ("open", None, lambda c: stream(c, headers=H + [("apns-priority", "10")] * 2)),
    "no-authorization": ("token", None, lambda c: stream(c, headers=H)),
    "bearer-empty": ("token", None, lambda c: stream(c, headers=H + [("authorization", "bearer")])),
    "jwt-invalid": ("token", None,
                    lambda c: stream(c, headers=auth(jwt(key=f"{CERTS}/AuthKey_XYZ987WVUT.p8")))),
    "jwt-other-env-key": ("token-env", None,
                          lambda c: stream(c, headers=auth(jwt(kid="XYZ987WVUT", team="TEAM000002")))),
    "jwt-expired": ("token", None,
                    lambda c: stream(c, headers=auth(jwt(iat=int(time.time()) - 3700)))),
    "jwt-unrelated-kid": ("token", None, unrelated_kid),
    "token-updates": ("token", None, token_updates),
    "cert-no-topic": ("cert", "client-notopic", lambda c: stream(c)),
    "cert-other-env": ("cert", "client-dev", lambda c: stream(c)),
    "no-device-token": ("open", None, lambda c: stream(c, headers=H, path="/3/device/")),
    "token-not-hex": ("open", None, lambda c: stream(c, headers=H, token="zz" + TOK[2:])),
    "push-type-invalid": ("open", None,
                          lambda c: stream(c, headers=H + [("apns-push-type", "bogus")])),
    "no-topic-token-auth": ("token", None,
                            lambda c: stream(c, headers=[("authorization", "bearer " + jwt())])),
    "priority-invalid": ("open", None, lambda c: stream(c, headers=H + [("apns-priority", "7")])),
    "priority-background-10": ("open", None, lambda c: stream(
        c, headers=H + [("apns-push-type", "background"), ("apns-priority", "10")])),
    "id-not-uuid": ("open", None, lambda c: stream(c, headers=H + [("apns-id", "not-a-uuid")])),
    "expiration-invalid": ("open", None,
                           lambda c: stream(c, headers=H + [("apns-expiration", "soon")])),
    "collapse-id-too-long": ("open", None,
                             lambda c: stream(c, headers=H + [("apns-collapse-id", "c" * 65)])),
    "topic-invalid": ("open", None, lambda c: stream(c, headers=[("apns-topic", "com.example app")])),
    "topic-not-allowed": ("open", None, lambda c: stream(c, headers=[("apns-topic", "com.other.app")])),
    "cert-location": ("cert", "client", cert_push("location", ".location-query")),
    "cert-liveactivity": ("cert", "client", cert_push("liveactivity", ".push-type.liveactivity")),
    "cert-voip-unregistered": ("cert", "client", cert_push("voip", ".voip")),
    "cert-complication-no-watchkit": ("cert", "client", cert_push("complication", ".complication")),
    "empty-body": ("open", None, lambda c: stream(c, headers=H, body=b"")),
    "payload-too-large": ("open", None, lambda c: stream(c, headers=H, body=body(4097))),
    "payload-too-large-voip": ("open", None, lambda c: stream(
        c, headers=[("apns-topic", TOPIC + ".voip"), ("apns-push-type", "voip")], body=body(5121))),
    "token-other-env": ("open", None, lambda c: stream(c, headers=H, token=T_ENV)),
    "token-other-topic": ("open", None, lambda c: stream(c, headers=H, token=T_TOPIC)),
    "forbidden": ("open", None, lambda c: stream(c, headers=H, token=T_FORBIDDEN)),
    "token-expired": ("open", None, lambda c: stream(c, headers=H, token=T_EXPIRED)),
    "token-unregistered": ("open", None, lambda c: stream(c, headers=H, token=T_UNREG)),
    "too-many-requests": ("fail429", None, lambda c: stream(c)),
    "internal": ("fail500", None, lambda c: stream(c)),
    "unavailable": ("fail503", None, lambda c: stream(c)),
    "shutdown-stream": ("shutdown", None, shutdown_stream),
    "shutdown-goaway": ("goaway", None, goaway_after),
    "idle": ("idle", None, lambda c: goaway(c)),
}


def run(setup, certname, fn):
    c = Client(port(setup), cert=cert(certname) if certname else None)
    try:
        return fn(c)
    finally:
        c.close()


def check_conditions():
    rows = table("conditions.tsv")
    covered = {r["reason"] for r in rows}
    for r in REASONS:
        report(r["reason"] in covered, "reasons.tsv %s has a condition" % r["reason"],
               "none", "a row of conditions.tsv")
    for row in rows:
        what = "%s: %s %s (%s, %s)" % (row["id"], row["status"], row["reason"], row["answer"],
                                       row["source"])
        if row["id"] not in RECIPES:
            report(False, what, "no recipe in golden_raw.py", "one")
            continue
        setup, certname, fn = RECIPES[row["id"]]
        got = run(setup, certname, fn)
        if row["answer"] == "goaway":
            report(got == ("goaway", row["reason"]), what, got, ("goaway", row["reason"]))
            continue
        _, status, b = got
        ts = b.get("timestamp")
        want_ts = row["timestamp"] == "yes"
        got_ts = isinstance(ts, int) and len(str(ts)) == 13
        ok = (got[0] == "stream" and status == int(row["status"]) and b.get("reason") == row["reason"]
              and got_ts == want_ts and STATUS.get(row["reason"]) == int(row["status"]))
        report(ok, what, (status, b), (int(row["status"]), row["reason"],
                                       "timestamp ms" if want_ts else "no timestamp"))


def check_push_types():
    for row in table("push-types.tsv"):
        name, max_bytes = row["push_type"], int(row["max_payload_bytes"])
        suffix = "" if row["topic_suffix"] == "-" else row["topic_suffix"]
        hdrs = [("apns-topic", TOPIC + suffix), ("apns-push-type", name), ("apns-priority", "5")]
        got = run("open", None, lambda c: stream(c, headers=hdrs, body=body(max_bytes)))
        report(got[1] == 200, "%s: %d bytes to <id>%s accepted" % (name, max_bytes, suffix),
               got[1:], 200)
        got = run("open", None, lambda c: stream(c, headers=hdrs, body=body(max_bytes + 1)))
        want = (STATUS["PayloadTooLarge"], "PayloadTooLarge")
        report((got[1], got[2].get("reason")) == want, "%s: %d bytes" % (name, max_bytes + 1),
               got[1:], want)
        if row["forbidden_priority"] != "-":
            h = hdrs[:2] + [("apns-priority", row["forbidden_priority"])]
            got = run("open", None, lambda c: stream(c, headers=h))
            want = (STATUS["BadPriority"], "BadPriority")
            report((got[1], got[2].get("reason")) == want,
                   "%s: apns-priority %s" % (name, row["forbidden_priority"]), got[1:], want)
        refusal = None if row["certificate_refusal"] == "-" else row["certificate_refusal"]
        got = run("cert", "client", lambda c: stream(c, headers=hdrs))
        want = (STATUS[refusal], refusal) if refusal else (200, None)
        report((got[1], got[2].get("reason")) == want,
               "%s: certificate without services (%s)" % (name, row["certificate"]), got[1:], want)
        got = run("cert", "client-services", lambda c: stream(c, headers=hdrs))
        want = want if row["certificate"] == "token-only" else (200, None)
        report((got[1], got[2].get("reason")) == want,
               "%s: certificate listing every service" % name, got[1:], want)


try:
    check_conditions()
    check_push_types()
finally:
    for s in sims.values():
        s.stop()
fails = failures()
if fails == 0:
    shutil.rmtree(WORK)
print("golden_raw: %s" % ("apns-sim agrees with tests/golden/" if fails == 0 else "%d differences" % fails))
sys.exit(1 if fails else 0)
