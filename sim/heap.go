package sim

import "math/bits"

// The queue is a radix heap: a priority queue for keys that never go below
// the last key taken, which is what a scheduler's times are (an event is
// never scheduled before now). Instead of sifting every event through the
// O(log n) levels of a comparison heap, whose lower levels are cache misses
// once a million events are queued, it files each event in a bucket by the
// highest 5-bit digit in which its time differs from the time last taken.
// Taking the earliest event empties only the lowest bucket, refiling its
// events into lower buckets relative to the new earliest time, or, when
// they are few, into a small comparison heap. An event therefore moves a
// few times in its life (at most once per digit of its distance from now:
// four for a millisecond ahead, usually one or two), each move a
// sequential read and an append, and never touches the rest of the queue.
//
// Entries are 16 bytes (the time and the index of a slot holding the rest
// of the event) and hold no pointers, so moving them costs no GC write
// barriers. Slots and chunks are recycled through free lists: after
// warm-up, pushing and taking allocate nothing.

// entry is one queued event.
type entry struct {
	at   int64 // virtual time, Unix nanoseconds
	slot int32 // index into eventQueue.slots
}

// slot holds what the entry does not: the tie-breakers and the work.
type slot struct {
	key Key    // stable ordering key; zero for events scheduled by handlers
	seq uint64 // assigned by the scheduler at insertion
	h   Handler
	arg uint64
}

const (
	digitBits = 5
	digits    = 1 << digitBits
	levels    = (64 + digitBits - 1) / digitBits
	nbuckets  = levels * digits
	chunkLen  = 32 // entries per chunk of a bucket: 512 bytes
)

// ordOf maps a time to an unsigned key with the same order (times before
// 1970 are negative).
func ordOf(at int64) uint64 { return uint64(at) ^ 1<<63 }

// bucketOf is the bucket of key x relative to last (x > last): the level
// of the highest digit in which they differ, and x's digit there. A lower
// bucket holds only keys below those of any higher one.
func bucketOf(x, last uint64) int {
	l := (bits.Len64(x^last) - 1) / digitBits
	return l*digits + int(x>>(uint(l)*digitBits)&(digits-1))
}

// A bucket is a list of chunks taken from one pool. Its digit is absolute:
// as time advances, the events beyond the next power of 32 fill bucket
// after bucket of one level, each in turn as large as that level's share
// of the queue. Were buckets arrays that keep their capacity, a
// million-event queue would end up holding 32 arrays of that size;
// chunks go back to the pool as a bucket empties, so the queue holds no
// more than its events and a part-filled chunk per bucket.
type bucket struct {
	head, tail int32  // chunks; head 0: the bucket is empty
	n          int32  // entries in the tail chunk
	min        uint64 // ordOf the earliest entry
}

// A chunk is 512 bytes, so that once the array of them is 64-byte aligned
// (as large allocations are: they start on a page) no entry straddles a
// cache line.
type chunk [chunkLen]entry

// eventQueue holds the pending events in (at, key, seq) order: the radix
// heap (near and the buckets), and beside it a run, a FIFO of events
// already in order.
//
// The radix heap's earliest events, those due by hi, are in near, a binary
// heap in the full order; every other event is in bucket
// bucketOf(ordOf(at), last), where last <= hi is the time of the earliest
// event the buckets last gave up. Taking the earliest event settles first:
// when near is empty, the lowest bucket is emptied. If its events fit in
// one chunk, they all go to near, last becomes their earliest time and hi
// their latest: a few comparisons instead of filing each again. Otherwise
// last (and hi) becomes their earliest time, and they move to near (those
// due then) or to lower buckets. A push due by hi goes to near, and so
// does any push while the buckets are empty and near holds less than a
// chunk (hi rises to it). Near spills to the buckets when it grows past
// two chunks, unless all its events are due at last: hi may span a long
// time (a lone timer half a minute ahead, taken with the events before
// it), and near is a comparison heap.
// Only taking settles; looking (minAt) reads the lowest bucket's minimum.
// So last never passes the time of an event about to fire, and the
// scheduler's now never falls below last: every push is at or after last.
// (A push before last is still ordered right, by refiling the whole heap;
// the queue's own tests do that, the scheduler never does.)
//
// The run is for the events that applications submit to happen at once (a
// datagram's first hop): stamped with the clock as they are submitted (or
// drained; see Scheduler.Submit), they arrive in batches that continue one
// another's order, so appending them to the run and taking them from its
// front costs O(1). An event that would break the run's order goes into the
// radix heap instead; the earliest event is the lesser of the heap's and
// the run's, so the order is the same as one queue would give.
type eventQueue struct {
	last uint64 // ordOf the buckets' floor; see above
	hi   uint64 // ordOf the latest time near takes
	near []entry
	// bucket is made by the first file: vnet makes a scheduler per Net,
	// most of which never file an event, and 10 KB each is not nothing.
	bucket *[nbuckets]bucket
	mask   [(nbuckets + 63) / 64]uint64 // bit b: bucket[b] is not empty
	n      int                          // events in the radix heap
	chunks []chunk                      // chunks[0] is unused: 0 means none
	next   []int32                      // next[c]: the chunk after c in its bucket or the pool; 0: none
	pool   int32                        // free chunks

	run   []entry // run[head:] are in order
	head  int
	slots []slot
	free  []int32
}

func (q *eventQueue) len() int { return q.n + len(q.run) - q.head }

// radixLen is the number of events in the radix heap.
func (q *eventQueue) radixLen() int { return q.n }

// insert files e in the radix heap.
func (q *eventQueue) insert(e entry) {
	x := ordOf(e.at)
	switch {
	case x < q.last:
		q.refile(x)
		q.nearPush(e)
	case x <= q.hi:
		q.nearPush(e)
		if len(q.near) > spillAt && q.hi > q.last {
			q.spill()
		}
	case q.n == len(q.near) && len(q.near) < chunkLen:
		// The buckets are empty, so near may take a later event: a
		// queue that never holds more than a few events needs no
		// buckets.
		q.hi = x
		q.nearPush(e)
	default:
		q.file(e, x)
	}
	q.n++
}

// file appends e (key x > last) to its bucket.
func (q *eventQueue) file(e entry, x uint64) {
	i := bucketOf(x, q.last)
	if q.bucket == nil {
		q.bucket = new([nbuckets]bucket)
	}
	b := &q.bucket[i]
	switch {
	case b.head == 0:
		c := q.newChunk()
		b.head, b.tail, b.n, b.min = c, c, 0, x
		q.mask[i>>6] |= 1 << (i & 63)
	case b.n == chunkLen:
		c := q.newChunk()
		q.next[b.tail] = c
		b.tail, b.n = c, 0
		fallthrough
	default:
		b.min = min(b.min, x)
	}
	q.chunks[b.tail][b.n] = e
	b.n++
}

func (q *eventQueue) newChunk() int32 {
	if c := q.pool; c != 0 {
		q.pool = q.next[c]
		q.next[c] = 0
		return c
	}
	if len(q.chunks) == 0 {
		q.chunks, q.next = make([]chunk, 1, 4), make([]int32, 1, 4)
	}
	q.chunks = append(q.chunks, chunk{})
	q.next = append(q.next, 0)
	return int32(len(q.chunks) - 1)
}

// spillAt is the size past which near spills (see eventQueue).
const spillAt = 2 * chunkLen

// spill lowers hi to last, moving near's later events to the buckets.
func (q *eventQueue) spill() {
	es := q.near
	q.near = q.near[:0]
	q.hi = q.last
	for _, e := range es {
		// near refills from the front of the array it is read from,
		// never past the event being read.
		if x := ordOf(e.at); x == q.last {
			q.nearPush(e)
		} else {
			q.file(e, x)
		}
	}
}

// refile lowers last to x, below every queued event, and files the radix
// heap's events anew. It allocates; the scheduler never gets here.
func (q *eventQueue) refile(x uint64) {
	all := append([]entry(nil), q.near...)
	if q.bucket != nil {
		for _, b := range q.bucket {
			for c := b.head; c != 0; c = q.next[c] {
				all = append(all, q.chunks[c][:q.filled(b, c)]...)
			}
		}
	}
	q.near = q.near[:0]
	if q.bucket != nil {
		*q.bucket = [nbuckets]bucket{}
	}
	q.mask = [len(q.mask)]uint64{}
	q.n = 0
	q.chunks, q.next, q.pool = q.chunks[:min(len(q.chunks), 1)], q.next[:min(len(q.next), 1)], 0
	q.last, q.hi = x, x
	for _, e := range all {
		q.insert(e)
	}
}

// filled is the number of events in chunk c of bucket b.
func (q *eventQueue) filled(b bucket, c int32) int32 {
	if c == b.tail {
		return b.n
	}
	return chunkLen
}

// lowest is the lowest bucket that is not empty. There must be one.
func (q *eventQueue) lowest() int {
	for w, m := range q.mask {
		if m != 0 {
			return w<<6 + bits.TrailingZeros64(m)
		}
	}
	panic("sim: no bucket holds an event")
}

// radixMin is ordOf the radix heap's earliest time. The radix heap must not
// be empty.
func (q *eventQueue) radixMin() uint64 {
	if len(q.near) > 0 {
		return ordOf(q.near[0].at)
	}
	return q.bucket[q.lowest()].min
}

// settle makes near hold the radix heap's earliest event. The radix heap
// must not be empty.
func (q *eventQueue) settle() {
	if len(q.near) > 0 {
		return
	}
	lo := q.lowest()
	b := q.bucket[lo]
	q.bucket[lo] = bucket{}
	q.mask[lo>>6] &^= 1 << (lo & 63)
	q.last, q.hi = b.min, b.min
	if b.head == b.tail {
		// One chunk: all to near.
		for _, e := range q.chunks[b.head][:b.n] {
			q.hi = max(q.hi, ordOf(e.at))
			q.nearPush(e)
		}
		q.next[b.head], q.pool = q.pool, b.head
		return
	}
	for c := b.head; c != 0; {
		es := q.chunks[c][:q.filled(b, c)]
		next := q.next[c]
		// Every event goes to near or to a bucket below lo, never to
		// chunk c; if filing grows q.chunks, es still reads the old
		// array, whose chunk c is the same.
		for _, e := range es {
			if x := ordOf(e.at); x == q.last {
				q.nearPush(e)
			} else {
				q.file(e, x)
			}
		}
		q.next[c], q.pool = q.pool, c
		c = next
	}
}

// fromRun reports whether the earliest event is the run's front; if not,
// the earliest event is near[0]. The queue must not be empty.
func (q *eventQueue) fromRun() bool {
	if q.head == len(q.run) {
		q.settle()
		return false
	}
	if q.radixLen() == 0 {
		return true
	}
	r := q.run[q.head]
	if ordOf(r.at) < q.radixMin() {
		return true
	}
	// The radix heap's earliest event is due first, or with the run's
	// front: either fires then, so settling is safe.
	q.settle()
	return q.less(r, q.near[0])
}

// minAt is the time of the earliest event. The queue must not be empty. It
// does not settle (see eventQueue).
func (q *eventQueue) minAt() int64 {
	if q.radixLen() == 0 {
		return q.run[q.head].at
	}
	m := int64(q.radixMin() ^ 1<<63)
	if q.head < len(q.run) && q.run[q.head].at < m {
		return q.run[q.head].at
	}
	return m
}

// top returns the earliest event's time and slot. The queue must not be
// empty.
func (q *eventQueue) top() (int64, *slot) {
	t := q.run[q.head:]
	if !q.fromRun() {
		t = q.near
	}
	return t[0].at, &q.slots[t[0].slot]
}

func (q *eventQueue) less(a, b entry) bool {
	if a.at == b.at { // rare: settle the tie on the slots
		return q.tieLess(a.slot, b.slot)
	}
	return a.at < b.at
}

func (q *eventQueue) tieLess(a, b int32) bool {
	sa, sb := &q.slots[a], &q.slots[b]
	if sa.key.Hi != sb.key.Hi {
		return sa.key.Hi < sb.key.Hi
	}
	if sa.key.Lo != sb.key.Lo {
		return sa.key.Lo < sb.key.Lo
	}
	return sa.seq < sb.seq
}

func (q *eventQueue) newSlot(v slot) int32 {
	if n := len(q.free); n > 0 {
		i := q.free[n-1]
		q.free = q.free[:n-1]
		q.slots[i] = v
		return i
	}
	q.slots = append(q.slots, v)
	return int32(len(q.slots) - 1)
}

func (q *eventQueue) freeSlot(i int32) {
	q.slots[i] = slot{} // drop the handler reference for the GC
	q.free = append(q.free, i)
}

func (q *eventQueue) push(at int64, v slot) {
	q.insert(entry{at: at, slot: q.newSlot(v)})
}

// pushRun queues an event at the back of the run if it does not sort before
// the run's last event and the queue is not empty, else in the radix heap.
// v's seq must be greater than every queued event's.
func (q *eventQueue) pushRun(at int64, v slot) {
	e := entry{at: at, slot: q.newSlot(v)}
	n := len(q.run)
	if n > q.head && q.less(e, q.run[n-1]) || n == q.head && q.radixLen() == 0 {
		// Out of the run's order; or the only event (driven by hand, one
		// datagram at a time), which the radix heap handles as cheaply.
		q.insert(e)
		return
	}
	if q.head > 0 && q.head >= len(q.run)/2 {
		// Reclaim the consumed front. The copy moves no more events than
		// were taken from the front since the last one: O(1) amortized.
		n := copy(q.run, q.run[q.head:])
		q.run, q.head = q.run[:n], 0
	}
	q.run = append(q.run, e)
}

// takeRun removes the run's front and returns its slot.
func (q *eventQueue) takeRun() int32 {
	i := q.run[q.head].slot
	q.head++
	if q.head == len(q.run) {
		q.run, q.head = q.run[:0], 0
	}
	return i
}

// pop removes the earliest event. The queue must not be empty.
func (q *eventQueue) pop() {
	if q.fromRun() {
		q.freeSlot(q.takeRun())
		return
	}
	q.freeSlot(q.nearPop())
}

// replaceTop removes the earliest event and inserts another, reusing its
// slot: the common case of a handler that schedules its successor.
func (q *eventQueue) replaceTop(at int64, v slot) {
	var i int32
	if q.fromRun() {
		i = q.takeRun()
	} else if x := ordOf(at); x >= q.last && x <= q.hi {
		// The successor belongs in near: it takes the top's place.
		i = q.near[0].slot
		q.slots[i] = v
		q.near[0].at = at
		q.nearDown(0)
		return
	} else {
		i = q.nearPop()
	}
	q.slots[i] = v
	q.insert(entry{at: at, slot: i})
}

// near is a binary min-heap in the full order.

func (q *eventQueue) nearPush(e entry) {
	q.near = append(q.near, e)
	h := q.near
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(e, h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = e
}

// nearPop removes near's least event and returns its slot.
func (q *eventQueue) nearPop() int32 {
	q.n--
	h := q.near
	i := h[0].slot
	n := len(h) - 1
	h[0] = h[n]
	q.near = h[:n]
	if n > 1 {
		q.nearDown(0)
	}
	return i
}

// nearDown restores near's order below i after near[i] changed.
func (q *eventQueue) nearDown(i int) {
	h := q.near
	e := h[i]
	for {
		c := 2*i + 1
		if c >= len(h) {
			break
		}
		if c+1 < len(h) && q.less(h[c+1], h[c]) {
			c++
		}
		if !q.less(h[c], e) {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = e
}

// each calls fn for every queued event, in no particular order.
func (q *eventQueue) each(fn func(e entry)) {
	for _, e := range q.near {
		fn(e)
	}
	if q.bucket != nil {
		for _, b := range q.bucket {
			for c := b.head; c != 0; c = q.next[c] {
				for _, e := range q.chunks[c][:q.filled(b, c)] {
					fn(e)
				}
			}
		}
	}
	for _, e := range q.run[q.head:] {
		fn(e)
	}
}
