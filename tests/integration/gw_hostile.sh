#!/usr/bin/env bash
# gw_hostile.sh - apnsd under hostile clients, through real sockets (issue 12):
#
#  1. fd exhaustion: apnsd runs with `ulimit -n 256` (max_connections derived
#     from it) and 300 idle connections are opened against it. /healthz is
#     still answered (an idle connection is closed for it, or it is refused
#     at once: never left hanging), apnsd's log holds at most a few
#     "connection limit" lines in our own format (the rest counted in
#     apnsd_log_suppressed_total) and no libevent "Too many open files" line,
#     a push with ?wait completes, and after apns-sim is restarted on the same
#     port (a reconnect to APNs while the API is saturated) a second one
#     does too.
#  2. auth before body: 20 clients without a valid key declare 100 MB bodies
#     and start sending; each is answered 401 from its headers and
#     apnsd_api_body_bytes stays 0.
#  3. max_connections set above the descriptors there are: accept() runs out
#     (EMFILE); apnsd pauses accepting with a backoff, logs it at most once
#     per 10 s, never lets libevent print "Too many open files", and serves
#     again once the clients leave.
# Figures are printed on the last lines.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw_lib.sh"

N_IDLE=${N_IDLE:-300}
start_gw_sim sim --delivery-log "$WORK/delivery.log"
gw_config "$WORK/apnsd.ini" "$SIM_PORT" "$WORK/apnsd.db" "max_wait = 10s" "" "connections = 1"
GW_ULIMIT_N=256 start_gw gw "$WORK/apnsd.ini"
wait_ready

# hold_start : opens N_IDLE idle connections to apnsd (a python client, HOLD
# its pid) and returns once they are open; they stay until the client is killed.
hold_start() {
  python3 - "$GW_PORT" "$N_IDLE" > "$WORK/hold.out" 2>&1 <<'PY' &
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for _ in range(n):
    s = socket.socket()
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port))
        socks.append(s)
    except OSError as e:
        print("connect failed:", e, flush=True)
print("open", len(socks), flush=True)
time.sleep(60)
PY
  HOLD=$!
  PIDS+=("$HOLD")
  for _ in $(seq 200); do grep -q '^open' "$WORK/hold.out" 2>/dev/null && break; sleep 0.1; done
  grep -q '^open' "$WORK/hold.out" || fail "the client did not open its connections: $(cat "$WORK/hold.out")"
  sleep 0.5
}
hold_stop() { kill "$HOLD" 2>/dev/null || true; wait "$HOLD" 2>/dev/null || true; }

hold_start

# /healthz: answered at once (200), or refused at once (503 busy): never hangs.
ST=$(curl -sS -m 5 -o "$WORK/body" -w '%{http_code}' "$GW/healthz") || ST=000
[ "$ST" = 200 ] || [ "$ST" = 503 ] || fail "/healthz under $N_IDLE idle connections: $ST"
HEALTH=$ST
api GET /healthz -
[ "$ST" = 200 ] || [ "$ST" = 503 ] || fail "/healthz (2nd) under $N_IDLE idle connections: $ST"

# A push with ?wait completes (APNs connection up while the API is full).
api POST "/v1/push?wait=10" "$GW_KEY" -d "{\"app\":\"$GW_APP\",\"tokens\":$(gw_tokens 1 2),\"alert\":\"hi\"}"
[ "$ST" = 200 ] || fail "?wait push under $N_IDLE idle connections: $ST $(cat "$WORK/body")"
[ "$(jv '",".join(r["state"] for r in d["notifications"][0]["results"])')" = accepted,accepted ] ||
  fail "?wait push not delivered: $(cat "$WORK/body")"

# APNs goes away and comes back on the same port: apnsd reconnects.
stop_sim
"$BIN/apns-sim" --listen "127.0.0.1:$SIM_PORT" --tls-cert "$CERTS/server.pem" \
  --tls-key "$CERTS/server.key" --auth-keys "$CERTS/keys" --topics "$GW_TOPIC" \
  --delivery-log "$WORK/delivery2.log" > "$WORK/sim2.out" 2> "$WORK/sim2.err" &
SIM_PID=$!
PIDS+=("$SIM_PID")
api POST "/v1/push?wait=10" "$GW_KEY" -d "{\"app\":\"$GW_APP\",\"tokens\":$(gw_tokens 10 2),\"alert\":\"again\"}"
[ "$ST" = 200 ] && [ "$(jv '",".join(r["state"] for r in d["notifications"][0]["results"])')" = accepted,accepted ] ||
  fail "?wait push after the APNs restart: $ST $(cat "$WORK/body")"
[ "$(log_lines "$WORK/delivery2.log")" = 2 ] || fail "the restarted sim did not get the push"

LIMIT_LINES=$(grep -c 'msg="connection limit"' "$WORK/gw.err" || true)
SPAM=$(grep -ci 'too many open files' "$WORK/gw.err" || true)
SUPPRESSED=$(metric 'apnsd_log_suppressed_total{component="api"}')
CLOSED_IDLE=$(metric 'apnsd_api_connection_limit_total{event="closed_idle"}')
CONNS=$(metric apnsd_api_connections)
[ "$SPAM" = 0 ] || fail "libevent's accept() errors in the log ($SPAM lines)"
[ "$LIMIT_LINES" -ge 1 ] && [ "$LIMIT_LINES" -le 5 ] ||
  fail "connection-limit lines: $LIMIT_LINES (want 1..5: once per 10 s)"
[ "${SUPPRESSED%.*}" -ge 1 ] || fail "no suppressed line counted"
[ "${CONNS%.*}" -lt "$N_IDLE" ] || fail "apnsd holds $CONNS connections with ulimit -n 256"
hold_stop

# 2. 20 unauthenticated 100 MB uploads: refused from their headers.
python3 - "$GW_PORT" > "$WORK/upload.out" <<'PY'
import socket, sys
port = int(sys.argv[1])
socks = []
for i in range(20):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    auth = b"Authorization: Bearer not-a-key-0123456789\r\n" if i % 2 else b""
    s.sendall(b"POST /v1/push HTTP/1.1\r\nHost: a\r\n" + auth +
              b"Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n")
    try:
        s.sendall(b" " * (1 << 20))
    except OSError:
        pass  # refused while sending: read the answer
    socks.append(s)
codes = []
for s in socks:
    data = b""
    while b"\r\n\r\n" not in data:
        d = s.recv(65536)
        if not d:
            break
        data += d
    codes.append(data.split(b" ")[1].decode() if data.startswith(b"HTTP/1.1 ") else "none")
print(" ".join(codes))
PY
[ "$(tr ' ' '\n' < "$WORK/upload.out" | sort -u | tr -d '\n')" = 401 ] ||
  fail "unauthenticated uploads: $(cat "$WORK/upload.out") (want 401 each)"
BODY_BYTES=$(metric apnsd_api_body_bytes)
[ "$BODY_BYTES" = 0 ] || fail "apnsd_api_body_bytes is $BODY_BYTES after the refused uploads"

kill -0 "$GW_PID" || fail "apnsd died"
stop_gw gw

# 3. A limit set above the descriptors there are: accept() fails (EMFILE).
# apnsd pauses its listeners with a backoff instead of spinning, logs that
# at most once per 10 s, and serves again once the clients leave.
gw_config "$WORK/apnsd.ini" "$SIM_PORT" "$WORK/apnsd.db" "max_connections = 1000" "" "connections = 1"
: > "$WORK/gw3.err"
GW_ULIMIT_N=256 start_gw gw3 "$WORK/apnsd.ini"
wait_ready
hold_start
sleep 2
hold_stop
api GET /healthz -
[ "$ST" = 200 ] || fail "/healthz after the descriptors came back: $ST"
EMFILE=$(metric 'apnsd_api_connection_limit_total{event="out_of_descriptors"}')
EMFILE_LINES=$(grep -c 'event=out_of_descriptors' "$WORK/gw3.err" || true)
SPAM3=$(grep -ci 'too many open files' "$WORK/gw3.err" || true)
[ "${EMFILE%.*}" -ge 1 ] || fail "accept() never ran out of descriptors (the test did not reach the limit)"
[ "$SPAM3" = 0 ] || fail "libevent's accept() errors in the log ($SPAM3 lines)"
[ "$EMFILE_LINES" -ge 1 ] && [ "$EMFILE_LINES" -le 3 ] || fail "out_of_descriptors lines: $EMFILE_LINES (want 1..3)"
stop_gw gw3
echo "gw_hostile: max_connections 1000 over ulimit -n 256: accept() out of descriptors $EMFILE times," \
  "$EMFILE_LINES log line(s), 0 'Too many open files'; /healthz 200 once the clients left"
echo "gw_hostile: ulimit -n 256, $N_IDLE idle connections: /healthz $HEALTH, ?wait pushes delivered before and after an APNs restart;" \
  "log: $LIMIT_LINES connection-limit line(s), $SUPPRESSED suppressed, 0 'Too many open files';" \
  "$CLOSED_IDLE idle connections closed for new ones, $CONNS open at the end;" \
  "20 unauthenticated 100 MB uploads: 401 from the headers, apnsd_api_body_bytes $BODY_BYTES"
rm -rf "$WORK"
