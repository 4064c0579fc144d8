#!/bin/sh
# Builds one service and writes a self-contained copy of it (dist + production node_modules)
# to OUT. The Dockerfiles' build stage runs this; test/deploy runs it too and starts the
# result, so what goes into the image is checked on machines without a Docker engine.
# Usage (from the repository root, after pnpm install): sh deploy/docker/assemble.sh gateway /out
set -eu
service="$1"
out="$2"

pnpm exec tsc -b "services/$service"
pnpm --config.inject-workspace-packages=true --filter "@signal/$service" deploy --prod --offline "$out" >/dev/null

# uWebSockets.js ships binaries for every platform and Node ABI (over 100 MB); keep this one's.
keep="uws_$(node -p 'process.platform + "_" + process.arch + "_" + process.versions.modules').node"
for pkg in "$out"/node_modules/.pnpm/*uws-js-unofficial*/node_modules/@trufflesuite/uws-js-unofficial; do
  [ -d "$pkg" ] || continue
  [ -f "$pkg/binaries/$keep" ] || { echo "uWebSockets.js has no $keep for this platform" >&2; exit 1; }
  find "$pkg/binaries" -type f ! -name "$keep" -delete
  rm -rf "$pkg/docs" "$pkg"/dist/*.node
done
