package vnet

import (
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A writer waiting for the world's backlog waits on its socket's one
// wake-up channel (waitBacklog); Close, the write deadline and the end of
// the paced loop each end the wait, for every writer of the socket.
func TestBacklogWaitEnds(t *testing.T) {
	tests := []struct {
		name string
		end  func(c *UDPConn, r *Router)
		want error // nil: the write is let through
	}{
		{"close", func(c *UDPConn, _ *Router) { _ = c.Close() }, net.ErrClosed},
		{"write deadline", func(c *UDPConn, _ *Router) { _ = c.SetWriteDeadline(time.Now()) }, os.ErrDeadlineExceeded},
		{"loop stops", func(_ *UDPConn, r *Router) { _ = r.Stop() }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wan, err := NewRouter(&RouterConfig{Name: "wan", CIDR: "1.2.3.0/24"})
			require.NoError(t, err)
			h, err := NewNet(&NetConfig{StaticIP: "1.2.3.4"})
			require.NoError(t, err)
			require.NoError(t, wan.AddNet(h))
			pc, err := h.ListenPacket("udp4", "1.2.3.4:9")
			require.NoError(t, err)
			c := pc.(*UDPConn)
			require.NoError(t, wan.Start())
			defer func() { _ = wan.Stop() }()
			// A full backlog that nothing drains: every write waits.
			wan.w.written.Add(maxBacklog)
			const writers = 3
			errc := make(chan error, writers)
			for range writers {
				go func() {
					_, err := c.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(1, 2, 3, 5), Port: 9})
					errc <- err
				}()
			}
			require.Eventually(t, func() bool {
				c.mu.Lock()
				defer c.mu.Unlock()
				return c.bwait == writers
			}, 5*time.Second, time.Millisecond, "every writer waits")
			select {
			case err := <-errc:
				t.Fatalf("a write returned before the wait was ended: %v", err)
			default:
			}
			tt.end(c, wan)
			for range writers {
				err := <-errc
				if tt.want == nil {
					assert.NoError(t, err)
				} else {
					assert.ErrorIs(t, err, tt.want)
				}
			}
			wan.w.written.Add(-maxBacklog)
		})
	}
}
