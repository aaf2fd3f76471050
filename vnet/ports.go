package vnet

import (
	"fmt"
	"net/netip"
	"slices"
	"syscall"
)

// portIndex lists a Net's bound UDP sockets by port, so that a bind checks
// a port for conflicts in time proportional to the sockets on that port,
// not to all of them, and an ephemeral port search at saturation costs one
// pass over the range instead of one per socket.
//
// Most hosts bind a socket or two, and a map costs some hundreds of bytes
// even for one entry (with the address map it replaced, ~1 KB per host,
// a twentieth of a 10,000-Net world's live heap). So the sockets are a
// short slice sorted by port while there are at most fewSocks of them,
// and a map of such slices by port beyond.
type portIndex struct {
	few    []boundSock            // every bound socket, by port, then bind order (byPort nil)
	byPort map[uint16][]boundSock // the sockets on each port, in bind order (few nil)
	// ephemeral counts the ports of the ephemeral range that have at least
	// one socket: while it is below the range's size a free port exists.
	ephemeral int
}

// boundSock is a socket and the address it is bound to.
type boundSock struct {
	ap netip.AddrPort
	c  *UDPConn
}

// fewSocks is how many bound sockets a Net keeps in a slice (portIndex).
const fewSocks = 8

func isEphemeral(port uint16) bool { return port >= ephemeralMin && port <= ephemeralMax }

// span returns where the sockets on port are (or would be) in few.
func (x *portIndex) span(port uint16) (i, j int) {
	for i < len(x.few) && x.few[i].ap.Port() < port {
		i++
	}
	for j = i; j < len(x.few) && x.few[j].ap.Port() == port; j++ {
	}
	return i, j
}

// on returns the sockets bound on port, in bind order; the caller must
// not modify them.
func (x *portIndex) on(port uint16) []boundSock {
	if x.byPort != nil {
		return x.byPort[port]
	}
	i, j := x.span(port)
	return x.few[i:j:j]
}

// lookup returns the socket bound to exactly ap, or nil.
func (x *portIndex) lookup(ap netip.AddrPort) *UDPConn {
	for _, b := range x.on(ap.Port()) {
		if b.ap == ap {
			return b.c
		}
	}
	return nil
}

// each calls f for every bound socket.
func (x *portIndex) each(f func(boundSock)) {
	for _, b := range x.few {
		f(b)
	}
	for _, bs := range x.byPort {
		for _, b := range bs {
			f(b)
		}
	}
}

func (x *portIndex) add(ap netip.AddrPort, c *UDPConn) {
	port := ap.Port()
	if isEphemeral(port) && len(x.on(port)) == 0 {
		x.ephemeral++
	}
	if x.byPort == nil && len(x.few) == fewSocks {
		x.byPort = make(map[uint16][]boundSock, fewSocks+1)
		for _, b := range x.few {
			x.byPort[b.ap.Port()] = append(x.byPort[b.ap.Port()], b)
		}
		x.few = nil
	}
	if x.byPort != nil {
		x.byPort[port] = append(x.byPort[port], boundSock{ap, c})
		return
	}
	_, j := x.span(port)
	x.few = slices.Insert(x.few, j, boundSock{ap, c})
}

// remove forgets c's binding to ap; it reports whether there was one.
func (x *portIndex) remove(ap netip.AddrPort, c *UDPConn) bool {
	port := ap.Port()
	bs := x.on(port)
	k := slices.Index(bs, boundSock{ap, c})
	if k < 0 {
		return false
	}
	if x.byPort == nil {
		i, _ := x.span(port)
		x.few = slices.Delete(x.few, i+k, i+k+1)
	} else if len(bs) > 1 {
		x.byPort[port] = slices.Delete(bs, k, k+1)
	} else {
		delete(x.byPort, port)
	}
	if isEphemeral(port) && len(x.on(port)) == 0 {
		x.ephemeral--
	}
	return true
}

// addSockLocked records c as bound to ap (and so socketFor's cache as
// stale).
func (n *Net) addSockLocked(ap netip.AddrPort, c *UDPConn) {
	n.ports.add(ap, c)
	n.stale.Store(true)
}

// removeSockLocked forgets c's binding to ap, if it has it.
func (n *Net) removeSockLocked(ap netip.AddrPort, c *UDPConn) {
	if n.ports.remove(ap, c) {
		n.stale.Store(true)
	}
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
