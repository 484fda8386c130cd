#!/usr/bin/env bash
# Refresh the vendored front-end assets from the npm registry (the UI never loads a CDN).
# Usage: scripts/vendor-assets.sh   (then review and commit src/daytwo/web/static/vendor)
set -euo pipefail
dest="$(cd "$(dirname "$0")/.." && pwd)/src/daytwo/web/static/vendor"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work"
fetch() {  # package@version file-in-package target-name
  local spec=$1 file=$2 name=$3 dir
  dir="pkg-${spec//[@\/]/_}"
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir"
    tar xzf "$(npm pack -q "$spec")" -C "$dir"
  fi
  cp "$dir/package/$file" "$dest/$name"
  cp "$dir/package/LICENSE" "$dest/licenses/${name%%.*}.LICENSE" 2>/dev/null || true
}
mkdir -p "$dest/licenses"
fetch htmx.org@2.0.11 dist/htmx.min.js htmx.min.js
fetch vega@6.4.0 build/vega.min.js vega.min.js
fetch vega-lite@6.5.0 build/vega-lite.min.js vega-lite.min.js
fetch vega-embed@7.3.0 build/vega-embed.min.js vega-embed.min.js
fetch swagger-ui-dist@5.35.0 swagger-ui-bundle.js swagger-ui-bundle.js
fetch swagger-ui-dist@5.35.0 swagger-ui.css swagger-ui.css
echo "vendored into $dest"
