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
# The tree without build output or git metadata: in a git checkout the files
# git tracks plus the untracked ones it does not ignore (build dirs,
# node_modules and the like stay out).
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$src" && git ls-files -z --cached --others --exclude-standard |
    xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
    tar --null -T - -cf -) | tar -C "$work/apnsd" -xf -
else
  tar -C "$src" --exclude=./.git --exclude='./build*' --exclude=./debian/.debhelper -cf - . |
    tar -C "$work/apnsd" -xf -
fi
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
