package vnet_test

import (
	"errors"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/vnet"
)

// After the root's Stop, virtual time stands still, but a read deadline
// still passes, in the time package's time (as with pion's vnet): whether
// it was set before Stop, after it, or on a socket opened after it; and
// after a new Start the deadlines run on the scheduler again.
func TestDeadlinesPassWhileStopped(t *testing.T) {
	for _, tc := range []struct {
		name string
		// read opens (or takes) a socket and reads it with a 100 ms
		// deadline around the root's Stop.
		read func(t *testing.T, wan *vnet.Router, n *vnet.Net) error
	}{
		{"set before Stop", func(t *testing.T, wan *vnet.Router, n *vnet.Net) error {
			c, err := n.ListenPacket("udp4", "0.0.0.0:5000")
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, c.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
			require.NoError(t, wan.Stop())
			_, _, err = c.ReadFrom(make([]byte, 10))
			return err
		}},
		{"set after Stop", func(t *testing.T, wan *vnet.Router, n *vnet.Net) error {
			c, err := n.ListenPacket("udp4", "0.0.0.0:5000")
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, wan.Stop())
			require.NoError(t, c.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
			_, _, err = c.ReadFrom(make([]byte, 10))
			return err
		}},
		{"socket opened after Stop", func(t *testing.T, wan *vnet.Router, n *vnet.Net) error {
			require.NoError(t, wan.Stop())
			c, err := n.ListenPacket("udp4", "0.0.0.0:5000")
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, c.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
			_, _, err = c.ReadFrom(make([]byte, 10))
			return err
		}},
		{"Start again", func(t *testing.T, wan *vnet.Router, n *vnet.Net) error {
			c, err := n.ListenPacket("udp4", "0.0.0.0:5000")
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, c.SetReadDeadline(time.Now().Add(time.Second)))
			require.NoError(t, wan.Stop())
			require.NoError(t, wan.Start())
			defer wan.Stop()
			_, _, err = c.ReadFrom(make([]byte, 10))
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// No Scheduler: the root runs a paced loop on the time
				// package's clock, the bubble's.
				wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "1.2.3.0/24"})
				require.NoError(t, err)
				n, err := vnet.NewNet(&vnet.NetConfig{})
				require.NoError(t, err)
				require.NoError(t, wan.AddNet(n))
				require.NoError(t, wan.Start())
				start := time.Now()
				err = tc.read(t, wan, n)
				assert.True(t, errors.Is(err, os.ErrDeadlineExceeded), "%v", err)
				assert.Less(t, time.Since(start), 2*time.Second, "the deadline passed when due, not later")
			})
		})
	}
}
