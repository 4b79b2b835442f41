#!/usr/bin/env bash
# Generates throw-away credentials for tests and the demo into DIR:
#   ca.pem ca.key            test certificate authority
#   server.pem server.key    server certificate for localhost, 127.0.0.1, ::1
#   client.pem client.key    APNs-style client certificate (UID = bundle id)
#   client.p12               the same, PKCS#12 with password "secret"
#   client-services.pem/.key client certificate listing its topics with their kinds in
#                            Apple's extension 1.2.840.113635.100.6.3.6 (app, voip,
#                            complication): may send voip and complication pushes
#   client-voip.pem/.key     client certificate with Apple's VoIP extension ...6.3.4
#   client-dev.pem/.key      "Apple Development IOS Push Services: com.example.app":
#                            a sandbox-only certificate
#   client-notopic.pem/.key  client certificate without UID or CN: no APNs topic
#   other-ca.pem             an unrelated CA (verification must fail with it)
#   AuthKey_<KEYID>.p8       token-auth signing keys (PKCS#8 P-256), one per team
#   keys/<KEYID>_<TEAMID>.pem  their public keys, as apns-sim --auth-keys reads them
#   fcm/sa-<name>.json       Google service-account key files (RSA 2048, PKCS#8):
#                            demo (project fcm-demo), other (project fcm-other), and
#                            rogue (demo's e-mail with a key fcm-sim does not know)
#   fcm/accounts/<client_email>.pem  the demo and other public keys, as fcm-sim
#                            --service-accounts reads them
# Idempotent: does nothing when DIR/.done-v2 and DIR/.done-fcm exist (v2: the
# client-* certificates; fcm: the service accounts).
set -euo pipefail
dir=${1:?usage: gen.sh DIR}
mkdir -p "$dir/keys"
cd "$dir"
o() { openssl "$@" 2>/dev/null; }

# FCM service accounts, in the key-file layout Google hands out (fcm-protocol.md §2.1).
if [ ! -f .done-fcm ]; then
  mkdir -p fcm/accounts
  for acct in demo:fcm-demo:fcm-sim@fcm-demo.iam.gserviceaccount.com \
              other:fcm-other:fcm-sim@fcm-other.iam.gserviceaccount.com \
              rogue:fcm-demo:fcm-sim@fcm-demo.iam.gserviceaccount.com; do
    IFS=: read -r name project email <<< "$acct"
    o genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "fcm/$name.key"
    kid=$(openssl rand -hex 20)
    pem=$(awk '{printf "%s\\n", $0}' "fcm/$name.key")
    printf '{"type":"service_account","project_id":"%s","private_key_id":"%s","private_key":"%s","client_email":"%s","client_id":"100000000000000000001","auth_uri":"https://accounts.google.com/o/oauth2/auth","token_uri":"https://oauth2.googleapis.com/token","universe_domain":"googleapis.com"}\n' \
      "$project" "$kid" "$pem" "$email" > "fcm/sa-$name.json"
    [ "$name" = rogue ] || o pkey -in "fcm/$name.key" -pubout -out "fcm/accounts/$email.pem"
    rm -f "fcm/$name.key"
  done
  touch .done-fcm
fi
[ -f .done-v2 ] && exit 0

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

# More client certificates, signed by the same CA: client_cert NAME SUBJECT [EXTENSION LINES].
client_cert() {
  local name=$1 subj=$2; shift 2
  o req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$subj" \
    -keyout "$name.key" -out "$name.csr"
  { echo '[ext]'; echo 'extendedKeyUsage=clientAuth'; printf '%s\n' "$@"; } > "$name.ext"
  o x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
    -extfile "$name.ext" -extensions ext -out "$name.pem"
}
client_cert client-services "/UID=com.example.app/CN=Apple Push Services: com.example.app" \
  '1.2.840.113635.100.6.3.6=ASN1:SEQUENCE:topics' '[topics]' \
  't1=UTF8String:com.example.app' 'k1=SEQUENCE:kind_app' \
  't2=UTF8String:com.example.app.voip' 'k2=SEQUENCE:kind_voip' \
  't3=UTF8String:com.example.app.complication' 'k3=SEQUENCE:kind_complication' \
  '[kind_app]' 'k=UTF8String:app' '[kind_voip]' 'k=UTF8String:voip' \
  '[kind_complication]' 'k=UTF8String:complication'
client_cert client-voip "/UID=com.example.app/CN=Apple Push Services: com.example.app" \
  '1.2.840.113635.100.6.3.4=ASN1:NULL'
client_cert client-dev "/UID=com.example.app/CN=Apple Development IOS Push Services: com.example.app"
client_cert client-notopic "/O=apnsd test"

# Token auth: key id / team id pairs.
for pair in ABC123DEFG:DEF123GHIJ XYZ987WVUT:TEAM000002; do
  kid=${pair%%:*}; team=${pair##*:}
  o genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "AuthKey_$kid.p8"
  o pkey -in "AuthKey_$kid.p8" -pubout -out "keys/${kid}_${team}.pem"
done
# A key the simulator does not know (InvalidProviderToken).
o genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out AuthKey_UNKNOWN000.p8
rm -f ./*.csr ./*.ext ./*.srl
touch .done-v2
