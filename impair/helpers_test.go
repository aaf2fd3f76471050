package impair

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// t0 is synctest's epoch, where vnetsim's virtual time starts.
var t0 = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0)) }

func mustLink(tb testing.TB, cfg Config) *Link {
	tb.Helper()
	l, err := NewLink(cfg)
	require.NoError(tb, err)
	return l
}

// checkConservation asserts the accounting identity of Stats.
func checkConservation(tb testing.TB, s Stats) {
	tb.Helper()
	require.Equal(tb, s.Sent+s.Resumed, s.Passed+s.Dropped()+s.Held,
		"Sent+Resumed must equal Passed+Dropped+Held: %+v", s)
}
