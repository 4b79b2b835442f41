#!/usr/bin/env bash
# gw_idempotency_js.sh - with [queue] backend = jetstream, which keeps no
# idempotency records yet, an Idempotency-Key is refused (501
# not_implemented naming the header and the backend) and nothing is stored,
# instead of being ignored (a retry would deliver twice); a bad key is still
# the 400 of the door; a push without the header is stored as before.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw_lib.sh"
command -v nats-server > /dev/null || fail "nats-server is not installed (scripts/install-deps.sh)"

NPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
nats-server -a 127.0.0.1 -p "$NPORT" -js -sd "$WORK/js" > "$WORK/nats.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q "Server is ready" "$WORK/nats.log" && break; sleep 0.1; done
grep -q "Server is ready" "$WORK/nats.log" || { cat "$WORK/nats.log" >&2; fail "nats-server did not start"; }

start_gw_sim sim --delivery-log "$WORK/delivery.log"
cat > "$WORK/apnsd.ini" <<EOF
[server]
listen = 127.0.0.1:0
[queue]
backend = jetstream
servers = nats://127.0.0.1:$NPORT
prefix = idem$$
replicas = 1
[log]
level = info

$(app_ini "$GW_APP" "$GW_TOPIC" "$SIM_PORT" "$CERTS" "$GW_KEY")
EOF
chmod 600 "$WORK/apnsd.ini"
start_gw gw "$WORK/apnsd.ini"
wait_ready

BODY="{\"app\":\"$GW_APP\",\"token\":\"$(gw_token 1)\",\"alert\":\"js\"}"
api POST /v1/push "$GW_KEY" -H "Idempotency-Key: k1" -d "$BODY"
[ "$ST" = 501 ] || fail "Idempotency-Key on jetstream: $ST $(cat "$WORK/body")"
[ "$(jv 'd["error"]["code"]')" = not_implemented ] && [ "$(jv 'd["error"]["field"]')" = Idempotency-Key ] ||
  fail "Idempotency-Key on jetstream: $(cat "$WORK/body")"
jv 'd["error"]["message"]' | grep -q jetstream || fail "the 501 does not name the backend: $(cat "$WORK/body")"
echo "ok: Idempotency-Key on jetstream: 501 not_implemented, field Idempotency-Key, names jetstream"
api POST /v1/push "$GW_KEY" -H "Idempotency-Key;" -d "$BODY"
[ "$ST" = 400 ] && [ "$(jv 'd["error"]["code"]')" = invalid_header ] || fail "empty key: $ST $(cat "$WORK/body")"
api POST "/v1/push?wait=10" "$GW_KEY" -d "{\"app\":\"$GW_APP\",\"token\":\"$(gw_token 2)\",\"alert\":\"plain\"}"
[ "$ST" = 200 ] || fail "a push without the header: $ST $(cat "$WORK/body")"
n=$(awk -v t="$(gw_token 1)" '$2 == t { n++ } END { print n + 0 }' "$WORK/delivery.log")
[ "$n" = 0 ] || fail "the refused push was delivered $n times"
stop_gw gw
echo "gw_idempotency_js: refused with 501 on jetstream, nothing stored"
