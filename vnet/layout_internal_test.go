package vnet

import (
	"os"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet/tcp"
)

// hotField is a field the datagram path reads: where it lies in its struct.
type hotField struct {
	name         string
	offset, size uintptr
}

// linkHot lists what a packet on a perfect link reads of a Link at off.
func linkHot(off uintptr) []hotField {
	var l Link
	return []hotField{
		{"w", off + unsafe.Offsetof(l.w), unsafe.Sizeof(l.w)},
		{"to", off + unsafe.Offsetof(l.to), unsafe.Sizeof(l.to)},
		{"model", off + unsafe.Offsetof(l.model), unsafe.Sizeof(l.model)},
		{"mtu", off + unsafe.Offsetof(l.mtu), unsafe.Sizeof(l.mtu)},
		{"fastPassed", off + unsafe.Offsetof(l.fastPassed), unsafe.Sizeof(l.fastPassed)},
		{"fastBytes", off + unsafe.Offsetof(l.fastBytes), unsafe.Sizeof(l.fastBytes)},
		{"perfect", off + unsafe.Offsetof(l.perfect), unsafe.Sizeof(l.perfect)},
	}
}

// TestHotLayout pins what the datagram path reads of each per-Net and
// per-socket struct to its cache-line budget, measured on real
// allocations (so counting the header the allocator puts before objects
// over 512 bytes), and each struct to its size class, so that a field
// added in the wrong place, or one that grows a struct into the next
// class, fails here instead of slowing a 100,000-Net world unnoticed
// (BenchmarkManualRound). A new field belongs after the hot ones, within
// the room the sizes below leave.
func TestHotLayout(t *testing.T) {
	var n Net
	var c UDPConn
	var l Link
	assert.LessOrEqual(t, unsafe.Sizeof(n), uintptr(616), "Net, with its two links: 616 bytes and the allocator's header fill its 640-byte class")
	assert.LessOrEqual(t, unsafe.Sizeof(c), uintptr(384), "UDPConn: a 384-byte class, whose objects start on a pair of lines")
	assert.LessOrEqual(t, unsafe.Sizeof(l), uintptr(104), "Link: the part every link has")

	tests := []struct {
		what   string
		obj    func() uintptr // a fresh allocation's address
		anchor uintptr        // the budget starts at the line holding this offset
		lines  uintptr        // lines the fields may take from there
		fields []hotField
	}{
		{"Net: what egress and arrival read first", newNetAddr, 0, 1, []hotField{
			{"w", unsafe.Offsetof(n.w), unsafe.Sizeof(n.w)},
			{"router", unsafe.Offsetof(n.router), unsafe.Sizeof(n.router)},
			{"lastSock", unsafe.Offsetof(n.lastSock), unsafe.Sizeof(n.lastSock)},
			{"lastIP", unsafe.Offsetof(n.lastIP), unsafe.Sizeof(n.lastIP)},
			{"stale", unsafe.Offsetof(n.stale), unsafe.Sizeof(n.stale)},
			{"lastPort", unsafe.Offsetof(n.lastPort), unsafe.Sizeof(n.lastPort)},
			{"fams", unsafe.Offsetof(n.fams), unsafe.Sizeof(n.fams)},
		}},
		{"Net: the uplink's first line", newNetAddr, unsafe.Offsetof(n.upLink), 1, linkHot(unsafe.Offsetof(n.upLink))},
		{"Net: the downlink's first line", newNetAddr, unsafe.Offsetof(n.downLink), 1, linkHot(unsafe.Offsetof(n.downLink))},
		{"Link: what a packet on a perfect link reads", nil, 0, 1, linkHot(0)},
		{"UDPConn: what write and egress read", newConnAddr, 0, 2, []hotField{
			{"net", unsafe.Offsetof(c.net), unsafe.Sizeof(c.net)},
			{"skey", unsafe.Offsetof(c.skey), unsafe.Sizeof(c.skey)},
			{"counter", unsafe.Offsetof(c.counter), unsafe.Sizeof(c.counter)},
			{"unsent", unsafe.Offsetof(c.unsent), unsafe.Sizeof(c.unsent)},
			{"wbuf", unsafe.Offsetof(c.wbuf), unsafe.Sizeof(c.wbuf)},
			{"closed", unsafe.Offsetof(c.closed), unsafe.Sizeof(c.closed)},
			{"isBound", unsafe.Offsetof(c.isBound), unsafe.Sizeof(c.isBound)},
			{"wwait", unsafe.Offsetof(c.wwait), unsafe.Sizeof(c.wwait)},
			{"fam", unsafe.Offsetof(c.fam), unsafe.Sizeof(c.fam)},
			{"mu", unsafe.Offsetof(c.mu), unsafe.Sizeof(c.mu)},
			{"bound", unsafe.Offsetof(c.bound), unsafe.Sizeof(c.bound)},
			{"remote", unsafe.Offsetof(c.remote), unsafe.Sizeof(c.remote)},
		}},
		{"UDPConn: what delivery, read and the next write read", newConnAddr, unsafe.Offsetof(c.qhead), 2, []hotField{
			{"qhead", unsafe.Offsetof(c.qhead), unsafe.Sizeof(c.qhead)},
			{"qtail", unsafe.Offsetof(c.qtail), unsafe.Sizeof(c.qtail)},
			{"qbytes", unsafe.Offsetof(c.qbytes), unsafe.Sizeof(c.qbytes)},
			{"rbuf", unsafe.Offsetof(c.rbuf), unsafe.Sizeof(c.rbuf)},
			{"stats", unsafe.Offsetof(c.stats), unsafe.Sizeof(c.stats)},
			{"rwait", unsafe.Offsetof(c.rwait), unsafe.Sizeof(c.rwait)},
			{"wdl.fired", unsafe.Offsetof(c.wdl) + unsafe.Offsetof(c.wdl.fired), unsafe.Sizeof(c.wdl.fired)},
		}},
	}
	for _, tt := range tests {
		base := uintptr(0) // a Link alone: its struct's own lines
		if tt.obj != nil {
			base = tt.obj()
		}
		first := (base + tt.anchor) / cacheLine
		for _, f := range tt.fields {
			from, to := (base+f.offset)/cacheLine, (base+f.offset+f.size-1)/cacheLine
			assert.True(t, from >= first && to < first+tt.lines,
				"%s: %s (bytes %d..%d) takes line(s) %d..%d, outside its %d line(s) from %d",
				tt.what, f.name, f.offset, f.offset+f.size, from-base/cacheLine, to-base/cacheLine, tt.lines, first-base/cacheLine)
		}
	}

	// The uplink's first line follows the Net's, and both the Net and the
	// socket start on a pair of lines, so that each pair of hot lines
	// above is one that the adjacent-line prefetcher fetches together.
	nb := newNetAddr()
	assert.Equal(t, nb/cacheLine+1, (nb+unsafe.Offsetof(n.upLink))/cacheLine, "the uplink's first line right after the Net's")
	assert.Zero(t, nb/cacheLine%2, "a Net's first line is the first of a pair")
	assert.Zero(t, newConnAddr()%(2*cacheLine), "a UDPConn starts on a pair of lines")
}

// newNetAddr and newConnAddr allocate a Net and a UDPConn on the heap, as
// NewNet and listen do, and return their addresses.
func newNetAddr() uintptr  { return uintptr(unsafe.Pointer(escape(new(Net)))) }
func newConnAddr() uintptr { return uintptr(unsafe.Pointer(escape(new(UDPConn)))) }

var sink any

// escape makes x escape to the heap.
func escape[T any](x *T) *T {
	sink = x
	return x
}

// NewNet validates NetConfig.TCP only when it is not the zero config (a
// validation costs an allocation, per Net of a big world): the zero config
// must be valid, and the Net's stack made from it must get tcp's defaults.
func TestZeroTCPConfig(t *testing.T) {
	require.NoError(t, tcp.Config{}.Validate())
	n, err := NewNet(&NetConfig{})
	require.NoError(t, err)
	assert.Nil(t, n.tcpCfg, "no copy of the zero config kept")
	assert.Equal(t, tcp.Config{}, n.tcpState().cfg)
	_, err = NewNet(&NetConfig{TCP: tcp.Config{MSS: -1}})
	assert.ErrorIs(t, err, ErrConfig, "a non-zero config is still validated")
}

// A socket's deadlines carry their arming state only once set (or waited
// on): clearing one never set makes nothing, and one set runs on the
// world's clock, virtual time, as before.
func TestDeadlineArmedAtFirstSet(t *testing.T) {
	s := sim.New(sim.Config{})
	c := oneSocket(t, s)
	assert.Nil(t, c.rdl.arm, "a new socket's read deadline")
	assert.Nil(t, c.wdl.arm, "a new socket's write deadline")
	require.NoError(t, c.SetDeadline(time.Time{}))
	assert.Nil(t, c.rdl.arm, "cleared before ever set")
	assert.Nil(t, c.wdl.arm, "cleared before ever set")

	require.NoError(t, c.SetReadDeadline(s.Now().Add(time.Second)))
	require.NotNil(t, c.rdl.arm)
	assert.Nil(t, c.wdl.arm, "only the deadline set is armed")
	assert.False(t, c.rdl.expired())
	s.RunFor(999 * time.Millisecond)
	assert.False(t, c.rdl.expired(), "virtual time short of the deadline")
	s.RunFor(time.Millisecond)
	assert.True(t, c.rdl.expired(), "virtual time at the deadline")
	_, _, err := c.ReadFrom(make([]byte, 10))
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "read after the deadline")
}

// oneSocket is a socket on :4000 of a host on a 10.0.0.0/24 router driven
// by s, closed when the test ends.
func oneSocket(t *testing.T, s *sim.Scheduler) *UDPConn {
	t.Helper()
	r, err := NewRouter(&RouterConfig{CIDR: "10.0.0.0/24", Scheduler: s})
	require.NoError(t, err)
	n, err := NewNet(nil)
	require.NoError(t, err)
	require.NoError(t, r.AddNet(n))
	pc, err := n.ListenPacket("udp4", ":4000")
	require.NoError(t, err)
	t.Cleanup(func() { _ = pc.Close() })
	return pc.(*UDPConn)
}
