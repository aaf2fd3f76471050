// Package scenarios builds the worlds users test NAT traversal in, and runs
// real pion/ice agents across them.
package scenarios

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/stun/v4"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
)

// ICEConfig says which two hosts connect and with which servers.
type ICEConfig struct {
	// A is the controlling agent's host, B the controlled one's.
	A, B *vnet.Net
	// URLs are the STUN/TURN servers both agents use (may be empty).
	URLs []*stun.URI
	// Relay, when set, makes the agents gather relay candidates too
	// (URLs must then include a TURN server).
	Relay bool
	// Timeout bounds the whole attempt in virtual time. Default 60 s,
	// enough for ICE's own failure (disconnected 5 s + failed 25 s after
	// checks stop).
	Timeout time.Duration
	// LoggerFactory is handed to both agents. Nil: errors only.
	LoggerFactory logging.LoggerFactory
	// Signaling is the one-way delay of the in-memory signaling channel
	// that carries candidates between the agents. Default 50 ms.
	Signaling time.Duration
	// NetworkTypes are the candidates' networks. Default UDP over IPv4
	// only; add ice.NetworkTypeUDP6 for dual-stack agents.
	NetworkTypes []ice.NetworkType
}

// Outcome is what a connection attempt did.
type Outcome struct {
	Connected bool
	// Pair is the selected pair as "local-type/remote-type" from A's side,
	// e.g. "host/srflx"; empty if not connected.
	Pair string
	// PairAddrs is the selected pair's addresses from A's side.
	PairAddrs string
	// CandidatesA and CandidatesB are the gathered candidates, sorted.
	CandidatesA, CandidatesB []string
	// VirtualTime is the time from the start to connected (or to failure).
	VirtualTime time.Duration
	// WallTime is the real time the attempt cost (read from the system
	// clock, which a synctest bubble does not fake).
	WallTime time.Duration
	// Sent and Dropped are the world's packet totals at the end (all
	// traffic of the tree, the servers' included).
	Sent, Dropped uint64
	// Echoed reports that a message went A->B and back over the connection.
	Echoed bool
	Err    error
}

func (o Outcome) String() string {
	if !o.Connected {
		return fmt.Sprintf("failed after %v (%v); %d packets sent, %d dropped; wall time %v", o.VirtualTime, o.Err, o.Sent, o.Dropped, o.WallTime.Round(time.Microsecond))
	}
	return fmt.Sprintf("connected %s in %v; %d packets sent, %d dropped; wall time %v", o.Pair, o.VirtualTime, o.Sent, o.Dropped, o.WallTime.Round(time.Microsecond))
}

// ConnectICE runs two pion/ice agents, one on each host, exchanges their
// candidates in memory, connects them and echoes one message. It must run
// where the hosts' scheduler follows the time package: inside
// simtest.Run (virtual time) or a real-time paced world.
func ConnectICE(cfg ICEConfig) (out Outcome) {
	wallStart := wallNow()
	if cfg.A == nil || cfg.B == nil {
		out.Err = fmt.Errorf("%w: ICEConfig needs both hosts, A and B", vnet.ErrConfig)
		return out
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.Signaling == 0 {
		cfg.Signaling = 50 * time.Millisecond
	}
	lf := cfg.LoggerFactory
	if lf == nil {
		lf = logging.NewDefaultLoggerFactory()
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()

	networks := cfg.NetworkTypes
	if len(networks) == 0 {
		networks = []ice.NetworkType{ice.NetworkTypeUDP4}
	}
	types := []ice.CandidateType{ice.CandidateTypeHost, ice.CandidateTypeServerReflexive}
	if cfg.Relay {
		types = append(types, ice.CandidateTypeRelay)
	}
	newAgent := func(n *vnet.Net) (*ice.Agent, error) {
		return ice.NewAgentWithOptions(
			ice.WithUrls(cfg.URLs),
			ice.WithNetworkTypes(networks),
			ice.WithCandidateTypes(types),
			ice.WithNet(n),
			ice.WithMulticastDNSMode(ice.MulticastDNSModeDisabled),
			ice.WithLoggerFactory(lf),
		)
	}
	a, err := newAgent(cfg.A)
	if err != nil {
		out.Err = err
		return out
	}
	defer a.Close() //nolint:errcheck
	b, err := newAgent(cfg.B)
	if err != nil {
		out.Err = err
		return out
	}
	defer b.Close() //nolint:errcheck

	// Trickle candidates to the other side over one signaling channel with
	// a fixed delay (signaling), collecting them for the outcome.
	var mu sync.Mutex
	r := cfg.A.Router()
	if r == nil {
		out.Err = fmt.Errorf("%w: ICEConfig.A is not attached to a router", vnet.ErrConfig)
		return out
	}
	sig := newSignaling(ctx, r.Scheduler(), cfg.Signaling)
	trickle := func(from, to *ice.Agent, dir int, list *[]string) error {
		return from.OnCandidate(func(c ice.Candidate) {
			if c == nil {
				return
			}
			s := fmt.Sprintf("%s %s:%d", c.Type(), c.Address(), c.Port())
			mu.Lock()
			*list = append(*list, s)
			mu.Unlock()
			sig.send(signal{dir: dir, c: c, to: to})
		})
	}
	if err := trickle(a, b, 0, &out.CandidatesA); err != nil {
		out.Err = err
		return out
	}
	if err := trickle(b, a, 1, &out.CandidatesB); err != nil {
		out.Err = err
		return out
	}
	// pion's Dial and Accept do not return when ICE fails: watch the state
	// and give up when either agent reports Failed (its own timeout).
	var failed error
	for _, ag := range []*ice.Agent{a, b} {
		if err := ag.OnConnectionStateChange(func(st ice.ConnectionState) {
			if st == ice.ConnectionStateFailed {
				mu.Lock()
				if failed == nil {
					failed = errors.New("ice: connection failed")
				}
				mu.Unlock()
				cancel()
			}
		}); err != nil {
			out.Err = err
			return out
		}
	}
	aUfrag, aPwd, _ := a.GetLocalUserCredentials()
	bUfrag, bPwd, _ := b.GetLocalUserCredentials()
	// Both agents start at the same instant, as a user's test starts
	// them: the simulator, not a stagger, keeps their goroutines' wake-ups
	// in the seed's order (see the README's "Determinism").
	if err := a.GatherCandidates(); err != nil {
		out.Err = err
		return out
	}
	if err := b.GatherCandidates(); err != nil {
		out.Err = err
		return out
	}

	type result struct {
		conn *ice.Conn
		err  error
	}
	accepted := make(chan result, 1)
	go func() {
		c, err := b.Accept(ctx, aUfrag, aPwd)
		accepted <- result{c, err}
	}()
	ca, errA := a.Dial(ctx, bUfrag, bPwd)
	rb := <-accepted
	cancel() // signals still due are dropped
	out.VirtualTime = time.Since(start)
	defer func() {
		if r := cfg.A.Router(); r != nil {
			snap := r.Snapshot()
			out.Sent, out.Dropped = snap.Sent, snap.Dropped.Total()
		}
		out.WallTime = wallNow().Sub(wallStart)
		mu.Lock()
		sort.Strings(out.CandidatesA)
		sort.Strings(out.CandidatesB)
		mu.Unlock()
	}()
	if errA != nil || rb.err != nil {
		mu.Lock()
		out.Err = failed
		mu.Unlock()
		if out.Err == nil {
			out.Err = errors.Join(errA, rb.err)
		}
		if ca != nil {
			_ = ca.Close()
		}
		if rb.conn != nil {
			_ = rb.conn.Close()
		}
		return out
	}
	out.Connected = true
	if pair, err := a.GetSelectedCandidatePair(); err == nil && pair != nil {
		out.Pair = pair.Local.Type().String() + "/" + pair.Remote.Type().String()
		out.PairAddrs = fmt.Sprintf("%s:%d <-> %s:%d", pair.Local.Address(), pair.Local.Port(), pair.Remote.Address(), pair.Remote.Port())
	}
	out.Echoed = echo(ca, rb.conn)
	_ = ca.Close()
	_ = rb.conn.Close()
	return out
}

// echo sends one message A->B and back, with a deadline in virtual time.
func echo(a, b *ice.Conn) bool {
	done := make(chan bool, 1)
	go func() {
		buf := make([]byte, 64)
		_ = b.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := b.Read(buf)
		if err != nil {
			done <- false
			return
		}
		_, err = b.Write(buf[:n])
		done <- err == nil
	}()
	if _, err := a.Write([]byte("ping")); err != nil {
		<-done
		return false
	}
	_ = a.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	n, err := a.Read(buf)
	ok := <-done
	return ok && err == nil && string(buf[:n]) == "ping"
}

// signal is a candidate on its way to the other agent.
type signal struct {
	dir int // 0: A to B, 1: B to A
	c   ice.Candidate
	to  *ice.Agent
}

// signaling is an in-memory signaling server that runs on the simulator:
// each candidate reaches the other agent a fixed delay after it was sent,
// as a scheduler event. Signals due at one instant are delivered in the
// order of their keys (direction, then the candidate's fields that do not
// change from run to run), not in the order goroutines sent them; and no
// timer of the application's is involved, so a delivery never races an
// agent's own timers or the network's hand-overs at one instant (a
// goroutine that slept until each signal was due did, and two full-cone
// agents with relay candidates then replayed about one run in two).
type signaling struct {
	sched *sim.Scheduler
	ctx   context.Context
	delay time.Duration
}

func newSignaling(ctx context.Context, sched *sim.Scheduler, delay time.Duration) *signaling {
	return &signaling{sched: sched, ctx: ctx, delay: delay}
}

// send queues m for delivery (any goroutine). The delivery runs on the
// scheduler's loop: AddRemoteCandidate only starts a goroutine there.
func (s *signaling) send(m signal) {
	s.sched.SubmitAfter(s.delay, signalKey(m), sim.HandlerFunc(func(uint64) {
		if s.ctx.Err() == nil {
			_ = m.to.AddRemoteCandidate(m.c)
		}
	}), 0)
}

// signalKey orders signals due at one instant: a hash of the direction
// and the candidate's stable fields (not its ufrag, which is random), in
// the Lo of a handler-class key (Hi 0); odd, so never the zero key that
// the simulator's own handler events use.
func signalKey(m signal) sim.Key {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d %s %s %s %d %d", m.dir, m.c.NetworkType(), m.c.Type(), m.c.Address(), m.c.Port(), m.c.Component())
	if r := m.c.RelatedAddress(); r != nil {
		fmt.Fprintf(h, " %s %d", r.Address, r.Port)
	}
	return sim.Key{Lo: h.Sum64() | 1}
}
