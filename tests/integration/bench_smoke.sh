#!/usr/bin/env bash
# apns-bench smoke run: a small count against apns-sim, over TLS with token
# auth (verified by the sim), over h2c, and with --fcm against fcm-sim (a
# service account); every notification must be
# accepted and the --json object must carry the fields bench/compare and
# BENCHMARKS.md rely on. No wall-clock assertions. The benchmark itself
# (bench/compare) is not part of make test.
. "$(dirname "$0")/lib.sh"
COUNT=20000
FIELDS=(tool host port tls auth connections streams max_pending payload_bytes push_type topic
        tokens elapsed_s submitted answered accepted rejected failed sent sent_per_s
        accepted_per_s rejected_by_reason failed_by_error latency_us p50 p90 p99 p99_9 max mean
        cpu_user_s cpu_sys_s cpu_s_per_million peak_rss_kb resent retried goaways connects
        disconnects)

num() { grep -o "\"$2\":[0-9.eE+-]*" "$1" | awk 'NR == 1' | cut -d: -f2; }

check_json() {
  local f=$1 want=$2
  [ "$(wc -l < "$f")" -eq 1 ] || { cat "$f" >&2; fail "--json printed more than one line"; }
  grep -qE '^\{.*\}$' "$f" || { cat "$f" >&2; fail "--json output is not one object"; }
  for k in "${FIELDS[@]}"; do
    grep -q "\"$k\":" "$f" || { cat "$f" >&2; fail "JSON lacks \"$k\""; }
  done
  [ "$(num "$f" submitted)" = "$want" ] || fail "submitted $(num "$f" submitted), want $want"
  [ "$(num "$f" accepted)" = "$want" ] || { cat "$f" >&2; fail "accepted $(num "$f" accepted), want $want"; }
  [ "$(num "$f" rejected)" = 0 ] || fail "rejected $(num "$f" rejected)"
  [ "$(num "$f" failed)" = 0 ] || fail "failed $(num "$f" failed)"
  grep -q '"rejected_by_reason":{}' "$f" || fail "rejected_by_reason not empty"
  awk -v r="$(num "$f" peak_rss_kb)" 'BEGIN { exit !(r > 0) }' || fail "peak_rss_kb not positive"
  awk -v p="$(num "$f" p50)" -v q="$(num "$f" p99_9)" 'BEGIN { exit !(p > 0 && q >= p) }' ||
    fail "latency percentiles not ordered"
}

# 1. TLS + token auth, verified by the sim; two connections.
start_sim tls --tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key" \
  --auth-keys "$CERTS/keys" --topics com.example.app --delivery-log "$WORK/delivery.log"
"$BIN/apns-bench" --host 127.0.0.1 --port "$SIM_PORT" --ca-file "$CERTS/ca.pem" \
  --key-file "$CERTS/AuthKey_ABC123DEFG.p8" --key-id ABC123DEFG --team-id DEF123GHIJ \
  --connections 2 --streams 50 --count $COUNT --json > "$WORK/tls.json" 2> "$WORK/tls.err" ||
  { cat "$WORK/tls.err" >&2; fail "apns-bench over TLS exited $?"; }
check_json "$WORK/tls.json" $COUNT
grep -q '"tls":true' "$WORK/tls.json" || fail "tls not true"
stop_sim
n=$(wc -l < "$WORK/delivery.log")
[ "$n" -eq $COUNT ] || fail "sim delivery log has $n lines, want $COUNT"

# 2. h2c, no credentials checked; tokens and payload from files, as bench/compare does.
start_sim h2c --h2c
"$BIN/apns-bench" --tokens 50 --payload-size 200 --write-tokens "$WORK/tokens.txt" \
  --write-payload "$WORK/payload.json"
[ "$(wc -l < "$WORK/tokens.txt")" -eq 50 ] || fail "--write-tokens did not write 50 tokens"
[ "$(wc -c < "$WORK/payload.json")" -eq 200 ] || fail "--write-payload did not write 200 bytes"
"$BIN/apns-bench" --h2c --port "$SIM_PORT" --no-auth --tokens-file "$WORK/tokens.txt" \
  --payload-file "$WORK/payload.json" --count $COUNT --json > "$WORK/h2c.json" 2> "$WORK/h2c.err" ||
  { cat "$WORK/h2c.err" >&2; fail "apns-bench over h2c exited $?"; }
check_json "$WORK/h2c.json" $COUNT
grep -q '"tls":false' "$WORK/h2c.json" || fail "tls not false"
[ "$(num "$WORK/h2c.json" payload_bytes)" = 200 ] || fail "payload_bytes not 200"
[ "$(num "$WORK/h2c.json" tokens)" = 50 ] || fail "tokens not 50"

# --duration: runs about that long, every submitted notification answered and accepted.
"$BIN/apns-bench" --h2c --port "$SIM_PORT" --no-auth --duration 1 --streams 10 --json \
  > "$WORK/dur.json" 2> "$WORK/dur.err" || { cat "$WORK/dur.err" >&2; fail "--duration run exited $?"; }
sub=$(num "$WORK/dur.json" submitted)
[ "${sub:-0}" -gt 0 ] && [ "$(num "$WORK/dur.json" accepted)" = "$sub" ] ||
  { cat "$WORK/dur.json" >&2; fail "--duration: accepted != submitted"; }

# 3. The human table, and rejections counted by reason (a key the sim does not know).
"$BIN/apns-bench" --h2c --port "$SIM_PORT" --no-auth --count 1000 > "$WORK/table.txt" 2>&1 ||
  { cat "$WORK/table.txt" >&2; fail "table run exited $?"; }
grep -qE "accepted +1000" "$WORK/table.txt" || { cat "$WORK/table.txt" >&2; fail "table lacks accepted"; }
grep -q "latency (ms)" "$WORK/table.txt" || fail "table lacks latency"
grep -q "CPU-s per million" "$WORK/table.txt" || fail "table lacks CPU"
stop_sim
start_sim auth --h2c --auth-keys "$CERTS/keys"
expect_exit 1 '"InvalidProviderToken":500' "$BIN/apns-bench" --h2c --port "$SIM_PORT" --no-auth \
  --count 500 --json
stop_sim

# 4. Usage errors before connecting; no server: exit 3.
expect_exit 2 "give exactly one of" "$BIN/apns-bench" --count 10
expect_exit 2 "--count or --duration" "$BIN/apns-bench" --no-auth --count 10 --duration 1
expect_exit 3 "no connection" "$BIN/apns-bench" --h2c --port 1 --no-auth --count 10 \
  --connect-timeout 1

# 3. --fcm: FCM HTTP v1 against fcm-sim with a service account (one access
# token fetched before the clock starts); every message delivered once.
start_fcm_sim fcm --delivery-log "$WORK/fcm-delivery.log"
rc=0
"$BIN/apns-bench" --fcm --service-account "$CERTS/fcm/sa-demo.json" --port "$FCM_PORT" \
  --ca-file "$CERTS/ca.pem" --connections 2 --streams 50 --count $COUNT --json \
  > "$WORK/fcm.json" 2> "$WORK/fcm.err" || rc=$?
[ "$rc" -eq 0 ] || { cat "$WORK/fcm.err" >&2; fail "apns-bench --fcm exited $rc"; }
check_json "$WORK/fcm.json" $COUNT
grep -q '"provider":"fcm"' "$WORK/fcm.json" || fail "provider not fcm"
grep -q '"auth":"service-account"' "$WORK/fcm.json" || fail "auth not service-account"
expect_exit 2 "--fcm needs --service-account" "$BIN/apns-bench" --fcm --port "$FCM_PORT" --count 1
expect_exit 2 "need --fcm" "$BIN/apns-bench" --service-account "$CERTS/fcm/sa-demo.json" --no-auth --count 1
stop_fcm_sim
n=$(wc -l < "$WORK/fcm-delivery.log")
[ "$n" -eq $COUNT ] || fail "fcm-sim delivery log has $n lines, want $COUNT"
n=$(awk '$3 == "fcm-demo"' "$WORK/fcm-delivery.log" | wc -l)
[ "$n" -eq $COUNT ] || fail "fcm-sim delivery log: $n lines for project fcm-demo, want $COUNT"
echo "bench_smoke: 1 passed, 0 failed"
