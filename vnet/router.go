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

// RouterConfig configures a Router. The fields pion's vnet users know keep
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
	// outside is dropped). Nil means nat.FirewallConfig's defaults; set
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
	// means nat.PortRestrictedCone: a port-restricted cone NAT
	// (endpoint-independent mapping, address-and-port-dependent filtering,
	// port preservation), the most common home NAT. A non-nil NATType is
	// taken literally: &NATType{} is a full-cone NAT (see NATType).
	// The root router has no NAT.
	NATType *NATType

	// NAT, when set, configures the NAT directly with the nat package's
	// full set of behaviours; it overrides NATType. Its External addresses
	// are filled from StaticIPs if empty.
	NAT *nat.Config

	// MinDelay and MaxJitter delay every packet this router forwards: each
	// one waits MinDelay plus a uniform random share of MaxJitter. They set
	// the router's outgoing links; Link.Set replaces them with any model.
	MinDelay  time.Duration
	MaxJitter time.Duration

	// MTU of the router's links, in bytes. Default DefaultMTU (1500).
	MTU int

	// QueueSize is accepted for compatibility with pion's vnet and ignored:
	// queues are a link model here (impair.Config.QueuePackets).
	QueueSize int

	// LoggerFactory makes the router's loggers. Nil means the scheduler's.
	LoggerFactory logging.LoggerFactory

	// Scheduler drives the tree. Nil on the root makes a new scheduler on
	// the wall clock, whose paced loop Start runs (pion's real-time
	// behaviour); a child router takes its root's. To drive time by hand,
	// give the root a scheduler and call its Step/RunFor instead of Start.
	Scheduler *sim.Scheduler
}

// Router is a virtual router: a subnet of Nets and child routers, an uplink
// to its parent, and (on a child) between the two a NAT for IPv4 and a
// firewall for IPv6.
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
	// lastDst and lastLink cache forward's last host route: a flow's next
	// packet skips the map. Routes are only ever added, and an address is
	// never given twice, so a found route stays right.
	lastDst  netip.Addr
	lastLink *Link

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
	owned := s == nil
	if owned {
		s = sim.New(sim.Config{LoggerFactory: cfg.LoggerFactory})
	}
	r.w = newWorld(s, owned, cfg.LoggerFactory)
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

// AddRouter attaches child below r: the child takes address(es) on r's
// subnet and its NAT starts translating. A router can have one parent, and
// the tree can have no loops.
//
// While the scheduler runs, the change is made on the scheduler's goroutine
// (AddRouter waits for it), so trees can be built inside simtest.Run.
func (r *Router) AddRouter(child *Router) error {
	var err error
	r.w.read(func() { err = r.addRouter(child) })
	return err
}

func (r *Router) addRouter(child *Router) error {
	if child == nil {
		return topoErr("router %q: AddRouter(nil)", r.name)
	}
	if child.parent != nil {
		return topoErr("router %q already has a parent (%q)", child.name, child.parent.name)
	}
	if child.isAncestorOf(r) {
		return topoErr("adding router %q below %q would make a loop", child.name, r.name)
	}
	if child.w != r.w && (child.w.startedLoop || child.w.sched != r.w.sched && child.w.sched.Running()) {
		// Its loop would run on, unstoppable (Stop is for roots).
		return topoErr("router %q: %w: Stop it before adding it below %q", child.name, ErrStarted, r.name)
	}
	if cs := child.cfg.Scheduler; cs != nil && cs != r.w.sched {
		return topoErr("router %q was given another scheduler than its parent %q's", child.name, r.name)
	}
	// Every IPv4 child sits behind its NAT, which hides its inside: its
	// subnet may overlap its parent's or a sibling's (pion's WAN is
	// 0.0.0.0/0 with 192.168.0.0/24 children). Inside the child, its own
	// subnet wins; the parent only ever routes to the child's external
	// addresses. IPv6 is routed, not translated: checkPrefixes6 refuses
	// overlaps there.
	if child.w != r.w && len(r.w.hosts)+len(child.w.nets) > maxHost {
		return topoErr("router %q: the tree would have more than %d hosts, the most event keys can tell apart", child.name, maxHost)
	}
	prefixes6 := child.subtree6()
	if err := r.checkPrefixes6(child, prefixes6); err != nil {
		return err
	}
	var ext []netip.Addr
	var table *nat.Table
	if child.prefix.IsValid() {
		if !r.prefix.IsValid() {
			return topoErr("router %q has an IPv4 subnet, but its parent %q has none for its NAT's address", child.name, r.name)
		}
		ext = child.ext
		if len(ext) == 0 {
			a, err := r.assign()
			if err != nil {
				return err
			}
			ext = []netip.Addr{a}
		}
		for _, a := range ext {
			if !r.prefix.Contains(a) {
				return topoErr("router %q: static IP %s is outside its parent %q's subnet %s", child.name, a, r.name, r.prefix)
			}
			if _, used := r.routes[a]; used {
				return topoErr("router %q: address %s is already in use on %q", child.name, a, r.name)
			}
		}
		cfg := *child.natCfg
		if len(cfg.OneToOne) == 0 {
			cfg.External = append([]netip.Addr(nil), ext...)
		}
		var err error
		if table, err = nat.New(cfg, r.w.sched.Rand("nat "+r.w.uniqueName(child.name))); err != nil {
			return configErr("router %q: NAT: %w", child.name, err)
		}
	}
	var fw *nat.Firewall
	if len(prefixes6) > 0 {
		var err error
		if fw, err = nat.NewFirewall(child.fwCfg); err != nil {
			return configErr("router %q: firewall: %w", child.name, err)
		}
	}

	// Commit: adopt the child's subtree into r's world.
	r.adopt(child)
	child.parent = r
	child.ext = ext
	child.nat = table
	child.fw = fw
	r.children = append(r.children, child)
	child.up = newLink(r.w, child.name+"->"+r.name, r, min(child.mtu, r.mtu))
	child.fromUp = newLink(r.w, r.name+"->"+child.name, child, min(child.mtu, r.mtu))
	child.up.out, child.up.in = &child.outside, &r.inside
	child.fromUp.out, child.fromUp.in = &r.inside, &child.outside
	if err := child.up.set(child.egress); err != nil {
		return err
	}
	if err := child.fromUp.set(r.egress); err != nil {
		return err
	}
	for _, a := range ext {
		r.routes[a] = route{link: child.fromUp}
	}
	// r and each of its ancestors route the subtree's IPv6 prefixes toward
	// the child on their own level; those below the root guard them with
	// a firewall from now on, if they had none.
	for x, toward := r, child; x != nil && len(prefixes6) > 0; x, toward = x.parent, x {
		for _, p := range prefixes6 {
			x.delegated = append(x.delegated, route6{prefix: p, link: toward.fromUp})
		}
		if x.parent != nil && x.fw == nil {
			x.fw, _ = nat.NewFirewall(x.fwCfg) // cannot fail: NewRouter checked fwCfg
		}
	}
	return nil
}

// subtree6 lists the IPv6 prefixes of r and its descendants.
func (r *Router) subtree6() []netip.Prefix {
	var ps []netip.Prefix
	if r.prefix6.IsValid() {
		ps = append(ps, r.prefix6)
	}
	for _, d := range r.delegated {
		ps = append(ps, d.prefix)
	}
	return ps
}

// checkPrefixes6 checks that the IPv6 prefixes of child's subtree fit r's
// tree: disjoint from every other router's prefix, except that one may lie
// inside the prefix of r or an ancestor of r (a delegated prefix), as long
// as no address already in use there falls inside it.
func (r *Router) checkPrefixes6(child *Router, ps []netip.Prefix) error {
	for _, p := range ps {
		for _, q := range r.w.routers {
			if !q.prefix6.IsValid() || !p.Overlaps(q.prefix6) {
				continue
			}
			if !q.isAncestorOf(r) || q.prefix6.Bits() >= p.Bits() {
				return topoErr("router %q: IPv6 prefix %s overlaps router %q's %s", child.name, p, q.name, q.prefix6)
			}
			var held netip.Addr // the lowest, so the error is the same every run
			for a := range q.routes {
				if p.Contains(a) && (!held.IsValid() || a.Less(held)) {
					held = a
				}
			}
			if held.IsValid() {
				return topoErr("router %q: IPv6 prefix %s holds address %s, already in use on %q", child.name, p, held, q.name)
			}
		}
	}
	return nil
}

// isAncestorOf reports whether r is x or above x.
func (r *Router) isAncestorOf(x *Router) bool {
	for ; x != nil; x = x.parent {
		if x == r {
			return true
		}
	}
	return false
}

// AddChildRouter is AddRouter (pion's other name for it).
func (r *Router) AddChildRouter(child *Router) error { return r.AddRouter(child) }

// AddNet attaches a Net to r's subnet: its eth0 gets NetConfig's static
// addresses, or the next free one of each family r has (in build order,
// so the same topology gets the same addresses). nic is the *Net itself
// or pion's filters wrapping it (see NIC).
func (r *Router) AddNet(nic NIC) error {
	var err error
	r.w.read(func() { err = r.addNIC(nic) })
	return err
}

func (r *Router) addNet(n *Net) error {
	if n == nil {
		return topoErr("router %q: AddNet(nil)", r.name)
	}
	if n.router != nil {
		return topoErr("net %s is already attached to router %q", n.name, n.router.name)
	}
	if n.aloneOpen() {
		return topoErr("net %s has sockets open from before it was attached; close them first", n.name)
	}
	if len(r.w.hosts) >= maxHost {
		return topoErr("router %q: the tree has %d hosts, the most event keys can tell apart", r.name, maxHost)
	}
	// Static addresses are exactly what the Net gets; without them, one of
	// each family the router has. IPv4 comes first (IP() returns it).
	var ips []netip.Addr
	for _, a := range n.static {
		if a.Is4() {
			ips = append(ips, a)
		}
	}
	for _, a := range n.static {
		if a.Is6() {
			ips = append(ips, a)
		}
	}
	if len(ips) == 0 && r.prefix.IsValid() {
		a, err := r.assign()
		if err != nil {
			return err
		}
		ips = append(ips, a)
	}
	if len(n.static) == 0 && r.prefix6.IsValid() {
		a, err := r.assign6()
		if err != nil {
			return err
		}
		ips = append(ips, a)
	}
	for _, a := range ips {
		p := r.prefix
		if a.Is6() {
			p = r.prefix6
		}
		if !p.Contains(a) {
			if !p.IsValid() {
				return topoErr("net: static IP %s: router %q has no %s subnet", a, r.name, family(a))
			}
			return topoErr("net: static IP %s is outside router %q's subnet %s", a, r.name, p)
		}
		if _, used := r.routes[a]; used {
			return topoErr("net: address %s is already in use on router %q", a, r.name)
		}
		if l, _ := r.route6(a); l != nil && a.Is6() {
			return topoErr("net: static IP %s lies in a prefix delegated to a child router of %q", a, r.name)
		}
	}
	n.w = r.w
	n.router = r
	n.ips = ips
	if n.name == "" {
		n.name = ips[0].String()
	}
	n.name = r.w.claimName(n.name)
	_ = r.w.claimHost(n) // cannot fail: checked above
	n.rng = r.w.sched.Rand("net " + n.name)
	n.up = newLink(r.w, n.name+"->"+r.name, r, r.mtu)
	down := newLink(r.w, r.name+"->"+n.name, n, r.mtu)
	if err := down.set(r.egress); err != nil {
		return err
	}
	n.down = down
	n.up.out, n.up.in = &n.eth0, &r.inside
	down.out, down.in = &r.inside, &n.eth0
	for _, a := range ips {
		r.routes[a] = route{link: down}
	}
	r.nets = append(r.nets, n)
	r.w.nets = append(r.w.nets, n)
	return nil
}

// assign returns the next free host address of r's subnet.
func (r *Router) assign() (netip.Addr, error) {
	for a := r.nextHost; r.prefix.Contains(a); a = a.Next() {
		if a = skipReserved4(a); !r.prefix.Contains(a) {
			break
		}
		if !r.prefix.Contains(a.Next()) { // the broadcast address
			break
		}
		if _, used := r.routes[a]; used || r.reserved(a) {
			continue
		}
		r.nextHost = a.Next()
		return a, nil
	}
	return netip.Addr{}, topoErr("router %q: subnet %s has no free address", r.name, r.prefix)
}

// assign6 returns the next free host address of r's IPv6 prefix, skipping
// prefixes delegated to child routers.
func (r *Router) assign6() (netip.Addr, error) {
	for a := r.nextHost6; a.IsValid() && r.prefix6.Contains(a); {
		if _, used := r.routes[a]; used {
			a = a.Next()
			continue
		}
		if d, ok := r.delegatedPrefix(a); ok {
			a = lastAddr(d).Next() // jump over the whole delegated prefix
			continue
		}
		r.nextHost6 = a.Next()
		return a, nil
	}
	return netip.Addr{}, topoErr("router %q: prefix %s has no free address", r.name, r.prefix6)
}

// delegatedPrefix returns the widest prefix delegated below r that holds a.
func (r *Router) delegatedPrefix(a netip.Addr) (netip.Prefix, bool) {
	var best netip.Prefix
	for _, d := range r.delegated {
		if d.prefix.Contains(a) && (!best.IsValid() || d.prefix.Bits() < best.Bits()) {
			best = d.prefix
		}
	}
	return best, best.IsValid()
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As16()
	for i := p.Bits(); i < 128; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom16(b)
}

// family names a's address family in errors.
func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// reserved reports addresses promised to 1:1 NAT pairs of child routers.
func (r *Router) reserved(a netip.Addr) bool {
	for _, p := range r.private {
		if p == a {
			return true
		}
	}
	return false
}

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
	r.w.read(func() { r.hosts[name] = append(r.hosts[name], a) })
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

// Start starts the tree: on the root it runs the scheduler's paced loop
// (unless it already runs). Calling Start on a child router is an error.
func (r *Router) Start() error {
	if r.parent != nil {
		return topoErr("Start router %q: only the root router starts the tree", r.name)
	}
	if r.w.sched.Running() {
		return nil
	}
	r.w.startedLoop = true
	return r.w.sched.Start()
}

// Stop ends what Start started: the scheduler's paced loop, if Start ran
// it. Packets in flight stay queued (a later Start resumes them).
func (r *Router) Stop() error {
	if r.parent != nil {
		return topoErr("Stop router %q: only the root router stops the tree", r.name)
	}
	if r.w.startedLoop {
		r.w.startedLoop = false
		r.w.sched.Stop()
	}
	return nil
}

// Stats returns the router's counters.
func (r *Router) Stats() RouterStats {
	var s RouterStats
	r.w.read(func() { s = r.snapshot() })
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
	r.w.read(func() { r.w.observers = append(r.w.observers, fn) })
}

func (r *Router) drop(p *packet, why Reason) {
	r.stats.drops[why]++
	r.w.drop(p, why, r.name)
}

// arrive is a packet reaching the router over via (handler context).
func (r *Router) arrive(p *packet, via *Link) {
	if via != nil {
		via.tapIn(p)
	}
	if p = r.reassemble(p); p == nil {
		return
	}
	if p.ttl <= 1 {
		r.drop(p, ReasonTTL)
		return
	}
	p.ttl--
	if via != nil && via == r.fromUp {
		r.inbound(p)
		return
	}
	if r.filtered(p) {
		return
	}
	r.forward(p)
}

// inbound handles a packet from the parent: through the NAT (IPv4) or
// the firewall (IPv6), then inside.
func (r *Router) inbound(p *packet) {
	if p.dst.Addr().Is6() {
		if r.fw != nil {
			v := r.fw.Inbound(r.w.sched.Now(), nat.Flow{Proto: nat.Proto(p.proto), Src: p.src, Dst: p.dst, TCPFlags: p.tcpFlags()})
			if v != nat.Pass {
				r.drop(p, firewallReason(v))
				return
			}
			r.scheduleExpiry() // inbound refresh may move the next expiry
		}
		if _, mine := r.route6(p.dst.Addr()); !mine {
			r.drop(p, ReasonNoRoute)
			return
		}
		if r.filtered(p) {
			return
		}
		r.forward6(p)
		return
	}
	if r.nat != nil {
		src, dst := p.src, p.dst
		f, v := r.nat.Inbound(r.w.sched.Now(), nat.Flow{Proto: nat.Proto(p.proto), Src: p.src, Dst: p.dst, TCPFlags: p.tcpFlags()})
		if v != nat.Pass {
			r.drop(p, natReason(v))
			return
		}
		p.src, p.dst = f.Src, f.Dst
		r.w.recordNAT(r.name, p, src, dst)
	}
	if !r.prefix.Contains(p.dst.Addr()) {
		r.drop(p, ReasonNoRoute)
		return
	}
	if r.filtered(p) {
		return
	}
	r.forward(p)
}

// forward routes a packet that is inside r (from a Net, a child, or the
// NAT): down to the subnet, or up through the NAT.
func (r *Router) forward(p *packet) {
	dst := p.dst.Addr()
	if dst.Is6() {
		r.forward6(p)
		return
	}
	if !r.prefix.IsValid() { // an IPv6-only router: IPv4 goes nowhere
		r.drop(p, ReasonNoRoute)
		return
	}
	if r.prefix.Contains(dst) {
		l := r.lastLink
		if l == nil || dst != r.lastDst {
			rt, ok := r.routes[dst]
			if !ok {
				r.drop(p, ReasonNoRoute)
				return
			}
			l, r.lastDst, r.lastLink = rt.link, dst, rt.link
		}
		r.stats.Forwarded++
		r.w.record(KindForward, r.name, p, ReasonNone)
		l.send(p)
		return
	}
	if r.parent == nil {
		r.drop(p, ReasonNoRoute)
		return
	}
	if r.nat != nil {
		now := r.w.sched.Now()
		src, odst := p.src, p.dst
		flow := nat.Flow{Proto: nat.Proto(p.proto), Src: p.src, Dst: p.dst, TCPFlags: p.tcpFlags()}
		if r.nat.IsExternal(dst) {
			// To our own outside address: hairpinning (RFC 4787 §6).
			f, v := r.nat.Hairpin(now, flow)
			// Before the verdict: a hairpin refused on its inbound half
			// keeps the mapping its outbound half made, which must expire.
			r.scheduleExpiry()
			if v != nat.Pass {
				r.drop(p, natReason(v))
				return
			}
			p.src, p.dst = f.Src, f.Dst
			r.w.recordNAT(r.name, p, src, odst)
			if !r.prefix.Contains(p.dst.Addr()) {
				r.drop(p, ReasonNoRoute)
				return
			}
			r.forward(p)
			return
		}
		f, v := r.nat.Outbound(now, flow)
		if v != nat.Pass {
			r.drop(p, natReason(v))
			return
		}
		p.src, p.dst = f.Src, f.Dst
		r.w.recordNAT(r.name, p, src, odst)
		r.scheduleExpiry()
	}
	r.stats.Forwarded++
	r.w.record(KindForward, r.name, p, ReasonNone)
	r.up.send(p)
}

// forward6 routes an IPv6 packet inside r: down toward the Net or the
// child router whose prefix holds its destination (the longest prefix
// wins), or up through the firewall. IPv6 is never translated.
func (r *Router) forward6(p *packet) {
	l, mine := r.route6(p.dst.Addr())
	if mine {
		if l == nil {
			r.drop(p, ReasonNoRoute)
			return
		}
		r.stats.Forwarded++
		r.w.record(KindForward, r.name, p, ReasonNone)
		l.send(p)
		return
	}
	if r.parent == nil {
		r.drop(p, ReasonNoRoute)
		return
	}
	if r.fw != nil {
		v := r.fw.Outbound(r.w.sched.Now(), nat.Flow{Proto: nat.Proto(p.proto), Src: p.src, Dst: p.dst, TCPFlags: p.tcpFlags()})
		if v != nat.Pass {
			r.drop(p, firewallReason(v))
			return
		}
		r.scheduleExpiry()
	}
	r.stats.Forwarded++
	r.w.record(KindForward, r.name, p, ReasonNone)
	r.up.send(p)
}

// route6 finds where the IPv6 address dst lies from r: mine reports that
// it is in r's subtree (r's prefix or one delegated below), and l is the
// link toward it, nil when dst is in r's own prefix but no host has it.
func (r *Router) route6(dst netip.Addr) (l *Link, mine bool) {
	best := -1
	for _, d := range r.delegated {
		if d.prefix.Bits() > best && d.prefix.Contains(dst) {
			l, best = d.link, d.prefix.Bits()
		}
	}
	if l != nil {
		return l, true
	}
	if r.prefix6.Contains(dst) {
		return r.routes[dst].link, true
	}
	return nil, false
}

// nextExpiry is when the NAT's or the firewall's next state times out.
func (r *Router) nextExpiry() (next time.Time, ok bool) {
	if r.nat != nil {
		next, ok = r.nat.NextExpiry()
	}
	if r.fw != nil {
		if t, fok := r.fw.NextExpiry(); fok && (!ok || t.Before(next)) {
			next, ok = t, true
		}
	}
	return next, ok
}

// scheduleExpiry makes sure an event will expire the NAT's and the
// firewall's idle state on the scheduler's clock.
func (r *Router) scheduleExpiry() {
	next, ok := r.nextExpiry()
	if !ok {
		return
	}
	at := next.UnixNano()
	if r.expiring && r.expiryAt <= at {
		return
	}
	r.expiring, r.expiryAt = true, at
	r.w.sched.Schedule(next, (*natExpiry)(r), 0)
}

// natExpiry is a Router seen as the handler of its only event, the expiry
// of NAT mappings and firewall states. It is a type of its own so that the
// handler's methods stay off Router's API: called by anyone but the
// scheduler they would race with it.
type natExpiry Router

// Fire expires NAT mappings and firewall states.
func (e *natExpiry) Fire(uint64) {
	r := (*Router)(e)
	now := r.w.sched.Now()
	if now.UnixNano() < r.expiryAt {
		return // superseded by an earlier expiry event
	}
	r.expiring = false
	if r.nat != nil {
		if n := r.nat.Expire(now); n > 0 {
			r.log.Debugf("%d NAT mappings expired", n)
		}
	}
	if r.fw != nil {
		if n := r.fw.Expire(now); n > 0 {
			r.log.Debugf("%d firewall states expired", n)
		}
	}
	r.scheduleExpiry()
}

// Label names the router's events in scheduler traces.
func (e *natExpiry) Label(uint64) string { return "nat-expiry " + e.name }

func natReason(v nat.Verdict) Reason {
	switch v {
	case nat.DropFiltered:
		return ReasonNATFiltered
	case nat.DropNoMapping:
		return ReasonNATNoMapping
	case nat.DropExhausted:
		return ReasonNATExhausted
	case nat.DropHairpinOff:
		return ReasonNATHairpin
	}
	return ReasonNATInvalid
}

func firewallReason(v nat.Verdict) Reason {
	switch v {
	case nat.DropFiltered:
		return ReasonFirewallFiltered
	case nat.DropExhausted:
		return ReasonFirewallExhausted
	case nat.DropNoMapping:
		return ReasonFirewallUnsolicited
	}
	return ReasonInvalid
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
