package vnet

import "net/netip"

// hostRoutes is a router's IPv4 host routes as a dense table indexed by
// the address's offset in the router's subnet: two array loads instead of
// hashing a netip.Addr into Router.routes. In a world of 100,000 Nets that
// map spreads over megabytes and every datagram's lookup missed the cache
// on it; the table costs 8 bytes per host, allocated in pages of
// routePage entries as hosts are added, so a /8 with a few hosts holds a
// few pages, not 16 million entries.
//
// Router.routes stays the source of truth (it also holds IPv6 hosts and
// decides which addresses are in use). The table is a cache of it, filled
// on a lookup's first miss (forward), which is right because a route,
// once made, never changes while it exists; removeAddress clears the
// entry of an address that goes away.
type hostRoutes struct {
	base  uint32 // the subnet's first address
	pages []*[routePage]*Link
}

const (
	routePageBits = 10
	routePage     = 1 << routePageBits
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

// set caches l as the link toward a (in the subnet); nil clears it.
func (t *hostRoutes) set(a netip.Addr, l *Link) {
	off := v4(a) - t.base
	pg := int(off >> routePageBits)
	if pg >= len(t.pages) {
		if l == nil {
			return
		}
		t.pages = append(t.pages, make([]*[routePage]*Link, pg+1-len(t.pages))...)
	}
	if t.pages[pg] == nil {
		if l == nil {
			return
		}
		t.pages[pg] = new([routePage]*Link)
	}
	t.pages[pg][off&(routePage-1)] = l
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
	r.table.set(dst, rt.link)
	return rt.link, true
}

// forgetRoute drops dst's cached route (its address left the subnet).
func (r *Router) forgetRoute(dst netip.Addr) {
	if dst.Is4() && r.prefix.Contains(dst) {
		r.table.set(dst, nil)
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
			return l == n.down
		}
	}
	return n.hasIP(a)
}
