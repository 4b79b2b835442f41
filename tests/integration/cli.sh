#!/usr/bin/env bash
# The `apns` CLI end to end: help, every kind of bad input (clear message,
# exit 2, nothing sent), then real pushes to apns-sim with token auth, PKCS#12
# certificate auth and PEM certificate auth, with results as JSON lines.
. "$(dirname "$0")/lib.sh"
A="$BIN/apns"
KEY=(--key-file "$CERTS/AuthKey_ABC123DEFG.p8" --key-id ABC123DEFG --team-id DEF123GHIJ)
T1=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
T2=a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90
T3=deadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef

# --help everywhere, exit 0.
expect_exit 0 "push" "$A" --help
expect_exit 0 "--topic" "$A" push --help
expect_exit 0 "--key-id" "$A" jwt --help
expect_exit 2 "unknown command" "$A" frobnicate

# Bad input: exit 2 with a message naming the problem, before connecting
# (port 1 has no server: reaching it would give another error).
C=(--host 127.0.0.1 --port 1 --ca-file "$CERTS/ca.pem" "${KEY[@]}" --topic com.example.app)
expect_exit 2 "priority" "$A" push "${C[@]}" --priority 7 --token $T1 --title hi
expect_exit 2 "push-type|push type" "$A" push "${C[@]}" --push-type nonsense --token $T1 --title hi
expect_exit 2 "token" "$A" push "${C[@]}" --token xyz --title hi
expect_exit 2 "JSON|json" "$A" push "${C[@]}" --token $T1 --payload '{"aps":'
expect_exit 2 "object" "$A" push "${C[@]}" --token $T1 --payload '[1,2]'
expect_exit 2 "collapse" "$A" push "${C[@]}" --token $T1 --title hi --collapse-id "$(printf 'x%.0s' $(seq 65))"
expect_exit 2 "background|priority" "$A" push "${C[@]}" --token $T1 --push-type background --priority 10 --content-available
expect_exit 2 "key id|key-id" "$A" push --host 127.0.0.1 --port 1 --key-file "$CERTS/AuthKey_ABC123DEFG.p8" --key-id SHORT --team-id DEF123GHIJ --topic com.example.app --token $T1 --title hi
expect_exit 2 "nosuch.p8" "$A" push --host 127.0.0.1 --port 1 --key-file "$WORK/nosuch.p8" --key-id ABC123DEFG --team-id DEF123GHIJ --topic com.example.app --token $T1 --title hi
printf '%s\nnot-a-token\n' "$T1" > "$WORK/bad-tokens.txt"
expect_exit 2 "bad-tokens.txt:2:" "$A" push "${C[@]}" --tokens-file "$WORK/bad-tokens.txt" --title hi
expect_exit 2 "nosuch.txt" "$A" push "${C[@]}" --tokens-file "$WORK/nosuch.txt" --title hi
expect_exit 2 "expiration" "$A" push "${C[@]}" --token $T1 --title hi --expiration soon
expect_exit 2 "." "$A" jwt --key-file "$CERTS/AuthKey_ABC123DEFG.p8" --key-id ABC123DEFG

# jwt: three base64url parts.
jwt=$("$A" jwt "${KEY[@]}")
[[ "$jwt" =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{86}$ ]] || fail "jwt looks wrong: $jwt"

# Real pushes: token auth, one dead token.
echo "$T3 1700000000123" > "$WORK/unreg.txt"
start_sim cli --tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key" --auth-keys "$CERTS/keys" \
  --topics com.example.app --unregistered "$WORK/unreg.txt" --delivery-log "$WORK/delivery.log"
S=(--host 127.0.0.1 --port "$SIM_PORT" --ca-file "$CERTS/ca.pem" --topic com.example.app)
printf '# tokens\n%s\n\n%s\n%s\n' $T1 $T2 $T3 > "$WORK/tokens.txt"
set +e
"$A" push "${S[@]}" "${KEY[@]}" --title Hello --body World --badge 3 --tokens-file "$WORK/tokens.txt" > "$WORK/push.out" 2> "$WORK/push.err"
rc=$?
set -e
cat "$WORK/push.out"
[ "$rc" -eq 1 ] || { cat "$WORK/push.err"; fail "exit $rc with one dead token, want 1"; }
[ "$(grep -c '"outcome":"accepted"' "$WORK/push.out")" -eq 2 ] || fail "want 2 accepted"
grep -q '"reason":"Unregistered"' "$WORK/push.out" || fail "no Unregistered result"
grep -q '"timestamp":1700000000123' "$WORK/push.out" || fail "410 timestamp not reported"

# Tokens from stdin, payload from a file, all accepted -> exit 0.
printf '{"aps":{"alert":{"title":"t","body":"b"}},"custom":1}' > "$WORK/p.json"
printf '%s\n%s\n' $T1 $T2 | "$A" push "${S[@]}" "${KEY[@]}" --payload-file "$WORK/p.json" > "$WORK/stdin.out"
[ "$(grep -c '"outcome":"accepted"' "$WORK/stdin.out")" -eq 2 ] || fail "stdin push"

stop_sim
n=$(wc -l < "$WORK/delivery.log")
[ "$n" -eq 4 ] || fail "token-auth delivery log has $n lines, want 4"

# Certificate auth: PKCS#12 and PEM, against a sim that requires a client
# certificate signed by the test CA.
start_sim cli-cert --tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key" \
  --client-ca "$CERTS/ca.pem" --topics com.example.app --delivery-log "$WORK/delivery-cert.log"
S=(--host 127.0.0.1 --port "$SIM_PORT" --ca-file "$CERTS/ca.pem" --topic com.example.app)
APNS_P12_PASSWORD=secret "$A" push "${S[@]}" --p12 "$CERTS/client.p12" --token $T1 --title p12 > "$WORK/p12.out"
grep -q '"outcome":"accepted"' "$WORK/p12.out" || fail "p12 push"
"$A" push "${S[@]}" --cert "$CERTS/client.pem" --key "$CERTS/client.key" --token $T2 --title pem > "$WORK/pem.out"
grep -q '"outcome":"accepted"' "$WORK/pem.out" || fail "pem push"
expect_exit 3 "." env APNS_P12_PASSWORD=wrong "$A" push "${S[@]}" --p12 "$CERTS/client.p12" --token $T1 --title p12

# A CA that did not sign the sim's certificate: verification fails, exit 3.
expect_exit 3 "verif|certificate" "$A" push --host 127.0.0.1 --port "$SIM_PORT" --ca-file "$CERTS/other-ca.pem" "${KEY[@]}" --topic com.example.app --token $T1 --title x
# No client certificate at all: the sim refuses the TLS handshake, exit 3.
expect_exit 3 "." "$A" push "${S[@]}" "${KEY[@]}" --token $T1 --title x --connect-timeout 5
stop_sim
n=$(wc -l < "$WORK/delivery-cert.log")
[ "$n" -eq 2 ] || fail "certificate delivery log has $n lines, want 2"
echo "cli: all checks passed"
