"""simclient.py - a small HTTP/2 client (python3-h2) and process wrapper for
apns-sim's self-test: an independent client no one here wrote the protocol
stack of. Environment: APNS_SIM (binary), APNS_TEST_CERTS (tests/certs/gen.sh
output), SELFTEST_WORK (scratch directory)."""
import socket, ssl, subprocess, time, json, os, re, signal, select, base64
import h2.connection, h2.config, h2.events, h2.settings

CERTS = os.environ["APNS_TEST_CERTS"]
WORK = os.environ.get("SELFTEST_WORK", "/tmp")
SIM = os.environ["APNS_SIM"]
TOK = "a" * 64


class Sim:
    def __init__(self, *args, tls=True):
        self.tls = tls
        cmd = [SIM, "--listen", "127.0.0.1:0"]
        if tls:
            cmd += ["--tls-cert", f"{CERTS}/server.pem", "--tls-key", f"{CERTS}/server.key"]
        else:
            cmd += ["--h2c"]
        cmd += list(args)
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        m = re.match(r"apns-sim listening on (.*):(\d+)$", line.strip())
        assert m, (line, self.p.stderr.read())
        self.port = int(m.group(2))

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        out, err = self.p.communicate(timeout=10)
        self.rc = self.p.returncode
        lines = [l for l in err.splitlines() if l.startswith("{")]
        self.stats = json.loads(lines[-1]) if lines else None
        self.stderr = err
        if "Sanitizer" in err or "runtime error" in err or self.rc != 0:
            print("SIM STDERR (rc=%d):" % self.rc, err[:3000])
        return self.stats

    def usr1(self):
        self.p.send_signal(signal.SIGUSR1)

    def counters(self, timeout=5.0):
        """SIGUSR1, then the JSON counters line the sim prints on stderr."""
        self.usr1()
        deadline = time.time() + timeout
        while time.time() < deadline:
            r, _, _ = select.select([self.p.stderr], [], [], max(0.0, deadline - time.time()))
            if not r:
                break
            line = self.p.stderr.readline()
            if not line:
                break
            if line.startswith("{"):
                return json.loads(line)
        return None


# Provider tokens (ES256 JWT) signed with the tests/certs/gen.sh keys, through
# the openssl command line: a signer independent of libapns.
def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def der_to_raw(der):
    # SEQUENCE { INTEGER r, INTEGER s }
    assert der[0] == 0x30
    i = 2
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        v = der[i + 2:i + 2 + n]
        out += v.lstrip(b"\0").rjust(32, b"\0")
        i += 2 + n
    return out

def jwt(kid="ABC123DEFG", team="DEF123GHIJ", iat=None, key=None, alg="ES256", raw=True, std=False, hdr=None):
    key = key or f"{CERTS}/AuthKey_{kid}.p8"
    h = b64u(json.dumps(hdr or {"alg": alg, "kid": kid}, separators=(",", ":")).encode())
    p = b64u(json.dumps({"iss": team, "iat": int(time.time()) if iat is None else iat}, separators=(",", ":")).encode())
    si = f"{h}.{p}".encode()
    der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=si, capture_output=True).stdout
    sig = der_to_raw(der) if raw else der
    s = base64.b64encode(sig).decode().rstrip("=") if std else b64u(sig)
    return f"{h}.{p}.{s}"


class Client:
    def __init__(self, port, tls=True, cert=None, alpn=("h2",), settings_wait=True):
        s = socket.create_connection(("127.0.0.1", port))
        if tls:
            ctx = ssl.create_default_context(cafile=f"{CERTS}/ca.pem")
            if alpn:
                ctx.set_alpn_protocols(list(alpn))
            if cert:
                ctx.load_cert_chain(cert[0], cert[1])
            s = ctx.wrap_socket(s, server_hostname="localhost")
        self.s = s
        self.c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        # hyper-h2 treats any GOAWAY as terminal; keep reading the answers
        sm = self.c.state_machine
        orig = sm.process_input
        def pi(inp, orig=orig):
            if inp == h2.connection.ConnectionInputs.RECV_GOAWAY:
                return []
            return orig(inp)
        sm.process_input = pi
        self.c.initiate_connection()
        self.flush()
        self.responses = {}
        self.ended = set()
        self.resets = {}
        self.goaway = None
        self.closed = False
        self.remote_settings = []
        if settings_wait:
            self.pump(until=lambda: self.remote_settings, timeout=2)

    def flush(self):
        d = self.c.data_to_send()
        if d:
            self.s.sendall(d)

    def send(self, token=TOK, headers=None, body=b'{"aps":{"alert":"hi"}}', method="POST",
             path=None, end=True):
        sid = self.c.get_next_available_stream_id()
        h = [(":method", method), (":scheme", "https"), (":authority", "localhost"),
             (":path", path if path is not None else "/3/device/" + token)]
        h += list(headers or [])
        self.c.send_headers(sid, h, end_stream=(body is None and end))
        if body is not None:
            self.c.send_data(sid, body, end_stream=end)
        self.flush()
        return sid

    def pump(self, until=None, timeout=3.0):
        deadline = time.time() + timeout
        self.s.settimeout(0.05)
        while time.time() < deadline:
            if until and until():
                return True
            try:
                data = self.s.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except (ConnectionResetError, ssl.SSLError, OSError) as e:
                self.closed = "reset:" + str(e)
                return until() if until else False
            if not data:
                self.closed = "eof"
                return until() if until else False
            try:
                evs = self.c.receive_data(data)
            except Exception as e:
                self.closed = "proto:" + str(e)
                return False
            for ev in evs:
                if isinstance(ev, h2.events.ResponseReceived):
                    self.responses.setdefault(ev.stream_id, {"body": b""})["headers"] = dict(
                        (k.decode(), v.decode()) for k, v in ev.headers)
                elif isinstance(ev, h2.events.DataReceived):
                    self.responses.setdefault(ev.stream_id, {"body": b""})["body"] += ev.data
                    self.c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    self.ended.add(ev.stream_id)
                elif isinstance(ev, h2.events.StreamReset):
                    self.resets[ev.stream_id] = ev.error_code
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    self.goaway = (ev.last_stream_id, ev.error_code, ev.additional_data)

                elif isinstance(ev, h2.events.RemoteSettingsChanged):
                    self.remote_settings.append(
                        {int(k): v.new_value for k, v in ev.changed_settings.items()})
            try:
                self.flush()
            except OSError:
                pass
        return until() if until else False

    def result(self, sid, timeout=3.0):
        self.pump(until=lambda: sid in self.ended or sid in self.resets or self.closed, timeout=timeout)
        r = self.responses.get(sid)
        if not r or "headers" not in r:
            return None
        body = json.loads(r["body"]) if r["body"] else None
        return int(r["headers"][":status"]), (body or {}).get("reason"), r["headers"], body

    def req(self, **kw):
        return self.result(self.send(**kw))

    def max_streams(self):
        v = None
        for s in self.remote_settings:
            if 3 in s:
                v = s[3]
        return v

    def close(self):
        try:
            self.s.close()
        except Exception:
            pass


FAILS = 0


def check(name, got, want):
    """got: a result tuple (status, reason, ...) or None; want: (status, reason) or None."""
    global FAILS
    ok = (tuple(got[:2]) == tuple(want)) if got else want is None
    if not ok:
        FAILS += 1
    print(("ok  " if ok else "FAIL"), name, got[:2] if got else got, "" if ok else f"want {want}")


def truth(name, cond, info=""):
    global FAILS
    if not cond:
        FAILS += 1
    print(("ok  " if cond else "FAIL"), name, info)


def burst(c, n, **kw):
    """Sends n requests in one write."""
    saved = c.flush
    c.flush = lambda: None
    sids = [c.send(**kw) for _ in range(n)]
    c.flush = saved
    c.flush()
    return sids


def done():
    import sys
    sys.exit(1 if FAILS else 0)
