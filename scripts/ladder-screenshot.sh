#!/bin/sh
# Renders the ladder diagrams of the hole-punching scenario and of a failing
# seed of the flaky ICE scenario in headless Chromium, checks that each
# screenshot is not blank and that the page draws one arrow per delivery or
# drop in the trace (TestLadderInChromium), and keeps the screenshots in
# docs/ (docs/ladder.png is the one the README shows).
#
#   scripts/ladder-screenshot.sh
set -eu
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
	apt-get update && apt-get install -y chromium
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
LADDER_SCREENSHOT_DIR="$out" go test -count=1 -v -run '^TestLadderInChromium$' ./tracefile/ladder
cp "$out/holepunch.png" docs/ladder.png
cp "$out/flaky-ice-failing.png" docs/ladder-flaky-ice.png
echo "screenshots: docs/ladder.png docs/ladder-flaky-ice.png"
