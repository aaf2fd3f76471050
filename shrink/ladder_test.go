package shrink_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/shrink"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/tracefile"
	"github.com/vnetsim/vnetsim/tracefile/ladder"
	"github.com/vnetsim/vnetsim/vnet"
)

// pageArrows returns the arrows embedded in a ladder page.
func pageArrows(t *testing.T, page string) []ladder.Arrow {
	d, err := ladder.ReadHTML(strings.NewReader(page))
	require.NoError(t, err)
	return d.Arrows
}

// The traced replay of the minimal set holds the kept loss as the only
// drop, and the ladder page highlights exactly its arrow, labelled.
func TestWriteLadder(t *testing.T) {
	run := lossy(t, missing(7))
	res, err := shrink.Shrink(firstFailing(t, run), run, shrink.Options{Confirm: 1})
	require.NoError(t, err)
	require.Len(t, res.Fates, 1)

	var buf bytes.Buffer
	ids, err := res.WriteTrace(run, &buf)
	require.NoError(t, err)
	require.Len(t, ids, 1)
	require.NotZero(t, ids[0])
	tr, err := tracefile.Read(&buf)
	require.NoError(t, err)
	assert.Equal(t, res.Seed, tr.Header.Seed)
	var drops []tracefile.Event
	sent := 0
	for _, e := range tr.Events {
		if e.Kind == "drop" {
			drops = append(drops, e)
		}
		if e.Kind == "send" {
			sent++
		}
	}
	assert.Equal(t, 40, sent)
	require.Len(t, drops, 1, "nothing random is left: the kept loss is the run's only drop")
	assert.Equal(t, ids[0], drops[0].ID)
	assert.Equal(t, "a->wan", drops[0].Where)
	assert.Equal(t, "loss", drops[0].Reason)

	var page bytes.Buffer
	require.NoError(t, res.WriteLadder(run, &page))
	var marked []ladder.Arrow
	for _, a := range pageArrows(t, page.String()) {
		if a.Note != "" {
			marked = append(marked, a)
		}
	}
	require.Len(t, marked, 1, "exactly the kept fate is highlighted")
	assert.Equal(t, ids[0], marked[0].ID)
	assert.Equal(t, "drop", marked[0].Fate)
	assert.Equal(t, "shrunk fate 1: "+res.Describe()[0], marked[0].Note)
	assert.True(t, strings.HasPrefix(marked[0].Note, "shrunk fate 1: drop the 8th packet on link a->wan"), marked[0].Note)
}

// A kept duplication (no drop record) is found by the packet it copies; a
// replay that no longer fails is an error.
func TestWriteTraceDuplicate(t *testing.T) {
	twice := func(got []int) error {
		seen := map[int]bool{}
		for _, n := range got {
			if seen[n] {
				return fmt.Errorf("datagram %d twice", n)
			}
			seen[n] = true
		}
		return nil
	}
	run := lossy(t, twice)
	dup := vnet.Fate{Link: "a->wan", Decision: impair.Decision{Seq: 8, Duplicate: true}}
	failure := run(1, vnet.Instruments{Script: vnet.Script([]vnet.Fate{dup})})
	require.EqualError(t, failure, "datagram 7 twice")
	res := &shrink.Result{Seed: 1, Failure: failure, Fates: []vnet.Fate{dup}, Start: sim.DefaultStart}

	var buf bytes.Buffer
	ids, err := res.WriteTrace(run, &buf)
	require.NoError(t, err)
	require.Len(t, ids, 1)
	tr, err := tracefile.Read(&buf)
	require.NoError(t, err)
	var sends []uint64
	for _, e := range tr.Events {
		if e.Kind == "send" {
			sends = append(sends, e.ID)
		}
		assert.NotEqual(t, "drop", e.Kind, "no loss in the replay")
	}
	require.Len(t, sends, 40)
	assert.Equal(t, sends[7], ids[0], "the duplicated packet is datagram 7")

	var page bytes.Buffer
	require.NoError(t, res.WriteLadder(run, &page))
	marked := 0
	for _, a := range pageArrows(t, page.String()) {
		if a.Note != "" {
			marked++
			assert.Equal(t, ids[0], a.ID)
			assert.Equal(t, "deliver", a.Fate)
			assert.Contains(t, a.Note, "shrunk fate 1: duplicate the 8th packet on link a->wan")
		}
	}
	assert.Equal(t, 2, marked, "the packet and its copy")

	// Without the duplicate the replay passes: not the failure any more.
	res.Fates = nil
	_, err = res.WriteTrace(run, &buf)
	assert.ErrorIs(t, err, shrink.ErrNotReplayable)
}
