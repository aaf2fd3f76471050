package tcp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"syscall"
	"time"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet/tcp"
)

// Two hosts joined by a 5 ms link, an echo server on one and a client on
// the other. The scheduler is paced by the real clock here; inside a
// testing/synctest bubble (sim/simtest.Run) the same code runs in virtual
// time and takes no wall time.
func Example() {
	s := sim.New(sim.Config{Seed: 1})
	var a, b *tcp.Stack
	// The network: every segment reaches the other host 5 ms later.
	link := func(dst **tcp.Stack) func(tcp.Segment) {
		return func(seg tcp.Segment) {
			s.Schedule(s.Now().Add(5*time.Millisecond), sim.HandlerFunc(func(uint64) { (*dst).Deliver(seg) }), 0)
		}
	}
	a, _ = tcp.NewStack(s, tcp.Config{}, link(&b), s.Rand("host-a"))
	b, _ = tcp.NewStack(s, tcp.Config{}, link(&a), s.Rand("host-b"))

	// Listen runs in handler context, or here, before the scheduler runs.
	l, err := b.Listen(netip.MustParseAddrPort("10.0.0.2:7"), 0, sim.Key{Hi: 2})
	if err != nil {
		panic(err)
	}
	if err := s.Start(); err != nil {
		panic(err)
	}
	defer s.Stop()

	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		_, _ = io.Copy(c, c) // echo until the client's FIN
		c.Close()
	}()

	c, err := a.Dial(context.Background(), netip.MustParseAddrPort("10.0.0.1:0"),
		netip.MustParseAddrPort("10.0.0.2:7"), sim.Key{Hi: 1})
	if err != nil {
		panic(err)
	}
	fmt.Println("connected to", c.RemoteAddr())
	_, _ = c.Write([]byte("hello over simulated TCP"))
	_ = c.CloseWrite()
	reply, _ := io.ReadAll(c)
	fmt.Printf("echo: %s\n", reply)
	<-done
	c.Close()

	_, err = a.Dial(context.Background(), netip.MustParseAddrPort("10.0.0.1:0"),
		netip.MustParseAddrPort("10.0.0.2:8"), sim.Key{Hi: 1, Lo: 1 << 32})
	fmt.Println("port 8 refused:", errors.Is(err, syscall.ECONNREFUSED))
	// Output:
	// connected to 10.0.0.2:7
	// echo: hello over simulated TCP
	// port 8 refused: true
}
