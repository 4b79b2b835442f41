#!/usr/bin/env bash
# Generates throw-away credentials for tests and the demo into DIR:
#   ca.pem ca.key            test certificate authority
#   server.pem server.key    server certificate for localhost, 127.0.0.1, ::1
#   client.pem client.key    APNs-style client certificate (UID = bundle id)
#   client.p12               the same, PKCS#12 with password "secret"
#   other-ca.pem             an unrelated CA (verification must fail with it)
#   AuthKey_<KEYID>.p8       token-auth signing keys (PKCS#8 P-256), one per team
#   keys/<KEYID>_<TEAMID>.pem  their public keys, as apns-sim --auth-keys reads them
# Idempotent: does nothing when DIR/.done exists.
set -euo pipefail
dir=${1:?usage: gen.sh DIR}
[ -f "$dir/.done" ] && exit 0
mkdir -p "$dir/keys"
cd "$dir"
o() { openssl "$@" 2>/dev/null; }

o req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
  -subj "/CN=apnsd test CA" -keyout ca.key -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
o req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
  -subj "/CN=other CA" -keyout other-ca.key -out other-ca.pem \
  -addext "basicConstraints=critical,CA:TRUE"

o req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout server.key -out server.csr
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n' > server.ext
o x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
  -extfile server.ext -out server.pem

o req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/UID=com.example.app/CN=Apple Push Services: com.example.app/OU=DEF123GHIJ" \
  -keyout client.key -out client.csr
printf 'extendedKeyUsage=clientAuth\n' > client.ext
o x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
  -extfile client.ext -out client.pem
o pkcs12 -export -in client.pem -inkey client.key -passout pass:secret -out client.p12

# Token auth: key id / team id pairs.
for pair in ABC123DEFG:DEF123GHIJ XYZ987WVUT:TEAM000002; do
  kid=${pair%%:*}; team=${pair##*:}
  o genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "AuthKey_$kid.p8"
  o pkey -in "AuthKey_$kid.p8" -pubout -out "keys/${kid}_${team}.pem"
done
# A key the simulator does not know (InvalidProviderToken).
o genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out AuthKey_UNKNOWN000.p8
rm -f ./*.csr ./*.ext ./*.srl
touch .done
