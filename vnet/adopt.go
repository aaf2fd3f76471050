package vnet

import (
	"fmt"
	"slices"
	"time"

	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/sim"
)

// A tree has one world. A router made on its own has a world of its own
// (with a scheduler nobody drives, unless it becomes a root); attached
// below another router, its whole subtree joins the parent's world
// (adopt): names made unique there, host numbers taken there, random
// streams drawn from the new world's seed under those names, and the link
// changes made on the subtree before attaching (Set, Down, Partition, ...)
// submitted again to the new scheduler, in the order they were made. So a
// tree built bottom-up (pion's tests attach hosts to a LAN router before
// the LAN to the WAN) behaves as the same tree built top-down.

// linkChange is a link change submitted to a world's scheduler and not
// fired yet.
type linkChange struct {
	at    time.Time
	fn    func()
	moved bool // submitted again to another world (adopt): do nothing here
}

// submitChange runs fn on the scheduler at virtual time at (or the next
// nanosecond) with a link change's key, and remembers it until it fires so
// that adopt can move it. Safe from any goroutine.
func (w *world) submitChange(at time.Time, fn func()) {
	c := &linkChange{at: at, fn: fn}
	w.ctlMu.Lock()
	w.ctlSeq++
	seq := w.ctlSeq
	w.changes[seq] = c
	w.ctlMu.Unlock()
	w.sched.Submit(at, linkChangeKey(seq), sim.HandlerFunc(func(uint64) {
		w.ctlMu.Lock()
		moved := c.moved
		delete(w.changes, seq)
		w.ctlMu.Unlock()
		if !moved {
			c.fn()
		}
	}), 0)
}

// takeChanges removes the world's pending link changes, oldest first, and
// marks them moved.
func (w *world) takeChanges() []*linkChange {
	w.ctlMu.Lock()
	defer w.ctlMu.Unlock()
	seqs := make([]uint64, 0, len(w.changes))
	for seq := range w.changes {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	out := make([]*linkChange, 0, len(seqs))
	for _, seq := range seqs {
		c := w.changes[seq]
		c.moved = true
		out = append(out, c)
		delete(w.changes, seq)
	}
	return out
}

// uniqueName returns name if no router or host of the world has it, else
// name#2, name#3, ...: the first that is free.
func (w *world) uniqueName(name string) string {
	if !w.names[name] {
		return name
	}
	for i := 2; ; i++ {
		if n := fmt.Sprintf("%s#%d", name, i); !w.names[n] {
			return n
		}
	}
}

// claimName takes uniqueName(name) for a router or host of the world.
func (w *world) claimName(name string) string {
	n := w.uniqueName(name)
	w.names[n] = true
	return n
}

// claimHost gives n its host number in the world: the hash of its (unique)
// name, or, if another host has that number, the next free one. It fails
// only when every number is taken.
func (w *world) claimHost(n *Net) error {
	if len(w.hosts) >= maxHost {
		return topoErr("net %s: the tree has %d hosts, the most event keys can tell apart", n.name, maxHost)
	}
	id := hostNumber(n.name)
	for w.hosts[id] != nil {
		id = id%maxHost + 1
	}
	w.hosts[id] = n
	n.id = id
	return nil
}

// claimProvisional returns a provisional socket key no other socket of the
// host has had: h, or the next value in the provisional range if h is
// taken. Two sockets whose requests and first datagrams are the same in
// every way the key sees (pion's server-reflexive gatherers for the stun:
// and turn: URLs of one server) get two keys in the order they first act;
// they are alike in everything the simulator sees, so which is which shows
// only in what the application does with them afterwards.
func (n *Net) claimProvisional(h uint64) uint64 {
	n.provMu.Lock()
	defer n.provMu.Unlock()
	if n.prov == nil {
		n.prov = map[uint64]bool{}
	}
	for n.prov[h] {
		h = keyProvisional | (h+1)&provisionalMax
	}
	n.prov[h] = true
	return h
}

// adopt moves child's subtree (child is the root of its own world) into
// r's world. Routers keep their order, then hosts, then links, as they
// were made in the child's world.
func (r *Router) adopt(child *Router) {
	old, w := child.w, r.w
	if old == w {
		return
	}
	for _, x := range old.routers {
		x.w = w
		x.name = w.claimName(x.name)
		x.log = w.lf.NewLogger("vnet/" + x.name)
		if x.nat != nil && x.nat.Stats() == (nat.Stats{}) {
			// A NAT that has translated nothing yet draws its ports from
			// the new world's seed, like its links: the same tree gets the
			// same ports whatever order it was built in. (New cannot fail
			// on a config it accepted before; if it did, the old table stays.)
			if t, err := nat.New(x.nat.Config(), w.sched.Rand("nat "+x.name)); err == nil {
				x.nat = t
			}
		}
		w.routers = append(w.routers, x)
	}
	for _, n := range old.nets {
		n.beginJoin() // writes read w and id (udp.go: write)
		n.mu.Lock()   // a socket's first deadline reads it under mu (deadline.armLocked)
		n.w = w
		n.mu.Unlock()
		n.name = w.claimName(n.name)
		_ = w.claimHost(n) // the subtree's hosts fit: addRouter checked the count
		n.endJoin()
		w.nets = append(w.nets, n)
	}
	// Link names follow their ends' (maybe new) names.
	for _, x := range old.routers {
		for _, n := range x.nets {
			n.up.name, n.down.name = n.name+"->"+x.name, x.name+"->"+n.name
		}
		for _, c := range x.children {
			c.up.name, c.fromUp.name = c.name+"->"+x.name, x.name+"->"+c.name
		}
	}
	for _, l := range old.links {
		l.w = w
		if l.more != nil && l.more.rng != nil { // else made at first need, from the name it has then
			l.more.rng = w.sched.Rand("link " + l.name)
		}
		w.links = append(w.links, l)
	}
	w.observers = append(w.observers, old.observers...)
	w.captured = w.captured || old.captured
	for _, c := range old.takeChanges() {
		w.submitChange(c.at, c.fn)
	}
	w.adoptPending(old) // adoptpending.go: packets, counters, deadlines
}
