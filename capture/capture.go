// Package capture writes simulated packets to pcapng files that Wireshark,
// tshark and gopacket read.
//
// The simulator keeps packets as small structs (a 5-tuple and a payload) and
// never builds wire headers on its per-packet path. A Writer builds them only
// when a packet is written: an IPv4 or IPv6 header, a UDP or TCP header, all
// checksums correct, so Wireshark shows no checksum warnings and its
// dissectors (STUN, TURN, DTLS, RTP...) see exactly what the simulated
// application sent.
//
// Every pcapng interface has link type raw IP (LINKTYPE_RAW, 101): the IP
// version nibble tells IPv4 from IPv6, so one interface carries both
// families, as a dual-stack host interface does. Timestamps are the virtual
// time handed to WritePacket, at nanosecond resolution (if_tsresol 9).
//
// The file is written with github.com/gopacket/gopacket/pcapgo's NgWriter.
// Its bytes depend only on the calls made (no host name, OS or wall clock is
// recorded), so the same simulation seed gives a byte-identical capture.
package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Application is recorded as the section header's shb_userappl option.
const Application = "vnetsim"

// Sentinel errors of the Writer; returned errors wrap them with details.
var (
	// ErrNilWriter: NewWriter was given a nil io.Writer.
	ErrNilWriter = errors.New("capture: nil io.Writer")
	// ErrInterfaceName: AddInterface got an empty, overlong or duplicate name.
	ErrInterfaceName = errors.New("capture: bad interface name")
	// ErrUnknownInterface: the interface id did not come from AddInterface.
	ErrUnknownInterface = errors.New("capture: unknown interface")
	// ErrTimestamp: the timestamp cannot be stored as pcapng nanoseconds
	// since 1970 (it is before 1970-01-01 or after 2262-04-11, e.g. a zero
	// time.Time).
	ErrTimestamp = errors.New("capture: timestamp out of range")
	// ErrMeta: Meta holds an unknown Direction or a comment over 65535 bytes.
	ErrMeta = errors.New("capture: bad packet metadata")
)

// maxOption is the largest pcapng option value (its length field is 16 bits).
const maxOption = 0xffff

// Direction says whether a packet was received or sent on the interface
// it is written to. Wireshark shows it as the frame's direction
// (frame.packet_flags_direction) and can filter on it.
type Direction uint8

const (
	// DirUnknown writes no epb_flags option.
	DirUnknown Direction = iota
	// DirInbound: the packet arrived on the interface.
	DirInbound
	// DirOutbound: the packet left through the interface.
	DirOutbound
)

// Meta is optional per-packet metadata, stored as pcapng packet options.
// Writing it allocates nothing (the packet block is built in a reused
// buffer, see epb.go).
type Meta struct {
	// Dir is the direction on the interface; DirUnknown (zero) omits it.
	Dir Direction
	// Comment is shown by Wireshark as a packet comment (pkt_comment), e.g.
	// why the simulator dropped the packet: "dropped: NAT filter, no
	// mapping". Empty omits it. At most 65535 bytes of UTF-8.
	Comment string
	// ID and Event, when either is nonzero, add "id=ID ev=Event" to the
	// comment (after Comment and a space, if any): the simulator's packet
	// id and event ordinal, as vnetsim's trace files number them, so a
	// packet in Wireshark (pkt_comment contains "id=17 ") and in a ladder
	// diagram can be matched. Written without allocating.
	ID, Event uint64
}

// Writer writes a pcapng capture of simulated packets.
//
// A Writer is not safe for concurrent use: call it from one goroutine (the
// simulator's scheduler goroutine, which handles every packet hop) or
// serialize calls yourself. Output is buffered; call Flush before closing
// the underlying file. Errors from the underlying io.Writer are sticky:
// after one, every method returns it, because the stream is cut mid-block.
type Writer struct {
	out   io.Writer
	bw    *bufio.Writer    // out, buffered: ng writes headers into it, write packets
	ng    *pcapgo.NgWriter // nil until the first AddInterface
	names map[string]int
	n     int    // interfaces added
	buf   []byte // scratch datagram, reused by every WritePacket
	err   error  // first write error; sticky, the stream is broken after it
	// Scratch of writeEPB: a packet block's header, and its trailer
	// (padding, options, length).
	head, tail []byte
}

// NewWriter returns a Writer that writes a pcapng stream to w.
//
// Nothing is written until the first AddInterface: pcapgo's NgWriter emits
// the section header block together with the first interface description
// block. A Writer that never gets an interface therefore produces no bytes
// (a capture with no interface could hold no packet anyway).
func NewWriter(w io.Writer) (*Writer, error) {
	if w == nil {
		return nil, ErrNilWriter
	}
	return &Writer{out: w, bw: bufio.NewWriter(w), names: make(map[string]int)}, nil
}

// AddInterface declares one captured interface, named after the simulated
// host or router interface ("host1/eth0", "router wan/outside"), and returns
// the id to pass to WritePacket. Ids count up from 0 in call order. Names
// must be unique and non-empty (Wireshark lists interfaces by name, so two
// with one name could not be told apart). Interfaces can be added at any
// time, also after packets were written on others.
func (w *Writer) AddInterface(name string) (int, error) {
	switch {
	case name == "":
		return 0, fmt.Errorf("%w: empty", ErrInterfaceName)
	case len(name) > maxOption:
		return 0, fmt.Errorf("%w: %d bytes long (max %d)", ErrInterfaceName, len(name), maxOption)
	}
	if w.err != nil {
		return 0, w.err
	}
	if id, dup := w.names[name]; dup {
		return 0, fmt.Errorf("%w: %q already has id %d", ErrInterfaceName, name, id)
	}
	intf := pcapgo.NgInterface{
		Name:                name,
		LinkType:            layers.LinkTypeRaw,
		TimestampResolution: 9, // 10^-9 s; pcapgo writes this for every interface
		SnapLength:          0, // no limit: the whole datagram is always written
	}
	var id int
	if w.ng == nil {
		ng, err := pcapgo.NewNgWriterInterface(unbuffered{w.bw}, intf, pcapgo.NgWriterOptions{
			SectionInfo: pcapgo.NgSectionInfo{Application: Application},
		})
		if err != nil {
			w.err = fmt.Errorf("capture: writing section header and interface %q: %w", name, err)
			return 0, w.err
		}
		w.ng = ng
	} else {
		var err error
		if id, err = w.ng.AddInterface(intf); err != nil {
			w.err = fmt.Errorf("capture: writing interface %q: %w", name, err)
			return 0, w.err
		}
	}
	// Packets go to bw directly (epb.go): move the headers there first.
	if err := w.ng.Flush(); err != nil {
		w.err = fmt.Errorf("capture: writing interface %q: %w", name, err)
		return 0, w.err
	}
	w.names[name] = id
	w.n++
	return id, nil
}

// WritePacket writes p as a raw IP datagram captured on interface iface at
// virtual time ts. The headers are built here (see AppendIP); p.Payload is
// only read. Bad input (see AppendIP's errors, ErrUnknownInterface,
// ErrTimestamp) writes nothing. WritePacket allocates nothing once its
// scratch buffer has grown to the largest datagram seen.
func (w *Writer) WritePacket(iface int, ts time.Time, p Packet) error {
	return w.write(iface, ts, p, Meta{})
}

// WritePacketMeta is WritePacket with a direction and/or comment attached.
// Like WritePacket it allocates nothing.
func (w *Writer) WritePacketMeta(iface int, ts time.Time, p Packet, m Meta) error {
	if m.Dir > DirOutbound {
		return fmt.Errorf("%w: direction %d", ErrMeta, m.Dir)
	}
	if len(m.Comment) > maxOption-64 && (m.ID != 0 || m.Event != 0) || len(m.Comment) > maxOption {
		return fmt.Errorf("%w: comment is %d bytes long (max %d)", ErrMeta, len(m.Comment), maxOption)
	}
	return w.write(iface, ts, p, m)
}

// Earliest and latest instants a pcapng nanosecond timestamp (int64 since
// 1970, as pcapgo writes it) can hold.
var (
	minTime = time.Unix(0, 0)
	maxTime = time.Unix(0, 1<<63-1)
)

func (w *Writer) write(iface int, ts time.Time, p Packet, m Meta) error {
	if w.err != nil {
		return w.err
	}
	if iface < 0 || iface >= w.n {
		return fmt.Errorf("%w: id %d (have %d)", ErrUnknownInterface, iface, w.n)
	}
	if ts.Before(minTime) || ts.After(maxTime) {
		return fmt.Errorf("%w: %v", ErrTimestamp, ts)
	}
	b, err := AppendIP(w.buf[:0], p)
	if err != nil {
		return err
	}
	w.buf = b
	if err := w.writeEPB(iface, ts, b, m); err != nil {
		w.err = fmt.Errorf("capture: writing packet: %w", err)
		return w.err
	}
	return nil
}

// unbuffered hides that bw is a *bufio.Writer, so that pcapgo buffers
// into it rather than sharing it (bufio.NewWriter returns a large enough
// *bufio.Writer itself), and its Flush moves bytes into bw, not to out.
type unbuffered struct{ w io.Writer }

func (u unbuffered) Write(b []byte) (int, error) { return u.w.Write(b) }

// Flush writes buffered data to the underlying io.Writer.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if w.ng == nil {
		return nil
	}
	if err := w.ng.Flush(); err != nil {
		w.err = fmt.Errorf("capture: flush: %w", err)
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("capture: flush: %w", err)
		return w.err
	}
	return nil
}
