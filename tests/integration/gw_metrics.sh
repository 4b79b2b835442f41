#!/usr/bin/env bash
# gw_metrics.sh - apnsd's /metrics and JSON log against docs/operations.md:
#   - the first scrape after start lists EVERY metric of docs/operations.md's
#     Metrics table (read from the document, so the doc and the code cannot
#     drift): a sample for each, for both apps where the metric has an app
#     label (the webhook ones for the app with a webhook_url), except the ones
#     the table itself says appear later (the API's per-status counter, seen
#     after one request) or belong to the other backend (JetStream);
#   - apnsd_build_info names `apnsd --version` and, in a git checkout, a
#     commit of the checkout (the build's: HEAD may have moved since);
#   - process_* are plausible: CPU time, RSS, fds, max fds > 0, start time
#     between the launch and now;
#   - with [log] format = json every stderr line is a JSON object (Python's
#     json module), "apnsd ready" has "apps": 2 as a number, and no field
#     value is a string of digits (numbers are numbers).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw_lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)

start_gw_sim sim
# The webhook receiver is a closed port: deliveries fail, which does not matter here.
APP_X=$'webhook_url = http://127.0.0.1:9/hook\nwebhook_secret = 0123456789abcdef0123'
# A short drain: the undeliverable webhook results are dropped at its end.
gw_config "$WORK/apnsd.ini" "$SIM_PORT" "$WORK/apnsd.db" "drain_timeout = 2s" "" "$APP_X"
sed -i 's/^level = info$/level = info\nformat = json/' "$WORK/apnsd.ini"
T0=$(date +%s)
start_gw gw "$WORK/apnsd.ini"
curl -sS "$GW/metrics" > "$WORK/m1.txt"
wait_ready
api POST /v1/push "$GW_KEY" -d "{\"app\":\"$GW_APP\",\"token\":\"$(gw_token 1)\",\"alert\":\"hi\"}"
[ "$ST" = 202 ] || fail "push: $ST $(cat "$WORK/body")"
wait_depth 0 20
curl -sS "$GW/metrics" > "$WORK/m2.txt"
T1=$(date +%s)
VERSION=$("$BIN/apnsd" --version | awk '{print $2}')
IN_GIT=$(git -C "$SRC" rev-parse --is-inside-work-tree 2>/dev/null || echo no)

python3 - "$SRC/docs/operations.md" "$WORK/m1.txt" "$WORK/m2.txt" "$GW_APP" "$GW_APP2" \
  "$VERSION" "$IN_GIT" "$T0" "$T1" "$SRC" <<'PY'
import re, subprocess, sys
doc, m1, m2, shop, other, version, in_git, t0, t1, src = sys.argv[1:]
text = open(doc).read()
section = text[text.index("\n## Metrics\n"):]
section = section[:section.index("\n## ", 1)]
rows = [l for l in section.splitlines() if l.startswith("| `")]
assert len(rows) >= 15, "the Metrics table has %d rows" % len(rows)

def samples(path):
    out = {}
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line.rstrip("\n"))
        assert m, "bad sample line: %r" % line
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out.setdefault(m.group(1), []).append((labels, float(m.group(4))))
    return out

first, later = samples(m1), samples(m2)
errors, checked = [], 0
for row in rows:
    cell, meaning = row.split("|")[1], row.split("|")[2]
    if "backend = jetstream" in meaning:
        continue  # this apnsd runs the SQLite backend
    if "provider = fcm" in meaning:
        continue  # this apnsd has APNs apps only (it_gw_fcm_zero_loss reads that one)
    have = later if "from its first answer" in meaning else first
    for name, _, labels in re.findall(r'`([a-z_]+)(\{([a-z_,]*)\})?`', cell):
        labels = labels.split(",") if labels else []
        got = have.get(name) or have.get(name + "_count")
        checked += 1
        if not got:
            errors.append("%s: no sample" % name)
            continue
        if "app" in labels:
            apps = {l.get("app") for l, _ in got}
            want = {shop} if "webhook_url" in meaning else {shop, other}
            if not want <= apps:
                errors.append("%s: apps %s, want %s" % (name, sorted(apps), sorted(want)))
        for l, _ in got:
            missing = [x for x in labels if x not in l]
            if missing:
                errors.append("%s: labels %s missing" % (name, missing))
                break
assert not errors, "\n".join(errors)

# Per-label-value series at 0 before any event.
def value(s, name, **labels):
    for l, v in s.get(name, []):
        if all(l.get(k) == w for k, w in labels.items()):
            return v
    raise AssertionError("no %s%s" % (name, labels))
for outcome in ("accepted", "rejected", "failed", "expired"):
    assert value(first, "apnsd_notifications_total", app=other, outcome=outcome) == 0
assert value(first, "apnsd_rejections_total", app=other, reason="Unregistered") == 0
assert value(first, "apnsd_dead_tokens_total", app=other, source="410") == 0
for r in ("ok", "retry", "dropped"):
    assert value(first, "apnsd_webhook_deliveries_total", app=shop, result=r) == 0
for k in ("full", "io", "readonly", "corrupt", "busy"):
    assert value(first, "apnsd_storage_errors_total", kind=k) == 0
assert value(later, "apnsd_notifications_total", app=shop, outcome="accepted") == 1

b = first["apnsd_build_info"]
assert len(b) == 1 and b[0][1] == 1, b
assert b[0][0]["version"] == version, (b, version)
commit = b[0][0]["commit"]
if in_git == "true":
    h = commit[:-len("-dirty")] if commit.endswith("-dirty") else commit
    assert re.fullmatch(r"[0-9a-f]{12}", h), b
    assert subprocess.run(["git", "-C", src, "cat-file", "-e", h + "^{commit}"]).returncode == 0, \
        "build_info commit %s is not a commit of this checkout" % commit
else:
    assert commit != "", b

for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
             "process_virtual_memory_bytes", "process_open_fds", "process_max_fds"):
    v = later[name][0][1]
    assert v > 0, "%s = %s" % (name, v)
assert later["process_open_fds"][0][1] <= later["process_max_fds"][0][1]
st = later["process_start_time_seconds"][0][1]
assert int(t0) - 1 <= st <= int(t1) + 1, (st, t0, t1)
print("ok: %d documented metrics present at start; build_info %s %s; process_* plausible"
      % (checked, b[0][0]["version"], b[0][0]["commit"]))
PY
stop_gw gw

python3 - "$WORK/gw.err" <<'PY'
import json, re, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
assert lines, "no log lines"
ready = None
for l in lines:
    d = json.loads(l)
    assert isinstance(d, dict), l
    for k, v in d.items():
        assert not (isinstance(v, str) and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", v)), \
            "number written as a string: %s=%r in %s" % (k, v, l)
    if d.get("msg") == "apnsd ready":
        ready = d
assert ready is not None, "no 'apnsd ready' line"
assert type(ready["apps"]) is int and ready["apps"] == 2, ready
print("ok: %d JSON log lines, numbers as numbers" % len(lines))
PY
echo "PASS"
