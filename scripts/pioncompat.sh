#!/usr/bin/env bash
# pion compatibility suite: runs every test of pion/ice, pion/turn and
# pion/webrtc (at the versions go.mod uses) that uses pion's vnet, unchanged,
# on vnetsim's vnet: in real time, and inside a synctest bubble those that
# scripts/pioncompat/expected.txt expects to pass there. Prints one line per
# failing test and "N passed, M failed"; exits non-zero when a test misses
# its expectation in scripts/pioncompat/expected.txt.
#
# Needs only Go: the modules come through the Go module proxy.
# Flags go to the Go program, e.g.
#   scripts/pioncompat.sh -run 'ice/TestConnectivity'   # some tests
#   scripts/pioncompat.sh -bubble all                   # every test in a bubble too
#   scripts/pioncompat.sh -vnet pion                    # the baseline, on pion's own vnet
#   scripts/pioncompat.sh -markdown /tmp/table.md       # the per-test table
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o "${TMPDIR:-/tmp}/pioncompat.$$" ./scripts/pioncompat
trap 'rm -f "${TMPDIR:-/tmp}/pioncompat.$$"' EXIT
"${TMPDIR:-/tmp}/pioncompat.$$" "$@"
