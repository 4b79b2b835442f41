#!/usr/bin/python3
"""fcm_golden.py - fcm-sim, driven through every row of tests/golden/fcm-errors.tsv
(Google's documented answers, fcm-protocol.md) twice: over HTTP/2 with a raw
python3-h2 client and over HTTP/1.1 with Python's http.client, both on
Python's ssl (nothing of libapns). JWTs are signed with the openssl command
line. Each condition has a recipe below that says how to cause it, never what
the answer is; the answer must match the row's status, status name or OAuth
error, FcmError code, detail, Retry-After and message prefix. Also checks the
delivery log: every accepted message's id exactly once, dry runs never.
Prints one line per check; any difference is a FAIL line and exit 1.
usage: fcm_golden.py   (env APNS_BIN_DIR, APNS_TEST_CERTS)
"""
import base64, json, os, re, shutil, signal, socket, ssl, subprocess, sys, tempfile, time
import http.client
import urllib.parse
import h2.config, h2.connection, h2.events

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from goldentsv import table, report, failures  # noqa: E402

CERTS = os.environ["APNS_TEST_CERTS"]
SIM = os.path.join(os.environ["APNS_BIN_DIR"], "fcm-sim")
WORK = tempfile.mkdtemp(prefix="fcm-golden-")
PROJECT, NUMBER = "fcm-demo", "123456789"
SEND = "/v1/projects/%s/messages:send"
TOK = "fTok3n:APA91b" + "x" * 140
T_UNREG, T_INVALID, T_MISMATCH, T_3P = (("dead%d:APA91b" % i) + "y" * 140 for i in range(4))
ROWS = table("fcm-errors.tsv")


def account(name):
    return json.load(open(os.path.join(CERTS, "fcm", "sa-%s.json" % name)))


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(acct="demo", **over):
    """An RS256 JWT grant (fcm-protocol.md §2.2), signed by openssl(1)."""
    sa = account(acct)
    now = int(time.time())
    claims = {"iss": sa["client_email"], "scope": "https://www.googleapis.com/auth/firebase.messaging",
              "aud": "https://oauth2.googleapis.com/token", "iat": now, "exp": now + 3600}
    claims.update(over)
    head = {"alg": "RS256", "typ": "JWT", "kid": sa["private_key_id"]}
    signing = b64(json.dumps(head).encode()) + "." + b64(json.dumps(claims).encode())
    keyfile = os.path.join(WORK, "key-%s.pem" % acct)
    with open(keyfile, "w") as f:
        f.write(sa["private_key"])
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", keyfile], input=signing.encode(),
                         capture_output=True, check=True).stdout
    return signing + "." + b64(sig)


def form(assertion, grant="urn:ietf:params:oauth:grant-type:jwt-bearer"):
    f = {"grant_type": grant}
    if assertion is not None:
        f["assertion"] = assertion
    return urllib.parse.urlencode(f).encode()


class Sim:
    def __init__(self, *args):
        self.log = os.path.join(WORK, "dlog-%d" % id(self))
        cmd = [SIM, "--listen", "127.0.0.1:0", "--tls-cert", f"{CERTS}/server.pem",
               "--tls-key", f"{CERTS}/server.key", "--service-accounts", f"{CERTS}/fcm/accounts",
               "--delivery-log", self.log, "--seed", "1"] + list(args)
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        m = re.match(r"fcm-sim listening on (.*):(\d+)$", line.strip())
        assert m, (line, self.p.stderr.read())
        self.port = int(m.group(2))
        self.tokens = {}

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        _, err = self.p.communicate(timeout=10)
        stats = [l for l in err.splitlines() if l.startswith("{")]
        if "Sanitizer" in err or "runtime error" in err or self.p.returncode != 0:
            print("SIM STDERR (rc=%d): %s" % (self.p.returncode, err[:3000]))
            report(False, "fcm-sim exits cleanly", self.p.returncode, 0)
        return json.loads(stats[-1]) if stats else None


def tls(alpn):
    ctx = ssl.create_default_context(cafile=f"{CERTS}/ca.pem")
    ctx.set_alpn_protocols([alpn])
    return ctx


def h1(port, method, path, headers, body):
    c = http.client.HTTPSConnection("localhost", port, context=tls("http/1.1"), timeout=10)
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    c.close()
    return out


def h2req(port, method, path, headers, body, authority):
    sock = tls("h2").wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                                 server_hostname="localhost")
    assert sock.selected_alpn_protocol() == "h2"
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sid = conn.get_next_available_stream_id()
    hdrs = [(":method", method), (":scheme", "https"), (":authority", authority), (":path", path)]
    hdrs += [(k.lower(), v) for k, v in headers.items()]
    conn.send_headers(sid, hdrs, end_stream=not body)
    if body:
        conn.send_data(sid, body, end_stream=True)
    sock.sendall(conn.data_to_send())
    status, rh, data, done = None, {}, b"", False
    while not done:
        chunk = sock.recv(65536)
        if not chunk:
            break
        for ev in conn.receive_data(chunk):
            if isinstance(ev, h2.events.ResponseReceived):
                rh = {k.decode(): v.decode() for k, v in ev.headers}
                status = int(rh[":status"])
            elif isinstance(ev, h2.events.DataReceived):
                data += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, sid)
            elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                done = True
        sock.sendall(conn.data_to_send())
    sock.close()
    return status, rh, data


def call(sim, proto, method, path, headers, body, authority):
    if proto == "h2":
        return h2req(sim.port, method, path, headers, body, authority)
    return h1(sim.port, method, path, dict(headers, Host=authority), body)


def token(sim, proto, acct="demo"):
    """A fresh access token from the simulator's token endpoint."""
    st, _, data = call(sim, proto, "POST", "/token",
                       {"content-type": "application/x-www-form-urlencoded"}, form(jwt(acct)),
                       "oauth2.googleapis.com")
    assert st == 200, (st, data)
    return json.loads(data)["access_token"]


def send(sim, proto, msg, project=PROJECT, bearer="demo", validate=None, raw=None):
    if bearer in ("demo", "other"):
        bearer = "Bearer " + token(sim, proto, bearer)
    headers = {"content-type": "application/json"}
    if bearer:
        headers["authorization"] = bearer
    body = {"message": msg}
    if validate is not None:
        body["validate_only"] = validate
    data = raw if raw is not None else json.dumps(body).encode()
    return call(sim, proto, "POST", SEND % project, headers, data, "fcm.googleapis.com")


def tok_req(sim, proto, body):
    return call(sim, proto, "POST", "/token", {"content-type": "application/x-www-form-urlencoded"},
                body, "oauth2.googleapis.com")


def tmsg(**kw):
    m = {"token": TOK, "notification": {"title": "Hi", "body": "there"}}
    m.update(kw)
    return m


def fill_quota(sim, proto):
    for _ in range(3):
        send(sim, proto, tmsg())
    return send(sim, proto, tmsg())


NOW = lambda: int(time.time())  # noqa: E731
# condition -> (setup, function(sim, proto) -> (status, headers, body))
RECIPES = {
    "valid-send": ("main", lambda s, p: send(s, p, tmsg(data={"k": "v"}, android={"priority": "HIGH", "ttl": "3.5s"}))),
    "validate-only": ("main", lambda s, p: send(s, p, tmsg(), validate=True)),
    "camel-case-lowercase-enums": ("main", lambda s, p: send(s, p, tmsg(android={"priority": "high", "collapseKey": "c", "restrictedPackageName": "com.example.app"}, fcmOptions={"analyticsLabel": "x"}))),
    "project-number": ("main", lambda s, p: send(s, p, tmsg(), project=NUMBER)),
    "duplicate-key-last-wins": ("main", lambda s, p: send(s, p, None, raw=b'{"message":{"token":"' + TOK.encode() + b'","data":{"k":1,"k":"v"}}}')),
    "no-authorization": ("main", lambda s, p: send(s, p, tmsg(), bearer=None)),
    "unknown-access-token": ("main", lambda s, p: send(s, p, tmsg(), bearer="Bearer ya29.not-one-of-ours")),
    "expired-access-token": ("ttl", lambda s, p: (lambda t: (time.sleep(1.3), send(s, p, tmsg(), bearer="Bearer " + t))[1])(token(s, p))),
    "other-project-token": ("main", lambda s, p: send(s, p, tmsg(), bearer="other")),
    "unknown-project": ("main", lambda s, p: send(s, p, tmsg(), project="no-such-project")),
    "malformed-json": ("main", lambda s, p: send(s, p, None, raw=b'{"message": {"token": ')),
    "unknown-field": ("main", lambda s, p: send(s, p, tmsg(foo="bar"))),
    "non-string-data": ("main", lambda s, p: send(s, p, tmsg(data={"count": 12}))),
    "no-target": ("main", lambda s, p: send(s, p, {"notification": {"title": "t"}})),
    "two-targets": ("main", lambda s, p: send(s, p, tmsg(topic="news"))),
    "bad-token-format": ("main", lambda s, p: send(s, p, tmsg(token="has space"))),
    "invalid-token-listed": ("main", lambda s, p: send(s, p, tmsg(token=T_INVALID))),
    "unregistered-token": ("main", lambda s, p: send(s, p, tmsg(token=T_UNREG))),
    "mismatched-token": ("main", lambda s, p: send(s, p, tmsg(token=T_MISMATCH))),
    "third-party-token": ("main", lambda s, p: send(s, p, tmsg(token=T_3P))),
    "reserved-data-key": ("main", lambda s, p: send(s, p, tmsg(data={"from": "x"}))),
    "reserved-data-prefix": ("main", lambda s, p: send(s, p, tmsg(data={"google.c.a": "x"}))),
    "ttl-too-long": ("main", lambda s, p: send(s, p, tmsg(android={"ttl": "2419201s"}))),
    "ttl-bad-format": ("main", lambda s, p: send(s, p, tmsg(android={"ttl": "60"}))),
    "bad-priority": ("main", lambda s, p: send(s, p, tmsg(android={"priority": "URGENT"}))),
    "wrong-package": ("main", lambda s, p: send(s, p, tmsg(android={"restricted_package_name": "com.other.app"}))),
    "data-too-large-token": ("main", lambda s, p: send(s, p, tmsg(data={"k": "x" * 4096}))),
    "data-too-large-topic": ("main", lambda s, p: send(s, p, {"topic": "news", "data": {"k": "x" * 2048}})),
    "project-quota": ("quota", fill_quota),
    "fault-503": ("f503", lambda s, p: send(s, p, tmsg())),
    "fault-500": ("f500", lambda s, p: send(s, p, tmsg())),
    "device-rate": ("device", lambda s, p: (send(s, p, tmsg(token="rate:" + p)), send(s, p, tmsg(token="rate:" + p)))[1]),
    "fault-503-delivered": ("f503d", lambda s, p: send(s, p, tmsg())),
    "frontend-502": ("fe502", lambda s, p: send(s, p, tmsg())),
    "frontend-404": ("fe404", lambda s, p: send(s, p, tmsg())),
    "valid-jwt": ("main", lambda s, p: tok_req(s, p, form(jwt()))),
    "cloud-platform-scope": ("main", lambda s, p: tok_req(s, p, form(jwt(scope="openid https://www.googleapis.com/auth/cloud-platform")))),
    "bad-signature": ("main", lambda s, p: tok_req(s, p, form(jwt("rogue")))),
    "lifetime-over-1h": ("main", lambda s, p: tok_req(s, p, form(jwt(exp=NOW() + 3601)))),
    "expired-jwt": ("main", lambda s, p: tok_req(s, p, form(jwt(iat=NOW() - 7200, exp=NOW() - 3600)))),
    "far-future-iat": ("main", lambda s, p: tok_req(s, p, form(jwt(iat=NOW() + 1000, exp=NOW() + 2000)))),
    "wrong-aud": ("main", lambda s, p: tok_req(s, p, form(jwt(aud="https://www.googleapis.com/oauth2/v4/token")))),
    "bad-scope": ("main", lambda s, p: tok_req(s, p, form(jwt(scope="https://www.googleapis.com/auth/userinfo.email")))),
    "unknown-account": ("main", lambda s, p: tok_req(s, p, form(jwt(iss="nobody@fcm-demo.iam.gserviceaccount.com")))),
    "bad-grant-type": ("main", lambda s, p: tok_req(s, p, form(jwt(), grant="client_credentials"))),
    "missing-assertion": ("main", lambda s, p: tok_req(s, p, form(None))),
}


def lines(path, items):
    p = os.path.join(WORK, path)
    with open(p, "w") as f:
        f.write("# token list\n" + "".join(i + "\n" for i in items))
    return p


SETUPS = {
    "main": lambda: ["--projects", "%s=%s" % (PROJECT, NUMBER), "--package-name", "com.example.app",
                     "--unregistered", lines("unreg", [T_UNREG]),
                     "--invalid-tokens", lines("invalid", [T_INVALID]),
                     "--mismatched-tokens", lines("mismatch", [T_MISMATCH]),
                     "--third-party-tokens", lines("3p", [T_3P])],
    "ttl": lambda: ["--token-ttl", "1"],
    "quota": lambda: ["--quota", "3/60"],
    "f503": lambda: ["--fail-rate", "503:1"],
    "f500": lambda: ["--fail-rate", "500:1"],
    "device": lambda: ["--device-rate", "1/600"],
    "f503d": lambda: ["--fail-delivered-rate", "1"],
    "fe502": lambda: ["--frontend-error-rate", "502:1"],
    "fe404": lambda: ["--frontend-error-rate", "404:1"],
}


def check(row, proto, got):
    status, headers, data = got
    what = "%s %s over %s" % (row["kind"], row["condition"], proto)
    report(str(status) == row["status"], what + ": status", status, row["status"])
    if row["detail"] == "html":
        ct = headers.get("content-type", "")
        report(ct.startswith("text/html"), what + ": text/html", ct, "text/html")
        return None
    try:
        j = json.loads(data)
    except ValueError:
        report(False, what + ": JSON body", data[:200], "JSON")
        return None
    if row["retry_after"] != "may":
        report(("retry-after" in headers) == (row["retry_after"] == "yes"), what + ": Retry-After",
               headers.get("retry-after"), row["retry_after"])
    if row["kind"] == "token":
        if row["status"] == "200":
            ok = isinstance(j.get("access_token"), str) and j.get("token_type") == "Bearer" \
                and isinstance(j.get("expires_in"), int)
            report(ok, what + ": access_token, expires_in, token_type Bearer", j, "§2.2")
        else:
            report(j.get("error") == row["name"], what + ": error", j.get("error"), row["name"])
            if row["message_prefix"] != "-":
                d = j.get("error_description", "")
                report(d.startswith(row["message_prefix"]), what + ": error_description", d,
                       row["message_prefix"])
        return j
    if row["status"] == "200":
        name = j.get("name", "")
        pat = r"projects/%s/messages/(fake_message_id|0:\d{16}%%[0-9a-f]{16})$" % PROJECT
        report(re.match(pat, name) is not None, what + ": name", name, pat)
        dry = row["condition"] == "validate-only"
        report(name.endswith("fake_message_id") == dry, what + ": dry run name", name, dry)
        return j
    e = j.get("error", {})
    report(e.get("code") == int(row["status"]), what + ": error.code", e.get("code"), row["status"])
    report(e.get("status") == row["name"], what + ": error.status", e.get("status"), row["name"])
    details = e.get("details", [])
    fcm = [d.get("errorCode") for d in details if d.get("@type") == "type.googleapis.com/google.firebase.fcm.v1.FcmError"]
    want = [] if row["fcm_error"] == "-" else [row["fcm_error"]]
    report(fcm == want, what + ": FcmError", fcm, want)
    if row["detail"] != "-":
        kind, _, arg = row["detail"].partition(":")
        if kind == "QuotaFailure":
            n = [d for d in details if d.get("@type") == "type.googleapis.com/google.rpc.QuotaFailure"]
            report(len(n) == 1, what + ": QuotaFailure detail", details, "one QuotaFailure")
        elif kind == "ErrorInfo":
            got_r = [d.get("reason") for d in details if d.get("@type") == "type.googleapis.com/google.rpc.ErrorInfo"]
            report(got_r == [arg], what + ": ErrorInfo reason", got_r, arg)
        else:
            fv = [d.get("fieldViolations", [{}])[0].get("field", "") for d in details
                  if d.get("@type") == "type.googleapis.com/google.rpc.BadRequest"]
            report(fv == [arg], what + ": BadRequest field", fv, arg)
    if row["message_prefix"] != "-":
        m = e.get("message", "")
        report(m.startswith(row["message_prefix"]), what + ": error.message", m, row["message_prefix"])
    return j


def main():
    for r in ROWS:
        if r["condition"] not in RECIPES:
            report(False, "recipe for " + r["condition"], None, "a recipe")
    sims = {}
    try:
        names = {}
        for proto in ("h2", "http/1.1"):
            for row in ROWS:
                setup, fn = RECIPES.get(row["condition"], (None, None))
                if not fn:
                    continue
                if setup not in sims:
                    sims[setup] = Sim(*SETUPS[setup]())
                j = check(row, proto, fn(sims[setup], proto))
                if row["kind"] == "send" and row["status"] == "200" and j:
                    names.setdefault(row["condition"], []).append(j.get("name", ""))
        stats = {k: s.stop() for k, s in sims.items()}
        f503d = sims.pop("f503d")
        n = len(open(f503d.log).read().splitlines())
        report(n == 2, "fault-503-delivered: each 503 still logged as delivered", n, 2)
        main_sim = sims.pop("main")
        # The delivery log: every accepted message exactly once, dry runs never.
        ids = [l.split()[0] for l in open(main_sim.log)]
        accepted = [n.rsplit("/", 1)[1] for c, ns in names.items() if c != "validate-only" for n in ns]
        report(sorted(ids) == sorted(accepted), "delivery log: the accepted ids, each once",
               sorted(ids), sorted(accepted))
        report(all(l.split()[2] == PROJECT and l.split()[1] == TOK for l in open(main_sim.log)),
               "delivery log: target and project", open(main_sim.log).read()[:300], TOK)
        st = stats["main"]
        report(st and st["h1_requests"] > 0 and st["h2_requests"] > 0, "both transports served",
               st, "h1_requests and h2_requests > 0")
        demo = "fcm-sim@fcm-demo.iam.gserviceaccount.com"
        report(st and st["token_requests"].get(demo, 0) > 0, "token requests counted per account",
               st and st["token_requests"], demo)
        sims = {}
    finally:
        for s in sims.values():
            s.p.kill()
            s.p.wait()
    if failures():
        print("%d FAILED (scratch kept in %s)" % (failures(), WORK))
        return 1
    shutil.rmtree(WORK)
    print("all rows pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
