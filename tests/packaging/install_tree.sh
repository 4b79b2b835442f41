#!/usr/bin/env bash
# install_tree.sh BUILD_DIR SOURCE_DIR CERTS_DIR [SANITIZE] - `cmake --install` as a user
# runs it (into a DESTDIR): every program, library, header, pkg-config and
# CMake package file, man page, systemd file, doc and the configuration is
# installed where GNU install dirs say, with the modes docs/operations.md
# promises; each man page renders without a groff warning and apnsd.ini(5)
# lists every key of docs/configuration.md's reference; the installed
# example configuration is refused without a key and passes --check-config
# once a key and an API key file are dropped in; find_package(apns) links a
# program that runs; the systemd unit verifies and its exposure is <= 2.0.
set -euo pipefail
build=$1 src=$2 certs=$3 sanitize=${4:-OFF}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

DESTDIR="$work/root" cmake --install "$build" >/dev/null
root="$work/root"
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
p="$root$prefix"
sbin=$(ls -d "$p"/sbin) bin="$p/bin"
libdir=$(dirname "$(find "$p" -name libapns.pc)")/..
libdir=$(cd "$libdir" && pwd)
conf=$(dirname "$(find "$root" -name apnsd.ini -path '*apnsd/apnsd.ini')")

for f in "$sbin/apnsd" "$bin/apns" "$bin/apns-sim" "$bin/apns-bench" \
         "$libdir/libapns.so.0" "$libdir/libapns.so" "$libdir/libapns.a" \
         "$libdir/pkgconfig/libapns.pc" "$libdir/cmake/apns/apnsConfig.cmake" \
         "$p/include/apns/apns.h" "$p/include/apns/features.h" \
         "$p/share/man/man8/apnsd.8" "$p/share/man/man1/apns.1" "$p/share/man/man1/apns-sim.1" \
         "$p/share/man/man1/apns-bench.1" "$p/share/man/man5/apnsd.ini.5" \
         "$p/lib/systemd/system/apnsd.service" "$p/lib/sysusers.d/apnsd.conf" \
         "$p/lib/tmpfiles.d/apnsd.conf" "$p/share/doc/apnsd/operations.md" \
         "$p/share/doc/apnsd/README.md" "$p/share/doc/apnsd/openapi.json" "$conf/apnsd.ini"; do
  [ -e "$f" ] || fail "not installed: ${f#$root}"
done
[ -d "$conf/keys" ] || fail "no ${conf#$root}/keys"
for m in "750 $conf" "750 $conf/keys" "640 $conf/apnsd.ini"; do
  set -- $m
  [ "$(stat -c %a "$2")" = "$1" ] || fail "${2#$root}: mode $(stat -c %a "$2"), not $1"
done
grep -q "^ExecStart=$prefix/sbin/apnsd" "$p/lib/systemd/system/apnsd.service" ||
  fail "the unit does not start $prefix/sbin/apnsd"
grep -q "^u apnsd " "$p/lib/sysusers.d/apnsd.conf" || fail "sysusers.d: no apnsd user"
grep -q "^d ${conf#$root} 0750 root apnsd" "$p/lib/tmpfiles.d/apnsd.conf" ||
  fail "tmpfiles.d: ${conf#$root} is not root:apnsd 0750"

# The unit: `systemd-analyze verify` clean (its commands and man pages
# pointed at the install tree), and `systemd-analyze security` exposure at
# most 2.0 (docs/operations.md gives the figure).
unit="$p/lib/systemd/system/apnsd.service"
sed "s#$prefix/sbin/apnsd#$sbin/apnsd#g" "$unit" >"$work/apnsd.service"
out=$(MANPATH="$p/share/man" systemd-analyze verify "$work/apnsd.service" 2>&1) ||
  fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
sec=$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1 | tr -d '\033' |
      sed -n 's/.*Overall exposure level for apnsd.service: \([0-9.]*\).*/\1/p')
[ -n "$sec" ] || fail "systemd-analyze security gave no exposure level"
awk -v e="$sec" 'BEGIN { exit !(e <= 2.0) }' || fail "systemd-analyze security: exposure $sec > 2.0"
for k in "Type=notify" "ExecReload=$prefix/sbin/apnsd --reload" "WatchdogSec=" "RuntimeDirectory=apnsd"; do
  grep -q "^$k" "$unit" || fail "the unit lacks $k"
done

# Man pages: groff finds nothing to warn about (what lintian runs).
for page in "$p"/share/man/man*/*; do
  warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null)
  [ -z "$warn" ] || fail "${page#$root}: $warn"
done
# apnsd.ini(5) names every key of the reference in docs/configuration.md.
ini5=$(MANWIDTH=200 man -l "$p/share/man/man5/apnsd.ini.5" 2>/dev/null)
keys=$(sed -n '/BEGIN CONFIG REFERENCE/,/END CONFIG REFERENCE/s/^| `\([a-z_0-9]*\)` |.*/\1/p' \
       "$src/docs/configuration.md" | sort -u)
[ "$(wc -l <<<"$keys")" -gt 20 ] || fail "no keys read from docs/configuration.md"
for k in $keys; do
  grep -q "^ *$k (" <<<"$ini5" || fail "apnsd.ini(5) lacks the key $k"
done
# apnsd(8) carries every option of apnsd --help.
apnsd8=$(man -l "$p/share/man/man8/apnsd.8" 2>/dev/null)
for o in $("$sbin/apnsd" --help | grep -o -- '--[a-z-]*' | sort -u); do
  grep -q -- "$o" <<<"$apnsd8" || fail "apnsd(8) lacks $o"
done
# With no configuration named, apnsd reads the file the install put in place
# (the unit's APNSD_CONFIG names the same one); --help, apnsd(8) and
# apnsd.ini(5) name it.
grep -q "^Environment=APNSD_CONFIG=${conf#$root}/apnsd.ini$" "$unit" ||
  fail "the unit's APNSD_CONFIG is not ${conf#$root}/apnsd.ini"
LD_LIBRARY_PATH="$libdir" "$sbin/apnsd" --help | grep -q "else *$" &&
  LD_LIBRARY_PATH="$libdir" "$sbin/apnsd" --help | grep -q "^ *${conf#$root}/apnsd.ini)" ||
  fail "apnsd --help does not name the default ${conf#$root}/apnsd.ini"
grep -q -- "${conf#$root}/apnsd.ini" <<<"$apnsd8" || fail "apnsd(8) lacks the default path"
grep -q -- "${conf#$root}/apnsd.ini" <<<"$ini5" || fail "apnsd.ini(5) lacks the default path"

# The installed configuration: refused while the key is missing...
export LD_LIBRARY_PATH="$libdir"
mkdir -p "$work/keys" "$work/state"
over=(APNSD_QUEUE_PATH="$work/state/apnsd.db" APNSD_APP_MAIN_KEY_FILE="$work/keys/AuthKey.p8"
      APNSD_APP_MAIN_API_KEYS_FILE="$work/keys/api.keys")
set +e
out=$(env "${over[@]}" "$sbin/apnsd" --check-config --config "$conf/apnsd.ini" 2>&1)
rc=$?
set -e
[ $rc = 2 ] && grep -q "key_file" <<<"$out" || fail "no key: exit $rc: $out"
# ... and accepted once the key (and an API key file) is there.
cp "$certs/AuthKey_ABC123DEFG.p8" "$work/keys/AuthKey.p8"
(umask 077; openssl rand -hex 24 >"$work/keys/api.keys")
out=$(env "${over[@]}" "$sbin/apnsd" --check-config --config "$conf/apnsd.ini" 2>&1) ||
  fail "with a key: $out"

# find_package(apns): a program linked against the installed shared library
# (not under the sanitizers: an uninstrumented program cannot load an
# instrumented libapns.so).
if [ "$sanitize" = ON ]; then
  echo "ok: install tree, modes, man pages, example configuration (find_package skipped: sanitizers)"
  exit 0
fi
mkdir "$work/fp"
cat >"$work/fp/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.25)
project(fp C)
find_package(apns 0.1 REQUIRED)
add_executable(fp fp.c)
target_link_libraries(fp PRIVATE apns::apns)
CM
printf '#include <stdio.h>\n#include <apns/apns.h>\nint main(void) { puts(apns_version()); return 0; }\n' \
  >"$work/fp/fp.c"
cmake -S "$work/fp" -B "$work/fp/b" -DCMAKE_PREFIX_PATH="$p" >/dev/null ||
  fail "find_package(apns) failed"
cmake --build "$work/fp/b" >/dev/null || fail "the find_package(apns) program does not build"
v=$("$work/fp/b/fp") || fail "the find_package(apns) program does not run"
libs=$(ldd "$work/fp/b/fp")
grep -q "$libdir/libapns.so.0" <<<"$libs" || fail "fp is not linked to the installed libapns"
[ "$v" = "$(pkg-config --modversion "$libdir/pkgconfig/libapns.pc")" ] || fail "version $v"
echo "ok: install tree, modes, man pages, example configuration, find_package(apns)"
