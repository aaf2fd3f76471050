package iceserver_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5/vnet"
	"github.com/vnetsim/vnetsim/scenarios/iceserver"
)

// natted builds a pion vnet with a server Net owning 1.2.3.4 and 1.2.3.5
// on the WAN, and a client Net behind a NAT whose public IP is 1.2.3.100.
func natted(nat *vnet.NATType) (wan *vnet.Router, server, client *vnet.Net) {
	logs := logging.NewDefaultLoggerFactory()
	wan, _ = vnet.NewRouter(&vnet.RouterConfig{CIDR: "1.2.3.0/24", LoggerFactory: logs})
	server, _ = vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"1.2.3.4", "1.2.3.5"}})
	_ = wan.AddNet(server)
	lan, _ := vnet.NewRouter(&vnet.RouterConfig{
		CIDR: "10.0.0.0/24", StaticIPs: []string{"1.2.3.100"}, NATType: nat, LoggerFactory: logs,
	})
	_ = wan.AddRouter(lan)
	client, _ = vnet.NewNet(&vnet.NetConfig{})
	_ = lan.AddNet(client)
	_ = wan.Start()

	return wan, server, client
}

// A STUN server on pion's virtual network tells a host behind a NAT its
// public address.
func ExampleStartSTUN() {
	wan, server, client := natted(nil)
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

	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
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
	fmt.Println("answer from", from)
	fmt.Println("mapped address", mapped)
	// Output:
	// answer from 1.2.3.4:3478
	// mapped address 1.2.3.100:49152
}

// Discover classifies the NAT in front of a host: here a "symmetric" one.
func ExampleDiscover() {
	wan, server, client := natted(&vnet.NATType{
		MappingBehavior:   vnet.EndpointAddrPortDependent,
		FilteringBehavior: vnet.EndpointAddrPortDependent,
	})
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
		iceserver.DiscoverOptions{Timeout: 150 * time.Millisecond, Attempts: 3})
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

// Host puts STUN and TURN behind one name and returns pion/ice's URLs.
func ExampleHost() {
	wan, server, _ := natted(nil)
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

	for _, u := range h.URLs {
		if u.Username != "" {
			fmt.Printf("%s (user %s, password %s)\n", u, u.Username, u.Password)
		} else {
			fmt.Println(u)
		}
	}
	// Output:
	// stun:ice.example.net:3478
	// turn:ice.example.net:3478?transport=udp (user alice, password secret)
}
