#!/usr/bin/env bash
# Install the Debian packages the test suite needs, only where they are missing.
set -euo pipefail
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# The browser suite drives Debian's chromium through Playwright (never its own download).
# fonts-liberation (a Recommends we skip otherwise): Arial-metric text, as the CSS asks.
[ -x /usr/bin/chromium ] || need+=(chromium fonts-liberation)
# Reports: pdftotext reads the issued PDFs back in the tests.
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
[ ${#need[@]} -eq 0 ] && exit 0
sudo=()
[ "$(id -u)" = "0" ] || sudo=(sudo)
echo "installing Debian packages: ${need[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The package's own cluster is not ours to run: tests start a private one.
if command -v service >/dev/null 2>&1; then "${sudo[@]}" service postgresql stop >/dev/null 2>&1 || true; fi
