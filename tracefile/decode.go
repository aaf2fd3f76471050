package tracefile

import (
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"
)

// DecodeUDP describes a UDP payload: STUN/TURN, TURN ChannelData, DTLS,
// RTP or RTCP, told apart as RFC 7983 does by the first byte, then checked
// against each format's own rules. Anything else is "data". It never
// fails: a payload that is too short or malformed for what its first byte
// says is "data" too.
func DecodeUDP(b []byte) *Info {
	in := &Info{}
	DecodeUDPInto(in, b)
	return in
}

// DecodeUDPInto is DecodeUDP into in, reusing its Attrs slice: an observer
// that decodes every packet allocates (almost) nothing.
func DecodeUDPInto(in *Info, b []byte) {
	attrs := in.Attrs[:0]
	*in = Info{}
	if len(b) == 0 {
		in.P = "data"
		return
	}
	switch c := b[0]; {
	case c <= 3:
		if decodeSTUN(in, b, attrs) {
			return
		}
	case c >= 20 && c <= 63:
		if decodeDTLS(in, b) {
			return
		}
	case c >= 64 && c <= 79:
		if decodeChannelData(in, b) {
			return
		}
	case c >= 128 && c <= 191:
		if decodeRTP(in, b) {
			return
		}
	}
	*in = Info{P: "data", Len: len(b)}
}

// TCP flag bits in wire order.
var tcpFlagNames = [...]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}

// DecodeTCP describes a TCP segment's header.
func DecodeTCP(flags uint8, seq, ack uint32, window uint16, n int) *Info {
	var names []string
	for i, name := range tcpFlagNames {
		if flags&(1<<i) != 0 {
			names = append(names, name)
		}
	}
	return &Info{P: "tcp", Flags: strings.Join(names, "|"), Seq: seq, Ack: ack, Window: window, Len: n}
}

const stunMagic = 0x2112A442

var stunMethods = map[uint16]string{
	0x001: "binding", 0x003: "allocate", 0x004: "refresh", 0x006: "send", 0x007: "data",
	0x008: "create-permission", 0x009: "channel-bind", 0x00a: "connect", 0x00b: "connection-bind",
	0x00c: "connection-attempt",
}

var stunClasses = [...]string{"request", "indication", "success", "error"}

func decodeSTUN(in *Info, b []byte, attrs []string) bool {
	if len(b) < 20 || binary.BigEndian.Uint32(b[4:8]) != stunMagic {
		return false
	}
	typ := binary.BigEndian.Uint16(b[0:2])
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if typ&0xc000 != 0 || n%4 != 0 || 20+n > len(b) {
		return false
	}
	method := typ&0x000f | (typ&0x00e0)>>1 | (typ&0x3e00)>>2
	class := (typ&0x0010)>>4 | (typ&0x0100)>>7
	*in = Info{P: "stun", Class: stunClasses[class], TID: hex.EncodeToString(b[8:20])}
	if m, ok := stunMethods[method]; ok {
		in.Method = m
	} else {
		in.Method = "method-0x" + strconv.FormatUint(uint64(method), 16)
	}
	rest := b[20 : 20+n]
	for len(rest) >= 4 {
		at := binary.BigEndian.Uint16(rest[0:2])
		al := int(binary.BigEndian.Uint16(rest[2:4]))
		if 4+al > len(rest) {
			break
		}
		v := rest[4 : 4+al]
		if s := stunAttr(at, v, b[4:20]); s != "" {
			attrs = append(attrs, s)
		}
		adv := 4 + (al+3)&^3
		if adv > len(rest) {
			break
		}
		rest = rest[adv:]
	}
	if len(attrs) > 0 {
		in.Attrs = attrs
	}
	return true
}

// stunAttr renders the attributes worth showing; others give "".
func stunAttr(typ uint16, v, cookieTID []byte) string {
	switch typ {
	case 0x0025:
		return "USE-CANDIDATE"
	case 0x0024:
		if len(v) == 4 {
			return "PRIORITY=" + strconv.FormatUint(uint64(binary.BigEndian.Uint32(v)), 10)
		}
	case 0x802a:
		return "ICE-CONTROLLING"
	case 0x8029:
		return "ICE-CONTROLLED"
	case 0x0006:
		return "USERNAME=" + string(v)
	case 0x0020:
		return xorAddr("XOR-MAPPED-ADDRESS=", v, cookieTID)
	case 0x0012:
		return xorAddr("XOR-PEER-ADDRESS=", v, cookieTID)
	case 0x0016:
		return xorAddr("XOR-RELAYED-ADDRESS=", v, cookieTID)
	case 0x000c:
		if len(v) >= 2 {
			return "CHANNEL-NUMBER=0x" + strconv.FormatUint(uint64(binary.BigEndian.Uint16(v)), 16)
		}
	case 0x000d:
		if len(v) == 4 {
			return "LIFETIME=" + strconv.FormatUint(uint64(binary.BigEndian.Uint32(v)), 10)
		}
	case 0x0009:
		if len(v) >= 4 {
			return "ERROR-CODE=" + strconv.Itoa(int(v[2]&7)*100+int(v[3]))
		}
	case 0x0013:
		return "DATA=" + strconv.Itoa(len(v))
	}
	return ""
}

// xorAddr decodes an XOR-*-ADDRESS value (RFC 8489 section 14.2).
func xorAddr(name string, v, cookieTID []byte) string {
	if len(v) < 8 {
		return ""
	}
	port := binary.BigEndian.Uint16(v[2:4]) ^ uint16(stunMagic>>16)
	var a netip.Addr
	switch v[1] {
	case 1:
		var ip [4]byte
		for i := range ip {
			ip[i] = v[4+i] ^ cookieTID[i]
		}
		a = netip.AddrFrom4(ip)
	case 2:
		if len(v) < 20 {
			return ""
		}
		var ip [16]byte
		for i := range ip {
			ip[i] = v[4+i] ^ cookieTID[i]
		}
		a = netip.AddrFrom16(ip)
	default:
		return ""
	}
	return name + netip.AddrPortFrom(a, port).String()
}

func decodeChannelData(in *Info, b []byte) bool {
	if len(b) < 4 {
		return false
	}
	ch := binary.BigEndian.Uint16(b[0:2])
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if ch < 0x4000 || ch > 0x4fff || 4+n > len(b) {
		return false
	}
	*in = Info{P: "channeldata", Channel: ch, Len: n, Inner: DecodeUDP(b[4 : 4+n])}
	return true
}

var dtlsContent = map[byte]string{20: "change-cipher-spec", 21: "alert", 22: "handshake", 23: "application-data", 25: "ack"}

var dtlsHandshake = map[byte]string{
	0: "hello-request", 1: "client-hello", 2: "server-hello", 3: "hello-verify-request",
	4: "new-session-ticket", 11: "certificate", 12: "server-key-exchange", 13: "certificate-request",
	14: "server-hello-done", 15: "certificate-verify", 16: "client-key-exchange", 20: "finished",
}

func decodeDTLS(in *Info, b []byte) bool {
	const hdr = 13
	if len(b) < hdr || b[1] != 0xfe {
		return false
	}
	ct, ok := dtlsContent[b[0]]
	if !ok {
		return false
	}
	*in = Info{P: "dtls", Record: ct}
	epoch := binary.BigEndian.Uint16(b[3:5])
	if b[0] == 22 && epoch == 0 && len(b) > hdr {
		if h, ok := dtlsHandshake[b[hdr]]; ok {
			in.Handshake = h
		}
	}
	for rest := b; len(rest) >= hdr; {
		in.Records++
		n := hdr + int(binary.BigEndian.Uint16(rest[11:13]))
		if n > len(rest) {
			break
		}
		rest = rest[n:]
	}
	return true
}

var rtcpTypes = map[byte]string{200: "sr", 201: "rr", 202: "sdes", 203: "bye", 204: "app", 205: "rtpfb", 206: "psfb", 207: "xr"}

func decodeRTP(in *Info, b []byte) bool {
	if len(b) < 8 || b[0]>>6 != 2 {
		return false
	}
	if pt := b[1]; pt >= 192 && pt <= 223 { // RTCP (RFC 5761)
		*in = Info{P: "rtcp", SSRC: binary.BigEndian.Uint32(b[4:8])}
		if s, ok := rtcpTypes[pt]; ok {
			in.Record = s
		} else {
			in.Record = strconv.Itoa(int(pt))
		}
		return true
	}
	if len(b) < 12 {
		return false
	}
	*in = Info{P: "rtp", PT: b[1] & 0x7f, Marker: b[1]&0x80 != 0,
		RTPSeq: binary.BigEndian.Uint16(b[2:4]), SSRC: binary.BigEndian.Uint32(b[8:12]), Len: len(b)}
	return true
}

// Label is a short description for diagrams: "STUN binding request
// USE-CANDIDATE", "DTLS handshake client-hello", "ChannelData 0x4000: RTP
// pt=111 seq=7", "TCP SYN|ACK seq=1 ack=1 len=0".
func (in *Info) Label() string {
	if in == nil {
		return ""
	}
	var b strings.Builder
	switch in.P {
	case "stun":
		b.WriteString("STUN " + in.Method + " " + in.Class)
		for _, a := range in.Attrs {
			if a == "USE-CANDIDATE" || strings.HasPrefix(a, "XOR-") || strings.HasPrefix(a, "ERROR-CODE") {
				b.WriteString(" " + a)
			}
		}
	case "channeldata":
		b.WriteString("ChannelData 0x" + strconv.FormatUint(uint64(in.Channel), 16))
		if in.Inner != nil {
			b.WriteString(": " + in.Inner.Label())
		}
	case "dtls":
		b.WriteString("DTLS " + in.Record)
		if in.Handshake != "" {
			b.WriteString(" " + in.Handshake)
		}
		if in.Records > 1 {
			b.WriteString(" (+" + strconv.Itoa(in.Records-1) + " records)")
		}
	case "rtp":
		b.WriteString("RTP pt=" + strconv.Itoa(int(in.PT)) + " seq=" + strconv.Itoa(int(in.RTPSeq)))
	case "rtcp":
		b.WriteString("RTCP " + in.Record)
	case "tcp":
		b.WriteString("TCP " + in.Flags + " seq=" + strconv.FormatUint(uint64(in.Seq), 10))
		if strings.Contains(in.Flags, "ACK") {
			b.WriteString(" ack=" + strconv.FormatUint(uint64(in.Ack), 10))
		}
		b.WriteString(" len=" + strconv.Itoa(in.Len))
	default:
		b.WriteString(strconv.Itoa(in.Len) + " bytes")
	}
	return b.String()
}
