package shrink_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/vnetsim/vnetsim/shrink"
)

func TestDDMin(t *testing.T) {
	all := make([]int, 100)
	for i := range all {
		all[i] = i
	}
	for _, tc := range []struct {
		name  string
		fails func([]int) bool
		want  []int
	}{
		{"one culprit", func(s []int) bool { return slices.Contains(s, 42) }, []int{42}},
		{"two together", func(s []int) bool { return slices.Contains(s, 3) && slices.Contains(s, 77) }, []int{3, 77}},
		{"three together", func(s []int) bool {
			return slices.Contains(s, 10) && slices.Contains(s, 11) && slices.Contains(s, 99)
		}, []int{10, 11, 99}},
		{"any two of a group", func(s []int) bool {
			n := 0
			for _, x := range s {
				if x >= 50 && x < 60 {
					n++
				}
			}
			return n >= 2
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			got := shrink.DDMin(all, func(s []int) bool { calls++; return tc.fails(s) })
			assert.True(t, tc.fails(got))
			for i := range got { // 1-minimal
				assert.False(t, tc.fails(slices.Delete(slices.Clone(got), i, i+1)), "without %d", got[i])
			}
			if tc.want != nil {
				assert.Equal(t, tc.want, got)
			} else {
				assert.Len(t, got, 2)
			}
			assert.Less(t, calls, 200, "a few culprits cost O(k log n) runs")
		})
	}
	assert.Equal(t, []int{7}, shrink.DDMin([]int{7}, func([]int) bool { return true }))
	assert.Empty(t, shrink.DDMin(nil, func([]int) bool { return true }))
}
