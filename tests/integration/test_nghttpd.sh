#!/usr/bin/env bash
# libapns against nghttpd, an HTTP/2 server no one here wrote.
#
#   test_nghttpd.sh DRIVER [DRIVER ARGS...]
#
# Starts nghttpd over TLS on 127.0.0.1 (a free port; it asks for a client
# certificate with -V) with htdocs holding 3/device/<token>, runs DRIVER
# (nghttpd_client) against it with the test CA and client certificate, and
# stops nghttpd. Needs APNS_TEST_CERTS (ctest sets it). Extra arguments go to
# the driver (e.g. --count 1000 --connections 2 --test-proxy ok), except
# --server-requires-cert: nghttpd asks for a client certificate even when the
# driver uses token auth (so the handshake is refused).
set -euo pipefail
driver=${1:?usage: test_nghttpd.sh DRIVER [ARGS...]}; shift
: "${APNS_TEST_CERTS:?}"
CERTS=$APNS_TEST_CERTS
NGHTTPD=$(command -v nghttpd || echo /usr/sbin/nghttpd)
[ -x "$NGHTTPD" ] || { echo "SKIP: nghttpd not installed (Debian nghttp2-server)"; exit 77; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/apns-nghttpd-XXXXXX")
NG_PID=
cleanup() {
  [ -n "$NG_PID" ] && kill "$NG_PID" 2>/dev/null && wait "$NG_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/htdocs/3/device"
for t in 00fc13adff785122b4ad28809a3420982341241421348097878e577c991de8f0 \
         1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809 \
         ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff; do
  : > "$WORK/htdocs/3/device/$t"
done

# Token auth (--p8) cannot present a client certificate: then nghttpd does
# not ask for one, and the driver gets no --cert/--key.
token_auth=0 force_v=0 args=()
for a in "$@"; do
  case $a in
    --server-requires-cert) force_v=1 ;;
    *) [ "$a" = --p8 ] && token_auth=1; args+=("$a") ;;
  esac
done
set -- "${args[@]}"
verify_client=(-V)
cert_args=(--cert "$CERTS/client.pem" --key "$CERTS/client.key")
if [ $token_auth = 1 ]; then cert_args=(); [ $force_v = 1 ] || verify_client=(); fi
for a in "$@"; do [ "$a" = --p12 ] && cert_args=(); done

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# nghttpd has no "port 0": try random high ports until one binds.
for attempt in $(seq 20); do
  port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
  port_free "$port" || continue
  "$NGHTTPD" -a 127.0.0.1 -d "$WORK/htdocs" "${verify_client[@]}" "$port" \
    "$CERTS/server.key" "$CERTS/server.pem" > "$WORK/nghttpd.log" 2>&1 &
  NG_PID=$!
  for _ in $(seq 50); do
    if ! kill -0 "$NG_PID" 2>/dev/null; then NG_PID=; break; fi
    port_free "$port" || break
    sleep 0.1
  done
  if [ -n "$NG_PID" ] && ! port_free "$port"; then break; fi
  [ -n "$NG_PID" ] && kill "$NG_PID" 2>/dev/null; NG_PID=
done
[ -n "$NG_PID" ] || { cat "$WORK/nghttpd.log" >&2; echo "FAIL: nghttpd did not start" >&2; exit 1; }
echo "nghttpd on 127.0.0.1:$port (pid $NG_PID)"

"$driver" --host 127.0.0.1 --port "$port" --ca "$CERTS/ca.pem" "${cert_args[@]}" "$@"
