# shellcheck shell=bash
# app_ini NAME TOPIC PORT CERTS API_KEYS : prints an apnsd [app NAME] section:
# token auth with the test key (tests/certs/gen.sh wrote it into CERTS), an
# apns-sim on 127.0.0.1:PORT trusted through CERTS/ca.pem. The one template
# for the shell tests (tests/integration/gw_lib.sh) and scripts/demo.sh.
app_ini() {
  cat <<EOF
[app $1]
topic = $2
environment = custom
host = 127.0.0.1
port = $3
ca_file = $4/ca.pem
auth = token
key_file = $4/AuthKey_ABC123DEFG.p8
key_id = ABC123DEFG
team_id = DEF123GHIJ
api_keys = $5
EOF
}
