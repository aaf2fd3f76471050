// Package shrink turns a failing seed into the few network events that make
// it fail. It records every random decision the links of a scenario make
// (which packet was lost, delayed by how much, duplicated, sent early) as
// explicit fates, then delta-debugs that set: fates are dropped (the packet
// gets its link's base fate) as long as the failure still happens when the
// run is replayed from the remaining fates alone, with no randomness. What
// is left is the handful of losses or delays that matter, described for
// people, shown on a ladder diagram of their replay (Result.WriteLadder:
// each kept fate's arrow highlighted and labelled), and a Go test file that
// reproduces the failure from them.
//
// A failure that persists with no fate at all does not come from the
// network's randomness; Shrink says so (Result.NotNetwork).
package shrink

// DDMin is Zeller's delta-debugging minimization: it returns a subset of
// items for which fails is true and that is 1-minimal (removing any single
// item makes fails false), assuming fails(items) is true. It calls fails
// O(n²) times in the worst case, O(k log n) when k items matter. The order
// of items is kept.
func DDMin[T any](items []T, fails func([]T) bool) []T {
	items = append([]T(nil), items...)
	n := 2
	for len(items) >= 2 {
		chunks := split(items, n)
		reduced := false
		for _, c := range chunks {
			if fails(c) {
				items, n, reduced = c, 2, true
				break
			}
		}
		if !reduced && len(chunks) > 2 {
			for i := range chunks {
				comp := complement(chunks, i)
				if fails(comp) {
					items, n, reduced = comp, max(n-1, 2), true
					break
				}
			}
		}
		if !reduced {
			if n >= len(items) {
				break
			}
			n = min(2*n, len(items))
		}
	}
	return items
}

// split cuts items into n chunks of nearly equal size.
func split[T any](items []T, n int) [][]T {
	n = min(n, len(items))
	chunks := make([][]T, 0, n)
	start := 0
	for i := range n {
		end := start + (len(items)-start)/(n-i)
		chunks = append(chunks, items[start:end:end])
		start = end
	}
	return chunks
}

// complement is every chunk but chunks[skip], concatenated.
func complement[T any](chunks [][]T, skip int) []T {
	var out []T
	for i, c := range chunks {
		if i != skip {
			out = append(out, c...)
		}
	}
	return out
}
