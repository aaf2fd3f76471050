#!/bin/sh
# Stops Delve at one event of a failing seed, the workflow the README
# describes:
#   1. find a failing seed of the flaky ICE scenario (TestFlakyICE's sweep),
#   2. reproduce it with VNETSIM_TRACE_DIR to get its trace file,
#   3. pick an event from the trace: the first datagram a NAT filtered,
#   4. run the test under Delve in batch mode with VNETSIM_BREAK=<ev>: the
#      scheduler stops just before firing that event, and Delve prints the
#      event, the packet about to arrive, the router it arrives at and its
#      NAT's counters.
# It installs Delve with go install if it is not on PATH. Not run in CI
# (building the test binary without optimizations takes minutes).
#
#   scripts/delve-break.sh
set -eu
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

dlv=$(command -v dlv || true)
if [ -z "$dlv" ]; then
	GOBIN="$work/bin" go install github.com/go-delve/delve/cmd/dlv@latest
	dlv="$work/bin/dlv"
fi

seed=${SEED:-$(go test -count=1 -v -run '^TestFlakyICE$' ./scenarios | sed -n 's/.*seed \([0-9]*\) fails;.*/\1/p' | head -1)}
[ -n "$seed" ] || { echo "no failing seed found" >&2; exit 1; }
echo "== failing seed: $seed"

VNETSIM_SEED=$seed VNETSIM_TRACE_DIR="$work" go test -count=1 -run '^TestFlakyICE$' ./scenarios >/dev/null 2>&1 || true
trace="$work/TestFlakyICE.seed-$seed.jsonl"
line=$(grep '"kind":"drop"' "$trace" | grep '"reason":"nat-filtered"' | head -1)
[ -n "$line" ] || line=$(grep '"kind":"drop"' "$trace" | head -1)
ev=$(echo "$line" | sed 's/^{"ev":\([0-9]*\),.*/\1/')
id=$(echo "$line" | sed 's/.*"id":\([0-9]*\).*/\1/')
echo "== the event to stop at (from $trace):"
echo "$line"

echo "== building the test binary without optimizations"
go test -c -gcflags='all=-N -l' -o "$work/scenarios.test" ./scenarios

cat >"$work/cmds" <<CMDS
continue
stack 3
frame 0 print info
frame 2 print h.(*vnet.packet).id
frame 2 print h.(*vnet.packet).src
frame 2 print h.(*vnet.packet).dst
frame 2 print h.(*vnet.packet).to.(*vnet.Router).name
frame 2 print h.(*vnet.packet).to.(*vnet.Router).nat.stats
exit
CMDS
echo "== dlv exec scenarios.test with VNETSIM_SEED=$seed VNETSIM_BREAK=$ev"
out=$(cd scenarios && VNETSIM_SEED=$seed VNETSIM_BREAK=$ev "$dlv" exec "$work/scenarios.test" \
	--allow-non-terminal-interactive=true --init "$work/cmds" -- -test.run '^TestFlakyICE$' -test.count=1 </dev/null 2>&1 |
	sed 's/\x1b\[[0-9;]*m//g')
echo "$out"
if echo "$out" | grep -q "N: $ev,"; then
	echo "== OK: Delve stopped just before event $ev (packet id $id)"
else
	echo "== FAILED: Delve did not stop at event $ev" >&2
	exit 1
fi
