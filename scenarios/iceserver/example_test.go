package iceserver_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/pion/stun/v4"

	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/scenarios/iceserver"
	"github.com/vnetsim/vnetsim/vnet"
)

// natted builds a vnetsim network with a server Net owning 1.2.3.4 and
// 1.2.3.5 on the WAN, and a client Net behind a NAT (cfg) whose public IP is
// 1.2.3.100. The root router has no Scheduler, so Start runs it on the wall
// clock, as pion's vnet runs; tests run the same code in simtest.Run, on
// virtual time.
func natted(cfg nat.Config) (wan *vnet.Router, server, client *vnet.Net) {
	wan, _ = vnet.NewRouter(&vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24"})
	server, _ = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"1.2.3.4", "1.2.3.5"}})
	_ = wan.AddNet(server)
	lan, _ := vnet.NewRouter(&vnet.RouterConfig{Name: "lan", CIDR: "10.0.0.0/24", StaticIPs: []string{"1.2.3.100"}, NAT: &cfg})
	_ = wan.AddRouter(lan)
	client, _ = vnet.NewNet(&vnet.NetConfig{})
	_ = lan.AddNet(client)
	_ = wan.Start()

	return wan, server, client
}

// A STUN server on the virtual network tells a host behind a NAT its
// public address.
func ExampleStartSTUN() {
	wan, server, client := natted(nat.PortRestrictedCone.Config())
	defer wan.Stop()

	srv, err := iceserver.StartSTUN(iceserver.STUNConfig{
		Net:     server,
		Address: netip.MustParseAddrPort("1.2.3.4:3478"),
	})
	if err != nil {
		fmt.Println(err)

		return
	}
	defer srv.Close()

	conn, _ := client.ListenPacket("udp4", "0.0.0.0:0")
	defer conn.Close()
	req := stun.MustBuild(stun.BindingRequest, stun.TransactionID)
	_, _ = conn.WriteTo(req.Raw, net.UDPAddrFromAddrPort(srv.Addr()))

	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	n, from, err := conn.ReadFrom(buf)
	if err != nil {
		fmt.Println(err)

		return
	}
	resp := &stun.Message{Raw: buf[:n]}
	var mapped stun.XORMappedAddress
	if err := resp.Decode(); err != nil {
		fmt.Println(err)

		return
	}
	if err := mapped.GetFrom(resp); err != nil {
		fmt.Println(err)

		return
	}
	fmt.Println("sent from", conn.LocalAddr())
	fmt.Println("answer from", from)
	fmt.Println("mapped address", mapped)
	// Output:
	// sent from 0.0.0.0:32768
	// answer from 1.2.3.4:3478
	// mapped address 1.2.3.100:32768
}

// Discover classifies the NAT in front of a host: here a symmetric one.
// On the wall clock each request the NAT filters away costs
// Attempts x Timeout of real waiting, so the example keeps them short; in
// simtest.Run the defaults cost nothing.
func ExampleDiscover() {
	wan, server, client := natted(nat.Symmetric.Config())
	defer wan.Stop()

	srv, err := iceserver.StartSTUN(iceserver.STUNConfig{
		Net:          server,
		Address:      netip.MustParseAddrPort("1.2.3.4:3478"),
		OtherAddress: netip.MustParseAddrPort("1.2.3.5:3479"),
	})
	if err != nil {
		fmt.Println(err)

		return
	}
	defer srv.Close()

	res, err := iceserver.Discover(context.Background(), client, net.UDPAddrFromAddrPort(srv.Addr()),
		iceserver.DiscoverOptions{Timeout: 100 * time.Millisecond, Attempts: 2})
	if err != nil {
		fmt.Println(err)

		return
	}
	fmt.Println("NAT:", res.NAT)
	fmt.Println("mapping:", res.Mapping)
	fmt.Println("filtering:", res.Filtering)
	// Output:
	// NAT: true
	// mapping: address-and-port-dependent
	// filtering: address-and-port-dependent
}

// HostOn puts STUN and TURN servers on a router under DNS names and returns
// pion/ice's URLs; every Net below the router resolves the names.
func ExampleHostOn() {
	wan, _, client := natted(nat.PortRestrictedCone.Config())
	defer wan.Stop()

	h, err := iceserver.HostOn(wan, iceserver.HostConfig{
		Hostname:     "turn.example.net",
		STUNHostname: "stun.example.net",
		TURN: iceserver.TURNConfig{
			Address: netip.MustParseAddrPort("1.2.3.20:3478"),
			Users:   map[string]string{"alice": "secret"},
		},
		STUN: iceserver.STUNConfig{
			Address:      netip.MustParseAddrPort("1.2.3.21:3478"),
			OtherAddress: netip.MustParseAddrPort("1.2.3.22:3479"),
		},
	})
	if err != nil {
		fmt.Println(err)

		return
	}
	defer h.Close()

	for _, u := range h.URLs {
		addr, _ := client.ResolveUDPAddr("udp4", fmt.Sprintf("%s:%d", u.Host, u.Port))
		if u.Username != "" {
			fmt.Printf("%s (user %s, password %s) is %s\n", u, u.Username, u.Password, addr)
		} else {
			fmt.Printf("%s is %s\n", u, addr)
		}
	}
	fmt.Println("server host:", h.Net.IPs())
	// Output:
	// stun:stun.example.net:3478 is 1.2.3.21:3478
	// turn:turn.example.net:3478?transport=udp (user alice, password secret) is 1.2.3.20:3478
	// server host: [1.2.3.20 1.2.3.21 1.2.3.22]
}

// Host starts the servers on a Net the caller brings (any transport.Net):
// here the TURN server answers the stun: URL too.
func ExampleHost() {
	wan, server, _ := natted(nat.PortRestrictedCone.Config())
	defer wan.Stop()

	h, err := iceserver.Host(iceserver.HostConfig{
		Hostname: "ice.example.net",
		TURN: iceserver.TURNConfig{
			Net:     server,
			Address: netip.MustParseAddrPort("1.2.3.4:3478"),
			Users:   map[string]string{"alice": "secret"},
		},
	})
	if err != nil {
		fmt.Println(err)

		return
	}
	defer h.Close()
	_ = wan.AddHost("ice.example.net", "1.2.3.4")

	for _, u := range h.URLs {
		fmt.Println(u)
	}
	// Output:
	// stun:ice.example.net:3478
	// turn:ice.example.net:3478?transport=udp
}
