#!/usr/bin/env bash
# gw_poison.sh - jobs the API would refuse, planted straight into the SQLite
# store (a store written by an older apnsd, by hand, or corrupted), never
# crash-loop apnsd and never reach APNs:
#
#  A: expiration = 2^62 (the API answers 400 since issue 12; before, it was
#     stored, and `expiration * 1000` overflowed at every start: a sanitizer
#     abort, a crash loop) -> every token `failed`, reason
#     "invalid_expiration".
#  B: collapse_id "a\r\nx-evil: 1" (a header nghttp2 refuses; before, every
#     send was reset and the token burnt its retry budget over minutes) ->
#     every token final at once, never sent, with libapns's reason.
#
# Two jobs are pushed with send_at an hour ahead (so they stay queued),
# apnsd is stopped, the rows are changed with Python's sqlite3 module and
# made due, and apnsd is started again, twice: both jobs end final (no
# timing asserted: the test waits for the states), nothing of them is in the
# sim's delivery log, and apnsd keeps serving (a push with ?wait is
# accepted by the sim) and exits 0 on SIGTERM with no sanitizer report.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw_lib.sh"

start_gw_sim sim --delivery-log "$WORK/delivery.log"
gw_config "$WORK/apnsd.ini" "$SIM_PORT" "$WORK/apnsd.db" "" "" "connections = 1"
start_gw gw "$WORK/apnsd.ini"
wait_ready

LATER=$(( $(date +%s) + 3600 ))
api POST /v1/push "$GW_KEY" -d "{\"app\":\"$GW_APP\",\"tokens\":$(gw_tokens 0 2),\"alert\":\"A\",\"send_at\":$LATER}"
[ "$ST" = 202 ] || fail "push A: $ST $(cat "$WORK/body")"
ID_A=$(jv 'd["notifications"][0]["id"]')
api POST /v1/push "$GW_KEY" -d "{\"app\":\"$GW_APP\",\"tokens\":$(gw_tokens 10 3),\"alert\":\"B\",\"collapse_id\":\"ok\",\"send_at\":$LATER}"
[ "$ST" = 202 ] || fail "push B: $ST $(cat "$WORK/body")"
ID_B=$(jv 'd["notifications"][0]["id"]')
stop_gw gw

python3 - "$WORK/apnsd.db" "$ID_A" "$ID_B" <<'EOF'
import sqlite3, sys, time
db, a, b = sys.argv[1:]
now = int(time.time() * 1000)
c = sqlite3.connect(db)
for uid, col, val in ((a, "expiration", 1 << 62), (b, "collapse_id", "a\r\nx-evil: 1")):
    n = c.execute("UPDATE job SET %s=?, send_at=? WHERE uid=?" % col, (val, now, uid)).rowcount
    assert n == 1, "no job %s" % uid
    c.execute("UPDATE chunk SET next_at=? WHERE job=(SELECT id FROM job WHERE uid=?)", (now, uid))
c.commit()
EOF
echo "ok: planted job $ID_A (expiration 2^62) and $ID_B (collapse_id with CR LF)"

# wait_final ID : until the job has no pending or retrying token (60 s); its
# status is then in $WORK/body.
wait_final() {
  for _ in $(seq 300); do
    kill -0 "$GW_PID" 2>/dev/null || { tail -20 "$WORK/gw.err" >&2; fail "apnsd died"; }
    api GET "/v1/notifications/$1" "$GW_KEY"
    [ "$ST" = 200 ] && [ "$(jv 'd["counts"]["pending"] + d["counts"]["retrying"]')" = 0 ] && return 0
    sleep 0.2
  done
  fail "job $1 not final after 60 s: $(cat "$WORK/body")"
}
SUM='"%s failed=%s accepted=%s reasons=%s" % (d["state"], d["counts"]["failed"], d["counts"]["accepted"], ",".join(o.get("reason") or "-" for o in d["outcomes"]))'

for run in 1 2; do
  start_gw gw "$WORK/apnsd.ini"
  wait_ready
  wait_final "$ID_A"
  GOT=$(jv "$SUM")
  [ "$GOT" = "failed failed=2 accepted=0 reasons=invalid_expiration,invalid_expiration" ] ||
    fail "run $run: job A (expiration 2^62): $GOT"
  echo "ok: run $run: job A: $GOT"
  wait_final "$ID_B"
  GOT=$(jv "$SUM")
  case $GOT in
    *" accepted=0 reasons=APNS_ECOLLAPSEID,APNS_ECOLLAPSEID,APNS_ECOLLAPSEID") ;;
    *) fail "run $run: job B (collapse_id with CR LF): $GOT" ;;
  esac
  echo "ok: run $run: job B: $GOT"
  # Still serving, and still sending.
  api POST "/v1/push?wait=10" "$GW_KEY" -d "{\"app\":\"$GW_APP\",\"token\":\"$(gw_token $((100 + run)))\",\"alert\":\"after\"}"
  [ "$ST" = 200 ] && [ "$(jv 'd["notifications"][0]["results"][0]["state"]')" = accepted ] ||
    fail "run $run: a valid push after the planted jobs: $ST $(cat "$WORK/body")"
  stop_gw gw
done
grep -q 'job cannot be sent (expiration out of range)' "$WORK/gw.err" || fail "no error line for job A"
for i in 0 1 10 11 12; do
  ! grep -q "$(gw_token "$i")" "$WORK/delivery.log" || fail "token $i of a planted job reached APNs"
done
grep -q "$(gw_token 101)" "$WORK/delivery.log" || fail "the valid push is not in the delivery log"
echo "gw_poison: planted jobs end final with a reason, never sent, no crash loop; apnsd serves"
