package shrink_test

import (
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/shrink"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/vnet"
)

// lossy is a scenario in virtual time: host a sends datagrams 0..39, one
// per millisecond, to host b over a lossy, jittery uplink; check judges what
// b got, in order.
func lossy(t *testing.T, check func(got []int) error) shrink.Run {
	return func(seed uint64, in vnet.Instruments) error {
		var failure error
		simtest.RunManual(t, seed, func(t *testing.T, s *sim.Scheduler) {
			defer vnet.Instrument(s, in)()
			wan, err := vnet.NewRouter(&vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s})
			require.NoError(t, err)
			host := func(name, ip string) *vnet.Net {
				n, err := vnet.NewNet(&vnet.NetConfig{Name: name, StaticIP: ip})
				require.NoError(t, err)
				require.NoError(t, wan.AddNet(n))
				return n
			}
			a, b := host("a", "1.2.3.4"), host("b", "1.2.3.5")
			require.NoError(t, a.Uplink().Set(impair.Config{Delay: 5 * time.Millisecond, Jitter: 2 * time.Millisecond, Loss: 0.25}))
			rx, err := b.ListenPacket("udp4", "1.2.3.5:5000")
			require.NoError(t, err)
			tx, err := a.ListenPacket("udp4", "1.2.3.4:4000")
			require.NoError(t, err)
			dst := net.UDPAddrFromAddrPort(netip.MustParseAddrPort("1.2.3.5:5000"))
			for i := range 40 {
				_, err := tx.WriteTo([]byte{byte(i), 0, 0, 0}, dst)
				require.NoError(t, err)
				s.RunFor(time.Millisecond)
			}
			s.RunFor(time.Second)
			require.NoError(t, rx.SetReadDeadline(time.Unix(1, 0)))
			var got []int
			buf := make([]byte, 64)
			for {
				n, _, err := rx.ReadFrom(buf)
				if err != nil {
					require.ErrorIs(t, err, os.ErrDeadlineExceeded)
					break
				}
				require.Equal(t, 4, n)
				got = append(got, int(buf[0]))
			}
			failure = check(got)
		})
		return failure
	}
}

func missing(k int) func([]int) error {
	return func(got []int) error {
		for _, i := range got {
			if i == k {
				return nil
			}
		}
		return fmt.Errorf("datagram %d lost", k)
	}
}

// firstFailing is the first seed in 1..50 for which run fails.
func firstFailing(t *testing.T, run shrink.Run) uint64 {
	for seed := uint64(1); seed <= 50; seed++ {
		if run(seed, vnet.Instruments{}) != nil {
			return seed
		}
	}
	t.Fatal("no failing seed in 1..50")
	return 0
}

// One lost datagram is the whole story: the shrink keeps exactly its fate,
// and the many other random decisions (losses, jitter) go.
func TestShrinkToTheOneLoss(t *testing.T) {
	run := lossy(t, missing(7))
	seed := firstFailing(t, run)
	res, err := shrink.Shrink(seed, run, shrink.Options{})
	require.NoError(t, err)
	assert.False(t, res.NotNetwork)
	assert.Greater(t, res.Recorded, 20, "every jittered packet had a fate")
	require.Len(t, res.Fates, 1)
	f := res.Fates[0]
	assert.Equal(t, "a->wan", f.Link)
	assert.Equal(t, impair.Decision{Seq: 8, Lost: true}, f.Decision, "datagram 7 is the link's 8th packet")
	assert.Equal(t, []string{"drop the 8th packet on link a->wan at 7.000001ms: UDP datagram (4 bytes) from 1.2.3.4:4000 to 1.2.3.5:5000 (the 8th of 40)"}, res.Describe())
	assert.Equal(t, []string{"drop the 8th of 40 UDP datagrams (4 bytes) from 1.2.3.4:4000 to 1.2.3.5:5000 on link a->wan at 7.000001ms (the link's 8th packet)"}, res.Summary())
	assert.Contains(t, res.String(), "1 of the ")

	// The replay of that one fate fails, whatever the seed (nothing random
	// is left); without it the run passes.
	for _, s := range []uint64{seed, seed + 1, 1000} {
		assert.EqualError(t, run(s, vnet.Instruments{Script: vnet.Script(res.Fates)}), "datagram 7 lost")
	}
	assert.NoError(t, run(seed, vnet.Instruments{Script: vnet.Script(nil)}))
}

// A failure that needs several losses keeps exactly as many as it needs.
func TestShrinkKeepsEveryNeededLoss(t *testing.T) {
	run := lossy(t, func(got []int) error {
		if len(got) < 35 {
			return fmt.Errorf("only %d of 40 arrived", len(got))
		}
		return nil
	})
	seed := firstFailing(t, run)
	res, err := shrink.Shrink(seed, run, shrink.Options{})
	require.NoError(t, err)
	require.Len(t, res.Fates, 6, "40-6 = 34 < 35, and one loss fewer passes")
	for _, f := range res.Fates {
		assert.True(t, f.Lost)
	}
	require.Len(t, res.Summary(), 1, "six drops of the same kind of packet on one link make one line")
	assert.Regexp(t, `^drop the (\d+(st|nd|rd|th), ){5}\d+(st|nd|rd|th) of 40 UDP datagrams \(4 bytes\) from 1\.2\.3\.4:4000 to 1\.2\.3\.5:5000 on link a->wan, from .* \(the link's .* packets\)$`, res.Summary()[0])
	assert.Equal(t, []int{40, 40, 40, 40, 40, 40}, res.Of)
}

// A failure that happens with every packet on its base fate is not the
// network's doing, and Shrink says so.
func TestShrinkNotNetwork(t *testing.T) {
	run := lossy(t, missing(99)) // never sent
	res, err := shrink.Shrink(3, run, shrink.Options{})
	require.NoError(t, err)
	assert.True(t, res.NotNetwork)
	assert.Empty(t, res.Fates)
	assert.Contains(t, res.String(), "does not come from the network")
	src, err := res.GoTest(shrink.TestFile{Package: "x_test", Name: "TestX", Body: "t.Fail()", Manual: true})
	require.NoError(t, err)
	assert.Contains(t, string(src), "does not\n// come from the network")
}

func TestShrinkErrors(t *testing.T) {
	_, err := shrink.Shrink(1, lossy(t, func([]int) error { return nil }), shrink.Options{})
	assert.ErrorIs(t, err, shrink.ErrPasses)

	calls := 0
	flaky := func(uint64, vnet.Instruments) error { // fails once, then never: not a function of the seed
		calls++
		if calls == 1 {
			return errors.New("boom")
		}
		return nil
	}
	_, err = shrink.Shrink(1, flaky, shrink.Options{})
	assert.ErrorIs(t, err, shrink.ErrNotReplayable)
}

// The generated test parses, carries the build tag, the fates as literals
// with their descriptions, and the body.
func TestGoTest(t *testing.T) {
	run := lossy(t, missing(7))
	res, err := shrink.Shrink(firstFailing(t, run), run, shrink.Options{})
	require.NoError(t, err)
	res.Fates = append(res.Fates, vnet.Fate{Link: "x", Decision: impair.Decision{Seq: 2, Duplicate: true,
		Jitter: [2]time.Duration{time.Millisecond, -time.Millisecond}, Early: [2]bool{false, true}}})
	src, err := res.GoTest(shrink.TestFile{Package: "demo_test", Name: "TestDemo", BuildTag: "repro",
		Imports: []string{"github.com/stretchr/testify/require"}, Body: "require.Fail(t, \"scenario\")", Manual: true, Command: "the test"})
	require.NoError(t, err)
	s := string(src)
	_, err = parser.ParseFile(token.NewFileSet(), "x_test.go", src, parser.ParseComments)
	require.NoError(t, err, s)
	assert.Contains(t, s, "//go:build repro\n\n// Code generated by the test. DO NOT EDIT.\n\npackage demo_test\n")
	assert.Contains(t, s, `{Link: "a->wan", Decision: impair.Decision{Seq: 8, Lost: true}},`)
	assert.Contains(t, s, `{Link: "x", Decision: impair.Decision{Seq: 2, Duplicate: true, Early: [2]bool{false, true}, Jitter: [2]time.Duration{1000000, -1000000}}},`)
	assert.Contains(t, s, "// 1. drop the 8th packet on link a->wan at 7.000001ms: UDP datagram (4 bytes) from 1.2.3.4:4000 to 1.2.3.5:5000 (the 8th of 40)\n")
	assert.Contains(t, s, "//   - drop the 8th of 40 UDP datagrams (4 bytes) from 1.2.3.4:4000 to 1.2.3.5:5000 on link a->wan at 7.000001ms (the link's 8th packet)\n")
	assert.Contains(t, s, "//   - duplicate 1 packet on link x (the link's 2nd packet)\n")
	assert.Contains(t, s, "// 2. duplicate the 2nd packet on link x (duplicated; copy 1 delayed +1ms; copy 2 sent early)")
	assert.Contains(t, s, "\"time\"\n")
	assert.Contains(t, s, "simtest.RunManual(t, ")
	assert.Contains(t, s, `}, simtest.BuildTags("repro"))`, "the test's reproduce command passes -tags repro")
	assert.Contains(t, s, "defer vnet.Instrument(s, vnet.Instruments{Script: vnet.Script(fates)})()\n\t\trequire.Fail(t, \"scenario\")")
}

// The generated test passes its build tag to simtest (so that its
// reproduce command carries -tags) when the constraint is one tag.
func TestGoTestBuildTags(t *testing.T) {
	run := lossy(t, missing(7))
	res, err := shrink.Shrink(firstFailing(t, run), run, shrink.Options{})
	require.NoError(t, err)
	tests := []struct {
		tag, want, notWant string
	}{
		{"", "\t})\n}\n", "BuildTags"},
		{"vnetsim_shrunk", "\t}, simtest.BuildTags(\"vnetsim_shrunk\"))\n}\n", ""},
		{"a && !b", "\t})\n}\n", "BuildTags"}, // an expression is no -tags value
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			src, err := res.GoTest(shrink.TestFile{Package: "x_test", Name: "TestX", BuildTag: tt.tag, Body: "t.Fail()"})
			require.NoError(t, err)
			assert.True(t, strings.HasSuffix(string(src), tt.want), "%s", src)
			if tt.notWant != "" {
				assert.NotContains(t, string(src), tt.notWant)
			}
		})
	}
}
