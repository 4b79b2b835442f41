#!/usr/bin/env bash
# gw_wait.sh - POST /v1/push?wait=SECONDS answers with each token's APNs
# result (docs/api.md "?wait=SECONDS"):
#   - a small job with one unregistered token: 200, complete, per-token
#     results in request order with their apns-ids (the notification's plus
#     the token index in the last 12 hex digits), the unregistered one
#     rejected 410 Unregistered with the sim's timestamp and dead_token "410";
#     a batch of two notifications is answered per notification;
#   - the same outcomes in GET /v1/notifications/{id} and the token in the
#     dead-token registry;
#   - the wait ends before APNs answers (a second app at a sim that answers
#     after 3 s, wait=1): 200 with complete false and every token pending;
#     the tokens are still delivered afterwards;
#   - ?wait=0 is an ordinary push (202).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw_lib.sh"

UNREG=$(gw_token 2)
TS=1764092701123
printf '%s %s\n' "$UNREG" "$TS" > "$WORK/unregistered.txt"
start_gw_sim slow --latency-ms 3000 --delivery-log "$WORK/slow.log"
SLOW_PORT=$SIM_PORT
start_gw_sim sim --unregistered "$WORK/unregistered.txt" --delivery-log "$WORK/delivery.log"
gw_config "$WORK/apnsd.ini" "$SIM_PORT" "$WORK/apnsd.db" "max_wait = 10s" "" "connections = 1"
# The second app ("other") goes to the slow sim.
sed -i "/^\[app $GW_APP2\]/,\$ s/^port = .*/port = $SLOW_PORT/" "$WORK/apnsd.ini"
start_gw gw "$WORK/apnsd.ini"
wait_ready

# derive BASE I : the apns-id of token I of a notification with apns-id BASE.
derive() {
  local base=${1,,} i=$2
  printf '%s%012x' "${base:0:24}" $(( (0x${base:24:12} + i) & 0xffffffffffff ))
}

# --- one notification, 4 tokens, the 3rd unregistered ---------------------------
api POST "/v1/push?wait=5" "$GW_KEY" -d "{\"app\":\"$GW_APP\",\"tokens\":$(gw_tokens 0 4),\"alert\":\"hi\"}"
[ "$ST" = 200 ] || fail "?wait=5: $ST $(cat "$WORK/body")"
cp "$WORK/body" "$WORK/wait1.json"
cat "$WORK/wait1.json"; echo
W=$WORK/wait1.json
ID=$(jv 'd["notifications"][0]["id"]' "$W")
BASE=$(jv 'd["notifications"][0]["apns_id"]' "$W")
[ "$(jv 'd["notifications"][0]["complete"]' "$W")" = true ] || fail "not complete"
[ "$(jv 'd["notifications"][0]["tokens"]' "$W")" = 4 ] || fail "tokens"
[ "$(jv 'len(d["notifications"][0]["results"])' "$W")" = 4 ] || fail "4 results wanted"
for i in 0 1 2 3; do
  r() { jv "d[\"notifications\"][0][\"results\"][$i]$1" "$W"; }
  [ "$(r '["token"]')" = "$(gw_token $i)" ] || fail "result $i: token $(r '')"
  [ "$(r '["apns_id"]')" = "$(derive "$BASE" $i)" ] || fail "result $i: apns_id $(r '["apns_id"]'), want $(derive "$BASE" $i)"
  if [ $i = 2 ]; then
    [ "$(jv "' '.join(str(d['notifications'][0]['results'][2].get(k)) for k in ('state', 'status', 'reason', 'timestamp_ms', 'dead_token'))" "$W")" = \
      "rejected 410 Unregistered $TS 410" ] || fail "result 2 (unregistered): $(r '')"
  else
    [ "$(r '["state"]')" = accepted ] || fail "result $i: $(r '')"
    [ "$(r '.get("status")')" != 410 ] || fail "result $i has a 410"
  fi
done
echo "ok: ?wait=5 -> 200 complete, 3 accepted, 1 rejected 410 Unregistered timestamp $TS"

# The status endpoint says the same.
api GET "/v1/notifications/$ID" "$GW_KEY"
[ "$ST" = 200 ] || fail "status $ST"
[ "$(jv '" ".join(str(v) for v in (d["state"], d["counts"]["accepted"], d["counts"]["rejected"], d["counts"]["pending"]))')" = \
  "partially_failed 3 1 0" ] || fail "status: $(cat "$WORK/body")"
[ "$(jv '" ".join(str(d["outcomes"][2].get(k)) for k in ("state", "status", "reason", "timestamp_ms"))')" = \
  "rejected 410 Unregistered $TS" ] || fail "status outcome 2: $(cat "$WORK/body")"
[ "$(jv 'd["outcomes"][0]["apns_id"]')" = "$BASE" ] || fail "status outcome 0 apns_id"
echo "ok: GET /v1/notifications/$ID agrees (partially_failed, 3 accepted, 1 rejected)"
# ... and the dead-token registry.
api GET "/v1/apps/$GW_APP/dead-tokens" "$GW_KEY"
[ "$(jv "' '.join(str(e.get(k)) for e in d['dead_tokens'] if e['token'] == '$UNREG' for k in ('source', 'reason', 'timestamp_ms'))")" = \
  "410 Unregistered $TS" ] || fail "dead tokens: $(cat "$WORK/body")"
echo "ok: the unregistered token is in the dead-token registry with timestamp $TS"

# --- a batch of two notifications, one with its own apns_id ------------------------
AID=0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0
api POST "/v1/push?wait=5" "$GW_KEY" -d "{\"notifications\":[
  {\"app\":\"$GW_APP\",\"token\":\"$(gw_token 10)\",\"alert\":\"one\"},
  {\"app\":\"$GW_APP\",\"tokens\":[\"$(gw_token 11)\",\"$UNREG\"],\"alert\":\"two\",\"apns_id\":\"$AID\"}]}"
[ "$ST" = 200 ] || fail "batch ?wait: $ST $(cat "$WORK/body")"
[ "$(jv '[n["complete"] for n in d["notifications"]]')" = "[true,true]" ] || fail "batch: $(cat "$WORK/body")"
[ "$(jv '" ".join(r["state"] + ":" + r["apns_id"] for r in d["notifications"][1]["results"])')" = \
  "accepted:$AID rejected:$(derive $AID 1)" ] || fail "batch results: $(cat "$WORK/body")"
echo "ok: a batch of two notifications with ?wait: per-notification results, the given apns_id used"

# --- the wait ends first --------------------------------------------------------------
T0=$(date +%s%N)
api POST "/v1/push?wait=1" "$GW_KEY2" -d "{\"app\":\"$GW_APP2\",\"tokens\":$(gw_tokens 20 2),\"alert\":\"slow\"}"
MS=$(( ($(date +%s%N) - T0) / 1000000 ))
[ "$ST" = 200 ] || fail "?wait=1 at the slow sim: $ST $(cat "$WORK/body")"
[ "$(jv '[d["notifications"][0]["complete"], [r["state"] for r in d["notifications"][0]["results"]]]')" = \
  '[false,["pending","pending"]]' ] || fail "?wait=1 at the slow sim: $(cat "$WORK/body")"
[ "$MS" -ge 900 ] && [ "$MS" -lt 2900 ] || fail "?wait=1 answered after $MS ms"
SLOW_ID=$(jv 'd["notifications"][0]["id"]')
echo "ok: ?wait=1 with APNs answering after 3 s -> 200 after $MS ms, complete false, both pending"
for _ in $(seq 100); do
  api GET "/v1/notifications/$SLOW_ID" "$GW_KEY2"
  [ "$(jv 'd["state"]')" = "done" ] && break
  sleep 0.1
done
[ "$(jv 'd["state"]')" = "done" ] || fail "the slow notification did not finish: $(cat "$WORK/body")"
sleep 0.3
[ "$(log_lines "$WORK/slow.log")" = 2 ] || fail "slow sim delivered $(log_lines "$WORK/slow.log"), want 2"
echo "ok: ... and both were delivered afterwards"

# --- ?wait=0 ----------------------------------------------------------------------------
api POST "/v1/push?wait=0" "$GW_KEY" -d "{\"app\":\"$GW_APP\",\"token\":\"$(gw_token 30)\",\"alert\":\"x\"}"
[ "$ST" = 202 ] && [ "$(jv 'd["notifications"][0].get("results", "none")')" = none ] ||
  fail "?wait=0: $ST $(cat "$WORK/body")"
echo "ok: ?wait=0 -> 202"
sleep 0.3
# Valid tokens of the first sim: 0,1,3 + 10,11 + 30 = 6 lines, the unregistered never.
[ "$(log_lines "$WORK/delivery.log")" = 6 ] || fail "delivery log has $(log_lines "$WORK/delivery.log") lines, want 6"
grep -q "$UNREG" "$WORK/delivery.log" && fail "the unregistered token was delivered"
stop_gw gw
echo "gw_wait: ?wait answers per-token results, Unregistered with its timestamp, pending when the wait ends"
rm -rf "$WORK"
