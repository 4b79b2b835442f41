#!/usr/bin/env bash
# gw_orphan_js.sh - a request that was never committed, end to end, with
# [queue] backend = jetstream, against docs/queue.md ("Requests: all or
# nothing") and docs/api.md ("Safe retries"):
#
#  - the chunk and job header of one job (one token) of a request of
#    several jobs that was cut off before its commit record (planted in the stream as a node writes them,
#    docs/queue.md) are dropped after the commit grace (3 x (op_timeout + 2 s) + 5 s;
#    op_timeout = 1s here): apnsd_queue_orphans_total on /metrics counts
#    it, the job's status is 404 not_found (as with SQLite, which never
#    stores a failed request's jobs; before: 200 pending until retention),
#    and its token is never delivered;
#  - a committed notification next to it is delivered and its status is
#    200 (the route answers).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw_lib.sh"
start_nats

PREFIX=orph$$
start_gw_sim sim --delivery-log "$WORK/delivery.log"
cat > "$WORK/apnsd.ini" <<EOF
[server]
listen = 127.0.0.1:0
$(js_queue_ini $PREFIX 2s)
op_timeout = 1s
[log]
level = info

$(app_ini "$GW_APP" "$GW_TOPIC" "$SIM_PORT" "$CERTS" "$GW_KEY")
EOF
chmod 600 "$WORK/apnsd.ini"
start_gw a "$WORK/apnsd.ini"
wait_ready

JOB=0a1b2c3d-0000-4000-8000-00000000dead
ORPHAN_TOKEN=$(gw_token 9)

# Its one chunk (format 3: with its request's commit record key "g.dead.1")
# on subject <prefix>.chunk.1 and its job header (format 1, committed) at
# key <job> of the bucket <prefix>_JOBS, little-endian as js_codec.c
# writes them; no commit record "g.dead.1": the request never finished.
python3 - "$WORK" "$JOB" "$GW_APP" "$ORPHAN_TOKEN" <<'PY'
import struct, sys, time
work, job, app, tok = sys.argv[1:]
now = int(time.time() * 1000)
tokrec = bytes([32]) + bytes.fromhex(tok)
payload = b'{"aps":{"alert":"orphan"}}'
group = b"g.dead.1"
chunk = (b"AJC3" + job.encode() + job.encode() + bytes([0, 10]) +
         struct.pack("<QQQ", 0, now, now) + struct.pack("<IIIII", 0, 0, 1, 1, 1) +
         struct.pack("<H", len(app)) + app.encode() +
         struct.pack("<HH", 0xFFFF, 0xFFFF) +
         struct.pack("<I", len(payload)) + payload +
         struct.pack("<I", len(tokrec)) + tokrec +
         struct.pack("<H", 0) + struct.pack("<H", len(group)) + group)
header = (b"AJJ1" + bytes([1]) + job.encode() + job.encode() +
          struct.pack("<H", len(app)) + app.encode() + struct.pack("<III", 1, 1, 1) +
          struct.pack("<QQ", now, now) + struct.pack("<I", len(tokrec)) + tokrec)
open(work + "/orphan.chunk", "wb").write(chunk)
open(work + "/orphan.header", "wb").write(header)
PY
js_publish "$PREFIX.chunk.1" < "$WORK/orphan.chunk"
js_publish "\$KV.${PREFIX}_JOBS.$JOB" < "$WORK/orphan.header"
echo "ok: planted one chunk and the job header of an uncommitted request (job $JOB)"

# A committed notification next to it.
api POST /v1/push "$GW_KEY" -d "{\"app\":\"$GW_APP\",\"token\":\"$(gw_token 1)\",\"alert\":\"good\"}"
[ "$ST" = 202 ] || fail "push: $ST $(cat "$WORK/body")"
GOOD=$(jv 'd["notifications"][0]["id"]')

# The commit grace is 14 s: wait for the orphan (up to 30 s).
for _ in $(seq 300); do
  [ "$(metric apnsd_queue_orphans_total)" -ge 1 ] && break
  sleep 0.1
done
n=$(metric apnsd_queue_orphans_total)
[ "$n" = 1 ] || fail "apnsd_queue_orphans_total = $n, want 1"
echo "ok: apnsd_queue_orphans_total = 1 after the grace time"

api GET "/v1/notifications/$JOB" "$GW_KEY"
[ "$ST" = 404 ] && [ "$(jv 'd["error"]["code"]')" = not_found ] ||
  fail "status of the orphan's job: $ST $(cat "$WORK/body") (want 404 not_found)"
echo "ok: the orphan's job: 404 not_found"

for _ in $(seq 100); do
  api GET "/v1/notifications/$GOOD" "$GW_KEY"
  [ "$ST" = 200 ] && [ "$(jv 'd["counts"]["accepted"]')" = 1 ] && break
  sleep 0.1
done
[ "$ST" = 200 ] && [ "$(jv 'd["counts"]["accepted"]')" = 1 ] || fail "status of the committed job: $ST $(cat "$WORK/body")"
grep -q "$(gw_token 1)" "$WORK/delivery.log" || fail "the committed notification was not delivered"
! grep -q "$ORPHAN_TOKEN" "$WORK/delivery.log" || fail "the orphan's token was delivered"
echo "ok: the committed notification delivered (200), the orphan's token never"
wait_depth 0 10
echo "ok: queue depth 0 (the orphan's token is not counted)"

stop_gw a
echo "PASS"
