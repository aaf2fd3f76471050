package nat

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkTranslate measures lookups of existing mappings in a table holding
// 10,000 of them (100 hosts x 100 ports, each talking to its own remote), for
// the cone and symmetric kinds. Outbound and inbound must not allocate.
func BenchmarkTranslate(b *testing.B) {
	const hosts, ports = 100, 100
	for _, p := range []Preset{FullCone, PortRestrictedCone, Symmetric} {
		cfg := p.Config()
		cfg.External = []netip.Addr{extIP}
		tab, err := New(cfg, rand.New(rand.NewPCG(1, 0)))
		if err != nil {
			b.Fatal(err)
		}
		outs := benchFlows(hosts, ports, false)
		var ins []Flow
		for _, f := range outs {
			got, v := tab.Outbound(t0, f)
			if v != Pass {
				b.Fatalf("setup: %v %v", f, v)
			}
			ins = append(ins, reply(got))
		}
		if n := tab.Stats().Active; n != hosts*ports {
			b.Fatalf("setup made %d mappings", n)
		}
		// Time moves a nanosecond per packet: mappings are refreshed in
		// turn and none expires during the run.
		for _, dir := range []struct {
			name  string
			flows []Flow
			fn    func(time.Time, Flow) (Flow, Verdict)
		}{{"outbound", outs, tab.Outbound}, {"inbound", ins, tab.Inbound}} {
			b.Run(p.String()+"/"+dir.name, func(b *testing.B) {
				b.ReportAllocs()
				now := t0.Add(time.Millisecond)
				i := 0
				for b.Loop() {
					now = now.Add(time.Nanosecond)
					if _, v := dir.fn(now, dir.flows[i]); v != Pass {
						b.Fatalf("%v dropped: %v", dir.flows[i], v)
					}
					if i++; i == len(dir.flows) {
						i = 0
					}
				}
				b.ReportMetric(float64(tab.Stats().Active), "mappings")
			})
		}
	}
}

// benchFlows returns hosts x ports UDP flows, each from its own internal
// endpoint (ports 10000 and up of host h) to its own remote, in IPv4 (10/8 to
// 198.51/16) or IPv6 (2001:db8:1::h to 2001:db8:ff::h:p).
func benchFlows(hosts, ports int, v6 bool) []Flow {
	flows := make([]Flow, 0, hosts*ports)
	for h := range hosts {
		for p := range ports {
			src := netip.AddrFrom4([4]byte{10, 0, byte(h), 2})
			dst := netip.AddrFrom4([4]byte{198, 51, byte(h), byte(p)})
			if v6 {
				src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 15: byte(h)})
				dst = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0xff, 14: byte(h), 15: byte(p)})
			}
			flows = append(flows, Flow{
				Proto: UDP,
				Src:   netip.AddrPortFrom(src, uint16(10000+p)),
				Dst:   netip.AddrPortFrom(dst, 3478),
			})
		}
	}
	return flows
}

// BenchmarkChurn measures the cost of a mapping's whole life: creation, one
// packet each way, and expiry, with 10,000 live at any time.
func BenchmarkChurn(b *testing.B) {
	const live = 10000
	tab := newTable(b, Config{Filtering: AddressAndPortDependent, MappingLifetime: time.Duration(live) * time.Microsecond})
	b.ReportAllocs()
	now := t0
	i := 0
	for b.Loop() {
		now = now.Add(time.Microsecond)
		f := Flow{
			Proto: UDP,
			Src:   netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 5000),
			Dst:   ap("198.51.100.1:3478"),
		}
		got, v := tab.Outbound(now, f)
		if v != Pass {
			b.Fatalf("%v: %v", f, v)
		}
		if _, v := tab.Inbound(now, reply(got)); v != Pass {
			b.Fatalf("reply to %v: %v", got, v)
		}
		if next, ok := tab.NextExpiry(); ok && !now.Before(next) {
			tab.Expire(now)
		}
		i++
	}
}
