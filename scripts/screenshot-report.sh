#!/usr/bin/env bash
# Take a full-page screenshot of a run's report.html with headless Chromium
# (Debian's `chromium` package), for a person to look at the layout.
#
#   scripts/screenshot-report.sh RUN_DIR [OUT.png]     (default OUT: RUN_DIR/report.png)
#
# Chromium runs with a throw-away profile and every background network feature
# off; the report itself references nothing outside the file. Tests never need
# this script: it is for people.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 RUN_DIR [OUT.png]" >&2
  exit 2
fi
run_dir=$1
report="$run_dir/report.html"
if [ ! -f "$report" ]; then
  echo "$report: no such file (is $run_dir a ninefold run folder? re-render with: ninefold report $run_dir)" >&2
  exit 2
fi
out=${2:-"$run_dir/report.png"}

chromium=""
for c in chromium chromium-browser google-chrome; do
  if command -v "$c" >/dev/null 2>&1; then
    chromium=$(command -v "$c")
    break
  fi
done
if [ -z "$chromium" ]; then
  echo "chromium is not installed: no screenshot taken." >&2
  echo "Install it (Debian: apt-get install -y chromium) or open $report in a browser." >&2
  exit 1
fi

abs_report=$(cd "$(dirname "$report")" && pwd)/$(basename "$report")
case "$out" in /*) abs_out=$out ;; *) abs_out=$(pwd)/$out ;; esac
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT

# Tall window: the whole report in one picture (about 1280 x 7000 CSS px; SCREENSHOT_HEIGHT changes it).
height=${SCREENSHOT_HEIGHT:-7000}
"$chromium" --headless --no-sandbox --disable-gpu \
  --disable-background-networking --disable-component-update --disable-sync \
  --disable-default-apps --disable-extensions --no-first-run --hide-scrollbars \
  --user-data-dir="$profile" \
  --window-size=1280,"$height" \
  --screenshot="$abs_out" \
  "file://$abs_report" >/dev/null 2>&1 || {
  echo "chromium failed to take the screenshot" >&2
  exit 1
}
echo "screenshot: $abs_out"
