#!/usr/bin/env python3
"""check_layout.py - the tree's module rules, checked on every `make test`.

    check_layout.py SOURCE_DIR [LIBAPNS_SO]

1. Daemon includes point down. Each folder under daemon/ is a module with a
   rank (RANKS below, from docs/architecture.md):
       obs <- config <- queue <- queue/{sqlite,jetstream} <- dispatch <- {api, webhook} <- main
   A file may include a header of its own module, or a public header (one in
   the module's folder, not in internal/) of a module of LOWER rank. Equal
   ranks are siblings and may not include each other. A sub-module
   (queue/sqlite) may include its parent's internal/ headers: that is the
   contract the parent's front end offers its backends.
2. No relative includes that climb ("../x.h") anywhere in the product.
3. The library (lib/, include/apns/) includes nothing from daemon/, sim/ or
   tools/; include/apns/ includes only include/apns/ and system headers;
   common/ (under everything) includes only itself and include/apns/.
   The programs (sim/, tools/) include libapns only through include/apns/.
4. With LIBAPNS_SO: the shared library exports only apns_* symbols
   (nm -D --defined-only).
Prints one line per violation naming the file, the line and the rule, and
exits 1 if there is any.
"""
import os
import re
import subprocess
import sys

RANKS = {
    "obs": 0,
    "config": 1,
    "queue": 2,
    "queue/sqlite": 3,
    "queue/jetstream": 3,
    "dispatch": 4,
    "api": 5,
    "webhook": 5,
    "": 6,  # daemon/main.c
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources(top):
    for d, _, files in os.walk(top):
        for f in files:
            if f.endswith((".c", ".h")):
                yield os.path.join(d, f)


def includes(path):
    with open(path, encoding="utf-8", errors="replace") as fp:
        text = fp.read()
    for m in INCLUDE.finditer(text):
        yield text.count("\n", 0, m.start()) + 1, m.group(1)


def module_of(daemon, path):
    rel = os.path.relpath(os.path.dirname(path), daemon)
    rel = "" if rel == "." else rel
    if rel.endswith("/internal") or rel == "internal":
        rel = rel[: -len("internal")].rstrip("/")
    return rel


def main():
    src = sys.argv[1]
    daemon = os.path.join(src, "daemon")
    bad = []

    # Which module owns each daemon header, and is it public?
    owner = {}
    for path in sources(daemon):
        if path.endswith(".h"):
            name = os.path.basename(path)
            mod = module_of(daemon, path)
            public = os.path.basename(os.path.dirname(path)) != "internal"
            if name in owner:
                bad.append(f"{path}: header name also used in daemon/{owner[name][0]}")
            owner[name] = (mod, public)

    for path in sources(daemon):
        mod = module_of(daemon, path)
        if mod not in RANKS:
            bad.append(f"{path}: folder daemon/{mod} is not a known module (tests/layout/check_layout.py RANKS)")
            continue
        for line, inc in includes(path):
            where = f"{os.path.relpath(path, src)}:{line}"
            if ".." in inc.split("/"):
                bad.append(f'{where}: relative include "{inc}" climbs out of the module')
                continue
            if inc.startswith("apns/"):
                continue
            hit = owner.get(os.path.basename(inc))
            if hit is None:
                continue  # a header of a dependency (nats/nats.h, ...)
            omod, public = hit
            if omod == mod:
                continue
            if not public and mod.startswith(omod + "/"):
                continue  # a backend sees its parent's contract (queue/internal/)
            if not public:
                bad.append(f'{where}: includes "{inc}", a private header of daemon/{omod}')
            elif RANKS[omod] >= RANKS[mod]:
                bad.append(
                    f'{where}: include runs upward or sideways: daemon/{mod or "main.c"} '
                    f'(rank {RANKS[mod]}) includes "{inc}" of daemon/{omod} (rank {RANKS[omod]})'
                )

    lib_private = {os.path.basename(p) for p in sources(os.path.join(src, "lib")) if p.endswith(".h")}
    for top in ("lib", "include/apns", "sim", "tools", "common"):
        base = os.path.join(src, top)
        if not os.path.isdir(base):
            continue
        for path in sources(base):
            for line, inc in includes(path):
                where = f"{os.path.relpath(path, src)}:{line}"
                if ".." in inc.split("/"):
                    bad.append(f'{where}: relative include "{inc}" climbs out of its folder')
                if top == "common" and not inc.startswith("apns/") \
                        and not os.path.exists(os.path.join(base, inc)):
                    bad.append(f'{where}: common/ includes "{inc}" (only common/ and apns/*.h allowed)')
                if top == "include/apns" and not inc.startswith("apns/"):
                    bad.append(f'{where}: a public header includes "{inc}" (only apns/*.h allowed)')
                if top in ("lib", "include/apns", "common") and os.path.basename(inc) in owner:
                    bad.append(f'{where}: the library includes daemon header "{inc}"')
                if top in ("sim", "tools") and os.path.basename(inc) in lib_private \
                        and not os.path.exists(os.path.join(os.path.dirname(path), inc)):
                    bad.append(f'{where}: includes libapns private header "{inc}" (use include/apns/)')

    if len(sys.argv) > 2:
        out = subprocess.run(["nm", "-D", "--defined-only", sys.argv[2]], check=True,
                             capture_output=True, text=True).stdout
        syms = [l.split()[-1] for l in out.splitlines() if l.strip()]
        if not syms:
            bad.append(f"{sys.argv[2]}: exports no symbols at all")
        for s in syms:
            if not s.startswith("apns_") or s.startswith("apns__"):
                bad.append(f"{sys.argv[2]}: exports {s} (only apns_* may be exported)")

    for b in bad:
        print(b)
    print(f"check_layout: {len(bad)} violation(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
