#!/usr/bin/env bash
# install-deps.sh [SET...] - installs the Debian 12 packages of the given sets
# (default: build). Idempotent: checks each package first; runs
# `apt-get update` only when something is missing. The reason for each is
# beside it; docs/operations.md ("Installing") lists the sets.
#
#   runtime  what an installed apnsd, apns, apns-sim and libapns0 need (the
#            apnsd .deb declares these itself, from the linked libraries)
#   build    compiling everything (`make build`, `make install`)
#   demo     `make run`: the demo's test credentials and its curl pushes
#   test     the test suite's peers and tools (`make test`, `make test-sanitize`)
#   deb      building and checking the Debian packages (`make deb`)
set -euo pipefail

RUNTIME=(
  libssl3 libnghttp2-14 libevent-2.1-7 libevent-openssl-2.1-7 libevent-pthreads-2.1-7
  libjansson4 libsqlite3-0 libnats3.4 libcurl4
  ca-certificates     # APNs' server certificate chain
)
BUILD=(
  build-essential cmake pkg-config
  libssl-dev          # TLS, ALPN, ES256, PKCS#12
  libnghttp2-dev      # HTTP/2 (client core and simulator)
  libevent-dev        # event loop, timers, signals, bufferevents (the HTTP API server is our own)
  libjansson-dev      # JSON
  libsqlite3-dev      # embedded durable queue
  libnats-dev         # NATS C client: the JetStream queue backend (issue 6)
  libcurl4-openssl-dev  # libcurl: outbound HTTP(S) for webhooks (system resolver, proxies, TLS, keep-alive)
)
DEMO=(
  openssl             # tests/certs/gen.sh: the demo's CA, server certificate and .p8 key
  curl                # the demo pushes through apnsd's HTTP API
)
TEST=(
  "${DEMO[@]}"
  libcmocka-dev       # unit tests
  python3             # tests/layout, test helpers (fake notify socket)
  nats-server         # NATS with JetStream: the fleet's queue; tests start real clusters
  nghttp2-server      # nghttpd: independent HTTP/2 server for tests
  nghttp2-client      # h2load, nghttp: independent HTTP/2 clients for tests/bench
  python3-h2          # hyper-h2: a third independent HTTP/2 client (apns-sim self-test)
  clang libclang-rt-14-dev  # libFuzzer + sanitizer runtimes
  time                # GNU time: CPU and peak RSS of each client in bench/compare
  debhelper dpkg-dev fakeroot  # tests/packaging builds the .deb and runs what it unpacks
  systemd             # systemd-analyze verify/security on the unit (tests/packaging)
  nodejs              # node (>= 18; Debian 12 has 18.19): firebase-admin, an independent FCM client
                      # for fcm-sim's test, and the OpenAPI validator of tests/docs (both npm, pinned)
)
# npm (`npm ci` of firebase-admin and of the OpenAPI validator in
# tests/docs/, pinned by their package-lock.json, into the build directory):
# Debian ships it apart from nodejs; a nodejs that brings its own npm
# (NodeSource's) conflicts with Debian's npm package.
command -v npm >/dev/null 2>&1 || TEST+=(npm)
DEB=(
  debhelper           # dh: the packages' rules (debian/), sysusers/tmpfiles/systemd helpers
  dpkg-dev fakeroot   # dpkg-buildpackage, unprivileged
  lintian             # Debian policy checks of the built packages
)

[ $# -gt 0 ] || set -- build
PKGS=()
for set in "$@"; do
  case $set in
    runtime) PKGS+=("${RUNTIME[@]}") ;;
    build) PKGS+=("${BUILD[@]}") ;;
    demo) PKGS+=("${BUILD[@]}" "${DEMO[@]}") ;;
    test) PKGS+=("${TEST[@]}") ;;
    deb) PKGS+=("${BUILD[@]}" "${DEB[@]}") ;;
    *) echo "install-deps: unknown set '$set' (runtime, build, demo, test, deb)" >&2; exit 2 ;;
  esac
done

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
