#!/usr/bin/env bash
# gw_fair.sh - scheduling fairness, judged by ORDER OF DELIVERY (apns-sim's
# delivery log, one line per notification in the order the sim answered
# them), never by time (docs/queue.md, Scheduling):
#   1. a broadcast of N tokens (200,000; 20,000 under the sanitizers) of app
#      shop, then a one-token login code of the same app and a batch of 20
#      one-token jobs of app other, all due at the same second (send_at): the login
#      code is among the first two chunks (chunk_tokens = 1000) delivered,
#      every job of other among the first three, not after the broadcast;
#   2. a second broadcast of N tokens sent at once, and as soon as its 202
#      came, a login code and a job of other: each delivered within 10
#      chunks of the moment it was accepted (the old order sent them after
#      all of the broadcast);
#   and nothing lost or sent twice: every token once in the log.
# The bounds are the rule's, not the broadcast's size: a first chunk waits
# only for first chunks due before it and the chunks the dispatcher already
# holds; N only makes "after the broadcast" far away.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw_lib.sh"

N=200000
[ "${APNS_IT_SMALL:-0}" = 1 ] && N=20000
CT=1000 # [queue] chunk_tokens (the default)
M=20    # jobs of app other

start_gw_sim sim --delivery-log "$WORK/delivery.log"
gw_config "$WORK/apnsd.ini" "$SIM_PORT" "$WORK/apnsd.db" "" "chunk_tokens = $CT" "connections = 1"
start_gw gw "$WORK/apnsd.ini"
wait_ready

# bodies SEND_AT SPEC... : writes push bodies in one python3 run (its start is
# slow on a loaded machine), each SPEC "FILE APP FIRST COUNT [JOBS]": COUNT
# tokens from gw_token FIRST (or JOBS one-token notifications from FIRST, one
# batch), with send_at SEND_AT: 0 none, "+S" S seconds after the bodies are
# made (printed).
bodies() {
  python3 - "$@" <<'EOF'
import json, sys, time
def tok(i): return "a1b2c3d4%056x" % i
docs = []
for spec in sys.argv[2:]:
    f, app, first, n, *jobs = spec.split()
    first, n = int(first), int(n)
    if jobs:
        d = {"notifications": [{"app": app, "token": tok(first + k), "alert": "hi"} for k in range(int(jobs[0]))]}
    else:
        d = {"app": app, "tokens": [tok(i) for i in range(first, first + n)], "alert": "hi"}
    docs.append((f, d))
at = sys.argv[1]
at = int(time.time()) + int(at[1:]) if at.startswith("+") else int(at)
for f, d in docs:
    for x in d.get("notifications", [d]):
        if at:
            x["send_at"] = at
    json.dump(d, open(f, "w"))
print(at)
EOF
}

push_file() { # push_file FILE KEY : one POST /v1/push of FILE, 202 wanted
  api POST /v1/push "$2" -H 'Content-Type: application/json' --data-binary "@$1"
  [ "$ST" = 202 ] || fail "push $1: $ST $(head -c 300 "$WORK/body")"
}

# pos TOKEN_INDEX [FROM_LINE] : the delivery-log line of gw_token INDEX
# (counted from FROM_LINE, 0 = the start); fails when it is not there once.
pos() {
  local t n
  t=$(gw_token "$1")
  n=$(awk -v t="$t" -v from="${2:-0}" 'NR > from && $2 == t { c++; p = NR - from } END { print c + 0 " " p + 0 }' "$WORK/delivery.log")
  [ "${n% *}" = 1 ] || fail "token $1 delivered ${n% *} times"
  echo "${n#* }"
}

wait_lines() { # wait_lines N : until the delivery log has N lines (300 s)
  for _ in $(seq 3000); do [ "$(log_lines "$WORK/delivery.log")" -ge "$1" ] && return 0; sleep 0.1; done
  fail "delivery log has $(log_lines "$WORK/delivery.log") lines, want $1"
}

LOGIN=9000000
OTHER=8000000

# --- 1. all due at the same second ---------------------------------------------------
T=$(bodies +10 "$WORK/bc1.json $GW_APP 0 $N" "$WORK/login1.json $GW_APP $LOGIN 1" \
  "$WORK/other1.json $GW_APP2 $OTHER 1 $M")
push_file "$WORK/bc1.json" "$GW_KEY"
push_file "$WORK/login1.json" "$GW_KEY"
push_file "$WORK/other1.json" "$GW_KEY2"
[ "$(log_lines "$WORK/delivery.log")" = 0 ] || fail "sent before send_at"
[ "$(date +%s)" -lt "$T" ] || fail "submitting took past send_at: the order is not tested (a slow machine?)"
TOTAL1=$((N + 1 + M))
wait_lines "$TOTAL1"
P=$(pos "$LOGIN")
echo "1. login code delivered at position $P of $TOTAL1 (broadcast of $N first)"
[ "$P" -le $((2 * CT)) ] || fail "login code at position $P: not within the first two chunks"
MAXO=0
for ((k = 0; k < M; k++)); do
  p=$(pos $((OTHER + k)))
  [ "$p" -gt "$MAXO" ] && MAXO=$p
done
echo "1. app other's $M jobs delivered by position $MAXO"
[ "$MAXO" -le $((3 * CT)) ] || fail "a job of app other at position $MAXO: not interleaved from the start"

# --- 2. behind a broadcast that is already being sent ------------------------------
bodies 0 >/dev/null "$WORK/bc2.json $GW_APP 1000000 $N" "$WORK/login2.json $GW_APP $((LOGIN + 1)) 1" \
  "$WORK/o2.json $GW_APP2 $((OTHER + M)) 1"
# Judged from the moment each was accepted (the delivery log's length when
# its 202 came; the log may lag, which only makes the count larger): a
# driver slowed by a loaded machine lets the broadcast run on before it
# submits, and that is not the scheduler's doing. At most 10 chunks go out
# after it: the ones the dispatcher held (its lease cap), the window in
# flight and one lease slot an aged chunk may take.
push_file "$WORK/bc2.json" "$GW_KEY"
push_file "$WORK/login2.json" "$GW_KEY"
L2=$(($(log_lines "$WORK/delivery.log") - TOTAL1))
push_file "$WORK/o2.json" "$GW_KEY2"
LO=$(($(log_lines "$WORK/delivery.log") - TOTAL1))
wait_lines $((TOTAL1 + N + 2))
P=$(pos $((LOGIN + 1)) "$TOTAL1")
PO=$(pos $((OTHER + M)) "$TOTAL1")
echo "2. login code at position $P (accepted at $L2), app other's job at $PO (accepted at $LO) of the second broadcast's $N"
[ $((P - L2)) -le $((10 * CT)) ] || fail "login code at position $P, $((P - L2)) after it was accepted: behind the broadcast"
[ $((PO - LO)) -le $((10 * CT)) ] || fail "app other's job at position $PO, $((PO - LO)) after it was accepted: behind the broadcast"

# Zero loss, no duplicate: every token once.
[ "$(log_lines "$WORK/delivery.log")" = $((TOTAL1 + N + 2)) ] || fail "delivery log: $(log_lines "$WORK/delivery.log") lines"
[ "$(awk '{ print $2 }' "$WORK/delivery.log" | sort -u | wc -l)" = $((TOTAL1 + N + 2)) ] || fail "a token delivered twice"
stop_gw gw

# --- 3. behind chunks the app already holds ----------------------------------------
# A sim that answers after 700 ms and shop's in-flight window of 100 (a
# chunk takes 7 s, so the held chunks have aged when the first is done): the
# dispatcher holds its most chunks of a broadcast of 10 (8: its cap) when
# the login code comes. The login code is leased when the first chunk is
# done, or one slot later when the age rule gives that slot to one of the
# broadcast's chunks (by then due for 5 s: aged chunks take at most every
# other slot), and is sent next, before the held chunks, aged or not (a
# first chunk passes aged chunks where no first chunk stands before them):
# within the first three chunks (the first, at most one leased before it,
# and the window of the next already sent), not after the eighth.
start_gw_sim slow --latency-ms 700 --delivery-log "$WORK/slow.log"
gw_config "$WORK/slow.ini" "$SIM_PORT" "$WORK/slow.db" "" "chunk_tokens = $CT" "connections = 1
max_in_flight = 100"
start_gw gw3 "$WORK/slow.ini"
wait_ready
bodies 0 >/dev/null "$WORK/bc3.json $GW_APP 2000000 $((10 * CT))" "$WORK/login3.json $GW_APP $((LOGIN + 2)) 1"
push_file "$WORK/bc3.json" "$GW_KEY"
push_file "$WORK/login3.json" "$GW_KEY"
T3=$(gw_token $((LOGIN + 2)))
for _ in $(seq 1200); do grep -q " $T3 " "$WORK/slow.log" 2>/dev/null && break; sleep 0.1; done
P=$(awk -v t="$T3" '$2 == t { print NR; exit }' "$WORK/slow.log")
[ -n "$P" ] || fail "login code not delivered behind the held chunks"
echo "3. login code at position $P behind a broadcast whose chunks the app held"
[ "$P" -le $((3 * CT)) ] || fail "login code at position $P: after the chunks the app held"
stop_gw gw3
echo "ok: fairness by order of delivery"
