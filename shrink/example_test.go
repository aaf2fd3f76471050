package shrink_test

import (
	"fmt"
	"slices"

	"github.com/vnetsim/vnetsim/shrink"
)

// DDMin finds the items that matter: here a "failure" needs both 12 and 30.
func ExampleDDMin() {
	items := make([]int, 40)
	for i := range items {
		items[i] = i
	}
	runs := 0
	kept := shrink.DDMin(items, func(s []int) bool {
		runs++
		return slices.Contains(s, 12) && slices.Contains(s, 30)
	})
	fmt.Println(kept, "in", runs, "runs")
	// Output: [12 30] in 62 runs
}
