package vnet_test

import (
	"net"
	"testing"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
	"github.com/vnetsim/vnetsim/vnet/vnettest"
)

// wanPair is a WAN router with two hosts, driven by s.
func wanPair(t *testing.T, s *sim.Scheduler) (*vnet.Router, *vnet.Net, *vnet.Net) {
	t.Helper()
	wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s})
	return wan, vnettest.Host(t, wan, "1.2.3.4"), vnettest.Host(t, wan, "1.2.3.5")
}

// echo answers every datagram on c with the same bytes, on its own
// goroutine, until c is closed; the returned channel is closed when it ends.
func echo(c net.PacketConn) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = c.WriteTo(buf[:n], from)
		}
	}()
	return done
}
