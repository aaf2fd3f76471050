package vnet_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
)

// The chaos test: random topologies and random sequences of operations
// (attach a subtree, unplug and replug links, partitions, link model
// changes, holds, closes, binds, sends, reads, time steps, and in a bubble
// Stop/Start of the paced loop), checking after every operation that the
// packet counters of every world add up (Snapshot.Check) and nothing
// panics; at the end everything is closed and drained and, in a bubble,
// no goroutine is left (synctest.Test fails otherwise).
//
// CHAOS_SEED=N runs one seed; a failure prints that command. CHAOS_SEEDS=N
// runs seeds 1..N instead of the default count (a longer hunt).

const (
	chaosManualSeeds = 60
	chaosManualOps   = 300
	chaosBubbleSeeds = 10
	chaosBubbleOps   = 150
)

func chaosSeeds(t *testing.T, n int) []uint64 {
	if v := os.Getenv("CHAOS_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		require.NoError(t, err, "CHAOS_SEED")
		return []uint64{s}
	}
	if v := os.Getenv("CHAOS_SEEDS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(t, err, "CHAOS_SEEDS")
	}
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = uint64(i + 1)
	}
	return seeds
}

func TestChaosManual(t *testing.T) {
	total, sum := 0, vnet.Snapshot{Dropped: vnet.Drops{}}
	for _, seed := range chaosSeeds(t, chaosManualSeeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			c := newChaos(t, seed, sim.New(sim.Config{Seed: seed}), false)
			total += c.run(chaosManualOps)
			s := c.root.Snapshot()
			sum.Sent += s.Sent
			sum.Delivered += s.Delivered
			for r, n := range s.Dropped {
				sum.Dropped[r] += n
			}
		})
	}
	t.Logf("%d random operations; %d datagrams sent, %d delivered, dropped: %s", total, sum.Sent, sum.Delivered, sum.Dropped)
	if len(chaosSeeds(t, chaosManualSeeds)) > 1 {
		// Not vacuous: traffic flowed and met trouble.
		require.NotZero(t, sum.Delivered)
		require.GreaterOrEqual(t, len(sum.Dropped), 4, "drop reasons seen: %s", sum.Dropped)
	}
}

func TestChaosBubble(t *testing.T) {
	total := 0
	for _, seed := range chaosSeeds(t, chaosBubbleSeeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newChaos(t, seed, sim.New(sim.Config{Seed: seed}), true)
				require.NoError(t, c.root.Start())
				total += c.run(chaosBubbleOps)
			})
		})
	}
	t.Logf("%d random operations", total)
}

type chaos struct {
	t      *testing.T
	seed   uint64
	rng    *rand.Rand
	s      *sim.Scheduler
	paced  bool
	root   *vnet.Router
	routes []*vnet.Router // attached routers
	loose  []*vnet.Router // roots of subtrees built on their own, not attached yet
	nets   []*vnet.Net
	links  []*vnet.Link
	socks  []net.PacketConn
	hostOf map[net.PacketConn]*vnet.Net
	op     string
}

func newChaos(t *testing.T, seed uint64, s *sim.Scheduler, paced bool) *chaos {
	c := &chaos{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 17)), s: s, paced: paced, hostOf: map[net.PacketConn]*vnet.Net{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("reproduce: CHAOS_SEED=%d go test ./vnet -run '^%s$' -v (last operation: %s)", seed, t.Name()[:len(t.Name())-len(fmt.Sprint(seed))-1], c.op)
		}
	})
	root, err := vnet.NewRouter(&vnet.RouterConfig{Name: "wan", CIDR: "1.0.0.0/16", IPv6CIDR: "2001:db8::/32", Scheduler: s})
	require.NoError(t, err)
	c.root = root
	c.routes = append(c.routes, root)
	// A few routers below the root, some with routers below them, and a
	// few subtrees built apart, to be attached later.
	for i := range 2 + c.rng.IntN(4) {
		parent := c.routes[c.rng.IntN(len(c.routes))]
		r := c.newRouter(i, s)
		if err := parent.AddRouter(r); err == nil {
			c.routes = append(c.routes, r)
			c.addLinks(r.Uplink(), r.Downlink())
		}
	}
	for i := range c.rng.IntN(3) {
		var own *sim.Scheduler // nil: a world of its own
		if c.rng.IntN(2) == 0 {
			own = s
		}
		r := c.newRouter(100+i, own)
		c.loose = append(c.loose, r)
		c.addNet(r)
	}
	for range 2 + c.rng.IntN(5) {
		c.addNet(c.routes[c.rng.IntN(len(c.routes))])
	}
	return c
}

func (c *chaos) newRouter(i int, s *sim.Scheduler) *vnet.Router {
	presets := nat.Presets()
	p := presets[c.rng.IntN(len(presets))].Config()
	cfg := vnet.RouterConfig{Name: fmt.Sprintf("r%d", i), CIDR: fmt.Sprintf("10.%d.0.0/24", i), NAT: &p, Scheduler: s}
	if c.rng.IntN(2) == 0 {
		cfg.IPv6CIDR = fmt.Sprintf("2001:db8:%x::/48", i+1)
	}
	r, err := vnet.NewRouter(&cfg)
	require.NoError(c.t, err)
	return r
}

func (c *chaos) addNet(r *vnet.Router) {
	n, err := vnet.NewNet(&vnet.NetConfig{Name: fmt.Sprintf("h%d", len(c.nets)), ReadBuffer: 1 + c.rng.IntN(4000)})
	require.NoError(c.t, err)
	if r.AddNet(n) != nil {
		return
	}
	c.nets = append(c.nets, n)
	c.addLinks(n.Uplink(), n.Downlink())
}

func (c *chaos) addLinks(ls ...*vnet.Link) {
	for _, l := range ls {
		if l != nil {
			c.links = append(c.links, l)
		}
	}
}

// now is the virtual time operations are stamped with.
func (c *chaos) now() time.Time {
	if c.paced {
		return time.Now() // a bubble's clock is the world's
	}
	return c.s.Now()
}

// advance lets d of virtual time pass.
func (c *chaos) advance(d time.Duration) {
	if c.paced {
		if c.s.Running() {
			time.Sleep(d)
		}
		return
	}
	c.s.RunFor(d)
}

// run performs n random operations and returns how many it did.
func (c *chaos) run(n int) int {
	defer func() {
		if p := recover(); p != nil {
			c.t.Fatalf("panic in %s: %v", c.op, p)
		}
	}()
	for i := range n {
		c.step(i)
		c.check()
	}
	c.finish()
	return n
}

func (c *chaos) pickLink() *vnet.Link { return c.links[c.rng.IntN(len(c.links))] }

func (c *chaos) step(i int) {
	r := c.rng
	switch k := r.IntN(20); {
	case k < 5 && len(c.socks) > 0: // send
		sock := c.socks[r.IntN(len(c.socks))]
		dst := c.destination()
		c.op = fmt.Sprintf("#%d send %v -> %v", i, sock.LocalAddr(), dst)
		_, err := sock.WriteTo(make([]byte, r.IntN(1400)), dst)
		c.typed(err)
	case k < 8: // bind
		n := c.nets[r.IntN(len(c.nets))]
		addr := []string{":0", "0.0.0.0:0", "[::]:0", fmt.Sprintf(":%d", 4000+r.IntN(4))}[r.IntN(4)]
		network := []string{"udp", "udp4", "udp6"}[r.IntN(3)]
		c.op = fmt.Sprintf("#%d listen %s %s on %s", i, network, addr, n.Name())
		sock, err := n.ListenPacket(network, addr)
		if err == nil {
			c.socks = append(c.socks, sock)
			c.hostOf[sock] = n
		} else {
			c.typed(err)
		}
	case k < 9 && len(c.socks) > 0: // close
		j := r.IntN(len(c.socks))
		c.op = fmt.Sprintf("#%d close %v", i, c.socks[j].LocalAddr())
		require.NoError(c.t, c.socks[j].Close())
		c.socks = append(c.socks[:j], c.socks[j+1:]...)
	case k < 11 && len(c.socks) > 0: // read what is queued
		sock := c.socks[r.IntN(len(c.socks))]
		c.op = fmt.Sprintf("#%d read %v", i, sock.LocalAddr())
		// A deadline just past in the socket's own world (a subtree built
		// apart has its own clock until it is attached).
		past := c.hostOf[sock].Router().Scheduler().Now().Add(-time.Nanosecond)
		require.NoError(c.t, sock.SetReadDeadline(past))
		buf := make([]byte, 2000)
		for {
			if _, _, err := sock.ReadFrom(buf); err != nil {
				require.ErrorIs(c.t, err, os.ErrDeadlineExceeded)
				break
			}
		}
	case k < 12: // link model change
		l := c.pickLink()
		cfg := impair.Config{Delay: time.Duration(r.IntN(50)) * time.Millisecond, Loss: r.Float64() / 2, Duplicate: r.Float64() / 4}
		if r.IntN(2) == 0 {
			cfg.Jitter, cfg.Reorder = time.Duration(r.IntN(10))*time.Millisecond, r.Float64()/4
		}
		if r.IntN(3) == 0 {
			cfg.Rate, cfg.QueuePackets = int64(1+r.IntN(1000))*impair.Kbps, 1+r.IntN(20)
		}
		c.op = fmt.Sprintf("#%d set %s %+v", i, l.Name(), cfg)
		if err := l.Set(cfg); err != nil { // reordering without a delay is refused
			require.ErrorIs(c.t, err, impair.ErrInvalidConfig, c.op)
		}
	case k < 13: // unplug or replug
		l := c.pickLink()
		c.op = fmt.Sprintf("#%d down/up %s", i, l.Name())
		if r.IntN(2) == 0 {
			require.NoError(c.t, l.Down(c.now(), time.Time{}))
		} else {
			l.Up()
		}
	case k < 14: // hold or release
		l := c.pickLink()
		c.op = fmt.Sprintf("#%d hold/release %s", i, l.Name())
		if r.IntN(2) == 0 {
			l.Hold()
		} else {
			l.Release()
		}
	case k < 15 && len(c.routes) > 1: // partition
		rt := c.routes[1+r.IntN(len(c.routes)-1)]
		c.op = fmt.Sprintf("#%d partition %s", i, rt.Name())
		from := c.now().Add(time.Duration(r.IntN(100)) * time.Millisecond)
		require.NoError(c.t, rt.Partition(from, from.Add(time.Duration(1+r.IntN(2000))*time.Millisecond)))
	case k < 16 && len(c.loose) > 0: // attach a subtree built apart
		j := r.IntN(len(c.loose))
		sub := c.loose[j]
		parent := c.routes[r.IntN(len(c.routes))]
		c.op = fmt.Sprintf("#%d attach %s below %s", i, sub.Name(), parent.Name())
		err := parent.AddRouter(sub)
		if err != nil {
			c.typed(err)
			return
		}
		c.loose = append(c.loose[:j], c.loose[j+1:]...)
		c.routes = append(c.routes, sub)
		c.addLinks(sub.Uplink(), sub.Downlink())
	case k < 17 && c.paced: // stop or start the paced loop
		c.op = fmt.Sprintf("#%d stop/start", i)
		if c.s.Running() {
			require.NoError(c.t, c.root.Stop())
		} else {
			require.NoError(c.t, c.root.Start())
		}
	default: // let time pass
		d := time.Duration(r.IntN(3000)) * time.Millisecond
		if r.IntN(4) == 0 {
			d = time.Duration(r.IntN(40)) * time.Second
		}
		c.op = fmt.Sprintf("#%d advance %v", i, d)
		c.advance(d)
	}
}

// destination is mostly an open socket's address (on its host's address
// of a random family), else a port on some host that may be closed, or an
// address no host has.
func (c *chaos) destination() *net.UDPAddr {
	if len(c.socks) > 0 && c.rng.IntN(3) > 0 {
		sock := c.socks[c.rng.IntN(len(c.socks))]
		ips := c.hostOf[sock].IPs()
		port := sock.LocalAddr().(*net.UDPAddr).Port
		if len(ips) > 0 && port != 0 {
			return &net.UDPAddr{IP: ips[c.rng.IntN(len(ips))].AsSlice(), Port: port}
		}
	}
	n := c.nets[c.rng.IntN(len(c.nets))]
	ips := n.IPs()
	if len(ips) == 0 || c.rng.IntN(10) == 0 {
		return &net.UDPAddr{IP: net.IPv4(1, 0, 0, byte(c.rng.IntN(8))), Port: 4000 + c.rng.IntN(4)}
	}
	return &net.UDPAddr{IP: ips[c.rng.IntN(len(ips))].AsSlice(), Port: 4000 + c.rng.IntN(4)}
}

// typed fails on an error that is not one Go's net or vnet documents.
func (c *chaos) typed(err error) {
	if err == nil {
		return
	}
	var op *net.OpError
	ok := errors.As(err, &op) || errors.Is(err, vnet.ErrTopology) || errors.Is(err, vnet.ErrConfig) ||
		errors.Is(err, vnet.ErrNotAttached)
	require.True(c.t, ok, "%s: untyped error %v", c.op, err)
}

// check asserts that every world's counters add up.
func (c *chaos) check() {
	s := c.root.Snapshot()
	require.NoError(c.t, s.Check(), "%s\n%s", c.op, s)
	for _, r := range c.loose {
		s := r.Snapshot()
		require.NoError(c.t, s.Check(), "%s (subtree %s)\n%s", c.op, r.Name(), s)
	}
}

// finish closes every socket, releases and replugs every link, drains the
// world and checks that nothing is left in flight.
func (c *chaos) finish() {
	c.op = "finish"
	for _, sock := range c.socks {
		require.NoError(c.t, sock.Close())
	}
	for _, l := range c.links {
		l.Release()
		l.Up()
	}
	if c.paced && !c.s.Running() {
		require.NoError(c.t, c.root.Start())
	}
	c.advance(10 * time.Minute)
	s := c.root.Snapshot()
	require.NoError(c.t, s.Check())
	require.Zero(c.t, s.InFlight, "drained\n%s", s)
	if c.paced {
		require.NoError(c.t, c.root.Stop())
	}
}
