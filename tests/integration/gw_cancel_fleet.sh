#!/usr/bin/env bash
# gw_cancel_fleet.sh - a cancel is fleet-wide with backend = jetstream
# (docs/api.md, DELETE /v1/notifications/{id}): one nats-server, the sim
# slowed (--latency-ms, few streams), node A alone receives a broadcast of
# 20,000 tokens (10,000 under the sanitizers) in chunks of 100 and starts
# sending; node B starts and cancels it. Then:
#   - B answers 202 (in flight: the fleet is stopping) with counts that add
#     up;
#   - once B's status says cancelled, its counts are final: its accepted
#     is exactly the deliveries the sim's log ends with (A stopped the
#     chunks it held, neither node sends the queued ones, and no answer
#     was still on its way), accepted + cancelled = N;
#   - once the stream is drained, the two nodes' cancelled counters add up
#     to the status's cancelled;
#   - A restarted alone sends nothing more of it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw_lib.sh"

if [ "${APNS_IT_SMALL:-0}" = 1 ]; then N=10000; else N=20000; fi
start_nats

start_gw_sim sim --latency-ms 100 --max-streams 50 --delivery-log "$WORK/delivery.log"
cat > "$WORK/apnsd.ini" <<EOF
[server]
listen = 127.0.0.1:0
drain_timeout = 5s
$(js_queue_ini cancel$$ 5s)
chunk_tokens = 100
[log]
level = info

$(app_ini "$GW_APP" "$GW_TOPIC" "$SIM_PORT" "$CERTS" "$GW_KEY")
connections = 1
EOF
chmod 600 "$WORK/apnsd.ini"

start_gw a "$WORK/apnsd.ini"
wait_ready
A_PID=$GW_PID A=$GW

python3 -c 'import json, sys
n = int(sys.argv[2])
json.dump({"app": sys.argv[1], "alert": "fleet", "tokens": ["a1b2c3d4%056x" % i for i in range(n)]}, sys.stdout)' \
  "$GW_APP" "$N" > "$WORK/push.json"
api POST /v1/push "$GW_KEY" --data-binary "@$WORK/push.json"
[ "$ST" = 202 ] || fail "push: $ST $(head -c 300 "$WORK/body")"
ID=$(jv 'd["notifications"][0]["id"]')
for _ in $(seq 300); do [ "$(log_lines "$WORK/delivery.log")" -ge 500 ] && break; sleep 0.1; done
[ "$(log_lines "$WORK/delivery.log")" -ge 500 ] || fail "A delivered nothing"
[ "$(metric "apnsd_in_flight{app=\"$GW_APP\"}")" != 0 ] || fail "A has nothing in flight"

start_gw b "$WORK/apnsd.ini"
wait_ready
B_PID=$GW_PID B=$GW
api DELETE "/v1/notifications/$ID" "$GW_KEY"
[ "$ST" = 200 ] || [ "$ST" = 202 ] || fail "cancel through B: $ST $(cat "$WORK/body")"
read -r total CAN <<< "$(jv '"%d %d" % (sum(d["counts"].values()), d["counts"]["cancelled"])')"
[ "$total" = "$N" ] || fail "counts: $(cat "$WORK/body")"
# Right after the cancel the fleet is still stopping: in flight (202).
[ "$ST" = 202 ] && grep -q '"state": *"in_flight"' "$WORK/body" || fail "cancel through B: $ST $(cat "$WORK/body")"
echo "ok: B cancelled A's broadcast: $ST $(cat "$WORK/body")"

for _ in $(seq 300); do
  api GET "/v1/notifications/$ID" "$GW_KEY"
  grep -q '"state": *"cancelled"' "$WORK/body" && break
  sleep 0.1
done
grep -q '"state": *"cancelled"' "$WORK/body" || fail "not cancelled after 30 s: $(cat "$WORK/body")"
# Once the status says cancelled nothing more is sent, and its counts are
# final: its accepted is every delivery there will ever be. The sim writes
# its delivery log every 100 ms, so the log is read once it has settled
# (3 s later), and compared with what the status said.
read -r ACC0 CAN0 <<< "$(jv '"%d %d" % (d["counts"]["accepted"], d["counts"]["cancelled"])')"
D1=$(log_lines "$WORK/delivery.log")
sleep 3
D2=$(log_lines "$WORK/delivery.log")
echo "status said cancelled: accepted $ACC0; delivery log then $D1, 3 s later $D2"
[ "$D2" = "$ACC0" ] ||
  fail "the status said cancelled with accepted $ACC0 (log then $D1), but $D2 were delivered"
api GET "/v1/notifications/$ID" "$GW_KEY"
read -r ACC CAN <<< "$(jv '"%d %d" % (d["counts"]["accepted"], d["counts"]["cancelled"])')"
[ "$ACC $CAN" = "$ACC0 $CAN0" ] || fail "counts changed after cancelled: $ACC0 $CAN0, then $ACC $CAN"
[ $((ACC + CAN)) = "$N" ] && [ "$CAN" -gt 0 ] || fail "accepted $ACC + cancelled $CAN != $N"
echo "ok: $D2 delivered, $CAN cancelled; nothing sent by either node after the cancel"

# The queued chunks are finished by the nodes' leases: both depths reach 0
# and their counters add up to the status's cancelled.
GW=$A wait_depth 0 30
GW=$B wait_depth 0 30
CA=$(GW=$A metric apnsd_notifications_cancelled_total)
CB=$(GW=$B metric apnsd_notifications_cancelled_total)
[ $((CA + CB)) = "$CAN" ] || fail "cancelled counters A $CA + B $CB != $CAN"
echo "ok: cancelled counters A $CA + B $CB = $CAN"

GW_PID=$B_PID stop_gw b
GW_PID=$A_PID stop_gw a
start_gw a "$WORK/apnsd.ini"
wait_ready
sleep 2
[ "$(log_lines "$WORK/delivery.log")" = "$D2" ] || fail "a restarted node resumed the cancelled notification"
api GET "/v1/notifications/$ID" "$GW_KEY"
[ "$(jv '"%s %d" % (d["state"], d["counts"]["cancelled"])')" = "cancelled $CAN" ] ||
  fail "after a restart: $(cat "$WORK/body")"
stop_gw a
echo "gw_cancel_fleet: $N tokens through A, cancelled through B: $D2 delivered, $CAN cancelled"
