package vnet

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The proxy relays a virtual client's datagrams to a real UDP server on
// the host and its answers back, in real time (it cannot be otherwise).
func TestUDPProxyRelaysToARealServer(t *testing.T) {
	real, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	echoDone := make(chan struct{})
	go func() {
		defer close(echoDone)
		buf := make([]byte, 2000)
		for {
			n, from, err := real.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = real.WriteToUDP(append([]byte("echo "), buf[:n]...), from)
		}
	}()

	wan, err := NewRouter(&RouterConfig{CIDR: "1.2.3.0/24"})
	require.NoError(t, err)
	client, err := NewNet(&NetConfig{StaticIPs: []string{"1.2.3.4"}})
	require.NoError(t, err)
	require.NoError(t, wan.AddNet(client))
	require.NoError(t, wan.Start())

	proxy, err := NewProxy(wan)
	require.NoError(t, err)
	proxy.realAddr = real.LocalAddr().(*net.UDPAddr) // the real server stands in for 1.2.3.100:7777
	server := &net.UDPAddr{IP: net.IPv4(1, 2, 3, 100), Port: 7777}
	require.NoError(t, proxy.Proxy(client, server))
	require.NoError(t, proxy.Proxy(client, server), "a second time does nothing")

	c, err := client.ListenPacket("udp4", ":0")
	require.NoError(t, err)
	_, err = c.WriteTo([]byte("hello"), server)
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	buf := make([]byte, 100)
	n, from, err := c.ReadFrom(buf)
	require.NoError(t, err)
	assert.Equal(t, "echo hello", string(buf[:n]))
	assert.Equal(t, server.String(), from.String())

	src := &net.UDPAddr{IP: net.IPv4(1, 2, 3, 4), Port: c.LocalAddr().(*net.UDPAddr).Port} // as the proxy saw it
	sent, err := proxy.Deliver(src, server, []byte("replayed"))
	require.NoError(t, err)
	assert.Equal(t, len("replayed"), sent)
	n, _, err = c.ReadFrom(buf)
	require.NoError(t, err)
	assert.Equal(t, "echo replayed", string(buf[:n]))

	require.NoError(t, proxy.Close())
	require.ErrorIs(t, proxy.Proxy(client, &net.UDPAddr{IP: net.IPv4(1, 2, 3, 101), Port: 1}), net.ErrClosed)
	require.NoError(t, c.Close())
	require.NoError(t, wan.Stop())
	require.NoError(t, real.Close())
	<-echoDone
}
