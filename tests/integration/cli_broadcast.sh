#!/usr/bin/env bash
# `apns channel` and `apns broadcast` against apns-sim (issue 13): help, bad
# input (clear message, exit 2, nothing sent), each subcommand, rejections
# (exit 1) and connection problems (exit 3), then a full create -> publish ->
# delete flow checked in the sim's delivery log, with token and certificate
# auth. Statuses and reasons the sim must answer come from
# tests/golden/broadcast.tsv (by row id), not from libapns.
. "$(dirname "$0")/lib.sh"
A="$BIN/apns"
GOLDEN="$(dirname "$0")/../golden/broadcast.tsv"
KEY=(--key-file "$CERTS/AuthKey_ABC123DEFG.p8" --key-id ABC123DEFG --team-id DEF123GHIJ)
APP=com.example.app

# golden ID -> "STATUS REASON" of broadcast.tsv's row ID ("-" for none).
golden() { awk -F'\t' -v id="$1" '$1 == id { print $3, $4; f = 1 } END { exit !f }' "$GOLDEN"; }
# expect_answer ID FILE: FILE's JSON line has the row's status and reason.
expect_answer() {
  local st re
  read -r st re < <(golden "$1") || fail "broadcast.tsv has no row $1"
  grep -q "\"status\":$st," "$2" || { cat "$2" >&2; fail "$1: want status $st"; }
  if [ "$re" = "-" ]; then
    grep -q '"outcome":"accepted"' "$2" || { cat "$2" >&2; fail "$1: want accepted"; }
  else
    grep -q "\"outcome\":\"rejected\",\"reason\":\"$re\"" "$2" || { cat "$2" >&2; fail "$1: want reason $re"; }
  fi
}
# run_cli WANT_EXIT OUT CMD...: runs CMD with stdout in OUT, checks the exit code.
run_cli() {
  local want=$1 out=$2; shift 2
  set +e
  "$@" > "$out" 2> "$out.err"
  local got=$?
  set -e
  [ "$got" -eq "$want" ] || { cat "$out" "$out.err" >&2; fail "exit $got, want $want: $*"; }
}
# The sim's manage port, from its stdout file $WORK/NAME.out.
manage_port() { sed -n 's/.*manage listening on .*:\([0-9]*\)$/\1/p' "$WORK/$1.out"; }

# --help everywhere, exit 0; the main help names the commands.
expect_exit 0 "channel" "$A" --help
expect_exit 0 "broadcast" "$A" --help
expect_exit 0 "--storage-policy" "$A" channel --help
expect_exit 0 "--storage-policy" "$A" help channel
expect_exit 0 "--manage-host" "$A" channel create --help
expect_exit 0 "--content-state" "$A" broadcast --help
expect_exit 0 "--publish-host" "$A" help broadcast

# Bad input: exit 2, a message naming the problem, nothing sent (port 1 has
# no server: reaching it would be exit 3).
M=(--manage-host 127.0.0.1 --manage-port 1 --ca-file "$CERTS/ca.pem" "${KEY[@]}" --topic $APP)
P=(--host 127.0.0.1 --port 1 --ca-file "$CERTS/ca.pem" "${KEY[@]}" --topic $APP)
CH=dGVzdC1jaGFubmVsLWlkMQ==
expect_exit 2 "missing operation" "$A" channel
expect_exit 2 "unknown operation 'rename'" "$A" channel rename "${M[@]}"
expect_exit 2 "read needs --channel" "$A" channel read "${M[@]}"
expect_exit 2 "delete needs --channel" "$A" channel delete "${M[@]}"
expect_exit 2 "create takes no --channel" "$A" channel create "${M[@]}" --channel $CH
expect_exit 2 "not a channel id" "$A" channel read "${M[@]}" --channel 'not base64!'
expect_exit 2 "storage-policy: expected none" "$A" channel create "${M[@]}" --storage-policy 2
expect_exit 2 "for create only" "$A" channel list "${M[@]}" --storage-policy none
expect_exit 2 "--topic is required" "$A" channel list --manage-host 127.0.0.1 --manage-port 1 "${KEY[@]}"
expect_exit 2 "no credentials" "$A" channel list --manage-host 127.0.0.1 --manage-port 1 --topic $APP
expect_exit 2 "one kind of credentials" "$A" channel list "${M[@]}" --cert "$CERTS/client.pem"
expect_exit 2 "manage-port" "$A" channel list "${M[@]}" --manage-port 70000
expect_exit 2 "--env: expected production or sandbox" "$A" channel list "${M[@]}" --env staging
expect_exit 2 "request-id" "$A" channel create "${M[@]}" --request-id nope
expect_exit 2 "suffix|TopicDisallowed|topic" "$A" channel list --manage-host 127.0.0.1 --manage-port 1 --ca-file "$CERTS/ca.pem" "${KEY[@]}" --topic $APP.push-type.liveactivity
expect_exit 2 "--channel ID is required" "$A" broadcast "${P[@]}" --content-state '{}'
expect_exit 2 "cannot start an activity" "$A" broadcast "${P[@]}" --channel $CH --event start
expect_exit 2 "content-state" "$A" broadcast "${P[@]}" --channel $CH --event update
expect_exit 2 "content-state" "$A" broadcast "${P[@]}" --channel $CH --content-state '[1'
expect_exit 2 "no payload" "$A" broadcast "${P[@]}" --channel $CH
expect_exit 2 "give one payload" "$A" broadcast "${P[@]}" --channel $CH --payload '{}' --content-state '{}'
expect_exit 2 "priority" "$A" broadcast "${P[@]}" --channel $CH --content-state '{}' --priority 7
expect_exit 2 "expiration" "$A" broadcast "${P[@]}" --channel $CH --content-state '{}' --expiration soon
expect_exit 2 "stale-date" "$A" broadcast "${P[@]}" --channel $CH --content-state '{}' --stale-date tomorrow
expect_exit 2 "publish-host: expected push" "$A" broadcast --publish-host elsewhere --ca-file "$CERTS/ca.pem" "${KEY[@]}" --topic $APP --channel $CH --content-state '{}'
expect_exit 2 "not both" "$A" broadcast "${P[@]}" --env sandbox --channel $CH --content-state '{}'
expect_exit 2 "timestamp|event" "$A" broadcast "${P[@]}" --channel $CH --payload '{"aps":{"event":"update","content-state":{}}}'
expect_exit 2 "nosuch.json" "$A" broadcast "${P[@]}" --channel $CH --payload-file "$WORK/nosuch.json"

# No server: exit 3 after --timeout, a failed line.
run_cli 3 "$WORK/noconn.out" "$A" channel list "${M[@]}" --timeout 2
grep -q '"outcome":"failed"' "$WORK/noconn.out" || fail "no failed line without a server"

# Token auth against the sim, --channel-limit 2.
start_sim bc --tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key" --auth-keys "$CERTS/keys" \
  --topics $APP,com.example.nobc --broadcast-topics $APP --channel-limit 2 \
  --manage-listen 127.0.0.1:0 --delivery-log "$WORK/delivery.log"
MP=$(manage_port bc)
[ -n "$MP" ] || fail "apns-sim printed no manage port"
M=(--manage-host 127.0.0.1 --manage-port "$MP" --ca-file "$CERTS/ca.pem" "${KEY[@]}" --topic $APP)
P=(--host 127.0.0.1 --port "$SIM_PORT" --ca-file "$CERTS/ca.pem" "${KEY[@]}" --topic $APP)
chan() { sed -n 's/.*"channel_id":"\([^"]*\)".*/\1/p' "$1"; }

run_cli 0 "$WORK/c1.out" "$A" channel create "${M[@]}" --storage-policy none
expect_answer m-create-no-storage "$WORK/c1.out"
C1=$(chan "$WORK/c1.out")
run_cli 0 "$WORK/c2.out" "$A" channel create "${M[@]}" --request-id 11111111-2222-4333-8444-555555555555
expect_answer m-create "$WORK/c2.out"
grep -q '"request_id":"11111111-2222-4333-8444-555555555555"' "$WORK/c2.out" || fail "request id not sent"
C2=$(chan "$WORK/c2.out")
[ -n "$C1" ] && [ -n "$C2" ] && [ "$C1" != "$C2" ] || fail "create printed no channel ids ($C1, $C2)"
run_cli 1 "$WORK/c3.out" "$A" channel create "${M[@]}"
expect_answer m-create-limit "$WORK/c3.out"
run_cli 0 "$WORK/r1.out" "$A" channel read "${M[@]}" --channel "$C1"
expect_answer m-read "$WORK/r1.out"
grep -q '"storage_policy":0' "$WORK/r1.out" || fail "read: policy 0 not printed"
run_cli 0 "$WORK/r2.out" "$A" channel read "${M[@]}" --channel "$C2"
grep -q '"storage_policy":1' "$WORK/r2.out" || fail "read: policy 1 not printed"
run_cli 0 "$WORK/l.out" "$A" channel list "${M[@]}"
expect_answer m-list "$WORK/l.out"
grep -q "\"channels\":\[\"$C1\",\"$C2\"\]\|\"channels\":\[\"$C2\",\"$C1\"\]" "$WORK/l.out" || fail "list lacks the two channels"
run_cli 1 "$WORK/fe.out" "$A" channel list "${M[@]/$APP/com.example.nobc}"
expect_answer m-feature "$WORK/fe.out"
run_cli 1 "$WORK/ru.out" "$A" channel read "${M[@]}" --channel $CH
expect_answer m-read-unknown "$WORK/ru.out"

# Publishes: built payload, payload file, stored-channel expiration; refusals.
run_cli 0 "$WORK/p1.out" "$A" broadcast "${P[@]}" --channel "$C1" --content-state '{"score":"1-0"}' \
  --title Goal --body "1-0" --stale-date 2000000000 --relevance-score 0.5 \
  --request-id 00000000-0000-4000-8000-000000000001
expect_answer p-ok "$WORK/p1.out"
grep -q '"apns_unique_id":"' "$WORK/p1.out" || fail "no apns_unique_id printed"
printf '{"aps":{"timestamp":1700000000,"event":"end","content-state":{"score":"2-1"},"dismissal-date":1700003600}}' > "$WORK/end.json"
run_cli 0 "$WORK/p2.out" "$A" broadcast "${P[@]}" --channel "$C2" --payload-file "$WORK/end.json" \
  --expiration 2000000000 --priority 5 --request-id 00000000-0000-4000-8000-000000000002
expect_answer p-stored-expiration "$WORK/p2.out"
run_cli 1 "$WORK/p3.out" "$A" broadcast "${P[@]}" --channel "$C1" --content-state '{}' --expiration 2000000000
expect_answer p-no-storage-expiration "$WORK/p3.out"
run_cli 1 "$WORK/p4.out" "$A" broadcast "${P[@]}" --channel $CH --content-state '{}'
expect_answer p-unknown-channel "$WORK/p4.out"

# Delete, and what a deleted channel answers.
run_cli 0 "$WORK/d1.out" "$A" channel delete "${M[@]}" --channel "$C1"
expect_answer m-delete "$WORK/d1.out"
run_cli 1 "$WORK/d2.out" "$A" channel delete "${M[@]}" --channel "$C1"
expect_answer m-delete-deleted "$WORK/d2.out"
run_cli 1 "$WORK/p5.out" "$A" broadcast "${P[@]}" --channel "$C1" --content-state '{}'
expect_answer p-deleted-channel "$WORK/p5.out"
run_cli 0 "$WORK/d3.out" "$A" channel delete "${M[@]}" --channel "$C2"
run_cli 0 "$WORK/l2.out" "$A" channel list "${M[@]}"
grep -q '"channels":\[\]' "$WORK/l2.out" || fail "list after deleting both is not empty"
stop_sim
# Each accepted publish once, with its request id and payload size.
[ "$(grep -c '^broadcast ' "$WORK/delivery.log")" -eq 2 ] || { cat "$WORK/delivery.log"; fail "want 2 broadcast lines"; }
grep -q "^broadcast $C1 00000000-0000-4000-8000-000000000001 " "$WORK/delivery.log" || fail "publish 1 not delivered"
grep -q "^broadcast $C2 00000000-0000-4000-8000-000000000002 $(wc -c < "$WORK/end.json")\$" "$WORK/delivery.log" || fail "publish 2 not delivered as sent"

# Certificate auth (PEM and PKCS#12): the full flow create -> publish -> delete.
start_sim bc-cert --tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key" \
  --client-ca "$CERTS/ca.pem" --manage-listen 127.0.0.1:0 --delivery-log "$WORK/delivery-cert.log"
MP=$(manage_port bc-cert)
PEM=(--cert "$CERTS/client.pem" --key "$CERTS/client.key")
M=(--manage-host 127.0.0.1 --manage-port "$MP" --ca-file "$CERTS/ca.pem" --topic $APP)
P=(--host 127.0.0.1 --port "$SIM_PORT" --ca-file "$CERTS/ca.pem" --topic $APP)
run_cli 0 "$WORK/cc.out" "$A" channel create "${M[@]}" "${PEM[@]}"
C3=$(chan "$WORK/cc.out")
APNS_P12_PASSWORD=secret run_cli 0 "$WORK/cp.out" "$A" broadcast "${P[@]}" --p12 "$CERTS/client.p12" \
  --channel "$C3" --event end --content-state '{"s":1}' --dismissal-date 1700003600 \
  --request-id 00000000-0000-4000-8000-000000000003
run_cli 3 "$WORK/ct.out" "$A" channel list "${M[@]/$APP/com.other.app}" "${PEM[@]}"
expect_answer m-topic-mismatch "$WORK/ct.out"
run_cli 0 "$WORK/cd.out" "$A" channel delete "${M[@]}" "${PEM[@]}" --channel "$C3"
# Credentials refused (TopicMismatch above too, action pause): exit 3, as apns push.
run_cli 3 "$WORK/cn.out" "$A" channel list "${M[@]}" --cert "$CERTS/client-notopic.pem" --key "$CERTS/client-notopic.key"
expect_answer m-cert-no-topic "$WORK/cn.out"
stop_sim
[ "$(grep -c "^broadcast $C3 00000000-0000-4000-8000-000000000003 " "$WORK/delivery-cert.log")" -eq 1 ] \
  || { cat "$WORK/delivery-cert.log"; fail "certificate publish not delivered once"; }
echo "cli_broadcast: all checks passed"
