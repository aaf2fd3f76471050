package vnet

import (
	"net/netip"

	"github.com/vnetsim/vnetsim/nat"
)

// AddRouter attaches child below r: the child takes address(es) on r's
// subnet and its NAT starts translating. A router can have one parent, and
// the tree can have no loops.
//
// While the scheduler runs, the change is made on the scheduler's goroutine
// (AddRouter waits for it), so trees can be built inside simtest.Run.
func (r *Router) AddRouter(child *Router) error {
	var err error
	r.w.do(func() { err = r.addRouter(child) })
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
	r.w.do(func() { err = r.addNIC(nic) })
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
	n.setIPs(ips)
	if n.name == "" {
		n.name = ips[0].String()
	}
	n.name = r.w.claimName(n.name)
	_ = r.w.claimHost(n) // cannot fail: checked above
	n.upLink.init(r.w, n.name+"->"+r.name, r, r.mtu)
	n.up = &n.upLink
	down := &n.downLink
	down.init(r.w, r.name+"->"+n.name, n, r.mtu)
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

// reserved reports addresses promised to 1:1 NAT pairs of child routers.
func (r *Router) reserved(a netip.Addr) bool {
	for _, p := range r.private {
		if p == a {
			return true
		}
	}
	return false
}
