package scenarios_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/scenarios"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/vnet"
)

func peerConnection(t *testing.T, s *sim.Scheduler, n *vnet.Net, in *scenarios.Internet) *webrtc.PeerConnection {
	se := webrtc.SettingEngine{LoggerFactory: s.LoggerFactory()}
	se.SetNet(n)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
	var servers []webrtc.ICEServer
	for _, u := range in.STUN {
		servers = append(servers, webrtc.ICEServer{URLs: []string{u.String()}})
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: servers})
	require.NoError(t, err)
	return pc
}

// TestWebRTCDataChannel: a pion/webrtc peer connection with a data channel
// through two NATs and a lossy link delivers every message, in a bubble.
func TestWebRTCDataChannel(t *testing.T) {
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		in, err := scenarios.NewInternet(s)
		require.NoError(t, err)
		defer in.Close()
		pa, err := in.AddNATPeer("a", nat.PortRestrictedCone)
		require.NoError(t, err)
		pb, err := in.AddNATPeer("b", nat.RestrictedCone)
		require.NoError(t, err)
		require.NoError(t, pb.Impair(impair.Config{Loss: 0.05, Delay: 10 * time.Millisecond}))

		offerer := peerConnection(t, s, pa.Net, in)
		answerer := peerConnection(t, s, pb.Net, in)
		defer offerer.Close()  //nolint:errcheck
		defer answerer.Close() //nolint:errcheck

		const messages = 20
		got := make(chan string, messages)
		answerer.OnDataChannel(func(dc *webrtc.DataChannel) {
			dc.OnMessage(func(m webrtc.DataChannelMessage) { got <- string(m.Data) })
		})
		dc, err := offerer.CreateDataChannel("chat", nil)
		require.NoError(t, err)
		opened := make(chan struct{})
		dc.OnOpen(func() { close(opened) })

		// Non-trickle signaling: wait for gathering, then exchange SDP.
		offer, err := offerer.CreateOffer(nil)
		require.NoError(t, err)
		gathered := webrtc.GatheringCompletePromise(offerer)
		require.NoError(t, offerer.SetLocalDescription(offer))
		<-gathered
		require.NoError(t, answerer.SetRemoteDescription(*offerer.LocalDescription()))
		answer, err := answerer.CreateAnswer(nil)
		require.NoError(t, err)
		gathered = webrtc.GatheringCompletePromise(answerer)
		require.NoError(t, answerer.SetLocalDescription(answer))
		<-gathered
		require.NoError(t, offerer.SetRemoteDescription(*answerer.LocalDescription()))

		start := time.Now()
		select {
		case <-opened:
		case <-time.After(time.Minute):
			t.Fatal("data channel did not open in a minute of virtual time")
		}
		t.Logf("data channel open after %v of virtual time", time.Since(start))
		for i := 0; i < messages; i++ {
			require.NoError(t, dc.SendText(fmt.Sprintf("msg %d", i)))
		}
		var recv []string
		timeout := time.After(time.Minute)
		for len(recv) < messages {
			select {
			case m := <-got:
				recv = append(recv, m)
			case <-timeout:
				t.Fatalf("got %d of %d messages", len(recv), messages)
			}
		}
		for i, m := range recv {
			assert.Equal(t, fmt.Sprintf("msg %d", i), m, "reliable, ordered data channel")
		}
		require.NoError(t, offerer.Close())
		require.NoError(t, answerer.Close())
	})
}
