#!/usr/bin/env bash
# The main job of `make run`, on a fresh machine, without Apple credentials:
#   1. start apns-sim (TLS, token auth) on loopback and push a small batch
#      through the `apns` CLI: each result, then the simulator's delivery log;
#   2. start fcm-sim (the Firebase Cloud Messaging stand-in) and apnsd with a
#      generated config: an iOS app pointing at apns-sim and an Android app
#      (provider = fcm) pointing at fcm-sim; push a batch over its HTTP API
#      with curl, then one request for both platforms; show the answers, the
#      status and both delivery logs, print ready-to-paste curl commands, and
#      serve until Ctrl-C.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=../tests/support/app_ini.sh
. tests/support/app_ini.sh
certs="$root/$build/certs"
tests/certs/gen.sh "$certs"
work=$(mktemp -d "${TMPDIR:-/tmp}/apns-demo-XXXXXX")
sim_pid=""
fcm_pid=""
apnsd_pid=""
cleanup() {
  trap - EXIT INT TERM
  [ -n "$apnsd_pid" ] && kill -TERM "$apnsd_pid" 2>/dev/null
  [ -n "$apnsd_pid" ] && wait "$apnsd_pid" 2>/dev/null
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null
  [ -n "$fcm_pid" ] && kill "$fcm_pid" 2>/dev/null
  wait 2>/dev/null || true
  echo
  echo "== stopped apnsd, apns-sim and fcm-sim (files kept in $work)"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

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

echo "== 1. apns-sim is listening on $addr (TLS, token auth, sandbox)"
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

# ---------------------------------------------------------------------------
# 2. apnsd in front of the same simulator.
[ -x "$build/apnsd" ] || { echo "($build/apnsd is not built yet: stopping after the CLI demo)"; exit 0; }

# fcm-sim: the token endpoint and messages:send, trusting the test service
# account; one registration token is unregistered on purpose.
fcm_port=""
if [ -x "$build/fcm-sim" ] && [ -f "$certs/fcm/sa-demo.json" ]; then
  echo "dEmO-unregistered:APA91bFakeTokenForTheDemo" > "$work/fcm-unregistered.txt"
  "$build/fcm-sim" --listen 127.0.0.1:0 --tls-cert "$certs/server.pem" --tls-key "$certs/server.key" \
    --service-accounts "$certs/fcm/accounts" --unregistered "$work/fcm-unregistered.txt" \
    --delivery-log "$work/fcm-delivery.log" > "$work/fcm-sim.out" 2> "$work/fcm-sim.err" &
  fcm_pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$work/fcm-sim.out" 2>/dev/null && break; sleep 0.1; done
  fcm_port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$work/fcm-sim.out" | awk 'NR == 1')
  [ -n "$fcm_port" ] || { echo "fcm-sim did not start:"; cat "$work/fcm-sim.err"; exit 1; }
  # A service-account key is a secret: apnsd refuses a world-readable one.
  install -m 600 "$certs/fcm/sa-demo.json" "$work/service-account.json"
fi

key="demo-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
listen_port=${APNSD_DEMO_PORT:-0}
write_config() {
  cat > "$work/apnsd.ini" <<INI
; Generated by scripts/demo.sh: the demo app points at the local apns-sim.
; Switching to production with a real .p8 key: docs/operations.md.
[server]
listen = 127.0.0.1:$1
drain_timeout = 10s

[queue]
path = $work/apnsd.db

[log]
format = logfmt
level = info

INI
  app_ini demo com.example.app "$port" "$certs" "$key" >> "$work/apnsd.ini"
  if [ -n "$fcm_port" ]; then
    cat >> "$work/apnsd.ini" <<INI

; An Android app: Firebase Cloud Messaging HTTP v1, here the local fcm-sim.
; For Firebase itself: drop fcm_host, fcm_port, token_url and ca_file.
[app android]
provider = fcm
service_account_file = $work/service-account.json
fcm_host = 127.0.0.1
fcm_port = $fcm_port
token_url = https://127.0.0.1:$fcm_port/token
ca_file = $certs/ca.pem
api_keys = $key
INI
  fi
  chmod 600 "$work/apnsd.ini"
}
write_config "$listen_port"
if ! "$build/apnsd" --check-config --config "$work/apnsd.ini" > /dev/null 2>&1; then
  # An older config loader refuses port 0: take the first free port from 8080.
  for p in $(seq 8080 8180); do
    (exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null && continue
    listen_port=$p
    break
  done
  write_config "$listen_port"
  "$build/apnsd" --check-config --config "$work/apnsd.ini" > /dev/null
fi

# Its own session: Ctrl-C reaches only this script, which sends apnsd exactly
# one SIGTERM (a second signal would cut its drain short).
setsid "$build/apnsd" --config "$work/apnsd.ini" > "$work/apnsd.out" 2> "$work/apnsd.log" &
apnsd_pid=$!
for _ in $(seq 100); do grep -q "apnsd listening on" "$work/apnsd.out" 2>/dev/null && break; sleep 0.1; done
api=$(sed -n 's/^apnsd listening on //p' "$work/apnsd.out" | head -1)
[ -n "$api" ] || { echo "apnsd did not start:"; cat "$work/apnsd.log"; exit 1; }
base="http://$api"

echo "== 2. apnsd is listening on $api (config: $work/apnsd.ini, log: $work/apnsd.log)"
echo "== pushing the five demo tokens as one notification (POST /v1/push?wait=5 answers with each token's result):"
toks=$(grep -v '^#' "$work/tokens.txt" | sed 's/.*/"&"/' | paste -sd, -)
body="{\"app\":\"demo\",\"tokens\":[$toks],\"payload\":{\"aps\":{\"alert\":{\"title\":\"Hello\",\"body\":\"from apnsd\"},\"badge\":1}}}"
answer=$(curl -sS -w '\nHTTP %{http_code}' -X POST "$base/v1/push?wait=5" \
  -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d "$body")
echo "$answer"
id=$(echo "$answer" | sed -n 's/.*"id":"\([0-9a-f-]\{36\}\)".*/\1/p' | head -1)
echo
if [ -n "$id" ]; then
  echo "== GET /v1/notifications/$id"
  curl -sS -H "Authorization: Bearer $key" "$base/v1/notifications/$id"
  echo
  echo
fi
echo "== GET /v1/apps/demo/dead-tokens (the registry: 410 with Apple's timestamp, DeviceTokenNotForTopic)"
curl -sS -H "Authorization: Bearer $key" "$base/v1/apps/demo/dead-tokens"
echo
echo
echo "== and a batch of 1,000 tokens, answered 202 as soon as it is on disk:"
many=$(for i in $(seq 1 1000); do printf '"%064x"\n' "$i"; done | paste -sd, -)
curl -sS -w '\nHTTP %{http_code}\n' -X POST "$base/v1/push" -H "Authorization: Bearer $key" \
  -H 'Content-Type: application/json' \
  -d "{\"app\":\"demo\",\"tokens\":[$many],\"payload\":{\"aps\":{\"alert\":\"a broadcast\"}}}"
echo
if [ -n "$fcm_port" ]; then
  echo "== 3. one request for both platforms: an iOS notification and an Android one (two registration tokens, one unregistered):"
  both='{"notifications":[
  {"app":"demo","token":"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff","alert":"Order 1042 shipped"},
  {"app":"android","tokens":["eXaMpLe-0:APA91bDemoRegistrationToken","dEmO-unregistered:APA91bFakeTokenForTheDemo"],
   "notification":{"title":"Order 1042 shipped"},"data":{"order":"1042"},"android":{"priority":"HIGH","ttl":"3600s"}}]}'
  echo "$both"
  curl -sS -w '\nHTTP %{http_code}\n' -X POST "$base/v1/push?wait=10" -H "Authorization: Bearer $key" \
    -H 'Content-Type: application/json' -d "$both"
  echo
  sleep 0.3
  echo "== fcm-sim's delivery log (message id, registration token, project, body bytes):"
  cat "$work/fcm-delivery.log" 2>/dev/null || true
  echo
  echo "== GET /v1/apps/android/dead-tokens (FCM's UNREGISTERED, as a 410)"
  curl -sS -H "Authorization: Bearer $key" "$base/v1/apps/android/dead-tokens"
  echo
  echo
fi
cat <<EOF
== apnsd is serving. Push a notification yourself:

curl -X POST '$base/v1/push' \\
  -H 'Authorization: Bearer $key' -H 'Content-Type: application/json' \\
  -d '{"app":"demo","tokens":["00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"],"payload":{"aps":{"alert":"Hello from apnsd"}}}'

and to Android (the app "android", through fcm-sim):

curl -X POST '$base/v1/push' \\
  -H 'Authorization: Bearer $key' -H 'Content-Type: application/json' \\
  -d '{"app":"android","tokens":["my-registration-token"],"notification":{"title":"Hello from apnsd"}}'

   status:   curl -H 'Authorization: Bearer $key' $base/v1/notifications/<id>
   metrics:  curl $base/metrics
   log:      tail -f $work/apnsd.log

Press Ctrl-C to stop (apnsd drains, then the simulators exit).
EOF
set +e
wait "$apnsd_pid"
rc=$?
apnsd_pid=""
[ "$rc" -eq 0 ] || { echo "apnsd exited with $rc:"; tail -20 "$work/apnsd.log"; }
