#!/usr/bin/env bash
# deb_build.sh OUTDIR - the fixture of the deb_* tests: `make deb`'s script
# builds apnsd, libapns0 and libapns-dev from the tree (nocheck, no lintian:
# `make deb` runs lintian). Exit 77 (skipped) without debhelper.
set -euo pipefail
out=$1 src=$(cd "$(dirname "$0")/../.." && pwd)
command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null ||
  { echo "SKIP: debhelper/dpkg-dev not installed (scripts/install-deps.sh test)"; exit 77; }
rm -rf "$out"
JOBS=1 "$src/scripts/build-deb.sh" "$out" --no-lintian
for p in apnsd libapns0 libapns-dev; do
  ls "$out/${p}"_*.deb >/dev/null || { echo "FAIL: no $p package"; exit 1; }
done
