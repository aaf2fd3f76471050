package vnet

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/pion/transport/v5"
)

// hasIP reports whether a is one of the Net's addresses, loopback
// included (::1 on every host, as on Linux with IPv6 enabled).
func (n *Net) hasIP(a netip.Addr) bool {
	if a.IsLoopback() {
		return true
	}
	for _, x := range n.ips {
		if x == a {
			return true
		}
	}
	return false
}

// ipIndex is a small stable number for a local address, used in event keys.
func (n *Net) ipIndex(a netip.Addr) uint64 {
	if !a.IsValid() || a.IsUnspecified() {
		return 0
	}
	if a.IsLoopback() {
		return 255
	}
	for i, x := range n.ips {
		if x == a {
			return uint64(i + 1)
		}
	}
	return 254
}

// Interfaces lists lo0 and eth0 with their addresses: IPv4 ones with
// their router's subnet mask, IPv6 ones with its prefix length, and ::1 on
// lo0.
func (n *Net) Interfaces() ([]*transport.Interface, error) {
	lo := transport.NewInterface(net.Interface{Index: 1, MTU: 65536, Name: "lo0", Flags: net.FlagUp | net.FlagLoopback | net.FlagRunning})
	lo.AddAddress(&net.IPNet{IP: net.IPv4(127, 0, 0, 1), Mask: net.CIDRMask(8, 32)})
	lo.AddAddress(&net.IPNet{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)})
	mtu := DefaultMTU
	if n.router != nil {
		mtu = n.router.mtu
	}
	eth := transport.NewInterface(net.Interface{Index: 2, MTU: mtu, Name: "eth0", HardwareAddr: n.mac(), Flags: net.FlagUp | net.FlagRunning | net.FlagBroadcast | net.FlagMulticast})
	for _, a := range n.ips {
		if a.Is4() {
			eth.AddAddress(&net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(n.router.prefix.Bits(), 32)})
		} else {
			eth.AddAddress(&net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(n.router.prefix6.Bits(), 128)})
		}
	}
	return []*transport.Interface{lo, eth}, nil
}

// mac is a locally administered MAC address derived from the host number.
func (n *Net) mac() net.HardwareAddr {
	return net.HardwareAddr{0x02, 0x00, byte(n.id >> 24), byte(n.id >> 16), byte(n.id >> 8), byte(n.id)}
}

// InterfaceByIndex returns lo0 (1) or eth0 (2).
func (n *Net) InterfaceByIndex(index int) (*transport.Interface, error) {
	ifs, _ := n.Interfaces()
	for _, i := range ifs {
		if i.Index == index {
			return i, nil
		}
	}
	return nil, fmt.Errorf("%w: index %d", transport.ErrInterfaceNotFound, index)
}

// InterfaceByName returns lo0 or eth0.
func (n *Net) InterfaceByName(name string) (*transport.Interface, error) {
	ifs, _ := n.Interfaces()
	for _, i := range ifs {
		if i.Name == name {
			return i, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", transport.ErrInterfaceNotFound, name)
}
