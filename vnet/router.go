package vnet

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/logging"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/sim"
)

// DefaultMTU is the MTU of every link unless RouterConfig.MTU says
// otherwise, in bytes of IP datagram (Ethernet's 1500).
const DefaultMTU = 1500

// RouterConfig configures a [Router] ([NewRouter]). The fields pion's vnet users know keep
// their names and meaning.
type RouterConfig struct {
	// Name identifies the router in traces, stats and link names, and
	// names its random streams. Default: "router-" followed by its CIDR,
	// e.g. "router-10.0.0.0/24" (no spaces, so link names such as
	// "router-10.0.0.0/24->wan" stay one word in traces). A name already
	// taken in the tree (by a router or a host) gets a suffix "#2", "#3",
	// ... when the router is attached, in build order: random streams are
	// never shared.
	Name string

	// CIDR is the router's IPv4 subnet, e.g. "10.0.0.0/24". Required unless
	// IPv6CIDR is set (an IPv6-only router).
	CIDR string

	// IPv6CIDR is the router's IPv6 prefix, e.g. "2001:db8:1::/64". With it
	// the router is dual stack (or IPv6-only, without CIDR): each Net
	// attached gets an address from it too, unless NetConfig gives one.
	// IPv6 is routed, never translated: the parent routes a child's prefix
	// to it (as an ISP routes a delegated prefix to a home router), and the
	// child guards it with its Firewall. A child's prefix may lie inside an
	// ancestor's (delegation; the longest prefix wins) but must not overlap
	// any other router's. A child router takes no IPv6 address on its
	// parent's subnet. Optional.
	IPv6CIDR string

	// Firewall configures a child router's stateful IPv6 firewall (RFC
	// 6092: traffic from inside opens a pinhole, unsolicited traffic from
	// outside is dropped). Nil means [nat.FirewallConfig]'s defaults; set
	// Open to let everything in. IPv4 goes through the NAT instead; the
	// root router has neither.
	Firewall *nat.FirewallConfig

	// StaticIPs are the router's addresses on its parent's subnet (its
	// NAT's external addresses). For 1:1 NAT each entry has the form
	// "public/private", mapping a public address on the parent's subnet to
	// a private one on this router's subnet. Default: one address that the
	// parent assigns.
	StaticIPs []string

	// StaticIP is the single-address form of StaticIPs (pion's older field).
	StaticIP string

	// NATType describes the NAT of a child router, in pion's terms. Nil
	// means [nat.PortRestrictedCone]: a port-restricted cone NAT
	// (endpoint-independent mapping, address-and-port-dependent filtering,
	// port preservation), the most common home NAT. A non-nil NATType is
	// taken literally: &NATType{} is a full-cone NAT (see NATType).
	// The root router has no NAT.
	NATType *NATType

	// NAT, when set, configures the NAT directly with the [nat] package's
	// full set of behaviours ([nat.Config], or a [nat.Preset]'s Config); it
	// overrides NATType. Its External addresses
	// are filled from StaticIPs if empty.
	NAT *nat.Config

	// MinDelay and MaxJitter delay every packet this router forwards: each
	// one waits MinDelay plus a uniform random share of MaxJitter. They set
	// the router's outgoing links; [Link.Set] replaces them with any model.
	MinDelay  time.Duration
	MaxJitter time.Duration

	// MTU of the router's links, in bytes. Default [DefaultMTU] (1500).
	MTU int

	// QueueSize is accepted for compatibility with pion's vnet and ignored:
	// queues are a link model here ([impair.Config.QueuePackets]).
	QueueSize int

	// LoggerFactory makes the router's loggers. Nil means the scheduler's.
	LoggerFactory logging.LoggerFactory

	// Scheduler drives the tree. Nil on the root makes a new scheduler on
	// the wall clock, whose paced loop Start runs (pion's real-time
	// behaviour); a child router takes its root's. To drive time by hand,
	// give the root a scheduler and call its [sim.Scheduler.Step] or
	// [sim.Scheduler.RunFor] instead of [Router.Start].
	Scheduler *sim.Scheduler
}

// Router is a virtual router: a subnet of [Net] hosts and child routers, an
// uplink to its parent ([Router.Uplink], a [Link]), and (on a child) between
// the two a NAT for IPv4 ([nat.Table]) and a firewall for IPv6
// ([nat.Firewall]).
type Router struct {
	w       *world
	cfg     RouterConfig
	name    string
	prefix  netip.Prefix // IPv4; invalid on an IPv6-only router
	prefix6 netip.Prefix // IPv6; invalid on an IPv4-only router
	mtu     int
	log     logging.LeveledLogger

	parent    *Router
	children  []*Router
	nets      []*Net
	routes    map[netip.Addr]route // addresses on this subnet, both families
	nextHost  netip.Addr
	nextHost6 netip.Addr
	// delegated routes the IPv6 prefixes of r's descendants: each toward
	// the child whose subtree holds it (longest prefix wins).
	delegated []route6
	// table caches the IPv4 host routes for forward (routetable.go).
	table hostRoutes

	// On a child router: its addresses on the parent's subnet, the NAT,
	// and the links to and from the parent.
	ext      []netip.Addr
	private  []netip.Addr // 1:1 NAT: the private side of each StaticIPs entry
	natCfg   *nat.Config
	nat      *nat.Table
	fwCfg    nat.FirewallConfig
	fw       *nat.Firewall // IPv6 firewall of a child router with an IPv6 prefix at or below it
	up       *Link         // this router -> parent
	fromUp   *Link         // parent -> this router
	expiryAt int64
	expiring bool

	inside, outside iface // for captures: on its subnet, on its parent's

	egress impair.Config // the router's outgoing links' model (MinDelay/MaxJitter)
	hosts  map[string][]netip.Addr
	stats  RouterStats

	// filters are the chunk filters (chunk.go), replaced whole under
	// filterMu and read by the scheduler without a lock.
	filters  atomic.Pointer[[]ChunkFilter]
	filterMu sync.Mutex

	frags reassembler // conntrack defragmentation (fragment.go)
}

// route is where an address on a router's subnet leads.
type route struct {
	link *Link // the router's link toward it
}

// route6 is an IPv6 prefix below a router and the link toward it.
type route6 struct {
	prefix netip.Prefix
	link   *Link
}

// RouterStats counts what a router did.
type RouterStats struct {
	Name      string
	Forwarded uint64
	Dropped   Drops // by reason; only reasons with drops
	drops     [numReasons]uint64
	NAT       *nat.Stats // nil on the root and on IPv6-only routers
	Firewall  *nat.Stats // the IPv6 firewall's; nil on the root and where no IPv6 prefix lies below
}

// NewRouter makes a router. The tree is built with AddRouter and AddNet and
// run with Start on the root (or driven by hand through the root's
// Scheduler).
func NewRouter(config *RouterConfig) (*Router, error) {
	if config == nil {
		return nil, configErr("nil RouterConfig")
	}
	cfg := *config
	var prefix, prefix6 netip.Prefix
	if cfg.CIDR != "" || cfg.IPv6CIDR == "" {
		p, err := netip.ParsePrefix(cfg.CIDR)
		if err != nil {
			return nil, configErr("router %q: invalid CIDR %q: %w", cfg.Name, cfg.CIDR, err)
		}
		if !p.Addr().Is4() {
			return nil, configErr("router %q: CIDR %s is not an IPv4 subnet (IPv6 goes in IPv6CIDR)", cfg.Name, cfg.CIDR)
		}
		if p.Bits() > 30 {
			return nil, configErr("router %q: CIDR %s leaves no room for hosts", cfg.Name, cfg.CIDR)
		}
		prefix = p.Masked()
	}
	if cfg.IPv6CIDR != "" {
		p, err := netip.ParsePrefix(cfg.IPv6CIDR)
		if err != nil {
			return nil, configErr("router %q: invalid IPv6CIDR %q: %w", cfg.Name, cfg.IPv6CIDR, err)
		}
		if !p.Addr().Is6() || p.Addr().Is4In6() {
			return nil, configErr("router %q: IPv6CIDR %s is not an IPv6 prefix", cfg.Name, cfg.IPv6CIDR)
		}
		if p.Bits() > 126 {
			return nil, configErr("router %q: IPv6CIDR %s leaves no room for hosts", cfg.Name, cfg.IPv6CIDR)
		}
		if a := p.Addr(); a.IsLoopback() || a.IsMulticast() || a.IsLinkLocalUnicast() || a.IsUnspecified() {
			return nil, configErr("router %q: IPv6CIDR %s is not a unicast prefix that can be routed", cfg.Name, cfg.IPv6CIDR)
		}
		prefix6 = p.Masked()
	}
	if err := checkSubnets(cfg.Name, prefix, prefix6); err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = "router-" + prefix.String()
		if !prefix.IsValid() {
			cfg.Name = "router-" + prefix6.String()
		}
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.MTU < ipv4Header+udpHeader {
		return nil, configErr("router %q: MTU %d is below the %d bytes of IP and UDP headers", cfg.Name, cfg.MTU, ipv4Header+udpHeader)
	}
	if cfg.MinDelay < 0 || cfg.MaxJitter < 0 {
		return nil, configErr("router %q: negative MinDelay or MaxJitter", cfg.Name)
	}
	if cfg.MTU < ipv6Header+udpHeader && prefix6.IsValid() {
		return nil, configErr("router %q: MTU %d is below the %d bytes of IPv6 and UDP headers", cfg.Name, cfg.MTU, ipv6Header+udpHeader)
	}
	r := &Router{
		cfg:       cfg,
		name:      cfg.Name,
		prefix:    prefix,
		prefix6:   prefix6,
		mtu:       cfg.MTU,
		routes:    map[netip.Addr]route{},
		nextHost:  prefix.Addr().Next(),
		nextHost6: prefix6.Addr().Next(),
		hosts:     map[string][]netip.Addr{},
	}
	if prefix.IsValid() {
		r.table.base = v4(prefix.Addr())
	}
	if cfg.Firewall != nil {
		r.fwCfg = *cfg.Firewall
	}
	if _, err := nat.NewFirewall(r.fwCfg); err != nil {
		return nil, configErr("router %q: firewall: %w", cfg.Name, err)
	}
	r.inside, r.outside = iface{router: r, name: "inside"}, iface{router: r, name: "outside"}
	if cfg.MinDelay > 0 || cfg.MaxJitter > 0 {
		// Uniform jitter of ±MaxJitter/2 around MinDelay+MaxJitter/2:
		// between MinDelay and MinDelay+MaxJitter, as pion's vnet.
		r.egress = impair.Config{Delay: cfg.MinDelay + cfg.MaxJitter/2, Jitter: cfg.MaxJitter / 2, Distribution: impair.Uniform}
		if _, err := impair.NewLink(r.egress); err != nil {
			return nil, configErr("router %q: delay: %w", cfg.Name, err)
		}
	}
	if err := r.parseStaticIPs(); err != nil {
		return nil, err
	}
	if !prefix.IsValid() && (len(r.ext) > 0 || cfg.NATType != nil || cfg.NAT != nil) {
		return nil, configErr("router %q: StaticIPs, NATType and NAT configure IPv4 NAT, but the router has no IPv4 CIDR", cfg.Name)
	}
	if err := r.buildNATConfig(); err != nil {
		return nil, err
	}
	s := cfg.Scheduler
	if s == nil {
		s = sim.New(sim.Config{LoggerFactory: cfg.LoggerFactory})
	}
	r.w = newWorld(s, cfg.LoggerFactory)
	r.w.routers = append(r.w.routers, r)
	r.w.names[r.name] = true
	r.log = r.w.lf.NewLogger("vnet/" + r.name)
	return r, nil
}

func (r *Router) parseStaticIPs() error {
	list := r.cfg.StaticIPs
	if r.cfg.StaticIP != "" {
		list = append([]string{r.cfg.StaticIP}, list...)
	}
	for _, s := range list {
		pub, priv, pair := strings.Cut(s, "/")
		a, err := netip.ParseAddr(pub)
		if err != nil || !a.Is4() {
			return configErr("router %q: invalid static IP %q", r.name, s)
		}
		r.ext = append(r.ext, a)
		if pair {
			p, err := netip.ParseAddr(priv)
			if err != nil || !p.Is4() {
				return configErr("router %q: invalid private address in %q", r.name, s)
			}
			if !r.prefix.Contains(p) {
				return configErr("router %q: private address %s of %q is outside %s", r.name, p, s, r.prefix)
			}
			r.private = append(r.private, p)
		}
	}
	if len(r.private) > 0 && len(r.private) != len(r.ext) {
		return configErr("router %q: 1:1 NAT needs every static IP as \"public/private\"", r.name)
	}
	return nil
}

// Name returns the router's name.
func (r *Router) Name() string { return r.name }

// Prefix returns the router's IPv4 subnet (invalid on an IPv6-only router).
func (r *Router) Prefix() netip.Prefix { return r.prefix }

// Prefix6 returns the router's IPv6 prefix (invalid without IPv6CIDR).
func (r *Router) Prefix6() netip.Prefix { return r.prefix6 }

// ExternalIPs returns the router's addresses on its parent's subnet (empty
// for the root or before the router is attached).
func (r *Router) ExternalIPs() []netip.Addr { return append([]netip.Addr(nil), r.ext...) }

// Scheduler returns the scheduler that drives the router's tree.
func (r *Router) Scheduler() *sim.Scheduler { return r.w.sched }

// Uplink returns the link from this router to its parent (nil on the root).
func (r *Router) Uplink() *Link { return r.up }

// Downlink returns the link from the parent to this router (nil on the root).
func (r *Router) Downlink() *Link { return r.fromUp }

// Partition cuts r (and everything below it) off from its parent for
// virtual times in [from, to): its uplink and its downlink both go down
// (Link.Down), so nothing crosses in either direction and every packet that
// tries is dropped with ReasonPartition on the link it tried. NAT mappings
// are kept and expire on their own timers, as in a real outage. A zero to
// means until r.Uplink().Up() and r.Downlink().Up(). The root, or a router
// not yet attached, has no parent: that is an error wrapping ErrTopology; a
// to that is not after from is an error wrapping ErrConfig.
func (r *Router) Partition(from, to time.Time) error {
	up, down := r.up, r.fromUp
	if up == nil || down == nil {
		return topoErr("router %q has no parent to be partitioned from", r.name)
	}
	if err := up.Down(from, to); err != nil {
		return err
	}
	return down.Down(from, to) // the same window: valid too
}

// Start starts the tree: on the root it runs the scheduler's paced loop
// (unless it already runs). Calling Start on a child router is an error.
func (r *Router) Start() error {
	if r.parent != nil {
		return topoErr("Start router %q: only the root router starts the tree", r.name)
	}
	if r.w.sched.Running() {
		r.w.resume() // its owner restarted the scheduler after our Stop
		return nil
	}
	r.w.startedLoop = true
	if err := r.w.sched.Start(); err != nil {
		return err
	}
	r.w.resume()
	return nil
}

// Stop ends what Start started: the scheduler's paced loop, if Start ran
// it. Packets in flight stay queued (a later Start resumes them). Virtual
// time stops with the loop, but sockets' deadlines do not: on the time
// package's clock they go on in the time package's time, so a read with a
// deadline still times out (as with pion's vnet) until a later Start.
// TCP connections are driven by the loop: a TCP Read or Write after Stop
// waits for the next Start, and Close does not wake a Read blocked then,
// so close TCP connections before Stop.
func (r *Router) Stop() error {
	if r.parent != nil {
		return topoErr("Stop router %q: only the root router stops the tree", r.name)
	}
	if r.w.startedLoop {
		r.w.startedLoop = false
		r.w.sched.Stop()
		r.w.halt()
	}
	return nil
}

// Stats returns the router's counters.
func (r *Router) Stats() RouterStats {
	var s RouterStats
	r.w.do(func() { s = r.snapshot() })
	return s
}

func (r *Router) snapshot() RouterStats {
	s := r.stats
	s.Name = r.name
	s.Dropped = Drops{}
	for i, n := range r.stats.drops {
		if n > 0 {
			s.Dropped[Reason(i)] = n
		}
	}
	if r.nat != nil {
		ns := r.nat.Stats()
		s.NAT = &ns
	}
	if r.fw != nil {
		fs := r.fw.Stats()
		s.Firewall = &fs
	}
	return s
}

// Observe registers fn to see every packet event of the tree, on the
// scheduler's goroutine. While the paced loop runs, registration happens on
// the scheduler (Observe waits for it), so fn sees every event after that
// instant; do not call it from an observer or handler then.
//
// A nil fn is ignored.
func (r *Router) Observe(fn func(Record)) {
	if fn == nil {
		return
	}
	r.w.do(func() { r.w.observers = append(r.w.observers, fn) })
}

func (r *Router) String() string {
	switch {
	case !r.prefix6.IsValid():
		return fmt.Sprintf("router %q (%s)", r.name, r.prefix)
	case !r.prefix.IsValid():
		return fmt.Sprintf("router %q (%s)", r.name, r.prefix6)
	}
	return fmt.Sprintf("router %q (%s, %s)", r.name, r.prefix, r.prefix6)
}
