#!/usr/bin/env bash
# gw_signals.sh - apnsd's signals (docs/operations.md):
#
# SIGTERM drains. The sim answers after 6 s (--latency-ms 6000) and the app
# holds at most 1500 in flight, so when SIGTERM comes, about 1500 are in
# flight and the drain lasts up to 6 s: long enough to ask apnsd during it,
# however loaded the machine is.
# During the drain POST /v1/push answers 503 "draining", reads still answer 200, /readyz 503.
# apnsd exits 0 within drain_timeout (20 s) and logs "stopped". Restarted on
# the same database it sends the rest: every token in the delivery log
# exactly once (a clean drain records every answer it got: no duplicates).
#
# SIGHUP reloads. An API key is added to the config and SIGHUP sent: the new
# key is accepted (the old one still is), the app is logged as "updated", and
# no connection to the sim is dropped or added (the sim's connection counter
# and apnsd_connections{state="up"} are unchanged) — for the updated app and
# the unchanged one. A config with an error is refused and changes nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw_lib.sh"

N=6000
start_gw_sim sim --latency-ms 6000 --delivery-log "$WORK/delivery.log"
SIM_ERR=$WORK/sim.err
# At most 1500 in flight: with the sim's 6 s latency the 6,000 take 24 s or
# more, so SIGTERM finds work in flight however slow this machine is today.
APP_X=$'connections = 2\nmax_in_flight = 1500'
gw_config "$WORK/apnsd.ini" "$SIM_PORT" "$WORK/apnsd.db" "drain_timeout = 20s" "" "$APP_X"
start_gw gw "$WORK/apnsd.ini"
wait_ready

# 6,000 tokens in 3 requests of 2000 (bodies made first: pushed back to back).
for r in 0 1 2; do
  printf '{"app":"%s","alert":"drain %s","tokens":%s}' "$GW_APP" "$r" "$(gw_tokens $((r * 2000)) 2000)" > "$WORK/req$r.json"
done
for r in 0 1 2; do
  api POST /v1/push "$GW_KEY" --data-binary @"$WORK/req$r.json"
  [ "$ST" = 202 ] || fail "push $r: $ST $(cat "$WORK/body")"
  IDS[$r]=$(jv 'd["notifications"][0]["id"]')
done

# --- SIGTERM with work in flight ------------------------------------------------
for _ in $(seq 600); do [ "$(log_lines "$WORK/delivery.log")" -ge 1500 ] && break; sleep 0.05; done
INFLIGHT=$(metric 'apnsd_in_flight{app="shop"}')
T0=$(date +%s%N)
kill -TERM "$GW_PID"
sleep 0.2
api POST /v1/push "$GW_KEY" -d "{\"app\":\"$GW_APP\",\"token\":\"$(gw_token 99999)\",\"alert\":\"late\"}"
[ "$ST" = 503 ] && [ "$(jv 'd["error"]["code"]')" = draining ] || fail "push while draining: $ST $(cat "$WORK/body")"
# /readyz first: the drain ends when the in-flight answers are in (one sim
# latency, 6 s), and a status read on a loaded machine can take seconds.
api GET /readyz -
[ "$ST" = 503 ] && grep -q draining "$WORK/body" || fail "/readyz while draining: $ST $(cat "$WORK/body")"
api GET "/v1/notifications/${IDS[0]}" "$GW_KEY"
[ "$ST" = 200 ] || fail "status read while draining: $ST"
echo "ok: while draining: push 503 draining, reads 200, /readyz 503"
set +e
wait "$GW_PID"
RC=$?
set -e
MS=$(( ($(date +%s%N) - T0) / 1000000 ))
[ "$RC" = 0 ] || fail "apnsd exited $RC after SIGTERM, want 0"
[ "$MS" -lt 20000 ] || fail "the drain took $MS ms, drain_timeout is 20 s"
grep -q 'msg=stopped' "$WORK/gw.err" || fail "no 'stopped' log line"
grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$WORK/gw.err" && fail "sanitizer report in apnsd's log"
sleep 0.3
DONE1=$(log_lines "$WORK/delivery.log")
[ "$DONE1" -lt "$N" ] || fail "everything was delivered before SIGTERM: nothing tested"
echo "ok: SIGTERM with $INFLIGHT in flight: exit 0 after $MS ms; $DONE1 of $N delivered"

start_gw gw2 "$WORK/apnsd.ini"
wait_depth 0 60
sleep 0.3
for r in 0 1 2; do
  api GET "/v1/notifications/${IDS[$r]}" "$GW_KEY"
  [ "$(jv 'd["state"] + " " + str(d["counts"]["accepted"])')" = "done 2000" ] || fail "job $r: $(cat "$WORK/body")"
done
LINES=$(log_lines "$WORK/delivery.log")
UNIQ=$(awk '{ print $2 }' "$WORK/delivery.log" | sort -u | wc -l)
UNIQ_IDS=$(awk '{ print $1 }' "$WORK/delivery.log" | sort -u | wc -l)
[ "$UNIQ" = "$N" ] || fail "$UNIQ distinct tokens delivered, want $N"
[ "$LINES" = "$N" ] || fail "$LINES deliveries for $N tokens: $((LINES - N)) duplicates after a clean drain"
[ "$UNIQ_IDS" = "$N" ] || fail "$UNIQ_IDS distinct apns-ids, want $N"
echo "ok: restarted: all $N delivered exactly once ($DONE1 before the drain, $((N - DONE1)) after)"

# --- SIGHUP: add an API key -----------------------------------------------------------
NEWKEY=shop-second-key-9876543210
kill -USR1 "$SIM_PID"; sleep 0.3
grep '^{"connections"' "$SIM_ERR" | tail -1 > "$WORK/counters.json"
CONN0=$(jv 'd["connections"]' "$WORK/counters.json")
UP0=$(metric 'apnsd_connections{app="shop",state="up"}')
UP0B=$(metric 'apnsd_connections{app="other",state="up"}')
api POST /v1/push "$NEWKEY" -d "{\"app\":\"$GW_APP\",\"token\":\"$(gw_token 50000)\",\"alert\":\"x\"}"
[ "$ST" = 401 ] || fail "the new key works before the reload: $ST"
gw_config "$WORK/apnsd.ini" "$SIM_PORT" "$WORK/apnsd.db" "drain_timeout = 20s" "" "$APP_X" "$GW_KEY, $NEWKEY"
kill -HUP "$GW_PID"
for _ in $(seq 50); do grep -q 'app reloaded' "$WORK/gw2.err" && break; sleep 0.1; done
grep 'app reloaded' "$WORK/gw2.err" | grep -q 'app=shop' || fail "no 'app reloaded app=shop' line: $(tail -5 "$WORK/gw2.err")"
grep 'app reloaded' "$WORK/gw2.err" | grep 'app=shop' | grep -q 'change=updated' ||
  fail "the key change was not an in-place update: $(grep 'app reloaded' "$WORK/gw2.err")"
grep 'app reloaded' "$WORK/gw2.err" | grep -q 'app=other' && fail "the unchanged app was reloaded: $(grep 'app reloaded' "$WORK/gw2.err")"
api POST "/v1/push?wait=15" "$NEWKEY" -d "{\"app\":\"$GW_APP\",\"token\":\"$(gw_token 50000)\",\"alert\":\"x\"}"
[ "$ST" = 200 ] && [ "$(jv 'd["notifications"][0]["results"][0]["state"]')" = accepted ] ||
  fail "push with the added key: $ST $(cat "$WORK/body")"
api POST "/v1/push?wait=15" "$GW_KEY" -d "{\"app\":\"$GW_APP\",\"token\":\"$(gw_token 50001)\",\"alert\":\"x\"}"
[ "$ST" = 200 ] || fail "the old key stopped working: $ST"
api POST /v1/push "$GW_KEY2" -d "{\"app\":\"$GW_APP2\",\"token\":\"$(gw_token 50002)\",\"alert\":\"x\"}"
[ "$ST" = 202 ] || fail "the unchanged app: $ST"
sleep 1.2 # connection gauges refresh every second
kill -USR1 "$SIM_PID"; sleep 0.3
grep '^{"connections"' "$SIM_ERR" | tail -1 > "$WORK/counters.json"
CONN1=$(jv 'd["connections"]' "$WORK/counters.json")
UP1=$(metric 'apnsd_connections{app="shop",state="up"}')
UP1B=$(metric 'apnsd_connections{app="other",state="up"}')
[ "$CONN1" = "$CONN0" ] || fail "the sim saw $((CONN1 - CONN0)) new connections across the reload"
[ "$UP1" = "$UP0" ] && [ "$UP1B" = "$UP0B" ] || fail "connections up: shop $UP0 -> $UP1, other $UP0B -> $UP1B"
echo "ok: SIGHUP added an API key: accepted at once; sim connections stay $CONN1 (shop up $UP1, other up $UP1B)"

# A broken config is refused; the running one stays.
cp "$WORK/apnsd.ini" "$WORK/good.ini"
printf '\n[app broken]\ntopic = x\n' >> "$WORK/apnsd.ini"
kill -HUP "$GW_PID"
for _ in $(seq 50); do grep -q 'reload refused' "$WORK/gw2.err" && break; sleep 0.1; done
grep -q 'reload refused' "$WORK/gw2.err" || fail "no 'reload refused' line for a broken config"
api POST /v1/push "$NEWKEY" -d "{\"app\":\"$GW_APP\",\"token\":\"$(gw_token 50003)\",\"alert\":\"x\"}"
[ "$ST" = 202 ] || fail "after a refused reload: $ST"
kill -0 "$GW_PID" || fail "apnsd died on a broken reload"
echo "ok: a broken config on SIGHUP is refused, apnsd keeps serving"

stop_gw gw2
echo "gw_signals: SIGTERM drains and exits 0, the restart finishes the rest exactly once; SIGHUP adds a key without touching connections"
rm -rf "$WORK"
