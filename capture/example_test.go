package capture_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/vnetsim/vnetsim/capture"
)

// Write one simulated UDP datagram and read it back the way Wireshark would:
// a pcapng interface, a nanosecond timestamp and a raw IPv4 packet.
func Example() {
	var file bytes.Buffer
	w, err := capture.NewWriter(&file)
	if err != nil {
		panic(err)
	}
	eth0, err := w.AddInterface("host1/eth0")
	if err != nil {
		panic(err)
	}
	virtualNow := time.Date(2000, 1, 1, 0, 0, 1, 234567890, time.UTC)
	err = w.WritePacket(eth0, virtualNow, capture.Packet{
		Proto:   capture.ProtoUDP,
		Src:     netip.MustParseAddrPort("10.0.0.1:5000"),
		Dst:     netip.MustParseAddrPort("203.0.113.9:3478"),
		Payload: []byte("hello"),
	})
	if err != nil {
		panic(err)
	}
	if err := w.Flush(); err != nil {
		panic(err)
	}

	r, err := pcapgo.NewNgReader(&file, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		panic(err)
	}
	data, ci, err := r.ReadPacketData()
	if err != nil {
		panic(err)
	}
	intf, _ := r.Interface(ci.InterfaceIndex)
	pkt := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
	ip := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	udp := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
	fmt.Println("interface:", intf.Name, "link type:", r.LinkType())
	fmt.Println("time:", ci.Timestamp.Format(time.RFC3339Nano))
	fmt.Printf("%v:%d -> %v:%d ttl %d, %d bytes on the wire\n", ip.SrcIP, udp.SrcPort, ip.DstIP, udp.DstPort, ip.TTL, ci.Length)
	fmt.Printf("payload: %q\n", udp.Payload)
	// Output:
	// interface: host1/eth0 link type: Raw
	// time: 2000-01-01T00:00:01.23456789Z
	// 10.0.0.1:5000 -> 203.0.113.9:3478 ttl 64, 33 bytes on the wire
	// payload: "hello"
}
