package scenarios

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/pion/stun/v4"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
)

// HolePunchConfig configures the sim-native hole-punching scenario.
type HolePunchConfig struct {
	// Seed drives every random draw (loss on the lossy link).
	Seed uint64
	// NATA and NATB are the peers' NAT presets. Default port-restricted
	// cone for both.
	NATA, NATB nat.Preset
	// Loss is the loss probability on B's access link, both ways.
	// Default 0.1; negative means none.
	Loss float64
	// Punches is how many datagrams each peer sends the other, one every
	// 100 ms. Default 20.
	Punches int
	// Observe, when set, sees every packet event.
	Observe func(vnet.Record)
	// Setup, when set, is called with the world before it runs (to add
	// captures, say).
	Setup func(w *HolePunchWorld) error
	// IPv6 makes the world dual stack (NewDualStackInternet's addressing):
	// the peers punch to each other's own IPv6 addresses through their
	// routers' IPv6 firewalls instead of to STUN-learned IPv4 endpoints,
	// which is how IPv6 gets through NATs that defeat IPv4 hole punching
	// (try NATA and NATB symmetric).
	IPv6 bool
}

// HolePunchWorld is the topology of the hole-punching scenario.
type HolePunchWorld struct {
	Sched            *sim.Scheduler
	WAN              *vnet.Router
	STUN             *vnet.Net
	A, B             *Peer
	STUNAddr         *net.UDPAddr
	ReflexA, ReflexB *net.UDPAddr
}

// HolePunchReport is what happened.
type HolePunchReport struct {
	World *HolePunchWorld
	// ReflexA and ReflexB are the addresses the STUN server saw; with
	// HolePunchConfig.IPv6, the peers' own IPv6 endpoints.
	ReflexA, ReflexB string
	// SentA/B and GotA/B count the punches each peer sent and received.
	SentA, SentB, GotA, GotB int
	// Connected reports that both peers received punches from each other.
	Connected bool
	// VirtualTime is the virtual time the scenario took.
	VirtualTime time.Duration
	// Failure says why the scenario stopped early ("" if it did not).
	Failure string
}

func (r HolePunchReport) String() string {
	if r.Failure != "" {
		return fmt.Sprintf("FAILED: %s (virtual time %v)", r.Failure, r.VirtualTime)
	}
	what := "NATs"
	if strings.HasPrefix(r.ReflexA, "[") {
		what = "IPv6 firewalls"
	}
	verdict := "FAILED: the " + what + " did not let the punches through"
	if r.Connected {
		verdict = "CONNECTED: punches went through both " + what
	}
	return fmt.Sprintf("a is %s, b is %s; a sent %d, got %d; b sent %d, got %d; %s (virtual time %v)",
		r.ReflexA, r.ReflexB, r.SentA, r.GotA, r.SentB, r.GotB, verdict, r.VirtualTime)
}

// HolePunch runs the quickstart's scenario on a scheduler driven by hand,
// on one goroutine, so it is deterministic anywhere (no synctest needed):
// two peers behind NATs learn their public addresses from a STUN server on
// the WAN (pion/stun messages, answered in-line), then send each other
// datagrams through their NATs, B over a lossy access link.
func HolePunch(cfg HolePunchConfig) (HolePunchReport, error) {
	if cfg.Loss == 0 {
		cfg.Loss = 0.1
	}
	if cfg.Loss < 0 {
		cfg.Loss = 0
	}
	if cfg.Punches == 0 {
		cfg.Punches = 20
	}
	if cfg.NATA == 0 && cfg.NATB == 0 {
		cfg.NATA, cfg.NATB = nat.PortRestrictedCone, nat.PortRestrictedCone
	}
	s := sim.New(sim.Config{Seed: cfg.Seed})
	w := &HolePunchWorld{Sched: s}
	var err error
	wan := vnet.RouterConfig{Name: "wan", CIDR: WANCIDR, Scheduler: s, MinDelay: 15 * time.Millisecond, MaxJitter: 10 * time.Millisecond}
	if cfg.IPv6 {
		wan.IPv6CIDR = WANCIDR6
	}
	if w.WAN, err = vnet.NewRouter(&wan); err != nil {
		return HolePunchReport{}, err
	}
	if cfg.Observe != nil {
		w.WAN.Observe(cfg.Observe)
	}
	if w.STUN, err = vnet.NewNet(&vnet.NetConfig{Name: "stun", StaticIP: ServerIP}); err != nil {
		return HolePunchReport{}, err
	}
	if err := w.WAN.AddNet(w.STUN); err != nil {
		return HolePunchReport{}, err
	}
	in := &Internet{Sched: s, WAN: w.WAN, dual: cfg.IPv6}
	if w.A, err = in.AddNATPeer("a", cfg.NATA); err != nil {
		return HolePunchReport{}, err
	}
	if w.B, err = in.AddNATPeer("b", cfg.NATB); err != nil {
		return HolePunchReport{}, err
	}
	if err := w.B.Impair(impair.Config{Loss: cfg.Loss, Delay: 5 * time.Millisecond}); err != nil {
		return HolePunchReport{}, err
	}
	if cfg.Setup != nil {
		if err := cfg.Setup(w); err != nil {
			return HolePunchReport{}, err
		}
	}

	srv, err := w.STUN.ListenPacket("udp4", fmt.Sprintf("%s:%d", ServerIP, ServersPort))
	if err != nil {
		return HolePunchReport{}, err
	}
	w.STUNAddr = srv.LocalAddr().(*net.UDPAddr)
	network, local := "udp4", "0.0.0.0:4000"
	if cfg.IPv6 {
		network, local = "udp6", "[::]:4000"
	}
	ca, err := w.A.Net.ListenPacket(network, local)
	if err != nil {
		return HolePunchReport{}, err
	}
	cb, err := w.B.Net.ListenPacket(network, local)
	if err != nil {
		return HolePunchReport{}, err
	}
	rep := HolePunchReport{World: w}
	if cfg.IPv6 {
		// Public addresses need no discovery: each peer punches to the
		// other's own address.
		w.ReflexA = net.UDPAddrFromAddrPort(netip.AddrPortFrom(w.A.Net.IP6(), 4000))
		w.ReflexB = net.UDPAddrFromAddrPort(netip.AddrPortFrom(w.B.Net.IP6(), 4000))
	}

	// STUN: each peer asks until it has an answer (the lossy link may eat
	// a request or an answer), one try every 500 ms.
	rng := s.Rand("stun transaction ids")
	for try := 0; try < 10 && (w.ReflexA == nil || w.ReflexB == nil); try++ {
		for _, p := range []struct {
			c     net.PacketConn
			reflx **net.UDPAddr
		}{{ca, &w.ReflexA}, {cb, &w.ReflexB}} {
			if *p.reflx != nil {
				continue
			}
			var id [stun.TransactionIDSize]byte
			for i := range id {
				id[i] = byte(rng.Uint32())
			}
			req := stun.MustBuild(stun.BindingRequest, stun.NewTransactionIDSetter(id))
			if _, err := p.c.WriteTo(req.Raw, w.STUNAddr); err != nil {
				return rep, err
			}
		}
		s.RunFor(250 * time.Millisecond)
		answerSTUN(s, srv)
		s.RunFor(250 * time.Millisecond)
		if w.ReflexA == nil {
			w.ReflexA = readSTUN(s, ca)
		}
		if w.ReflexB == nil {
			w.ReflexB = readSTUN(s, cb)
		}
	}
	if w.ReflexA == nil || w.ReflexB == nil {
		rep.Failure = "a peer never got a STUN answer"
		rep.VirtualTime = s.Now().Sub(sim.DefaultStart)
		return rep, nil
	}
	rep.ReflexA, rep.ReflexB = w.ReflexA.String(), w.ReflexB.String()

	// Punch: both send to the other's public address every 100 ms.
	for i := 0; i < cfg.Punches; i++ {
		if _, err := ca.WriteTo([]byte(fmt.Sprintf("punch a%d", i)), w.ReflexB); err == nil {
			rep.SentA++
		}
		if _, err := cb.WriteTo([]byte(fmt.Sprintf("punch b%d", i)), w.ReflexA); err == nil {
			rep.SentB++
		}
		s.RunFor(100 * time.Millisecond)
		rep.GotA += drain(s, ca)
		rep.GotB += drain(s, cb)
	}
	s.RunFor(time.Second)
	rep.GotA += drain(s, ca)
	rep.GotB += drain(s, cb)
	rep.Connected = rep.GotA > 0 && rep.GotB > 0
	rep.VirtualTime = s.Now().Sub(sim.DefaultStart)
	for _, c := range []net.PacketConn{srv, ca, cb} {
		_ = c.Close()
	}
	return rep, nil
}

// poll reads one datagram if one is queued, without blocking: a deadline
// at the current virtual time fails at once when nothing is there.
func poll(s *sim.Scheduler, c net.PacketConn, buf []byte) (int, net.Addr, bool) {
	_ = c.SetReadDeadline(s.Now())
	n, from, err := c.ReadFrom(buf)
	_ = c.SetReadDeadline(time.Time{})
	return n, from, err == nil
}

func answerSTUN(s *sim.Scheduler, srv net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, from, ok := poll(s, srv, buf)
		if !ok {
			return
		}
		req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if req.Decode() != nil || req.Type != stun.BindingRequest {
			continue
		}
		ua := from.(*net.UDPAddr)
		resp := stun.MustBuild(req, stun.BindingSuccess, &stun.XORMappedAddress{IP: ua.IP, Port: ua.Port}, stun.Fingerprint)
		_, _ = srv.WriteTo(resp.Raw, from)
	}
}

func readSTUN(s *sim.Scheduler, c net.PacketConn) *net.UDPAddr {
	buf := make([]byte, 1500)
	for {
		n, _, ok := poll(s, c, buf)
		if !ok {
			return nil
		}
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		var xa stun.XORMappedAddress
		if m.Decode() == nil && xa.GetFrom(m) == nil {
			return &net.UDPAddr{IP: xa.IP, Port: xa.Port}
		}
	}
}

func drain(s *sim.Scheduler, c net.PacketConn) int {
	buf := make([]byte, 1500)
	got := 0
	for {
		if _, _, ok := poll(s, c, buf); !ok {
			return got
		}
		got++
	}
}
