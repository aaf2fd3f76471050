package tracefile

import (
	"net/netip"
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends e as one line of JSON (no newline), the same bytes
// encoding/json would write for it (without HTML escaping), without
// reflection or allocation: trace writing sits on every packet event.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"ev":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"t":`...)
	b = strconv.AppendInt(b, e.T, 10)
	b = appendField(b, "kind", e.Kind)
	b = appendField(b, "where", e.Where)
	b = appendField(b, "proto", e.Proto)
	b = appendAddr(b, "src", e.Src, false)
	b = appendAddr(b, "dst", e.Dst, false)
	b = appendAddr(b, "nsrc", e.NewSrc, true)
	b = appendAddr(b, "ndst", e.NewDst, true)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, int64(e.Size), 10)
	if e.Reason != "" {
		b = appendField(b, "reason", e.Reason)
	}
	b = append(b, `,"id":`...)
	b = strconv.AppendUint(b, e.ID, 10)
	if e.Info != nil {
		b = append(b, `,"info":`...)
		b = e.Info.appendJSON(b)
	}
	return append(b, '}')
}

func (in *Info) appendJSON(b []byte) []byte {
	b = append(b, `{"p":`...)
	b = appendString(b, in.P)
	opt := func(name, v string) {
		if v != "" {
			b = appendField(b, name, v)
		}
	}
	num := func(name string, v uint64) {
		if v != 0 {
			b = append(b, ',', '"')
			b = append(b, name...)
			b = append(b, '"', ':')
			b = strconv.AppendUint(b, v, 10)
		}
	}
	opt("method", in.Method)
	opt("class", in.Class)
	opt("tid", in.TID)
	if len(in.Attrs) > 0 {
		b = append(b, `,"attrs":[`...)
		for i, a := range in.Attrs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, a)
		}
		b = append(b, ']')
	}
	num("channel", uint64(in.Channel))
	if in.Inner != nil {
		b = append(b, `,"inner":`...)
		b = in.Inner.appendJSON(b)
	}
	opt("record", in.Record)
	opt("handshake", in.Handshake)
	num("records", uint64(in.Records))
	num("pt", uint64(in.PT))
	num("rtpseq", uint64(in.RTPSeq))
	num("ssrc", uint64(in.SSRC))
	if in.Marker {
		b = append(b, `,"marker":true`...)
	}
	opt("flags", in.Flags)
	num("seq", uint64(in.Seq))
	num("ack", uint64(in.Ack))
	num("win", uint64(in.Window))
	num("len", uint64(in.Len))
	return append(b, '}')
}

func appendField(b []byte, name, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

// appendAddr writes an address as encoding/json does (its text form; the
// zero AddrPort is "") and leaves out a zero one when omitzero.
func appendAddr(b []byte, name string, a netip.AddrPort, omitzero bool) []byte {
	if omitzero && a == (netip.AddrPort{}) {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':', '"')
	if a.Addr().IsValid() {
		b = a.AppendTo(b)
	}
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string the way encoding/json does with
// HTML escaping off: control characters, quote and backslash escaped,
// invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
