#!/usr/bin/env bash
# gw_idempotency_js.sh - Idempotency-Key (and a client-supplied apns_id)
# with [queue] backend = jetstream, across two apnsd nodes of one fleet,
# against docs/api.md "Safe retries" (before: 501 not_implemented):
#
#  - a batch of two notifications with one Idempotency-Key sent to node A
#    (202), then node A is killed with kill -9, then the same request to
#    node B: the first answer, byte for byte, with Idempotent-Replayed:
#    true (same ids); the same for a single notification's apns_id;
#  - the same key with another body on B: 422 idempotency_key_reused;
#  - a reservation of a request still being stored on another node
#    (planted in the bucket <prefix>_IDEM as a node writes it): 409
#    idempotency_in_progress with Retry-After, on both nodes;
#  - every token is in apns-sim's delivery log exactly once;
#  - apnsd_api_idempotency_total{result} on B counts the repeats.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw_lib.sh"
start_nats

PREFIX=idem$$
start_gw_sim sim --delivery-log "$WORK/delivery.log"
cat > "$WORK/apnsd.ini" <<EOF
[server]
listen = 127.0.0.1:0
$(js_queue_ini $PREFIX 2s)
[log]
level = info

$(app_ini "$GW_APP" "$GW_TOPIC" "$SIM_PORT" "$CERTS" "$GW_KEY")
EOF
chmod 600 "$WORK/apnsd.ini"
start_gw_pair "$WORK/apnsd.ini"

BATCH="{\"notifications\":[{\"app\":\"$GW_APP\",\"tokens\":$(gw_tokens 0 2),\"alert\":\"b0\"},{\"app\":\"$GW_APP\",\"tokens\":$(gw_tokens 2 2),\"alert\":\"b1\"}]}"
OTHER="{\"app\":\"$GW_APP\",\"tokens\":$(gw_tokens 0 2),\"alert\":\"other\"}"
SINGLE="{\"app\":\"$GW_APP\",\"token\":\"$(gw_token 7)\",\"alert\":\"id\",\"apns_id\":\"123e4567-e89b-12d3-a456-426614174000\"}"
BUSY="{\"app\":\"$GW_APP\",\"token\":\"$(gw_token 8)\",\"alert\":\"planted\"}"

# A reservation as a node writes it (docs/queue.md): key "<H>.0" of the
# bucket <prefix>_IDEM, H = SHA-256 of "<scope>\n<key>" (scope: the hex
# SHA-256 of the API key), value "AJI1", the body's SHA-256, the time (ms,
# big-endian), a nonce. Published with js_publish (gw_lib.sh).
plant() {
  local h
  h=$(python3 -c 'import hashlib, sys
scope = hashlib.sha256(sys.argv[1].encode()).hexdigest()
print(hashlib.sha256((scope + "\n" + sys.argv[2]).encode()).hexdigest())' "$GW_KEY" "$1")
  python3 -c 'import hashlib, os, struct, sys, time
sys.stdout.buffer.write(b"AJI1" + hashlib.sha256(sys.argv[1].encode()).digest() +
                        struct.pack(">Q", int(time.time() * 1000)) + os.urandom(8))' "$2" |
    js_publish "\$KV.${PREFIX}_IDEM.$h.0"
}

replayed() { grep -qi '^Idempotent-Replayed: true' "$WORK/headers"; }

# The first requests, on A.
GW=$A
api POST /v1/push "$GW_KEY" -H "Idempotency-Key: k1" -d "$BATCH"
[ "$ST" = 202 ] && ! replayed || fail "batch with a key on A: $ST $(cat "$WORK/body")"
cp "$WORK/body" "$WORK/first.batch"
api POST /v1/push "$GW_KEY" -d "$SINGLE"
[ "$ST" = 202 ] && ! replayed || fail "apns_id on A: $ST $(cat "$WORK/body")"
cp "$WORK/body" "$WORK/first.single"
echo "ok: A stored a batch with an Idempotency-Key and a notification with an apns_id"

# A request being stored on another node: 409 on both.
plant busy "$BUSY"
for node in "$A" "$B"; do
  GW=$node
  api POST /v1/push "$GW_KEY" -H "Idempotency-Key: busy" -d "$BUSY"
  [ "$ST" = 409 ] && [ "$(jv 'd["error"]["code"]')" = idempotency_in_progress ] &&
    [ "$(jv 'd["error"]["field"]')" = Idempotency-Key ] || fail "planted reservation on $node: $ST $(cat "$WORK/body")"
  grep -qi '^Retry-After: [0-9]' "$WORK/headers" || fail "409 on $node without Retry-After"
done
echo "ok: a reservation of another node's request in progress: 409 idempotency_in_progress on A and B"

# Delivered (5 tokens), then A dies.
for _ in $(seq 300); do
  n=$(awk -v l="$(gw_token 0) $(gw_token 1) $(gw_token 2) $(gw_token 3) $(gw_token 7)" \
    'BEGIN { split(l, v, " "); for (i in v) w[v[i]] = 1 } ($2 in w) { n++ } END { print n + 0 }' \
    "$WORK/delivery.log" 2>/dev/null || echo 0)
  [ "$n" -ge 5 ] && break
  sleep 0.1
done
[ "$n" = 5 ] || fail "deliveries before the kill: $n, want 5"
kill -9 "$A_PID"
wait "$A_PID" 2>/dev/null || true
echo "ok: 5 tokens delivered, node A killed with kill -9"

# The repeats, on B: the first answers, byte for byte.
GW=$B
api POST /v1/push "$GW_KEY" -H "Idempotency-Key: k1" -d "$BATCH"
[ "$ST" = 202 ] && replayed || fail "batch repeat on B: $ST $(cat "$WORK/body")"
cmp -s "$WORK/body" "$WORK/first.batch" ||
  fail "batch repeat on B: another answer: $(cat "$WORK/body") vs $(cat "$WORK/first.batch")"
api POST /v1/push "$GW_KEY" -d "$SINGLE"
[ "$ST" = 202 ] && replayed || fail "apns_id repeat on B: $ST $(cat "$WORK/body")"
cmp -s "$WORK/body" "$WORK/first.single" || fail "apns_id repeat on B: another answer: $(cat "$WORK/body")"
echo "ok: after kill -9 of A, B replays both first answers byte for byte (ids $(jv '[n["id"] for n in d["notifications"]]' "$WORK/first.batch"))"
api POST /v1/push "$GW_KEY" -H "Idempotency-Key: k1" -d "$OTHER"
[ "$ST" = 422 ] && [ "$(jv 'd["error"]["code"]')" = idempotency_key_reused ] ||
  fail "k1 with another body on B: $ST $(cat "$WORK/body")"
echo "ok: the key with another body on B: 422 idempotency_key_reused"

# Nothing more is delivered (A's leases came back to B after ack_wait: all
# their tokens were recorded); the repeats stored nothing.
sleep 3
for t in 0 1 2 3 7; do
  n=$(awk -v t="$(gw_token $t)" '$2 == t { n++ } END { print n + 0 }' "$WORK/delivery.log")
  [ "$n" = 1 ] || fail "token $t delivered $n times, want 1"
done
echo "ok: every token delivered exactly once"
for m in 'replayed 2' 'key_reused 1' 'in_progress 1'; do
  set -- $m
  got=$(metric "apnsd_api_idempotency_total{result=\"$1\"}")
  [ "$got" = "$2" ] || fail "B: apnsd_api_idempotency_total{result=\"$1\"} is $got, want $2"
done
got=$(metric "apnsd_queue_orphans_total")
[ "$got" = 0 ] || fail "B: apnsd_queue_orphans_total is $got, want 0"
echo "ok: B counts 2 replayed, 1 key_reused, 1 in_progress, no orphans"
GW_PID=$B_PID
stop_gw b
echo "gw_idempotency_js: one delivery per token across two nodes and a kill -9"
