#!/usr/bin/python3
"""sim_noalpn.py - apns-sim accepts a TLS client that offers no ALPN, as APNs
does (protocol notes §1.2: HTTP/2 with prior knowledge over TLS; several
clients, e.g. aioapns, never set ALPN). ctest it_sim_noalpn.

An asyncio HTTP/2 client (python3-h2 over asyncio's TLS streams, no
set_alpn_protocols: nothing of libapns) sends COUNT notifications on one
connection, keeping within the server's SETTINGS_MAX_CONCURRENT_STREAMS;
one token is on the sim's --unregistered list. Checks:
  - the handshake negotiated no ALPN protocol at all;
  - every notification but the unregistered one is answered 200 and is in
    the delivery log exactly once; the sim counts them as accepted;
  - the unregistered one is answered 410 with the JSON reason Unregistered
    and the file's millisecond "timestamp" (an integer, 13 digits);
And the project choices for other protocols (docs/apns-sim.md, TLS):
  - a client offering only ALPN http/1.1 gets a TLS no_application_protocol
    alert;
  - an HTTP/1.1 request without ALPN gets "HTTP/1.1 505" and a close.
usage: sim_noalpn.py [COUNT]   (env APNS_BIN_DIR, APNS_TEST_CERTS)
"""
import asyncio, json, os, re, signal, ssl, subprocess, sys, tempfile, shutil
import h2.config, h2.connection, h2.events, h2.settings

BIN = os.environ["APNS_BIN_DIR"]
CERTS = os.environ["APNS_TEST_CERTS"]
COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
UNREG_INDEX = 777
UNREG_TS_MS = 1700000000123
TOPIC = "com.example.app"
fails = 0


def check(what, ok, info=""):
    global fails
    print(("ok   " if ok else "FAIL ") + what + ("" if ok else "  " + str(info)))
    if not ok:
        fails += 1


def token(i):
    return "%064x" % (0xA0000000 + i)


def tls_context(alpn=None):
    ctx = ssl.create_default_context(cafile=f"{CERTS}/ca.pem")
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


async def push_all(port):
    """COUNT notifications on one no-ALPN connection: {index: (status, body)}."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls_context(),
                                                   server_hostname="localhost")
    alpn = writer.get_extra_info("ssl_object").selected_alpn_protocol()
    check("TLS handshake without ALPN (selected: %r)" % alpn, alpn is None)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    writer.write(conn.data_to_send())
    results, bodies, index_of = {}, {}, {}
    next_i = 0
    open_streams = 0
    settings_seen = False

    def send_more():
        nonlocal next_i, open_streams
        limit = conn.remote_settings.max_concurrent_streams
        while settings_seen and next_i < COUNT and open_streams < limit:
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, [(":method", "POST"), (":scheme", "https"),
                                    (":authority", "localhost"),
                                    (":path", "/3/device/" + token(next_i)),
                                    ("apns-topic", TOPIC), ("apns-push-type", "alert")])
            conn.send_data(sid, b'{"aps":{"alert":"no alpn %d"}}' % next_i, end_stream=True)
            index_of[sid] = next_i
            next_i += 1
            open_streams += 1

    while len(results) < COUNT:
        send_more()
        writer.write(conn.data_to_send())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(65536), timeout=10)
        if not data:
            break
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.RemoteSettingsChanged):
                settings_seen = True
            elif isinstance(ev, h2.events.ResponseReceived):
                results[index_of[ev.stream_id]] = [dict(ev.headers)[b":status"].decode(), b""]
            elif isinstance(ev, h2.events.DataReceived):
                results[index_of[ev.stream_id]][1] += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                open_streams -= 1
            elif isinstance(ev, h2.events.ConnectionTerminated):
                check("no GOAWAY", False, ev)
                return results
    conn.close_connection()
    writer.write(conn.data_to_send())
    writer.close()
    return results


def other_protocols(port):
    """The project choices for clients that do not speak HTTP/2."""
    import socket
    raw = socket.create_connection(("127.0.0.1", port))
    try:
        tls_context(["http/1.1"]).wrap_socket(raw, server_hostname="localhost")
        check("ALPN http/1.1 only: no_application_protocol alert", False, "handshake succeeded")
    except ssl.SSLError as e:
        check("ALPN http/1.1 only: no_application_protocol alert",
              "NO APPLICATION PROTOCOL" in str(e).upper().replace("_", " "), e)
    raw.close()
    s = tls_context().wrap_socket(socket.create_connection(("127.0.0.1", port)),
                                  server_hostname="localhost")
    s.sendall(b"POST /3/device/%s HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}"
              % token(0).encode())
    s.settimeout(10)
    answer = b""
    while True:
        try:
            chunk = s.recv(4096)
        except (ssl.SSLError, OSError):
            break
        if not chunk:
            break
        answer += chunk
    s.close()
    check("HTTP/1.1 without ALPN: 505 and close", answer.startswith(b"HTTP/1.1 505 "), answer[:80])


def main():
    work = tempfile.mkdtemp(prefix="apns-noalpn-")
    unreg = os.path.join(work, "unreg.txt")
    with open(unreg, "w") as f:
        f.write("%s %d\n" % (token(UNREG_INDEX), UNREG_TS_MS))
    dlog = os.path.join(work, "delivered.log")
    sim = subprocess.Popen([f"{BIN}/apns-sim", "--listen", "127.0.0.1:0",
                            "--tls-cert", f"{CERTS}/server.pem", "--tls-key", f"{CERTS}/server.key",
                            "--unregistered", unreg, "--delivery-log", dlog],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    m = re.match(r"apns-sim listening on .*:(\d+)$", sim.stdout.readline().strip())
    if not m:
        print("FAIL apns-sim did not start:", sim.stderr.read())
        return 1
    port = int(m.group(1))

    results = asyncio.run(push_all(port))
    check("%d of %d notifications answered" % (len(results), COUNT), len(results) == COUNT)
    ok200 = sum(1 for i, (st, _) in results.items() if i != UNREG_INDEX and st == "200")
    check("%d of %d accepted (200)" % (ok200, COUNT - 1), ok200 == COUNT - 1)
    st, body = results.get(UNREG_INDEX, ("none", b""))
    check("unregistered token: 410", st == "410", st)
    try:
        j = json.loads(body)
    except ValueError:
        j = {}
    check("unregistered token: reason Unregistered", j.get("reason") == "Unregistered", body)
    ts = j.get("timestamp")
    check("unregistered token: timestamp in ms (the file's %d)" % UNREG_TS_MS,
          isinstance(ts, int) and len(str(ts)) == 13 and ts == UNREG_TS_MS, body)
    other_protocols(port)

    sim.send_signal(signal.SIGTERM)
    _, err = sim.communicate(timeout=10)
    counters = json.loads([l for l in err.splitlines() if l.startswith("{")][-1])
    check("sim counted %d accepted" % counters["accepted"], counters["accepted"] == COUNT - 1)
    check("sim refused one HTTP/1.1 request", counters.get("http1_refused") == 1, counters)
    lines = open(dlog).read().split("\n")[:-1]
    tokens = [l.split(" ")[1] for l in lines]
    want = {token(i) for i in range(COUNT) if i != UNREG_INDEX}
    check("delivery log: every accepted notification once (%d lines)" % len(lines),
          len(tokens) == len(set(tokens)) and set(tokens) == want)
    if fails == 0:
        shutil.rmtree(work)
    print("sim_noalpn: %s" % ("all checks passed" if fails == 0 else "%d failed" % fails))
    return 1 if fails else 0


sys.exit(main())
