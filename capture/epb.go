package capture

import (
	"encoding/binary"
	"strconv"
	"time"
)

// pcapng enhanced packet block (type 6) and its options.
const (
	blockEPB      = 6
	optEndOfOpt   = 0
	optComment    = 1
	optEPBFlags   = 2
	epbFixedBytes = 28 // type, length, interface, ts high, ts low, captured, original
)

// writeEPB writes data as one enhanced packet block with m's options,
// straight into the buffered output, building the header and the trailer
// (data padding, options, length) in reused scratch buffers so that
// nothing is allocated. (pcapgo's WritePacketWithOptions builds an option
// list per packet.)
func (w *Writer) writeEPB(iface int, ts time.Time, data []byte, m Meta) error {
	t := w.tail[:0]
	for i := len(data); i&3 != 0; i++ {
		t = append(t, 0)
	}
	pad := len(t) // options start 32-bit aligned after it
	if m.Comment != "" || m.ID != 0 || m.Event != 0 {
		t = binary.LittleEndian.AppendUint16(t, optComment)
		t = binary.LittleEndian.AppendUint16(t, 0) // length, set below
		start := len(t)
		t = append(t, m.Comment...)
		if m.ID != 0 || m.Event != 0 {
			if m.Comment != "" {
				t = append(t, ' ')
			}
			t = append(t, "id="...)
			t = strconv.AppendUint(t, m.ID, 10)
			t = append(t, " ev="...)
			t = strconv.AppendUint(t, m.Event, 10)
		}
		binary.LittleEndian.PutUint16(t[start-2:], uint16(len(t)-start))
		for (len(t)-pad)&3 != 0 {
			t = append(t, 0)
		}
	}
	if m.Dir != DirUnknown {
		t = binary.LittleEndian.AppendUint16(t, optEPBFlags)
		t = binary.LittleEndian.AppendUint16(t, 4)
		t = binary.LittleEndian.AppendUint32(t, uint32(m.Dir)) // bits 0-1: 1 inbound, 2 outbound
	}
	if len(t) > pad {
		t = binary.LittleEndian.AppendUint32(t, optEndOfOpt)
	}
	total := uint32(epbFixedBytes + len(data) + len(t) + 4)
	t = binary.LittleEndian.AppendUint32(t, total)
	w.tail = t

	h := w.head[:0]
	h = binary.LittleEndian.AppendUint32(h, blockEPB)
	h = binary.LittleEndian.AppendUint32(h, total)
	h = binary.LittleEndian.AppendUint32(h, uint32(iface))
	ns := uint64(ts.UnixNano())
	h = binary.LittleEndian.AppendUint32(h, uint32(ns>>32))
	h = binary.LittleEndian.AppendUint32(h, uint32(ns))
	h = binary.LittleEndian.AppendUint32(h, uint32(len(data)))
	h = binary.LittleEndian.AppendUint32(h, uint32(len(data)))
	w.head = h

	if _, err := w.bw.Write(h); err != nil {
		return err
	}
	if _, err := w.bw.Write(data); err != nil {
		return err
	}
	_, err := w.bw.Write(t)
	return err
}
