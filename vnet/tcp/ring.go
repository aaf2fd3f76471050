package tcp

// ring is a byte FIFO over a circular buffer that grows on demand (doubling)
// so that idle connections stay small. Growing is the only allocation.
type ring struct {
	buf  []byte
	head int
	n    int
}

const ringMinSize = 4096

// write appends up to limit-n bytes of p and returns how many it took.
func (r *ring) write(p []byte, limit int) int {
	k := len(p)
	if room := limit - r.n; k > room {
		k = room
	}
	if k <= 0 {
		return 0
	}
	r.grow(r.n + k)
	tail := r.head + r.n
	if tail >= len(r.buf) {
		tail -= len(r.buf)
	}
	c := copy(r.buf[tail:], p[:k])
	if c < k {
		copy(r.buf, p[c:k])
	}
	r.n += k
	return k
}

func (r *ring) grow(need int) {
	if need <= len(r.buf) {
		return
	}
	size := 2 * len(r.buf)
	if size < ringMinSize {
		size = ringMinSize
	}
	for size < need {
		size *= 2
	}
	nb := make([]byte, size)
	r.copyAt(0, nb[:r.n])
	r.buf, r.head = nb, 0
}

// copyAt copies bytes starting off bytes into the FIFO into dst, without
// consuming them, and returns how many it copied.
func (r *ring) copyAt(off int, dst []byte) int {
	if off >= r.n {
		return 0
	}
	k := len(dst)
	if avail := r.n - off; k > avail {
		k = avail
	}
	start := r.head + off
	if start >= len(r.buf) {
		start -= len(r.buf)
	}
	c := copy(dst[:k], r.buf[start:])
	if c < k {
		copy(dst[c:k], r.buf)
	}
	return k
}

// read consumes up to len(dst) bytes into dst.
func (r *ring) read(dst []byte) int {
	k := r.copyAt(0, dst)
	r.discard(k)
	return k
}

// discard drops the first k bytes (k <= n).
func (r *ring) discard(k int) {
	if k <= 0 {
		return
	}
	r.n -= k
	if r.n == 0 {
		r.head = 0
		return
	}
	r.head += k
	if r.head >= len(r.buf) {
		r.head -= len(r.buf)
	}
}

// reset empties the FIFO and lets its memory go.
func (r *ring) reset() { *r = ring{} }
