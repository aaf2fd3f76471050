package vnet

import (
	"fmt"
	"net/netip"
	"syscall"
)

// portIndex lists a Net's bound UDP sockets by port, so that a bind checks
// a port for conflicts in time proportional to the sockets on that port,
// not to all of them, and an ephemeral port search at saturation costs one
// pass over the range instead of one per socket.
type portIndex struct {
	byPort map[uint16][]*UDPConn
	// ephemeral counts the ports of the ephemeral range that have at least
	// one socket: while it is below the range's size a free port exists.
	ephemeral int
}

func isEphemeral(port uint16) bool { return port >= ephemeralMin && port <= ephemeralMax }

func (x *portIndex) add(port uint16, c *UDPConn) {
	if x.byPort == nil {
		x.byPort = map[uint16][]*UDPConn{}
	}
	cs := x.byPort[port]
	if len(cs) == 0 && isEphemeral(port) {
		x.ephemeral++
	}
	x.byPort[port] = append(cs, c)
}

func (x *portIndex) remove(port uint16, c *UDPConn) {
	cs := x.byPort[port]
	for i, y := range cs {
		if y == c {
			cs = append(cs[:i], cs[i+1:]...)
			break
		}
	}
	if len(cs) > 0 {
		x.byPort[port] = cs
		return
	}
	delete(x.byPort, port)
	if isEphemeral(port) {
		x.ephemeral--
	}
}

// addSockLocked records c as bound to ap.
func (n *Net) addSockLocked(ap netip.AddrPort, c *UDPConn) {
	n.socks[ap] = c
	n.ports.add(ap.Port(), c)
	n.sockGen.Add(1)
}

// removeSockLocked forgets c's binding to ap, if it has it.
func (n *Net) removeSockLocked(ap netip.AddrPort, c *UDPConn) {
	if n.socks[ap] != c {
		return
	}
	delete(n.socks, ap)
	n.ports.remove(ap.Port(), c)
	n.sockGen.Add(1)
}

// freeEphemeralLocked finds the next ephemeral port, from nextPort on, that
// a socket of families f may bind on ip; commit moves nextPort past it.
func (n *Net) freeEphemeralLocked(ip netip.Addr, f fam, commit bool) (uint16, bool) {
	port := n.nextPort
	for range ephemeralMax - ephemeralMin + 1 {
		p := port
		if port++; port > ephemeralMax {
			port = ephemeralMin
		}
		if !n.conflictLocked(netip.AddrPortFrom(ip, p), f) {
			if commit {
				n.nextPort = port
			}
			return p, true
		}
	}
	return 0, false
}

// canBindEphemeralLocked reports whether a socket of families f could get
// an ephemeral port on ip now: at once while some port of the range is
// unused, else by searching.
func (n *Net) canBindEphemeralLocked(ip netip.Addr, f fam) bool {
	if n.ports.ephemeral < ephemeralMax-ephemeralMin+1 {
		return true
	}
	_, ok := n.freeEphemeralLocked(ip, f, false)
	return ok
}

// noFreePort is the error of a call that needed an ephemeral port when
// none is left: errno is what Linux gives for that call.
func noFreePort(ip netip.Addr, errno syscall.Errno) error {
	return fmt.Errorf("%w on %s: %w", ErrNoFreePort, ip, errno)
}

// canBindEphemeral reports whether the unbound c could get a port now.
func (n *Net) canBindEphemeral(c *UDPConn) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return c.localPort() != 0 || n.canBindEphemeralLocked(c.reqIP, c.fam)
}

// toSelf turns a destination on the unspecified address (0.0.0.0:p, [::]:p)
// into the host's own loopback address of that family (IPv4's on a host
// without IPv6, which has no [::]): Linux routes such a send, or
// connect(2), to the local host, and Go's net documents the same for a
// dial with an empty host (":p").
func (n *Net) toSelf(dst netip.AddrPort) netip.AddrPort {
	a := dst.Addr()
	switch {
	case !a.IsUnspecified():
		return dst
	case a.Is6() && n.has(fam6):
		return netip.AddrPortFrom(loopback6, dst.Port())
	}
	return netip.AddrPortFrom(loopback, dst.Port())
}
