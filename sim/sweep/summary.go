package sweep

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Outcome is how one seed ended.
type Outcome string

// Outcomes.
const (
	Pass  Outcome = "pass"
	Fail  Outcome = "fail"
	Error Outcome = "error" // the run could not be set up (not a verdict on the system under test)
)

// Result is one seed's run.
type Result struct {
	Seed    uint64  `json:"seed"`
	Outcome Outcome `json:"outcome"`
	// Message says why the seed failed (empty when it passed).
	Message string `json:"message,omitempty"`
	// VirtualTime is the simulated time the run took.
	VirtualTime time.Duration `json:"virtual_time_ns"`
	// LastEvent is the last thing that happened before the failure (for a
	// network scenario, the last packet event), as one line; may be empty.
	LastEvent string `json:"last_event,omitempty"`
	// Signature groups failures that look alike: Signature(Message,
	// LastEvent). Set by Summary.Add when empty.
	Signature string `json:"signature,omitempty"`
	// Repro is the command that reruns exactly this seed.
	Repro string `json:"repro,omitempty"`
}

// Failed reports an outcome other than Pass.
func (r Result) Failed() bool { return r.Outcome != Pass }

var (
	hexWord = regexp.MustCompile(`\b(0x)?[0-9a-fA-F]{6,}\b`)
	number  = regexp.MustCompile(`[0-9]+`)
	spaces  = regexp.MustCompile(`\s+`)
)

// Mask replaces the numbers in s by N (and hexadecimal identifiers that mix
// digits and letters by X), so that two failures that differ only in a
// port, a time or a transaction ID read the same: "read udp 10.0.0.2:5000:
// i/o timeout after 1.5s" becomes "read udp N.N.N.N:N: i/o timeout after N.Ns".
// Runs of white space become one space.
func Mask(s string) string {
	s = hexWord.ReplaceAllStringFunc(s, func(h string) string {
		if strings.HasPrefix(h, "0x") || (strings.ContainsAny(h, "0123456789") && strings.ContainsAny(h, "abcdefABCDEF")) {
			return "X"
		}
		return h // a word ("facade") or a plain number, masked next
	})
	s = number.ReplaceAllString(s, "N")
	return strings.TrimSpace(spaces.ReplaceAllString(s, " "))
}

// Signature is the failure signature of a message and the last event before
// the failure: both masked, joined by " | ".
func Signature(message, lastEvent string) string {
	sig := Mask(message)
	if lastEvent != "" {
		sig += " | " + Mask(lastEvent)
	}
	return sig
}

// Group is the failures that share a signature.
type Group struct {
	Signature string   `json:"signature"`
	Count     int      `json:"count"`
	Seeds     []uint64 `json:"seeds"`
	// Representative is one seed of the group (the smallest), with its
	// reproduction command: the one to debug or shrink.
	Representative uint64 `json:"representative"`
	Repro          string `json:"repro,omitempty"`
	// Example is the representative's unmasked message.
	Example string `json:"example"`
}

// Summary is a sweep's machine-readable result: every seed's outcome and the
// failures grouped by signature. Build it with Add (from one goroutine, or
// under the caller's lock) and finish it with Groups or the writers.
type Summary struct {
	Name    string        `json:"name"`  // the scenario or test swept
	Shard   string        `json:"shard"` // Shard.String()
	Seeds   int           `json:"seeds"` // seeds run
	Passed  int           `json:"passed"`
	Failed  int           `json:"failed"`
	Elapsed time.Duration `json:"virtual_time_ns"` // sum of the runs' virtual times
	Results []Result      `json:"results"`         // by seed
	Groups  []Group       `json:"groups"`          // largest first
}

// Add records one seed's result, computing its signature when it failed and
// has none.
func (s *Summary) Add(r Result) {
	if r.Failed() && r.Signature == "" {
		r.Signature = Signature(r.Message, r.LastEvent)
	}
	if !r.Failed() {
		r.Signature = ""
	}
	s.Results = append(s.Results, r)
}

// Finish sorts the results by seed, counts them and groups the failures by
// signature, largest group first (then by signature). It is idempotent; the
// writers call it.
func (s *Summary) Finish() {
	sort.SliceStable(s.Results, func(i, j int) bool { return s.Results[i].Seed < s.Results[j].Seed })
	s.Seeds, s.Passed, s.Failed, s.Elapsed = len(s.Results), 0, 0, 0
	bySig := map[string]*Group{}
	var order []string
	for _, r := range s.Results {
		s.Elapsed += r.VirtualTime
		if !r.Failed() {
			s.Passed++
			continue
		}
		s.Failed++
		g := bySig[r.Signature]
		if g == nil {
			g = &Group{Signature: r.Signature, Representative: r.Seed, Repro: r.Repro, Example: r.Message}
			bySig[r.Signature] = g
			order = append(order, r.Signature)
		}
		g.Count++
		g.Seeds = append(g.Seeds, r.Seed)
	}
	s.Groups = s.Groups[:0]
	for _, sig := range order {
		s.Groups = append(s.Groups, *bySig[sig])
	}
	sort.SliceStable(s.Groups, func(i, j int) bool {
		if s.Groups[i].Count != s.Groups[j].Count {
			return s.Groups[i].Count > s.Groups[j].Count
		}
		return s.Groups[i].Signature < s.Groups[j].Signature
	})
}

// Merge combines the summaries of several shards (or runs) into one, as if
// one sweep had run every seed; a seed present twice is an error, since
// shards must not overlap.
func Merge(name string, parts ...*Summary) (*Summary, error) {
	out := &Summary{Name: name}
	seen := map[uint64]string{}
	var shards []string
	for i, p := range parts {
		if p == nil {
			return nil, fmt.Errorf("sweep: Merge: part %d of %d is nil", i+1, len(parts))
		}
		shards = append(shards, p.Shard)
		for _, r := range p.Results {
			if prev, dup := seen[r.Seed]; dup {
				return nil, fmt.Errorf("sweep: seed %d is in shard %s and shard %s", r.Seed, prev, p.Shard)
			}
			seen[r.Seed] = p.Shard
			out.Results = append(out.Results, r)
		}
	}
	out.Shard = strings.Join(shards, "+")
	out.Finish()
	return out, nil
}

// WriteJSON writes the finished summary as indented JSON.
func (s *Summary) WriteJSON(w io.Writer) error {
	s.Finish()
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// ReadJSON reads a summary that WriteJSON wrote.
func ReadJSON(r io.Reader) (*Summary, error) {
	var s Summary
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		return nil, fmt.Errorf("sweep: read summary: %w", err)
	}
	return &s, nil
}

// WriteGroups writes the grouping for people: one paragraph per signature
// with its count, its seeds and the representative's reproduction command.
func (s *Summary) WriteGroups(w io.Writer) error {
	s.Finish()
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d seeds failed (shard %s), %d signature(s)\n", s.Failed, s.Seeds, s.Shard, len(s.Groups))
	for i, g := range s.Groups {
		fmt.Fprintf(&b, "%d. %d× %s\n", i+1, g.Count, g.Signature)
		fmt.Fprintf(&b, "   seeds %s\n", seedList(g.Seeds, 20))
		fmt.Fprintf(&b, "   e.g. seed %d: %s\n", g.Representative, g.Example)
		if g.Repro != "" {
			fmt.Fprintf(&b, "   reproduce: %s\n", g.Repro)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func seedList(seeds []uint64, limit int) string {
	parts := make([]string, 0, min(len(seeds), limit)+1)
	for i, s := range seeds {
		if i == limit {
			parts = append(parts, fmt.Sprintf("... (%d more)", len(seeds)-limit))
			break
		}
		parts = append(parts, fmt.Sprint(s))
	}
	return strings.Join(parts, " ")
}
