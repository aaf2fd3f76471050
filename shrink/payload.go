package shrink

import (
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
	if len(payload) >= 4 {
		switch b := payload[0]; {
		case b >= 0x40 && b <= 0x7f:
			return fmt.Sprintf("TURN ChannelData (%d bytes)", len(payload))
		case b >= 20 && b <= 63:
			return fmt.Sprintf("DTLS record (%d bytes)", len(payload))
		}
	}
	return fmt.Sprintf("UDP datagram (%d bytes)", len(payload))
}
