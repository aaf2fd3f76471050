package vnet

import (
	"time"

	"github.com/vnetsim/vnetsim/sim"
)

// These methods let simtest's replay check (simtest.Replay, CheckReplay)
// work over Records without importing vnet.

// When returns the record's virtual time.
func (r Record) When() time.Time { return r.At }

// Involved returns the host (or router or link) the record happened at and
// the addresses it names: source and destination, and after a NAT
// translation the new ones too.
func (r Record) Involved() (where string, addrs []string) {
	addrs = []string{r.Src.String(), r.Dst.String()}
	if r.Kind == KindTranslate {
		addrs = append(addrs, r.NewSrc.String(), r.NewDst.String())
	}
	return r.Where, addrs
}

// DescribeKey is the package's DescribeKey, for code that holds a Record
// type but not the package.
func (Record) DescribeKey(k sim.Key) string { return DescribeKey(k) }
