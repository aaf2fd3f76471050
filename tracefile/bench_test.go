package tracefile_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/tracefile"
	"github.com/vnetsim/vnetsim/vnet"
)

// BenchmarkTraceFile measures one datagram's trip through a NAT (send,
// translate, forward twice, deliver: 5 packet events) without a trace file
// ("off": what every run pays; compare its allocs/op with a build without
// trace files: the same, the ReadFrom address) and with one written to
// io.Discard ("on": its cost per event is reported as ns/event and
// allocs/event).
//
//	go test -run '^$' -bench TraceFile -benchmem ./tracefile
func BenchmarkTraceFile(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			s := sim.New(sim.Config{Seed: 1})
			var tw *tracefile.Writer
			if on {
				tw = tracefile.NewWriter(io.Discard, tracefile.Header{})
				tracefile.Attach(s, tw)
			}
			wan, err := vnet.NewRouter(&vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s})
			require.NoError(b, err)
			lan, err := vnet.NewRouter(&vnet.RouterConfig{Name: "lan", CIDR: "10.0.0.0/24"})
			require.NoError(b, err)
			require.NoError(b, wan.AddRouter(lan))
			host, err := vnet.NewNet(&vnet.NetConfig{Name: "host"})
			require.NoError(b, err)
			server, err := vnet.NewNet(&vnet.NetConfig{Name: "server", StaticIP: "1.2.3.4"})
			require.NoError(b, err)
			require.NoError(b, lan.AddNet(host))
			require.NoError(b, wan.AddNet(server))
			cli, err := host.ListenPacket("udp4", "0.0.0.0:5000")
			require.NoError(b, err)
			srv, err := server.ListenPacket("udp4", "1.2.3.4:3478")
			require.NoError(b, err)
			to := srv.LocalAddr().(*net.UDPAddr)
			// A STUN binding request, decoded on every event when on.
			msg := []byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
			buf := make([]byte, 1500)
			trip := func() {
				if _, err := cli.WriteTo(msg, to); err != nil {
					b.Fatal(err)
				}
				s.RunFor(time.Millisecond)
				if _, _, err := srv.ReadFrom(buf); err != nil {
					b.Fatal(err)
				}
			}
			trip()
			n0 := 0
			if tw != nil {
				n0 = tw.Len()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				trip()
			}
			b.StopTimer()
			if tw != nil {
				events := float64(tw.Len() - n0)
				b.ReportMetric(events/float64(b.N), "events/op")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/events, "ns/event")
			}
		})
	}
}
