// Package prefetch asks the CPU to bring a cache line in ahead of use.
//
// A load that misses the cache holds up the instructions behind it once
// the CPU's reorder window fills; a prefetch instruction does not: it
// retires at once and the line arrives while other work goes on. The
// scheduler uses it to fetch the state of the events about to fire (see
// sim.Prefetcher) while it fires the one before them.
package prefetch
