#!/usr/bin/env bash
# gw_fair_fleet.sh - the fleet's turn order (backend = jetstream,
# docs/queue.md), judged by ORDER OF DELIVERY (apns-sim's delivery log, one
# line per notification in the order the sim answered them), never by time.
#
# One JetStream nats-server, the sim, two apnsd nodes A and B from one config
# (chunks of 1,000 tokens, one connection per app). A broadcast of N tokens
# (200,000; 60,000 under the sanitizers) of app shop is posted through A; as
# soon as its 202 came, a one-token login code of shop is posted through B and
# a one-token job of app other through A. Each must be delivered within 20
# chunks of the moment it was accepted (the delivery log's length when its
# 202 came): per node, the chunks it already held (its lease cap), its window
# in flight and one lease. In stream order (before the turn order) they went
# out after the broadcast's queued chunks. And nothing lost or sent twice:
# every token once in the log.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw_lib.sh"

N=200000
[ "${APNS_IT_SMALL:-0}" = 1 ] && N=60000
CT=1000 # [queue] chunk_tokens (the default)
BOUND=$((2 * 10 * CT))
LOGIN=9000000
OTHER=8000000

start_nats
start_gw_sim sim --delivery-log "$WORK/delivery.log"
(
  umask 077
  cat > "$WORK/apnsd.ini" <<EOF
[server]
listen = 127.0.0.1:0
drain_timeout = 5s
$(js_queue_ini fair$$ 30s)
chunk_tokens = $CT
[log]
level = info

$(app_ini "$GW_APP" "$GW_TOPIC" "$SIM_PORT" "$CERTS" "$GW_KEY")
connections = 1

$(app_ini "$GW_APP2" "$GW_TOPIC" "$SIM_PORT" "$CERTS" "$GW_KEY2")
connections = 1
EOF
)
start_gw_pair "$WORK/apnsd.ini"

python3 - "$WORK" "$GW_APP" "$GW_APP2" "$N" "$LOGIN" "$OTHER" <<'EOF'
import json, sys
work, app, app2, n, login, other = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:])
def tok(i): return "a1b2c3d4%056x" % i
json.dump({"app": app, "alert": "hi", "tokens": [tok(i) for i in range(n)]}, open(work + "/bc.json", "w"))
json.dump({"app": app, "alert": "code", "token": tok(login)}, open(work + "/login.json", "w"))
json.dump({"app": app2, "alert": "hi", "token": tok(other)}, open(work + "/other.json", "w"))
EOF

push_file() { # push_file NODE FILE KEY : one POST /v1/push of FILE, 202 wanted
  GW=$1
  api POST /v1/push "$3" -H 'Content-Type: application/json' --data-binary "@$2"
  [ "$ST" = 202 ] || fail "push $2: $ST $(head -c 300 "$WORK/body")"
}

# pos TOKEN_INDEX : the delivery-log line of gw_token INDEX; fails when it is
# not there exactly once.
pos() {
  local t n
  t=$(gw_token "$1")
  n=$(awk -v t="$t" '$2 == t { c++; p = NR } END { print c + 0 " " p + 0 }' "$WORK/delivery.log")
  [ "${n% *}" = 1 ] || fail "token $1 delivered ${n% *} times"
  echo "${n#* }"
}

push_file "$A" "$WORK/bc.json" "$GW_KEY"
push_file "$B" "$WORK/login.json" "$GW_KEY"
L=$(log_lines "$WORK/delivery.log")
push_file "$A" "$WORK/other.json" "$GW_KEY2"
LO=$(log_lines "$WORK/delivery.log")
TOTAL=$((N + 2))
for _ in $(seq 3000); do
  [ "$(log_lines "$WORK/delivery.log")" -ge "$TOTAL" ] && break
  sleep 0.1
done
[ "$(log_lines "$WORK/delivery.log")" -ge "$TOTAL" ] ||
  fail "delivery log has $(log_lines "$WORK/delivery.log") lines, want $TOTAL"
P=$(pos "$LOGIN")
PO=$(pos "$OTHER")
echo "login code (through B) at position $P (accepted at $L), app other's job at $PO (accepted at $LO), broadcast of $N through A"
[ $((P - L)) -le "$BOUND" ] || fail "login code at position $P, $((P - L)) after it was accepted: behind the broadcast"
[ $((PO - LO)) -le "$BOUND" ] || fail "app other's job at position $PO, $((PO - LO)) after it was accepted: behind the broadcast"
sleep 0.5 # the sim writes its log in 100 ms batches: a duplicate would follow
[ "$(log_lines "$WORK/delivery.log")" = "$TOTAL" ] || fail "delivery log: $(log_lines "$WORK/delivery.log") lines, want $TOTAL"
[ "$(awk '{ print $2 }' "$WORK/delivery.log" | sort -u | wc -l)" = "$TOTAL" ] || fail "a token delivered twice"

GW_PID=$B_PID
stop_gw b
GW_PID=$A_PID
stop_gw a
echo "ok: the fleet's turn order by order of delivery"
