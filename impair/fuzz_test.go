package impair

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzConfig builds link models from arbitrary configurations: Validate
// and NewLink must agree, a refused config must say which field is wrong,
// and a link built from an accepted one must, for any packet sizes, give
// fates that make sense (a drop delivers nothing, copies arrive no earlier
// than they were sent) and counters that add up.
func FuzzConfig(f *testing.F) {
	f.Add(int64(time.Millisecond), int64(0), uint8(0), 0.0, false, 0.0, 0.0, 0.0, 0, 0.0, uint8(0), int64(0), 0, 0, 0, 0.0, 0.0, 0.0, 0.0, []byte{100, 200})
	f.Add(int64(20*time.Millisecond), int64(5*time.Millisecond), uint8(1), 0.25, true, 0.1, 0.05, 0.1, 3, 0.01, uint8(1), int64(Mbps), 20, 10, 0, 0.0, 0.0, 0.0, 0.0, []byte{255, 1, 2, 3})
	f.Add(int64(0), int64(time.Second), uint8(3), 0.5, false, 0.0, 0.0, 0.0, 0, 0.0, uint8(0), int64(10*Kbps), 0, 0, 3000, 0.05, 0.3, 1.0, 0.0, []byte{10, 10, 10})
	f.Add(int64(-1), int64(0), uint8(9), 1.0, false, 2.0, 0.0, 0.5, -1, 0.0, uint8(7), int64(-5), -1, -1, -1, 0.5, 0.0, 0.0, 0.0, []byte{})
	f.Fuzz(func(t *testing.T, delay, jitter int64, dist uint8, corr float64, jitterReorders bool,
		loss, dup, reorder float64, gap int, corrupt float64, cmode uint8, rate int64, overhead, qp, qb int,
		geP, geR, geLB, geLG float64, sizes []byte) {
		cfg := Config{
			Delay: time.Duration(delay), Jitter: time.Duration(jitter), Distribution: Distribution(dist),
			Correlation: corr, JitterReorders: jitterReorders, Loss: loss, Duplicate: dup,
			Reorder: reorder, ReorderGap: gap, Corrupt: corrupt, CorruptMode: CorruptMode(cmode),
			Rate: rate, Overhead: overhead, QueuePackets: qp, QueueBytes: qb,
			GilbertElliott: GilbertElliott{P: geP, R: geR, LossBad: geLB, LossGood: geLG},
		}
		verr := cfg.Validate()
		l, err := NewLink(cfg)
		if verr != nil {
			require.Error(t, err, "NewLink accepts what Validate refuses")
			assert.ErrorIs(t, err, ErrInvalidConfig)
			var ce *ConfigError
			require.True(t, errors.As(err, &ce), "%v", err)
			assert.NotEmpty(t, ce.Field)
			return
		}
		require.NoError(t, err)
		r := rand.New(rand.NewPCG(1, 2))
		now := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		for i, b := range sizes {
			data := make([]byte, int(b)*6)
			fate := l.Transmit(now, &Packet{Data: data}, r)
			require.LessOrEqual(t, fate.N, 2)
			if fate.Drop != None {
				require.Zero(t, fate.N, "a dropped packet delivers nothing")
			}
			for c := range fate.N {
				require.False(t, fate.At[c].Before(now), "copy %d of packet %d arrives before it was sent (%v < %v)", c, i, fate.At[c], now)
			}
			now = now.Add(time.Duration(b) * time.Microsecond)
		}
		st := l.Stats()
		assert.Equal(t, st.Sent, st.Passed+st.Dropped(), "every packet passed or was dropped: %+v", st)
	})
}
