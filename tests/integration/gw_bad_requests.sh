#!/usr/bin/env bash
# gw_bad_requests.sh - bad requests to apnsd's HTTP API get the documented
# 4xx (docs/api.md "Errors") with a JSON error naming the field, touch nothing
# in the queue, and the process keeps serving.
#
# Config: [server] max_body = 256KiB, max_tokens = 2000, max_wait = 5s. A
# baseline job with send_at an hour ahead keeps the queue depth at a known,
# steady 3: after every bad request (401s included) it must still be 3, and
# the 202 counter must not have moved. At the end a valid push is accepted
# and delivered, /healthz answers 200, and the depth is back to 3.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw_lib.sh"

start_gw_sim sim --delivery-log "$WORK/delivery.log"
gw_config "$WORK/apnsd.ini" "$SIM_PORT" "$WORK/apnsd.db" \
  $'max_body = 256KiB\nmax_tokens = 2000\nmax_wait = 5s' "" "connections = 1"
start_gw gw "$WORK/apnsd.ini"
wait_ready

T0=$(gw_token 0)
ok() { printf '{"app":"%s","tokens":%s,"alert":"hi"}' "$GW_APP" "$(gw_tokens "${1:-1}" "${2:-2}")"; }

# Baseline: 3 tokens, not before an hour from now: they stay queued.
api POST /v1/push "$GW_KEY" -d "{\"app\":\"$GW_APP\",\"tokens\":$(gw_tokens 100 3),\"alert\":\"later\",\"send_at\":$(( $(date +%s) + 3600 ))}"
[ "$ST" = 202 ] || fail "baseline push: $ST $(cat "$WORK/body")"
wait_depth 3 10
BASE_202=$(metric 'apnsd_api_requests_total{route="push",status="202"}')

CHECKS=0
# expect STATUS CODE FIELD DESCRIPTION METHOD PATH KEY [CURL ARGS...]
# FIELD "-": the error must have no field. Checks the JSON error body, its
# Content-Type, and that the queue did not change.
expect() {
  local want=$1 code=$2 field=$3 what=$4; shift 4
  api "$@" -H "X-Request-Id: bad-$CHECKS"
  local body; body=$(cat "$WORK/body")
  [ "$ST" = "$want" ] || fail "$what: status $ST, want $want: $body"
  grep -qi '^content-type: application/json' "$WORK/headers" || fail "$what: not JSON: $(cat "$WORK/headers")"
  local why
  why=$(python3 -c '
import json, sys
body, status, code, field, rid = sys.argv[1:]
try:
    e = json.load(open(body))["error"]
except Exception as x:
    sys.exit("not a JSON error body (%s)" % x)
for k, want in (("status", int(status)), ("code", code), ("field", field), ("request_id", rid)):
    got = e.get(k, "-")
    if got != want:
        sys.exit("error.%s is %r, want %r" % (k, got, want))
if not e.get("message"):
    sys.exit("no error.message")
' "$WORK/body" "$want" "$code" "$field" "bad-$CHECKS" 2>&1) || fail "$what: $why: $body"
  grep -qi "^x-request-id: bad-$CHECKS" "$WORK/headers" || fail "$what: X-Request-Id not echoed"
  CHECKS=$((CHECKS + 1))
  echo "ok $CHECKS: $what -> $ST $code${field:+ ($field)}"
}

P=/v1/push
K=$GW_KEY
# --- the body ---------------------------------------------------------------
expect 400 malformed_json - "malformed JSON" POST $P "$K" -d '{"app":"shop","tokens":['
expect 400 malformed_json - "not an object" POST $P "$K" -d '["shop"]'
expect 400 malformed_json - "empty body" POST $P "$K" -d ''
expect 400 malformed_json - "trailing garbage" POST $P "$K" -d "$(ok) x"
expect 400 duplicate_key app "duplicate key" POST $P "$K" -d "{\"app\":\"shop\",\"app\":\"shop\",\"token\":\"$T0\",\"alert\":\"x\"}"
expect 400 unknown_field alrt "unknown field" POST $P "$K" -d "{\"app\":\"shop\",\"token\":\"$T0\",\"alrt\":\"x\"}"
grep -q 'alert' "$WORK/body" || fail "unknown_field gives no suggestion: $(cat "$WORK/body")"
expect 400 missing_field tokens "no tokens" POST $P "$K" -d '{"app":"shop","alert":"x"}'
expect 400 missing_field app "no app" POST $P "$K" -d "{\"token\":\"$T0\",\"alert\":\"x\"}"
# --- wrong types --------------------------------------------------------------
expect 400 invalid_field tokens "tokens as a number" POST $P "$K" -d '{"app":"shop","tokens":5,"alert":"x"}'
expect 400 invalid_field priority 'priority "high"' POST $P "$K" -d "{\"app\":\"shop\",\"token\":\"$T0\",\"alert\":\"x\",\"priority\":\"high\"}"
expect 400 invalid_field priority "priority 7" POST $P "$K" -d "{\"app\":\"shop\",\"token\":\"$T0\",\"alert\":\"x\",\"priority\":7}"
expect 400 invalid_field badge "badge as a string" POST $P "$K" -d "{\"app\":\"shop\",\"token\":\"$T0\",\"alert\":\"x\",\"badge\":\"1\"}"
expect 400 invalid_field topic "a topic the app does not have" POST $P "$K" -d "{\"app\":\"shop\",\"token\":\"$T0\",\"alert\":\"x\",\"topic\":\"com.evil.app\"}"
# Header-bound values and times (issue 12): a CR LF in a collapse id would be a
# header injection (nghttp2 resets the stream); 2^62 overflowed expiration * 1000.
expect 400 invalid_field collapse_id "collapse_id with CR LF" POST $P "$K" -d "{\"app\":\"shop\",\"token\":\"$T0\",\"alert\":\"x\",\"collapse_id\":\"a\\r\\nx-evil: 1\"}"
grep -q 'control character' "$WORK/body" || fail "collapse_id error does not say why: $(cat "$WORK/body")"
expect 400 invalid_field expiration "expiration 2^62" POST $P "$K" -d "{\"app\":\"shop\",\"token\":\"$T0\",\"alert\":\"x\",\"expiration\":4611686018427387904}"
expect 400 invalid_field send_at "send_at after 9999-12-31" POST $P "$K" -d "{\"app\":\"shop\",\"token\":\"$T0\",\"alert\":\"x\",\"send_at\":253402300800}"
expect 400 invalid_field "notifications[1].push_type" "push type in a batch" POST $P "$K" -d "{\"notifications\":[$(ok),{\"app\":\"shop\",\"token\":\"$T0\",\"alert\":\"x\",\"push_type\":\"loud\"}]}"
# --- apps and keys -------------------------------------------------------------
expect 400 unknown_app app "unknown app" POST $P "$K" -d "{\"app\":\"nope\",\"token\":\"$T0\",\"alert\":\"x\"}"
expect 403 forbidden app "another app's key" POST $P "$GW_KEY2" -d "$(ok)"
expect 403 forbidden "notifications[1].app" "another app's key, 2nd of a batch" POST $P "$K" -d "{\"notifications\":[$(ok),{\"app\":\"other\",\"token\":\"$T0\",\"alert\":\"x\"}]}"
expect 401 unauthorized Authorization "no API key" POST $P - -d "$(ok)"
grep -qi '^www-authenticate: Bearer' "$WORK/headers" || fail "401 without WWW-Authenticate"
expect 401 unauthorized Authorization "wrong API key" POST $P "wrong-key-0123456789abcdef" -d "$(ok)"
expect 401 unauthorized Authorization "not Bearer" POST $P - -H "Authorization: Basic c2hvcDpzaG9w" -d "$(ok)"
expect 401 unauthorized Authorization "no key, bad body" POST $P - -d '{{{'
# --- payloads and tokens ----------------------------------------------------------
BIG=$(head -c 5000 /dev/zero | tr '\0' a)
expect 400 payload_too_large payload "payload over 4096 bytes (raw)" POST $P "$K" -d "{\"app\":\"shop\",\"token\":\"$T0\",\"payload\":{\"aps\":{\"alert\":\"$BIG\"}}}"
api POST $P "$K" -d "{\"app\":\"shop\",\"token\":\"$T0\",\"alert\":\"$BIG\"}"
[ "$ST" = 400 ] && [ "$(jv 'd["error"]["code"]')" = payload_too_large ] || fail "oversize builder payload: $ST $(cat "$WORK/body")"
echo "ok: oversize builder payload -> 400 payload_too_large ($(jv 'd["error"].get("field")'))"
expect 400 bad_payload custom.aps "custom key named aps" POST $P "$K" -d "{\"app\":\"shop\",\"token\":\"$T0\",\"alert\":\"x\",\"custom\":{\"aps\":1}}"
expect 400 bad_token "notifications[0].tokens[3]" "bad token (4th of a batch's first notification)" POST $P "$K" \
  -d "{\"notifications\":[{\"app\":\"shop\",\"tokens\":[\"$(gw_token 1)\",\"$(gw_token 2)\",\"$(gw_token 3)\",\"123\"],\"alert\":\"x\"}]}"
expect 400 bad_token "tokens[1]" "odd-length token" POST $P "$K" -d "{\"app\":\"shop\",\"tokens\":[\"$T0\",\"${T0}a\"],\"alert\":\"x\"}"
expect 400 bad_token "token" "non-hex token" POST $P "$K" -d "{\"app\":\"shop\",\"token\":\"zz${T0:2}\",\"alert\":\"x\"}"
# --- limits --------------------------------------------------------------------------
# (bodies over 128 KiB go through a file: one argv string cannot hold them)
ok 1 2001 > "$WORK/req.json"
expect 400 too_many_tokens tokens "2001 tokens, max_tokens 2000" POST $P "$K" --data-binary @"$WORK/req.json"
echo "{\"notifications\":[$(ok 1 1000),$(ok 1001 1001)]}" > "$WORK/req.json"
expect 400 too_many_tokens "notifications[1].tokens" "2001 tokens over two notifications" POST $P "$K" --data-binary @"$WORK/req.json"
NOTES=$(for _ in $(seq 1001); do printf '{"app":"shop","token":"%s","alert":"x"},' "$T0"; done)
echo "{\"notifications\":[${NOTES%,}]}" > "$WORK/req.json"
expect 400 too_many_notifications notifications "1001 notifications" POST $P "$K" --data-binary @"$WORK/req.json"
head -c 300000 /dev/zero | tr '\0' ' ' > "$WORK/big.txt"
# Refused from its Content-Length, in JSON like every other error.
expect 413 body_too_large body "body over max_body (300000 > 256KiB)" POST $P "$K" --data-binary @"$WORK/big.txt"
# HEAD is served by GET routes: the same status and headers, no body.
ST=$(curl -sS -I -o /dev/null -D "$WORK/headers" -w '%{http_code}' "$GW/healthz") || ST=000
[ "$ST" = 200 ] && grep -qi '^content-length: [1-9]' "$WORK/headers" ||
  fail "HEAD /healthz: $ST $(cat "$WORK/headers")"
echo "ok: HEAD /healthz -> 200 with Content-Length, no body"
# --- ?wait --------------------------------------------------------------------------
expect 400 invalid_query wait "?wait=abc" POST "$P?wait=abc" "$K" -d "$(ok)"
expect 400 invalid_query wait "?wait=-1" POST "$P?wait=-1" "$K" -d "$(ok)"
expect 400 invalid_query wait "?wait=1.5" POST "$P?wait=1.5" "$K" -d "$(ok)"
expect 400 invalid_query wait "?wait for a notification over small_job_tokens (101 tokens)" POST "$P?wait=1" "$K" -d "$(ok 1 101)"
expect 400 invalid_query waitt "unknown query parameter" POST "$P?waitt=1" "$K" -d "$(ok)"
# --- other routes ---------------------------------------------------------------------
expect 404 not_found - "no such route" GET /v1/nope "$K"
expect 405 method_not_allowed - "GET /v1/push" GET $P "$K"
grep -qi '^allow: POST' "$WORK/headers" || fail "405 without Allow: POST"
expect 404 not_found id "unknown notification" GET /v1/notifications/00000000-0000-4000-8000-000000000000 "$K"
expect 404 not_found app "dead tokens of an unknown app" GET /v1/apps/nope/dead-tokens "$K"
expect 403 forbidden app "dead tokens of another app" GET /v1/apps/other/dead-tokens "$K"
expect 400 invalid_query limit "dead tokens limit=0" GET "/v1/apps/shop/dead-tokens?limit=0" "$K"
expect 400 invalid_query since "dead tokens since=yesterday" GET "/v1/apps/shop/dead-tokens?since=yesterday" "$K"
expect 400 invalid_query cursor "dead tokens bad cursor" GET "/v1/apps/shop/dead-tokens?cursor=xyz" "$K"
expect 400 bad_token token "DELETE a malformed token" DELETE /v1/apps/shop/dead-tokens/123 "$K"
expect 404 not_found token "DELETE a token not in the registry" DELETE "/v1/apps/shop/dead-tokens/$T0" "$K"
expect 401 unauthorized Authorization "status without a key" GET /v1/notifications/00000000-0000-4000-8000-000000000000 -

# A notification is only readable with its own app's key.
api POST $P "$K" -d "{\"app\":\"shop\",\"token\":\"$(gw_token 200)\",\"alert\":\"x\",\"send_at\":$(( $(date +%s) + 3600 ))}"
[ "$ST" = 202 ] || fail "push: $ST"
ID=$(jv 'd["notifications"][0]["id"]')
expect 404 not_found id "a notification of another app" GET "/v1/notifications/$ID" "$GW_KEY2"
wait_depth 4 10

# Nothing of the above reached the queue.
[ "$(metric 'apnsd_api_requests_total{route="push",status="202"}')" = $((BASE_202 + 1)) ] ||
  fail "the 202 counter moved: bad requests were accepted"
api GET /healthz -
[ "$ST" = 200 ] || fail "/healthz $ST after the bad requests"
# ... and the process still serves a valid push, delivered.
api POST "$P?wait=5" "$K" -d "$(ok 300 2)"
[ "$ST" = 200 ] || fail "valid push after the bad requests: $ST $(cat "$WORK/body")"
[ "$(jv '",".join(r["state"] for r in d["notifications"][0]["results"])')" = accepted,accepted ] ||
  fail "valid push not accepted: $(cat "$WORK/body")"
wait_depth 4 10
kill -0 "$GW_PID" || fail "apnsd died"
# None of the bad requests reached APNs (T0 is only ever in bad ones).
! grep -q "$T0" "$WORK/delivery.log" || fail "a token of a refused request reached APNs"
stop_gw gw
echo "gw_bad_requests: $CHECKS bad requests answered as documented; nothing queued; apnsd still serves"
rm -rf "$WORK"
