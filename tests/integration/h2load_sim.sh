#!/usr/bin/env bash
# An independent HTTP/2 client (h2load, from Debian's nghttp2-client) against
# apns-sim over TLS with token auth: every request must get a 2xx, and the
# sim's delivery log must count them all. The JWT comes from `apns jwt`, so
# this also checks our token against the simulator's verifier through a
# client no one here wrote.
. "$(dirname "$0")/lib.sh"
command -v h2load >/dev/null || fail "h2load missing (scripts/install-deps.sh installs nghttp2-client)"
printf '{"aps":{"alert":"hello from h2load"}}' > "$WORK/payload.json"
token=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
H=(-H "apns-topic: com.example.app" -H "apns-push-type: alert")

# 1. Concurrency: 2 connections x 50 streams, open mode (no auth), TLS 1.3.
start_sim h2load --tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key" \
  --topics com.example.app --delivery-log "$WORK/delivery.log"
h2load -n 5000 -c 2 -m 50 -d "$WORK/payload.json" "${H[@]}" \
  "https://127.0.0.1:$SIM_PORT/3/device/$token" > "$WORK/h2load.txt" 2>&1 || true
cat "$WORK/h2load.txt"
grep -q "5000 succeeded" "$WORK/h2load.txt" || fail "h2load did not complete 5000 requests"
grep -qE "status codes: 5000 2xx" "$WORK/h2load.txt" || fail "not every request got a 2xx"
grep -q "TLS Protocol: TLSv1.3" "$WORK/h2load.txt" || fail "not TLS 1.3"
grep -q "Application protocol: h2" "$WORK/h2load.txt" || fail "ALPN h2 not negotiated"
stop_sim
n=$(wc -l < "$WORK/delivery.log")
[ "$n" -eq 5000 ] || fail "delivery log has $n lines, want 5000"

# 2. Token auth with a JWT from `apns jwt`. Like APNs, the sim allows one
# stream until a token was accepted; h2load would race that limit with -m > 1
# (its extra streams are refused), so this part uses one stream at a time.
start_sim h2load-auth --tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key" \
  --auth-keys "$CERTS/keys" --topics com.example.app --delivery-log "$WORK/delivery2.log"
jwt=$("$BIN/apns" jwt --key-file "$CERTS/AuthKey_ABC123DEFG.p8" --key-id ABC123DEFG --team-id DEF123GHIJ)
h2load -n 500 -c 1 -m 1 -d "$WORK/payload.json" "${H[@]}" -H "authorization: bearer $jwt" \
  "https://127.0.0.1:$SIM_PORT/3/device/$token" > "$WORK/h2load-auth.txt" 2>&1 || true
grep -qE "status codes: 500 2xx" "$WORK/h2load-auth.txt" || { cat "$WORK/h2load-auth.txt"; fail "token-auth requests were not all accepted"; }
stop_sim
n=$(wc -l < "$WORK/delivery2.log")
[ "$n" -eq 500 ] || fail "delivery log has $n lines, want 500"

# Without a token the sim must refuse (403 MissingProviderToken) even for h2load.
start_sim h2load2 --tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key" \
  --auth-keys "$CERTS/keys" --topics com.example.app
h2load -n 10 -c 1 -m 1 -d "$WORK/payload.json" -H "apns-topic: com.example.app" \
  "https://127.0.0.1:$SIM_PORT/3/device/$token" > "$WORK/h2load2.txt" 2>&1 || true
grep -qE "status codes: 0 2xx, 0 3xx, 10 4xx" "$WORK/h2load2.txt" || { cat "$WORK/h2load2.txt"; fail "unauthenticated requests were not refused"; }
echo "h2load_sim: all checks passed"
