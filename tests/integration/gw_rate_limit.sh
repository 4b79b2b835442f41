#!/usr/bin/env bash
# gw_rate_limit.sh - per-API-key request rate limits ([app] api_rate_limit,
# api_rate_burst; docs/configuration.md, docs/api.md "429 rate_limited"),
# judged by COUNTS, never by time: the rate is 1/h, so no token comes back
# while the test runs and the burst alone decides.
#   - 20 requests at once with one key of a limit of burst 5: exactly 5 get
#     through, 15 are answered 429 with the JSON error rate_limited and a
#     Retry-After of at most an hour (the bucket's time to one request);
#     apnsd_api_rate_limited_total{app="shop"} counts 15;
#   - each key has its own bucket: a second key of the same app still has
#     its 5; a key of an app without a limit is never limited;
#   - SIGHUP keeps the buckets (no fresh burst); a reload that lifts the
#     limit lets the key through at once; a key listed by two apps gets the
#     lower limit;
#   - --check-config refuses a bad rate, a bad unit and a burst without a
#     rate, naming the key.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw_lib.sh"

KEYB=shop-second-key-0123456789
RATE="api_rate_limit = 1/h
api_rate_burst = 5"

start_gw_sim sim
gw_config "$WORK/apnsd.ini" "$SIM_PORT" "$WORK/apnsd.db" "" "" "$RATE" "$GW_KEY, $KEYB"
start_gw gw "$WORK/apnsd.ini"
wait_ready

# burst KEY N : N requests (GET of a notification that does not exist: 404
# when let through) sent at once with KEY; prints how many got each status.
burst() {
  local key=$1 n=$2 i
  for ((i = 0; i < n; i++)); do
    curl -sS -o "$WORK/r$i.body" -D "$WORK/r$i.hdr" -w '%{http_code}\n' \
      -H "Authorization: Bearer $key" "$GW/v1/notifications/00000000-0000-4000-8000-00000000000$((i % 10))" > "$WORK/r$i.st" &
  done
  wait
  cat "$WORK"/r*.st | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }'
}

OUT=$(burst "$GW_KEY" 20)
echo "20 at once with a burst of 5: $OUT"
[ "$OUT" = "404:5 429:15 " ] || fail "want 5 through (404) and 15 limited (429), got $OUT"
# Every 429: the JSON error rate_limited, Retry-After 1..3600 (one python3 run).
python3 - "$WORK" <<'EOF' || fail "429 answers: see above"
import glob, json, sys
n = 0
for st in glob.glob(sys.argv[1] + "/r*.st"):
    if open(st).read().strip() != "429":
        continue
    b = st[:-3]
    e = json.load(open(b + ".body"))["error"]
    ra = [l.split(":", 1)[1].strip() for l in open(b + ".hdr") if l.lower().startswith("retry-after:")]
    if (e["code"] != "rate_limited" or e["status"] != 429 or len(ra) != 1 or not 1 <= int(ra[0]) <= 3600
            or "[app shop] api_rate_limit = 1/h, burst 5" not in e["message"]):
        sys.exit("429 answer %s: %s Retry-After %s" % (b, e, ra))
    n += 1
print("checked", n, "answers 429 rate_limited, Retry-After", ra[0])
EOF
[ "$(metric 'apnsd_api_rate_limited_total{app="shop"}')" = 15 ] ||
  fail "apnsd_api_rate_limited_total{app=\"shop\"} = $(metric 'apnsd_api_rate_limited_total{app="shop"}'), want 15"
rm -f "$WORK"/r*.st

OUT=$(burst "$KEYB" 7)
[ "$OUT" = "404:5 429:2 " ] || fail "second key of shop: want 5 through and 2 limited, got $OUT"
rm -f "$WORK"/r*.st
OUT=$(burst "$GW_KEY2" 20)
[ "$OUT" = "404:20 " ] || fail "app other has no limit: got $OUT"
rm -f "$WORK"/r*.st
echo "ok: one bucket per key; an app without a limit is not limited"

# SIGHUP with the same limits: still limited (no fresh burst).
kill -HUP "$GW_PID"
for _ in $(seq 50); do grep -q 'reload' "$WORK/gw.err" && break; sleep 0.1; done
api GET /v1/notifications/00000000-0000-4000-8000-000000000000 "$GW_KEY"
[ "$ST" = 429 ] || fail "after SIGHUP the key got a fresh burst: $ST"
# A reload that lifts the limit.
gw_config "$WORK/apnsd.ini" "$SIM_PORT" "$WORK/apnsd.db" "" "" "" "$GW_KEY, $KEYB"
kill -HUP "$GW_PID"
for _ in $(seq 100); do
  api GET /v1/notifications/00000000-0000-4000-8000-000000000000 "$GW_KEY"
  [ "$ST" = 404 ] && break
  sleep 0.1
done
[ "$ST" = 404 ] || fail "limit lifted by SIGHUP: still $ST"
echo "ok: SIGHUP keeps the buckets; lifting the limit applies at once"

# A key listed by two apps gets the lower limit: shop 2/h (burst 5), other
# 1/h (burst 2), KEYC in both: 2 through, counted for other.
KEYC=both-apps-key-0123456789ab
gw_config "$WORK/apnsd.ini" "$SIM_PORT" "$WORK/apnsd.db" "" "" $'api_rate_limit = 2/h\napi_rate_burst = 5' \
  "$GW_KEY, $KEYB, $KEYC"
printf 'api_keys = %s\napi_rate_limit = 1/h\napi_rate_burst = 2\n' "$KEYC" >> "$WORK/apnsd.ini"
kill -HUP "$GW_PID"
for _ in $(seq 100); do
  api GET /v1/notifications/00000000-0000-4000-8000-000000000000 "$KEYC"
  [ "$ST" = 404 ] && break
  sleep 0.1
done
[ "$ST" = 404 ] || fail "the key of two apps after SIGHUP: $ST"
OUT=$(burst "$KEYC" 6) # one of its 2 was taken by the request above
[ "$OUT" = "404:1 429:5 " ] || fail "key of two apps: want the lower limit (burst 2), got $OUT"
[ "$(metric 'apnsd_api_rate_limited_total{app="other"}')" = 5 ] ||
  fail "apnsd_api_rate_limited_total{app=\"other\"} = $(metric 'apnsd_api_rate_limited_total{app="other"}'), want 5"
rm -f "$WORK"/r*.st
echo "ok: a key of two apps gets the lower limit"
stop_gw gw

# --check-config names the problem.
check() { # check APP_EXTRA PATTERN
  gw_config "$WORK/bad.ini" "$SIM_PORT" "$WORK/apnsd.db" "" "" "$1"
  expect_exit 2 "$2" "$BIN/apnsd" --config "$WORK/bad.ini" --check-config
}
check "api_rate_limit = fast" 'api_rate_limit: must be REQUESTS/s, REQUESTS/min or REQUESTS/h'
check "api_rate_limit = 10/day" "api_rate_limit: the unit after '/' must be s, min or h"
check "api_rate_limit = 2000000/s" 'api_rate_limit: must be REQUESTS/s'
check "api_rate_burst = 10" 'api_rate_burst: needs api_rate_limit'
check "api_rate_limit = 10/s
api_rate_burst = 0" 'api_rate_burst: '
gw_config "$WORK/ok.ini" "$SIM_PORT" "$WORK/apnsd.db" "" "" "api_rate_limit = 600/min"
expect_exit 0 'configuration OK' "$BIN/apnsd" --config "$WORK/ok.ini" --check-config
echo "ok: --check-config refuses bad rate limits, naming the key"
