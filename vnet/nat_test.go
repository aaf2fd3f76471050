package vnet_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/vnet"
	"github.com/vnetsim/vnetsim/vnet/vnettest"
)

// These tests drive NATs through whole vnet trees: packets leave real
// sockets, cross routers whose NATs use the nat package, and arrive (or are
// dropped, counted, with a reason) at real sockets.

// stunIP:stunPort is the "STUN-like" echo server on the WAN: it answers
// every datagram with the source address it saw, as text.
const (
	natWANCIDR = "1.2.3.0/24"
	stunIP     = "1.2.3.4"
	stunPort   = 3478
)

var stunAddr = netip.AddrPortFrom(netip.MustParseAddr(stunIP), stunPort)

func udpTo(ap netip.AddrPort) *net.UDPAddr { return net.UDPAddrFromAddrPort(ap) }

func addrPortOf(t *testing.T, a net.Addr) netip.AddrPort {
	t.Helper()
	ua, ok := a.(*net.UDPAddr)
	require.True(t, ok, "not a *net.UDPAddr: %T", a)
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func natSend(t *testing.T, c net.PacketConn, payload string, to netip.AddrPort) {
	t.Helper()
	_, err := c.WriteTo([]byte(payload), udpTo(to))
	require.NoError(t, err)
}

// answerSTUN answers every datagram queued on the STUN socket with the
// source address it came from, and returns those sources.
func answerSTUN(t *testing.T, s *sim.Scheduler, stun net.PacketConn) []netip.AddrPort {
	t.Helper()
	var seen []netip.AddrPort
	for _, d := range vnettest.Queued(t, stun) {
		natSend(t, stun, d.From.String(), d.From)
		seen = append(seen, d.From)
	}
	return seen
}

// learnMapped asks the STUN server which external endpoint each socket in
// conns has toward it (all at once), in manual mode.
func learnMapped(t *testing.T, s *sim.Scheduler, stun net.PacketConn, conns ...net.PacketConn) []netip.AddrPort {
	t.Helper()
	for _, c := range conns {
		natSend(t, c, "binding request", stunAddr)
	}
	s.RunFor(time.Second)
	require.Len(t, answerSTUN(t, s, stun), len(conns))
	s.RunFor(time.Second)
	mapped := make([]netip.AddrPort, len(conns))
	for i, c := range conns {
		got := vnettest.Queued(t, c)
		require.Len(t, got, 1, "STUN answer for socket %d", i)
		require.Equal(t, stunAddr, got[0].From)
		mapped[i] = netip.MustParseAddrPort(string(got[0].Payload))
	}
	return mapped
}

// natSpec is one side's NAT: a nat.Config (RouterConfig.NAT) or a pion-style
// NATType (RouterConfig.NATType).
type natSpec struct {
	name    string
	cfg     *nat.Config
	natType *vnet.NATType
}

func presetSpec(p nat.Preset) natSpec {
	cfg := p.Config()
	return natSpec{name: p.String(), cfg: &cfg}
}

func pionSpec(name string, m, f vnet.EndpointDependencyType) natSpec {
	return natSpec{name: name, natType: &vnet.NATType{MappingBehavior: m, FilteringBehavior: f}}
}

// natWAN is a WAN router (10 ms of delay per hop) with the STUN server on it.
func natWAN(t *testing.T, s *sim.Scheduler) (*vnet.Router, net.PacketConn) {
	t.Helper()
	wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: natWANCIDR, Scheduler: s, MinDelay: 10 * time.Millisecond})
	return wan, vnettest.Listen(t, vnettest.Host(t, wan, stunIP), "udp4", fmt.Sprintf("0.0.0.0:%d", stunPort))
}

// punchResult is what a hole-punching attempt achieved.
type punchResult struct {
	AToB, BToA bool // a punch sent to the peer's STUN-learned address arrived
	Connected  bool // after answering what arrived, both sides heard from the other
}

// Hole punching between two hosts behind different NATs, the way ICE does it
// without a relay, and the outcomes derived by hand from RFC 4787's
// definitions. Each host learns its external endpoint X from the STUN server
// S, then both send twice to the other's X ("punches"), then each answers
// every source it heard a punch from (ICE's peer-reflexive candidates).
//
// Let M be a NAT's mapping and F its filtering behaviour. A host's packet to
// the peer's X leaves through X when its M is endpoint-independent (EI), and
// through a new mapping Y (another port) otherwise. It arrives at the peer's
// mapping X, whose permissions are S plus whatever the peer sent through X.
// So A's punch reaches B when
//
//	F_B = EI:  always (X_B is live since the STUN request);
//	F_B = AD:  M_B = EI (B's punch to A left through X_B, opening it to A's
//	           NAT's address, whatever port A's punch comes from);
//	F_B = APD: M_B = EI and M_A = EI (X_B is open to exactly X_A, and A's
//	           punch comes from X_A only if A's mapping is EI).
//
// For the presets (full cone: EI/EI, restricted: EI/AD, port-restricted:
// EI/APD, symmetric: APD/APD): a punch reaches a full or restricted cone
// always, a port-restricted cone unless the sender is symmetric, a symmetric
// NAT never. When only one direction's punch arrives, the receiver answers
// its source (the sender's mapping toward the receiver's X, open to exactly
// the receiver's X), and that answer gets through: the pair connects. Hence
// symmetric connects with full and restricted cones, but not with a
// port-restricted cone or another symmetric NAT, where no punch arrives.
func TestHolePunchingMatrix(t *testing.T) {
	fc, rc, prc, sym := presetSpec(nat.FullCone), presetSpec(nat.RestrictedCone), presetSpec(nat.PortRestrictedCone), presetSpec(nat.Symmetric)
	both := punchResult{AToB: true, BToA: true, Connected: true}
	onlyAToB := punchResult{AToB: true, Connected: true}
	onlyBToA := punchResult{BToA: true, Connected: true}
	none := punchResult{}

	// pion-style NATTypes, including behaviours no preset has.
	pionFull := pionSpec("pion EI/EI", vnet.EndpointIndependent, vnet.EndpointIndependent)
	pionPRC := pionSpec("pion EI/APD", vnet.EndpointIndependent, vnet.EndpointAddrPortDependent)
	pionRC := pionSpec("pion EI/AD", vnet.EndpointIndependent, vnet.EndpointAddrDependent)
	pionSym := pionSpec("pion APD/APD", vnet.EndpointAddrPortDependent, vnet.EndpointAddrPortDependent)
	pionSymOpen := pionSpec("pion APD/EI", vnet.EndpointAddrPortDependent, vnet.EndpointIndependent)
	pionAddrAddr := pionSpec("pion AD/AD", vnet.EndpointAddrDependent, vnet.EndpointAddrDependent)

	tests := []struct {
		a, b natSpec
		want punchResult
	}{
		{fc, fc, both},
		{fc, rc, both},
		{fc, prc, both},
		{fc, sym, onlyBToA}, // B's punch from Y_B gets through A's full cone; A answers Y_B from X_A, which Y_B is open to
		{rc, fc, both},
		{rc, rc, both},
		{rc, prc, both},
		{rc, sym, onlyBToA}, // A's X_A is open to B's NAT's address (any port): Y_B's punch passes
		{prc, fc, both},
		{prc, rc, both},
		{prc, prc, both},
		{prc, sym, none}, // X_A is open to X_B alone but B punches from Y_B; B's punch left through Y_B, so X_B is open to S alone
		{sym, fc, onlyAToB},
		{sym, rc, onlyAToB},
		{sym, prc, none},
		{sym, sym, none},

		// The same through pion's names. pion's symmetric NAT allocates ports
		// sequentially, but these punches never guess ports: same outcomes.
		{pionFull, pionSym, onlyBToA},
		{pionRC, pionPRC, both},
		{pionSym, pionSym, none},
		// APD mapping, open filtering: B's punch reaches A, but A answers from
		// Y_A (its mapping toward X_B), and B's X_B is open to X_A alone.
		{pionSymOpen, pionPRC, punchResult{BToA: true}},
		// AD mapping (the peer's NAT has another address than S, so A's
		// punch leaves from a new Y_A): X_B is open to A's NAT's address,
		// any port, so A's punch passes. B's punch goes to X_A, which is
		// open to S alone (A's punches left through Y_A): filtered. B
		// answers Y_A from X_B, and Y_A is open to B's NAT's address.
		{pionAddrAddr, pionRC, onlyAToB},
		{pionAddrAddr, pionAddrAddr, none},
	}
	for _, tc := range tests {
		t.Run(tc.a.name+" vs "+tc.b.name, func(t *testing.T) {
			got := holePunch(t, tc.a, tc.b)
			assert.Equal(t, tc.want, got)
		})
	}
}

// holePunch runs one attempt (see TestHolePunchingMatrix) and checks that
// every punch or answer that did not arrive was dropped by a NAT's
// filtering, counted.
func holePunch(t *testing.T, a, b natSpec) punchResult {
	t.Helper()
	s := sim.New(sim.Config{Seed: 7})
	wan, stun := natWAN(t, s)
	lanA := vnettest.Router(t, vnet.RouterConfig{Name: "lanA", CIDR: "10.0.1.0/24", StaticIPs: []string{"1.2.3.10"},
		NAT: a.cfg, NATType: a.natType, MinDelay: time.Millisecond})
	lanB := vnettest.Router(t, vnet.RouterConfig{Name: "lanB", CIDR: "10.0.2.0/24", StaticIPs: []string{"1.2.3.20"},
		NAT: b.cfg, NATType: b.natType, MinDelay: time.Millisecond})
	require.NoError(t, wan.AddRouter(lanA))
	require.NoError(t, wan.AddRouter(lanB))
	ca, err := vnettest.Host(t, lanA).ListenPacket("udp4", "0.0.0.0:5000")
	require.NoError(t, err)
	cb, err := vnettest.Host(t, lanB).ListenPacket("udp4", "0.0.0.0:5000")
	require.NoError(t, err)

	x := learnMapped(t, s, stun, ca, cb)
	xa, xb := x[0], x[1]
	require.Equal(t, "1.2.3.10", xa.Addr().String())
	require.Equal(t, "1.2.3.20", xb.Addr().String())

	sent := 0
	for range 2 {
		natSend(t, ca, "punch from A", xb)
		natSend(t, cb, "punch from B", xa)
		sent += 2
		s.RunFor(time.Second)
	}
	gotA, gotB := vnettest.Queued(t, ca), vnettest.Queued(t, cb)
	for _, d := range gotA {
		assert.Equal(t, "punch from B", string(d.Payload))
	}
	for _, d := range gotB {
		assert.Equal(t, "punch from A", string(d.Payload))
	}
	res := punchResult{AToB: len(gotB) > 0, BToA: len(gotA) > 0}
	received := len(gotA) + len(gotB)

	// Answer every distinct source heard (peer-reflexive).
	answer := func(c net.PacketConn, got []vnettest.Datagram, payload string) {
		seen := map[netip.AddrPort]bool{}
		for _, d := range got {
			if !seen[d.From] {
				seen[d.From] = true
				natSend(t, c, payload, d.From)
				sent++
			}
		}
	}
	answer(ca, gotA, "answer from A")
	answer(cb, gotB, "answer from B")
	s.RunFor(time.Second)
	ansA, ansB := vnettest.Queued(t, ca), vnettest.Queued(t, cb)
	received += len(ansA) + len(ansB)
	res.Connected = len(gotA)+len(ansA) > 0 && len(gotB)+len(ansB) > 0

	// Nothing is lost silently: what did not arrive was filtered by a NAT.
	filtered := lanA.Stats().Dropped[vnet.ReasonNATFiltered] + lanB.Stats().Dropped[vnet.ReasonNATFiltered]
	assert.Equal(t, uint64(sent-received), filtered, "undelivered punches and answers are NAT-filtered drops")
	assert.Equal(t, filtered, lanA.Stats().NAT.InboundFiltered+lanB.Stats().NAT.InboundFiltered)
	assert.Empty(t, wan.Stats().Dropped)
	return res
}

// A symmetric NAT (the preset: random ports) gives one host's socket a
// different external port per destination, so what STUN reports is useless
// to a peer; a cone NAT gives one endpoint for all.
func TestSymmetricMappingPerDestination(t *testing.T) {
	for _, tc := range []struct {
		spec     natSpec
		samePort bool
	}{
		{presetSpec(nat.Symmetric), false},
		{presetSpec(nat.PortRestrictedCone), true},
		{pionSpec("pion APD/APD", vnet.EndpointAddrPortDependent, vnet.EndpointAddrPortDependent), false},
		{pionSpec("pion AD/APD", vnet.EndpointAddrDependent, vnet.EndpointAddrPortDependent), false},
	} {
		t.Run(tc.spec.name, func(t *testing.T) {
			s := sim.New(sim.Config{Seed: 3})
			wan, stun := natWAN(t, s)
			stun2, err := vnettest.Host(t, wan, "1.2.3.5").ListenPacket("udp4", "0.0.0.0:3478")
			require.NoError(t, err)
			lan := vnettest.Router(t, vnet.RouterConfig{Name: "lan", CIDR: "10.0.0.0/24", StaticIPs: []string{"1.2.3.100"}, NAT: tc.spec.cfg, NATType: tc.spec.natType})
			require.NoError(t, wan.AddRouter(lan))
			c, err := vnettest.Host(t, lan).ListenPacket("udp4", "0.0.0.0:5000")
			require.NoError(t, err)
			natSend(t, c, "1", stunAddr)
			natSend(t, c, "2", netip.MustParseAddrPort("1.2.3.5:3478"))
			s.RunFor(time.Second)
			seen1, seen2 := answerSTUN(t, s, stun), answerSTUN(t, s, stun2)
			require.Len(t, seen1, 1)
			require.Len(t, seen2, 1)
			assert.Equal(t, "1.2.3.100", seen1[0].Addr().String())
			assert.Equal(t, "1.2.3.100", seen2[0].Addr().String())
			assert.Equal(t, tc.samePort, seen1[0].Port() == seen2[0].Port(), "ports %d and %d", seen1[0].Port(), seen2[0].Port())
			ns := lan.Stats().NAT
			require.NotNil(t, ns)
			if tc.samePort {
				assert.Equal(t, uint64(1), ns.Created)
			} else {
				assert.Equal(t, uint64(2), ns.Created)
			}
			// Both answers come back to the one socket.
			s.RunFor(time.Second)
			assert.Len(t, vnettest.Queued(t, c), 2)
		})
	}
}

// Double NAT: a home router behind a carrier-grade NAT. The host reaches a
// WAN server through both, the server sees the CGN's address, and replies
// come back through both.
func TestDoubleNAT(t *testing.T) {
	s := sim.New(sim.Config{Seed: 11})
	wan, stun := natWAN(t, s)
	stun2, err := vnettest.Host(t, wan, "1.2.3.5").ListenPacket("udp4", "0.0.0.0:3478")
	require.NoError(t, err)
	cgnCfg := nat.CarrierGrade.Config()
	cgn := vnettest.Router(t, vnet.RouterConfig{Name: "cgn", CIDR: "100.64.0.0/10", StaticIPs: []string{"1.2.3.50"}, NAT: &cgnCfg, MinDelay: 5 * time.Millisecond})
	homeCfg := nat.PortRestrictedCone.Config()
	home := vnettest.Router(t, vnet.RouterConfig{Name: "home", CIDR: "192.168.1.0/24", NAT: &homeCfg, MinDelay: time.Millisecond})
	require.NoError(t, wan.AddRouter(cgn))
	require.NoError(t, cgn.AddRouter(home))
	require.Equal(t, []netip.Addr{netip.MustParseAddr("100.64.0.1")}, home.ExternalIPs(), "the home router's WAN side is on the CGN's shared space")
	host := vnettest.Host(t, home)
	require.Equal(t, "192.168.1.1", host.IP().String())

	var nats []string
	wan.Observe(func(r vnet.Record) {
		if r.Kind == vnet.KindTranslate {
			nats = append(nats, fmt.Sprintf("%s %s>%s => %s>%s", r.Where, r.Src, r.Dst, r.NewSrc, r.NewDst))
		}
	})

	c, err := host.ListenPacket("udp4", "0.0.0.0:4000")
	require.NoError(t, err)
	natSend(t, c, "hello", stunAddr)
	natSend(t, c, "hello", netip.MustParseAddrPort("1.2.3.5:3478"))
	s.RunFor(time.Second)
	seen1, seen2 := answerSTUN(t, s, stun), answerSTUN(t, s, stun2)
	require.Len(t, seen1, 1)
	require.Len(t, seen2, 1)
	ext := seen1[0]
	assert.Equal(t, "1.2.3.50", ext.Addr().String(), "the server sees the CGN's external address")
	assert.Equal(t, ext, seen2[0], "both NATs map endpoint-independently: one external endpoint for both servers")

	s.RunFor(time.Second)
	got := vnettest.Queued(t, c)
	require.Len(t, got, 2, "the replies come back through both NATs")
	// The two servers answer at one instant; their hosts' numbers order them.
	assert.ElementsMatch(t, []vnettest.Datagram{{Payload: []byte(ext.String()), From: stunAddr}, {Payload: []byte(ext.String()), From: netip.MustParseAddrPort("1.2.3.5:3478")}}, got)

	// The home NAT preserved the port (100.64.0.1:4000), the CGN picked one at random.
	assert.ElementsMatch(t, []string{
		"home 192.168.1.1:4000>1.2.3.4:3478 => 100.64.0.1:4000>1.2.3.4:3478",
		"home 192.168.1.1:4000>1.2.3.5:3478 => 100.64.0.1:4000>1.2.3.5:3478",
		fmt.Sprintf("cgn 100.64.0.1:4000>1.2.3.4:3478 => %s>1.2.3.4:3478", ext),
		fmt.Sprintf("cgn 100.64.0.1:4000>1.2.3.5:3478 => %s>1.2.3.5:3478", ext),
		fmt.Sprintf("cgn 1.2.3.4:3478>%s => 1.2.3.4:3478>100.64.0.1:4000", ext),
		fmt.Sprintf("cgn 1.2.3.5:3478>%s => 1.2.3.5:3478>100.64.0.1:4000", ext),
		"home 1.2.3.4:3478>100.64.0.1:4000 => 1.2.3.4:3478>192.168.1.1:4000",
		"home 1.2.3.5:3478>100.64.0.1:4000 => 1.2.3.5:3478>192.168.1.1:4000",
	}, nats)
	for _, r := range []*vnet.Router{home, cgn} {
		st := r.Stats()
		require.NotNil(t, st.NAT, r.Name())
		assert.Equal(t, uint64(1), st.NAT.Created, r.Name())
		assert.Equal(t, uint64(2), st.NAT.Outbound, r.Name())
		assert.Equal(t, uint64(2), st.NAT.Inbound, r.Name())
		assert.Empty(t, st.Dropped, r.Name())
	}

	// A WAN host that was never contacted cannot reach the host: the CGN
	// filters it (address-and-port-dependent filtering).
	intruder, err := vnettest.Host(t, wan, "1.2.3.66").ListenPacket("udp4", "0.0.0.0:3478")
	require.NoError(t, err)
	natSend(t, intruder, "knock", ext)
	s.RunFor(time.Second)
	assert.Empty(t, vnettest.Queued(t, c))
	assert.Equal(t, vnet.Drops{vnet.ReasonNATFiltered: 1}, cgn.Stats().Dropped)
}

// Hairpinning: host A reaches its neighbour B through the router's external
// address. With hairpinning on, B sees A's external endpoint as the source
// and can answer it; off, the router refuses and counts the drop.
func TestHairpinning(t *testing.T) {
	fullCone := nat.FullCone.Config()
	fullConeNoHairpin := nat.FullCone.Config()
	fullConeNoHairpin.Hairpinning = false
	prc := nat.PortRestrictedCone.Config()
	tests := []struct {
		name    string
		spec    natSpec
		hairpin bool
	}{
		{"preset full cone", natSpec{cfg: &fullCone}, true},
		{"preset port-restricted cone", natSpec{cfg: &prc}, true},
		{"full cone, hairpinning off", natSpec{cfg: &fullConeNoHairpin}, false},
		{"pion NATType Hairpinning true", natSpec{natType: &vnet.NATType{Hairpinning: true}}, true},
		{"pion NATType Hairpinning false", natSpec{natType: &vnet.NATType{}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := sim.New(sim.Config{Seed: 5})
			wan, stun := natWAN(t, s)
			lan := vnettest.Router(t, vnet.RouterConfig{Name: "lan", CIDR: "10.0.0.0/24", StaticIPs: []string{"1.2.3.100"},
				NAT: tc.spec.cfg, NATType: tc.spec.natType, MinDelay: time.Millisecond})
			require.NoError(t, wan.AddRouter(lan))
			ca, err := vnettest.Host(t, lan).ListenPacket("udp4", "0.0.0.0:5000")
			require.NoError(t, err)
			cb, err := vnettest.Host(t, lan).ListenPacket("udp4", "0.0.0.0:6000")
			require.NoError(t, err)
			var drops []vnet.Record
			wan.Observe(func(r vnet.Record) {
				if r.Kind == vnet.KindDrop {
					drops = append(drops, r)
				}
			})
			x := learnMapped(t, s, stun, ca, cb)
			xa, xb := x[0], x[1]
			if tc.spec.cfg != nil && tc.spec.cfg.Filtering != nat.EndpointIndependent {
				// A filtering NAT lets A in only once B has sent to A's
				// external endpoint: B's hairpinned packet opens X_B to X_A
				// (and is itself filtered at X_A, which is open to S only).
				natSend(t, cb, "open", xa)
				s.RunFor(time.Second)
				require.Empty(t, vnettest.Queued(t, ca))
			}

			natSend(t, ca, "hi B", xb)
			s.RunFor(time.Second)
			gotB := vnettest.Queued(t, cb)
			st := lan.Stats()
			if !tc.hairpin {
				assert.Empty(t, gotB)
				assert.Equal(t, uint64(1), st.Dropped[vnet.ReasonNATHairpin])
				assert.Equal(t, uint64(1), st.NAT.HairpinOff)
				require.NotEmpty(t, drops)
				last := drops[len(drops)-1]
				assert.Equal(t, vnet.ReasonNATHairpin, last.Reason)
				assert.Equal(t, "lan", last.Where)
				assert.Equal(t, netip.MustParseAddrPort("10.0.0.1:5000"), last.Src)
				assert.Equal(t, xb, last.Dst)
				return
			}
			require.Equal(t, []vnettest.Datagram{{Payload: []byte("hi B"), From: xa}}, gotB, "B sees A's external endpoint")
			natSend(t, cb, "hi A", gotB[0].From)
			s.RunFor(time.Second)
			assert.Equal(t, []vnettest.Datagram{{Payload: []byte("hi A"), From: xb}}, vnettest.Queued(t, ca))
			st = lan.Stats()
			assert.Zero(t, st.NAT.HairpinOff)
			assert.Zero(t, st.Dropped[vnet.ReasonNATHairpin])
			assert.Equal(t, uint64(2), st.NAT.Hairpinned)
			assert.Empty(t, wan.Stats().Dropped, "hairpinned packets never reach the WAN")
		})
	}
}

// Mappings expire on virtual time: 31 s of idleness kill a 30-second
// mapping, and a late reply is dropped (nat-no-mapping); a flow refreshed
// every 20 s lives on. Paced mode, so time passes with time.Sleep.
func TestMappingLifetime(t *testing.T) {
	build := func(t *testing.T, s *sim.Scheduler) (*vnet.Router, net.PacketConn, net.PacketConn, net.PacketConn) {
		wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: natWANCIDR, Scheduler: s, MinDelay: 10 * time.Millisecond})
		srv, err := vnettest.Host(t, wan, stunIP).ListenPacket("udp4", "0.0.0.0:3478")
		require.NoError(t, err)
		other, err := vnettest.Host(t, wan, "1.2.3.5").ListenPacket("udp4", "0.0.0.0:3478")
		require.NoError(t, err)
		lan := vnettest.Router(t, vnet.RouterConfig{Name: "lan", CIDR: "10.0.0.0/24", StaticIPs: []string{"1.2.3.100"},
			NATType: &vnet.NATType{
				MappingBehavior:   vnet.EndpointIndependent,
				FilteringBehavior: vnet.EndpointAddrPortDependent,
				MappingLifeTime:   30 * time.Second,
			}})
		require.NoError(t, wan.AddRouter(lan))
		c, err := vnettest.Host(t, lan).ListenPacket("udp4", "0.0.0.0:5000")
		require.NoError(t, err)
		return lan, c, srv, other
	}
	readFrom := func(t *testing.T, c net.PacketConn, within time.Duration) (string, netip.AddrPort, error) {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(within)))
		buf := make([]byte, 100)
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return "", netip.AddrPort{}, err
		}
		return string(buf[:n]), addrPortOf(t, from), nil
	}

	t.Run("idle 31s expires", func(t *testing.T) {
		simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
			lan, c, srv, _ := build(t, s)
			natSend(t, c, "hello", stunAddr)
			_, from, err := readFrom(t, srv, time.Second)
			require.NoError(t, err)
			sentAt := time.Now().Add(-10 * time.Millisecond) // the WAN hop took 10 ms after the NAT

			time.Sleep(time.Until(sentAt.Add(29 * time.Second)))
			st := lan.Stats().NAT
			assert.Equal(t, uint64(1), st.Active, "alive after 29 s")
			assert.Zero(t, st.Expired)

			time.Sleep(time.Until(sentAt.Add(31 * time.Second)))
			st = lan.Stats().NAT
			assert.Equal(t, uint64(0), st.Active, "the expiry event ran at 30 s")
			assert.Equal(t, uint64(1), st.Expired)

			natSend(t, srv, "late reply", from)
			_, _, err = readFrom(t, c, 5*time.Second)
			require.ErrorIs(t, err, os.ErrDeadlineExceeded, "the late reply never arrives")
			rs := lan.Stats()
			assert.Equal(t, vnet.Drops{vnet.ReasonNATNoMapping: 1}, rs.Dropped)
			assert.Equal(t, nat.Stats{Created: 1, Expired: 1, Active: 0, Outbound: 1, NoMapping: 1}, *rs.NAT)
			require.NoError(t, c.Close())
			require.NoError(t, srv.Close())
		})
	})

	t.Run("refreshed every 20s lives", func(t *testing.T) {
		simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
			lan, c, srv, other := build(t, s)
			start := time.Now()
			var ext netip.AddrPort
			for i := range 6 { // keepalives at 0, 20, ..., 100 s
				time.Sleep(time.Until(start.Add(time.Duration(i) * 20 * time.Second)))
				natSend(t, c, "keepalive", stunAddr)
				_, from, err := readFrom(t, srv, time.Second)
				require.NoError(t, err)
				if i == 0 {
					ext = from
				}
				assert.Equal(t, ext, from, "keepalive %d: the same mapping", i)
			}
			// 125 s after the mapping was made, 25 s after the last refresh.
			time.Sleep(time.Until(start.Add(125 * time.Second)))
			natSend(t, srv, "reply", ext)
			msg, from, err := readFrom(t, c, time.Second)
			require.NoError(t, err)
			assert.Equal(t, "reply", msg)
			assert.Equal(t, stunAddr, from)

			// Someone the host never sent to is filtered, counted.
			natSend(t, other, "intruder", ext)
			_, _, err = readFrom(t, c, time.Second)
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)

			rs := lan.Stats()
			assert.Equal(t, vnet.Drops{vnet.ReasonNATFiltered: 1}, rs.Dropped)
			assert.Equal(t, nat.Stats{Created: 1, Active: 1, Outbound: 6, Inbound: 1, InboundFiltered: 1}, *rs.NAT)

			// And once the host goes quiet, it expires 30 s after the last keepalive.
			time.Sleep(time.Until(start.Add(130*time.Second + time.Millisecond)))
			rs = lan.Stats()
			assert.Equal(t, uint64(0), rs.NAT.Active)
			assert.Equal(t, uint64(1), rs.NAT.Expired)
			require.NoError(t, c.Close())
			require.NoError(t, srv.Close())
			require.NoError(t, other.Close())
		})
	})
}

// 1:1 NAT (pion's NATModeNAT1To1, StaticIPs "public/private"): the public
// address leads to the private host with no mapping needed, and the host's
// packets leave with the public address and their own ports.
func TestOneToOneNAT(t *testing.T) {
	s := sim.New(sim.Config{Seed: 1})
	wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: natWANCIDR, Scheduler: s, MinDelay: 10 * time.Millisecond})
	client, err := vnettest.Host(t, wan, stunIP).ListenPacket("udp4", "0.0.0.0:9000")
	require.NoError(t, err)
	cloud := vnettest.Router(t, vnet.RouterConfig{Name: "cloud", CIDR: "10.0.0.0/24",
		StaticIPs: []string{"1.2.3.100/10.0.0.5"},
		NATType:   &vnet.NATType{Mode: vnet.NATModeNAT1To1},
	})
	require.NoError(t, wan.AddRouter(cloud))
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("1.2.3.100")}, cloud.ExternalIPs())
	vmNet := vnettest.Host(t, cloud, "10.0.0.5")
	other := vnettest.Host(t, cloud)
	assert.Equal(t, "10.0.0.1", other.IP().String())

	vm, err := vmNet.ListenPacket("udp4", "0.0.0.0:8000")
	require.NoError(t, err)

	// Unsolicited inbound: the VM has sent nothing, yet the packet arrives.
	natSend(t, client, "unsolicited", netip.MustParseAddrPort("1.2.3.100:8000"))
	s.RunFor(time.Second)
	assert.Equal(t, []vnettest.Datagram{{Payload: []byte("unsolicited"), From: netip.MustParseAddrPort("1.2.3.4:9000")}}, vnettest.Queued(t, vm))

	// Outbound: public source address, ports unchanged (a fixed and an ephemeral one).
	eph, err := vmNet.ListenPacket("udp4", "0.0.0.0:0")
	require.NoError(t, err)
	natSend(t, vm, "from 8000", netip.MustParseAddrPort("1.2.3.4:9000"))
	natSend(t, eph, "from ephemeral", netip.MustParseAddrPort("1.2.3.4:9000"))
	s.RunFor(time.Second)
	ephPort := eph.LocalAddr().(*net.UDPAddr).Port
	assert.Equal(t, []vnettest.Datagram{
		{Payload: []byte("from 8000"), From: netip.MustParseAddrPort("1.2.3.100:8000")},
		{Payload: []byte("from ephemeral"), From: netip.AddrPortFrom(netip.MustParseAddr("1.2.3.100"), uint16(ephPort))},
	}, vnettest.Queued(t, client))

	// A host without a pair has no way out (no address pool): dropped, counted.
	oc, err := other.ListenPacket("udp4", "0.0.0.0:0")
	require.NoError(t, err)
	natSend(t, oc, "no pair", netip.MustParseAddrPort("1.2.3.4:9000"))
	s.RunFor(time.Second)
	assert.Empty(t, vnettest.Queued(t, client))

	st := cloud.Stats()
	assert.Equal(t, vnet.Drops{vnet.ReasonNATNoMapping: 1}, st.Dropped)
	assert.Equal(t, nat.Stats{Outbound: 2, Inbound: 1, NoMapping: 1}, *st.NAT, "1:1 keeps no mappings")
}

// pion's names: a test written for pion's vnet, with its NATType fields and
// constants, compiles and runs unchanged but for the Scheduler field that
// puts it on virtual time.
func TestPionStyleNAT(t *testing.T) {
	// The enum values translate to the nat package's behaviours.
	for _, tc := range []struct {
		in   vnet.EndpointDependencyType
		want nat.Behavior
	}{
		{vnet.EndpointIndependent, nat.EndpointIndependent},
		{vnet.EndpointAddrDependent, nat.AddressDependent},
		{vnet.EndpointAddrPortDependent, nat.AddressAndPortDependent},
	} {
		cfg := vnet.NATType{MappingBehavior: tc.in, FilteringBehavior: tc.in}.Config()
		assert.Equal(t, tc.want, cfg.Mapping)
		assert.Equal(t, tc.want, cfg.Filtering)
	}
	cfg := vnet.NATType{Mode: vnet.NATModeNormal, Hairpinning: true, PortPreservation: true, MappingLifeTime: time.Minute}.Config()
	assert.True(t, cfg.Hairpinning)
	assert.True(t, cfg.PortPreservation)
	assert.Equal(t, time.Minute, cfg.MappingLifetime)

	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		loggerFactory := logging.NewDefaultLoggerFactory()
		loggerFactory.DefaultLogLevel = logging.LogLevelWarn

		wan, err := vnet.NewRouter(&vnet.RouterConfig{
			CIDR:          "1.2.3.0/24",
			LoggerFactory: loggerFactory,
			Scheduler:     s, // the one line pion's test lacks
		})
		require.NoError(t, err)

		lan, err := vnet.NewRouter(&vnet.RouterConfig{
			StaticIPs: []string{"1.2.3.100"},
			CIDR:      "192.168.0.0/24",
			NATType: &vnet.NATType{
				Mode:              vnet.NATModeNormal,
				MappingBehavior:   vnet.EndpointIndependent,
				FilteringBehavior: vnet.EndpointAddrPortDependent,
				Hairpinning:       false,
				PortPreservation:  false,
				MappingLifeTime:   30 * time.Second,
			},
			LoggerFactory: loggerFactory,
		})
		require.NoError(t, err)
		require.NoError(t, wan.AddRouter(lan))

		cloud, err := vnet.NewRouter(&vnet.RouterConfig{
			StaticIPs:     []string{"1.2.3.200/10.0.0.2"},
			CIDR:          "10.0.0.0/24",
			NATType:       &vnet.NATType{Mode: vnet.NATModeNAT1To1},
			LoggerFactory: loggerFactory,
		})
		require.NoError(t, err)
		require.NoError(t, wan.AddRouter(cloud))

		clientNet, err := vnet.NewNet(&vnet.NetConfig{})
		require.NoError(t, err)
		require.NoError(t, lan.AddNet(clientNet))
		serverNet, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"10.0.0.2"}})
		require.NoError(t, err)
		require.NoError(t, cloud.AddNet(serverNet))

		require.NoError(t, wan.Start())
		defer func() { assert.NoError(t, wan.Stop()) }()

		server, err := serverNet.ListenPacket("udp4", "0.0.0.0:5678")
		require.NoError(t, err)
		done := make(chan string, 1)
		go func() {
			buf := make([]byte, 1500)
			n, addr, err := server.ReadFrom(buf)
			if err != nil {
				done <- err.Error()
				return
			}
			done <- string(buf[:n]) + " from " + addr.String()
			_, _ = server.WriteTo([]byte("Good-bye!"), addr)
		}()

		client, err := clientNet.ListenPacket("udp4", "0.0.0.0:0")
		require.NoError(t, err)
		serverAddr, err := clientNet.ResolveUDPAddr("udp4", "1.2.3.200:5678")
		require.NoError(t, err)
		_, err = client.WriteTo([]byte("Hello!"), serverAddr)
		require.NoError(t, err)

		assert.Equal(t, "Hello! from 1.2.3.100:1024", <-done, "the NAT (no port preservation) maps to its first port")
		buf := make([]byte, 1500)
		n, from, err := client.ReadFrom(buf)
		require.NoError(t, err)
		assert.Equal(t, "Good-bye!", string(buf[:n]))
		assert.Equal(t, "1.2.3.200:5678", from.String())
		require.NoError(t, client.Close())
		require.NoError(t, server.Close())
	})
}

// A symmetric NAT gives one socket a different external port for each
// destination: two servers see the same address with two ports. The NAT is
// described with pion's names; without RandomPorts the ports are sequential.
func ExampleNATType() {
	s := sim.New(sim.Config{Seed: 1})
	wan, _ := vnet.NewRouter(&vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s})
	lan, _ := vnet.NewRouter(&vnet.RouterConfig{
		Name:      "lan",
		CIDR:      "192.168.0.0/24",
		StaticIPs: []string{"1.2.3.100"},
		NATType: &vnet.NATType{
			MappingBehavior:   vnet.EndpointAddrPortDependent,
			FilteringBehavior: vnet.EndpointAddrPortDependent,
		},
	})
	if err := wan.AddRouter(lan); err != nil {
		panic(err)
	}
	var servers []net.PacketConn
	for _, ip := range []string{"1.2.3.4", "1.2.3.5"} {
		n, _ := vnet.NewNet(&vnet.NetConfig{StaticIP: ip})
		if err := wan.AddNet(n); err != nil {
			panic(err)
		}
		c, _ := n.ListenPacket("udp4", ip+":3478")
		servers = append(servers, c)
	}
	host, _ := vnet.NewNet(&vnet.NetConfig{})
	if err := lan.AddNet(host); err != nil {
		panic(err)
	}

	c, _ := host.ListenPacket("udp4", "0.0.0.0:5000")
	for _, srv := range servers {
		if _, err := c.WriteTo([]byte("binding request"), srv.LocalAddr()); err != nil {
			panic(err)
		}
	}
	s.RunFor(time.Second)

	buf := make([]byte, 1500)
	for _, srv := range servers {
		_, from, _ := srv.ReadFrom(buf)
		fmt.Printf("%s sees %s\n", srv.LocalAddr(), from)
	}
	fmt.Println("mappings:", lan.Stats().NAT.Active)
	// Output:
	// 1.2.3.4:3478 sees 1.2.3.100:1024
	// 1.2.3.5:3478 sees 1.2.3.100:1025
	// mappings: 2
}

// A hairpinned packet that the NAT drops on its inbound half still leaves
// the mapping its outbound half made (as a real NAT would), and that mapping
// must expire on virtual time like any other.
func TestFailedHairpinMappingExpires(t *testing.T) {
	s := sim.New(sim.Config{Seed: 1})
	wan := vnettest.Router(t, vnet.RouterConfig{Name: "wan", CIDR: natWANCIDR, Scheduler: s})
	cfg := nat.PortRestrictedCone.Config()
	lan := vnettest.Router(t, vnet.RouterConfig{Name: "lan", CIDR: "10.0.0.0/24", StaticIPs: []string{"1.2.3.100"}, NAT: &cfg})
	require.NoError(t, wan.AddRouter(lan))
	c, err := vnettest.Host(t, lan).ListenPacket("udp4", "0.0.0.0:5000")
	require.NoError(t, err)

	// The host's first packet goes to its own NAT's address, where nothing is mapped.
	natSend(t, c, "to nobody", netip.MustParseAddrPort("1.2.3.100:7777"))
	s.RunFor(time.Second)
	st := lan.Stats()
	assert.Equal(t, vnet.Drops{vnet.ReasonNATNoMapping: 1}, st.Dropped)
	assert.Equal(t, uint64(1), st.NAT.Active, "the outbound half made a mapping")

	s.RunFor(30 * time.Second)
	st = lan.Stats()
	assert.Equal(t, uint64(0), st.NAT.Active, "expired 30 s later")
	assert.Equal(t, uint64(1), st.NAT.Expired)
}

// A NAT's random ports come from the world's seed and the router's name,
// whatever order the tree was built in: a subtree built on its own and
// attached later gets the same ports as one attached top-down.
func TestNATPortsIndependentOfBuildOrder(t *testing.T) {
	portsSeen := func(t *testing.T, seed uint64, bottomUp bool) []string {
		s := sim.New(sim.Config{Seed: seed})
		wan, _ := natWAN(t, s)
		_, err := vnettest.Host(t, wan, "1.2.3.5").ListenPacket("udp4", "0.0.0.0:3478")
		require.NoError(t, err)
		cgnCfg, homeCfg := nat.Symmetric.Config(), nat.Symmetric.Config()
		cgn := vnettest.Router(t, vnet.RouterConfig{Name: "cgn", CIDR: "100.64.0.0/10", StaticIPs: []string{"1.2.3.50"}, NAT: &cgnCfg})
		home := vnettest.Router(t, vnet.RouterConfig{Name: "home", CIDR: "192.168.1.0/24", NAT: &homeCfg})
		if bottomUp {
			require.NoError(t, cgn.AddRouter(home))
			require.NoError(t, wan.AddRouter(cgn))
		} else {
			require.NoError(t, wan.AddRouter(cgn))
			require.NoError(t, cgn.AddRouter(home))
		}
		var seen []string
		wan.Observe(func(r vnet.Record) {
			if r.Kind == vnet.KindTranslate {
				seen = append(seen, r.Where+" "+r.NewSrc.String())
			}
		})
		c, err := vnettest.Host(t, home).ListenPacket("udp4", "0.0.0.0:4000")
		require.NoError(t, err)
		natSend(t, c, "1", stunAddr)
		natSend(t, c, "2", netip.MustParseAddrPort("1.2.3.5:3478"))
		s.RunFor(time.Second)
		require.Len(t, seen, 4, "two packets through two NATs")
		return seen
	}
	for _, seed := range []uint64{1, 2} {
		assert.Equal(t, portsSeen(t, seed, false), portsSeen(t, seed, true), "seed %d", seed)
	}
	assert.NotEqual(t, portsSeen(t, 1, true), portsSeen(t, 2, true), "the seed chooses the ports")
}

// Two subscribers of one carrier-grade NAT, each behind a port-restricted
// home router, punch a hole to each other through the CGN's external
// endpoints that STUN reported: the CGN hairpins (RFC 6888 REQ-9) and each
// side sees the other's CGN endpoint.
func TestHolePunchBehindOneCGN(t *testing.T) {
	s := sim.New(sim.Config{Seed: 9})
	wan, stun := natWAN(t, s)
	cgnCfg := nat.CarrierGrade.Config()
	cgn := vnettest.Router(t, vnet.RouterConfig{Name: "cgn", CIDR: "100.64.0.0/10", StaticIPs: []string{"1.2.3.50"}, NAT: &cgnCfg, MinDelay: 2 * time.Millisecond})
	require.NoError(t, wan.AddRouter(cgn))
	var conns []net.PacketConn
	var homes []*vnet.Router
	for i, cidr := range []string{"192.168.1.0/24", "192.168.2.0/24"} {
		cfg := nat.PortRestrictedCone.Config()
		home := vnettest.Router(t, vnet.RouterConfig{Name: fmt.Sprintf("home%d", i+1), CIDR: cidr, NAT: &cfg, MinDelay: time.Millisecond})
		require.NoError(t, cgn.AddRouter(home))
		c, err := vnettest.Host(t, home).ListenPacket("udp4", "0.0.0.0:5000")
		require.NoError(t, err)
		conns, homes = append(conns, c), append(homes, home)
	}
	x := learnMapped(t, s, stun, conns...)
	require.Equal(t, x[0].Addr(), x[1].Addr(), "both behind the CGN's one address")
	require.NotEqual(t, x[0].Port(), x[1].Port())

	for range 2 {
		natSend(t, conns[0], "from 1", x[1])
		natSend(t, conns[1], "from 2", x[0])
		s.RunFor(time.Second)
	}
	got1, got2 := vnettest.Queued(t, conns[0]), vnettest.Queued(t, conns[1])
	require.NotEmpty(t, got1)
	require.NotEmpty(t, got2)
	for _, d := range got1 {
		assert.Equal(t, vnettest.Datagram{Payload: []byte("from 2"), From: x[1]}, d)
	}
	for _, d := range got2 {
		assert.Equal(t, vnettest.Datagram{Payload: []byte("from 1"), From: x[0]}, d)
	}
	st := cgn.Stats()
	assert.Equal(t, uint64(len(got1)+len(got2)), st.NAT.Hairpinned)
	assert.Equal(t, uint64(4-len(got1)-len(got2)), st.Dropped[vnet.ReasonNATFiltered], "first punches meet a closed mapping")
	assert.Empty(t, wan.Stats().Dropped, "hairpinned punches never reach the WAN")
	for _, h := range homes {
		assert.Empty(t, h.Stats().Dropped, h.Name())
	}
}

// A NAT out of room drops new flows, counted, and keeps serving old ones.
func TestNATExhaustedIsCounted(t *testing.T) {
	s := sim.New(sim.Config{Seed: 1})
	wan, stun := natWAN(t, s)
	stun2, err := vnettest.Host(t, wan, "1.2.3.5").ListenPacket("udp4", "0.0.0.0:3478")
	require.NoError(t, err)
	lan := vnettest.Router(t, vnet.RouterConfig{Name: "lan", CIDR: "10.0.0.0/24", StaticIPs: []string{"1.2.3.100"},
		NATType: &vnet.NATType{MappingBehavior: vnet.EndpointAddrPortDependent, FilteringBehavior: vnet.EndpointAddrPortDependent, MaxMappings: 1}})
	require.NoError(t, wan.AddRouter(lan))
	c, err := vnettest.Host(t, lan).ListenPacket("udp4", "0.0.0.0:5000")
	require.NoError(t, err)
	natSend(t, c, "first", stunAddr)
	natSend(t, c, "second", netip.MustParseAddrPort("1.2.3.5:3478"))
	natSend(t, c, "first again", stunAddr)
	s.RunFor(time.Second)
	assert.Len(t, vnettest.Queued(t, stun), 2, "the first flow's mapping serves both its packets")
	assert.Empty(t, vnettest.Queued(t, stun2), "a second destination needs a second mapping (symmetric): no room")
	st := lan.Stats()
	assert.Equal(t, vnet.Drops{vnet.ReasonNATExhausted: 1}, st.Dropped)
	assert.Equal(t, uint64(1), st.NAT.Exhausted)
	assert.Equal(t, uint64(1), st.NAT.Active)
}
