#!/usr/bin/python3
"""fcm_auth_sim.py - lib/fcm_auth.c against fcm-sim's OAuth token endpoint,
judged by fcm-sim's own counters and by a messages:send this script makes
itself (Python's http.client over ssl, nothing of libapns). The C side is
tests/lib/fcm_auth_driver.c, which prints what libapns did.

  verify    TLS verification is on: against the system trust store the
            test CA is refused (APNS_EVERIFY), no token request is counted
  fetch     one apns_fcm_token_fetch: 200, the sim's access token with its
            expires_in, accepted by messages:send; one token request counted
  refresh   --token-ttl 2: an apns_fcm_auth run until N tokens were put;
            the sim counted exactly N token requests, libapns N requests,
            N tokens, no failure, N cache generations
  expired   five apns_token_cache_expired() for the first token: one
            callback, exactly one extra request; a stale generation later:
            none; the refreshed token is accepted by messages:send; the same
            with the five calls from another thread (expired-thread)
  badkey    a key the sim does not know: APNS_EGRANT, invalid_grant with
            the sim's text "Invalid JWT Signature.", from the one-shot fetch
            and as the auth's RETRYING state
  proxy     the fetch through an HTTP CONNECT proxy (a small one here):
            one CONNECT to the sim, the token accepted
  retry     the token endpoint is down at first: RETRYING with
            APNS_ECONNECT, then (fcm-sim started on that port) READY;
            libapns's requests = its failures + 1, the sim counted 1
Prints one line per check; any difference is a FAIL line and exit 1.
usage: fcm_auth_sim.py   (env APNS_BIN_DIR, APNS_TEST_CERTS, FCM_AUTH_DRIVER,
                          FCM_AUTH_SMALL=1 under the sanitizers)
"""
import http.client, json, os, select, shutil, socket, ssl, subprocess, sys, threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "golden"))
import fcm_golden as g  # noqa: E402  (Sim, account)
from goldentsv import report, failures  # noqa: E402

CERTS = os.environ["APNS_TEST_CERTS"]
DRIVER = os.environ["FCM_AUTH_DRIVER"]
N = 2 if os.environ.get("FCM_AUTH_SMALL") == "1" else 4
DEMO = g.account("demo")
EMAIL = DEMO["client_email"]


def drive(sim, mode, acct="demo", n=None, ca=None, env=None):
    args = [DRIVER, mode, "https://localhost:%d/token" % sim.port, ca or f"{CERTS}/ca.pem",
            f"{CERTS}/fcm/sa-{acct}.json"] + ([str(n)] if n else [])
    p = subprocess.run(args, capture_output=True, text=True, timeout=150,
                       env=dict(os.environ, **(env or {})))
    events = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    if p.returncode != 0 or "Sanitizer" in p.stderr or "runtime error" in p.stderr:
        print("DRIVER %s rc=%d stderr: %s" % (mode, p.returncode, p.stderr[-3000:]))
    report(p.returncode == 0, "%s: driver exit" % mode, p.returncode, 0)
    return events


def first(events, kind):
    return next((e for e in events if e["event"] == kind), {})


def send(sim, token):
    """messages:send with this bearer, by Python's own HTTP/1.1 client."""
    ctx = ssl.create_default_context(cafile=f"{CERTS}/ca.pem")
    c = http.client.HTTPSConnection("localhost", sim.port, context=ctx, timeout=10)
    body = json.dumps({"message": {"token": "fTok3n:APA91b" + "x" * 140,
                                   "notification": {"title": "auth", "body": "check"}}})
    c.request("POST", "/v1/projects/%s/messages:send" % DEMO["project_id"], body=body,
              headers={"Host": "fcm.googleapis.com", "content-type": "application/json",
                       "authorization": "Bearer " + token})
    r = c.getresponse()
    out = r.status, r.read()
    c.close()
    return out


def requests_counted(stats):
    return (stats or {}).get("token_requests", {}).get(EMAIL)


def verify_and_fetch():
    sim = g.Sim()
    ev = drive(sim, "fetch", ca="-")  # the system store does not know the test CA
    report(first(ev, "fetch").get("err") == "APNS_EVERIFY", "verify: system store refuses the test CA",
           first(ev, "fetch").get("err"), "APNS_EVERIFY")
    ev = drive(sim, "fetch")
    f = first(ev, "fetch")
    report(f.get("err") == "APNS_OK", "fetch: err", f.get("err"), "APNS_OK")
    report(f.get("status") == 200, "fetch: status", f.get("status"), 200)
    report(f.get("token", "").startswith("ya29.fsim."), "fetch: the sim's access token", f.get("token"),
           "ya29.fsim.*")
    report(f.get("expires_in") == 3600, "fetch: expires_in (fcm-sim's default)", f.get("expires_in"), 3600)
    st, body = send(sim, f.get("token", ""))
    report(st == 200 and b'"name":"projects/fcm-demo/messages/' in body,
           "fetch: messages:send accepts the token", (st, body[:100]), 200)
    stats = sim.stop()
    report(requests_counted(stats) == 1, "verify+fetch: token requests the sim counted",
           requests_counted(stats), 1)


def refresh():
    sim = g.Sim("--token-ttl", "2")
    ev = drive(sim, "refresh", n=N)
    stats = sim.stop()
    ready = [e for e in ev if e["event"] == "state" and e["state"] == "ready"]
    s = first(ev, "stats")
    report(len(ready) == N, "refresh: tokens put", len(ready), N)
    report([e["generation"] for e in ready] == list(range(1, N + 1)), "refresh: one cache generation each",
           [e["generation"] for e in ready], list(range(1, N + 1)))
    report(requests_counted(stats) == N, "refresh: token requests the sim counted", requests_counted(stats), N)
    report((stats or {}).get("tokens_issued") == N, "refresh: tokens the sim issued",
           (stats or {}).get("tokens_issued"), N)
    report(s.get("requests") == N, "refresh: requests libapns counted", s.get("requests"), N)
    report(s.get("tokens") == N and s.get("failures") == 0, "refresh: tokens/failures",
           (s.get("tokens"), s.get("failures")), (N, 0))
    report(s.get("cache_refreshes") == N, "refresh: cache generations", s.get("cache_refreshes"), N)
    # One request per refresh window: a token of lifetime 2 s is refreshed at
    # half its life (max(5 min, L/10) is more than L/2), so request k+1 never
    # starts sooner than 1000 ms after request k (a lower bound: a slow
    # machine only makes the gap longer).
    starts = [e["mono_ms"] for e in ev if e["event"] == "state" and e["state"] == "fetching"]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    report(len(starts) == N and all(gap >= 950 for gap in gaps),
           "refresh: requests at least one refresh window apart", gaps, ">= 950 ms each (1000 less libevent's cached-time slack)")


def expired(mode="expired"):
    sim = g.Sim()
    ev = drive(sim, mode)
    x, stale, s = first(ev, "expired"), first(ev, "stale"), first(ev, "stats")
    report((x.get("first"), x.get("others")) == (1, 0), mode + ": one callback for five 401s",
           (x.get("first"), x.get("others")), (1, 0))
    report(stale.get("result") == 0, mode + ": stale generation schedules nothing", stale.get("result"), 0)
    report((s.get("requests"), s.get("tokens"), s.get("expired_refreshes")) == (2, 2, 1),
           mode + ": requests, tokens, early refreshes",
           (s.get("requests"), s.get("tokens"), s.get("expired_refreshes")), (2, 2, 1))
    report(s.get("generation") == 2, mode + ": the cache holds the second token", s.get("generation"), 2)
    st, body = send(sim, s.get("token", ""))
    report(st == 200, mode + ": messages:send accepts the refreshed token", (st, body[:100]), 200)
    stats = sim.stop()
    report(requests_counted(stats) == 2, mode + ": token requests the sim counted", requests_counted(stats), 2)


def badkey():
    sim = g.Sim()
    ev = drive(sim, "fetch", acct="rogue")
    f, d = first(ev, "fetch"), first(ev, "detail")
    report((f.get("err"), f.get("status")) == ("APNS_EGRANT", 400), "badkey: fetch err/status",
           (f.get("err"), f.get("status")), ("APNS_EGRANT", 400))
    report((f.get("oauth_error"), f.get("oauth_error_description")) == ("invalid_grant", "Invalid JWT Signature."),
           "badkey: the sim's OAuth error", (f.get("oauth_error"), f.get("oauth_error_description")),
           ("invalid_grant", "Invalid JWT Signature."))
    report("invalid_grant" in d.get("detail", "") and "Invalid JWT Signature." in d.get("detail", ""),
           "badkey: detail quotes the sim", d.get("detail"), "invalid_grant ... Invalid JWT Signature.")
    ev = drive(sim, "failing", acct="rogue")
    r = [e for e in ev if e["event"] == "state" and e["state"] == "retrying"]
    s = first(ev, "stats")
    report(len(r) == 1 and r[0]["err"] == "APNS_EGRANT" and "Invalid JWT Signature." in r[0]["detail"],
           "badkey: auth RETRYING with EGRANT and the sim's text", r, "APNS_EGRANT")
    report((s.get("requests"), s.get("failures"), s.get("last_err")) == (1, 1, "APNS_EGRANT"),
           "badkey: auth stats", (s.get("requests"), s.get("failures"), s.get("last_err")),
           (1, 1, "APNS_EGRANT"))
    report(s.get("token") == "", "badkey: no token in the cache", s.get("token"), "")
    stats = sim.stop()
    report((stats or {}).get("token_refusals") == 2, "badkey: refusals the sim counted",
           (stats or {}).get("token_refusals"), 2)


class ConnectProxy(threading.Thread):
    """A minimal HTTP CONNECT proxy on 127.0.0.1: records each CONNECT line."""

    def __init__(self):
        super().__init__(daemon=True)
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(4)
        self.port = self.ls.getsockname()[1]
        self.connects = []

    def run(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            head = b""
            while b"\r\n\r\n" not in head:
                b = c.recv(4096)
                if not b:
                    break
                head += b
            line = head.split(b"\r\n")[0].decode(errors="replace")
            self.connects.append(line)
            host, port = line.split()[1].rsplit(":", 1)
            u = socket.create_connection((host, int(port)))
            c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            socks = [c, u]
            while True:
                r, _, _ = select.select(socks, [], [], 10)
                if not r:
                    break
                data = r[0].recv(65536)
                if not data:
                    break
                (u if r[0] is c else c).sendall(data)
            c.close()
            u.close()

    def stop(self):
        self.ls.close()


def proxy():
    sim, px = g.Sim(), ConnectProxy()
    px.start()
    ev = drive(sim, "fetch", env={"FCM_AUTH_PROXY": "127.0.0.1:%d" % px.port})
    f = first(ev, "fetch")
    report(f.get("err") == "APNS_OK", "proxy: fetch through CONNECT", (f.get("err"), first(ev, "detail")),
           "APNS_OK")
    report(px.connects == ["CONNECT localhost:%d HTTP/1.1" % sim.port], "proxy: one CONNECT to the sim",
           px.connects, "CONNECT localhost:%d HTTP/1.1" % sim.port)
    st, _ = send(sim, f.get("token", ""))
    report(st == 200, "proxy: messages:send accepts the token", st, 200)
    px.stop()
    stats = sim.stop()
    report(requests_counted(stats) == 1, "proxy: token requests the sim counted", requests_counted(stats), 1)


def retry():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there yet: connection refused
    args = [DRIVER, "refresh", "https://localhost:%d/token" % port, f"{CERTS}/ca.pem",
            f"{CERTS}/fcm/sa-demo.json", "1"]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    events, sim = [], None
    for line in p.stdout:
        e = json.loads(line)
        events.append(e)
        if sim is None and e["event"] == "state" and e["state"] == "retrying":
            sim = g.Sim("--listen", "127.0.0.1:%d" % port)  # the later --listen wins
            report(sim.port == port, "retry: fcm-sim on the refused port", sim.port, port)
    _, err = p.communicate(timeout=150)
    report(p.returncode == 0, "retry: driver exit", (p.returncode, err[-2000:]), 0)
    states = [(e["state"], e["err"]) for e in events if e["event"] == "state"]
    retrying = [st for st in states if st[0] == "retrying"]
    report(len(retrying) >= 1 and all(e == "APNS_ECONNECT" for _, e in retrying),
           "retry: RETRYING with APNS_ECONNECT while nothing listens", retrying, "APNS_ECONNECT")
    report(states[-1:] == [("ready", "APNS_OK")], "retry: READY once the endpoint is up", states[-1:],
           [("ready", "APNS_OK")])
    s = first(events, "stats")
    report(s.get("requests") == s.get("failures", -1) + 1 and s.get("tokens") == 1,
           "retry: requests = failures + 1, one token", (s.get("requests"), s.get("failures"), s.get("tokens")),
           "failures + 1")
    stats = sim.stop() if sim else None
    report(requests_counted(stats) == 1, "retry: token requests the sim counted", requests_counted(stats), 1)


if __name__ == "__main__":
    for check in (verify_and_fetch, refresh, expired, lambda: expired("expired-thread"), badkey, proxy,
                  retry):
        check()
    if failures():
        print("%d FAILED (scratch kept in %s)" % (failures(), g.WORK))
        sys.exit(1)
    shutil.rmtree(g.WORK, ignore_errors=True)
    print("all passed")
