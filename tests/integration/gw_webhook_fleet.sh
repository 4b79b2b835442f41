#!/usr/bin/env bash
# gw_webhook_fleet.sh - with backend = jetstream the webhook outbox is in
# JetStream, so a surviving node delivers a dead node's events (issue 12,
# item 10). Before, each node kept the events of the outcomes it recorded in
# its own memory: killing it lost them.
#
# One JetStream nats-server (a fleet shares a queue; the fleet's cluster
# tests are gw_fleet.c), the sim, the receiver (webhook_receiver.py; down
# at first: 503) and two apnsd nodes A and B from one config (ack_wait =
# 2s, chunks of 100 tokens). N tokens (2,000; 1,000 under the sanitizers)
# pushed through A, which records outcomes before B starts (an idle node
# that wakes for a job's first chunk leases up to its budget at once, so
# with both nodes up B could take every chunk of so small a job), every
# token final; A holds events
# for its retries when it gets kill -9. The receiver comes up: B delivers
# all N events (A's held batch after ack_wait), checked by distinct event
# ids and (job, index), good signatures, stable delivery ids; the outbox
# is empty.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw_lib.sh"

if [ "${APNS_IT_SMALL:-0}" = 1 ]; then N=1000; else N=2000; fi
SECRET=fleet-secret-0123456789
start_nats

echo shop > "$WORK/down"
python3 "$(dirname "$0")/webhook_receiver.py" serve "$WORK" "$SECRET" > "$WORK/receiver.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/receiver.port" ] && break; sleep 0.1; done
[ -s "$WORK/receiver.port" ] || fail "the receiver did not start"
RPORT=$(cat "$WORK/receiver.port")

start_gw_sim sim
cat > "$WORK/apnsd.ini" <<EOF
[server]
listen = 127.0.0.1:0
drain_timeout = 5s
$(js_queue_ini wh$$ 2s)
chunk_tokens = 100
[log]
level = info

$(app_ini "$GW_APP" "$GW_TOPIC" "$SIM_PORT" "$CERTS" "$GW_KEY")
webhook_url = http://127.0.0.1:$RPORT/shop
webhook_secret = $SECRET
webhook_batch = 200
webhook_interval = 100ms
EOF
chmod 600 "$WORK/apnsd.ini"

start_gw a "$WORK/apnsd.ini"
wait_ready
A_PID=$GW_PID A=$GW

python3 -c 'import json, sys
n = int(sys.argv[2])
json.dump({"app": sys.argv[1], "alert": "fleet", "tokens": ["a1b2c3d4%056x" % i for i in range(n)]}, sys.stdout)' \
  "$GW_APP" "$N" > "$WORK/push.json"
GW=$A
api POST /v1/push "$GW_KEY" --data-binary "@$WORK/push.json"
[ "$ST" = 202 ] || fail "push: $ST $(cat "$WORK/body")"
JOB=$(jv 'd["notifications"][0]["id"]')
for _ in $(seq 100); do
  A_SENT=$(metric "apnsd_notifications_total{app=\"$GW_APP\",outcome=\"accepted\"}")
  [ "${A_SENT%.*}" -gt 0 ] && break
  sleep 0.1
done
start_gw b "$WORK/apnsd.ini"
wait_ready
B_PID=$GW_PID B=$GW
GW=$A
for _ in $(seq 600); do
  api GET "/v1/notifications/$JOB" "$GW_KEY"
  [ "$ST" = 200 ] && [ "$(jv 'd["counts"]["pending"] + d["counts"]["retrying"]')" = 0 ] && break
  sleep 0.2
done
[ "$(jv 'd["counts"]["accepted"]')" = "$N" ] || fail "job not final: $(cat "$WORK/body")"
echo "ok: $N tokens final through two nodes, receiver down"

# A holds a batch for its retries (it has tried at least once) when killed.
for _ in $(seq 100); do
  [ "$(metric "apnsd_webhook_deliveries_total{app=\"$GW_APP\",result=\"retry\"}")" != 0 ] && break
  sleep 0.1
done
A_SENT=$(metric "apnsd_notifications_total{app=\"$GW_APP\",outcome=\"accepted\"}")
[ "${A_SENT%.*}" -gt 0 ] || fail "node A recorded no outcome: nothing of its own to lose"
echo "ok: node A recorded $A_SENT of the $N outcomes"
kill -9 "$A_PID"
wait "$A_PID" 2>/dev/null || true
echo "ok: kill -9 node A"

GW=$B
sed -i '/^shop$/d' "$WORK/down"
DEPTH=
END=$((SECONDS + 90))
while [ "$SECONDS" -lt "$END" ]; do
  DEPTH=$(metric "apnsd_webhook_outbox_depth{app=\"$GW_APP\"}")
  [ "$DEPTH" = 0 ] && python3 "$(dirname "$0")/webhook_receiver.py" check "$WORK/received.jsonl" \
    "$GW_APP" "$N" 0 > /dev/null && break
  sleep 0.2
done
GOT=$(python3 "$(dirname "$0")/webhook_receiver.py" check "$WORK/received.jsonl" "$GW_APP" "$N" 0) ||
  fail "after node A's death (outbox depth $DEPTH): $GOT"
echo "ok: node B delivered every event: $GOT"
GW_PID=$B_PID
stop_gw b
echo "PASS"
