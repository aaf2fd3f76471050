package vnet_test

import (
	"fmt"
	"net"
	"time"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
)

// The smallest world: a WAN router with an endpoint on it, driven by
// hand on virtual time. A second endpoint sends it a datagram; RunFor moves
// virtual time past the link delay and the datagram is there to read.
func Example() {
	s := sim.New(sim.Config{Seed: 1})
	wan, err := vnet.NewRouter(&vnet.RouterConfig{
		CIDR:      "1.2.3.0/24",
		MinDelay:  10 * time.Millisecond,
		Scheduler: s,
	})
	if err != nil {
		panic(err)
	}
	server, _ := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"1.2.3.4"}})
	client, _ := vnet.NewNet(&vnet.NetConfig{})
	if err := wan.AddNet(server); err != nil {
		panic(err)
	}
	if err := wan.AddNet(client); err != nil {
		panic(err)
	}

	conn, _ := server.ListenPacket("udp4", "1.2.3.4:5000")
	peer, _ := client.ListenPacket("udp4", "0.0.0.0:0")
	to, _ := client.ResolveUDPAddr("udp4", "1.2.3.4:5000")
	if _, err := peer.WriteTo([]byte("hello"), to); err != nil {
		panic(err)
	}

	s.RunFor(time.Second) // 2 hops of 10 ms: the datagram has arrived
	buf := make([]byte, 1500)
	n, from, _ := conn.ReadFrom(buf)
	fmt.Printf("%s from %s\n", buf[:n], from)
	fmt.Println("client address:", client.IP())
	// Output:
	// hello from 1.2.3.1:32768
	// client address: 1.2.3.1
}

// Typed errors name the problem.
func ExampleNewRouter_invalidCIDR() {
	_, err := vnet.NewRouter(&vnet.RouterConfig{Name: "lan", CIDR: "10.0.0.0/33"})
	fmt.Println(err)
	// Output:
	// vnet: bad configuration: router "lan": invalid CIDR "10.0.0.0/33": netip.ParsePrefix("10.0.0.0/33"): prefix length out of range
}

// A dual-stack home behind a router: IPv4 leaves through the NAT, IPv6
// keeps the host's own address, and the firewall lets back in only what
// the host asked for.
func Example_dualStack() {
	s := sim.New(sim.Config{Seed: 1})
	wan, _ := vnet.NewRouter(&vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", IPv6CIDR: "2001:db8::/64", Scheduler: s})
	home, _ := vnet.NewRouter(&vnet.RouterConfig{Name: "home", CIDR: "10.0.0.0/24", IPv6CIDR: "2001:db8:1::/64"})
	if err := wan.AddRouter(home); err != nil {
		panic(err)
	}
	server, _ := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"1.2.3.4", "2001:db8::4"}})
	laptop, _ := vnet.NewNet(&vnet.NetConfig{Name: "laptop"})
	_ = wan.AddNet(server)
	_ = home.AddNet(laptop)
	fmt.Println("laptop:", laptop.IPs())

	srv, _ := server.ListenPacket("udp", ":7") // dual stack: [::]:7
	cli, _ := laptop.ListenPacket("udp", ":0")
	for _, to := range []string{"1.2.3.4:7", "[2001:db8::4]:7"} {
		addr, _ := laptop.ResolveUDPAddr("udp", to)
		_, _ = cli.WriteTo([]byte("hi"), addr)
	}
	s.RunFor(time.Second)
	buf := make([]byte, 100)
	for range 2 {
		_, from, _ := srv.ReadFrom(buf)
		fmt.Println("server got a datagram from", from)
	}

	// Unsolicited: the server writes to a port the laptop never used.
	_, _ = srv.WriteTo([]byte("knock"), &net.UDPAddr{IP: laptop.IP6().AsSlice(), Port: 22})
	s.RunFor(time.Second)
	fmt.Println("dropped:", wan.Snapshot().Dropped)
	// Output:
	// laptop: [10.0.0.1 2001:db8:1::1]
	// server got a datagram from 1.2.3.1:32768
	// server got a datagram from [2001:db8:1::1]:32768
	// dropped: firewall-unsolicited=1
}
