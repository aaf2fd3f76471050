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
