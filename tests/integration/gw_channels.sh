#!/usr/bin/env bash
# gw_channels.sh - Live Activity broadcast channels as apnsd resources,
# against apns-sim's channel-management service (--manage-listen):
#   create (201, the record fsync'd), list, get (percent-encoded base64 id),
#   apnsd's own bound ([app] max_channels: refused before APNs is asked, the
#   error naming CannotCreateChannelConfig), APNs' own limit (the sim's
#   --channel-limit: APNs' 400 CannotCreateChannelConfig as 409
#   channel_limit), records surviving a restart, delete (APNs, then the
#   record; an unknown id 404), sync (channels made elsewhere recorded,
#   records of channels APNs no longer has removed), an app without
#   manage_port (400 channels_unavailable).
# Expected statuses and codes: docs/api.md (channels); APNs' reason:
# tests/golden/broadcast-reasons.tsv (CannotCreateChannelConfig at the limit).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw_lib.sh"

GOLDEN=$(dirname "$0")/../golden/broadcast-reasons.tsv
[ "$(awk -F'\t' '$2 == "CannotCreateChannelConfig" { print $1 }' "$GOLDEN")" = 400 ] ||
  fail "broadcast-reasons.tsv: CannotCreateChannelConfig is not a 400"

start_gw_sim sim --manage-listen 127.0.0.1:0 --broadcast-topics "$GW_TOPIC" --channel-limit 3
for _ in $(seq 100); do grep -q "manage listening on" "$WORK/sim.out" && break; sleep 0.1; done
MPORT=$(sed -n 's/.*manage listening on .*:\([0-9]*\)$/\1/p' "$WORK/sim.out" | head -1)
[ -n "$MPORT" ] || fail "apns-sim printed no manage port: $(cat "$WORK/sim.out")"

enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
C=/v1/apps/$GW_APP/channels

# ---- 1: apnsd's own bound (max_channels = 2; the sim allows 3) ------------
gw_config "$WORK/a.ini" "$SIM_PORT" "$WORK/a.db" "" "" $'manage_port = '"$MPORT"$'\nmax_channels = 2'
start_gw gw1 "$WORK/a.ini"
wait_ready
api POST "$C" "$GW_KEY" -d '{"storage_policy":1,"label":"match 42"}'
[ "$ST" = 201 ] || fail "create: $ST $(cat "$WORK/body")"
A=$(jv 'd["id"]')
[ -n "$A" ] && [ "$(jv 'd["label"]')" = "match 42" ] && [ "$(jv 'd["storage_policy"]')" = 1 ] &&
  [ "$(jv 'd["environment"]')" = custom ] || fail "create answer: $(cat "$WORK/body")"
api POST "$C" "$GW_KEY" -d '{"storage_policy":0}'
[ "$ST" = 201 ] || fail "create 2: $ST $(cat "$WORK/body")"
B=$(jv 'd["id"]')
api POST "$C" "$GW_KEY" -d '{"storage_policy":0}'
[ "$ST" = 409 ] && [ "$(jv 'd["error"]["code"]')" = channel_limit ] ||
  fail "3rd create over max_channels: $ST $(cat "$WORK/body")"
jv 'd["error"]["message"]' | grep -q CannotCreateChannelConfig || fail "no CannotCreateChannelConfig: $(cat "$WORK/body")"
api GET "$C" "$GW_KEY"
[ "$ST" = 200 ] && [ "$(jv 'd["count"]')" = 2 ] && [ "$(jv 'd["max"]')" = 2 ] ||
  fail "list: $ST $(cat "$WORK/body")"
api GET "$C/$(enc "$A")" "$GW_KEY"
[ "$ST" = 200 ] && [ "$(jv 'd["id"]')" = "$A" ] && [ "$(jv 'd["label"]')" = "match 42" ] ||
  fail "get: $ST $(cat "$WORK/body")"
api GET "$C/bm9uZQ%3D%3D" "$GW_KEY"
[ "$ST" = 404 ] || fail "get unknown: $ST $(cat "$WORK/body")"
api GET "/v1/apps/$GW_APP2/channels" "$GW_KEY2"
[ "$ST" = 200 ] && [ "$(jv 'd["count"]')" = 0 ] || fail "other app's list: $ST $(cat "$WORK/body")"
api POST "/v1/apps/$GW_APP2/channels" "$GW_KEY2" -d '{"storage_policy":1}'
[ "$ST" = 400 ] && [ "$(jv 'd["error"]["code"]')" = channels_unavailable ] ||
  fail "app without manage_port: $ST $(cat "$WORK/body")"
api POST "$C" "$GW_KEY" -d '{"label":"x"}'
[ "$ST" = 400 ] && [ "$(jv 'd["error"]["field"]')" = storage_policy ] || fail "no policy: $ST $(cat "$WORK/body")"
api POST "$C" "$GW_KEY2" -d '{"storage_policy":1}'
[ "$ST" = 403 ] || fail "another app's key: $ST"
# APNs holds exactly the two: the refused create never reached it.
api POST "$C:sync" "$GW_KEY"
[ "$ST" = 200 ] && [ "$(jv 'd["channels"]')" = 2 ] && [ "$(jv 'd["added"]')" = 0 ] &&
  [ "$(jv 'd["removed"]')" = 0 ] || fail "sync 1: $ST $(cat "$WORK/body")"
stop_gw gw1

# ---- 2: APNs' limit (max_channels default 10000; the sim allows 3) --------
gw_config "$WORK/a.ini" "$SIM_PORT" "$WORK/a.db" "" "" "manage_port = $MPORT"
start_gw gw2 "$WORK/a.ini"
wait_ready
api GET "$C" "$GW_KEY"
[ "$(jv 'd["count"]')" = 2 ] || fail "records lost across a restart: $(cat "$WORK/body")"
api POST "$C" "$GW_KEY" -d '{"storage_policy":1,"label":"third"}'
[ "$ST" = 201 ] || fail "create 3: $ST $(cat "$WORK/body")"
api POST "$C" "$GW_KEY" -d '{"storage_policy":1}'
[ "$ST" = 409 ] && [ "$(jv 'd["error"]["code"]')" = channel_limit ] ||
  fail "create past APNs' limit: $ST $(cat "$WORK/body")"
jv 'd["error"]["message"]' | grep -q "APNs answered 400 CannotCreateChannelConfig" ||
  fail "APNs' reason not named: $(cat "$WORK/body")"
stop_gw gw2

# ---- 3: sync from a fresh store, delete, sync back ------------------------
gw_config "$WORK/b.ini" "$SIM_PORT" "$WORK/b.db" "" "" "manage_port = $MPORT"
start_gw gw3 "$WORK/b.ini"
wait_ready
api POST "$C:sync" "$GW_KEY"
[ "$ST" = 200 ] && [ "$(jv 'd["added"]')" = 3 ] && [ "$(jv 'd["removed"]')" = 0 ] ||
  fail "sync into a fresh store: $ST $(cat "$WORK/body")"
api GET "$C/$(enc "$B")" "$GW_KEY"
[ "$ST" = 200 ] && [ "$(jv 'd["storage_policy"]')" = null ] && [ "$(jv 'd["label"]')" = null ] ||
  fail "a synced record: $ST $(cat "$WORK/body")"
api DELETE "$C/$(enc "$B")" "$GW_KEY"
[ "$ST" = 204 ] || fail "delete: $ST $(cat "$WORK/body")"
api DELETE "$C/$(enc "$B")" "$GW_KEY"
[ "$ST" = 404 ] || fail "delete again: $ST $(cat "$WORK/body")"
api GET "$C" "$GW_KEY"
[ "$(jv 'd["count"]')" = 2 ] || fail "after delete: $(cat "$WORK/body")"
stop_gw gw3
gw_config "$WORK/a.ini" "$SIM_PORT" "$WORK/a.db" "" "" "manage_port = $MPORT"
start_gw gw4 "$WORK/a.ini"
wait_ready
api POST "$C:sync" "$GW_KEY"
[ "$ST" = 200 ] && [ "$(jv 'd["added"]')" = 0 ] && [ "$(jv 'd["removed"]')" = 1 ] &&
  [ "$(jv 'd["channels"]')" = 2 ] || fail "sync after a delete elsewhere: $ST $(cat "$WORK/body")"
api GET "$C/$(enc "$A")" "$GW_KEY"
[ "$ST" = 200 ] && [ "$(jv 'd["label"]')" = "match 42" ] || fail "kept record: $ST $(cat "$WORK/body")"
stop_gw gw4
echo "gw_channels: create, own bound, APNs' limit, get, list, delete, sync, restart: as documented"
