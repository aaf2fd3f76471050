package sim

// The queue keeps its heap small: each heap entry is 16 bytes (the time and
// the index of a slot holding the rest of the event), so the four children
// of a node share one cache line, and the heap holds no pointers, so moving
// entries costs no GC write barriers. Slots are recycled through a free
// list: after warm-up, pushing and popping allocate nothing.

// entry is one heap element.
type entry struct {
	at   int64 // virtual time, Unix nanoseconds
	slot int32 // index into eventQueue.slots
}

// slot holds what the heap entry does not: the tie-breakers and the work.
type slot struct {
	key Key    // stable ordering key; zero for events scheduled by handlers
	seq uint64 // assigned by the scheduler at insertion
	h   Handler
	arg uint64
}

// eventQueue holds the pending events in (at, key, seq) order: a 4-ary
// min-heap, and beside it a run, a FIFO of events already in order.
//
// The run is for the events that applications submit to happen at once (a
// datagram's first hop): stamped with the clock as they are submitted (or
// drained; see Scheduler.Submit), they arrive in batches that continue one
// another's order, so appending them to the run and taking them from its
// front costs O(1), where the heap would sift each one out from under a
// full tree. An event that would break the run's order goes into the heap
// instead; the earliest event is the lesser of the heap's top and the
// run's front, so the order is the same as one heap would give.
//
// The heap's backing array starts with pad unused entries, so that the
// four children of node i (4i+1..4i+4) start at array index 4(i+1): with
// the array 64-byte aligned, as large allocations are, a node's children
// share exactly one cache line.
type eventQueue struct {
	store []entry // pad unused entries, then the heap
	heap  []entry // store[pad:]
	run   []entry // run[head:] are in order
	head  int
	slots []slot
	free  []int32
}

const pad = 3

func (q *eventQueue) len() int { return len(q.heap) + len(q.run) - q.head }

// fromRun reports whether the earliest event is the run's front. The queue
// must not be empty.
func (q *eventQueue) fromRun() bool {
	if q.head == len(q.run) {
		return false
	}
	return len(q.heap) == 0 || q.less(q.run[q.head], q.heap[0])
}

// first is the earliest entry. The queue must not be empty.
func (q *eventQueue) first() entry {
	if q.fromRun() {
		return q.run[q.head]
	}
	return q.heap[0]
}

// minAt is the time of the earliest event. The queue must not be empty.
func (q *eventQueue) minAt() int64 { return q.first().at }

// top returns the earliest event's time and slot. The queue must not be
// empty.
func (q *eventQueue) top() (int64, *slot) {
	t := q.first()
	return t.at, &q.slots[t.slot]
}

func (q *eventQueue) appendEntry(e entry) {
	if q.store == nil {
		q.store = make([]entry, pad, pad+64)
	}
	q.store = append(q.store, e)
	q.heap = q.store[pad:]
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

func (q *eventQueue) push(at int64, v slot) {
	q.appendEntry(entry{at: at, slot: q.newSlot(v)})
	q.up(len(q.heap) - 1)
}

// pushRun queues an event at the back of the run if it does not sort before
// the run's last event and the queue is not empty, else in the heap. v's
// seq must be greater than every queued event's.
func (q *eventQueue) pushRun(at int64, v slot) {
	e := entry{at: at, slot: q.newSlot(v)}
	n := len(q.run)
	if n > q.head && q.less(e, q.run[n-1]) || n == q.head && len(q.heap) == 0 {
		// Out of the run's order; or the only event (driven by hand, one
		// datagram at a time), which the heap handles as cheaply and
		// whose successor then replaces it in place.
		q.appendEntry(e)
		q.up(len(q.heap) - 1)
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

// pop removes the earliest event. The queue must not be empty.
func (q *eventQueue) pop() {
	if q.fromRun() {
		i := q.run[q.head].slot
		q.head++
		if q.head == len(q.run) {
			q.run, q.head = q.run[:0], 0
		}
		q.slots[i] = slot{}
		q.free = append(q.free, i)
		return
	}
	top := q.heap[0]
	n := len(q.heap) - 1
	q.heap[0] = q.heap[n]
	q.store = q.store[:pad+n]
	q.heap = q.store[pad:]
	if n > 0 {
		q.down(0, false)
	}
	q.slots[top.slot] = slot{} // drop the handler reference for the GC
	q.free = append(q.free, top.slot)
}

// replaceTop removes the earliest event and inserts another, reusing its
// slot: the common case of a handler that schedules its successor. From
// the heap that is one sift, none when the successor is due no later than
// the top's children, as it is when it follows at the same instant.
func (q *eventQueue) replaceTop(at int64, v slot) {
	if q.fromRun() {
		i := q.run[q.head].slot
		q.head++
		if q.head == len(q.run) {
			q.run, q.head = q.run[:0], 0
		}
		q.slots[i] = v
		q.appendEntry(entry{at: at, slot: i})
		q.up(len(q.heap) - 1)
		return
	}
	q.slots[q.heap[0].slot] = v
	q.heap[0].at = at
	q.down(0, true)
}

func (q *eventQueue) up(i int) {
	h := q.heap
	e := h[i]
	for i > 0 {
		parent := (i - 1) / 4
		if !q.less(e, h[parent]) {
			break
		}
		h[i] = h[parent]
		i = parent
	}
	h[i] = e
}

// down restores the heap below i after h[i] was replaced. It uses Floyd's
// bottom-up trick: the hole moves down along the smallest children to a
// leaf without comparing against the moved element (which, being a late
// event or the heap's last one, usually belongs near the bottom), and the
// element then sifts up from there. That saves a comparison per level and
// the least predictable branch of the loop. With stay, the element is
// first compared with the least child of i, and stays if it is no later:
// a handler's successor at the same instant belongs at the top.
func (q *eventQueue) down(i int, stay bool) {
	h := q.heap
	n := len(h)
	e := h[i]
	start := i
	for {
		first := 4*i + 1
		if first >= n {
			break
		}
		var best int
		if first+3 < n {
			// All four children: a tournament of two pairs on the times
			// alone, written so the compiler can use conditional moves
			// (the branches of a heap are unpredictable). Equal times,
			// rare, go to the full comparison.
			c := h[first : first+4 : first+4]
			a0, a1, a2, a3 := c[0].at, c[1].at, c[2].at, c[3].at
			b01, m01 := 0, a0
			if a1 < a0 {
				b01, m01 = 1, a1
			}
			b23, m23 := 2, a2
			if a3 < a2 {
				b23, m23 = 3, a3
			}
			b := b01
			if m23 < m01 {
				b = b23
			}
			if a0 == a1 || a2 == a3 || m01 == m23 {
				b = q.minOf4(c)
			}
			best = first + b
		} else {
			best = first
			for c := first + 1; c < n; c++ {
				if q.less(h[c], h[best]) {
					best = c
				}
			}
		}
		if stay {
			if !q.less(h[best], e) {
				return
			}
			stay = false
		}
		h[i] = h[best]
		i = best
	}
	for i > start {
		parent := (i - 1) / 4
		if !q.less(e, h[parent]) {
			break
		}
		h[i] = h[parent]
		i = parent
	}
	h[i] = e
}

// minOf4 is the index of the least of four entries by the full order.
func (q *eventQueue) minOf4(c []entry) int {
	a, b := 0, 2
	if q.less(c[1], c[0]) {
		a = 1
	}
	if q.less(c[3], c[2]) {
		b = 3
	}
	if q.less(c[b], c[a]) {
		return b
	}
	return a
}
