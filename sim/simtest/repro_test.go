package simtest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/vnetsim/vnetsim/sim/simtest"
)

func TestReproCommandTags(t *testing.T) {
	tests := []struct {
		name string
		tags []string
		want string
	}{
		{"no tags", nil, "VNETSIM_SEED=3 go test -count=1 -run '^TestX$' ./sim/simtest"},
		{"one tag", []string{"vnetsim_shrunk"}, "VNETSIM_SEED=3 go test -count=1 -tags vnetsim_shrunk -run '^TestX$' ./sim/simtest"},
		{"two tags", []string{"a", "b"}, "VNETSIM_SEED=3 go test -count=1 -tags a,b -run '^TestX$' ./sim/simtest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, simtest.ReproCommandTags("TestX", 3, tt.tags...))
		})
	}
}
