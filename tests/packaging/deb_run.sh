#!/usr/bin/env bash
# deb_run.sh DEBDIR - the apnsd package as a user gets it, without root or a
# chroot: dpkg -x into a temp dir; the unpacked apnsd checks the installed
# /etc/apnsd/apnsd.ini (paths overridden from the environment: the key, the
# API keys, the database) - refused without the key, accepted with it; then
# it starts against the unpacked apns-sim and a push through its HTTP API is
# answered by the simulator. Also: every binary finds its shared libraries
# (what ${shlibs:Depends} declared), and the package's metadata says what
# docs/operations.md promises (Depends from the linked libraries, the
# sysusers/tmpfiles postinst snippets, nothing started).
debs=$1
: "${APNS_BIN_DIR:=unused}"
export APNS_BIN_DIR
here=$(dirname "$0")
# shellcheck source=../integration/lib.sh
. "$here/../integration/lib.sh"
# shellcheck source=../integration/gw_lib.sh
. "$here/../integration/gw_lib.sh"

deb=$(ls "$debs"/apnsd_*.deb)
root=$WORK/root
dpkg -x "$deb" "$root"
BIN=$WORK/bin
mkdir "$BIN"
ln -s "$root/usr/sbin/apnsd" "$root/usr/bin/apns-sim" "$BIN/"
for b in "$root"/usr/sbin/apnsd "$root"/usr/bin/*; do
  libs=$(ldd "$b")
  if grep -q "not found" <<<"$libs"; then fail "$b: a library is missing: $libs"; fi
done
deps=$(dpkg-deb -f "$deb" Depends)
for l in libssl3 libnghttp2-14 libevent-2.1-7 libjansson4 libsqlite3-0 libnats3.4 libcurl4; do
  grep -q "$l" <<<"$deps" || fail "apnsd's Depends lacks $l: $deps"
done
# The package's apnsd reads /etc/apnsd/apnsd.ini when no file is named.
"$root/usr/sbin/apnsd" --help | grep -q "^ */etc/apnsd/apnsd.ini)" ||
  fail "the package's apnsd does not default to /etc/apnsd/apnsd.ini"
dpkg-deb -e "$deb" "$WORK/ctl"
grep -q "systemd-sysusers.*apnsd.conf" "$WORK/ctl/postinst" || fail "postinst: no sysusers"
grep -q "systemd-tmpfiles.*apnsd.conf" "$WORK/ctl/postinst" || fail "postinst: no tmpfiles"
# Nothing started on install: the only start-like call is try-restart, for
# an upgrade of a running apnsd; nothing stops it before an upgrade.
if grep -E "deb-systemd-invoke|systemctl" "$WORK/ctl/postinst" | grep -qv "try-restart"; then
  fail "postinst starts apnsd: $(grep -E 'deb-systemd-invoke|systemctl' "$WORK/ctl/postinst")"
fi
if grep -qs "deb-systemd-invoke stop" "$WORK/ctl/preinst" "$WORK/ctl/prerm"; then
  fail "apnsd is stopped before an upgrade and not started again"
fi
grep -q "^/etc/apnsd/apnsd.ini$" "$WORK/ctl/conffiles" || fail "apnsd.ini is not a conffile"

conf=$root/etc/apnsd/apnsd.ini
key=deb-test-key-0123456789abcdef
(umask 077; echo "$key" >"$WORK/api.keys")
export APNSD_QUEUE_PATH=$WORK/apnsd.db APNSD_APP_MAIN_API_KEYS_FILE=$WORK/api.keys
export APNSD_APP_MAIN_KEY_FILE=$WORK/AuthKey.p8
expect_exit 2 "key_file" "$BIN/apnsd" --check-config --config "$conf"
cp "$CERTS/AuthKey_ABC123DEFG.p8" "$WORK/AuthKey.p8"
expect_exit 0 "configuration OK \\(1 app\\)" "$BIN/apnsd" --check-config --config "$conf"

start_gw_sim sim --delivery-log "$WORK/delivered"
export APNSD_SERVER_LISTEN=127.0.0.1:0 APNSD_APP_MAIN_ENVIRONMENT=custom
export APNSD_APP_MAIN_HOST=127.0.0.1 APNSD_APP_MAIN_PORT=$SIM_PORT
export APNSD_APP_MAIN_CA_FILE=$CERTS/ca.pem APNSD_APP_MAIN_TOPIC=$GW_TOPIC
export APNSD_APP_MAIN_KEY_ID=ABC123DEFG APNSD_APP_MAIN_TEAM_ID=DEF123GHIJ
start_gw gw "$conf"
wait_ready
api POST "/v1/push?wait=10" "$key" -d '{"app":"main","tokens":'"$(gw_tokens 1 3)"',"alert":{"title":"Hi","body":"from the package"}}'
[ "$ST" = 200 ] || fail "push: HTTP $ST: $(cat "$WORK/body")"
[ "$(jv '[r["state"] for n in d["notifications"] for r in n["results"]]')" = \
  '["accepted","accepted","accepted"]' ] || fail "push: $(cat "$WORK/body")"
stop_gw gw
stop_sim
[ "$(log_lines "$WORK/delivered")" = 3 ] || fail "the simulator logged $(log_lines "$WORK/delivered") deliveries, not 3"
echo "ok: the unpacked apnsd checked its installed configuration and pushed 3 notifications through apns-sim"
