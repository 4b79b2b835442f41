#!/usr/bin/env bash
# bench-vs-nghttpd.sh - apns-sim against nghttpd under h2load, TLS, one
# connection, side by side: the two servers alternate ROUNDS times and the
# medians are compared (the machine's noise hits both alike).
#
# Usage: sim/bench-vs-nghttpd.sh APNS_SIM_BINARY [ROUNDS] [REQUESTS]
# Needs: nghttpd, h2load (nghttp2-server, nghttp2-client), openssl.
# Prints one line per run and a summary "ratio apns-sim/nghttpd = X".
set -euo pipefail
sim=${1:?usage: bench-vs-nghttpd.sh APNS_SIM_BINARY [ROUNDS] [REQUESTS]}
rounds=${2:-5}
n=${3:-200000}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

"$here/tests/certs/gen.sh" "$work/certs" >/dev/null
token=$(printf 'a%.0s' $(seq 64))
mkdir -p "$work/htdocs/3/device"
: >"$work/htdocs/3/device/$token"
printf '{"aps":{"alert":"Hello from the benchmark","sound":"default"}}' >"$work/payload.json"

"$sim" --listen 127.0.0.1:0 --tls-cert "$work/certs/server.pem" \
    --tls-key "$work/certs/server.key" >"$work/sim.out" 2>"$work/sim.err" &
for _ in $(seq 50); do grep -q listening "$work/sim.out" && break; sleep 0.1; done
sim_port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/sim.out")

ng_port=$(( (RANDOM % 20000) + 30000 ))
nghttpd -d "$work/htdocs" "$ng_port" "$work/certs/server.key" "$work/certs/server.pem" \
    >/dev/null 2>&1 &
sleep 0.5

run() { # port -> req/s
    h2load -n "$n" -c 1 -m 100 "https://127.0.0.1:$1/3/device/$token" -d "$work/payload.json" \
        -H 'apns-topic: com.example.app' -H 'apns-push-type: alert' 2>&1 |
        awk '/^finished in/ { gsub(",", "", $4); print $4 } /^status codes/ { if ($3 != '"$n"') bad = 1 }
             END { if (bad) print "non-2xx answers" > "/dev/stderr" }'
}
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

: >"$work/sim.rps"
: >"$work/ng.rps"
for i in $(seq "$rounds"); do
    s=$(run "$sim_port")
    g=$(run "$ng_port")
    echo "round $i: apns-sim $s req/s, nghttpd $g req/s"
    echo "$s" >>"$work/sim.rps"
    echo "$g" >>"$work/ng.rps"
done
ms=$(median <"$work/sim.rps")
mg=$(median <"$work/ng.rps")
echo "median: apns-sim $ms req/s, nghttpd $mg req/s"
awk -v s="$ms" -v g="$mg" 'BEGIN { printf "ratio apns-sim/nghttpd = %.2f\n", s / g }'
