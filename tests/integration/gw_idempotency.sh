#!/usr/bin/env bash
# gw_idempotency.sh - POST /v1/push with an Idempotency-Key (and with a
# client-supplied apns_id) on the SQLite backend, against docs/api.md "Safe
# retries":
#
#  - the cases of the literal table below (status, error code, the field it
#    names, Idempotent-Replayed): a repeat answers the first answer (same
#    ids, same bytes), another body under the key is 422, a key still being
#    stored is 409 with Retry-After, a bad key is 400 naming the header, and
#    keys are scoped per API key;
#  - one Idempotency-Key sent before and after a kill -9 of apnsd: the
#    repeat replays the first answer, and each token is in apns-sim's
#    delivery log once;
#  - a batch of two notifications of which the second does not fit under
#    [queue] max_depth is 429 with nothing stored (all or nothing);
#  - a reservation left by a dead process (planted) is gone after a start;
#  - apnsd_api_idempotency_total{result} counts the repeats.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw_lib.sh"

start_gw_sim sim --delivery-log "$WORK/delivery.log"
gw_config "$WORK/apnsd.ini" "$SIM_PORT" "$WORK/apnsd.db" "max_tokens = 5" "max_depth = 5" "connections = 1"
start_gw gw "$WORK/apnsd.ini"
wait_ready

B1="{\"app\":\"$GW_APP\",\"tokens\":$(gw_tokens 0 2),\"alert\":\"one\"}"
B2="{\"app\":\"$GW_APP\",\"tokens\":$(gw_tokens 0 2),\"alert\":\"two\"}"
B3="{\"app\":\"$GW_APP2\",\"tokens\":$(gw_tokens 5 1),\"alert\":\"other\"}"
B4="{\"app\":\"$GW_APP\",\"token\":\"$(gw_token 7)\",\"alert\":\"id\",\"apns_id\":\"123e4567-e89b-12d3-a456-426614174000\"}"
B5="{\"app\":\"$GW_APP\",\"token\":\"$(gw_token 8)\",\"alert\":\"planted\"}"
LONG=$(printf 'k%.0s' $(seq 256))

# The pending reservation of a request still being stored, planted as
# apnsd writes it (scope: the SHA-256 of the API key, hex).
plant() {
  python3 - "$WORK/apnsd.db" "$GW_KEY" "$1" "$2" <<'PY'
import hashlib, sqlite3, sys, time
db, api_key, key, body = sys.argv[1:]
c = sqlite3.connect(db, timeout=10)
c.execute("INSERT INTO idem(scope, key, hash, created, status) VALUES(?,?,?,?,0)",
          (hashlib.sha256(api_key.encode()).hexdigest(), key,
           hashlib.sha256(body.encode()).digest(), int(time.time() * 1000)))
c.commit()
PY
}

# CASE | API key | body | Idempotency-Key header (curl -H; "" = none) | status | error code | field | replayed
# (Literal, from docs/api.md "Safe retries".)
TABLE="first|$GW_KEY|B1|Idempotency-Key: k1|202|-|-|no
repeat|$GW_KEY|B1|Idempotency-Key: k1|202|-|-|true
other body|$GW_KEY|B2|Idempotency-Key: k1|422|idempotency_key_reused|Idempotency-Key|no
other api key|$GW_KEY2|B3|Idempotency-Key: k1|202|-|-|no
other api key repeat|$GW_KEY2|B3|Idempotency-Key: k1|202|-|-|true
empty key|$GW_KEY|B1|Idempotency-Key;|400|invalid_header|Idempotency-Key|no
256 characters|$GW_KEY|B1|Idempotency-Key: $LONG|400|invalid_header|Idempotency-Key|no
non-ASCII byte|$GW_KEY|B1|Idempotency-Key: caf$(printf '\xc3\xa9')|400|invalid_header|Idempotency-Key|no
in progress|$GW_KEY|B5|Idempotency-Key: busy|409|idempotency_in_progress|Idempotency-Key|no
apns_id first|$GW_KEY|B4||202|-|-|no
apns_id repeat|$GW_KEY|B4||202|-|-|true"

plant busy "$B5"
declare -A FIRST=()
while IFS='|' read -r name key bodyname hdr want code field replayed; do
  body=${!bodyname}
  args=()
  [ -n "$hdr" ] && args=(-H "$hdr")
  api POST /v1/push "$key" "${args[@]}" -H 'Content-Type: application/json' -d "$body"
  [ "$ST" = "$want" ] || fail "$name: status $ST, want $want: $(cat "$WORK/body")"
  if [ "$code" != - ]; then
    [ "$(jv 'd["error"]["code"]')" = "$code" ] || fail "$name: $(cat "$WORK/body")"
    [ "$(jv 'd["error"].get("field")')" = "$field" ] || fail "$name: field: $(cat "$WORK/body")"
  fi
  got=no
  grep -qi '^Idempotent-Replayed: true' "$WORK/headers" && got=true
  [ "$got" = "$replayed" ] || fail "$name: Idempotent-Replayed $got, want $replayed"
  if [ "$want" = 409 ]; then
    grep -qi '^Retry-After: [0-9]' "$WORK/headers" || fail "$name: no Retry-After"
  fi
  if [ "$replayed" = true ]; then
    cmp -s "$WORK/body" "$WORK/first.$bodyname" || fail "$name: the replay differs from the first answer: $(cat "$WORK/body") vs $(cat "$WORK/first.$bodyname")"
  elif [ "$want" = 202 ]; then
    cp "$WORK/body" "$WORK/first.$bodyname"
  fi
  echo "ok: $name: $ST ${code} replayed=$got"
done <<< "$TABLE"
ID1=$(jv 'd["notifications"][0]["id"]' "$WORK/first.B1")
# The table's repeats, counted (docs/operations.md).
for m in 'replayed 3' 'key_reused 1' 'in_progress 1'; do
  set -- $m
  got=$(metric "apnsd_api_idempotency_total{result=\"$1\"}")
  [ "$got" = "$2" ] || fail "apnsd_api_idempotency_total{result=\"$1\"} is $got, want $2"
done
echo "ok: apnsd_api_idempotency_total: 3 replayed, 1 key_reused, 1 in_progress"

# All or nothing: 2 tokens held by a job scheduled an hour ahead, then a
# batch of 2 + 2 under max_depth 5: the second notification does not fit,
# so the answer is 429 and NEITHER is stored (before: the first was stored,
# "accepted": true, and delivered), with the key or without; a retry with
# the key is not a replay (nothing was kept).
LATER=$(( $(date +%s) + 3600 ))
api POST /v1/push "$GW_KEY" -d "{\"app\":\"$GW_APP\",\"tokens\":$(gw_tokens 20 2),\"alert\":\"later\",\"send_at\":$LATER}"
[ "$ST" = 202 ] || fail "scheduled job: $ST $(cat "$WORK/body")"
wait_depth 2 20
BATCH="{\"notifications\":[{\"app\":\"$GW_APP\",\"tokens\":$(gw_tokens 30 2),\"alert\":\"b0\"},{\"app\":\"$GW_APP\",\"tokens\":$(gw_tokens 32 2),\"alert\":\"b1\"}]}"
for attempt in "Idempotency-Key: batch" "Idempotency-Key: batch" "X-None: 1"; do
  api POST /v1/push "$GW_KEY" -H "$attempt" -d "$BATCH"
  [ "$ST" = 429 ] || fail "batch over max_depth ($attempt): $ST $(cat "$WORK/body")"
  [ "$(jv '[n["accepted"] for n in d["notifications"]]')" = "[false,false]" ] ||
    fail "batch over max_depth ($attempt): $(cat "$WORK/body")"
  ! grep -qi '^Idempotent-Replayed' "$WORK/headers" || fail "batch over max_depth: replayed"
done
wait_depth 2 20
echo "ok: a batch that does not fit is stored not at all (429, accepted false twice), three times"

# Both tokens of B1 and the one of B4 delivered (once), then kill -9.
for _ in $(seq 300); do
  n=$(awk -v a="$(gw_token 0)" -v b="$(gw_token 1)" -v c="$(gw_token 7)" \
    '$2 == a || $2 == b || $2 == c { n++ } END { print n + 0 }' "$WORK/delivery.log" 2>/dev/null || echo 0)
  [ "$n" -ge 3 ] && break
  sleep 0.1
done
[ "$n" = 3 ] || fail "deliveries before the kill: $n, want 3"
kill -9 "$GW_PID"
wait "$GW_PID" 2>/dev/null || true
start_gw gw "$WORK/apnsd.ini"
wait_ready

api POST /v1/push "$GW_KEY" -H "Idempotency-Key: k1" -d "$B1"
[ "$ST" = 202 ] && grep -qi '^Idempotent-Replayed: true' "$WORK/headers" ||
  fail "k1 after kill -9: $ST $(cat "$WORK/body")"
cmp -s "$WORK/body" "$WORK/first.B1" || fail "k1 after kill -9: another answer: $(cat "$WORK/body")"
[ "$(jv 'd["notifications"][0]["id"]')" = "$ID1" ] || fail "k1 after kill -9: another id"
api POST /v1/push "$GW_KEY" -d "$B4"
[ "$ST" = 202 ] && grep -qi '^Idempotent-Replayed: true' "$WORK/headers" ||
  fail "apns_id after kill -9: $ST $(cat "$WORK/body")"
echo "ok: after kill -9 the repeats replay the first answers (job $ID1)"
# The planted reservation belonged to a process that is gone: a new request.
api POST /v1/push "$GW_KEY" -H "Idempotency-Key: busy" -d "$B5"
[ "$ST" = 202 ] && ! grep -qi '^Idempotent-Replayed' "$WORK/headers" ||
  fail "a dead process's reservation after a start: $ST $(cat "$WORK/body")"

# A barrier: a push waited for, then every token of the table counted.
api POST "/v1/push?wait=10" "$GW_KEY" -d "{\"app\":\"$GW_APP\",\"token\":\"$(gw_token 99)\",\"alert\":\"barrier\"}"
[ "$ST" = 200 ] || fail "barrier: $ST $(cat "$WORK/body")"
# (the sim writes its log line after it answered: wait for the line)
for _ in $(seq 100); do
  grep -q "$(gw_token 99)" "$WORK/delivery.log" && break
  sleep 0.1
done
for i in 0 1 5 7 8 99 30 31 32 33; do
  n=$(awk -v t="$(gw_token "$i")" '$2 == t { n++ } END { print n + 0 }' "$WORK/delivery.log")
  want=1
  [ "$i" -ge 30 ] && [ "$i" -le 33 ] && want=0
  [ "$n" = "$want" ] || fail "token $i delivered $n times, want $want"
done
echo "ok: every token delivered once; none of the refused batch"
stop_gw gw
echo "gw_idempotency: replays, 422, 409, 400, per-key scope, kill -9: one delivery each"
