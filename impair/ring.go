package impair

import "time"

// ring is the bottleneck queue: the departure time and size of each packet
// accepted but not yet fully serialized, oldest first. Departure times are
// nondecreasing, so expired packets are always at the head. Its storage is
// allocated by reserve (at configuration time), never per packet.
type ring struct {
	dep   []time.Time
	size  []int
	head  int // index of the oldest entry
	n     int // entries in use
	bytes int // sum of size over the entries in use
}

// reserve makes room for at least capacity entries, keeping the ones in use.
func (q *ring) reserve(capacity int) {
	if capacity <= len(q.dep) {
		return
	}
	capacity = max(capacity, q.n)
	dep := make([]time.Time, capacity)
	size := make([]int, capacity)
	for i := range q.n {
		j := (q.head + i) % len(q.dep)
		dep[i], size[i] = q.dep[j], q.size[j]
	}
	q.dep, q.size, q.head = dep, size, 0
}

// expire removes the packets whose departure is at or before now.
func (q *ring) expire(now time.Time) {
	for q.n > 0 && !q.dep[q.head].After(now) {
		q.bytes -= q.size[q.head]
		q.head++
		if q.head == len(q.dep) {
			q.head = 0
		}
		q.n--
	}
}

// push appends a packet; the caller has checked that there is room.
func (q *ring) push(dep time.Time, size int) {
	i := q.head + q.n
	if i >= len(q.dep) {
		i -= len(q.dep)
	}
	q.dep[i], q.size[i] = dep, size
	q.n++
	q.bytes += size
}
