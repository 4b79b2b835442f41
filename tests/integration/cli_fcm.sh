#!/usr/bin/env bash
# `apns fcm push` and `apns fcm token` end to end against fcm-sim: every kind
# of bad input (clear message, exit 2, nothing sent), a push of N opaque
# registration tokens with 1 % on --unregistered (outputs joined with the
# sim's delivery log: every valid token delivered once under the name it was
# given, every unregistered one rejected with the row of
# tests/golden/fcm-errors.tsv), a dry run that delivers nothing, an access
# token from `apns fcm token` accepted by a raw http.client request, a push
# through an HTTP CONNECT proxy (both connections CONNECTed), and Ctrl-C
# (answers in flight waited for, the rest not_sent, exit 1).
. "$(dirname "$0")/lib.sh"
A="$BIN/apns"
SA="$CERTS/fcm/sa-demo.json"
N=2000
[ "${APNS_IT_SMALL:-0}" = 1 ] && N=300
GOLDEN="$(dirname "$0")/../golden/fcm-errors.tsv"

# The expected answer to an unregistered token, from the golden table.
row=$(awk -F'\t' '$1 == "send" && $8 == "unregistered-token"' "$GOLDEN")
[ -n "$row" ] || fail "no unregistered-token row in fcm-errors.tsv"
U_STATUS=$(printf '%s' "$row" | cut -f2)
U_REASON=$(printf '%s' "$row" | cut -f4)
U_ACTION=$(printf '%s' "$row" | cut -f9)


# --help, exit 0.
expect_exit 0 "fcm push" "$A" --help
expect_exit 0 "--service-account" "$A" fcm push --help
expect_exit 0 "secret|--service-account" "$A" fcm token --help
expect_exit 2 "unknown command 'frob'" "$A" fcm frob

# ---- bad input: exit 2, the problem named, nothing sent -------------------
# The sim is up so that a command that wrongly went ahead would deliver.
start_fcm_sim bad --delivery-log "$WORK/bad-delivery.log"
C=(--host 127.0.0.1 --port "$FCM_PORT" --ca-file "$CERTS/ca.pem")
T=(--token tok-1)
expect_exit 2 "service-account FILE is required" "$A" fcm push "${C[@]}" --title hi "${T[@]}"
expect_exit 2 "nosuch.json: No such file" "$A" fcm push "${C[@]}" --service-account "$WORK/nosuch.json" --title hi "${T[@]}"
echo '{"type":"service_account",' > "$WORK/notjson.json"
expect_exit 2 "notjson.json" "$A" fcm push "${C[@]}" --service-account "$WORK/notjson.json" --title hi "${T[@]}"
sed 's/"client_email":"[^"]*",//' "$SA" > "$WORK/noemail.json"
expect_exit 2 "noemail.json.*client_email" "$A" fcm push "${C[@]}" --service-account "$WORK/noemail.json" --title hi "${T[@]}"
expect_exit 2 "nosuch.json" "$A" fcm token --service-account "$WORK/nosuch.json"
# Token lines: every bad one reported with its line number before sending.
long=$(head -c 4097 /dev/zero | tr '\0' 'x')
printf 'tok-ok\nhas space\n\n# comment\n%s\ntok-ok-2\n' "$long" > "$WORK/bad-tokens.txt"
expect_exit 2 "bad-tokens.txt:2: invalid registration token \"has space\"" \
  "$A" fcm push "${C[@]}" --service-account "$SA" --title hi --tokens-file "$WORK/bad-tokens.txt"
grep -q "bad-tokens.txt:5: invalid registration token \"xxxx" "$WORK/last.out" || { cat "$WORK/last.out" >&2; fail "line 5 (4097 bytes) not reported"; }
[ "$(grep -c 'invalid registration token' "$WORK/last.out")" -eq 2 ] || fail "want exactly the 2 bad lines reported"
expect_exit 2 "no registration tokens" "$A" fcm push "${C[@]}" --service-account "$SA" --title hi --tokens-file /dev/null
expect_exit 2 "nosuch.txt" "$A" fcm push "${C[@]}" --service-account "$SA" --title hi --tokens-file "$WORK/nosuch.txt"
# Flags and message fields.
S=("${C[@]}" --service-account "$SA")
expect_exit 2 "unknown option.*--frobnicate|--frobnicate" "$A" fcm push "${S[@]}" --title hi --frobnicate "${T[@]}"
expect_exit 2 "--port" "$A" fcm push "${S[@]}" --port 0 --title hi "${T[@]}"
expect_exit 2 "--token-url: expected https://" "$A" fcm push "${S[@]}" --token-url http://x/token --title hi "${T[@]}"
expect_exit 2 "no message: give --title" "$A" fcm push "${S[@]}" "${T[@]}"
expect_exit 2 "--data 'novalue': expected KEY=VALUE" "$A" fcm push "${S[@]}" --data novalue "${T[@]}"
expect_exit 2 "--data '=v': expected KEY=VALUE" "$A" fcm push "${S[@]}" --data =v "${T[@]}"
expect_exit 2 "--data: key 'k' given twice" "$A" fcm push "${S[@]}" --data k=1 --data k=2 "${T[@]}"
expect_exit 2 "message: message.data" "$A" fcm push "${S[@]}" --data from=me "${T[@]}"
expect_exit 2 "message: message.data" "$A" fcm push "${S[@]}" --data google.x=1 "${T[@]}"
big=$(head -c 4100 /dev/zero | tr '\0' 'v')
expect_exit 2 "message: message.data" "$A" fcm push "${S[@]}" --data "k=$big" "${T[@]}"
expect_exit 2 "--android-priority: expected normal or high, got 'urgent'" "$A" fcm push "${S[@]}" --title hi --android-priority urgent "${T[@]}"
expect_exit 2 "--ttl" "$A" fcm push "${S[@]}" --title hi --ttl 2419201 "${T[@]}"
expect_exit 2 "message: message.android.ttl" "$A" fcm push "${S[@]}" --title hi --ttl 5m "${T[@]}"
expect_exit 2 "--project" "$A" fcm push "${S[@]}" --project 'no spaces' --title hi "${T[@]}"
expect_exit 2 "--only" "$A" fcm push "${S[@]}" --title hi --only delivered "${T[@]}"
echo '{"notification":{"title":"t"},"android":{"ttl":"x"}}' > "$WORK/m-bad.json"
expect_exit 2 "m-bad.json: message.android.ttl" "$A" fcm push "${S[@]}" --message-json "$WORK/m-bad.json" "${T[@]}"
echo '{"token":"t"}' > "$WORK/m-target.json"
expect_exit 2 "m-target.json" "$A" fcm push "${S[@]}" --message-json "$WORK/m-target.json" "${T[@]}"
expect_exit 2 "not both" "$A" fcm push "${S[@]}" --message-json "$WORK/m-bad.json" --title hi "${T[@]}"
# A key the token endpoint refuses: exit 3, Google's error quoted.
expect_exit 3 "invalid_grant" "$A" fcm push "${C[@]}" --service-account "$CERTS/fcm/sa-rogue.json" --title hi "${T[@]}"
expect_exit 3 "invalid_grant" "$A" fcm token --service-account "$CERTS/fcm/sa-rogue.json" \
  --token-url "https://127.0.0.1:$FCM_PORT/token" --ca-file "$CERTS/ca.pem"
stop_fcm_sim
[ ! -s "$WORK/bad-delivery.log" ] || { cat "$WORK/bad-delivery.log" >&2; fail "bad input delivered something"; }

# ---- a push of N tokens, 1 % unregistered -----------------------------------
# Opaque tokens with the characters real ones have (':', '-', '_').
awk -v n=$N 'BEGIN { for (i = 1; i <= n; i++) printf "c%05d:APA91b-%x_%d\n", i, i * 2654435761 % 4294967296, i }' > "$WORK/tokens.txt"
awk 'NR % 100 == 37' "$WORK/tokens.txt" > "$WORK/unreg.txt"
NU=$(wc -l < "$WORK/unreg.txt")
NV=$((N - NU))
[ "$NU" -ge 3 ] || fail "want some unregistered tokens, got $NU"
start_fcm_sim push --unregistered "$WORK/unreg.txt" --delivery-log "$WORK/delivery.log"
S=(--host 127.0.0.1 --port "$FCM_PORT" --ca-file "$CERTS/ca.pem" --service-account "$SA")
rc=0
"$A" fcm push "${S[@]}" --title Hello --body World --data score=3-1 --data "note=a b=c" \
  --android-priority high --ttl 3600 --collapse-key scores --connections 2 \
  --tokens-file "$WORK/tokens.txt" > "$WORK/push.out" 2> "$WORK/push.err" || rc=$?
[ "$rc" -eq 1 ] || { cat "$WORK/push.err" >&2; fail "exit $rc with unregistered tokens, want 1"; }
[ "$(wc -l < "$WORK/push.out")" -eq "$N" ] || fail "want $N lines, got $(wc -l < "$WORK/push.out")"
grep -q "$N tokens: $NV accepted, $NU rejected, 0 failed, 0 not sent" "$WORK/push.err" ||
  { cat "$WORK/push.err" >&2; fail "summary"; }

# Dry run of the same tokens: all accepted (validate_only), nothing delivered.
rc=0
"$A" fcm push "${S[@]}" --dry-run --title Hello --tokens-file "$WORK/tokens.txt" --only accepted \
  > "$WORK/dry.out" 2> "$WORK/dry.err" || rc=$?
[ "$rc" -eq 1 ] || { cat "$WORK/dry.err" >&2; fail "dry run exit $rc, want 1 (unregistered still refused)"; }
[ "$(grep -c '/messages/fake_message_id","status":200,"outcome":"accepted"' "$WORK/dry.out")" -eq "$NV" ] ||
  fail "dry run: want $NV fake_message_id lines"
grep -q "dry run: nothing delivered" "$WORK/dry.err" || fail "dry-run summary"

# ---- apns fcm token: accepted by a raw HTTP/1.1 request ---------------------
"$A" fcm token --service-account "$SA" --token-url "https://127.0.0.1:$FCM_PORT/token" \
  --ca-file "$CERTS/ca.pem" > "$WORK/token.out" 2> "$WORK/token.err"
[ "$(wc -l < "$WORK/token.out")" -eq 1 ] || fail "apns fcm token printed more than the token"
grep -q "SECRET" "$WORK/token.err" || fail "apns fcm token does not say the token is a secret"
ACCESS=$(cat "$WORK/token.out")
python3 - "$FCM_PORT" "$CERTS/ca.pem" "$ACCESS" > "$WORK/raw.out" <<'PY'
import http.client, json, ssl, sys
port, ca, tok = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
body = json.dumps({"message": {"token": "raw-client-token", "data": {"k": "v"}}})
c.request("POST", "/v1/projects/fcm-demo/messages:send", body,
          {"authorization": "Bearer " + tok, "content-type": "application/json"})
r = c.getresponse()
print(r.status, json.loads(r.read()).get("name", ""))
PY
grep -qE '^200 projects/fcm-demo/messages/0:' "$WORK/raw.out" || { cat "$WORK/raw.out" >&2; fail "raw request with the token"; }

# ---- --proxy: the token request and the FCM connection both go through an
# HTTP CONNECT proxy (a small one here, a thread per connection).
cat > "$WORK/proxy.py" <<'PY'
import select, socket, sys, threading
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(8)
log = open(sys.argv[1], "a", buffering=1)
print(ls.getsockname()[1], flush=True)
def serve(c):
    head = b""
    while b"\r\n\r\n" not in head:
        b = c.recv(4096)
        if not b:
            return
        head += b
    line = head.split(b"\r\n")[0].decode(errors="replace")
    log.write(line + "\n")
    host, port = line.split()[1].rsplit(":", 1)
    u = socket.create_connection((host, int(port)))
    c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    while True:
        r, _, _ = select.select([c, u], [], [], 30)
        if not r:
            break
        data = r[0].recv(65536)
        if not data:
            break
        (u if r[0] is c else c).sendall(data)
    c.close(); u.close()
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
python3 "$WORK/proxy.py" "$WORK/proxy.log" > "$WORK/proxy.port" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/proxy.port" ] && break; sleep 0.05; done
PROXY_PORT=$(cat "$WORK/proxy.port")
"$A" fcm push "${S[@]}" --proxy "127.0.0.1:$PROXY_PORT" --title via-proxy --token px-1 --token px-2 \
  > "$WORK/proxy.out" 2> "$WORK/proxy.err" || { cat "$WORK/proxy.err" >&2; fail "push through the proxy"; }
[ "$(grep -c '"outcome":"accepted"' "$WORK/proxy.out")" -eq 2 ] || fail "proxy: want 2 accepted"
[ "$(grep -c "^CONNECT 127.0.0.1:$FCM_PORT HTTP/1.1$" "$WORK/proxy.log")" -eq 2 ] ||
  { cat "$WORK/proxy.log" >&2; fail "proxy: want 2 CONNECTs (token endpoint, FCM)"; }

stop_fcm_sim

# ---- Ctrl-C: as apns push - stop sending, wait for the answers in flight,
# print the rest as not_sent; every token exactly one line; exit 1.
start_fcm_sim slow --latency-ms 300
rc=0
"$A" fcm push --host 127.0.0.1 --port "$FCM_PORT" --ca-file "$CERTS/ca.pem" --service-account "$SA" \
  --title slow --concurrency 50 --tokens-file "$WORK/tokens.txt" > "$WORK/int.out" 2> "$WORK/int.err" &
PUSH_PID=$!
for _ in $(seq 300); do [ -s "$WORK/int.out" ] && break; sleep 0.05; done
kill -INT "$PUSH_PID"
wait "$PUSH_PID" || rc=$?
[ "$rc" -eq 1 ] || { cat "$WORK/int.err" >&2; fail "Ctrl-C: exit $rc, want 1"; }
grep -q "interrupted: sending no more" "$WORK/int.err" || fail "Ctrl-C: no interrupted message"
[ "$(wc -l < "$WORK/int.out")" -eq "$N" ] || fail "Ctrl-C: $(wc -l < "$WORK/int.out") lines, want $N"
[ "$(cut -d, -f1 "$WORK/int.out" | sort -u | wc -l)" -eq "$N" ] || fail "Ctrl-C: a token has two lines"
ns=$(grep -c '"outcome":"not_sent"' "$WORK/int.out" || true)
[ "$ns" -gt 0 ] || fail "Ctrl-C: nothing reported not_sent"
[ "$(grep -c '"outcome":"failed"' "$WORK/int.out" || true)" -eq 0 ] || fail "Ctrl-C: answers in flight not waited for"
stop_fcm_sim

# ---- judge the push against the delivery log --------------------------------
# Accepted lines: token -> message id (the name's last part).
python3 - "$WORK/push.out" "$WORK/delivery.log" "$WORK/tokens.txt" "$WORK/unreg.txt" \
  "$U_STATUS" "$U_REASON" "$U_ACTION" <<'PY'
import json, sys
out, log, toks, unreg, ust, ureason, uaction = sys.argv[1:8]
tokens = [l.strip() for l in open(toks) if l.strip()]
dead = set(l.strip() for l in open(unreg) if l.strip())
lines = [json.loads(l) for l in open(out)]
seen = {}
for d in lines:
    t = d["token"]
    assert t not in seen, "token %s has two lines" % t
    seen[t] = d
assert set(seen) == set(tokens), "lines do not cover the tokens"
delivered = {}
for l in open(log):
    mid, target, project, _ = l.split()
    assert project == "fcm-demo", l
    assert target not in delivered, "delivered twice: %s" % target
    delivered[target] = mid
for extra in ("raw-client-token", "px-1", "px-2"):
    delivered.pop(extra, None)
for t in tokens:
    d = seen[t]
    if t in dead:
        assert d["outcome"] == "rejected", d
        assert d["status"] == int(ust) and d["reason"] == ureason and d["action"] == uaction, d
        assert t not in delivered, "unregistered token delivered: %s" % t
    else:
        assert d["outcome"] == "accepted" and d["status"] == 200, d
        assert t in delivered, "accepted but not delivered: %s" % t
        assert d["name"] == "projects/fcm-demo/messages/" + delivered[t], (d, delivered[t])
assert len(delivered) == len(tokens) - len(dead), (len(delivered), len(tokens) - len(dead))
print("ok: %d delivered once, %d dead" % (len(delivered), len(dead)))
PY
# The raw request and the two proxied messages were delivered too.
[ "$(wc -l < "$WORK/delivery.log")" -eq $((NV + 3)) ] || fail "delivery log: $(wc -l < "$WORK/delivery.log") lines, want $((NV + 3))"
echo "ok: it_cli_fcm"
