#!/usr/bin/env bash
# gw_channel_publish.sh - channel publishes (iOS 18 Live Activity broadcasts)
# through apnsd, end to end against apns-sim:
#   - refused at the door: a channel apnsd has no record of (404
#     channel_not_found, naming :sync), "event":"start" (a broadcast cannot
#     start an activity: 400), a channel with tokens, a topic, a non-zero
#     expiration on a storage-policy-0 channel (APNs: BadExpirationDate);
#   - N updates (1000; 200 under the sanitizers) published to one channel
#     through publish_host = broadcast (the app's second client) while the
#     sim sends GOAWAY every 100 streams and answers 5% with 503: exactly N
#     `broadcast <channel>` lines in the delivery log, N distinct request
#     ids (none lost, none twice), every job's status final and accepted
#     naming the channel, apnsd_channel_publishes_total{result="accepted"}
#     = N, no dead token;
#   - ?wait answers the channel publish's result naming its channel;
#   - SQLite: publishes stored before a restart (send_at ahead, SIGTERM) are
#     sent by the next apnsd.
# Statuses and reasons: docs/api.md; Apple's rules: tests/golden/
# live-activity.tsv (a channel target never starts), broadcast-reasons.tsv.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw_lib.sh"

N=1000
[ "${APNS_IT_SMALL:-0}" = 1 ] && N=200
GOLDEN=$(dirname "$0")/../golden
[ "$(awk -F'\t' '$2 == "BadExpirationDate" { print $1 }' "$GOLDEN/broadcast-reasons.tsv")" = 400 ] ||
  fail "broadcast-reasons.tsv: BadExpirationDate is not a 400"

LOG=$WORK/delivery.log
start_gw_sim sim --manage-listen 127.0.0.1:0 --broadcast-topics "$GW_TOPIC" \
  --delivery-log "$LOG" --goaway-every 100 --fail-rate 503:0.05
for _ in $(seq 100); do grep -q "manage listening on" "$WORK/sim.out" && break; sleep 0.1; done
MPORT=$(sed -n 's/.*manage listening on .*:\([0-9]*\)$/\1/p' "$WORK/sim.out" | head -1)
[ -n "$MPORT" ] || fail "apns-sim printed no manage port: $(cat "$WORK/sim.out")"

APPX=$'manage_port = '"$MPORT"$'\npublish_host = broadcast\nretry_backoff = 20ms\nretry_backoff_max = 1s\nretry_attempts = 10'
gw_config "$WORK/a.ini" "$SIM_PORT" "$WORK/a.db" "max_wait = 30s" "" "$APPX"
start_gw gw1 "$WORK/a.ini"
wait_ready

api POST "/v1/apps/$GW_APP/channels" "$GW_KEY" -d '{"storage_policy":1,"label":"match 42"}'
[ "$ST" = 201 ] || fail "create: $ST $(cat "$WORK/body")"
CH=$(jv 'd["id"]')
api POST "/v1/apps/$GW_APP/channels" "$GW_KEY" -d '{"storage_policy":0}'
[ "$ST" = 201 ] || fail "create (policy 0): $ST $(cat "$WORK/body")"
CH0=$(jv 'd["id"]')

# update N: a score update as the worked example in docs/api.md publishes it
upd() {
  printf '{"app":"%s","channel":"%s","live_activity":{"event":"update","content_state":{"home":%d,"away":0}}%s}' \
    "$GW_APP" "$1" "$2" "${3:-}"
}

# ---- refused at the door ------------------------------------------------
api POST /v1/push "$GW_KEY" -d "$(upd bm9uZQ== 1)"
[ "$ST" = 404 ] && [ "$(jv 'd["error"]["code"]')" = channel_not_found ] &&
  [ "$(jv 'd["error"]["field"]')" = channel ] || fail "unknown channel: $ST $(cat "$WORK/body")"
jv 'd["error"]["message"]' | grep -q "channels:sync" || fail "404 names no sync: $(cat "$WORK/body")"
api POST /v1/push "$GW_KEY" -d "{\"app\":\"$GW_APP\",\"channel\":\"$CH\",\"live_activity\":{\"event\":\"start\",\"content_state\":{},\"attributes_type\":\"Match\",\"attributes\":{},\"timestamp\":1}, \"alert\":{\"title\":\"x\"}}"
[ "$ST" = 400 ] && [ "$(jv 'd["error"]["code"]')" = bad_payload ] || fail "event start: $ST $(cat "$WORK/body")"
api POST /v1/push "$GW_KEY" -d "$(upd "$CH" 1 ",\"tokens\":[\"$(gw_token 1)\"]")"
[ "$ST" = 400 ] && [ "$(jv 'd["error"]["field"]')" = tokens ] || fail "channel and tokens: $ST $(cat "$WORK/body")"
api POST /v1/push "$GW_KEY" -d "$(upd "$CH" 1 ",\"topic\":\"$GW_TOPIC\"")"
[ "$ST" = 400 ] && [ "$(jv 'd["error"]["field"]')" = topic ] || fail "channel and topic: $ST $(cat "$WORK/body")"
api POST /v1/push "$GW_KEY" -d "$(upd "$CH0" 1 ',"expiration":4102444800')"
[ "$ST" = 400 ] && [ "$(jv 'd["error"]["field"]')" = expiration ] || fail "policy 0, expiration: $ST $(cat "$WORK/body")"
jv 'd["error"]["message"]' | grep -q BadExpirationDate || fail "no BadExpirationDate: $(cat "$WORK/body")"
# In a batch the first bad one is named with its index; nothing is stored.
api POST /v1/push "$GW_KEY" -d "{\"notifications\":[$(upd "$CH" 1),$(upd bm9uZQ== 2)]}"
[ "$ST" = 404 ] && [ "$(jv 'd["error"]["field"]')" = "notifications[1].channel" ] ||
  fail "batch with an unknown channel: $ST $(cat "$WORK/body")"
[ "$(log_lines "$LOG")" = 0 ] || fail "a refused publish reached the sim"

# ---- ?wait: the result names the channel ----------------------------------
api POST "/v1/push?wait=20" "$GW_KEY" -d "$(upd "$CH0" 0)"
[ "$ST" = 200 ] && [ "$(jv 'd["notifications"][0]["channel"]')" = "$CH0" ] &&
  [ "$(jv 'd["notifications"][0]["results"][0]["channel"]')" = "$CH0" ] &&
  [ "$(jv 'd["notifications"][0]["results"][0]["state"]')" = accepted ] ||
  fail "?wait: $ST $(cat "$WORK/body")"

# ---- N updates to one channel, faults on ------------------------------------
: > "$WORK/ids"
per=100
python3 - "$WORK" "$GW_APP" "$CH" "$N" "$per" <<'PY'
import json, sys
work, app, ch, n, per = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
for i in range(0, n, per):
    batch = [{"app": app, "channel": ch, "priority": 5,
              "live_activity": {"event": "update", "content_state": {"home": k, "away": 0}}}
             for k in range(i, min(i + per, n))]
    json.dump({"notifications": batch}, open("%s/batch%d.json" % (work, i), "w"))
PY
for ((i = 0; i < N; i += per)); do
  api POST /v1/push "$GW_KEY" -d "@$WORK/batch$i.json"
  [ "$ST" = 202 ] || fail "publish batch $i: $ST $(cat "$WORK/body")"
  jv '"\n".join(n["id"] for n in d["notifications"])' >> "$WORK/ids"
done
[ "$(wc -l < "$WORK/ids")" = "$N" ] || fail "$(wc -l < "$WORK/ids") job ids, want $N"
wait_depth 0 120
# the delivery log is flushed every 100 ms
for _ in $(seq 50); do
  [ "$(awk -v c="$CH" '$1 == "broadcast" && $2 == c' "$LOG" | wc -l)" -ge "$N" ] && break
  sleep 0.1
done
got=$(awk -v c="$CH" '$1 == "broadcast" && $2 == c' "$LOG" | wc -l)
ids=$(awk -v c="$CH" '$1 == "broadcast" && $2 == c { print $3 }' "$LOG" | sort -u | wc -l)
[ "$got" = "$N" ] || fail "$got broadcast lines for the channel, want $N"
[ "$ids" = "$N" ] || fail "$ids distinct request ids in $got lines, want $N"
[ "$(awk '$1 != "broadcast"' "$LOG" | wc -l)" = 0 ] || fail "device pushes in the log: $(awk '$1 != "broadcast"' "$LOG" | sed -n 1,3p)"
python3 - "$GW" "$GW_KEY" "$WORK/ids" "$CH" <<'PY'
import http.client, json, sys, urllib.parse
gw, key, ids, ch = sys.argv[1:]
u = urllib.parse.urlsplit(gw)
conn = http.client.HTTPConnection(u.hostname, u.port)  # one keep-alive connection
bad = []
for jid in open(ids).read().split():
    conn.request("GET", "/v1/notifications/" + jid, headers={"Authorization": "Bearer " + key})
    resp = conn.getresponse()
    st = json.loads(resp.read())
    o = st["outcomes"]
    if st["state"] != "done" or st.get("channel") != ch or len(o) != 1 or o[0].get("channel") != ch \
            or "token" in o[0] or o[0]["state"] != "accepted":
        bad.append(st)
if bad:
    sys.exit("%d statuses not final accepted naming the channel, e.g. %s" % (len(bad), json.dumps(bad[0])))
PY
[ "$(metric "apnsd_channel_publishes_total{app=\"$GW_APP\",result=\"accepted\"}")" = "$((N + 1))" ] ||
  fail "apnsd_channel_publishes_total accepted $(metric "apnsd_channel_publishes_total{app=\"$GW_APP\",result=\"accepted\"}"), want $((N + 1))"
for r in rejected failed expired; do
  [ "$(metric "apnsd_channel_publishes_total{app=\"$GW_APP\",result=\"$r\"}")" = 0 ] || fail "channel publishes $r"
done
[ "$(metric "apnsd_notifications_total{app=\"$GW_APP\",outcome=\"accepted\"}")" = 0 ] ||
  fail "channel publishes counted as device tokens"
[ "$(metric "apnsd_retries_total{app=\"$GW_APP\"}")" != 0 ] || fail "no 503 was retried (is --fail-rate on?)"
api GET "/v1/apps/$GW_APP/dead-tokens" "$GW_KEY"
[ "$ST" = 200 ] && [ "$(jv 'len(d["dead_tokens"])')" = 0 ] || fail "dead tokens: $ST $(cat "$WORK/body")"

# ---- SQLite: stored publishes survive a restart -------------------------------
# Due 4 s from now: still stored when apnsd stops right after the 202.
M=20
AT=$(($(date +%s) + 4))
body="{\"notifications\":["
for ((k = 0; k < M; k++)); do
  [ "$k" -gt 0 ] && body+=","
  body+=$(upd "$CH0" "$k" ",\"send_at\":$AT")
done
api POST /v1/push "$GW_KEY" -d "$body]}"
[ "$ST" = 202 ] || fail "publish before restart: $ST $(cat "$WORK/body")"
jv '"\n".join(n["id"] for n in d["notifications"])' > "$WORK/ids2"
stop_gw gw1
start_gw gw2 "$WORK/a.ini"
wait_ready
wait_depth 0 60
for _ in $(seq 50); do
  [ "$(awk -v c="$CH0" '$1 == "broadcast" && $2 == c' "$LOG" | wc -l)" -ge $((M + 1)) ] && break
  sleep 0.1
done
[ "$(awk -v c="$CH0" '$1 == "broadcast" && $2 == c' "$LOG" | wc -l)" = $((M + 1)) ] ||
  fail "$(awk -v c="$CH0" '$1 == "broadcast" && $2 == c' "$LOG" | wc -l) lines for the policy-0 channel, want $((M + 1))"
while read -r id; do
  api GET "/v1/notifications/$id" "$GW_KEY"
  [ "$(jv 'd["state"]')" = done ] && [ "$(jv 'd["channel"]')" = "$CH0" ] || fail "after restart: $(cat "$WORK/body")"
done < "$WORK/ids2"
# Sent by the second apnsd (all of them unless the first one was stopped late).
after=$(metric "apnsd_channel_publishes_total{app=\"$GW_APP\",result=\"accepted\"}")
[ "$after" -ge 1 ] && [ "$after" -le "$M" ] || fail "after restart: metric $after, want 1..$M"
stop_gw gw2
echo "gw_channel_publish: door checks, $N updates under GOAWAY and 503 faults (none lost, none twice), ?wait, restart: as documented"
