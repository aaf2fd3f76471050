// Package impair models the impairments of one direction of a network link:
// the set of Linux netem (delay with jitter, loss, duplication, reordering,
// corruption, rate with a drop-tail queue) plus partitions, user filter
// rules and a hold switch.
//
// A [Link] is a pure function of its configuration, its own small state, the
// virtual time and a random stream that the caller hands in. It starts no
// goroutines, never sleeps and never reads the wall clock: [Link.Transmit]
// answers what happens to one packet (dropped, held, or delivered at which
// instants, in how many copies) and the caller, typically a vnet router,
// schedules the deliveries as events. The same configuration, the same
// sequence of calls and the same seed therefore always give the same fates.
//
// # Stages
//
// Every packet passes the stages in this order; the first stage that drops or
// holds it ends its journey:
//
//  1. rules: [Config.Rules] in order; Drop ends the chain with [Rule], Hold
//     ends it and holds the packet, Delay adds to the packet's extra delay.
//  2. partition: the link is down ([Link.SetDown]) or now lies in one of
//     [Config.Partitions]: dropped with [Partition]. A cut cable loses
//     packets even while the link is held.
//  3. hold: the link is held ([Link.Hold]) or a rule said Hold: the answer is
//     Held and the caller keeps the packet; after [Link.Release] it hands
//     held packets back, oldest first, through [Link.Resume], which runs the
//     stages from 2 on at the release instant.
//  4. loss: Gilbert-Elliott first, then Bernoulli; dropped with [Loss].
//     Lost packets never reach the bottleneck (as in netem).
//  5. corruption: one random bit of Packet.Data is flipped (delivered, the
//     default) or the packet is dropped with [Corrupt] as a bad checksum.
//  6. rate and queue: the packet waits behind earlier packets and is
//     serialized at [Config.Rate]; a full queue drops it with [Queue].
//  7. duplication: a second copy leaves the bottleneck with the original.
//     The copy does not take bottleneck capacity (a downstream element such
//     as a retransmitting layer-2 hop is what duplicates packets).
//  8. delay: each copy independently gets the propagation delay plus jitter,
//     or none if the reorder model picks it; then the FIFO rule; then the
//     rules' extra delay.
//
// Every call ends in exactly one outcome, and [Stats] counts it, so
// Sent + Resumed == Passed + Dropped() + Held at all times.
//
// # Randomness
//
// Each stage draws from the *rand.Rand passed to Transmit only when its
// model is configured, so adding, say, duplication changes the draws of the
// later stages, but the same configuration always consumes the stream in the
// same way. Use one stream per link direction (see package sim).
package impair
