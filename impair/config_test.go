package impair

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfigValidate(t *testing.T) {
	pass := func(time.Time, *Packet) Action { return Pass }
	tests := []struct {
		name  string
		cfg   Config
		field string // "" means valid
	}{
		{"zero value is a perfect link", Config{}, ""},
		{"everything on", Config{
			Delay: time.Millisecond, Jitter: time.Millisecond, Distribution: ParetoNormal, Correlation: 0.5,
			Loss: 0.1, GilbertElliott: GilbertElliott{P: 0.1, R: 0.5, LossBad: 1},
			Duplicate: 1, Reorder: 0.5, ReorderGap: 3, Corrupt: 0.01, CorruptMode: CorruptDrop,
			Rate: Mbps, Overhead: 28, QueuePackets: 10, QueueBytes: 10000,
			Partitions: []Window{{From: t0, To: t0.Add(time.Second)}, {From: t0.Add(time.Hour)}},
			Rules:      []RuleFunc{pass},
		}, ""},
		{"GE with loss in good state only", Config{GilbertElliott: GilbertElliott{LossGood: 0.1}}, ""},
		{"rate without queue takes the default", Config{Rate: Mbps}, ""},
		{"loss above 1", Config{Loss: 1.5}, "Loss"},
		{"loss negative", Config{Loss: -0.1}, "Loss"},
		{"loss NaN", Config{Loss: math.NaN()}, "Loss"},
		{"duplicate", Config{Duplicate: 2}, "Duplicate"},
		{"reorder", Config{Delay: time.Millisecond, Reorder: -1}, "Reorder"},
		{"corrupt", Config{Corrupt: 1.01}, "Corrupt"},
		{"GE P", Config{GilbertElliott: GilbertElliott{P: 2}}, "GilbertElliott.P"},
		{"GE R", Config{GilbertElliott: GilbertElliott{R: -1}}, "GilbertElliott.R"},
		{"GE LossBad", Config{GilbertElliott: GilbertElliott{LossBad: 7}}, "GilbertElliott.LossBad"},
		{"GE LossGood", Config{GilbertElliott: GilbertElliott{LossGood: math.Inf(1)}}, "GilbertElliott.LossGood"},
		{"GE never leaves bad", Config{GilbertElliott: GilbertElliott{P: 0.1, LossBad: 1}}, "GilbertElliott.R"},
		{"GE never loses", Config{GilbertElliott: GilbertElliott{P: 0.1, R: 0.5}}, "GilbertElliott.LossBad"},
		{"negative delay", Config{Delay: -1}, "Delay"},
		{"negative jitter", Config{Jitter: -time.Millisecond}, "Jitter"},
		{"unknown distribution", Config{Distribution: 9}, "Distribution"},
		{"correlation 1", Config{Correlation: 1}, "Correlation"},
		{"correlation negative", Config{Correlation: -0.5}, "Correlation"},
		{"reorder without delay", Config{Reorder: 0.5}, "Reorder"},
		{"negative gap", Config{Delay: time.Millisecond, Reorder: 0.5, ReorderGap: -1}, "ReorderGap"},
		{"unknown corrupt mode", Config{CorruptMode: 5}, "CorruptMode"},
		{"negative rate", Config{Rate: -1}, "Rate"},
		{"negative overhead", Config{Rate: Mbps, Overhead: -1}, "Overhead"},
		{"negative queue", Config{Rate: Mbps, QueuePackets: -1}, "QueuePackets"},
		{"huge queue", Config{Rate: Mbps, QueuePackets: MaxQueuePackets + 1}, "QueuePackets"},
		{"negative queue bytes", Config{Rate: Mbps, QueueBytes: -1}, "QueueBytes"},
		{"queue without rate", Config{QueuePackets: 10}, "QueuePackets"},
		{"queue bytes without rate", Config{QueueBytes: 10}, "QueueBytes"},
		{"empty window", Config{Partitions: []Window{{From: t0, To: t0}}}, "Partitions[0]"},
		{"inverted window", Config{Partitions: []Window{{}, {From: t0, To: t0.Add(-1)}}}, "Partitions[1]"},
		{"nil rule", Config{Rules: []RuleFunc{pass, nil}}, "Rules[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewLink(tt.cfg)
			if tt.field == "" {
				require.NoError(t, err)
				require.NotNil(t, l)
				return
			}
			require.Error(t, err)
			assert.Nil(t, l)
			assert.ErrorIs(t, err, ErrInvalidConfig)
			var ce *ConfigError
			require.True(t, errors.As(err, &ce))
			assert.Equal(t, tt.field, ce.Field)
			assert.Contains(t, err.Error(), "Config."+tt.field)
			assert.NotEmpty(t, ce.Reason)
		})
	}
}

func TestStrings(t *testing.T) {
	for r, want := range map[Reason]string{
		None: "none", Loss: "loss", Queue: "queue", Partition: "partition", Rule: "rule",
		Corrupt: "corrupt", Invalid: "invalid", 200: "reason(200)",
	} {
		assert.Equal(t, want, r.String())
	}
	for d, want := range map[Distribution]string{
		Uniform: "uniform", Normal: "normal", Pareto: "pareto", ParetoNormal: "paretonormal", 9: "distribution(9)",
	} {
		assert.Equal(t, want, d.String())
	}
	for a, want := range map[Action]string{
		Pass: "pass", Drop: "drop", Hold: "hold", Delay(1500 * time.Microsecond): "delay(1.5ms)", -7: "action(-7)",
	} {
		assert.Equal(t, want, a.String())
	}
	assert.Equal(t, "deliver", CorruptDeliver.String())
	assert.Equal(t, "drop", CorruptDrop.String())
	assert.Equal(t, "corruptmode(4)", CorruptMode(4).String())
	assert.Equal(t, Pass, Delay(0))
	assert.Equal(t, Pass, Delay(-time.Second))
	assert.Equal(t, time.Second, Delay(time.Second).Duration())
	assert.Zero(t, Drop.Duration())
}

func TestConfigCopied(t *testing.T) {
	windows := []Window{{From: t0, To: t0.Add(time.Second)}}
	l := mustLink(t, Config{Partitions: windows})
	windows[0].From = t0.Add(time.Hour) // the caller reuses its slice
	assert.True(t, l.DownAt(t0), "the link keeps its own copy of the windows")
	got := l.Config()
	got.Partitions[0].From = t0.Add(time.Hour)
	assert.True(t, l.DownAt(t0), "Config returns a copy")
}
