package impair

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A token bucket lets Burst bytes through at once after an idle spell,
// then paces at Rate; after idling it has its burst again.
func TestBurstIsATokenBucket(t *testing.T) {
	l := mustLink(t, Config{Rate: 8000, Burst: 3000}) // 1,000 bytes/s
	rng := newRand(1)
	var at []time.Duration
	for range 5 {
		f := l.Transmit(t0, &Packet{Size: 1000}, rng)
		require.Equal(t, None, f.Drop)
		at = append(at, f.At[0].Sub(t0))
	}
	assert.Equal(t, []time.Duration{0, 0, 0, time.Second, 2 * time.Second}, at)

	later := t0.Add(10 * time.Second) // the bucket refilled
	for range 3 {
		f := l.Transmit(later, &Packet{Size: 1000}, rng)
		assert.Equal(t, later, f.At[0])
	}
	f := l.Transmit(later, &Packet{Size: 1000}, rng)
	assert.Equal(t, later.Add(time.Second), f.At[0])
}

func TestBurstNeedsRate(t *testing.T) {
	for _, cfg := range []Config{{Burst: 10}, {Rate: 1000, Burst: -1}} {
		err := cfg.Validate()
		var ce *ConfigError
		require.True(t, errors.As(err, &ce), "%+v", cfg)
		assert.Equal(t, "Burst", ce.Field)
	}
}
