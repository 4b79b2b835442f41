# Shared helpers for the shell integration tests (sourced).
# Needs APNS_BIN_DIR and APNS_TEST_CERTS (ctest sets both).
set -euo pipefail
: "${APNS_BIN_DIR:?}" "${APNS_TEST_CERTS:?}"
BIN=$APNS_BIN_DIR
CERTS=$APNS_TEST_CERTS
WORK=$(mktemp -d "${TMPDIR:-/tmp}/apns-it-XXXXXX")
PIDS=()
cleanup() {
  local rc=$?
  for p in "${PIDS[@]:-}"; do
    if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; fi
  done
  wait 2>/dev/null || true
  # A failed run keeps its files for inspection.
  if [ "$rc" -eq 0 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
# A command failing under set -e would otherwise end the test without a word.
trap 'echo "FAIL: ${BASH_SOURCE[0]##*/}:$LINENO: exit $?: $BASH_COMMAND" >&2' ERR
fail() { echo "FAIL: $*" >&2; exit 1; }

# start_sim NAME ARGS... : starts apns-sim on an ephemeral port; sets SIM_PORT, SIM_PID.
start_sim() {
  local name=$1; shift
  "$BIN/apns-sim" --listen 127.0.0.1:0 "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" &
  SIM_PID=$!
  PIDS+=("$SIM_PID")
  for _ in $(seq 150); do grep -q "listening on" "$WORK/$name.out" 2>/dev/null && break; sleep 0.1; done
  SIM_PORT=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$WORK/$name.out" | head -1)
  [ -n "$SIM_PORT" ] || { cat "$WORK/$name.err" >&2; fail "apns-sim ($name) did not start"; }
}

stop_sim() { kill -TERM "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; }

# start_fcm_sim NAME ARGS... : fcm-sim on an ephemeral port with the test server
# certificate and the test service accounts (tests/certs/gen.sh); sets FCM_PORT, FCM_PID.
start_fcm_sim() {
  local name=$1; shift
  "$BIN/fcm-sim" --listen 127.0.0.1:0 --tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key" \
    --service-accounts "$CERTS/fcm/accounts" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" &
  FCM_PID=$!
  PIDS+=("$FCM_PID")
  for _ in $(seq 150); do grep -q "listening on" "$WORK/$name.out" 2>/dev/null && break; sleep 0.1; done
  FCM_PORT=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$WORK/$name.out" | awk 'NR == 1')
  [ -n "$FCM_PORT" ] || { cat "$WORK/$name.err" >&2; fail "fcm-sim ($name) did not start"; }
}
stop_fcm_sim() { kill -TERM "$FCM_PID" 2>/dev/null || true; wait "$FCM_PID" 2>/dev/null || true; }

# expect_exit CODE PATTERN CMD... : runs CMD, checks exit code and that stdout+stderr match PATTERN.
expect_exit() {
  local want=$1 pat=$2; shift 2
  set +e
  "$@" > "$WORK/last.out" 2>&1
  local got=$?
  set -e
  [ "$got" -eq "$want" ] || { cat "$WORK/last.out" >&2; fail "exit $got, want $want: $*"; }
  grep -qE -- "$pat" "$WORK/last.out" || { cat "$WORK/last.out" >&2; fail "output lacks /$pat/: $*"; }
}
