"""test_misc.py - apns-sim self-test (see run.sh)."""
import os, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simclient import *

CLIENT = (f"{CERTS}/client.pem", f"{CERTS}/client.key")
# --- certificate auth
sim = Sim("--client-ca", f"{CERTS}/ca.pem", "--topics", "com.extra")
c = Client(sim.port, cert=CLIENT)
print("cert max streams:", c.max_streams())
check("cert no topic -> subject", c.req(), (200, None))
check("cert topic", c.req(headers=[("apns-topic", "com.example.app")]), (200, None))
# A certificate not registered for VoIP (no Apple extension): issue 11, project choice.
check("cert voip unregistered", c.req(headers=[("apns-topic", "com.example.app.voip"), ("apns-push-type", "voip")]), (400, "TopicDisallowed"))
check("cert extra", c.req(headers=[("apns-topic", "com.extra")]), (200, None))
check("cert other", c.req(headers=[("apns-topic", "com.nope")]), (400, "TopicDisallowed"))
check("cert auth header ignored", c.req(headers=[("authorization", "bearer junk")]), (200, None))
c.close()
c = Client(sim.port, cert=(f"{CERTS}/client-services.pem", f"{CERTS}/client-services.key"))
check("cert voip (registered)", c.req(headers=[("apns-topic", "com.example.app.voip"), ("apns-push-type", "voip")]), (200, None))
c.close()
try:
    c = Client(sim.port)  # no client cert
    r = c.req()
    truth("no client cert refused", r is None, str(r))
except Exception as e:
    truth("no client cert refused", True, type(e).__name__)
print(sim.stop())

# --- ALPN
sim = Sim()
try:
    c = Client(sim.port, alpn=("http/1.1",))
    truth("alpn http/1.1 refused", False)
except Exception as e:
    truth("alpn http/1.1 refused", True, type(e).__name__)
# No ALPN: HTTP/2 with prior knowledge, as APNs (issue 11).
c = Client(sim.port, alpn=None)
check("no alpn: HTTP/2 with prior knowledge", c.req(), (200, None))
c.close()
st = sim.stop()
truth("tls_failures counted", st["tls_failures"] == 1, str(st["tls_failures"]))

# --- token files, sandbox, delivery log
open(os.path.join(WORK, "unreg.txt"), "w").write("# comment\n" + "b" * 64 + " 1600000000123\n" + "C" * 64 + "\n")
open(os.path.join(WORK, "othertopic.txt"), "w").write("d" * 64 + "\n")
open(os.path.join(WORK, "otherenv.txt"), "w").write("e" * 64 + "\n")
if os.path.exists(os.path.join(WORK, "dl.log")):
    os.unlink(os.path.join(WORK, "dl.log"))
t0 = int(time.time() * 1000)
sim = Sim("--unregistered", os.path.join(WORK, "unreg.txt"), "--other-topic", os.path.join(WORK, "othertopic.txt"),
          "--other-env", os.path.join(WORK, "otherenv.txt"), "--environment", "sandbox",
          "--delivery-log", os.path.join(WORK, "dl.log"), tls=False)
c = Client(sim.port, tls=False)
r = c.req(token="b" * 64)
check("unregistered", r, (410, "Unregistered")); truth("timestamp", r[3].get("timestamp") == 1600000000123, str(r[3]))
r = c.req(token="c" * 64)
check("unregistered default ts", r, (410, "Unregistered")); truth("default ts ~ load time", abs(r[3]["timestamp"] - t0) < 5000, str(r[3]))
check("other topic", c.req(token="d" * 64), (400, "DeviceTokenNotForTopic"))
check("other env", c.req(token="E" * 64), (400, "BadDeviceToken"))
r = c.req(headers=[("apns-id", "123e4567-e89b-12d3-a456-4266554400a0"), ("apns-topic", "com.x")])
check("sandbox ok", r, (200, None)); truth("unique id", "apns-unique-id" in r[2], str(r[2]))
truth("echo id", r[2]["apns-id"] == "123e4567-e89b-12d3-a456-4266554400a0")
r2 = c.req()
truth("generated id", len(r2[2]["apns-id"]) == 36 and r2[2]["apns-id"] != r[2]["apns-id"], r2[2]["apns-id"])
time.sleep(0.3)
log = open(os.path.join(WORK, "dl.log")).read()
print("log:", log)
truth("log lines", log.count("\n") == 2 and "123e4567-e89b-12d3-a456-4266554400a0 " + "a" * 64 + " com.x 22\n" in log and (r2[2]["apns-id"] + " " + "a" * 64 + " - 22") in log)
c.close()
print(sim.stop())

# --- --delivery-log-flush-ms: checked at the door; a line reaches the file
# without waiting for exit (polled, bounded)
for bad in ("0", "10001", "abc", "-5", ""):
    p = subprocess.run([SIM, "--listen", "127.0.0.1:0", "--h2c", "--delivery-log-flush-ms", bad],
                       capture_output=True, text=True, timeout=10)
    truth("flush-ms %r refused" % bad, p.returncode == 2 and "--delivery-log-flush-ms" in p.stderr
          and "1..10000" in p.stderr, "rc=%d %s" % (p.returncode, p.stderr.strip()[:200]))
dl2 = os.path.join(WORK, "dl2.log")
if os.path.exists(dl2):
    os.unlink(dl2)
sim = Sim("--delivery-log", dl2, "--delivery-log-flush-ms", "20", tls=False)
c = Client(sim.port, tls=False)
check("flush-ms: accepted", c.req(token="f" * 64), (200, None))
seen = ""
for _ in range(500):
    seen = open(dl2).read() if os.path.exists(dl2) else ""
    if seen:
        break
    time.sleep(0.01)
truth("flush-ms: the line is written while the sim runs", seen.count("\n") == 1 and "f" * 64 in seen, repr(seen))
c.close()
print(sim.stop())
done()
