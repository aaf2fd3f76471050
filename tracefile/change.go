package tracefile

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// Change is one field in which the two runs' first differing events
// differ, with its value in each run. Name is the field's JSON name; a
// field inside the payload summary is named by its path, such as
// "info.tid" or "info.inner.attrs". A value absent from one run reads
// "(none)".
type Change struct {
	Name string
	A, B string
}

// changes lists the fields, down to the payload summary's leaves, in
// which a and b differ: the names in differing say that info differs, and
// these say which part of it and how, which is what a reader needs when
// two events print on the same line alike (a STUN transaction id).
func changes(a, b *Event) []Change {
	var out []Change
	add := func(name, va, vb string) {
		if va != vb {
			out = append(out, Change{Name: name, A: va, B: vb})
		}
	}
	addr := func(v fmt.Stringer, valid bool) string {
		if !valid {
			return none
		}
		return v.String()
	}
	add("t", fmtT(a.T), fmtT(b.T))
	add("kind", a.Kind, b.Kind)
	add("where", a.Where, b.Where)
	add("proto", a.Proto, b.Proto)
	add("src", addr(a.Src, a.Src.IsValid()), addr(b.Src, b.Src.IsValid()))
	add("dst", addr(a.Dst, a.Dst.IsValid()), addr(b.Dst, b.Dst.IsValid()))
	add("nsrc", addr(a.NewSrc, a.NewSrc.IsValid()), addr(b.NewSrc, b.NewSrc.IsValid()))
	add("ndst", addr(a.NewDst, a.NewDst.IsValid()), addr(b.NewDst, b.NewDst.IsValid()))
	add("size", strconv.Itoa(a.Size), strconv.Itoa(b.Size))
	add("reason", orNone(a.Reason), orNone(b.Reason))
	add("id", strconv.FormatUint(a.ID, 10), strconv.FormatUint(b.ID, 10))
	fa, fb := flatInfo(a.Info), flatInfo(b.Info)
	keys := make([]string, 0, len(fa)+len(fb))
	for k := range fa {
		keys = append(keys, k)
	}
	for k := range fb {
		if _, ok := fa[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		va, ok := fa[k]
		if !ok {
			va = none
		}
		vb, ok := fb[k]
		if !ok {
			vb = none
		}
		add(k, va, vb)
	}
	return out
}

const none = "(none)"

func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}

// flatInfo maps each leaf of the payload summary, as the trace file
// writes it, to its value: "info.p" -> "stun", "info.attrs" ->
// `["USE-CANDIDATE"]`. A nil Info is an empty map, so every field of the
// other run's reads as present in one run only.
func flatInfo(in *Info) map[string]string {
	out := map[string]string{}
	if in == nil {
		return out
	}
	var m map[string]any
	if err := json.Unmarshal(in.appendJSON(nil), &m); err != nil {
		// appendJSON writes what encoding/json writes (a tested
		// property); show the whole summary rather than lose it.
		out["info"] = string(in.appendJSON(nil))
		return out
	}
	flatten("info", m, out)
	return out
}

func flatten(prefix string, m map[string]any, out map[string]string) {
	for k, v := range m {
		name := prefix + "." + k
		switch v := v.(type) {
		case map[string]any:
			flatten(name, v, out)
		case string:
			out[name] = v
		default:
			j, _ := json.Marshal(v) // values decoded from JSON marshal back
			out[name] = string(j)
		}
	}
}
