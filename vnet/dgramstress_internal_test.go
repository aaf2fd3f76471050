package vnet

import (
	"bytes"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/impair"
)

// Real time, many goroutines: writers and readers on hosts behind a NAT,
// a server echoing, a lossy and duplicating link, datagrams small and
// large, and the root stopped and started again meanwhile. Under -race
// this checks that the free list and the dgrams are touched only where
// they should be; at the end every echo read is one that was written, and
// the counters add up.
func TestPacedNATStressWithStopStart(t *testing.T) {
	wan, err := NewRouter(&RouterConfig{Name: "wan", CIDR: "1.2.3.0/24"})
	require.NoError(t, err)
	lan, err := NewRouter(&RouterConfig{Name: "lan", CIDR: "192.168.0.0/24", StaticIPs: []string{"1.2.3.100"}})
	require.NoError(t, err)
	require.NoError(t, wan.AddRouter(lan))
	server, err := NewNet(&NetConfig{StaticIPs: []string{"1.2.3.4"}})
	require.NoError(t, err)
	require.NoError(t, wan.AddNet(server))
	require.NoError(t, lan.Uplink().Set(impair.Config{Loss: 0.05, Duplicate: 0.1, Delay: time.Millisecond}))
	srv := listenUDP(t, server, "0.0.0.0:3478")
	require.NoError(t, wan.Start())
	echoDone := make(chan struct{})
	go func() {
		defer close(echoDone)
		buf := make([]byte, 2000)
		for {
			n, from, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = srv.WriteTo(buf[:n], from)
		}
	}()

	const hosts, each = 6, 150
	var bad, read atomic.Int64
	var wg sync.WaitGroup
	for h := range hosts {
		n, err := NewNet(&NetConfig{})
		require.NoError(t, err)
		require.NoError(t, lan.AddNet(n))
		c := listenUDP(t, n, "0.0.0.0:5000")
		wg.Add(2)
		go func() { // writer
			defer wg.Done()
			to := &net.UDPAddr{IP: net.IPv4(1, 2, 3, 4), Port: 3478}
			for i := range each {
				size := []int{8, 100, 120, 121, 600}[i%5]
				if _, err := c.WriteTo(numbered(h*1000+i, size)[:size], to); err != nil {
					return
				}
			}
		}()
		go func() { // reader: every echo is a datagram some writer wrote
			defer wg.Done()
			buf := make([]byte, 2000)
			for {
				_ = c.SetReadDeadline(time.Now().Add(time.Second))
				k, _, err := c.ReadFrom(buf)
				if errors.Is(err, os.ErrDeadlineExceeded) || err != nil {
					return
				}
				read.Add(1)
				if k < 5 || buf[0] != '#' { // every datagram written is numbered
					bad.Add(1)
					continue
				}
				i := int(buf[1]-'0')*1000 + int(buf[2]-'0')*100 + int(buf[3]-'0')*10 + int(buf[4]-'0')
				if !bytes.Equal(buf[:k], numbered(i, k)) {
					bad.Add(1)
				}
			}
		}()
	}
	for range 3 { // stop and start the world while the traffic runs
		time.Sleep(20 * time.Millisecond)
		require.NoError(t, wan.Stop())
		time.Sleep(5 * time.Millisecond)
		require.NoError(t, wan.Start())
	}
	wg.Wait()
	require.NoError(t, wan.Stop())
	require.NoError(t, srv.Close())
	<-echoDone
	assert.Zero(t, bad.Load(), "echoes that no writer wrote")
	assert.NotZero(t, read.Load())
	auditFreeList(t, wan.w)
	snap := wan.Snapshot()
	require.NoError(t, snap.Check(), "%s", snap)
	t.Logf("read %d echoes; dropped %v", read.Load(), snap.Dropped)
}
