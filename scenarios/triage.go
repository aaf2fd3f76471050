package scenarios

import (
	"fmt"

	"github.com/vnetsim/vnetsim/vnet"
)

// Brief describes a packet event in a few words without times, ports or
// packet numbers, for failure signatures (sweep.Signature): "drop at
// b-nat->b (loss)", "deliver at a".
func Brief(r vnet.Record) string {
	s := fmt.Sprintf("%s at %s", r.Kind, r.Where)
	if r.Kind == vnet.KindDrop {
		s += " (" + r.Reason.String() + ")"
	}
	return s
}
