#!/usr/bin/env bash
# gw_systemd.sh - apnsd under a service manager, without systemd: a fake
# notify socket (notify_listen.py, a unix datagram socket as systemd binds
# for $NOTIFY_SOCKET) and the run directory systemd's RuntimeDirectory= gives.
#
# 1. READY=1 arrives only once apnsd is listening (its port answers at that
#    moment); with WATCHDOG_USEC set, WATCHDOG=1 keeps coming.
# 2. apnsd --reload reports apnsd's verdict: a new API key -> exit 0, the key
#    works; a config error -> exit 2 naming the key, and a key file apnsd
#    cannot use (valid to --check-config, refused when loaded) -> exit 2;
#    either way the running configuration keeps serving. Each verdict is a
#    new entry (SEQ) in reload.status.
# 3. SIGTERM: STOPPING=1, exit 0, the pid file is gone, and --reload then
#    says apnsd is not running (exit 1).
# 4. An abstract socket ("@name") works too; no WATCHDOG_USEC: no WATCHDOG=1.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw_lib.sh"
here=$(dirname "$0")

# listen_notify NAME SOCKET : the fake notify socket, messages in $WORK/NAME.
listen_notify() {
  python3 "$here/notify_listen.py" "$2" "$WORK/$1" &
  PIDS+=("$!")
  for _ in $(seq 100); do [ -e "$WORK/$1.ready" ] && return 0; sleep 0.05; done
  fail "the fake notify socket did not start"
}
# wait_msg NAME MESSAGE COUNT : until NAME has COUNT lines MESSAGE (10 s).
wait_msg() {
  for _ in $(seq 200); do
    [ "$(grep -cx "$2" "$WORK/$1" 2>/dev/null || true)" -ge "$3" ] && return 0
    sleep 0.05
  done
  fail "$1: $3 x '$2' not received: $(cat "$WORK/$1" 2>/dev/null)"
}

start_gw_sim sim
gw_config "$WORK/apnsd.ini" "$SIM_PORT" "$WORK/apnsd.db" "" "" ""
mkdir "$WORK/run"
listen_notify notify "$WORK/notify.sock"

# 1. readiness and the watchdog
NOTIFY_SOCKET=$WORK/notify.sock WATCHDOG_USEC=200000 RUNTIME_DIRECTORY=$WORK/run \
  "$BIN/apnsd" --config "$WORK/apnsd.ini" >"$WORK/gw.out" 2>"$WORK/gw.err" &
GW_PID=$!
PIDS+=("$GW_PID")
wait_msg notify READY=1 1
# READY=1 came after the listeners were bound: the port is already printed
# and answering.
GW_PORT=$(sed -n 's/^apnsd listening on .*:\([0-9]*\)$/\1/p' "$WORK/gw.out")
[ -n "$GW_PORT" ] || fail "READY=1 before 'apnsd listening on'"
GW=http://127.0.0.1:$GW_PORT
api GET /readyz -
[ "$ST" = 200 ] || fail "READY=1 sent but /readyz answers $ST"
wait_msg notify WATCHDOG=1 3
[ "$(cat "$WORK/run/apnsd.pid")" = "$GW_PID" ] || fail "apnsd.pid does not hold apnsd's pid"
grep -qx STOPPING=1 "$WORK/notify" && fail "STOPPING=1 before any signal"

export RUNTIME_DIRECTORY=$WORK/run
# 2a. a valid change: applied, exit 0
NEWKEY=shop-key-new-0123456789abcdef
sed -i "s/^api_keys = $GW_KEY\$/api_keys = $GW_KEY,$NEWKEY/" "$WORK/apnsd.ini"
grep -q "$NEWKEY" "$WORK/apnsd.ini" || fail "test setup: key not added"
expect_exit 0 "configuration reloaded" "$BIN/apnsd" --reload
grep -q "app $GW_APP: updated" "$WORK/last.out" || fail "the verdict does not name the app: $(cat "$WORK/last.out")"
head -1 "$WORK/run/reload.status" | grep -qx "apnsd-reload 1 $GW_PID 1 ok" ||
  fail "reload.status: $(cat "$WORK/run/reload.status")"
push='{"app":"'$GW_APP'","tokens":'$(gw_tokens 1 1)',"alert":{"title":"t","body":"b"}}'
api POST /v1/push "$NEWKEY" -d "$push"
[ "$ST" = 202 ] || fail "the reloaded key: HTTP $ST"

# 2b. a configuration error: refused, exit 2, the error named
cp "$WORK/apnsd.ini" "$WORK/good.ini"
printf 'connections = many\n' >>"$WORK/apnsd.ini"
expect_exit 2 "\[app other\] connections" "$BIN/apnsd" --reload
grep -q "reload refused" "$WORK/last.out" || fail "no refusal: $(cat "$WORK/last.out")"
head -1 "$WORK/run/reload.status" | grep -qx "apnsd-reload 1 $GW_PID 2 refused" ||
  fail "reload.status: $(cat "$WORK/run/reload.status")"
# 2c. a key file apnsd cannot use (--check-config only checks it exists)
cp "$WORK/good.ini" "$WORK/apnsd.ini"
(umask 077; echo "not a key" >"$WORK/bad.p8")
sed -i "s#^key_file = .*#key_file = $WORK/bad.p8#" "$WORK/apnsd.ini"
expect_exit 0 "configuration OK" "$BIN/apnsd" --check-config --config "$WORK/apnsd.ini"
expect_exit 2 "reload refused" "$BIN/apnsd" --reload
# The running configuration still serves, with the key of 2a.
api POST /v1/push "$NEWKEY" -d "$push"
[ "$ST" = 202 ] || fail "after refused reloads: HTTP $ST"

# 3. the drain
GW_KEY=$NEWKEY
stop_gw gw
wait_msg notify STOPPING=1 1
[ ! -e "$WORK/run/apnsd.pid" ] || fail "apnsd.pid left behind"
expect_exit 1 "not running" "$BIN/apnsd" --reload

# 4. an abstract socket, no watchdog
cp "$WORK/good.ini" "$WORK/apnsd.ini"
abstract="@apnsd-test-$$-$RANDOM"
listen_notify notify2 "$abstract"
unset RUNTIME_DIRECTORY
NOTIFY_SOCKET=$abstract "$BIN/apnsd" --config "$WORK/apnsd.ini" >"$WORK/gw2.out" 2>"$WORK/gw2.err" &
GW_PID=$!
PIDS+=("$GW_PID")
wait_msg notify2 READY=1 1
stop_gw gw2
wait_msg notify2 STOPPING=1 1
if grep -q WATCHDOG "$WORK/notify2"; then fail "WATCHDOG=1 without WATCHDOG_USEC"; fi
echo "ok: READY/WATCHDOG/STOPPING on the notify socket; apnsd --reload reports applied and refused"
