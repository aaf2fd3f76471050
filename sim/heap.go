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

// eventQueue is a 4-ary min-heap ordered by (at, key, seq).
//
// The backing array starts with pad unused entries, so that the four
// children of node i (4i+1..4i+4) start at array index 4(i+1): with the
// array 64-byte aligned, as large allocations are, a node's children share
// exactly one cache line.
type eventQueue struct {
	store []entry // pad unused entries, then the heap
	heap  []entry // store[pad:]
	slots []slot
	free  []int32
}

const pad = 3

func (q *eventQueue) len() int { return len(q.heap) }

// minAt is the time of the earliest event. The queue must not be empty.
func (q *eventQueue) minAt() int64 { return q.heap[0].at }

// top returns the earliest event's time and slot. The queue must not be
// empty.
func (q *eventQueue) top() (int64, *slot) {
	t := q.heap[0]
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

func (q *eventQueue) push(at int64, v slot) {
	var i int32
	if n := len(q.free); n > 0 {
		i = q.free[n-1]
		q.free = q.free[:n-1]
		q.slots[i] = v
	} else {
		i = int32(len(q.slots))
		q.slots = append(q.slots, v)
	}
	q.appendEntry(entry{at: at, slot: i})
	q.up(len(q.heap) - 1)
}

// pop removes the earliest event. The queue must not be empty.
func (q *eventQueue) pop() {
	top := q.heap[0]
	n := len(q.heap) - 1
	q.heap[0] = q.heap[n]
	q.store = q.store[:pad+n]
	q.heap = q.store[pad:]
	if n > 0 {
		q.down(0)
	}
	q.slots[top.slot] = slot{} // drop the handler reference for the GC
	q.free = append(q.free, top.slot)
}

// replaceTop removes the earliest event and inserts another in one sift,
// reusing its slot: the common case of a handler that schedules its
// successor.
func (q *eventQueue) replaceTop(at int64, v slot) {
	q.slots[q.heap[0].slot] = v
	q.heap[0].at = at
	q.down(0)
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
// the least predictable branch of the loop.
func (q *eventQueue) down(i int) {
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
