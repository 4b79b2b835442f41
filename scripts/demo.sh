#!/usr/bin/env bash
# The main job of `make run` until the gateway exists: start apns-sim with
# token auth on loopback, push a small batch through the `apns` CLI, print
# what happened to each notification, and show the simulator's delivery log.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
certs="$build/certs"
tests/certs/gen.sh "$certs"
work=$(mktemp -d "${TMPDIR:-/tmp}/apns-demo-XXXXXX")
sim_pid=""
cleanup() { [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

# Five device tokens; the simulator knows two of them as dead.
cat > "$work/tokens.txt" <<TOK
# demo device tokens, one per line
a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90
00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
deadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef
0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f
cafebabecafebabecafebabecafebabecafebabecafebabecafebabecafebabe
TOK
echo "deadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef $(($(date +%s) * 1000))" > "$work/unregistered.txt"
echo "cafebabecafebabecafebabecafebabecafebabecafebabecafebabecafebabe" > "$work/other-topic.txt"

"$build/apns-sim" --listen 127.0.0.1:0 --tls-cert "$certs/server.pem" --tls-key "$certs/server.key" \
  --auth-keys "$certs/keys" --topics com.example.app --environment sandbox \
  --unregistered "$work/unregistered.txt" --other-topic "$work/other-topic.txt" \
  --delivery-log "$work/delivery.log" > "$work/sim.out" 2> "$work/sim.err" &
sim_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
addr=$(sed -n 's/.*listening on //p' "$work/sim.out" | head -1)
[ -n "$addr" ] || { echo "apns-sim did not start:"; cat "$work/sim.err"; exit 1; }
port=${addr##*:}

echo "== apns-sim is listening on $addr (TLS, token auth, sandbox)"
echo "== pushing 5 notifications with: apns push --host 127.0.0.1 --port $port --ca-file $certs/ca.pem \\"
echo "     --key-file $certs/AuthKey_ABC123DEFG.p8 --key-id ABC123DEFG --team-id DEF123GHIJ \\"
echo "     --topic com.example.app --title Hello --body 'from apnsd' --tokens-file tokens.txt"
echo
set +e
"$build/apns" push --host 127.0.0.1 --port "$port" --ca-file "$certs/ca.pem" \
  --key-file "$certs/AuthKey_ABC123DEFG.p8" --key-id ABC123DEFG --team-id DEF123GHIJ \
  --topic com.example.app --title "Hello" --body "from apnsd" --badge 1 \
  --tokens-file "$work/tokens.txt"
rc=$?
set -e
echo
echo "== apns exited with $rc (0 = all accepted, 1 = some rejected: two tokens are dead on purpose)"
kill -USR1 "$sim_pid" 2>/dev/null || true
sleep 0.3
echo "== the simulator's delivery log (apns-id, token, topic, payload bytes):"
cat "$work/delivery.log"
echo
echo "== a provider token, as 'apns jwt' mints it:"
"$build/apns" jwt --key-file "$certs/AuthKey_ABC123DEFG.p8" --key-id ABC123DEFG --team-id DEF123GHIJ
echo
echo "Next: 'make test' runs the whole suite; README.md shows the CLI, the simulator and the library."
