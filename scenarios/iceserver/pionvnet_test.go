package iceserver

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/pion/logging"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/turn/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOnPionVnet keeps the package's promise that it needs nothing but
// transport.Net: the servers and Discover run unchanged on pion's own
// wall-clock vnet. The NAT is a full cone, so that nothing waits for a
// timeout in real time; the behaviour tests run on vnetsim's vnet.
func TestOnPionVnet(t *testing.T) {
	logs := logging.NewDefaultLoggerFactory()
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "1.2.3.0/24", LoggerFactory: logs})
	require.NoError(t, err)
	server, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip1.String(), ip2.String()}})
	require.NoError(t, err)
	require.NoError(t, wan.AddNet(server))
	wanHost, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{wanIP.String()}})
	require.NoError(t, err)
	require.NoError(t, wan.AddNet(wanHost))
	lan, err := vnet.NewRouter(&vnet.RouterConfig{
		CIDR:      "10.0.0.0/24",
		StaticIPs: []string{natIP.String()},
		NATType: &vnet.NATType{
			MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointIndependent,
		},
		LoggerFactory: logs,
	})
	require.NoError(t, err)
	require.NoError(t, wan.AddRouter(lan))
	client, err := vnet.NewNet(&vnet.NetConfig{})
	require.NoError(t, err)
	require.NoError(t, lan.AddNet(client))
	require.NoError(t, wan.Start())
	defer func() { _ = wan.Stop() }()

	stunSrv, err := StartSTUN(STUNConfig{Net: server, Address: stunP1, OtherAddress: stunP2})
	require.NoError(t, err)
	defer stunSrv.Close()
	res, err := Discover(context.Background(), client, net.UDPAddrFromAddrPort(stunSrv.Addr()), DiscoverOptions{})
	require.NoError(t, err)
	assert.True(t, res.NAT)
	assert.Equal(t, natIP, res.Mapped.Addr())
	assert.Equal(t, EndpointIndependent, res.Mapping)
	assert.Equal(t, EndpointIndependent, res.Filtering)

	turnSrv, err := StartTURN(TURNConfig{Net: server, Address: netip.AddrPortFrom(ip1, 5000), Users: testUsers, LoggerFactory: logs})
	require.NoError(t, err)
	defer turnSrv.Close()
	conn, err := client.ListenPacket("udp4", "0.0.0.0:0")
	require.NoError(t, err)
	defer conn.Close()
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: turnSrv.Addr().String(), TURNServerAddr: turnSrv.Addr().String(),
		Username: "alice", Password: "secret", Conn: conn, Net: client, LoggerFactory: logs,
	})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Listen())
	relayConn, err := c.Allocate()
	require.NoError(t, err)
	defer relayConn.Close()
	peer, err := wanHost.ListenPacket("udp4", "1.2.3.10:7000")
	require.NoError(t, err)
	defer peer.Close()
	relayRoundTrip(t, relayConn, peer, "over pion's vnet")
}
