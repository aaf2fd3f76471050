package tcp

import (
	"context"
	"net"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/vnetsim/vnetsim/sim"
)

// TestNetConn runs the x/net conformance suite for net.Conn over two stacks.
// The suite calls t.Run, which a synctest bubble forbids, so each pipe gets
// a scheduler paced by the real clock: this also checks that paced
// real-time operation works.
func TestNetConn(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		s := sim.New(sim.Config{Seed: 1})
		if err := s.Start(); err != nil {
			return nil, nil, nil, err
		}
		cfg := Config{RecvBuffer: 64 << 10, SendBuffer: 64 << 10}
		w := newWorld(t, s, linkConfig{}, cfg, cfg)
		l := w.listen(t, 80, 0)
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := l.AcceptTCP() // the pion transport.TCPListener method
			if err != nil {
				t.Error(err)
			}
			accepted <- c
		}()
		client, err := w.dial(context.Background(), 80, 1)
		if err != nil {
			s.Stop()
			return nil, nil, nil, err
		}
		server := <-accepted
		stop = func() {
			client.Close()
			server.Close()
			l.Close()
			// Let the closes (and any call that raced with them) fire
			// before the world stops.
			time.Sleep(50 * time.Millisecond)
			w.do(func() {})
			s.Stop()
		}
		return client, server, stop, nil
	})
}
