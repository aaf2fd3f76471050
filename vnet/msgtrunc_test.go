//go:build unix && !aix

package vnet_test

import (
	"net"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
)

// ReadMsgUDP reports a datagram cut to the buffer with MSG_TRUNC in its
// flags, as recvmsg(2) does, and the bytes that fit.
func TestReadMsgUDPFlagsTruncation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		buf   int
		n     int
		flags int
	}{
		{"shorter buffer", 4, 4, syscall.MSG_TRUNC},
		{"exact buffer", 10, 10, 0},
		{"longer buffer", 20, 10, 0},
		{"empty buffer", 0, 0, syscall.MSG_TRUNC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sim.New(sim.Config{})
			_, a, b := wanPair(t, s)
			ca, err := a.ListenPacket("udp4", "1.2.3.4:1000")
			require.NoError(t, err)
			cb, err := b.ListenPacket("udp4", "1.2.3.5:2000")
			require.NoError(t, err)
			_, err = ca.WriteTo([]byte("0123456789"), &net.UDPAddr{IP: net.IPv4(1, 2, 3, 5), Port: 2000})
			require.NoError(t, err)
			s.Run()

			buf := make([]byte, tc.buf)
			n, oobn, flags, from, err := cb.(*vnet.UDPConn).ReadMsgUDP(buf, nil)
			require.NoError(t, err)
			assert.Equal(t, tc.n, n)
			assert.Equal(t, "0123456789"[:tc.n], string(buf[:n]))
			assert.Zero(t, oobn)
			assert.Equal(t, tc.flags, flags)
			assert.Equal(t, "1.2.3.4:1000", from.String())
		})
	}
}
