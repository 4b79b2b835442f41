#!/usr/bin/env bash
# `apns push` for long runs (issue 14): Ctrl-C with answers in flight exits
# after the last answer without a second signal and reports the rest as
# not_sent; --progress; --only; every invalid line of a tokens file reported
# before anything is sent; the topic suffix checked against the push type
# (expected suffixes from tests/golden/push-types.tsv, Apple's table);
# --version; getopt_long option parsing.
# APNS_IT_SMALL=1 (sanitizer builds) uses fewer tokens.
. "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
A="$BIN/apns"
KEY=(--key-file "$CERTS/AuthKey_ABC123DEFG.p8" --key-id ABC123DEFG --team-id DEF123GHIJ)
if [ "${APNS_IT_SMALL:-0}" = 1 ]; then N=600 CONC=100; else N=3000 CONC=300; fi
printf '%064x\n' $(seq 1 "$N") > "$WORK/tokens.txt"

# ---- --version, from the project's version macro -----------------------
want=$(sed -n 's/^#define APNS_VERSION *"\(.*\)"$/\1/p' "$SRC/include/apns/version.h")
[ -n "$want" ] || fail "no APNS_VERSION in include/apns/version.h"
expect_exit 0 "^apns $want \(libapns $want\)$" "$A" --version
expect_exit 0 "^apns $want " "$A" -V
expect_exit 0 "--version" "$A" --help

# ---- getopt_long, like apnsd and apns-sim --------------------------------
C=(--host 127.0.0.1 --port 1 --ca-file "$CERTS/ca.pem" "${KEY[@]}" --topic com.example.app)
expect_exit 2 "ambiguous option --to\b" "$A" push "${C[@]}" --to x --title hi
expect_exit 2 "--insecure takes no value" "$A" push "${C[@]}" --insecure=yes --title hi
expect_exit 2 "unknown option -q" "$A" push -q
expect_exit 2 "--only: unknown value 'sent'" "$A" push "${C[@]}" --only accepted,sent --title hi --token 00112233445566778899aabbccddeeff

# ---- every invalid token reported, nothing sent ---------------------------
# 30 lines, 25 invalid: lines 2, 3, 5, 6, 7, ... (every line not in GOOD).
GOOD=" 1 4 8 16 30 "
: > "$WORK/bad.txt"
for i in $(seq 30); do
  if [[ "$GOOD" == *" $i "* ]]; then printf '%064x\n' "$i" >> "$WORK/bad.txt"; else echo "line$i-not-hex" >> "$WORK/bad.txt"; fi
done
expect_exit 2 "bad.txt: 5 more invalid lines not shown \(25 of 30 lines invalid\)" \
  "$A" push "${C[@]}" --title hi --tokens-file "$WORK/bad.txt"
# (awk, not head: head leaves the loop writing into a closed pipe, and under
# pipefail its SIGPIPE ends the script silently.)
want_lines=$(for i in $(seq 30); do [[ "$GOOD" == *" $i "* ]] || echo "$i"; done | awk 'NR <= 20' | tr '\n' ' ')
got_lines=$(sed -n 's/.*bad\.txt:\([0-9]*\): invalid device token "line\([0-9]*\)-not-hex".*/\1/p' "$WORK/last.out" | tr '\n' ' ')
[ "$got_lines" = "$want_lines" ] || fail "reported lines '$got_lines', want the first 20 invalid: '$want_lines'"
grep -q "line2-not-hex\": character 'l' at column 1 is not hexadecimal" "$WORK/last.out" || fail "problem not named"
# Every bad --token too.
expect_exit 2 "--token: invalid device token \"abc\"" "$A" push "${C[@]}" --title hi --token xyz --token abc
grep -q -- '--token: invalid device token "xyz"' "$WORK/last.out" || fail "first bad --token not reported"

# ---- topic suffix against the push type (port 1: refused before connecting)
# tests/golden/push-types.tsv: push_type, topic_suffix ("-" = none), ...
S_TYPES=()
while IFS=$'\t' read -r type suffix _; do
  case "$type" in \#*|push_type|'') continue ;; esac
  S_TYPES+=("$type:$suffix")
  [ "$suffix" = - ] && continue
  expect_exit 2 "a $type push goes to the topic <bundle id>${suffix//./\\.} \(e\.g\. --topic com\.example\.app${suffix//./\\.}\)" \
    "$A" push "${C[@]}" --push-type "$type" --payload '{"aps":{"content-available":1}}' --token 00112233445566778899aabbccddeeff
done < "$SRC/tests/golden/push-types.tsv"
[ "${#S_TYPES[@]}" -eq 11 ] || fail "push-types.tsv: ${#S_TYPES[@]} rows, want 11"
# Another type's suffix is not this one's.
expect_exit 2 "a pushtotalk push goes to the topic <bundle id>\.voip-ptt \(e\.g\. --topic com\.example\.app\.voip-ptt\)" \
  "$A" push "${C[@]/com.example.app/com.example.app.voip}" --push-type pushtotalk --payload '{"aps":{}}' --token 00112233445566778899aabbccddeeff

# ---- against apns-sim ---------------------------------------------------
printf '%064x 1700000000000\n' 7 11 13 > "$WORK/unreg.txt"
start_sim fast --tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key" --auth-keys "$CERTS/keys" \
  --topics com.example.app --unregistered "$WORK/unreg.txt" --delivery-log "$WORK/fast.log"
S=(--host 127.0.0.1 --port "$SIM_PORT" --ca-file "$CERTS/ca.pem" "${KEY[@]}")

# Every push type with its suffixed topic is sent and accepted.
for ts in "${S_TYPES[@]}"; do
  type=${ts%%:*} suffix=${ts#*:}
  [ "$suffix" = - ] && suffix=
  "$A" push "${S[@]}" --topic "com.example.app$suffix" --push-type "$type" \
    --payload '{"aps":{"content-available":1}}' --token 00112233445566778899aabbccddeeff > "$WORK/type.out" 2> "$WORK/type.err" ||
    { cat "$WORK/type.err" >&2; fail "$type to com.example.app$suffix not accepted"; }
done

# A unique prefix of an option is the option (getopt_long).
"$A" push "${S[@]}" --topic com.example.app --title hi --tokens-f "$WORK/tokens.txt" --only not_sent \
  --no-progress > "$WORK/prefix.out" 2> "$WORK/prefix.err" || true
grep -q "$N tokens: $((N - 3)) accepted, 3 rejected, 0 failed, 0 not sent" "$WORK/prefix.err" ||
  { cat "$WORK/prefix.err" >&2; fail "--tokens-f FILE"; }
[ ! -s "$WORK/prefix.out" ] || fail "--only not_sent printed lines with nothing unsent"

# --only rejected,failed: stdout holds just the three dead tokens; the summary counts all.
head -20 "$WORK/tokens.txt" > "$WORK/t20.txt"
set +e
"$A" push "${S[@]}" --topic com.example.app --title hi --tokens-file "$WORK/t20.txt" \
  --only rejected,failed > "$WORK/only.out" 2> "$WORK/only.err"
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat "$WORK/only.err" >&2; fail "--only run: exit $rc, want 1"; }
[ "$(wc -l < "$WORK/only.out")" -eq 3 ] || { cat "$WORK/only.out" >&2; fail "--only rejected,failed: want 3 lines"; }
[ "$(grep -c '"outcome":"rejected","reason":"Unregistered"' "$WORK/only.out")" -eq 3 ] || fail "--only: not the dead tokens"
grep -q "20 tokens: 17 accepted, 3 rejected, 0 failed, 0 not sent" "$WORK/only.err" || fail "--only: summary"
# stderr is not a terminal here: no progress unless asked.
! grep -q "progress:" "$WORK/only.err" || fail "progress printed to a non-terminal without --progress"
stop_sim

# Answers that take 3 s, so a Ctrl-C surely finds streams in flight.
start_sim slow --tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key" --auth-keys "$CERTS/keys" \
  --topics com.example.app --latency-ms 3000 --delivery-log "$WORK/slow.log"
S=(--host 127.0.0.1 --port "$SIM_PORT" --ca-file "$CERTS/ca.pem" "${KEY[@]}" --topic com.example.app)

# --progress is on by default when stderr is a terminal (script(1) gives it
# one); the one token is in flight at the first tick (answers take 3 s).
script -qec "$(printf '%q ' "$A" push "${S[@]}" --title hi --token 00112233445566778899aabbccddeeff)" \
  /dev/null > "$WORK/tty.out" 2>&1 || { cat "$WORK/tty.out" >&2; fail "push under a terminal failed"; }
grep -qE "progress: 1/1 sent, 0 answered \(0 accepted, 0 rejected, 0 failed\), 1 in flight, 0/s, ETA unknown" \
  "$WORK/tty.out" || { cat "$WORK/tty.out" >&2; fail "no progress on a terminal"; }

# Ctrl-C mid-run: sending stops, the answers in flight are awaited, then
# the process exits by itself (no second signal) with a summary, and every
# token never sent is reported not_sent. Once connected, CONC notifications
# are in flight for the 3 s of latency, and N/CONC rounds would take 30 s.
"$A" push "${S[@]}" --title hi --tokens-file "$WORK/tokens.txt" --concurrency "$CONC" --verbose \
  > "$WORK/int.out" 2> "$WORK/int.err" &
APNS_PID=$!
PIDS+=("$APNS_PID")
for _ in $(seq 300); do
  grep -q "info: connected to 127.0.0.1" "$WORK/int.err" && break
  kill -0 "$APNS_PID" 2>/dev/null || break
  sleep 0.1
done
grep -q "info: connected to 127.0.0.1" "$WORK/int.err" || { cat "$WORK/int.err" >&2; fail "apns push did not connect"; }
sleep 0.5
kill -INT "$APNS_PID"
for _ in $(seq 300); do kill -0 "$APNS_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$APNS_PID" 2>/dev/null; then
  kill -KILL "$APNS_PID"
  cat "$WORK/int.err" >&2
  fail "apns push still running 30 s after one SIGINT with answers in flight"
fi
set +e
wait "$APNS_PID"
rc=$?
set -e
grep -v ": debug: " "$WORK/int.err"
[ "$rc" -eq 1 ] || fail "interrupted run: exit $rc, want 1"
grep -qE "interrupted: sending no more; waiting for [1-9][0-9]* answers" "$WORK/int.err" ||
  fail "no interruption message with answers in flight"
! grep -q "interrupted again" "$WORK/int.err" || fail "a second interruption was seen"
summary=$(grep -E "^apns push: $N tokens: [0-9]+ accepted, 0 rejected, 0 failed, [0-9]+ not sent" "$WORK/int.err") ||
  fail "no summary"
acc=$(sed -E 's/.*tokens: ([0-9]+) accepted.*/\1/' <<< "$summary")
ns=$(sed -E 's/.* ([0-9]+) not sent.*/\1/' <<< "$summary")
[ "$acc" -gt 0 ] && [ "$ns" -gt 0 ] && [ $((acc + ns)) -eq "$N" ] || fail "summary: $acc accepted + $ns not sent != $N"
# One line per token, each token once.
[ "$(wc -l < "$WORK/int.out")" -eq "$N" ] || fail "$(wc -l < "$WORK/int.out") lines, want $N"
sed -E 's/^\{"token":"([0-9a-f]+)".*/\1/' "$WORK/int.out" | sort > "$WORK/int.tokens"
sort "$WORK/tokens.txt" | cmp -s - "$WORK/int.tokens" || fail "not every token exactly once"
[ "$(grep -c '"outcome":"accepted"' "$WORK/int.out")" -eq "$acc" ] || fail "accepted lines != summary"
[ "$(grep -c '^{"token":"[0-9a-f]*","status":0,"outcome":"not_sent"}$' "$WORK/int.out")" -eq "$ns" ] ||
  fail "not_sent lines != summary"
! grep -q "APNS_ESHUTDOWN" "$WORK/int.out" || fail "internal error name in the output"
stop_sim
# What the sim accepted is exactly what was reported accepted; no not_sent token reached it.
[ "$(wc -l < "$WORK/slow.log")" -eq $((acc + 1)) ] || fail "sim delivered $(wc -l < "$WORK/slow.log"), want $acc + 1"
grep '"outcome":"not_sent"' "$WORK/int.out" | sed -E 's/^\{"token":"([0-9a-f]+)".*/\1/' | sort > "$WORK/ns.tokens"
awk '{print $2}' "$WORK/slow.log" | sort > "$WORK/delivered.tokens"
[ -z "$(comm -12 "$WORK/ns.tokens" "$WORK/delivered.tokens")" ] || fail "a not_sent token was delivered"

# No server: what was handed to the client failed with the connection's
# error; what never was is not_sent.
set +e
"$A" push --host 127.0.0.1 --port 1 --ca-file "$CERTS/ca.pem" "${KEY[@]}" --topic com.example.app --title hi \
  --concurrency 1 --connect-timeout 1 --tokens-file "$WORK/t20.txt" > "$WORK/nc.out" 2> "$WORK/nc.err"
rc=$?
set -e
[ "$rc" -eq 3 ] || { cat "$WORK/nc.err" >&2; fail "no server: exit $rc, want 3"; }
[ "$(wc -l < "$WORK/nc.out")" -eq 20 ] || fail "no server: want 20 lines"
[ "$(grep -c '"outcome":"not_sent"' "$WORK/nc.out")" -ge 18 ] || { cat "$WORK/nc.out" >&2; fail "no server: want not_sent lines"; }
[ "$(grep -c '"outcome":"failed","error":"APNS_ECONNECT"' "$WORK/nc.out")" -ge 1 ] || fail "no server: want a failed line"
grep -q "20 tokens: 0 accepted, 0 rejected, [12] failed, 1[89] not sent" "$WORK/nc.err" || fail "no server: summary"
echo "cli_run: all checks passed"
