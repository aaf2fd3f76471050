// Package sweep is what a seed sweep needs besides running seeds: which seeds
// this machine runs (Shard, with no coordinator), and what the results say
// (Summary: per-seed outcomes, failures grouped by signature, JSON and JUnit
// XML for CI systems). It knows nothing about networks or testing; sim/simtest
// and cmd/vnetsim build on it.
package sweep

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ShardEnv is the environment variable that names this machine's shard of a
// sweep, as "INDEX/COUNT" with INDEX in [0, COUNT): VNETSIM_SHARD=2/4 is the
// third of four shards. A CI matrix or a Kubernetes Indexed Job
// ($JOB_COMPLETION_INDEX) sets it; no coordinator is needed because every
// shard computes its own seeds from the same rule.
const ShardEnv = "VNETSIM_SHARD"

// ErrShard is what every invalid shard specification wraps.
var ErrShard = errors.New("sweep: invalid shard")

// Shard is one of Count disjoint parts of a sweep. Seeds are dealt round
// robin: seed s (counting from 1) belongs to shard (s-1) mod Count, so
// shards get equal shares (within one seed) whatever the number of seeds, and
// a slow stretch of seeds is spread over every shard. The zero value (and
// Count 1) is the whole sweep.
type Shard struct {
	Index, Count int
}

// ParseShard parses "INDEX/COUNT" (e.g. "2/4"): COUNT is at least 1 and
// INDEX is 0-based, 0 <= INDEX < COUNT. The empty string is the whole
// sweep. Errors wrap ErrShard and name the problem.
func ParseShard(s string) (Shard, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Shard{}, nil
	}
	i, c, ok := strings.Cut(s, "/")
	if !ok {
		return Shard{}, fmt.Errorf("%w: %q is not INDEX/COUNT (e.g. 0/4)", ErrShard, s)
	}
	index, err := strconv.Atoi(strings.TrimSpace(i))
	if err != nil {
		return Shard{}, fmt.Errorf("%w: index in %q: %w", ErrShard, s, err)
	}
	count, err := strconv.Atoi(strings.TrimSpace(c))
	if err != nil {
		return Shard{}, fmt.Errorf("%w: count in %q: %w", ErrShard, s, err)
	}
	if count < 1 {
		return Shard{}, fmt.Errorf("%w: count %d in %q: COUNT must be at least 1 (INDEX/COUNT, 0 <= INDEX < COUNT)", ErrShard, count, s)
	}
	sh := Shard{Index: index, Count: count}
	return sh, sh.Validate()
}

// ShardFromEnv returns the shard in $VNETSIM_SHARD, the whole sweep if it is
// unset or empty.
func ShardFromEnv() (Shard, error) {
	sh, err := ParseShard(os.Getenv(ShardEnv))
	if err != nil {
		return Shard{}, fmt.Errorf("%s: %w", ShardEnv, err)
	}
	return sh, nil
}

// Validate reports a shard whose count is negative or whose index is outside
// [0, Count).
func (sh Shard) Validate() error {
	switch {
	case sh.Count < 0:
		return fmt.Errorf("%w: count %d is negative", ErrShard, sh.Count)
	case sh.Count == 0 && sh.Index == 0:
		return nil
	case sh.Index < 0 || sh.Index >= max(sh.Count, 1):
		return fmt.Errorf("%w: index %d is not in [0, %d): INDEX is 0-based, 0 <= INDEX < COUNT", ErrShard, sh.Index, max(sh.Count, 1))
	}
	return nil
}

// Whole reports whether the shard is the whole sweep.
func (sh Shard) Whole() bool { return sh.Count <= 1 }

// Has reports whether seed (counting from 1) belongs to the shard.
func (sh Shard) Has(seed uint64) bool {
	if sh.Whole() {
		return true
	}
	return seed >= 1 && (seed-1)%uint64(sh.Count) == uint64(sh.Index)
}

// Seeds returns the shard's part of seeds 1..n, in increasing order.
func (sh Shard) Seeds(n int) []uint64 {
	step := uint64(max(sh.Count, 1))
	first := uint64(1)
	if !sh.Whole() {
		first += uint64(sh.Index)
	}
	seeds := make([]uint64, 0, n/int(step)+1)
	for s := first; s <= uint64(max(n, 0)); s += step {
		seeds = append(seeds, s)
	}
	return seeds
}

// String returns "INDEX/COUNT", or "all" for the whole sweep.
func (sh Shard) String() string {
	if sh.Whole() {
		return "all"
	}
	return fmt.Sprintf("%d/%d", sh.Index, sh.Count)
}
