package vnet

import (
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/pion/transport/v5"
)

// AddAddress adds addr's IP to the interface ifName (pion's
// Net.AddAddress). Only eth0 takes addresses (lo0 has 127.0.0.1 and ::1,
// fixed). On an attached Net the address must lie in the router's subnet
// of its family and be free; the router routes it to the Net from the
// next event on. Before Router.AddNet it joins the static addresses the
// Net will have (pion's order of use: either works). The mask is ignored:
// eth0's prefix is the router's.
//
// Like AddNet, it changes the host's configuration: do not call it while
// another goroutine uses the same Net.
func (n *Net) AddAddress(ifName string, addr *net.IPNet) error {
	if addr == nil {
		return configErr("net %s: AddAddress(%q, nil)", n.name, ifName)
	}
	a, err := n.ifaceAddr(ifName, addr.IP)
	if err != nil {
		return err
	}
	if a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || a.IsLinkLocalUnicast() {
		return configErr("net %s: %s is not a unicast address for eth0", n.name, a)
	}
	if n.router == nil {
		if slices.Contains(n.static, a) {
			return fmt.Errorf("%w: %s on net %s", ErrAddressInUse, a, n.name)
		}
		n.static = append(n.static, a)
		return nil
	}
	r := n.router
	r.w.do(func() { err = r.addAddress(n, a) })
	return err
}

// RemoveAddress removes ip from the interface ifName (pion's
// Net.RemoveAddress): the router stops routing it to the Net. Sockets
// bound to it stay open, as on Linux, and receive nothing more. The same
// rule on concurrency as AddAddress applies.
func (n *Net) RemoveAddress(ifName string, ip net.IP) error {
	a, err := n.ifaceAddr(ifName, ip)
	if err != nil {
		return err
	}
	if n.router == nil {
		i := slices.Index(n.static, a)
		if i < 0 {
			return fmt.Errorf("%w: %s on net %s", ErrAddressNotAvailable, a, n.name)
		}
		n.static = slices.Delete(n.static, i, i+1)
		return nil
	}
	r := n.router
	r.w.do(func() { err = r.removeAddress(n, a) })
	return err
}

// ifaceAddr checks the interface name and converts ip.
func (n *Net) ifaceAddr(ifName string, ip net.IP) (netip.Addr, error) {
	switch ifName {
	case "eth0":
	case "lo0":
		return netip.Addr{}, configErr("net %s: lo0's addresses are fixed", n.name)
	default:
		return netip.Addr{}, fmt.Errorf("%w: %q", transport.ErrInterfaceNotFound, ifName)
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}, configErr("net %s: invalid IP %v", n.name, ip)
	}
	return a.Unmap(), nil
}

// addAddress gives the attached Net n the address a (scheduler context or
// before the tree runs).
func (r *Router) addAddress(n *Net, a netip.Addr) error {
	p := r.prefix
	if a.Is6() {
		p = r.prefix6
	}
	switch {
	case !p.IsValid():
		return topoErr("net %s: %s: router %q has no %s subnet", n.name, a, r.name, family(a))
	case !p.Contains(a):
		return topoErr("net %s: %s is outside router %q's subnet %s", n.name, a, r.name, p)
	}
	if _, used := r.routes[a]; used {
		return fmt.Errorf("%w: %s on router %q", ErrAddressInUse, a, r.name)
	}
	if l, _ := r.route6(a); l != nil && a.Is6() {
		return topoErr("net %s: %s lies in a prefix delegated to a child router of %q", n.name, a, r.name)
	}
	ips := slices.Clone(n.ips)
	i := len(ips)
	if a.Is4() { // IPv4 first, as AddNet orders them
		i = slices.IndexFunc(ips, netip.Addr.Is6)
		if i < 0 {
			i = len(ips)
		}
	}
	n.setIPs(slices.Insert(ips, i, a))
	r.routes[a] = route{link: n.down}
	return nil
}

// removeAddress takes a from the attached Net n.
func (r *Router) removeAddress(n *Net, a netip.Addr) error {
	i := slices.Index(n.ips, a)
	if i < 0 {
		return fmt.Errorf("%w: %s on net %s", ErrAddressNotAvailable, a, n.name)
	}
	n.setIPs(slices.Delete(slices.Clone(n.ips), i, i+1))
	if rt, ok := r.routes[a]; ok && rt.link == n.down {
		delete(r.routes, a)
	}
	r.forgetRoute(a)
	return nil
}
