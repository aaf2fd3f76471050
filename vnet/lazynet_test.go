package vnet_test

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
)

// eth0MAC returns the hardware address Interfaces gives n's eth0.
func eth0MAC(t *testing.T, n *vnet.Net) string {
	t.Helper()
	eth, err := n.InterfaceByName("eth0")
	require.NoError(t, err)
	return eth.HardwareAddr.String()
}

// An unattached Net's eth0 has one MAC address for its whole unattached
// life: its first socket (which makes its own world) does not change it.
func TestUnattachedMACStable(t *testing.T) {
	n, err := vnet.NewNet(&vnet.NetConfig{Name: "alone"})
	require.NoError(t, err)
	before := eth0MAC(t, n)
	assert.NotEqual(t, "02:00:00:00:00:00", before, "a host number, not the zero one")
	c, err := n.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	assert.Equal(t, before, eth0MAC(t, n), "the first socket moved the MAC")
	require.NoError(t, c.Close())
}

// The first socket of an unattached Net (which makes the Net's world) races
// with calls from other goroutines that pion makes concurrently (pion/ice
// lists interfaces on one goroutine while its gatherers listen on others).
// Run with -race.
func TestUnattachedFirstSocketRaces(t *testing.T) {
	n, err := vnet.NewNet(&vnet.NetConfig{Name: "alone"})
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	wg.Add(3)
	go func() {
		defer wg.Done()
		_, err := n.Interfaces()
		errs <- err
	}()
	go func() {
		defer wg.Done()
		d := n.CreateDialer(&net.Dialer{Timeout: time.Second})
		_, err := d.Dial("tcp4", "127.0.0.1:9")
		if !errors.Is(err, vnet.ErrNotAttached) {
			errs <- fmt.Errorf("dial on an unattached Net: %w, want ErrNotAttached", err)
			return
		}
		errs <- nil
	}()
	var c net.PacketConn
	go func() {
		defer wg.Done()
		var err error
		c, err = n.ListenPacket("udp4", "127.0.0.1:0")
		errs <- err
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	require.NotNil(t, c)
	require.NoError(t, c.Close())
}

// Sockets opened concurrently on an unattached Net share one world, talk
// to each other, and leave no goroutine behind once closed.
func TestUnattachedConcurrentListen(t *testing.T) {
	n, err := vnet.NewNet(&vnet.NetConfig{Name: "alone"})
	require.NoError(t, err)
	const k = 8
	conns := make([]net.PacketConn, k)
	errs := make([]error, k)
	var wg sync.WaitGroup
	for i := range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conns[i], errs[i] = n.ListenPacket("udp4", "127.0.0.1:0")
		}()
	}
	wg.Wait()
	for i := range k {
		require.NoError(t, errs[i])
	}
	// each sends to the next
	for i := range k {
		to := conns[(i+1)%k].LocalAddr()
		_, err := conns[i].WriteTo([]byte{byte(i)}, to)
		require.NoError(t, err)
	}
	buf := make([]byte, 4)
	for i := range k {
		require.NoError(t, conns[i].SetReadDeadline(time.Now().Add(5*time.Second)))
		m, _, err := conns[i].ReadFrom(buf)
		require.NoError(t, err)
		assert.Equal(t, []byte{byte((i + k - 1) % k)}, buf[:m])
	}
	for _, c := range conns {
		require.NoError(t, c.Close())
	}
}

// First TCP use from several goroutines at once makes one TCP host.
func TestConcurrentFirstTCPUse(t *testing.T) {
	s := sim.New(sim.Config{})
	_, a, _ := wanPair(t, s)
	require.NoError(t, s.Start())
	defer s.Stop()
	const k = 6
	ls := make([]net.Listener, k)
	errs := make([]error, k)
	var wg sync.WaitGroup
	for i := range k {
		wg.Add(2)
		go func() {
			defer wg.Done()
			ls[i], errs[i] = a.Listen("tcp4", net.JoinHostPort("1.2.3.4", "0"))
		}()
		go func() {
			defer wg.Done()
			_ = a.TCPStats()
		}()
	}
	wg.Wait()
	ports := map[int]bool{}
	for i := range k {
		require.NoError(t, errs[i])
		ports[ls[i].Addr().(*net.TCPAddr).Port] = true
	}
	assert.Len(t, ports, k, "every listener its own port")
	for _, l := range ls {
		require.NoError(t, l.Close())
	}
}

// Every operation on a Net before AddNet works or fails with a typed error
// (the Net has no world until its first socket); after AddNet, with its
// sockets closed, it is an ordinary host of the tree; and nothing is left
// running (the bubble fails on a leaked goroutine).
func TestUnattachedNetLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n, err := vnet.NewNet(&vnet.NetConfig{Name: "h"})
		require.NoError(t, err)
		// Before any socket: no world yet.
		ua, err := n.ResolveUDPAddr("udp4", "localhost:53")
		require.NoError(t, err)
		assert.Equal(t, "127.0.0.1:53", ua.String())
		_, err = n.ResolveUDPAddr("udp4", "example.org:53")
		var dnsErr *net.DNSError
		assert.ErrorAs(t, err, &dnsErr)
		ifs, err := n.Interfaces()
		require.NoError(t, err)
		assert.Len(t, ifs, 2)
		_, err = n.Listen("tcp4", "127.0.0.1:80")
		assert.ErrorIs(t, err, vnet.ErrNotAttached)
		_, err = n.Dial("tcp4", "127.0.0.1:80")
		assert.ErrorIs(t, err, vnet.ErrNotAttached)
		assert.Zero(t, n.TCPStats())
		assert.Nil(t, n.Uplink())
		assert.Nil(t, n.Router())

		// Loopback traffic in its own world.
		c, err := n.Dial("udp4", "127.0.0.1:9999")
		require.NoError(t, err)
		srv, err := n.ListenPacket("udp4", "127.0.0.1:9999")
		require.NoError(t, err)
		_, err = c.Write([]byte("hi"))
		require.NoError(t, err)
		require.NoError(t, srv.SetReadDeadline(time.Now().Add(time.Second)))
		buf := make([]byte, 8)
		k, _, err := srv.ReadFrom(buf)
		require.NoError(t, err)
		assert.Equal(t, "hi", string(buf[:k]))
		require.NoError(t, c.Close())
		require.NoError(t, srv.Close())

		// Attached once its sockets are closed: a host of the tree.
		wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "1.2.3.0/24"})
		require.NoError(t, err)
		require.NoError(t, wan.AddNet(n))
		peer, err := vnet.NewNet(&vnet.NetConfig{StaticIP: "1.2.3.9"})
		require.NoError(t, err)
		require.NoError(t, wan.AddNet(peer))
		require.NoError(t, wan.Start())
		l, err := peer.Listen("tcp4", "1.2.3.9:80")
		require.NoError(t, err)
		go func() {
			if s, err := l.Accept(); err == nil {
				_, _ = s.Write([]byte("tcp"))
				_ = s.Close()
			}
		}()
		tc, err := n.Dial("tcp4", "1.2.3.9:80")
		require.NoError(t, err)
		k, err = tc.Read(buf)
		require.NoError(t, err)
		assert.Equal(t, "tcp", string(buf[:k]))
		require.NoError(t, tc.Close())
		require.NoError(t, l.Close())
		snap := wan.Snapshot()
		require.NoError(t, snap.Check())
		require.NoError(t, wan.Stop())
	})
}
