#!/usr/bin/env bash
# Installs exactly the Debian 12 packages apnsd needs to build, test and run.
# Idempotent: checks each package first; runs `apt-get update` only when
# something is missing. The reason for each is beside it.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  libssl-dev          # TLS, ALPN, ES256, PKCS#12
  libnghttp2-dev      # HTTP/2 (client core and simulator)
  libevent-dev        # event loop, timers, signals, evhttp
  libjansson-dev      # JSON
  libsqlite3-dev      # embedded durable queue
  libnats-dev         # NATS C client: the JetStream queue backend (issue 6)
  libcurl4-openssl-dev  # libcurl: outbound HTTP(S) for webhooks (system resolver, proxies, TLS, keep-alive)
  nats-server         # NATS with JetStream: the fleet's queue; tests start real clusters
  libcmocka-dev       # unit tests
  nghttp2-server      # nghttpd: independent HTTP/2 server for tests
  nghttp2-client      # h2load, nghttp: independent HTTP/2 clients for tests/bench
  python3 python3-h2  # hyper-h2: a third independent HTTP/2 client (apns-sim self-test)
  clang libclang-rt-14-dev  # libFuzzer + sanitizer runtimes
  openssl ca-certificates curl
  time                # GNU time: CPU and peak RSS of each client in bench/compare
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
