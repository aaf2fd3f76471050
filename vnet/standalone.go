package vnet

import (
	"sync"

	"github.com/vnetsim/vnetsim/sim"
)

// aloneState counts the UDP sockets a Net opened while attached to no
// router: while there are any, the Net's own world runs its paced loop.
type aloneState struct {
	mu   sync.Mutex
	open int
}

// newAloneWorld is the world of a Net before Router.AddNet: a scheduler of
// its own on the time package's clock (so inside a synctest bubble, the
// bubble's), for loopback traffic only. AddNet replaces it with the tree's.
func newAloneWorld() *world {
	return newWorld(sim.New(sim.Config{}), nil)
}

// aloneWorld gives an unattached Net its own world (newAloneWorld) the first
// time it needs one, when it opens a socket, and keeps it until AddNet
// replaces it. Made at NewNet instead, every Net of a big tree built one
// only to drop it at AddNet: a scheduler, a world and their maps, ~2.5 KB
// of garbage per Net, 25 MB while a 10,000-Net tree is built. An attached
// Net already has the tree's world: nothing is made.
func (n *Net) aloneWorld() {
	n.alone.mu.Lock()
	defer n.alone.mu.Unlock()
	if n.w == nil && n.router == nil {
		n.w = newAloneWorld()
		// The only host of its own world, under the number NewNet gave it
		// (claimHost's choice in an empty world), without writing n.id,
		// which other goroutines may read (Interfaces). AddNet claims anew.
		n.w.hosts[n.id] = n
	}
}

// openAlone counts c as a socket of an unattached Net and starts the Net's
// own paced loop with the first one. On an attached Net it does nothing.
func (n *Net) openAlone(c *UDPConn) {
	n.alone.mu.Lock()
	defer n.alone.mu.Unlock()
	if n.router != nil {
		return
	}
	c.alone = true
	n.alone.open++
	if n.alone.open == 1 {
		_ = n.w.sched.Start() // fails only if it already runs
	}
}

// closeAlone ends what openAlone began for c: the last socket closed stops
// the loop, so an unattached Net leaves no goroutine behind.
func (n *Net) closeAlone(c *UDPConn) {
	if !c.alone {
		return
	}
	n.alone.mu.Lock()
	defer n.alone.mu.Unlock()
	n.alone.open--
	if n.alone.open == 0 {
		n.w.sched.Stop()
	}
}

// aloneOpen reports whether the unattached Net has sockets open.
func (n *Net) aloneOpen() bool {
	n.alone.mu.Lock()
	defer n.alone.mu.Unlock()
	return n.alone.open > 0
}
