package vnet

import (
	"net/netip"
	"time"

	"github.com/vnetsim/vnetsim/nat"
)

func (r *Router) drop(p *packet, why Reason) {
	r.stats.drops[why]++
	r.w.drop(p, why, r.name)
}

// arrive is a packet reaching the router over via (handler context).
func (r *Router) arrive(p *packet, via *Link) {
	if via != nil && r.w.captured { // asked first: via is cold in a big world, and only a capture needs it
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
			v := r.fw.Inbound(r.w.sched.Now(), p.flow())
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
		f, v := r.nat.Inbound(r.w.sched.Now(), p.flow())
		if !r.translate(p, f, v) {
			return
		}
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

// translate applies the NAT's verdict v on p: a refused packet is dropped
// with the verdict's reason; a passed one takes the addresses of f, the
// flow as translated, and the observers see the rewrite. It reports
// whether p goes on.
func (r *Router) translate(p *packet, f nat.Flow, v nat.Verdict) bool {
	if v != nat.Pass {
		r.drop(p, natReason(v))
		return false
	}
	src, dst := p.src, p.dst
	p.src, p.dst = f.Src, f.Dst
	r.w.recordNAT(r.name, p, src, dst)
	return true
}

// send forwards p onto l, counted and recorded as forwarded.
func (r *Router) send(p *packet, l *Link) {
	r.stats.Forwarded++
	r.w.record(KindForward, r.name, p, ReasonNone)
	l.send(p)
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
		l, ok := r.hostLink(dst)
		if !ok {
			r.drop(p, ReasonNoRoute)
			return
		}
		r.send(p, l)
		return
	}
	if r.parent == nil {
		r.drop(p, ReasonNoRoute)
		return
	}
	if r.nat != nil {
		now := r.w.sched.Now()
		flow := p.flow()
		if r.nat.IsExternal(dst) {
			// To our own outside address: hairpinning (RFC 4787 §6).
			f, v := r.nat.Hairpin(now, flow)
			// Before the verdict: a hairpin refused on its inbound half
			// keeps the mapping its outbound half made, which must expire.
			r.scheduleExpiry()
			if !r.translate(p, f, v) {
				return
			}
			if !r.prefix.Contains(p.dst.Addr()) {
				r.drop(p, ReasonNoRoute)
				return
			}
			r.forward(p)
			return
		}
		f, v := r.nat.Outbound(now, flow)
		if !r.translate(p, f, v) {
			return
		}
		r.scheduleExpiry()
	}
	r.send(p, r.up)
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
		r.send(p, l)
		return
	}
	if r.parent == nil {
		r.drop(p, ReasonNoRoute)
		return
	}
	if r.fw != nil {
		v := r.fw.Outbound(r.w.sched.Now(), p.flow())
		if v != nat.Pass {
			r.drop(p, firewallReason(v))
			return
		}
		r.scheduleExpiry()
	}
	r.send(p, r.up)
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

// flow is p as the NAT and the firewall see it.
func (p *packet) flow() nat.Flow {
	return nat.Flow{Proto: nat.Proto(p.proto), Src: p.src, Dst: p.dst, TCPFlags: p.tcpFlags()}
}
