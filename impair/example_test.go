package impair_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/vnetsim/vnetsim/impair"
)

// A 10 Mb/s bottleneck with 20 ms of propagation delay: a burst of four
// 1,250-byte packets (1 ms each on the wire) queues up, and the fourth finds
// the three-packet queue full.
func Example() {
	link, err := impair.NewLink(impair.Config{
		Delay:        20 * time.Millisecond,
		Rate:         10 * impair.Mbps,
		QueuePackets: 3,
	})
	if err != nil {
		panic(err)
	}
	start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 0)) // this configuration draws nothing, but a router always passes its stream
	for i := range 4 {
		f := link.Transmit(start, &impair.Packet{Size: 1250}, rng)
		if f.Drop != impair.None {
			fmt.Printf("packet %d: dropped (%v)\n", i, f.Drop)
			continue
		}
		fmt.Printf("packet %d: arrives at +%v after queueing %v\n", i, f.At[0].Sub(start), f.Queued)
	}
	s := link.Stats()
	fmt.Printf("sent %d, passed %d, queue drops %d\n", s.Sent, s.Passed, s.QueueDrops)
	// Output:
	// packet 0: arrives at +21ms after queueing 0s
	// packet 1: arrives at +22ms after queueing 1ms
	// packet 2: arrives at +23ms after queueing 2ms
	// packet 3: dropped (queue)
	// sent 4, passed 3, queue drops 1
}

// Rules filter packets by address, protocol or content. Here STUN requests to
// one server are dropped and everything else to that host is delayed.
func ExampleRuleFunc() {
	server := netip.MustParseAddr("192.0.2.10")
	rules := []impair.RuleFunc{
		func(_ time.Time, p *impair.Packet) impair.Action {
			if p.Dst.Addr() == server && p.Dst.Port() == 3478 {
				return impair.Drop
			}
			return impair.Pass
		},
		func(_ time.Time, p *impair.Packet) impair.Action {
			if p.Dst.Addr() == server {
				return impair.Delay(100 * time.Millisecond)
			}
			return impair.Pass
		},
	}
	link, err := impair.NewLink(impair.Config{Delay: 5 * time.Millisecond, Rules: rules})
	if err != nil {
		panic(err)
	}
	start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, dst := range []string{"192.0.2.10:3478", "192.0.2.10:443", "198.51.100.7:3478"} {
		f := link.Transmit(start, &impair.Packet{Size: 100, Dst: netip.MustParseAddrPort(dst), Proto: 17}, nil)
		if f.Drop != impair.None {
			fmt.Printf("%s: %v\n", dst, f.Drop)
		} else {
			fmt.Printf("%s: +%v\n", dst, f.At[0].Sub(start))
		}
	}
	// Output:
	// 192.0.2.10:3478: rule
	// 192.0.2.10:443: +105ms
	// 198.51.100.7:3478: +5ms
}

// Holding a link stalls it: the caller keeps the held packets and, after
// Release, hands them back through Resume in the order it got them.
func ExampleLink_Hold() {
	link, err := impair.NewLink(impair.Config{Delay: 10 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	link.Hold()
	var held []*impair.Packet
	for i := range 3 {
		p := &impair.Packet{Data: []byte{byte('a' + i)}}
		if f := link.Transmit(start.Add(time.Duration(i)*time.Millisecond), p, nil); f.Held {
			held = append(held, p)
		}
	}
	release := start.Add(time.Second)
	link.Release()
	for _, p := range held {
		f := link.Resume(release, p, nil)
		fmt.Printf("%s arrives at +%v\n", p.Data, f.At[0].Sub(start))
	}
	fmt.Println("held:", link.Stats().Held)
	// Output:
	// a arrives at +1.01s
	// b arrives at +1.01s
	// c arrives at +1.01s
	// held: 3
}

// Partition windows take the link down at fixed virtual times.
func ExampleWindow() {
	start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	link, err := impair.NewLink(impair.Config{Partitions: []impair.Window{
		{From: start.Add(2 * time.Second), To: start.Add(5 * time.Second)},
	}})
	if err != nil {
		panic(err)
	}
	for s := range 7 {
		f := link.Transmit(start.Add(time.Duration(s)*time.Second), &impair.Packet{}, nil)
		fmt.Printf("t=%ds: delivered=%v %v\n", s, f.Delivered(), f.Drop)
	}
	// Output:
	// t=0s: delivered=true none
	// t=1s: delivered=true none
	// t=2s: delivered=false partition
	// t=3s: delivered=false partition
	// t=4s: delivered=false partition
	// t=5s: delivered=true none
	// t=6s: delivered=true none
}

// Invalid configurations are rejected with an error naming the field.
func ExampleNewLink_invalid() {
	_, err := impair.NewLink(impair.Config{Loss: 1.5})
	fmt.Println(err)
	var ce *impair.ConfigError
	fmt.Println(errors.Is(err, impair.ErrInvalidConfig), errors.As(err, &ce) && ce.Field == "Loss")
	// Output:
	// impair: Config.Loss = 1.5: probability must be in [0, 1]
	// true true
}

// With P = R = 1 the Gilbert-Elliott model flips state after every packet,
// and with every packet lost in the bad state it loses every other one: a
// case whose outcome does not depend on the random draws.
func ExampleGilbertElliott() {
	link, err := impair.NewLink(impair.Config{
		GilbertElliott: impair.GilbertElliott{P: 1, R: 1, LossBad: 1},
	})
	if err != nil {
		panic(err)
	}
	start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(7, 0))
	for i := range 6 {
		fmt.Print(link.Transmit(start.Add(time.Duration(i)), &impair.Packet{}, rng).Drop, " ")
	}
	fmt.Println()
	// Output:
	// none loss none loss none loss
}
