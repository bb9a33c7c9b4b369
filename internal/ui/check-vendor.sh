#!/usr/bin/env bash
# Checks that the committed uPlot files (assets/vendor) are those of the
# version package-lock.json pins: `npm ci` verifies the downloaded tarball
# against the lock's sha512 integrity, then each vendored file is
# compared byte for byte with the package's. Run by .ci/run.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --ignore-scripts >/dev/null
for f in uPlot.iife.min.js uPlot.min.css; do
  cmp "node_modules/uplot/dist/$f" "assets/vendor/$f"
done
cmp node_modules/uplot/LICENSE assets/vendor/uPlot.LICENSE
echo "assets/vendor matches uplot $(node -p 'require("./package-lock.json").packages["node_modules/uplot"].version') in package-lock.json"
