package vnettest_test

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
	"github.com/vnetsim/vnetsim/vnet/vnettest"
)

func TestNATDefaults(t *testing.T) {
	w := vnettest.NewNAT(t, sim.New(sim.Config{Seed: 1}), vnettest.NATConfig{})
	assert.Equal(t, "wan", w.WAN.Name())
	assert.Equal(t, "lan", w.LAN.Name())
	assert.Equal(t, netip.MustParsePrefix("1.2.3.0/24"), w.WAN.Prefix())
	assert.Equal(t, netip.MustParsePrefix("192.168.0.0/24"), w.LAN.Prefix())
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("1.2.3.100")}, w.LAN.ExternalIPs())
	assert.Equal(t, netip.MustParseAddr("1.2.3.4"), w.Server.IP())
	assert.Equal(t, netip.MustParseAddr("192.168.0.1"), w.Host.IP())
	assert.Equal(t, "1.2.3.4", w.Server.Name(), "vnet names a host by its first address")
	assert.Equal(t, "192.168.0.1", w.Host.Name())
}

func TestNATConfigured(t *testing.T) {
	w := vnettest.NewNAT(t, sim.New(sim.Config{Seed: 1}), vnettest.NATConfig{
		WAN:    vnet.RouterConfig{Name: "internet", CIDR: "5.6.7.0/24"},
		LAN:    vnet.RouterConfig{CIDR: "10.0.0.0/24", StaticIPs: []string{"5.6.7.8"}},
		Server: vnet.NetConfig{Name: "server", StaticIPs: []string{"5.6.7.1"}},
		Host:   vnet.NetConfig{Name: "host", StaticIPs: []string{"10.0.0.9"}},
	})
	assert.Equal(t, "server", w.Server.Name())
	assert.Equal(t, "host", w.Host.Name())
	assert.Equal(t, "internet", w.WAN.Name())
	assert.Equal(t, netip.MustParseAddr("5.6.7.1"), w.Server.IP())
	assert.Equal(t, netip.MustParseAddr("10.0.0.9"), w.Host.IP())
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("5.6.7.8")}, w.LAN.ExternalIPs())
}

// WAN hosts join the WAN between the server and the host, in order; a
// non-nil empty LAN StaticIPs leaves the LAN's outside address to the WAN.
func TestNATWANHostsAndAssignedOutside(t *testing.T) {
	w := vnettest.NewNAT(t, sim.New(sim.Config{Seed: 1}), vnettest.NATConfig{
		LAN:      vnet.RouterConfig{StaticIPs: []string{}},
		WANHosts: []vnet.NetConfig{{Name: "stranger", StaticIPs: []string{"1.2.3.5"}}, {Name: "peer"}},
	})
	require.Len(t, w.WANHosts, 2)
	assert.Equal(t, "stranger", w.WANHosts[0].Name())
	assert.Equal(t, netip.MustParseAddr("1.2.3.5"), w.WANHosts[0].IP())
	assert.Equal(t, "peer", w.WANHosts[1].Name())
	assert.True(t, w.WAN.Prefix().Contains(w.WANHosts[1].IP()), "the WAN assigns the peer's address")
	require.Len(t, w.LAN.ExternalIPs(), 1)
	ext := w.LAN.ExternalIPs()[0]
	assert.True(t, w.WAN.Prefix().Contains(ext), "the WAN assigns the LAN's outside address")
	assert.NotEqual(t, netip.MustParseAddr("1.2.3.100"), ext, "not the default static outside address")
}

// Through the NAT and back, in manual mode: Queued returns what arrived,
// with the NAT's outside address as the server sees it, and nothing when
// the queue is empty.
func TestQueuedThroughNAT(t *testing.T) {
	s := sim.New(sim.Config{Seed: 1})
	w := vnettest.NewNAT(t, s, vnettest.NATConfig{})
	srv := vnettest.Listen(t, w.Server, "udp4", "1.2.3.4:7")
	cli := vnettest.Listen(t, w.Host, "udp4", "0.0.0.0:5000")
	assert.Empty(t, vnettest.Queued(t, srv))

	for i := range 3 {
		vnettest.Send(t, cli, "1.2.3.4:7", fmt.Appendf(nil, "ping %d", i))
	}
	s.RunFor(time.Second)
	got := vnettest.Queued(t, srv)
	require.Len(t, got, 3)
	for i, d := range got {
		assert.Equal(t, fmt.Sprintf("ping %d", i), string(d.Payload))
		assert.Equal(t, netip.MustParseAddrPort("1.2.3.100:5000"), d.From)
	}
	vnettest.Send(t, srv, "1.2.3.100:5000", []byte("pong"))
	s.RunFor(time.Second)
	assert.Equal(t, []vnettest.Datagram{{Payload: []byte("pong"), From: netip.MustParseAddrPort("1.2.3.4:7")}},
		vnettest.Queued(t, cli))
	assert.Empty(t, vnettest.Queued(t, cli), "the queue is empty after a read")
}

// Bad input fails the test with a message that names it.
func TestErrorsNameTheProblem(t *testing.T) {
	cases := []struct {
		name string
		fn   func(tb testing.TB)
		want string
	}{
		{"bad CIDR", func(tb testing.TB) { vnettest.Router(tb, vnet.RouterConfig{Name: "x", CIDR: "nope"}) }, `router "x"`},
		{"bad address", func(tb testing.TB) {
			w := vnettest.NewNAT(tb, sim.New(sim.Config{}), vnettest.NATConfig{})
			vnettest.Send(tb, vnettest.Listen(tb, w.Host, "udp4", ":0"), "1.2.3.4", nil)
		}, `send to "1.2.3.4"`},
		{"address in use", func(tb testing.TB) {
			w := vnettest.NewNAT(tb, sim.New(sim.Config{}), vnettest.NATConfig{})
			vnettest.Listen(tb, w.Host, "udp4", ":9")
			vnettest.Listen(tb, w.Host, "udp4", ":9")
		}, "listen udp4 :9 on 192.168.0.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			done := make(chan struct{})
			go func() { // Fatal ends the goroutine it runs on, as t.Fatal does
				defer close(done)
				tc.fn(rec)
			}()
			<-done
			require.True(t, rec.failed, "the test was failed")
			assert.Contains(t, rec.msg, tc.want)
		})
	}
}

// recorder is a testing.TB whose Fatalf records the failure and ends the
// calling goroutine instead of failing the real test.
type recorder struct {
	testing.TB
	failed bool
	msg    string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
