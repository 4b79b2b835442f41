#!/usr/bin/env bash
# openapi_valid.sh BUILD_DIR SOURCE_DIR [DOCUMENT] - docs/openapi.json (or
# DOCUMENT) validated by a real OpenAPI validator: @apidevtools/swagger-parser,
# pinned by tests/docs/package-lock.json and installed with `npm ci` into
# BUILD_DIR/openapi-check (again only when the lock file changed), never into
# the source tree. node and npm come from `scripts/install-deps.sh test`.
# The document's agreement with the daemon's tables is
# tests/daemon/api/test_api_openapi.c's job.
set -euo pipefail
build=$1 src=$2 doc=${3:-$2/docs/openapi.json}
doc=$(realpath "$doc")
for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "openapi_valid: $tool is missing: run scripts/install-deps.sh test" >&2
    exit 1
  fi
done
dir=$build/openapi-check
mkdir -p "$dir"
if [ ! -d "$dir/node_modules/@apidevtools/swagger-parser" ] ||
   ! cmp -s "$src/tests/docs/package-lock.json" "$dir/package-lock.json"; then
  cp "$src/tests/docs/package.json" "$src/tests/docs/package-lock.json" "$dir/"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) ||
    { echo "openapi_valid: npm ci failed in $dir" >&2; exit 1; }
fi
cp "$src/tests/docs/validate_openapi.js" "$dir/"
cd "$dir" && node validate_openapi.js "$doc"
