package vnet

import "net/netip"

// hostRoutes is a router's IPv4 host routes as a dense table indexed by
// the address's offset in the router's subnet: two array loads instead of
// hashing a netip.Addr into Router.routes. In a world of 100,000 Nets that
// map spreads over megabytes and every datagram's lookup missed the cache
// on it; the table costs 8 bytes per host, in pages of routePage entries
// made as hosts are added.
//
// Router.routes stays the source of truth (it also holds IPv6 hosts and
// decides which addresses are in use). The table is a cache of it, filled
// on a lookup's first miss (forward), which is right because a route,
// once made, never changes while it exists; removeAddress clears the
// entry of an address that goes away. Hosts scattered over a large subnet
// (pion's WAN is 0.0.0.0/0) would make it sparse: it grows only while its
// memory stays within routeBudget bytes per route (plus routeSlack), and
// addresses it cannot hold are looked up in the map, as before.
type hostRoutes struct {
	base  uint32 // the subnet's first address
	pages []*[routePage]*Link
	bytes int // memory of pages and of the pages' index
}

const (
	routePageBits = 8
	routePage     = 1 << routePageBits
	routeBudget   = 256      // bytes of table per route, at most ...
	routeSlack    = 64 << 10 // ... plus this
)

// v4 is a as a number; a must be IPv4.
func v4(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// get returns the cached link toward a (in the subnet), or nil.
func (t *hostRoutes) get(a netip.Addr) *Link {
	off := v4(a) - t.base
	pg := off >> routePageBits
	if pg >= uint32(len(t.pages)) {
		return nil
	}
	p := t.pages[pg]
	if p == nil {
		return nil
	}
	return p[off&(routePage-1)]
}

// set caches l as the link toward a (in the subnet); nil clears it. It
// makes room only while the table stays within budget bytes, and reports
// whether a is cached now.
func (t *hostRoutes) set(a netip.Addr, l *Link, budget int) bool {
	off := v4(a) - t.base
	pg := int(off >> routePageBits)
	if pg >= len(t.pages) || t.pages[pg] == nil {
		if l == nil {
			return true // nothing to clear
		}
		grow := 0
		if pg >= len(t.pages) {
			grow = 8 * (pg + 1 - len(t.pages))
		}
		if t.bytes+grow+8*routePage > budget {
			return false
		}
		if grow > 0 {
			t.pages = append(t.pages, make([]*[routePage]*Link, pg+1-len(t.pages))...)
		}
		t.pages[pg] = new([routePage]*Link)
		t.bytes += grow + 8*routePage
	}
	t.pages[pg][off&(routePage-1)] = l
	return true
}

// hostLink is the link toward the IPv4 host dst, which lies in r's subnet
// (false: no host has it).
func (r *Router) hostLink(dst netip.Addr) (*Link, bool) {
	if l := r.table.get(dst); l != nil {
		return l, true
	}
	rt, ok := r.routes[dst]
	if !ok || rt.link == nil {
		return nil, false
	}
	r.table.set(dst, rt.link, routeBudget*len(r.routes)+routeSlack)
	return rt.link, true
}

// forgetRoute drops dst's cached route (its address left the subnet).
func (r *Router) forgetRoute(dst netip.Addr) {
	if dst.Is4() && r.prefix.Contains(dst) {
		r.table.set(dst, nil, 0)
	}
}

// ownsDst reports whether a datagram to a, leaving n, stays on the host:
// hasIP, answered for an IPv4 destination on n's subnet from the router's
// route table when it holds a, without reading n's address list (a cache
// line of its own). The table says whose a is: the route toward one of
// n's addresses is n's downlink. Handler context (the table is the
// scheduler's).
func (n *Net) ownsDst(a netip.Addr) bool {
	if r := n.router; r != nil && a.Is4() && r.prefix.Contains(a) {
		if l := r.table.get(a); l != nil {
			return l == &n.downLink // n.down once attached, without reading it
		}
	}
	return n.hasIP(a)
}
