#!/usr/bin/env bash
# run.sh - apns-sim's behavioural self-test with an independent HTTP/2 client
# (python3-h2): validation, token and certificate auth, the fleet view of
# provider tokens (test_fleet.py), token lists, the delivery log and every
# fault injection. ctest runs it as it_sim_selftest
# (scripts/install-deps.sh installs python3-h2); by hand:
#   sim/selftest/run.sh BUILD/apns-sim
# Prints each check and ends with "N passed, N failed"; exit 1 on a failure.
set -uo pipefail
sim=$(realpath "${1:?usage: run.sh APNS_SIM_BINARY}")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$here/../../tests/certs/gen.sh" "$work/certs" >/dev/null
export APNS_SIM=$sim APNS_TEST_CERTS=$work/certs SELFTEST_WORK=$work
export PYTHONDONTWRITEBYTECODE=1
py=/usr/bin/python3
for t in "$here"/test_*.py; do
    echo "== $(basename "$t")"
    timeout 300 "$py" "$t" 2>&1 | tee -a "$work/out"
done
pass=$(grep -c '^ok ' "$work/out" || true)
fail=$(grep -c '^FAIL' "$work/out" || true)
crash=$(grep -c 'Traceback\|SIM STDERR' "$work/out" || true)
fail=$((fail + crash))
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
