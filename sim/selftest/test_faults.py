"""test_faults.py - apns-sim self-test (see run.sh)."""
import os, sys, time, collections
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simclient import *

def ids_in_log(path):
    time.sleep(0.25)
    return [l.split()[0] for l in open(path).read().splitlines()]

# --- GOAWAY every 10
LOG = os.path.join(WORK, "dl2.log")
if os.path.exists(LOG): os.unlink(LOG)
sim = Sim("--goaway-every", "10", "--delivery-log", LOG, tls=False)
c = Client(sim.port, tls=False)
sids = burst(c, 25)
c.pump(until=lambda: c.closed, timeout=3)
answered = [s for s in sids if s in c.responses]
print("goaway:", c.goaway, "answered", len(answered), "closed:", c.closed)
truth("goaway last = 10th stream", c.goaway and c.goaway[0] == sids[9] and c.goaway[1] == 0 and c.goaway[2] == b'{"reason":"Shutdown"}')
truth("answered exactly first 10", answered == sids[:10])
truth("connection closed after", c.closed == "eof")
log = ids_in_log(LOG)
got_ids = [c.responses[s]["headers"]["apns-id"] for s in answered]
truth("log = answered", sorted(log) == sorted(got_ids), f"{len(log)} lines")
st = sim.stop()
truth("stats goaways 1, ignored 15", st["goaways"] == 1 and st["ignored_streams"] == 15, str(st))

# --- reset every 7
sim = Sim("--reset-every", "7", tls=False)
c = Client(sim.port, tls=False)
sids = burst(c, 20)
c.pump(until=lambda: c.closed, timeout=3)
answered = [s for s in sids if s in c.responses]
print("reset: answered", len(answered), "closed:", c.closed, "goaway:", c.goaway)
truth("reset: 7 answered then RST", answered == sids[:7] and c.closed and c.closed.startswith("reset"))
st = sim.stop()
truth("stats resets 1", st["resets"] == 1, str(st))

# --- fail rate (deterministic with seed)
def run_fail(seed):
    sim = Sim("--fail-rate", "429:0.2", "--fail-rate", "500:0.1", "--fail-rate", "503:0.1", "--seed", str(seed), tls=False)
    c = Client(sim.port, tls=False)
    sids = burst(c, 90)
    res = [c.result(s) for s in sids]
    st = sim.stop()
    return [r[0] for r in res], st
a, st = run_fail(7)
b, _ = run_fail(7)
cnt = collections.Counter(a)
print("fail-rate:", cnt, st["rejected_by_reason"], st["injected_failures"])
truth("deterministic with seed", a == b)
truth("all kinds seen", cnt[429] > 5 and cnt[500] > 2 and cnt[503] > 2 and cnt[200] > 30)

# --- latency
sim = Sim("--latency-ms", "200", tls=False)
c = Client(sim.port, tls=False)
t = time.time()
sids = burst(c, 50)
res = [c.result(s) for s in sids]
dt = time.time() - t
truth("latency ~200ms, all answered", 0.19 < dt < 0.6 and all(r and r[0] == 200 for r in res), f"{dt:.3f}s")
sim.stop()

# --- no answer
sim = Sim("--no-answer-rate", "0.3", "--seed", "3", tls=False)
c = Client(sim.port, tls=False)
sids = burst(c, 60)
c.pump(timeout=0.7)
n = sum(1 for s in sids if s in c.responses)
st = sim.stop()
truth("no-answer ~30%", 30 <= n <= 52 and st["no_answer"] == 60 - n, f"answered {n}, stats {st['no_answer']}")

# --- shrink streams after 3 to 2, with a client that sent 10 before seeing the SETTINGS
sim = Sim("--shrink-streams-after", "3:2", "--latency-ms", "100", tls=False)
c = Client(sim.port, tls=False)
sids = burst(c, 10)
res = [c.result(s) for s in sids]
print("after shrink, max streams:", c.max_streams(), "resets:", c.resets)
truth("shrink settings", c.max_streams() == 2)
truth("first 3 answered, rest refused", all(r and r[0] == 200 for r in res[:3]) and all(c.resets.get(s) == 7 for s in sids[3:]))
sids = burst(c, 2)
res = [c.result(s) for s in sids]
truth("2 within the limit ok", all(r and r[0] == 200 for r in res))
st = sim.stop()
truth("refused counted", st["refused_streams"] == 7, str(st))
done()
