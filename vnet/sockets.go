package vnet

import (
	"net"
	"net/netip"
	"syscall"
)

// udpAddrPort converts a *net.UDPAddr: nil or without an IP is the
// wildcard, and IPv4-mapped addresses become IPv4.
func udpAddrPort(a *net.UDPAddr) netip.AddrPort {
	if a == nil {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	ap := a.AddrPort()
	// A scope zone means nothing on the simulated links; Linux ignores it
	// for addresses that are not link-local too.
	addr := ap.Addr().Unmap().WithZone("")
	if !addr.IsValid() {
		addr = netip.IPv4Unspecified()
	}
	return netip.AddrPortFrom(addr, ap.Port())
}

// sockFam decides the family of a socket that network opens on local
// (maybe the wildcard of either family) toward remote (invalid when only
// listening), as Go's net does on Linux, and returns local with its
// wildcard in that family's form.
func (n *Net) sockFam(network string, local, remote netip.AddrPort) (fam, netip.AddrPort, error) {
	want := networkFam(network)
	ip := local.Addr()
	var f fam
	switch {
	case !ip.IsUnspecified():
		f = famOf(ip)
	case remote.IsValid():
		f = famOf(remote.Addr())
	case want != famDual:
		f = want
	default:
		f = famDual // Go: a "udp" wildcard listener is an IPv6 socket taking IPv4 too
	}
	if f&want == 0 {
		if !ip.IsUnspecified() {
			return 0, local, familyErr(ip, want)
		}
		return 0, local, familyErr(remote.Addr(), want)
	}
	if remote.IsValid() && famOf(remote.Addr())&f == 0 {
		return 0, local, familyErr(remote.Addr(), f)
	}
	if ip.IsUnspecified() {
		local = netip.AddrPortFrom(f.unspecified(), local.Port())
	}
	return f, local, nil
}

// listen creates a socket bound to local (port 0: an ephemeral port, fixed
// later; see UDPConn), connected to remote if valid.
func (n *Net) listen(network string, local, remote netip.AddrPort) (*UDPConn, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "listen", Net: network, Addr: net.UDPAddrFromAddrPort(local), Err: err}
	}
	if remote.IsValid() {
		remote = n.toSelf(remote)
	}
	f, local, err := n.sockFam(network, local, remote)
	if err != nil {
		return nil, opErr(err)
	}
	if ip := local.Addr(); !ip.IsUnspecified() && !n.hasIP(ip) {
		return nil, opErr(ErrAddressNotAvailable)
	}
	if remote.IsValid() && local.Addr().IsUnspecified() {
		// connect(2) fixes the source address the route to the peer gives.
		if src := n.srcFor(remote.Addr()); src.IsValid() && n.hasIP(src) {
			local = netip.AddrPortFrom(src, local.Port())
		}
	}
	n.aloneWorld()
	c := newUDPConn(n, local, remote, f)
	n.mu.Lock()
	n.remember(c)
	if local.Port() != 0 {
		err = n.bindLocked(c, local)
	} else if !n.canBindEphemeralLocked(local.Addr(), f) {
		err = noFreePort(local.Addr(), syscall.EADDRINUSE) // as bind(2) to port 0
	}
	if err != nil {
		n.unlinkOpenLocked(c)
	}
	n.mu.Unlock()
	if err != nil {
		return nil, opErr(err)
	}
	n.openAlone(c)
	return c, nil
}

// bindLocked binds c to local, checking for conflicts like the kernel.
func (n *Net) bindLocked(c *UDPConn, local netip.AddrPort) error {
	if n.conflictLocked(local, c.fam) {
		return inUse(local)
	}
	n.addSockLocked(local, c)
	c.setLocal(local)
	return nil
}

// conflictLocked reports whether a socket of families f may not bind
// local, as Linux decides without SO_REUSEADDR: on one port, two sockets
// clash if their families meet and either is a wildcard or both have the
// same address. So 0.0.0.0:p clashes with 10.0.0.2:p and with a
// dual-stack [::]:p, but not with an IPv6-only [::]:p.
func (n *Net) conflictLocked(local netip.AddrPort, f fam) bool {
	port := local.Port()
	if local.Addr().IsUnspecified() {
		for _, b := range n.ports.on(port) {
			if b.c.fam&f != 0 {
				return true
			}
		}
		return false
	}
	if n.ports.lookup(local) != nil {
		return true
	}
	return n.wildcardLocked(port, f) != nil
}

// wildcardLocked returns the wildcard socket on port that takes family f.
func (n *Net) wildcardLocked(port uint16, f fam) *UDPConn {
	if f == fam4 {
		if c := n.ports.lookup(netip.AddrPortFrom(netip.IPv4Unspecified(), port)); c != nil {
			return c
		}
	}
	if c := n.ports.lookup(netip.AddrPortFrom(netip.IPv6Unspecified(), port)); c != nil && c.fam&f != 0 {
		return c
	}
	return nil
}

// bindEphemeral gives c an ephemeral port if it has none yet (handler
// context, so the order of assignments follows the events' keys). It
// reports false when c is closed or no port is free.
func (n *Net) bindEphemeral(c *UDPConn) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c.localPort() != 0 {
		return true
	}
	if c.isClosed() {
		return false
	}
	port, ok := n.freeEphemeralLocked(c.reqIP, c.fam, true)
	if !ok {
		return false
	}
	ap := netip.AddrPortFrom(c.reqIP, port)
	n.addSockLocked(ap, c)
	c.setLocal(ap)
	return true
}

func (n *Net) unbind(c *UDPConn, local netip.AddrPort) {
	n.mu.Lock()
	n.removeSockLocked(local, c)
	n.mu.Unlock()
}

// socketFor finds the socket a datagram to dst goes to: one bound to its
// address, else a wildcard that takes its family.
func (n *Net) socketFor(dst netip.AddrPort) *UDPConn {
	if n.lastSock != nil && dst.Port() == n.lastPort && dst.Addr() == n.lastIP && !n.stale.Load() {
		return n.lastSock // a flow's next datagram: no lock, no map
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	c := n.ports.lookup(dst)
	if c == nil {
		c = n.wildcardLocked(dst.Port(), famOf(dst.Addr()))
	}
	n.lastIP, n.lastPort, n.lastSock = dst.Addr(), dst.Port(), c
	n.stale.Store(false) // under mu: no bind came between the lookup and here
	return c
}

// srcFor picks the source address for a socket bound to the wildcard: the
// loopback address toward a loopback destination, else eth0's first
// address of the destination's family (invalid if it has none).
func (n *Net) srcFor(dst netip.Addr) netip.Addr {
	if dst.IsLoopback() {
		return loopbackOf(dst)
	}
	for _, a := range n.ips {
		if a.Is4() == dst.Is4() {
			return a
		}
	}
	return netip.Addr{}
}
