package iceserver

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"testing/synctest"

	"github.com/pion/stun/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
)

func bindingRequest(t *testing.T, extra ...stun.Setter) *stun.Message {
	t.Helper()
	setters := append([]stun.Setter{stun.BindingRequest, stun.TransactionID}, extra...)
	m, err := stun.Build(setters...)
	require.NoError(t, err)

	return m
}

func xorMapped(t *testing.T, m *stun.Message) netip.AddrPort {
	t.Helper()
	var a stun.XORMappedAddress
	require.NoError(t, a.GetFrom(m))

	return toAddrPort(a.IP, a.Port)
}

// TestSTUNBinding checks the plain server (one socket): the mapped address
// is the sender's address as the server sees it, both for a WAN host and
// for a host behind a NAT, in XOR-MAPPED-ADDRESS and MAPPED-ADDRESS, with
// RESPONSE-ORIGIN, SOFTWARE and a valid FINGERPRINT, and no OTHER-ADDRESS.
func TestSTUNBinding(t *testing.T) {
	tests := []struct {
		name     string
		nw       func(*lab) *vnet.Net
		local    string
		wantIP   netip.Addr
		wantPort uint16
	}{
		{name: "wan host", nw: func(l *lab) *vnet.Net { return l.wanHost }, local: "1.2.3.10:4000", wantIP: wanIP, wantPort: 4000},
		// The full-cone preset preserves ports.
		{name: "behind NAT", nw: func(l *lab) *vnet.Net { return l.client }, local: "0.0.0.0:4000", wantIP: natIP, wantPort: 4000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inLab(t, withNAT(nat.FullCone.Config()), func(t *testing.T, l *lab) {
				srv := l.startSTUN(t, STUNConfig{Net: l.server, Address: netip.AddrPortFrom(ip1, 0), Software: "vnetsim-test"})
				require.Equal(t, stunP1, srv.Addr(), "port 0 means 3478")
				require.False(t, srv.OtherAddr().IsValid())
				conn := l.listen(t, tt.nw(l), tt.local)

				req := bindingRequest(t, stun.Fingerprint)
				resp, from := exchange(t, conn, stunP1, req)
				assert.Equal(t, stunP1, from)
				assert.Equal(t, stun.BindingSuccess, resp.Type)
				assert.Equal(t, req.TransactionID, resp.TransactionID)
				assert.NoError(t, stun.Fingerprint.Check(resp))

				mapped := xorMapped(t, resp)
				assert.Equal(t, netip.AddrPortFrom(tt.wantIP, tt.wantPort), mapped)
				var plain stun.MappedAddress
				require.NoError(t, plain.GetFrom(resp))
				assert.Equal(t, mapped, toAddrPort(plain.IP, plain.Port))

				var origin stun.ResponseOrigin
				require.NoError(t, origin.GetFrom(resp))
				assert.Equal(t, stunP1, toAddrPort(origin.IP, origin.Port))
				assert.False(t, resp.Contains(stun.AttrOtherAddress))
				var sw stun.Software
				require.NoError(t, sw.GetFrom(resp))
				assert.Equal(t, "vnetsim-test", sw.String())

				st := srv.Stats()
				assert.Equal(t, uint64(1), st.Received)
				assert.Equal(t, uint64(1), st.Responses)
			})
		})
	}
}

// TestSTUNChangeRequest checks RFC 5780 behaviour for every receiving socket
// and every CHANGE-REQUEST: the answer comes from the requested socket,
// RESPONSE-ORIGIN names it, and OTHER-ADDRESS names the socket differing
// from the receiving one in both IP and port.
func TestSTUNChangeRequest(t *testing.T) {
	ips := [2]netip.Addr{ip1, ip2}
	ports := [2]uint16{3478, 3479}
	for i := range 2 {
		for p := range 2 {
			to := netip.AddrPortFrom(ips[i], ports[p])
			for _, change := range []ChangeRequest{{}, {ChangePort: true}, {ChangeIP: true}, {ChangeIP: true, ChangePort: true}} {
				t.Run(fmt.Sprintf("to %s change ip=%v port=%v", to, change.ChangeIP, change.ChangePort), func(t *testing.T) {
					inLab(t, vnet.RouterConfig{}, func(t *testing.T, l *lab) {
						srv := l.startSTUN(t, STUNConfig{Net: l.server, Address: stunP1, OtherAddress: netip.AddrPortFrom(ip2, 0)})
						require.Equal(t, stunP2, srv.OtherAddr(), "port 0 means the primary port plus one")
						conn := l.listen(t, l.wanHost, "1.2.3.10:4000")

						wantFrom := to
						if change.ChangeIP {
							wantFrom = netip.AddrPortFrom(ips[i^1], wantFrom.Port())
						}
						if change.ChangePort {
							wantFrom = netip.AddrPortFrom(wantFrom.Addr(), ports[p^1])
						}
						wantOther := netip.AddrPortFrom(ips[i^1], ports[p^1])

						resp, from := exchange(t, conn, to, bindingRequest(t, change))
						assert.Equal(t, stun.BindingSuccess, resp.Type)
						assert.Equal(t, wantFrom, from, "answered from the wrong socket")
						var origin stun.ResponseOrigin
						require.NoError(t, origin.GetFrom(resp))
						assert.Equal(t, wantFrom, toAddrPort(origin.IP, origin.Port))
						var other stun.OtherAddress
						require.NoError(t, other.GetFrom(resp))
						assert.Equal(t, wantOther, toAddrPort(other.IP, other.Port))
						assert.Equal(t, netip.MustParseAddrPort("1.2.3.10:4000"), xorMapped(t, resp))
						assert.Equal(t, uint64(1), srv.Stats().Responses)
					})
				})
			}
		}
	}
}

// requireAccounted checks the STUNStats invariant: every datagram read
// landed in exactly one outcome.
func requireAccounted(t *testing.T, s STUNStats) {
	t.Helper()
	assert.Equal(t, s.Received, s.Responses+s.ErrorResponses+s.DroppedNotSTUN+s.DroppedMalformed+
		s.DroppedNotRequest+s.DroppedTruncated+s.WriteErrors, "every datagram accounted for: %+v", s)
}

// TestSTUNErrors checks the answers to requests the server cannot serve.
func TestSTUNErrors(t *testing.T) {
	badChange := stun.RawAttribute{Type: stun.AttrChangeRequest, Value: make([]byte, 8)}
	unknown := stun.RawAttribute{Type: 0x7777, Value: []byte{1, 2, 3, 4}}
	tests := []struct {
		name        string
		rfc5780     bool
		req         *stun.Message
		wantCode    stun.ErrorCode
		wantUnknown []stun.AttrType
	}{
		{
			name:     "CHANGE-REQUEST without RFC 5780",
			req:      bindingRequest(t, ChangeRequest{ChangeIP: true}),
			wantCode: stun.CodeUnknownAttribute, wantUnknown: []stun.AttrType{stun.AttrChangeRequest},
		},
		{
			name: "unknown comprehension-required attribute", rfc5780: true,
			req:      bindingRequest(t, unknown),
			wantCode: stun.CodeUnknownAttribute, wantUnknown: []stun.AttrType{0x7777},
		},
		{
			name: "RESPONSE-PORT is not supported", rfc5780: true,
			req:      bindingRequest(t, stun.RawAttribute{Type: stun.AttrResponsePort, Value: []byte{0x10, 0, 0, 0}}),
			wantCode: stun.CodeUnknownAttribute, wantUnknown: []stun.AttrType{stun.AttrResponsePort},
		},
		{
			name: "malformed CHANGE-REQUEST", rfc5780: true,
			req:      bindingRequest(t, badChange),
			wantCode: stun.CodeBadRequest,
		},
		{
			name:     "method other than Binding",
			req:      stun.MustBuild(stun.NewType(stun.MethodAllocate, stun.ClassRequest), stun.TransactionID),
			wantCode: stun.CodeBadRequest,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inLab(t, vnet.RouterConfig{}, func(t *testing.T, l *lab) {
				cfg := STUNConfig{Net: l.server, Address: stunP1}
				if tt.rfc5780 {
					cfg.OtherAddress = stunP2
				}
				srv := l.startSTUN(t, cfg)
				conn := l.listen(t, l.wanHost, "1.2.3.10:4000")

				resp, from := exchange(t, conn, srv.Addr(), tt.req)
				assert.Equal(t, srv.Addr(), from)
				assert.Equal(t, stun.ClassErrorResponse, resp.Type.Class)
				assert.Equal(t, tt.req.Type.Method, resp.Type.Method)
				assert.Equal(t, tt.req.TransactionID, resp.TransactionID)
				var code stun.ErrorCodeAttribute
				require.NoError(t, code.GetFrom(resp))
				assert.Equal(t, tt.wantCode, code.Code)
				if tt.wantUnknown != nil {
					var ua stun.UnknownAttributes
					require.NoError(t, ua.GetFrom(resp))
					assert.Equal(t, tt.wantUnknown, []stun.AttrType(ua))
				}
				st := srv.Stats()
				assert.Equal(t, uint64(1), st.ErrorResponses)
				requireAccounted(t, st)
			})
		})
	}
}

// TestSTUNDrops checks that datagrams the server must not answer are
// dropped and counted. Each is followed by a good request, so that its
// answer proves the dropped one has been processed (the socket's datagrams
// are read in order). The links carry jumbo frames, so that a datagram
// longer than the server's read buffer gets there: vnet refuses to send
// what exceeds the MTU rather than fragment it.
func TestSTUNDrops(t *testing.T) {
	junk := []struct {
		name string
		data []byte
	}{
		{"not STUN", []byte("hello, world")},
		{"malformed STUN", func() []byte {
			m := bindingRequest(t)
			m.Raw[3] = 40 // claims 40 bytes of attributes that are not there

			return m.Raw
		}()},
		{"indication", stun.MustBuild(stun.NewType(stun.MethodBinding, stun.ClassIndication), stun.TransactionID).Raw},
		{"response", stun.MustBuild(stun.BindingSuccess, stun.TransactionID).Raw},
		// A Binding request the server would answer, were it not too long.
		{"truncated", bindingRequest(t, stun.RawAttribute{Type: 0x8000, Value: make([]byte, maxSTUNDatagram)}).Raw},
	}
	inLab(t, vnet.RouterConfig{MTU: 9000}, func(t *testing.T, l *lab) {
		srv := l.startSTUN(t, STUNConfig{Net: l.server, Address: stunP1})
		conn := l.listen(t, l.wanHost, "1.2.3.10:4000")
		for _, j := range junk {
			_, err := conn.WriteTo(j.data, net.UDPAddrFromAddrPort(srv.Addr()))
			require.NoError(t, err, j.name)
			resp, _ := exchange(t, conn, srv.Addr(), bindingRequest(t))
			assert.Equal(t, stun.BindingSuccess, resp.Type, "%s: the dropped datagram got an answer", j.name)
		}

		st := srv.Stats()
		assert.Equal(t, uint64(1), st.DroppedNotSTUN)
		assert.Equal(t, uint64(1), st.DroppedMalformed)
		assert.Equal(t, uint64(2), st.DroppedNotRequest)
		assert.Equal(t, uint64(1), st.DroppedTruncated)
		assert.Equal(t, uint64(len(junk)), st.Responses)
		assert.Equal(t, uint64(2*len(junk)), st.Received)
		requireAccounted(t, st)
	})
}

// TestSTUNConfigErrors needs a Net but no traffic, so it builds the lab on
// a scheduler that never runs.
func TestSTUNConfigErrors(t *testing.T) {
	l := newLab(t, sim.New(sim.Config{Seed: testSeed}), vnet.RouterConfig{})
	tests := []struct {
		name string
		cfg  STUNConfig
	}{
		{"no Net", STUNConfig{Address: stunP1}},
		{"no address", STUNConfig{Net: l.server}},
		{"unspecified address", STUNConfig{Net: l.server, Address: netip.MustParseAddrPort("0.0.0.0:3478")}},
		{"other port without IP", STUNConfig{Net: l.server, Address: stunP1, OtherAddress: netip.AddrPortFrom(netip.Addr{}, 9)}},
		{"other IP equals primary", STUNConfig{Net: l.server, Address: stunP1, OtherAddress: netip.AddrPortFrom(ip1, 3479)}},
		{"other port equals primary", STUNConfig{Net: l.server, Address: stunP1, OtherAddress: netip.AddrPortFrom(ip2, 3478)}},
		{"mixed families", STUNConfig{Net: l.server, Address: stunP1, OtherAddress: netip.MustParseAddrPort("[2001:db8::1]:3479")}},
		{"unspecified other", STUNConfig{Net: l.server, Address: stunP1, OtherAddress: netip.MustParseAddrPort("0.0.0.0:3479")}},
		{"no port left for other", STUNConfig{Net: l.server, Address: netip.AddrPortFrom(ip1, 65535), OtherAddress: netip.AddrPortFrom(ip2, 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := StartSTUN(tt.cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Nil(t, s)
		})
	}

	t.Run("address not on the Net", func(t *testing.T) {
		_, err := StartSTUN(STUNConfig{Net: l.server, Address: netip.MustParseAddrPort("9.9.9.9:3478")})
		require.ErrorIs(t, err, vnet.ErrAddressNotAvailable)
		assert.NotErrorIs(t, err, ErrInvalidConfig)
	})
	t.Run("address in use closes what was opened", func(t *testing.T) {
		busy, err := l.server.ListenPacket("udp4", "1.2.3.5:3479") // the last of the four sockets
		require.NoError(t, err)
		_, err = StartSTUN(STUNConfig{Net: l.server, Address: stunP1, OtherAddress: stunP2})
		require.ErrorIs(t, err, vnet.ErrAddressInUse)
		require.NoError(t, busy.Close())
		// The three sockets opened before the failure were closed again.
		s, err := StartSTUN(STUNConfig{Net: l.server, Address: stunP1, OtherAddress: stunP2})
		require.NoError(t, err)
		require.NoError(t, s.Close())
	})
}

// TestSTUNCloseEndsGoroutines checks that Close returns only after every
// serving goroutine has returned, that the sockets are released, and that
// closing twice is harmless.
func TestSTUNCloseEndsGoroutines(t *testing.T) {
	inLab(t, vnet.RouterConfig{}, func(t *testing.T, l *lab) {
		s, err := StartSTUN(STUNConfig{Net: l.server, Address: stunP1, OtherAddress: stunP2})
		require.NoError(t, err)
		l.onClose(func() { _ = s.Close() }) // should the test fail before its own Close
		synctest.Wait()
		require.Len(t, goroutinesMatching("iceserver.(*STUNServer).serve"), 4, "one goroutine per socket")

		require.NoError(t, s.Close())
		assert.Empty(t, goroutinesMatching("iceserver.(*STUNServer).serve"), "Close returned before its goroutines")
		require.NoError(t, s.Close())

		again, err := StartSTUN(STUNConfig{Net: l.server, Address: stunP1, OtherAddress: stunP2})
		require.NoError(t, err, "sockets were not released")
		require.NoError(t, again.Close())
	})
}

// TestSTUNAnswerAllocs proves that answering a Binding request, with or
// without CHANGE-REQUEST, allocates nothing once a worker is warm.
func TestSTUNAnswerAllocs(t *testing.T) {
	s, w, reqs := answerFixture(t)
	src := netip.MustParseAddrPort("1.2.3.100:49152")
	for _, req := range reqs {
		_, v := s.answer(s.socks[0][0], req, src, w) // warm up
		require.Equal(t, verdictSuccess, v)
		allocs := testing.AllocsPerRun(100, func() {
			s.answer(s.socks[0][0], req, src, w)
		})
		assert.Zero(t, allocs)
	}
}

// answerFixture builds a server with four fake sockets (answer never touches
// them) and Binding requests without and with CHANGE-REQUEST.
func answerFixture(t testing.TB) (*STUNServer, *stunWorker, [][]byte) {
	s := &STUNServer{rfc5780: true, software: stun.NewSoftware("bench")}
	addrs := [2][2]netip.AddrPort{
		{stunP1, netip.AddrPortFrom(ip1, 3479)},
		{netip.AddrPortFrom(ip2, 3478), stunP2},
	}
	for i := range 2 {
		for p := range 2 {
			s.socks[i][p] = &stunSocket{addr: addrs[i][p], ip: addrs[i][p].Addr().AsSlice(), ipIdx: i, prtIdx: p}
		}
	}
	plain, err := stun.Build(stun.BindingRequest, stun.TransactionID, stun.Fingerprint)
	require.NoError(t, err)
	change, err := stun.Build(stun.BindingRequest, stun.TransactionID, ChangeRequest{ChangeIP: true, ChangePort: true}, stun.Fingerprint)
	require.NoError(t, err)

	return s, &stunWorker{}, [][]byte{plain.Raw, change.Raw}
}

func BenchmarkSTUNAnswer(b *testing.B) {
	s, w, reqs := answerFixture(b)
	src := netip.MustParseAddrPort("1.2.3.100:49152")
	b.ReportAllocs()
	for b.Loop() {
		s.answer(s.socks[0][0], reqs[1], src, w)
	}
}

// BenchmarkSTUNRoundTrip measures one Binding round trip through vnetsim's
// vnet with the scheduler's paced loop on the wall clock (outside a bubble
// a benchmark has nothing else): five scheduler events, two socket
// hand-overs and the server's answer.
func BenchmarkSTUNRoundTrip(b *testing.B) {
	s := sim.New(sim.Config{Seed: testSeed})
	l := newLab(b, s, vnet.RouterConfig{})
	require.NoError(b, s.Start())
	defer s.Stop()
	srv, err := StartSTUN(STUNConfig{Net: l.server, Address: stunP1})
	require.NoError(b, err)
	defer srv.Close()
	conn, err := l.wanHost.ListenPacket("udp4", "1.2.3.10:4000")
	require.NoError(b, err)
	defer conn.Close()
	req := stun.MustBuild(stun.BindingRequest, stun.TransactionID)
	dst := net.UDPAddrFromAddrPort(stunP1)
	buf := make([]byte, 1500)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := conn.WriteTo(req.Raw, dst); err != nil {
			b.Fatal(err)
		}
		if _, _, err := conn.ReadFrom(buf); err != nil {
			b.Fatal(err)
		}
	}
}
