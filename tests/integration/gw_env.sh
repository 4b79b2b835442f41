#!/usr/bin/env bash
# gw_env.sh - apnsd without an INI file (docs/configuration.md, "Apps from
# the environment"; docs/operations.md, "In a container"):
#
# - No configuration named and none at the install's default path
#   (APNSD_TEST_DEFAULT_CONFIG: CMake's APNSD_CONFDIR/apnsd.ini, the same
#   GNU install dir the package and `make install` put the file in): exit 2,
#   and the message names that path and how to give another (--config,
#   APNSD_CONFIG, APNSD_APPS); --help names the default too. Skipped when
#   this machine has a file there (it would be read).
# - The environment alone (APNSD_APPS=shop + APNSD_APP_SHOP_* + the queue and
#   listen address): --check-config passes, --dump-config masks the API key,
#   apnsd starts, a push through the API reaches apns-sim, SIGTERM drains.
# - A world-readable key_file: --check-config refuses it ([server]
#   insecure_secrets = refuse, the default) and passes with = warn.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw_lib.sh"
: "${APNSD_TEST_DEFAULT_CONFIG:?}"

unset APNSD_CONFIG APNSD_APPS
if [ -e "$APNSD_TEST_DEFAULT_CONFIG" ]; then
  echo "skip: $APNSD_TEST_DEFAULT_CONFIG exists on this machine: the default-path message is not checked"
else
  expect_exit 2 "no configuration: $APNSD_TEST_DEFAULT_CONFIG does not exist" "$BIN/apnsd"
  grep -q -- "--config FILE" "$WORK/last.out" || fail "the message does not say --config FILE"
  grep -q "APNSD_CONFIG=FILE" "$WORK/last.out" || fail "the message does not say APNSD_CONFIG"
  grep -q "APNSD_APPS=" "$WORK/last.out" || fail "the message does not say APNSD_APPS"
  expect_exit 2 "no configuration: $APNSD_TEST_DEFAULT_CONFIG" "$BIN/apnsd" --check-config
  echo "ok: no configuration: exit 2 naming $APNSD_TEST_DEFAULT_CONFIG, --config, APNSD_CONFIG, APNSD_APPS"
fi
"$BIN/apnsd" --help | tr -s ' \n' ' ' | grep -qF "default: \$APNSD_CONFIG, else $APNSD_TEST_DEFAULT_CONFIG" ||
  fail "--help does not name the default $APNSD_TEST_DEFAULT_CONFIG"
# A named file that does not exist is an error, even with APNSD_APPS set.
APNSD_APPS=shop expect_exit 2 "$WORK/missing.ini" "$BIN/apnsd" --config "$WORK/missing.ini" --check-config

start_gw_sim sim --delivery-log "$WORK/delivery.log"
# The same app as tests/support/app_ini.sh writes, as variables.
export APNSD_APPS=$GW_APP
export APNSD_APP_SHOP_TOPIC=$GW_TOPIC APNSD_APP_SHOP_ENVIRONMENT=custom
export APNSD_APP_SHOP_HOST=127.0.0.1 APNSD_APP_SHOP_PORT=$SIM_PORT
export APNSD_APP_SHOP_CA_FILE=$CERTS/ca.pem APNSD_APP_SHOP_AUTH=token
export APNSD_APP_SHOP_KEY_FILE=$CERTS/AuthKey_ABC123DEFG.p8
export APNSD_APP_SHOP_KEY_ID=ABC123DEFG APNSD_APP_SHOP_TEAM_ID=DEF123GHIJ
export APNSD_APP_SHOP_API_KEYS=$GW_KEY
export APNSD_SERVER_LISTEN=127.0.0.1:0 APNSD_QUEUE_PATH=$WORK/apnsd.db
# Wherever the default file is, the environment's configuration is used only
# when there is none: point the test at no file by the same rule.
if [ -e "$APNSD_TEST_DEFAULT_CONFIG" ]; then
  echo "skip: $APNSD_TEST_DEFAULT_CONFIG exists on this machine: apnsd would read it"
  exit 0
fi

expect_exit 0 "configuration OK \(1 app\)" "$BIN/apnsd" --check-config
"$BIN/apnsd" --dump-config > "$WORK/dump.ini"
grep -q "^\[app shop\] ; declared by APNSD_APPS" "$WORK/dump.ini" || fail "dump: no env-declared [app shop]"
grep -q "^api_keys = \*\*\*\*\*\*\*\* ; env APNSD_APP_SHOP_API_KEYS" "$WORK/dump.ini" ||
  fail "dump: api_keys not masked or not from the environment"
grep -qF "$GW_KEY" "$WORK/dump.ini" && fail "dump shows the API key"
echo "ok: environment only: --check-config passes, --dump-config masks the API key"

# A signing key every user may read: --check-config refuses it by default,
# naming the file, its mode and the key that allows it; with
# insecure_secrets = warn it passes with a warning.
cp "$CERTS/AuthKey_ABC123DEFG.p8" "$WORK/open.p8"
chmod 0644 "$WORK/open.p8"
APNSD_APP_SHOP_KEY_FILE=$WORK/open.p8 expect_exit 2 \
  "key_file: \"$WORK/open.p8\" is readable by every user \(mode 0644\).*or set \[server\] insecure_secrets = warn to allow it" \
  "$BIN/apnsd" --check-config
APNSD_APP_SHOP_KEY_FILE=$WORK/open.p8 APNSD_SERVER_INSECURE_SECRETS=warn expect_exit 0 \
  "warning: \[app shop\] key_file: \"$WORK/open.p8\" is readable by every user \(mode 0644\)" \
  "$BIN/apnsd" --check-config
echo "ok: a world-readable key_file: refused by --check-config, allowed with insecure_secrets = warn"

: > "$WORK/gw.out"
"$BIN/apnsd" > "$WORK/gw.out" 2> "$WORK/gw.err" &
GW_PID=$!
PIDS+=("$GW_PID")
for _ in $(seq 150); do grep -q "listening on" "$WORK/gw.out" 2>/dev/null && break; sleep 0.1; done
GW_PORT=$(sed -n 's/^apnsd listening on .*:\([0-9]*\)$/\1/p' "$WORK/gw.out" | head -1)
[ -n "$GW_PORT" ] || { cat "$WORK/gw.err" >&2; fail "apnsd did not start from the environment"; }
# shellcheck disable=SC2034 # GW: read by gw_lib.sh (api, wait_ready)
GW=http://127.0.0.1:$GW_PORT
wait_ready

api POST "/v1/push?wait=10" "$GW_KEY" \
  -d "{\"app\":\"$GW_APP\",\"tokens\":[\"$(gw_token 1)\",\"$(gw_token 2)\"],\"alert\":\"from env\"}"
[ "$ST" = 200 ] || [ "$ST" = 202 ] || fail "push: $ST $(cat "$WORK/body")"
for _ in $(seq 100); do [ "$(log_lines "$WORK/delivery.log")" -ge 2 ] && break; sleep 0.1; done
[ "$(log_lines "$WORK/delivery.log")" = 2 ] || fail "the sim got $(log_lines "$WORK/delivery.log") notifications, want 2"
for i in 1 2; do
  grep -q "$(gw_token "$i")" "$WORK/delivery.log" || fail "token $i not delivered"
done
echo "ok: apnsd from the environment alone delivered 2 notifications through apns-sim"
stop_gw gw
echo "ok: drained and exited 0"
