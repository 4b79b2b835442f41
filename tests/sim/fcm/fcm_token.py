#!/usr/bin/python3
"""fcm_token.py - fetches one OAuth2 access token from fcm-sim's /token endpoint
the way Google documents it (fcm-protocol.md §2.2): an RS256 JWT grant for the
service account's key file, signed with the openssl command line (nothing of
libapns), posted over HTTP/1.1 with Python's http.client. Prints the access
token and its expires_in on one line. For fcm_client.c.
usage: fcm_token.py PORT CERTS_DIR ACCOUNT   (ACCOUNT: certs/fcm/sa-ACCOUNT.json)
"""
import base64, http.client, json, os, ssl, subprocess, sys, tempfile, time, urllib.parse

port, certs, acct = int(sys.argv[1]), sys.argv[2], sys.argv[3]
sa = json.load(open(os.path.join(certs, "fcm", "sa-%s.json" % acct)))


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


now = int(time.time())
head = {"alg": "RS256", "typ": "JWT", "kid": sa["private_key_id"]}
claims = {"iss": sa["client_email"], "scope": "https://www.googleapis.com/auth/firebase.messaging",
          "aud": "https://oauth2.googleapis.com/token", "iat": now, "exp": now + 3600}
signing = b64(json.dumps(head).encode()) + "." + b64(json.dumps(claims).encode())
with tempfile.NamedTemporaryFile("w", suffix=".pem") as k:
    k.write(sa["private_key"])
    k.flush()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", k.name], input=signing.encode(),
                         capture_output=True, check=True).stdout
form = urllib.parse.urlencode({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                               "assertion": signing + "." + b64(sig)})
ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
ctx.set_alpn_protocols(["http/1.1"])
c = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
c.request("POST", "/token", body=form,
          headers={"content-type": "application/x-www-form-urlencoded"})
r = c.getresponse()
body = json.loads(r.read())
if r.status != 200:
    sys.exit("token endpoint: %d %s" % (r.status, body))
print(body["access_token"], body["expires_in"])
