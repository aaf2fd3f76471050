package nat

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// t0 is the simulator's epoch; tests count time from it.
var t0 = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

var extIP = netip.MustParseAddr("192.0.2.1")

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func at(d time.Duration) time.Time { return t0.Add(d) }

func udp(src, dst string) Flow { return Flow{Proto: UDP, Src: ap(src), Dst: ap(dst)} }

func tcp(src, dst string, flags uint8) Flow {
	return Flow{Proto: TCP, Src: ap(src), Dst: ap(dst), TCPFlags: flags}
}

// reply is the packet a remote sends back to what f delivered.
func reply(f Flow) Flow { return Flow{Proto: f.Proto, Src: f.Dst, Dst: f.Src} }

// newTable builds a table with extIP as its pool unless cfg has addresses,
// and a fixed-seed rng.
func newTable(tb testing.TB, cfg Config) *Table {
	tb.Helper()
	if len(cfg.External) == 0 && len(cfg.OneToOne) == 0 {
		cfg.External = []netip.Addr{extIP}
	}
	tab, err := New(cfg, rand.New(rand.NewPCG(1, 0)))
	require.NoError(tb, err)
	return tab
}

// out sends f outbound and requires it to pass.
func out(tb testing.TB, tab *Table, now time.Time, f Flow) Flow {
	tb.Helper()
	got, v := tab.Outbound(now, f)
	require.Equal(tb, Pass, v, "outbound %v", f)
	return got
}
