#!/usr/bin/env bash
# firebase_admin.sh - an FCM client no one here wrote (npm firebase-admin,
# pinned in tests/sim/fcm/firebase-admin/package-lock.json) sends single
# messages (HTTP/1.1) and batches (sendEach, HTTP/2) through fcm-sim and must
# get the answers Google documents; then the delivery log must hold every
# accepted message once, and the token endpoint must have been asked once per
# fresh credential (the SDK caches its access token).
# usage: firebase_admin.sh BUILD_DIR   (env APNS_TEST_CERTS)
set -euo pipefail
build=${1:?usage: firebase_admin.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
certs=${APNS_TEST_CERTS:?}
peer=$build/fcm-peer
# npm ci into the build directory, again only when the lock file changed.
if ! cmp -s "$here/firebase-admin/package-lock.json" "$peer/package-lock.json" 2>/dev/null; then
  rm -rf "$peer" && mkdir -p "$peer"
  cp "$here/firebase-admin/package.json" "$here/firebase-admin/package-lock.json" "$peer/"
  (cd "$peer" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
cp "$here/firebase-admin/redirect.js" "$here/firebase-admin/send.js" "$peer/"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
export FCM_TOKEN="fTok3n:APA91b$(printf 'x%.0s' {1..140})"
export FCM_UNREG="dead:APA91b$(printf 'y%.0s' {1..140})"
echo "$FCM_UNREG" > "$work/unreg"

start() { # start NAME ARGS...: fcm-sim in the background; sets port
  local name=$1; shift
  "$build/fcm-sim" --listen 127.0.0.1:0 --tls-cert "$certs/server.pem" --tls-key "$certs/server.key" \
    --service-accounts "$certs/fcm/accounts" --delivery-log "$work/$name.log" "$@" \
    > "$work/$name.out" 2> "$work/$name.err" &
  pids+=($!)
  for _ in $(seq 100); do
    port=$(sed -n 's/^fcm-sim listening on .*:\([0-9]*\)$/\1/p' "$work/$name.out")
    [ -n "$port" ] && return 0
    sleep 0.05
  done
  echo "FAIL fcm-sim $name did not start: $(cat "$work/$name.err")"; exit 1
}
peer_run() { # peer_run PORT MODE
  FCM_LIMIT=${FCM_LIMIT:-} FCM_SIM_PORT=$1 NODE_EXTRA_CA_CERTS=$certs/ca.pem FCM_SIM_REDIRECT_LOG=$work/hosts \
    node --require "$peer/redirect.js" "$peer/send.js" "$2" "$certs/fcm/sa-demo.json"
}
stop() { # stop PID: SIGTERM, wait, print the counters line
  kill -TERM "$1"; wait "$1" || { echo "FAIL fcm-sim exited $?"; exit 1; }
}

start main --unregistered "$work/unreg"
main_pid=${pids[-1]}
peer_run "$port" main
stop "$main_pid"
stats=$(grep '^{' "$work/main.err" | tail -1)
echo "counters: $stats"
lines=$(wc -l < "$work/main.log")
# 1 send + 2 of the first batch + 120 of the second; the dry run is not delivered.
[ "$lines" = 123 ] || { echo "FAIL delivery log: $lines lines, want 123"; exit 1; }
[ "$(cut -d' ' -f1 "$work/main.log" | sort -u | wc -l)" = 123 ] || { echo "FAIL duplicate ids in the delivery log"; exit 1; }
echo "$stats" | grep -q '"fcm-sim@fcm-demo.iam.gserviceaccount.com":1[,}]' \
  || { echo "FAIL want exactly one token request (the SDK caches the access token)"; exit 1; }
echo "$stats" | grep -q '"h1_requests":[1-9]' && echo "$stats" | grep -q '"h2_requests":[1-9]' \
  || { echo "FAIL want both HTTP/1.1 (single sends, token) and HTTP/2 (sendEach)"; exit 1; }
grep -qx oauth2.googleapis.com "$work/hosts" && grep -qx fcm.googleapis.com "$work/hosts" \
  || { echo "FAIL the SDK did not connect to both Google hosts"; exit 1; }
echo "ok   delivery log, token requests, transports"

start quota --quota 2/60
FCM_LIMIT="project quota (429 RESOURCE_EXHAUSTED)" peer_run "$port" quota
stop "${pids[-1]}"
start device --device-rate 2/600
FCM_LIMIT="per-token rate (429 QUOTA_EXCEEDED)" peer_run "$port" quota
stop "${pids[-1]}"
rm -rf "$work"
echo "all firebase-admin checks pass"
