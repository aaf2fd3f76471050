package vnet_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/tracefile"
	"github.com/vnetsim/vnetsim/vnet"
)

// Every record carries the ordinal of the scheduler event it happened in,
// and the trace file's events, the records and the capture's packet
// comments agree on them.
func TestRecordsCarryEventOrdinals(t *testing.T) {
	s := sim.New(sim.Config{Seed: 1})
	var firing uint64
	s.Observe(func(e sim.EventInfo) { firing = e.N })
	var buf bytes.Buffer
	tw := tracefile.NewWriter(&buf, tracefile.Header{})
	tracefile.Attach(s, tw)
	sc := newScene(t, s)
	var recs []vnet.Record
	sc.wan.Observe(func(r vnet.Record) {
		assert.Equal(t, firing, r.Seq, "record %v", r)
		if r.Proto == 17 && r.Kind != vnet.KindDrop {
			assert.NotNil(t, r.Payload, "the payload is there during the call")
		}
		recs = append(recs, r)
	})
	var pcap bytes.Buffer
	c, err := sc.wan.Capture(&pcap, sc.host.Eth0(), sc.lan.Outside())
	require.NoError(t, err)
	srv := listen(t, sc.server, "1.2.3.4:7")
	cli := listen(t, sc.host, "0.0.0.0:5000")
	for i := range 3 {
		send(t, cli, "1.2.3.4:7", fmt.Sprintf("ping %d", i))
	}
	s.RunFor(time.Second)
	assert.Len(t, drain(t, srv), 3)
	require.NoError(t, c.Close())
	require.NoError(t, tw.Close())

	tr, err := tracefile.Read(&buf)
	require.NoError(t, err)
	require.Len(t, tr.Events, len(recs))
	byID := map[uint64][]uint64{} // packet id -> ordinals of its events
	for i, e := range tr.Events {
		assert.Equal(t, recs[i].Seq, e.Seq)
		assert.Equal(t, recs[i].ID, e.ID)
		assert.Equal(t, recs[i].Kind.String(), e.Kind)
		byID[e.ID] = append(byID[e.ID], e.Seq)
	}
	assert.NotEmpty(t, tr.Topology.Nodes)

	r, err := pcapgo.NewNgReader(bytes.NewReader(pcap.Bytes()), pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	n := 0
	for {
		_, _, opts, err := r.ReadPacketDataWithOptions()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		require.Len(t, opts.Comments, 1)
		var id, ev uint64
		_, err = fmt.Sscanf(opts.Comments[0], "id=%d ev=%d", &id, &ev)
		require.NoError(t, err, opts.Comments[0])
		assert.Contains(t, byID[id], ev, "packet %d's capture points at one of its trace events", id)
		n++
	}
	assert.Equal(t, 6, n, "3 datagrams on two interfaces")
}

// The Tracer keeps records without their payload (it is only valid during
// the observer's call).
func TestTracerDropsPayload(t *testing.T) {
	s := sim.New(sim.Config{Seed: 1})
	sc := newScene(t, s)
	tr := sc.wan.Trace(vnet.TraceConfig{})
	srv := listen(t, sc.server, "1.2.3.4:7")
	cli := listen(t, sc.host, "0.0.0.0:5000")
	send(t, cli, "1.2.3.4:7", "x")
	s.RunFor(time.Second)
	drain(t, srv)
	require.NotEmpty(t, tr.Records())
	for _, r := range tr.Records() {
		assert.Nil(t, r.Payload)
		assert.NotZero(t, r.Seq)
	}
}

func TestTopology(t *testing.T) {
	s := sim.New(sim.Config{Seed: 1})
	sc := newScene(t, s)
	var lines []string
	for _, n := range sc.wan.Topology() {
		lines = append(lines, fmt.Sprintf("%s %s parent=%s nat=%t %v", n.Kind, n.Name, n.Parent, n.NAT != "", n.Addrs))
	}
	text := strings.Join(lines, "\n")
	assert.Contains(t, text, "router wan parent= nat=false")
	assert.Contains(t, text, "router lan parent=wan nat=true [1.2.3.100]")
	assert.Contains(t, text, "host host parent=lan nat=false [192.168.0.1]")
}

// TCP segments are described by their header: flags, numbers and payload
// length, at every event including the delivery.
func TestTraceFileTCP(t *testing.T) {
	var buf bytes.Buffer
	tw := tracefile.NewWriter(&buf, tracefile.Header{})
	simtest.Run(t, 1, func(t *testing.T, s *sim.Scheduler) {
		tracefile.Attach(s, tw) // in place of simtest's
		_, a, b := wanPair(t, s)
		ln, err := b.Listen("tcp4", "0.0.0.0:80")
		require.NoError(t, err)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				_, _ = c.Write([]byte("hello"))
				_ = c.Close()
			}
		}()
		c, err := a.Dial("tcp4", "1.2.3.5:80")
		require.NoError(t, err)
		_, err = io.ReadFull(c, make([]byte, 5))
		require.NoError(t, err)
		require.NoError(t, c.Close())
		require.NoError(t, ln.Close())
		time.Sleep(time.Second)
	})
	require.NoError(t, tw.Close())
	tr, err := tracefile.Read(&buf)
	require.NoError(t, err)
	var syn, data bool
	for _, e := range tr.Events {
		require.Equal(t, "tcp", e.Proto)
		require.NotNil(t, e.Info)
		syn = syn || e.Info.Flags == "SYN"
		data = data || (e.Kind == "deliver" && e.Info.Len == 5)
	}
	assert.True(t, syn, "the SYN")
	assert.True(t, data, "the delivery of the 5 bytes")
}
