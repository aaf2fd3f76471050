package vnet

import (
	"encoding/binary"
	"math"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
)

// keyRange is the closed range of sim.Key.Hi values one class of events
// can take.
type keyRange struct {
	name     string
	min, max uint64
}

// hiRanges lists every class of key (keys.go), built from the
// constructors at the ends of their fields' bounds.
func hiRanges() []keyRange {
	return []keyRange{
		{"handler", 0, 0},
		{"link change", linkChangeKey(0).Hi, linkChangeKey(math.MaxUint64).Hi},
		{"udp bound", socketKey(1, boundKey(1, 0)), socketKey(maxHost, boundKey(math.MaxUint16, 0xff))},
		{"udp provisional", socketKey(1, keyProvisional), socketKey(maxHost, keyProvisional|provisionalMax)},
		{"tcp listen", tcpKey(1, boundKey(0, 0), 0).Hi, tcpKey(maxHost, boundKey(math.MaxUint16, 0xff), 0).Hi},
		{"tcp dial", tcpKey(1, keyTCPDial, 0).Hi, tcpKey(maxHost, keyTCPDial|keyTCPDialMask, 0).Hi},
		{"sim timer", keySimTimer, keySimTimer},
	}
}

// The classes cannot meet within one host (socket parts are disjoint) nor
// across hosts (the host field is above them), and the fixed classes sit
// outside every socket key.
func TestKeyClassesDoNotOverlap(t *testing.T) {
	parts := []keyRange{
		{"udp bound", boundKey(1, 0), boundKey(math.MaxUint16, 0xff)},
		{"udp provisional", keyProvisional, keyProvisional | provisionalMax},
		{"tcp listen", keyTCP | boundKey(0, 0), keyTCP | boundKey(math.MaxUint16, 0xff)},
		{"tcp dial", keyTCP | keyTCPDial, keyTCP | keyTCPDial | keyTCPDialMask},
	}
	for i, a := range parts {
		assert.Less(t, a.max, uint64(1)<<socketBits, a.name)
		assert.GreaterOrEqual(t, a.min, uint64(256), "%s: a socket part is never below 256", a.name)
		for _, b := range parts[i+1:] {
			assert.True(t, a.max < b.min || b.max < a.min, "%s and %s overlap", a.name, b.name)
		}
	}
	// The fixed classes never equal a socket key: a socket key's low
	// socketBits are at least 256, theirs are below.
	for _, fixed := range []uint64{0, keyLinkChange, keySimTimer} {
		assert.Less(t, fixed&(1<<socketBits-1), uint64(256), "%#x", fixed)
	}
	rs := hiRanges()
	assert.Equal(t, uint64(keyLinkChange), rs[1].min)
	assert.Less(t, rs[1].max, rs[2].min, "link changes sort before every socket's events")
	assert.Less(t, socketKey(maxHost, 1<<socketBits-1), uint64(1)<<63, "every socket key leaves bit 63 clear (DescribeKey shows such keys raw)")
	assert.Equal(t, uint32(maxHost), uint32(1<<hostBits-1))
	assert.Less(t, uint64(maxHost)<<socketBits, uint64(1)<<63, "the host field stays below bit 63")
}

// A field out of its bounds is a bug in vnet, caught where the key is made.
func TestSocketKeyBounds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		host   uint32
		socket uint64
	}{
		{"host 0", 0, 300},
		{"host too big", maxHost + 1, 300},
		{"socket part too big", 1, 1 << socketBits},
		{"socket part below 256", 1, 255},
	} {
		assert.Panics(t, func() { socketKey(tc.host, tc.socket) }, tc.name)
	}
	assert.NotPanics(t, func() { socketKey(maxHost, 1<<socketBits-1) })
}

func TestHostNumberInRange(t *testing.T) {
	for _, name := range []string{"", "a", "192.168.0.1", "192.168.0.1#2", "router 10.0.0.0/24"} {
		h := hostNumber(name)
		assert.True(t, h >= 1 && h <= maxHost, "%q -> %d", name, h)
	}
	assert.NotEqual(t, hostNumber("192.168.0.1"), hostNumber("192.168.0.1#2"))
}

// stunMsg builds a STUN message of type typ with a transaction id and the
// given attributes (type, value), padded as STUN pads them.
func stunMsg(typ uint16, id byte, attrs ...[2]any) []byte {
	b := make([]byte, stunHeader)
	binary.BigEndian.PutUint16(b[0:2], typ)
	binary.BigEndian.PutUint32(b[4:8], stunCookie)
	for i := 8; i < 20; i++ {
		b[i] = id + byte(i)
	}
	for _, a := range attrs {
		v := a[1].([]byte)
		h := make([]byte, 4)
		binary.BigEndian.PutUint16(h[0:2], a[0].(uint16))
		binary.BigEndian.PutUint16(h[2:4], uint16(len(v)))
		b = append(b, h...)
		b = append(b, v...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)-stunHeader))
	return b
}

// The provisional hash sees what a run repeats and not what it draws at
// random: two Binding requests that differ only in their transaction ids
// and fingerprints hash alike; a different request, destination or
// requested transport does not.
func TestProvisionalHashMasksRandomFields(t *testing.T) {
	any4 := netip.IPv4Unspecified()
	srv := netip.MustParseAddrPort("1.2.3.4:3478")
	fp := func(v uint32) [2]any {
		b := make([]byte, 4)
		binary.BigEndian.PutUint32(b, v)
		return [2]any{uint16(0x8028), b}
	}
	udp := [2]any{uint16(0x0019), []byte{17, 0, 0, 0}}
	tcp := [2]any{uint16(0x0019), []byte{6, 0, 0, 0}}
	base := provisionalHash(any4, srv, "send", stunMsg(0x0001, 1, fp(0xdeadbeef)))
	assert.Equal(t, base, provisionalHash(any4, srv, "send", stunMsg(0x0001, 9, fp(0x12345678))), "transaction id and fingerprint are masked")
	for name, h := range map[string]uint64{
		"allocate":       provisionalHash(any4, srv, "send", stunMsg(0x0003, 1, udp, fp(1))),
		"other server":   provisionalHash(any4, netip.MustParseAddrPort("1.2.3.5:3478"), "send", stunMsg(0x0001, 1, fp(1))),
		"localaddr":      provisionalHash(any4, netip.AddrPort{}, "localaddr", nil),
		"not STUN":       provisionalHash(any4, srv, "send", []byte("hello, world, this is not STUN")),
		"other address":  provisionalHash(netip.MustParseAddr("10.0.0.2"), srv, "send", stunMsg(0x0001, 1, fp(1))),
		"longer message": provisionalHash(any4, srv, "send", stunMsg(0x0001, 1, fp(1), [2]any{uint16(0x8022), []byte("x")})),
	} {
		assert.NotEqual(t, base, h, name)
		assert.NotZero(t, h&keyProvisional, name)
	}
	assert.NotEqual(t, provisionalHash(any4, srv, "send", stunMsg(0x0003, 1, udp)), provisionalHash(any4, srv, "send", stunMsg(0x0003, 1, tcp)),
		"REQUESTED-TRANSPORT's value is hashed")
	// A truncated attribute does not read past the datagram.
	short := stunMsg(0x0001, 1, fp(1))
	binary.BigEndian.PutUint16(short[22:24], 200)
	assert.NotPanics(t, func() { provisionalHash(any4, srv, "send", short) })
}

// Two sockets of one host whose provisional hashes meet get distinct keys.
func TestClaimProvisionalBreaksTies(t *testing.T) {
	n := &Net{}
	h := uint64(keyProvisional | provisionalMax) // the last value wraps to the first
	a, b, c := n.claimProvisional(h), n.claimProvisional(h), n.claimProvisional(h)
	assert.Equal(t, h, a)
	assert.Equal(t, uint64(keyProvisional), b, "wraps within the provisional range")
	assert.Equal(t, uint64(keyProvisional|1), c)
}

func TestDescribeKey(t *testing.T) {
	for _, tc := range []struct {
		k    sim.Key
		want string
	}{
		{sim.Key{}, "handler"},
		{linkChangeKey(3), "link-change#3"},
		{sim.Key{Hi: 1 << 63, Lo: 4}, "{0x8000000000000000 0x4}"},
		{sim.Key{Hi: keySimTimer, Lo: 5}, "timer#5"},
		{udpKey(7, boundKey(32768, 1), 9), "host7/udp/port32768.ip1/#9"},
		{udpKey(7, keyProvisional|0xab, 1), "host7/udp/provisional:0xab/#1"},
		{tcpKey(2, boundKey(80, 1), 1), "host2/tcp/listen:80.ip1/req1+0"},
		{tcpKey(2, keyTCPDial|0x10, 0), "host2/tcp/dial:0x10/req0+0"},
	} {
		assert.Equal(t, tc.want, DescribeKey(tc.k))
	}
}

// Names are unique in a world: a taken one gets the next free suffix, and
// host numbers step past a taken one.
func TestUniqueNamesAndHostNumbers(t *testing.T) {
	s := sim.New(sim.Config{})
	w := newWorld(s, nil)
	assert.Equal(t, "a", w.claimName("a"))
	assert.Equal(t, "a#2", w.claimName("a"))
	assert.Equal(t, "a#3", w.claimName("a"))
	assert.Equal(t, "a#2#2", w.claimName("a#2"))
	x, y := &Net{name: "x"}, &Net{name: "y"}
	require.NoError(t, w.claimHost(x))
	w.hosts[hostNumber("y")] = x // y's number is taken
	require.NoError(t, w.claimHost(y))
	assert.Equal(t, hostNumber("y")%maxHost+1, y.id)
}

// STUN datagrams of one socket are ordered by destination and shape, in
// whatever order they were written; the same shape again counts up; STUN
// in TURN ChannelData counts as STUN, other datagrams are not reordered.
func TestSTUNOrderKey(t *testing.T) {
	srv := netip.MustParseAddrPort("1.2.3.4:3478")
	perm := stunMsg(0x0008, 1, [2]any{uint16(0x0012), []byte{0, 1, 0x11, 0x11, 1, 2, 3, 4}})
	send := stunMsg(0x0016, 2, [2]any{uint16(0x0012), []byte{0, 1, 0x11, 0x11, 1, 2, 3, 4}}, [2]any{uint16(0x0013), []byte("data")})
	keys := func(msgs ...[]byte) []uint64 {
		seen := map[uint64]uint64{}
		count := func(h uint64) uint64 { n := seen[h]; seen[h] = n + 1; return n }
		var out []uint64
		for _, m := range msgs {
			k, ok := stunOrderKey(srv, m, count)
			require.True(t, ok)
			assert.NotZero(t, k&keySTUN)
			out = append(out, k)
		}
		return out
	}
	a, b := keys(perm, send), keys(send, perm)
	assert.Equal(t, a[0], b[1], "a message's key does not depend on what was written before it")
	assert.Equal(t, a[1], b[0])
	again := keys(perm, perm)
	assert.Less(t, again[0], again[1], "the same shape twice: in call order")
	chd := append([]byte{0x40, 0x00, 0, byte(len(perm))}, perm...)
	_, ok := stunOrderKey(srv, chd, func(uint64) uint64 { return 0 })
	assert.True(t, ok, "STUN in ChannelData")
	_, ok = stunOrderKey(srv, []byte{0x40, 0x00, 0, 4, 1, 2, 3, 4}, func(uint64) uint64 { return 0 })
	assert.False(t, ok, "media in ChannelData keeps call order")
	_, ok = stunOrderKey(srv, []byte("plain datagram of some length"), func(uint64) uint64 { return 0 })
	assert.False(t, ok)
}
