package capture

import (
	"io"
	"testing"
	"time"
)

func benchPackets() []struct {
	name string
	p    Packet
} {
	return []struct {
		name string
		p    Packet
	}{
		{"udp4-100", Packet{Proto: ProtoUDP, Src: ap("10.0.0.1:5000"), Dst: ap("203.0.113.9:3478"), Payload: make([]byte, 100)}},
		{"udp4-1200", Packet{Proto: ProtoUDP, Src: ap("10.0.0.1:5000"), Dst: ap("203.0.113.9:3478"), Payload: make([]byte, 1200)}},
		{"tcp6-1200", Packet{Proto: ProtoTCP, Src: ap("[2001:db8::1]:40000"), Dst: ap("[2001:db8::2]:443"), Payload: make([]byte, 1200),
			TCP: TCPHeader{Seq: 1, Ack: 2, Flags: FlagPSH | FlagACK, Window: 65535}}},
	}
}

// BenchmarkWritePacket measures building headers plus pcapng framing into
// io.Discard; allocs/op must be 0.
func BenchmarkWritePacket(b *testing.B) {
	for _, bp := range benchPackets() {
		b.Run(bp.name, func(b *testing.B) {
			w, err := NewWriter(io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			id, err := w.AddInterface("h/eth0")
			if err != nil {
				b.Fatal(err)
			}
			ts := epoch
			b.ReportAllocs()
			b.SetBytes(int64(len(bp.p.Payload)))
			for b.Loop() {
				ts = ts.Add(time.Microsecond)
				if err := w.WritePacket(id, ts, bp.p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
		})
	}
}

// BenchmarkWritePacketMeta shows the cost of a direction and comment
// (pcapgo builds an option list per packet).
func BenchmarkWritePacketMeta(b *testing.B) {
	w, err := NewWriter(io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	id, err := w.AddInterface("h/eth0")
	if err != nil {
		b.Fatal(err)
	}
	p := benchPackets()[0].p
	m := Meta{Dir: DirOutbound, Comment: "dropped: loss"}
	ts := epoch
	b.ReportAllocs()
	for b.Loop() {
		ts = ts.Add(time.Microsecond)
		if err := w.WritePacketMeta(id, ts, p, m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendIP measures header building and checksums alone.
func BenchmarkAppendIP(b *testing.B) {
	for _, bp := range benchPackets() {
		b.Run(bp.name, func(b *testing.B) {
			buf := make([]byte, 0, 2048)
			b.ReportAllocs()
			b.SetBytes(int64(len(bp.p.Payload)))
			for b.Loop() {
				var err error
				if buf, err = AppendIP(buf[:0], bp.p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
