#!/usr/bin/env bash
# install_link.sh BUILD_DIR SOURCE_DIR - libapns as a stranger gets it:
# installs the library into a temporary prefix (cmake --install), builds the
# complete program of docs/library.md with the command that page gives
# (`cc push.c $(pkg-config --cflags --libs libapns libevent)`), checks that it
# runs against the installed libapns.so, and links it statically too
# (`pkg-config --static`).
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" --component libapns >/dev/null
cmake --install "$build" --prefix "$work/prefix" --component libapns-dev >/dev/null
# lib, lib64 or lib/<multiarch> (GNUInstallDirs with the /usr prefix).
libdir=$(dirname "$(dirname "$(find "$work/prefix" -name libapns.pc | head -n1)")")
export PKG_CONFIG_PATH="$libdir/pkgconfig"

for f in "$libdir"/libapns.so "$libdir"/libapns.a "$work"/prefix/include/apns/apns.h \
         "$work"/prefix/include/apns/version.h; do
  [ -e "$f" ] || { echo "FAIL: not installed: ${f#$work/prefix/}"; exit 1; }
done
ver=$(pkg-config --modversion libapns)
grep -q "#define APNS_VERSION *\"$ver\"" "$work"/prefix/include/apns/version.h ||
  { echo "FAIL: libapns.pc says $ver, apns/version.h says otherwise"; exit 1; }

# The first C block of docs/library.md is the complete program.
awk '/^```c$/ {on=1; next} on && /^```$/ {exit} on {print}' "$src/docs/library.md" > "$work/push.c"
[ -s "$work/push.c" ] || { echo "FAIL: no C program in docs/library.md"; exit 1; }

cd "$work"
# shellcheck disable=SC2046
cc -Wall -Werror -o push push.c $(pkg-config --cflags --libs libapns libevent)
# No key file here: the program must start, load the installed library and
# report the missing key (exit 1), not fail to load.
set +e
out=$(LD_LIBRARY_PATH="$libdir" ./push 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] && grep -q "AuthKey_ABC123DEFG.p8" <<<"$out" ||
  { echo "FAIL: push (dynamic) exited $rc: $out"; exit 1; }
# (ldd's output first: `ldd | grep -q` fails under pipefail when grep exits early.)
libs=$(LD_LIBRARY_PATH="$libdir" ldd ./push)
grep -q "$libdir/libapns.so.0" <<<"$libs" ||
  { echo "FAIL: push is not linked against the installed libapns.so.0"; ldd ./push; exit 1; }

# Static: libapns.a, then what libapns.pc says it needs (Requires.private).
deps=$(pkg-config --print-requires-private libapns | awk '{print $1}' | tr '\n' ' ')
# shellcheck disable=SC2046,SC2086
cc -Wall -Werror -o push-static push.c $(pkg-config --cflags libapns libevent) "$libdir/libapns.a" \
   $(pkg-config --static --libs $deps)
set +e
out=$(./push-static 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] && grep -q "AuthKey_ABC123DEFG.p8" <<<"$out" ||
  { echo "FAIL: push (static) exited $rc: $out"; exit 1; }
echo "ok: installed libapns $ver; docs/library.md's program builds and runs, shared and static"
