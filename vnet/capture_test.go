package vnet_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/capture"
	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simlog"
	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/vnet"
	"github.com/vnetsim/vnetsim/vnet/vnettest"
)

// frame is one decoded packet of a capture.
type frame struct {
	iface    string
	at       time.Duration // since sim.DefaultStart
	src, dst netip.AddrPort
	ttl      uint8
	payload  string
}

func (f frame) String() string {
	return fmt.Sprintf("%s %v %s>%s ttl=%d %q", f.iface, f.at, f.src, f.dst, f.ttl, f.payload)
}

// readCapture decodes a pcapng stream written by Router.Capture: interface
// names, then every packet as IPv4/UDP or IPv6/UDP with gopacket's layers
// (which also check the header lengths).
func readCapture(t *testing.T, data []byte) (names []string, frames []frame) {
	t.Helper()
	r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	assert.Equal(t, capture.Application, r.SectionInfo().Application)
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		first := layers.LayerTypeIPv4
		if len(data) > 0 && data[0]>>4 == 6 {
			first = layers.LayerTypeIPv6
		}
		pkt := gopacket.NewPacket(data, first, gopacket.DecodeOptions{})
		require.Nil(t, pkt.ErrorLayer(), "packet %d decodes", len(frames))
		var srcIP, dstIP net.IP
		var ttl uint8
		if ip, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
			srcIP, dstIP, ttl = ip.SrcIP, ip.DstIP, ip.TTL
		} else {
			ip6, ok := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			require.True(t, ok, "packet %d is neither IPv4 nor IPv6", len(frames))
			srcIP, dstIP, ttl = ip6.SrcIP, ip6.DstIP, ip6.HopLimit
		}
		udp, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		require.True(t, ok)
		src, _ := netip.AddrFromSlice(srcIP)
		dst, _ := netip.AddrFromSlice(dstIP)
		if first == layers.LayerTypeIPv4 {
			src, dst = src.Unmap(), dst.Unmap()
		}
		frames = append(frames, frame{
			iface:   fmt.Sprint(ci.InterfaceIndex),
			at:      ci.Timestamp.Sub(sim.DefaultStart),
			src:     netip.AddrPortFrom(src, uint16(udp.SrcPort)),
			dst:     netip.AddrPortFrom(dst, uint16(udp.DstPort)),
			ttl:     ttl,
			payload: string(udp.Payload),
		})
	}
	for i := range r.NInterfaces() {
		intf, err := r.Interface(i)
		require.NoError(t, err)
		assert.Equal(t, layers.LinkTypeRaw, intf.LinkType)
		names = append(names, intf.Name)
	}
	for i := range frames {
		var id int
		_, err := fmt.Sscan(frames[i].iface, &id)
		require.NoError(t, err)
		frames[i].iface = names[id]
	}
	return names, frames
}

// natPingPong sends "ping" from the host behind lan's NAT to the server and
// "pong" back, capturing both sides of the NAT and both ends.
func natPingPong(t *testing.T, seed uint64, uplink *impair.Config) []byte {
	t.Helper()
	s := sim.New(sim.Config{Seed: seed})
	sc := newScene(t, s)
	if uplink != nil {
		require.NoError(t, sc.lan.Uplink().Set(*uplink))
	}
	var buf bytes.Buffer
	c, err := sc.wan.Capture(&buf, sc.host.Eth0(), sc.lan.Inside(), sc.lan.Outside(), sc.server.Eth0())
	require.NoError(t, err)
	srv := listen(t, sc.server, "1.2.3.4:7")
	cli := listen(t, sc.host, "0.0.0.0:5000")
	for i := range 3 {
		send(t, cli, "1.2.3.4:7", fmt.Sprint("ping ", i))
		s.RunFor(time.Second)
		for range drain(t, srv) {
			send(t, srv, "1.2.3.100:5000", fmt.Sprint("pong ", i))
		}
		s.RunFor(time.Second)
		drain(t, cli)
	}
	require.NoError(t, c.Close())
	return buf.Bytes()
}

// One NAT'd flow, seen on the host, on both sides of the NAT and on the
// server: private addresses inside, the NAT's outside, one TTL less per
// router, virtual timestamps to the nanosecond.
func TestCaptureNATFlow(t *testing.T) {
	names, frames := readCapture(t, natPingPong(t, 1, nil))
	assert.Equal(t, []string{"host/eth0", "lan/inside", "lan/outside", "server/eth0"}, names)
	ap := netip.MustParseAddrPort
	host, public, server := ap("192.168.0.1:5000"), ap("1.2.3.100:5000"), ap("1.2.3.4:7")
	var want []frame
	for i := range 3 {
		t0 := time.Duration(2*i) * time.Second
		ping, pong := fmt.Sprint("ping ", i), fmt.Sprint("pong ", i)
		want = append(want,
			// The host sends at t0+1ns; its link to lan has no delay, lan's
			// uplink 5 ms, wan's links 10 ms.
			frame{"host/eth0", t0 + 1, host, server, 64, ping},
			frame{"lan/inside", t0 + 1, host, server, 64, ping},
			frame{"lan/outside", t0 + 1, public, server, 63, ping},
			frame{"server/eth0", t0 + 15*time.Millisecond + 1, public, server, 62, ping},
			// The server answers one second later, to the NAT's outside.
			frame{"server/eth0", t0 + time.Second + 1, server, public, 64, pong},
			frame{"lan/outside", t0 + time.Second + 10*time.Millisecond + 1, server, public, 63, pong},
			frame{"lan/inside", t0 + time.Second + 10*time.Millisecond + 1, server, host, 62, pong},
			frame{"host/eth0", t0 + time.Second + 15*time.Millisecond + 1, server, host, 62, pong},
		)
	}
	assert.Equal(t, want, frames)
}

// The same seed gives a byte-identical capture, also over a lossy link;
// another seed loses other packets.
func TestCaptureIsDeterministic(t *testing.T) {
	lossy := &impair.Config{Loss: 0.5, Jitter: time.Millisecond}
	a, b := natPingPong(t, 7, lossy), natPingPong(t, 7, lossy)
	assert.Equal(t, a, b)
	_, fa := readCapture(t, a)
	outside := 0
	for _, f := range fa {
		if f.iface == "lan/outside" && strings.HasPrefix(f.payload, "ping") {
			outside++
		}
	}
	assert.Equal(t, 3, outside, "the uplink's losses happen after the outside interface")
	var differs bool
	for seed := uint64(8); seed < 12 && !differs; seed++ {
		differs = !bytes.Equal(a, natPingPong(t, seed, lossy))
	}
	assert.True(t, differs, "other seeds give other captures")
}

// A host's datagrams to itself go through lo0 only, once each.
func TestCaptureLoopback(t *testing.T) {
	s := sim.New(sim.Config{})
	_, a, _ := wanPair(t, s)
	var buf bytes.Buffer
	c, err := a.Router().Capture(&buf, a.Lo0(), a.Eth0())
	require.NoError(t, err)
	rx := listen(t, a, "0.0.0.0:7")
	tx := listen(t, a, "0.0.0.0:8")
	send(t, tx, "127.0.0.1:7", "to lo")
	send(t, tx, "1.2.3.4:7", "to eth0 address")
	s.Run()
	assert.Len(t, drain(t, rx), 2)
	require.NoError(t, c.Close())
	names, frames := readCapture(t, buf.Bytes())
	assert.Equal(t, []string{"1.2.3.4/lo0", "1.2.3.4/eth0"}, names)
	ap := netip.MustParseAddrPort
	assert.Equal(t, []frame{
		{"1.2.3.4/lo0", 1, ap("127.0.0.1:8"), ap("127.0.0.1:7"), 64, "to lo"},
		{"1.2.3.4/lo0", 1, ap("1.2.3.4:8"), ap("1.2.3.4:7"), 64, "to eth0 address"},
	}, frames)
}

// With no interface named, Capture takes every interface of the tree.
func TestCaptureEverything(t *testing.T) {
	s := sim.New(sim.Config{})
	sc := newScene(t, s)
	var buf bytes.Buffer
	c, err := sc.lan.Capture(&buf)
	require.NoError(t, err)
	cli := listen(t, sc.host, "0.0.0.0:5000")
	listen(t, sc.server, "0.0.0.0:7")
	send(t, cli, "1.2.3.4:7", "hi")
	s.RunFor(time.Second)
	assert.Equal(t, uint64(6), c.Packets(), "host eth0, lan inside and outside, wan inside (in and out), server eth0")
	require.NoError(t, c.Close())
	names, frames := readCapture(t, buf.Bytes())
	assert.Equal(t, []string{
		"wan/inside", "lan/inside", "lan/outside",
		"server/lo0", "server/eth0", "stranger/lo0", "stranger/eth0", "host/lo0", "host/eth0",
	}, names)
	var seen []string
	for _, f := range frames {
		seen = append(seen, f.iface)
	}
	// wan/inside sees the packet arrive from lan and leave to the server.
	assert.Equal(t, []string{"host/eth0", "lan/inside", "lan/outside", "wan/inside", "wan/inside", "server/eth0"}, seen)
}

func TestCaptureErrors(t *testing.T) {
	s := sim.New(sim.Config{})
	sc := newScene(t, s)
	other := vnettest.Router(t, vnet.RouterConfig{Name: "other", CIDR: "10.9.0.0/24", Scheduler: s})
	otherNet := vnettest.Host(t, other)
	unattached, err := vnet.NewNet(&vnet.NetConfig{Name: "loose"})
	require.NoError(t, err)
	tests := []struct {
		name    string
		out     io.Writer
		ifaces  []vnet.Iface
		wantErr error
		msg     string
	}{
		{"nil writer", nil, []vnet.Iface{sc.host.Eth0()}, capture.ErrNilWriter, "nil io.Writer"},
		{"zero Iface", io.Discard, []vnet.Iface{{}}, vnet.ErrConfig, "zero Iface"},
		{"twice", io.Discard, []vnet.Iface{sc.host.Eth0(), sc.host.Eth0()}, vnet.ErrConfig, "host/eth0 listed twice"},
		{"root outside", io.Discard, []vnet.Iface{sc.wan.Outside()}, vnet.ErrTopology, "no outside"},
		{"other tree", io.Discard, []vnet.Iface{otherNet.Eth0()}, vnet.ErrTopology, "not in router \"wan\"'s tree"},
		{"unattached", io.Discard, []vnet.Iface{unattached.Eth0()}, vnet.ErrTopology, "not attached"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := sc.wan.Capture(tt.out, tt.ifaces...)
			require.ErrorIs(t, err, tt.wantErr)
			assert.Contains(t, err.Error(), tt.msg)
			assert.Nil(t, c)
		})
	}
	assert.Equal(t, "host/eth0", sc.host.Eth0().Name())
	assert.Empty(t, vnet.Iface{}.Name())

	c, err := sc.wan.Capture(io.Discard, sc.host.Eth0())
	require.NoError(t, err)
	require.NoError(t, c.Flush())
	require.NoError(t, c.Close())
	assert.ErrorIs(t, c.Close(), vnet.ErrCaptureClosed)
	assert.ErrorIs(t, c.Flush(), vnet.ErrCaptureClosed)
}

// Close stops the capture; a second capture of the same interface is
// independent of the first.
func TestCaptureClose(t *testing.T) {
	s := sim.New(sim.Config{})
	_, a, b := wanPair(t, s)
	var first, second bytes.Buffer
	c1, err := a.Router().Capture(&first, a.Eth0())
	require.NoError(t, err)
	c2, err := a.Router().Capture(&second, a.Eth0(), b.Eth0())
	require.NoError(t, err)
	tx := listen(t, a, "0.0.0.0:1")
	listen(t, b, "0.0.0.0:2")
	send(t, tx, "1.2.3.5:2", "one")
	s.Run()
	require.NoError(t, c1.Close())
	send(t, tx, "1.2.3.5:2", "two")
	s.Run()
	assert.Equal(t, uint64(1), c1.Packets())
	assert.Equal(t, uint64(4), c2.Packets())
	require.NoError(t, c2.Close())
	_, f1 := readCapture(t, first.Bytes())
	_, f2 := readCapture(t, second.Bytes())
	require.Len(t, f1, 1)
	assert.Equal(t, "one", f1[0].payload)
	assert.Len(t, f2, 4)
}

type brokenWriter struct{}

func (brokenWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// A failing writer stops the capture, not the simulation; Close reports it.
func TestCaptureWriteError(t *testing.T) {
	s := sim.New(sim.Config{})
	var logs bytes.Buffer
	s.LoggerFactory().(*simlog.Factory).Writer = &logs // for the loggers made from now on
	_, a, b := wanPair(t, s)
	c, err := a.Router().Capture(brokenWriter{}, a.Eth0())
	require.NoError(t, err) // buffered: nothing written yet
	tx := listen(t, a, "0.0.0.0:1")
	rx := listen(t, b, "0.0.0.0:2")
	big := strings.Repeat("x", 1400)
	for range 10 { // more than the writer's buffer
		send(t, tx, "1.2.3.5:2", big)
	}
	s.Run()
	assert.Len(t, drain(t, rx), 10, "the packets still arrive")
	err = c.Close()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "disk full")
	assert.Less(t, c.Packets(), uint64(10))
	assert.Regexp(t, `^2000-01-01T00:00:00.000000001Z vnet ERROR: vnet: capture stopped at packet \d+: .*disk full\n$`, logs.String(),
		"logged once, at the virtual instant it happened")
}

// Captures start and stop while the paced loop runs.
func TestCapturePaced(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		sc := newScene(t, s)
		srv := listen(t, sc.server, "1.2.3.4:7")
		echo(srv)
		var buf bytes.Buffer
		c, err := sc.wan.Capture(&buf, sc.lan.Outside())
		require.NoError(t, err)
		conn, err := sc.host.Dial("udp", "1.2.3.4:7")
		require.NoError(t, err)
		for i := range 5 {
			_, err := fmt.Fprint(conn, "m", i)
			require.NoError(t, err)
			_, err = conn.Read(make([]byte, 100))
			require.NoError(t, err)
		}
		require.NoError(t, c.Close())
		require.NoError(t, conn.Close())
		require.NoError(t, srv.Close())
		names, frames := readCapture(t, buf.Bytes())
		assert.Equal(t, []string{"lan/outside"}, names)
		require.Len(t, frames, 10)
		for i, f := range frames {
			nat := f.dst // the echo, inbound
			if i%2 == 0 {
				nat = f.src // the request, outbound
			}
			assert.Equal(t, "1.2.3.100", nat.Addr().String(), "frame %d: the NAT's outside address", i)
			assert.Equal(t, fmt.Sprint("m", i/2), f.payload)
		}
	})
}

// Wireshark's own dissectors read the capture: interfaces, addresses,
// ports, TTLs, timestamps, and good checksums.
func TestCaptureTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark is not on PATH (install the Debian package tshark to run this test); TestCaptureNATFlow covers the content with gopacket")
	}
	data := natPingPong(t, 1, nil)
	_, want := readCapture(t, data)
	file := filepath.Join(t.TempDir(), "nat.pcapng")
	require.NoError(t, os.WriteFile(file, data, 0o600))

	fields := []string{"frame.interface_name", "frame.time_epoch", "ip.src", "udp.srcport", "ip.dst", "udp.dstport",
		"ip.ttl", "ip.checksum.status", "udp.checksum.status", "udp.payload"}
	args := []string{"-r", file, "-T", "fields", "-E", "separator=|", "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, tshark, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "tshark: %s", stderr.String())
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	require.Len(t, lines, len(want))
	for i, f := range want {
		at := sim.DefaultStart.Add(f.at)
		assert.Equal(t, strings.Join([]string{
			f.iface, fmt.Sprintf("%d.%09d", at.Unix(), at.Nanosecond()),
			f.src.Addr().String(), fmt.Sprint(f.src.Port()), f.dst.Addr().String(), fmt.Sprint(f.dst.Port()),
			fmt.Sprint(f.ttl), "1", "1", fmt.Sprintf("%x", f.payload),
		}, "|"), lines[i], "packet %d", i)
	}
}

// Capturing nothing costs nothing: a datagram's trip through a NAT
// allocates the same with and without a capture on other interfaces.
func TestCaptureOffAllocatesNothing(t *testing.T) {
	sc, trip := natTrip(t)
	trip()
	off := testing.AllocsPerRun(100, trip)
	c, err := sc.wan.Capture(io.Discard, sc.stranger.Eth0())
	require.NoError(t, err)
	offElsewhere := testing.AllocsPerRun(100, trip)
	require.NoError(t, c.Close())
	c, err = sc.wan.Capture(io.Discard, sc.host.Eth0(), sc.lan.Outside())
	require.NoError(t, err)
	trip()
	on := testing.AllocsPerRun(100, trip)
	require.NoError(t, c.Close())
	t.Logf("allocations per trip: %v off, %v off elsewhere, %v on", off, offElsewhere, on)
	if raceEnabled {
		// The race detector's sync.Pool drops a quarter of the buffers put
		// back at random, so a run's average moves by a fraction of an
		// allocation, and AllocsPerRun's whole number by one either way.
		assert.InDelta(t, off, offElsewhere, 1)
		assert.InDelta(t, off, on, 1, "writing a capture allocates nothing either")
		return
	}
	assert.Equal(t, off, offElsewhere)
	assert.Equal(t, off, on, "writing a capture allocates nothing either")
}

// natTrip builds the scene of newScene in manual mode and returns a
// datagram's round of it: the host behind the NAT writes to the server,
// the world runs, the server reads.
func natTrip(t *testing.T) (scene, func()) {
	t.Helper()
	s := sim.New(sim.Config{})
	sc := newScene(t, s)
	srv := listen(t, sc.server, "1.2.3.4:7")
	cli := listen(t, sc.host, "0.0.0.0:5000")
	to := net.UDPAddrFromAddrPort(netip.MustParseAddrPort("1.2.3.4:7"))
	msg, buf := []byte("ping"), make([]byte, 100)
	return sc, func() {
		if _, err := cli.WriteTo(msg, to); err != nil {
			t.Error(err)
		}
		s.RunFor(20 * time.Millisecond)
		if _, _, err := srv.ReadFrom(buf); err != nil {
			t.Error(err)
		}
	}
}

func BenchmarkCapture(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("on=%v", on), func(b *testing.B) {
			s := sim.New(sim.Config{})
			wan, err := vnet.NewRouter(&vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s})
			require.NoError(b, err)
			lan, err := vnet.NewRouter(&vnet.RouterConfig{Name: "lan", CIDR: "10.0.0.0/24"})
			require.NoError(b, err)
			require.NoError(b, wan.AddRouter(lan))
			host, _ := vnet.NewNet(&vnet.NetConfig{Name: "host"})
			server, _ := vnet.NewNet(&vnet.NetConfig{Name: "server", StaticIP: "1.2.3.4"})
			require.NoError(b, lan.AddNet(host))
			require.NoError(b, wan.AddNet(server))
			if on {
				c, err := wan.Capture(io.Discard)
				require.NoError(b, err)
				defer c.Close()
			}
			srvc, _ := server.ListenPacket("udp4", "1.2.3.4:7")
			cli, _ := host.ListenPacket("udp4", "0.0.0.0:5000")
			to := net.UDPAddrFromAddrPort(netip.MustParseAddrPort("1.2.3.4:7"))
			msg, buf := make([]byte, 1200), make([]byte, 1500)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := cli.WriteTo(msg, to); err != nil {
					b.Fatal(err)
				}
				s.RunFor(time.Millisecond)
				if _, _, err := srvc.ReadFrom(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A capture on both sides of a NAT, read back with gopacket: the host's
// private address inside, the NAT's address outside.
func ExampleRouter_Capture() {
	s := sim.New(sim.Config{Seed: 1})
	wan, _ := vnet.NewRouter(&vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", MinDelay: 10 * time.Millisecond, Scheduler: s})
	lan, _ := vnet.NewRouter(&vnet.RouterConfig{Name: "lan", CIDR: "192.168.0.0/24", StaticIP: "1.2.3.100"})
	_ = wan.AddRouter(lan)
	server, _ := vnet.NewNet(&vnet.NetConfig{Name: "server", StaticIP: "1.2.3.4"})
	host, _ := vnet.NewNet(&vnet.NetConfig{Name: "host"})
	_ = wan.AddNet(server)
	_ = lan.AddNet(host)

	var file bytes.Buffer // or an *os.File to open in Wireshark
	c, err := wan.Capture(&file, lan.Inside(), lan.Outside())
	if err != nil {
		panic(err)
	}
	_, _ = server.ListenPacket("udp4", "1.2.3.4:3478")
	cli, _ := host.ListenPacket("udp4", "0.0.0.0:5000")
	_, _ = cli.WriteTo([]byte("binding request"), &net.UDPAddr{IP: net.IPv4(1, 2, 3, 4), Port: 3478})
	s.RunFor(time.Second)
	if err := c.Close(); err != nil {
		panic(err)
	}

	r, _ := pcapgo.NewNgReader(&file, pcapgo.DefaultNgReaderOptions)
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		intf, _ := r.Interface(ci.InterfaceIndex)
		pkt := gopacket.NewPacket(data, layers.LayerTypeIPv4, gopacket.Default)
		ip := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		udp := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		fmt.Printf("%s %s %s:%d > %s:%d ttl=%d %q\n", ci.Timestamp.Format("15:04:05.000000000"), intf.Name,
			ip.SrcIP, udp.SrcPort, ip.DstIP, udp.DstPort, ip.TTL, udp.Payload)
	}
	// Output:
	// 00:00:00.000000001 lan/inside 192.168.0.1:5000 > 1.2.3.4:3478 ttl=64 "binding request"
	// 00:00:00.000000001 lan/outside 1.2.3.100:5000 > 1.2.3.4:3478 ttl=63 "binding request"
}
