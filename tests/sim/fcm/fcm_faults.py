#!/usr/bin/python3
"""fcm_faults.py - fcm-sim's fault flags, HTTP/2 settings and HTTP/1.1 framing,
with clients no one here wrote (python3-h2, raw sockets on Python's ssl).

  chunked      a send with a chunked body (RFC 9112 7.1) is answered 200
  framing      rows of tests/golden/http-framing.tsv (RFC 9112/9110 rules) that
               hold for any HTTP/1.1 server: the first answer's status, exactly
               one answer (a request smuggled behind a refused one is never
               answered), and the connection closed
  settings     SETTINGS_MAX_CONCURRENT_STREAMS = 100 (fcm-protocol.md §6 S20)
  goaway       --goaway-every 3: five streams at once; GOAWAY NO_ERROR names
               the third as last-stream-id, the first three are answered, the
               others never; HTTP/1.1: the 2nd answer of --goaway-every 2 says
               Connection: close and the connection ends
  no-answer    --no-answer-rate 1: a send is never answered while a token
               request on the same connection, sent after it, is
  reset        --reset-rate 1: the connection ends with no answer, nothing logged
  retry-after  --fail-retry-after 7: the injected 503 carries Retry-After: 7
  latency      --latency-ms 30: still answered 200 and logged
Prints one line per check; any difference is a FAIL line and exit 1.
usage: fcm_faults.py   (env APNS_BIN_DIR, APNS_TEST_CERTS)
"""
import json, os, re, shutil, socket, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "golden"))
import fcm_golden as g  # noqa: E402  (Sim, tls, jwt, form, tmsg, token)
from goldentsv import table, report, failures  # noqa: E402
import h2.connection, h2.config, h2.events, h2.settings  # noqa: E402
import hpack, hyperframe.frame  # noqa: E402  (python3-h2's own dependencies)

# Rows of http-framing.tsv that name apnsd choices, not RFC rules any server
# must follow, or that fcm-sim answers otherwise by its documented choices.
NOT_HERE = {
    "chunked_push_then_get": "its 400 is apnsd's API validation of the body",
    "te_in_http10": "fcm-sim serves HTTP/1.1 only: 505",
    "expect_other": "Expect is not interpreted (Google's SDKs do not send it)",
}


def unescape(s):
    return s.encode().decode("unicode_escape").encode("latin-1")


def raw_h1(port, data):
    s = g.tls("http/1.1").wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                                      server_hostname="localhost")
    s.sendall(data)
    out = b""
    while True:
        try:
            b = s.recv(65536)
        except (ConnectionResetError, ssl_error()):
            break
        if not b:
            break
        out += b
    s.close()
    return out


def ssl_error():
    import ssl
    return ssl.SSLError


def chunked_send(sim):
    """A valid send with a chunked body (RFC 9112 7.1) is answered like any other."""
    path, hdrs, body = send_args(sim)
    chunks = b"".join(b"%x;x=1\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7]) for i in range(0, len(body), 7))
    req = ("POST %s HTTP/1.1\r\nHost: fcm.googleapis.com\r\nAuthorization: %s\r\n"
           "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" % (path, hdrs["authorization"])).encode()
    out = raw_h1(sim.port, req + chunks + b"0\r\nX-Trailer: t\r\n\r\n")
    report(out.startswith(b"HTTP/1.1 200 ") and b'"name":"projects/fcm-demo/messages/0:' in out,
           "chunked body: 200 with a message name", out[:120], "200")


def framing(sim):
    for row in table("http-framing.tsv"):
        if row["case"] in NOT_HERE or row["status"] not in ("400", "505"):
            continue
        # KEY is apnsd's API key there; framing does not depend on it
        out = raw_h1(sim.port, unescape(row["request"].replace("KEY", "ya29.x")))
        answers = len(re.findall(rb"(?:^|\r\n)HTTP/1\.1 \d{3} ", out))
        status = out[9:12].decode(errors="replace")
        what = "framing %s" % row["case"]
        report(status == row["status"], what + ": status", status, row["status"])
        report(answers == int(row["answers"]), what + ": answers", answers, row["answers"])


class H2:
    def __init__(self, port):
        self.s = g.tls("h2").wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                                         server_hostname="localhost")
        self.c = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
        self.c.initiate_connection()
        self.flush()
        self.status, self.ended, self.goaway, self.closed = {}, set(), None, False

    def flush(self):
        self.s.sendall(self.c.data_to_send())

    def request(self, path, headers, body, authority="fcm.googleapis.com"):
        sid = self.c.get_next_available_stream_id()
        self.c.send_headers(sid, [(":method", "POST"), (":scheme", "https"), (":authority", authority),
                                  (":path", path)] + list(headers.items()))
        self.c.send_data(sid, body, end_stream=True)
        self.flush()
        return sid

    def pump(self, until):
        while not until() and not self.closed:
            try:
                data = self.s.recv(65536)
            except OSError:
                data = b""
            if not data:
                self.closed = True
                break
            for ev in self.c.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    self.status[ev.stream_id] = int(dict(ev.headers)[b":status"])
                elif isinstance(ev, h2.events.DataReceived):
                    self.c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    self.ended.add(ev.stream_id)
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    self.goaway = ev
            try:
                self.flush()
            except OSError:
                self.closed = True


def send_args(sim):
    bearer = "Bearer " + g.token(sim, "http/1.1")
    return (g.SEND % g.PROJECT, {"authorization": bearer, "content-type": "application/json"},
            json.dumps({"message": g.tmsg()}).encode())


def log_lines(sim):
    return open(sim.log).read().splitlines() if os.path.exists(sim.log) else []


def main():
    sims = []
    try:
        sim = g.Sim(); sims.append(sim)
        framing(sim)
        chunked_send(sim)
        c = H2(sim.port)
        c.pump(lambda: h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS in c.c.remote_settings)
        mcs = c.c.remote_settings.get(h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS)
        report(mcs == 100, "settings: MAX_CONCURRENT_STREAMS", mcs, 100)

        sim = g.Sim("--goaway-every", "3"); sims.append(sim)
        path, hdrs, body = send_args(sim)
        # python3-h2 stops reading at a GOAWAY, while HTTP/2 lets a server
        # answer streams up to last-stream-id after it: read the frames raw.
        c = H2(sim.port)
        ids = [c.request(path, hdrs, body) for _ in range(5)]
        raw = b""
        while True:
            try:
                b = c.s.recv(65536)
            except OSError:
                b = b""
            if not b:
                break
            raw += b
        status, goaway, dec, off = {}, None, hpack.Decoder(), 0
        while off + 9 <= len(raw):
            f, n = hyperframe.frame.Frame.parse_frame_header(memoryview(raw[off:off + 9]))
            f.parse_body(memoryview(raw[off + 9:off + 9 + n]))
            off += 9 + n
            if isinstance(f, hyperframe.frame.HeadersFrame):
                status[f.stream_id] = int(dict(dec.decode(f.data))[":status"])
            elif isinstance(f, hyperframe.frame.GoAwayFrame):
                goaway = (f.error_code, f.last_stream_id)
        report(goaway == (0, ids[2]), "goaway: NO_ERROR, last-stream-id = the 3rd stream", goaway, (0, ids[2]))
        report([status.get(i) for i in ids] == [200, 200, 200, None, None],
               "goaway: streams up to last-stream-id answered, the rest never", [status.get(i) for i in ids], "200 x3")
        sim.stop(); sims.remove(sim)
        report(len(log_lines(sim)) == 3, "goaway: 3 deliveries logged", len(log_lines(sim)), 3)
        req = ("POST %s HTTP/1.1\r\nHost: fcm.googleapis.com\r\nAuthorization: %s\r\n"
               "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (path, hdrs["authorization"], len(body))).encode() + body
        sim2 = g.Sim("--goaway-every", "2"); sims.append(sim2)
        path2, hdrs2, _ = send_args(sim2)
        req = req.replace(hdrs["authorization"].encode(), hdrs2["authorization"].encode())
        out = raw_h1(sim2.port, req * 3)
        heads = [h for h in out.split(b"HTTP/1.1 ")[1:]]
        report(len(heads) == 2 and b"Connection: close" in heads[1] and b"Connection: close" not in heads[0],
               "goaway over HTTP/1.1: 2 answers, the 2nd with Connection: close, then closed",
               [h[:3] for h in heads], "2 answers")

        sim = g.Sim("--no-answer-rate", "1"); sims.append(sim)
        path, hdrs, body = send_args(sim)
        c = H2(sim.port)
        a = c.request(path, hdrs, body)
        b = c.request("/token", {"content-type": "application/x-www-form-urlencoded"}, g.form(g.jwt()),
                      authority="oauth2.googleapis.com")
        c.pump(lambda: b in c.ended)
        report(c.status.get(b) == 200 and a not in c.status,
               "no-answer: the send unanswered, a later token request answered", c.status, {b: 200})
        st = sim.stop(); sims.remove(sim)
        report(st and st["no_answer"] == 1 and not log_lines(sim), "no-answer: counted, not logged", st and st["no_answer"], 1)

        sim = g.Sim("--reset-rate", "1"); sims.append(sim)
        path, hdrs, body = send_args(sim)
        c = H2(sim.port)
        a = c.request(path, hdrs, body)
        c.pump(lambda: False)
        report(c.closed and a not in c.status, "reset: connection ended without an answer", c.status, "none")
        h1req = ("POST %s HTTP/1.1\r\nHost: fcm.googleapis.com\r\nAuthorization: %s\r\n"
                 "Content-Length: %d\r\n\r\n" % (path, hdrs["authorization"], len(body))).encode() + body
        out = raw_h1(sim.port, h1req)
        report(out == b"", "reset over HTTP/1.1: connection ended without an answer", out[:80], b"")
        st = sim.stop(); sims.remove(sim)
        report(st and st["resets"] == 2 and not log_lines(sim), "reset: counted, not logged", st and st["resets"], 2)

        sim = g.Sim("--fail-rate", "503:1", "--fail-retry-after", "7"); sims.append(sim)
        st_, rh, _ = g.send(sim, "h2", g.tmsg())
        report(st_ == 503 and rh.get("retry-after") == "7", "fail-retry-after: 503 with Retry-After: 7",
               (st_, rh.get("retry-after")), (503, "7"))

        sim = g.Sim("--latency-ms", "30"); sims.append(sim)
        path, hdrs, body = send_args(sim)
        c = H2(sim.port)
        a = c.request(path, hdrs, body)
        c.pump(lambda: a in c.ended)
        st = sim.stop(); sims.remove(sim)
        report(c.status.get(a) == 200 and len(log_lines(sim)) == 1, "latency: answered 200, logged",
               c.status, 200)
    finally:
        for s in sims:
            s.stop()
    if failures():
        print("%d FAILED (scratch kept in %s)" % (failures(), g.WORK))
        return 1
    shutil.rmtree(g.WORK, ignore_errors=True)
    print("all fault checks pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
