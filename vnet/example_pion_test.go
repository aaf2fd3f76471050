package vnet_test

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
)

// pion's idiom, driven by hand: a 0.0.0.0/0 WAN with a NAT'd
// 192.168.0.0/24 LAN, a chunk filter on the WAN dropping what it refuses,
// and an 8 KiB datagram that crosses as fragments.
func Example_pionIdiom() {
	s := sim.New(sim.Config{Seed: 1})
	wan, _ := vnet.NewRouter(&vnet.RouterConfig{CIDR: "0.0.0.0/0", Scheduler: s})
	lan, _ := vnet.NewRouter(&vnet.RouterConfig{CIDR: "192.168.0.0/24", StaticIPs: []string{"27.1.1.1"}})
	if err := wan.AddRouter(lan); err != nil {
		panic(err)
	}
	server, _ := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"1.2.3.4"}})
	client, _ := vnet.NewNet(&vnet.NetConfig{})
	_ = wan.AddNet(server)
	_ = lan.AddNet(client)
	wan.AddChunkFilter(func(c vnet.Chunk) bool {
		return !strings.HasPrefix(string(c.UserData()), "secret")
	})

	srv, _ := server.ListenPacket("udp4", ":9")
	cli, _ := client.ListenPacket("udp4", ":0")
	to := &net.UDPAddr{IP: net.IPv4(1, 2, 3, 4), Port: 9}
	_, _ = cli.WriteTo([]byte("secret plans"), to)
	_, _ = cli.WriteTo(make([]byte, 8192), to)
	s.RunFor(time.Second)

	_ = srv.SetReadDeadline(s.Now())
	buf := make([]byte, 65536)
	for {
		n, from, err := srv.ReadFrom(buf)
		if err != nil {
			break
		}
		fmt.Printf("%d bytes from %s\n", n, from.(*net.UDPAddr).IP)
	}
	snap := wan.Snapshot()
	fmt.Println("dropped:", snap.Dropped)
	fmt.Println("fragments made:", snap.Fragmented, "taken in:", snap.Reassembled)
	// Output:
	// 8192 bytes from 27.1.1.1
	// dropped: chunk-filter=1
	// fragments made: 10 taken in: 10
}
