"""test_auth.py - apns-sim self-test: provider tokens (see run.sh)."""
import os, sys, base64, subprocess, json, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simclient import *

T = [("apns-topic", "com.example.app")]
def A(tok):
    return T + [("authorization", "bearer " + tok)]

sim = Sim("--auth-keys", f"{CERTS}/keys", "--max-streams", "77", tls=True)
c = Client(sim.port)
print("initial max streams:", c.max_streams())
check("missing", c.req(headers=T), (403, "MissingProviderToken"))
check("not bearer", c.req(headers=T + [("authorization", "basic abc")]), (403, "InvalidProviderToken"))
check("garbage", c.req(headers=A("abc.def.ghi")), (403, "InvalidProviderToken"))
check("unknown kid", c.req(headers=A(jwt(kid="UNKNOWN000", key=f"{CERTS}/AuthKey_UNKNOWN000.p8"))), (403, "InvalidProviderToken"))
check("wrong team", c.req(headers=A(jwt(team="XXXXXXXXXX"))), (403, "InvalidProviderToken"))
check("alg HS256", c.req(headers=A(jwt(alg="HS256"))), (403, "InvalidProviderToken"))
check("no alg", c.req(headers=A(jwt(hdr={"kid": "ABC123DEFG"}))), (403, "InvalidProviderToken"))
check("wrong key", c.req(headers=A(jwt(key=f"{CERTS}/AuthKey_XYZ987WVUT.p8"))), (403, "InvalidProviderToken"))
check("expired", c.req(headers=A(jwt(iat=int(time.time()) - 3700))), (403, "ExpiredProviderToken"))
check("future", c.req(headers=A(jwt(iat=int(time.time()) + 120))), (403, "ExpiredProviderToken"))
print("max streams still:", c.max_streams())
t1 = jwt()
check("valid", c.req(headers=A(t1)), (200, None))
c.pump(timeout=0.2)
print("max streams after valid:", c.max_streams())
for i in range(5):
    c.req(headers=A(t1))
t2 = jwt(raw=False)  # DER signature
check("first change (DER)", c.req(headers=A(t2)), (200, None))
t3 = jwt(std=True)
check("second change too soon", c.req(headers=A(t3)), (429, "TooManyProviderTokenUpdates"))
check("current still ok", c.req(headers=A(t2)), (200, None))
t4 = jwt(kid="XYZ987WVUT", team="TEAM000002")
check("unrelated kid", c.req(headers=A(t4)), (403, "UnrelatedKeyIdInToken"))
c.close()
# a fresh connection may use the other key
c = Client(sim.port)
check("other key new conn", c.req(headers=A(t4)), (200, None))
check("missing topic", c.req(headers=[("authorization", "bearer " + t4)]), (400, "MissingTopic"))
c.close()
# concurrency: before a valid token only 1 stream
c = Client(sim.port, settings_wait=False)
sids = burst(c, 5, headers=T)  # no token: the limit stays 1
res = [c.result(s, timeout=1) for s in sids]
check("first of 5 before auth", res[0], (403, "MissingProviderToken"))
truth("other 4 refused", all(c.resets.get(s) == 7 for s in sids[1:]), str(c.resets))
c.close()
st = sim.stop()
print(st)
truth("each token verified once per connection", st["jwt_verifications"] <= 16, str(st["jwt_verifications"]))
truth("refused counted", st["refused_streams"] == 4)
done()
