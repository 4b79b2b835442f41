#!/usr/bin/env bash
# build-deb.sh OUTDIR [--no-lintian] - builds the Debian packages apnsd,
# libapns0 and libapns-dev from this tree with debhelper (debian/), in a
# scratch copy of the tree (no build directories, nothing written to the
# tree), without running the test suite (DEB_BUILD_OPTIONS=nocheck), and
# puts the .deb files into OUTDIR. Then lintian checks them: any error fails.
set -euo pipefail
out=$1
lint=1
[ "${2:-}" = --no-lintian ] && lint=0
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir "$work/apnsd"
# The tree without build output or git metadata.
tar -C "$src" --exclude=./.git --exclude='./build*' --exclude=./debian/.debhelper -cf - . |
  tar -C "$work/apnsd" -xf -
export DEB_BUILD_OPTIONS="nocheck parallel=${JOBS:-$(nproc)} ${DEB_BUILD_OPTIONS:-}"
(cd "$work/apnsd" && dpkg-buildpackage -b -uc -us >"$work/build.log" 2>&1) || {
  tail -n 40 "$work/build.log"
  echo "build-deb: dpkg-buildpackage failed (log above)" >&2
  exit 1
}
rm -f "$out"/*.deb
cp "$work"/*.deb "$out"/
ls "$out"/*.deb
if [ $lint = 1 ]; then
  lintian --fail-on error --suppress-tags-from-file /dev/null "$out"/*.deb
fi
