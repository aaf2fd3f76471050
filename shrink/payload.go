package shrink

import (
	"encoding/binary"
	"fmt"

	"github.com/pion/stun/v4"
)

// Kind names what a payload is, as far as a cheap look tells: a STUN
// message with its type ("STUN Binding success response"), TURN ChannelData,
// a DTLS record, or else "UDP datagram" / "TCP segment" with its length.
func Kind(proto uint8, payload []byte) string {
	if proto == 6 {
		return fmt.Sprintf("TCP segment (%d bytes)", len(payload))
	}
	if stun.IsMessage(payload) {
		m := &stun.Message{Raw: append([]byte(nil), payload...)}
		if err := m.Decode(); err == nil {
			return "STUN " + m.Type.String()
		}
	}
	if n := len(payload); n >= 4 && payload[0] >= 0x40 && payload[0] <= 0x7f {
		// ChannelData: channel number, then the data length; padded to 4
		// bytes over UDP.
		if l := int(binary.BigEndian.Uint16(payload[2:4])); l+4 <= n && n <= l+4+3 {
			return fmt.Sprintf("TURN ChannelData (%d bytes)", n)
		}
	}
	if len(payload) >= 13 && payload[0] >= 20 && payload[0] <= 25 && payload[1] == 0xfe {
		return fmt.Sprintf("DTLS record (%d bytes)", len(payload))
	}
	return fmt.Sprintf("UDP datagram (%d bytes)", len(payload))
}
