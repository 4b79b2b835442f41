"""test_fleet.py - apns-sim self-test: the fleet view of provider tokens (see
run.sh). Distinct tokens per team are counted across every connection and
event loop (provider_tokens_by_team), and --team-token-interval refuses a
team's new token with 429 TooManyProviderTokenUpdates while the current one
keeps working. No check depends on the machine being fast: the only waits are
sleeps that make a window certainly pass."""
import os, sys, time, subprocess
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simclient import *

KEYS = f"{CERTS}/keys"
TEAM, TEAM2 = "DEF123GHIJ", "TEAM000002"
T = [("apns-topic", "com.example.app")]
def A(tok):
    return T + [("authorization", "bearer " + tok)]

now = int(time.time())
t1 = jwt(iat=now - 30)           # the fleet's token
t2 = jwt(iat=now - 20)           # same key and team, another iat: a second token
o1 = jwt(kid="XYZ987WVUT", team=TEAM2, iat=now - 30)  # another team

def conns(sim, n):
    return [Client(sim.port, tls=False) for _ in range(n)]

# --- the flag is checked and documented
r = subprocess.run([SIM, "--h2c", "--team-token-interval", "-5"], capture_output=True, text=True)
truth("bad value: exit 2 + message", r.returncode == 2 and "--team-token-interval -5: expected seconds" in r.stderr, r.stderr.strip())
r = subprocess.run([SIM, "--h2c", "--team-token-interval", "20m"], capture_output=True, text=True)
truth("non-numeric value: exit 2", r.returncode == 2 and "--team-token-interval 20m" in r.stderr, r.stderr.strip())
r = subprocess.run([SIM, "--h2c", "--team-token-interval", "1200"], capture_output=True, text=True)
truth("needs --auth-keys", r.returncode == 2 and "needs token auth" in r.stderr, r.stderr.strip())
r = subprocess.run([SIM, "--help"], capture_output=True, text=True)
truth("in --help", r.returncode == 0 and "--team-token-interval SECS" in r.stdout)

# --- open mode: the fields are there, empty
sim = Sim(tls=False)
c = Client(sim.port, tls=False)
check("open mode ok", c.req(), (200, None))
c.close()
st = sim.stop()
truth("open mode: provider_tokens_by_team {}", st["provider_tokens_by_team"] == {}, str(st.get("provider_tokens_by_team")))
truth("open mode: team_token_refusals 0", st["team_token_refusals"] == 0 and st["team_tokens_untracked"] == 0)

# --- counting only (default): one token shared by many connections counts once
sim = Sim("--auth-keys", KEYS, "--threads", "2", tls=False)
a, b = conns(sim, 2)
check("conn A token 1", a.req(headers=A(t1)), (200, None))
for _ in range(3):
    a.req(headers=A(t1))
check("conn B same token", b.req(headers=A(t1)), (200, None))
st = sim.counters()
truth("same token on 2 connections -> 1", st and st["provider_tokens_by_team"] == {TEAM: 1}, str(st and st["provider_tokens_by_team"]))
more = conns(sim, 6)  # spread over both loops by SO_REUSEPORT
truth("6 more connections, same token", all(x.req(headers=A(t1))[0] == 200 for x in more))
st = sim.counters()
truth("still 1", st and st["provider_tokens_by_team"] == {TEAM: 1}, str(st and st["provider_tokens_by_team"]))
c3, = conns(sim, 1)
check("conn C second token (other iat)", c3.req(headers=A(t2)), (200, None))
st = sim.counters()
truth("second token -> 2", st and st["provider_tokens_by_team"] == {TEAM: 2}, str(st and st["provider_tokens_by_team"]))
check("conn A switches to it", a.req(headers=A(t2)), (200, None))
d, = conns(sim, 1)
check("other team", d.req(headers=A(o1)), (200, None))
for x in [a, b, c3, d] + more:
    x.close()
st = sim.stop()
truth("counted per team", st["provider_tokens_by_team"] == {TEAM: 2, TEAM2: 1}, str(st["provider_tokens_by_team"]))
truth("nothing refused without the flag", st["team_token_refusals"] == 0 and
      "TooManyProviderTokenUpdates" not in st["rejected_by_reason"], str(st))
truth("each token verified once per connection", st["jwt_verifications"] == 11, str(st["jwt_verifications"]))

# --- --team-token-interval 1200: a second token for the team is refused fleet-wide
sim = Sim("--auth-keys", KEYS, "--threads", "2", "--team-token-interval", "1200", tls=False)
a, b, c3, d = conns(sim, 4)
check("A: first token", a.req(headers=A(t1)), (200, None))
check("B: same token", b.req(headers=A(t1)), (200, None))
check("C: second token -> 429", c3.req(headers=A(t2)), (429, "TooManyProviderTokenUpdates"))
check("C: again -> 429", c3.req(headers=A(t2)), (429, "TooManyProviderTokenUpdates"))
check("A: first keeps working", a.req(headers=A(t1)), (200, None))
check("A: switching to the second -> 429 (fleet rule)", a.req(headers=A(t2)), (429, "TooManyProviderTokenUpdates"))
check("A: still on the first", a.req(headers=A(t1)), (200, None))
check("C: the fleet's token accepted", c3.req(headers=A(t1)), (200, None))
check("D: other team has its own window", d.req(headers=A(o1)), (200, None))
st = sim.counters()
truth("refused token still counted: 2", st and st["provider_tokens_by_team"] == {TEAM: 2, TEAM2: 1}, str(st and st["provider_tokens_by_team"]))
for x in (a, b, c3, d):
    x.close()
st = sim.stop()
truth("team_token_refusals 3", st["team_token_refusals"] == 3, str(st["team_token_refusals"]))
truth("429s counted by reason", st["rejected_by_reason"].get("TooManyProviderTokenUpdates") == 3, str(st["rejected_by_reason"]))

# --- --team-token-interval 1: once the window has passed, a new token is taken
# and the previous one stays accepted; a refused token is taken when asked
# again after the window (asked only then: its refusal is cached until).
sim = Sim("--auth-keys", KEYS, "--team-token-interval", "1", tls=False)
a, b, c3 = conns(sim, 3)
check("A: first token", a.req(headers=A(t1)), (200, None))
first = b.req(headers=A(t2))  # 429 unless this machine took > 1 s since A
print("B: second token right away:", first[:2] if first else first)
time.sleep(2.2)
check("B: second token after the window", b.req(headers=A(t2)), (200, None))
check("C: previous token still accepted", c3.req(headers=A(t1)), (200, None))
check("A: previous token still accepted", a.req(headers=A(t1)), (200, None))
for x in (a, b, c3):
    x.close()
st = sim.stop()
truth("2 tokens", st["provider_tokens_by_team"] == {TEAM: 2}, str(st["provider_tokens_by_team"]))
truth("refusals = the early 429", st["team_token_refusals"] == (1 if first and first[0] == 429 else 0), str(st["team_token_refusals"]))
done()
