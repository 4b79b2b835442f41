#!/usr/bin/env bash
# deb_lib.sh DEBDIR - libapns as the libapns0 + libapns-dev packages give it,
# unpacked with dpkg -x (no root): a short C program builds with the flags
# of the unpacked libapns.pc, runs against the unpacked libapns.so.0 and
# pushes one notification to apns-sim, which logs the delivery.
debs=$1
: "${APNS_BIN_DIR:?}"
here=$(dirname "$0")
# shellcheck source=../integration/lib.sh
. "$here/../integration/lib.sh"

root=$WORK/root
for p in libapns0 libapns-dev; do dpkg -x "$(ls "$debs/${p}"_*.deb)" "$root"; done
pc=$(find "$root" -name libapns.pc)
[ -n "$pc" ] || fail "libapns-dev has no libapns.pc"
libdir=$(dirname "$(dirname "$pc")")
export PKG_CONFIG_PATH=$(dirname "$pc")
cat >"$WORK/one.c" <<'C'
#include <apns/client.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
static void res(apns_client *c, const apns_notification *n, const apns_result *r, void *ud) { printf("%s %d\n", n->token, r->outcome == APNS_OUTCOME_ACCEPTED); }
static void done(apns_client *c, void *ud) { event_base_loopexit(ud, NULL); }
int main(int argc, char **argv) {
    apns_signing_key *k; apns_token_cache *t; apns_client *c; apns_client_opts o; apns_notification n;
    struct event_base *b = event_base_new();
    if (apns_signing_key_load_file(&k, argv[1], "ABC123DEFG", "DEF123GHIJ", NULL, 0) || apns_token_cache_new(&t, k, 0)) return 1;
    apns_client_opts_init(&o); o.env = APNS_ENV_CUSTOM; o.host = "127.0.0.1"; o.port = (uint16_t)atoi(argv[2]); o.ca_file = argv[3]; o.tokens = t; o.on_result = res; o.ud = b;
    if (apns_client_new(&c, b, &o, NULL, 0)) return 1;
    apns_notification_init(&n); n.token = argv[4]; n.topic = "com.example.app"; n.payload = "{\"aps\":{}}"; n.payload_len = strlen(n.payload);
    if (apns_client_submit(c, &n)) return 1;
    apns_client_drain(c, done); event_base_dispatch(b);
    apns_client_free(c); event_base_free(b); apns_token_cache_free(t); apns_signing_key_free(k); return 0;
}
C
# shellcheck disable=SC2046
cc -Wall -Werror -include stdlib.h -o "$WORK/one" "$WORK/one.c" $(pkg-config --cflags --libs libapns libevent) ||
  fail "the program does not build against the unpacked libapns.pc"
libs=$(LD_LIBRARY_PATH=$libdir ldd "$WORK/one")
grep -q "$libdir/libapns.so.0" <<<"$libs" ||
  fail "not linked against the unpacked libapns.so.0"
start_sim sim --tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key" --auth-keys "$CERTS/keys" \
  --topics com.example.app --delivery-log "$WORK/delivered"
tok=$(printf 'd0d0%060x' 7)
out=$(LD_LIBRARY_PATH=$libdir "$WORK/one" "$CERTS/AuthKey_ABC123DEFG.p8" "$SIM_PORT" "$CERTS/ca.pem" "$tok") ||
  fail "the program failed: $out"
[ "$out" = "$tok 1" ] || fail "the program printed: $out"
stop_sim
grep -q "$tok" "$WORK/delivered" || fail "apns-sim did not log the delivery"
echo "ok: a program built from the unpacked libapns-dev pushed through apns-sim"
