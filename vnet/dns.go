package vnet

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// AddHost adds a DNS record (name -> address) that this router's Nets and
// those below it resolve.
func (r *Router) AddHost(name string, ip string) error {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Zone() != "" {
		return configErr("router %q: AddHost(%q): invalid address %q", r.name, name, ip)
	}
	a = a.Unmap() // ::ffff:1.2.3.4 is an A record, as the resolver would treat it
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if name == "" {
		return configErr("router %q: AddHost: empty name", r.name)
	}
	r.w.do(func() { r.hosts[name] = append(r.hosts[name], a) })
	return nil
}

// lookup resolves name from r up to the root.
func (r *Router) lookup(name string) []netip.Addr {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	for x := r; x != nil; x = x.parent {
		if as := x.hosts[name]; len(as) > 0 {
			return as
		}
	}
	return nil
}

// lookupHost resolves a name or literal address to the addresses of the
// families in want: A and AAAA records of the routers' DNS tables (from the
// Net's router up to the root), "localhost", or a literal. The empty host
// is the wildcard.
func (n *Net) lookupHost(host string, want fam) ([]netip.Addr, error) {
	if host == "" {
		return []netip.Addr{want.unspecified()}, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if a.Zone() != "" {
			return nil, &net.AddrError{Err: "vnet: zoned addresses are not supported", Addr: host}
		}
		if famOf(a)&want == 0 && !(a.IsUnspecified() && a.Is6()) {
			// As Go's net: "[::]" stands for any address even for udp4,
			// but "0.0.0.0" is no IPv6 address.
			return nil, familyErr(a, want)
		}
		return []netip.Addr{a}, nil
	}
	var as []netip.Addr
	if host == "localhost" {
		as = []netip.Addr{loopback, loopback6}
	} else if n.router != nil {
		n.w.do(func() { as = n.router.lookup(host) })
	}
	out := make([]netip.Addr, 0, len(as))
	for _, a := range as {
		if famOf(a)&want != 0 {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: ErrNoSuchHost.Error(), Name: host, IsNotFound: true}
	}
	return out, nil
}

func parsePort(s string) (uint16, error) {
	if s == "" { // "host:" means port 0, as in net
		return 0, nil
	}
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("vnet: invalid port %q (numeric ports only)", s)
	}
	return uint16(p), nil
}

// resolve resolves "host:port" for network. Of several addresses it picks
// as Go's Resolve*Addr do: the first IPv4 one, unless the network is
// IPv6-only or the host was written in brackets ("[name]:port").
func (n *Net) resolve(network, address string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return netip.AddrPort{}, err
	}
	p, err := parsePort(port)
	if err != nil {
		return netip.AddrPort{}, err
	}
	as, err := n.lookupHost(host, networkFam(network))
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(pick(as, strings.HasPrefix(address, "[")), p), nil
}

// pick chooses among resolved addresses: the first IPv4 one, or with
// want6 the first IPv6 one; else the first.
func pick(as []netip.Addr, want6 bool) netip.Addr {
	for _, a := range as {
		if a.Is6() == want6 {
			return a
		}
	}
	return as[0]
}

// ResolveUDPAddr resolves "host:port" through the routers' DNS tables (from
// this Net's router up to the root), or parses a literal address. network
// is udp, udp4 or udp6; the records of other families are skipped.
func (n *Net) ResolveUDPAddr(network, address string) (*net.UDPAddr, error) {
	if err := checkNetwork(network, udpNetworks); err != nil {
		return nil, err
	}
	ap, err := n.resolve(network, address)
	if err != nil {
		return nil, err
	}
	return net.UDPAddrFromAddrPort(ap), nil
}

// ResolveIPAddr resolves a host name or literal address (ip, ip4 or ip6).
func (n *Net) ResolveIPAddr(network, address string) (*net.IPAddr, error) {
	if err := checkNetwork(network, ipNetworks); err != nil {
		return nil, err
	}
	as, err := n.lookupHost(address, networkFam(network))
	if err != nil {
		return nil, err
	}
	return &net.IPAddr{IP: pick(as, strings.Contains(address, ":")).AsSlice()}, nil
}

// ResolveTCPAddr resolves "host:port" like ResolveUDPAddr (tcp, tcp4, tcp6).
func (n *Net) ResolveTCPAddr(network, address string) (*net.TCPAddr, error) {
	if err := checkNetwork(network, tcpNetworks); err != nil {
		return nil, err
	}
	ap, err := n.resolve(network, address)
	if err != nil {
		return nil, err
	}
	return net.TCPAddrFromAddrPort(ap), nil
}
