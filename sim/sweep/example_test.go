package sweep_test

import (
	"fmt"
	"os"

	"github.com/vnetsim/vnetsim/sim/sweep"
)

// Shards deal seeds round robin: with VNETSIM_SHARD=1/3 a machine runs
// seeds 2, 5, 8, ... of the sweep.
func ExampleShard() {
	sh, err := sweep.ParseShard("1/3")
	if err != nil {
		panic(err)
	}
	fmt.Println(sh.Seeds(10))
	// Output: [2 5 8]
}

// Failures group by signature: the message and the last event with their
// numbers masked.
func ExampleSummary_WriteGroups() {
	s := &sweep.Summary{Name: "demo", Shard: "all"}
	s.Add(sweep.Result{Seed: 1, Outcome: sweep.Pass})
	s.Add(sweep.Result{Seed: 2, Outcome: sweep.Fail, Message: "timeout after 3s", LastEvent: "drop at b->a (loss)"})
	s.Add(sweep.Result{Seed: 3, Outcome: sweep.Fail, Message: "timeout after 5s", LastEvent: "drop at b->a (loss)"})
	_ = s.WriteGroups(os.Stdout)
	// Output:
	// 2 of 3 seeds failed (shard all), 1 signature(s)
	// 1. 2× timeout after Ns | drop at b->a (loss)
	//    seeds 2 3
	//    e.g. seed 2: timeout after 3s
}
