#!/usr/bin/env bash
# gw_webhook_outbox.sh - webhook events survive kill -9 and a receiver that
# is down (issue 12, item 10: before, 10,100 of 10,100 pending events were
# lost by kill -9, and past 10,000 per app they were dropped while the
# receiver was down).
#
# The receiver (webhook_receiver.py, Python's http.server on 127.0.0.1)
# checks every request's HMAC signature against webhook_secret and logs it;
# it answers 503 to the apps listed in $WORK/down (the receiver "down"),
# else 200.
#
#  1. shop: N tokens (10,000; 2,000 under the sanitizers) pushed while its
#     receiver is down; every token final (job status), the outbox depth is
#     N; kill -9.
#  2. restart, the receiver still down for a few interval turns: nothing
#     dropped (the depth stays N, dropped counter 0); then up: every event
#     arrives (N distinct event ids, N distinct (job, index), the pushed
#     tokens), every signature checks, and a delivery id always names the
#     same events (a batch sent again carries the same id); a second kill -9
#     while a full batch is retried: after the restart the first request
#     carries that batch's delivery id and event ids.
#  3. other, webhook_retention = 100, receiver down: 300 tokens -> 200
#     dropped by retention (the metric), the outbox depth is 100; receiver
#     up: the newest 100 arrive (indexes 200..299). Events enter the outbox
#     in the order their answers come back, so this app sends one token at
#     a time (one connection, max_in_flight = 1): with many streams the
#     answers of 300 tokens come back interleaved and the newest 100 events
#     are not the 100 highest indexes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw_lib.sh"

if [ "${APNS_IT_SMALL:-0}" = 1 ]; then N=2000; else N=10000; fi
SECRET=outbox-secret-0123456789
RPORT_FILE=$WORK/receiver.port
touch "$WORK/down"
echo shop > "$WORK/down"
echo other >> "$WORK/down"

python3 "$(dirname "$0")/webhook_receiver.py" serve "$WORK" "$SECRET" > "$WORK/receiver.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$RPORT_FILE" ] && break; sleep 0.1; done
[ -s "$RPORT_FILE" ] || fail "the receiver did not start"
RPORT=$(cat "$RPORT_FILE")

start_gw_sim sim
cat > "$WORK/apnsd.ini" <<EOF
[server]
listen = 127.0.0.1:0
[queue]
path = $WORK/apnsd.db
[log]
level = info

$(app_ini "$GW_APP" "$GW_TOPIC" "$SIM_PORT" "$CERTS" "$GW_KEY")
webhook_url = http://127.0.0.1:$RPORT/shop
webhook_secret = $SECRET
webhook_batch = 500
webhook_interval = 100ms

$(app_ini "$GW_APP2" "$GW_TOPIC" "$SIM_PORT" "$CERTS" "$GW_KEY2")
connections = 1
max_in_flight = 1
webhook_url = http://127.0.0.1:$RPORT/other
webhook_secret = $SECRET
webhook_batch = 50
webhook_interval = 100ms
webhook_retention = 100
EOF
chmod 600 "$WORK/apnsd.ini"
"$BIN/apnsd" --check-config --config "$WORK/apnsd.ini" > /dev/null ||
  fail "--check-config refused the test's config"

# gauge NAME APP : a per-app sample of /metrics.
gauge() { metric "$1{app=\"$2\"}"; }

# wait_final APP KEY ID : until the job has no pending or retrying token (120 s).
wait_final() {
  for _ in $(seq 600); do
    kill -0 "$GW_PID" 2>/dev/null || { tail -20 "$WORK/gw.err" >&2; fail "apnsd died"; }
    api GET "/v1/notifications/$3" "$2"
    [ "$ST" = 200 ] && [ "$(jv 'd["counts"]["pending"] + d["counts"]["retrying"]')" = 0 ] && return 0
    sleep 0.2
  done
  fail "job $3 not final after 120 s: $(cat "$WORK/body")"
}

# wait_metric SAMPLE VALUE TIMEOUT_S
wait_metric() {
  local v=
  for _ in $(seq $(($3 * 10))); do
    v=$(metric "$1")
    [ "$v" = "$2" ] && return 0
    sleep 0.1
  done
  fail "$1 is $v, want $2 after $3 s"
}

# ---- 1. N events pending, receiver down, kill -9 ----------------------------
start_gw gw "$WORK/apnsd.ini"
wait_ready
# push_file APP ALERT N FILE : a push of N tokens (gw_token 0..N-1), written by
# Python (a shell loop takes minutes for 10,000 on a busy machine).
push_file() {
  python3 -c 'import json, sys
a, alert, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
json.dump({"app": a, "alert": alert, "tokens": ["a1b2c3d4%056x" % i for i in range(n)]}, sys.stdout)' \
    "$1" "$2" "$3" > "$4"
}
push_file "$GW_APP" outbox "$N" "$WORK/push.json"
api POST /v1/push "$GW_KEY" --data-binary "@$WORK/push.json"
[ "$ST" = 202 ] || fail "push: $ST $(cat "$WORK/body")"
JOB=$(jv 'd["notifications"][0]["id"]')
wait_final "$GW_APP" "$GW_KEY" "$JOB"
[ "$(jv 'd["counts"]["accepted"]')" = "$N" ] || fail "job: $(jv 'd["counts"]')"
echo "ok: $N tokens final, receiver down"
kill -9 "$GW_PID"
wait "$GW_PID" 2>/dev/null || true
SEEN0=0; [ -f "$WORK/received.jsonl" ] && SEEN0=$(wc -l < "$WORK/received.jsonl")
echo "ok: kill -9 with the receiver down"

# ---- 2. restart: nothing dropped while down, all delivered once up ----------
start_gw gw "$WORK/apnsd.ini"
wait_ready
wait_metric "apnsd_webhook_outbox_depth{app=\"$GW_APP\"}" "$N" 30
# Several interval turns with the receiver down: still nothing dropped.
for _ in 1 2 3 4 5; do
  sleep 0.2
  [ "$(gauge apnsd_webhook_outbox_depth "$GW_APP")" = "$N" ] ||
    fail "outbox depth $(gauge apnsd_webhook_outbox_depth "$GW_APP") while the receiver is down, want $N"
done
[ "$(metric "apnsd_webhook_deliveries_total{app=\"$GW_APP\",result=\"dropped\"}")" = 0 ] ||
  fail "events dropped while the receiver was down"
echo "ok: after restart, $N events wait in the outbox (receiver down), none dropped"
# The batch being retried now was read from a full outbox: kill -9 again;
# the next start reads the same events and sends them under the same
# delivery id.
last_delivery() {
  python3 -c 'import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if json.loads(l)["app"] == "shop"]
r = recs[-1]
print(len(recs), r["delivery"], ",".join(str(e["event_id"]) for e in r["body"]["results"]))' \
    "$WORK/received.jsonl"
}
for _ in $(seq 100); do
  [ "$(wc -l < "$WORK/received.jsonl")" -gt "$SEEN0" ] && break
  sleep 0.1
done
read -r SEEN D1 IDS1 <<< "$(last_delivery)"
kill -9 "$GW_PID"
wait "$GW_PID" 2>/dev/null || true
start_gw gw "$WORK/apnsd.ini"
wait_ready
for _ in $(seq 100); do
  read -r NOW _ _ <<< "$(last_delivery)"
  [ "$NOW" -gt "$SEEN" ] && break
  sleep 0.1
done
python3 -c 'import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if json.loads(l)["app"] == "shop"][int(sys.argv[2]):]
assert recs, "no request after the restart"
r = recs[0]
ids = ",".join(str(e["event_id"]) for e in r["body"]["results"])
assert (r["delivery"], ids) == (sys.argv[3], sys.argv[4]), "after restart %s %s..., before %s %s..." % (r["delivery"], ids[:40], sys.argv[3], sys.argv[4][:40])' \
  "$WORK/received.jsonl" "$SEEN" "$D1" "$IDS1" || fail "the batch read again after kill -9 has another delivery id"
echo "ok: kill -9 again: the batch is sent again with the same delivery id ($D1)"
sed -i '/^shop$/d' "$WORK/down"
wait_metric "apnsd_webhook_outbox_depth{app=\"$GW_APP\"}" 0 120

# check APP WANT_N FIRST : the receiver's log for APP (webhook_receiver.py check).
check() { python3 "$(dirname "$0")/webhook_receiver.py" check "$WORK/received.jsonl" "$@"; }
GOT=$(check "$GW_APP" "$N" 0) || fail "shop: $GOT"
echo "ok: shop: $GOT"

# ---- 3. retention: past webhook_retention the oldest are dropped, counted ---
push_file "$GW_APP2" retention 300 "$WORK/push2.json"
api POST /v1/push "$GW_KEY2" --data-binary "@$WORK/push2.json"
[ "$ST" = 202 ] || fail "push other: $ST $(cat "$WORK/body")"
JOB2=$(jv 'd["notifications"][0]["id"]')
wait_final "$GW_APP2" "$GW_KEY2" "$JOB2"
wait_metric "apnsd_webhook_deliveries_total{app=\"$GW_APP2\",result=\"dropped\"}" 200 30
wait_metric "apnsd_webhook_outbox_depth{app=\"$GW_APP2\"}" 100 30
LINES=$(cat "$WORK/gw.out" "$WORK/gw.err" | grep -c 'outbox retention reached' || true)
[ "$LINES" = 1 ] || fail "$LINES log lines for the retention drop, want 1 (one per episode)"
echo "ok: other: 200 of 300 dropped by webhook_retention = 100 (metric, one log line)"
sed -i '/^other$/d' "$WORK/down"
wait_metric "apnsd_webhook_outbox_depth{app=\"$GW_APP2\"}" 0 60
GOT=$(check "$GW_APP2" 100 200) || fail "other: $GOT"
echo "ok: other: $GOT"

stop_gw gw
echo "PASS"
