# shellcheck shell=bash disable=SC2034  # ST, GW_* are used by the sourcing tests
# Shared helpers for the apnsd shell tests (gw_*.sh; sourced after lib.sh).
# Needs curl and python3 (for JSON; both in scripts/install-deps.sh).
command -v curl >/dev/null || fail "curl is not installed (scripts/install-deps.sh)"
command -v python3 >/dev/null || fail "python3 is not installed (scripts/install-deps.sh)"

# jv EXPR [FILE] : evaluates the Python expression EXPR over the JSON document
# `d` read from FILE (default: the last answer, $WORK/body). Strings print
# raw, true/false/null as in JSON, anything else as compact JSON. Fails (exit
# 1) when FILE is not JSON or EXPR raises.
jv() {
  python3 -c '
import json, sys
d = json.load(open(sys.argv[2]))
v = eval(sys.argv[1], {"d": d})
print(v if isinstance(v, str) else json.dumps(v, separators=(",", ":")))
' "$1" "${2:-$WORK/body}"
}

# shellcheck source=../support/app_ini.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/app_ini.sh"

GW_APP=shop
GW_KEY=shop-key-0123456789abcdef
GW_APP2=other
GW_KEY2=other-key-0123456789abcdef
GW_TOPIC=com.example.app

# gw_token I : a deterministic 64-hex-digit device token.
gw_token() { printf 'a1b2c3d4%056x' "$1"; }

# gw_tokens FROM COUNT : a JSON array of tokens FROM..FROM+COUNT-1.
gw_tokens() {
  local i from=$1 n=$2 out="["
  for ((i = from; i < from + n; i++)); do
    [ "$i" -gt "$from" ] && out+=","
    out+="\"$(gw_token "$i")\""
  done
  printf '%s]' "$out"
}

# start_gw_sim NAME ARGS... : apns-sim with TLS + token auth and the test topic.
start_gw_sim() {
  local name=$1; shift
  start_sim "$name" --tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key" \
    --auth-keys "$CERTS/keys" --topics "$GW_TOPIC" "$@"
}

# gw_config FILE SIM_PORT DB SERVER_EXTRA QUEUE_EXTRA APP_EXTRA [API_KEYS]
# Two token-auth apps at the sim: shop (GW_KEY, or API_KEYS) and other (GW_KEY2).
gw_config() {
  local file=$1 port=$2 db=$3 sx=$4 qx=$5 ax=$6 keys=${7:-$GW_KEY}
  (
    umask 077
    {
      cat <<EOF
[server]
listen = 127.0.0.1:0
$sx
[queue]
path = $db
$qx
[log]
level = info

EOF
      app_ini "$GW_APP" "$GW_TOPIC" "$port" "$CERTS" "$keys"
      printf '%s\n\n' "$ax"
      app_ini "$GW_APP2" "$GW_TOPIC" "$port" "$CERTS" "$GW_KEY2"
      echo "connections = 1"
    } > "$file"
  )
}

# start_gw NAME CONFIG : starts apnsd; sets GW_PID, GW_PORT, GW (base URL).
# GW_ULIMIT_N=N in the environment: apnsd runs with `ulimit -n N`.
start_gw() {
  local name=$1 config=$2
  : > "$WORK/$name.out"
  bash -c 'if [ -n "${GW_ULIMIT_N:-}" ]; then ulimit -n "$GW_ULIMIT_N"; fi; exec "$@"' apnsd \
    "$BIN/apnsd" --config "$config" > "$WORK/$name.out" 2>> "$WORK/$name.err" &
  GW_PID=$!
  PIDS+=("$GW_PID")
  for _ in $(seq 150); do grep -q "listening on" "$WORK/$name.out" 2>/dev/null && break; sleep 0.1; done
  GW_PORT=$(sed -n 's/^apnsd listening on .*:\([0-9]*\)$/\1/p' "$WORK/$name.out" | head -1)
  [ -n "$GW_PORT" ] || { cat "$WORK/$name.err" >&2; fail "apnsd ($name) did not start"; }
  GW=http://127.0.0.1:$GW_PORT
}

# wait_ready : until GET /readyz answers 200 (10 s).
wait_ready() {
  for _ in $(seq 200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$GW/readyz")" = 200 ] && return 0
    sleep 0.05
  done
  fail "apnsd not ready after 10 s"
}

# start_gw_pair CONFIG : two nodes "a" and "b" from one config (a fleet on one
# queue), each ready; sets A_PID, A, B_PID, B (base URLs), and GW to B.
start_gw_pair() {
  start_gw a "$1"
  wait_ready
  A_PID=$GW_PID A=$GW
  start_gw b "$1"
  wait_ready
  B_PID=$GW_PID B=$GW
}

# api METHOD PATH KEY [CURL ARGS...] : one request; sets ST (status) and writes
# the body to $WORK/body, the headers to $WORK/headers. KEY "-" = no header.
api() {
  local method=$1 path=$2 key=$3; shift 3
  local auth=()
  [ "$key" != "-" ] && auth=(-H "Authorization: Bearer $key")
  ST=$(curl -sS -X "$method" -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' \
    "${auth[@]}" "$@" "$GW$path") || ST=000
}

# metric SAMPLE : the value of one /metrics sample (0 if absent).
metric() {
  curl -sS "$GW/metrics" | awk -v s="$1" '$1 == s { v = $2 } END { print v == "" ? 0 : v }'
}

# wait_depth N TIMEOUT_S : until apnsd_queue_depth is N.
wait_depth() {
  local want=$1 t=$2 d=
  for _ in $(seq $((t * 10))); do
    d=$(metric apnsd_queue_depth)
    [ "$d" = "$want" ] && return 0
    sleep 0.1
  done
  fail "queue depth $d, want $want after ${t}s"
}

# start_nats : one nats-server with JetStream on a free loopback port (NPORT;
# its store in $WORK/js, its log $WORK/nats.log, its pid in PIDS), for the
# tests of backend = jetstream that need no cluster (a fleet of apnsd nodes
# sharing one queue).
start_nats() {
  command -v nats-server > /dev/null || fail "nats-server is not installed (scripts/install-deps.sh)"
  NPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  nats-server -a 127.0.0.1 -p "$NPORT" -js -sd "$WORK/js" > "$WORK/nats.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do grep -q "Server is ready" "$WORK/nats.log" && break; sleep 0.1; done
  grep -q "Server is ready" "$WORK/nats.log" || { cat "$WORK/nats.log" >&2; fail "nats-server did not start"; }
}

# js_queue_ini PREFIX ACK_WAIT : the [queue] section of a node on start_nats's
# server (one replica), with the stream names prefixed by PREFIX.
js_queue_ini() {
  printf '[queue]\nbackend = jetstream\nservers = nats://127.0.0.1:%s\nprefix = %s\nreplicas = 1\nack_wait = %s\n' \
    "$NPORT" "$1" "$2"
}

# js_publish SUBJECT : publish stdin's bytes on start_nats's server and wait
# for JetStream's acknowledgement (tests plant records as a node writes them).
js_publish() { python3 "$(dirname "${BASH_SOURCE[0]}")/nats_pub.py" "$NPORT" "$1"; }

# log_lines FILE : lines in the sim's delivery log.
log_lines() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }

# stop_gw NAME : SIGTERM apnsd (GW_PID), which must drain and exit 0 within
# 30 s with no sanitizer report in its log ($WORK/NAME.err).
stop_gw() {
  local name=$1 rc
  kill -TERM "$GW_PID"
  for _ in $(seq 300); do kill -0 "$GW_PID" 2>/dev/null || break; sleep 0.1; done
  set +e; wait "$GW_PID"; rc=$?; set -e
  [ "$rc" = 0 ] || { tail -30 "$WORK/$name.err" >&2; fail "apnsd exited $rc after SIGTERM"; }
  if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$WORK/$name.err"; then
    cat "$WORK/$name.err" >&2; fail "sanitizer report in apnsd's log"
  fi
}
