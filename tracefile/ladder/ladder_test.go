package ladder_test

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/scenarios"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/tracefile"
	"github.com/vnetsim/vnetsim/tracefile/ladder"
	"github.com/vnetsim/vnetsim/vnet"
)

// holePunchTrace is the trace of the hole-punching scenario.
func holePunchTrace(t *testing.T) *tracefile.Trace { return holePunchN(t, 0) }

// longTrace is a hole-punching run of over 50,000 events.
func longTrace(t *testing.T) *tracefile.Trace {
	tr := holePunchN(t, 6000)
	require.Greater(t, len(tr.Events), 50000)
	return tr
}

func holePunchN(t *testing.T, punches int) *tracefile.Trace {
	var buf bytes.Buffer
	tw := tracefile.NewWriter(&buf, tracefile.Header{Seed: 1, Name: "holepunch"})
	_, err := scenarios.HolePunch(scenarios.HolePunchConfig{Seed: 1, Loss: 0.2, Punches: punches, Observe: vnet.TraceFileObserver(tw),
		Setup: func(w *scenarios.HolePunchWorld) error { tw.AddTopology(w.WAN.Topology); return nil }})
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	tr, err := tracefile.Read(&buf)
	require.NoError(t, err)
	return tr
}

// flakyFailingTrace is the trace of the first seed for which the flaky
// ICE scenario fails.
func flakyFailingTrace(t *testing.T) *tracefile.Trace {
	for seed := uint64(1); seed <= 30; seed++ {
		var buf bytes.Buffer
		var o scenarios.Outcome
		tw := tracefile.NewWriter(&buf, tracefile.Header{Seed: seed, Name: "FlakyICE"})
		simtest.Run(t, seed, func(t *testing.T, s *sim.Scheduler) {
			tracefile.Attach(s, tw) // in place of simtest's own
			var err error
			o, err = scenarios.FlakyICE(s)
			require.NoError(t, err)
		})
		require.NoError(t, tw.Close())
		if !o.Connected {
			tr, err := tracefile.Read(&buf)
			require.NoError(t, err)
			return tr
		}
	}
	t.Fatal("no failing seed of the flaky scenario in 1..30")
	return nil
}

// fates counts the trace's deliver and drop events.
func fates(tr *tracefile.Trace) int {
	n := 0
	for _, e := range tr.Events {
		if e.Kind == "deliver" || e.Kind == "drop" {
			n++
		}
	}
	return n
}

func TestBuild(t *testing.T) {
	tr := holePunchTrace(t)
	d := ladder.Build(tr)
	var names []string
	for _, l := range d.Lanes {
		names = append(names, l.Name)
	}
	assert.Equal(t, []string{"a", "a-nat", "wan", "stun", "b-nat", "b"}, names, "NATs between their hosts and the WAN")
	assert.Equal(t, fates(tr), d.Count(), "one arrow per delivery or drop")
	assert.Equal(t, fates(tr), d.Deliveries+d.Drops)
	assert.Positive(t, d.Drops)
	for _, a := range d.Arrows {
		require.NotEmpty(t, a.Pts)
		for i := 1; i < len(a.Pts); i++ {
			assert.GreaterOrEqual(t, a.Pts[i].T, a.Pts[i-1].T, "packet %d: time runs down the arrow", a.ID)
		}
		if a.Fate == "drop" {
			assert.NotEmpty(t, a.Reason)
		}
	}
	// A punch from a crosses a's NAT: the translation is on its arrow.
	var marked bool
	for _, a := range d.Arrows {
		if a.From == 0 && a.Fate == "deliver" && a.To == 5 {
			require.NotEmpty(t, a.Marks)
			assert.Contains(t, a.Marks[0].Text, "10.1.0.1:4000 > ")
			marked = true
			break
		}
	}
	assert.True(t, marked)
}

func TestHTMLIsSelfContained(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, ladder.WriteHTML(&b, ladder.Build(holePunchTrace(t))))
	page := b.String()
	assert.True(t, strings.HasPrefix(page, "<!DOCTYPE html>"))
	for _, ref := range []string{"http://", "https://", "src=", "<link", "@import", "url(http"} {
		assert.NotContains(t, page, ref, "no external asset")
	}
	assert.Contains(t, page, `"lanes":[{"name":"a"`)
}

func TestMermaid(t *testing.T) {
	d := ladder.Build(holePunchTrace(t))
	var b bytes.Buffer
	require.NoError(t, ladder.WriteMermaid(&b, d, ladder.MermaidConfig{}))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	assert.Equal(t, "sequenceDiagram", lines[0])
	assert.Equal(t, "    participant L0 as a", lines[1])
	msgs, drops := 0, 0
	for _, l := range lines {
		if strings.Contains(l, "->>") || strings.Contains(l, "-x") {
			msgs++
			assert.NotContains(t, l[strings.Index(l, ":"):], "#", "no Mermaid entity starts in labels")
		}
		if strings.Contains(l, "-x") {
			drops++
			assert.Contains(t, l, "DROPPED")
		}
	}
	assert.Equal(t, d.Count(), msgs)
	assert.Equal(t, d.Drops, drops)

	b.Reset()
	require.NoError(t, ladder.WriteMermaid(&b, d, ladder.MermaidConfig{Max: 3}))
	assert.Contains(t, b.String(), "more arrows in this window")
}

// TestLadderInChromium renders the ladders of the hole-punching scenario
// and of a failing seed of the flaky ICE scenario in headless Chromium:
// the screenshot is not blank, and the page (opened with #all) holds one
// SVG arrow per delivery or drop in the trace. LADDER_SCREENSHOT_DIR keeps
// the screenshots (scripts/ladder-screenshot.sh).
func TestLadderInChromium(t *testing.T) {
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Skip("no headless Chromium on PATH (apt-get install chromium); scripts/ladder-screenshot.sh runs this test")
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		tr   func(*testing.T) *tracefile.Trace
	}{{"holepunch", holePunchTrace}, {"flaky-ice-failing", flakyFailingTrace}, {"holepunch-50k-events", longTrace}} {
		t.Run(tc.name, func(t *testing.T) {
			tr := tc.tr(t)
			d := ladder.Build(tr)
			page := filepath.Join(dir, tc.name+".html")
			var b bytes.Buffer
			require.NoError(t, ladder.WriteHTML(&b, d))
			require.NoError(t, os.WriteFile(page, b.Bytes(), 0o644))

			shot := filepath.Join(dir, tc.name+".png")
			if keep := os.Getenv("LADDER_SCREENSHOT_DIR"); keep != "" {
				shot = filepath.Join(keep, tc.name+".png")
			}
			run(t, browser, "--screenshot="+shot, "--window-size=1400,1000", "file://"+page)
			f, err := os.Open(shot)
			require.NoError(t, err)
			img, err := png.Decode(f)
			require.NoError(t, f.Close())
			require.NoError(t, err)
			ink, colours := inked(img)
			t.Logf("%s: %d arrows, screenshot %v with %.1f%% ink in %d colours", tc.name, d.Count(), img.Bounds().Size(), 100*ink, colours)
			assert.Greater(t, ink, 0.01, "the screenshot is not blank")
			assert.Greater(t, colours, 8, "lanes, arrows, drops and labels are drawn")

			if len(tr.Events) > 50000 {
				// Opened plainly, a long run shows a window of it.
				dom := run(t, browser, "--dump-dom", "file://"+page)
				shown := strings.Count(dom, `<g class="arrow `)
				t.Logf("%d events: the first window draws %d of %d arrows", len(tr.Events), shown, d.Count())
				assert.Positive(t, shown)
				assert.LessOrEqual(t, shown, 3000, "only the window in view is drawn")
			}
			dom := run(t, browser, "--dump-dom", "file://"+page+"#all")
			arrows := strings.Count(dom, `<g class="arrow `)
			assert.Equal(t, fates(tr), arrows, "one arrow per delivery or drop")
			assert.Equal(t, d.Drops, strings.Count(dom, `<g class="arrow drop`))

			if len(tr.Events) > 50000 {
				return // each page load of the long run costs seconds
			}
			// Filters: by text (a drop reason), by host.
			want := map[string]int{}
			for _, e := range tr.Events {
				if e.Kind == "drop" {
					want[e.Reason]++
				}
			}
			for reason, n := range want {
				dom := run(t, browser, "--dump-dom", "file://"+page+"#all&q="+reason)
				assert.Equal(t, n, strings.Count(dom, `<g class="arrow drop`), "q=%s", reason)
				break // one reason is enough (each run costs a browser start)
			}
			fromA := 0
			for _, a := range d.Arrows {
				if a.Fate != "inflight" && (a.From == 0 || a.To == 0 || slices.ContainsFunc(a.Pts, func(p ladder.Point) bool { return p.X == 0 })) {
					fromA++
				}
			}
			dom = run(t, browser, "--dump-dom", "file://"+page+"#all&host="+d.Lanes[0].Name)
			assert.Equal(t, fromA, strings.Count(dom, `<g class="arrow `), "host=%s", d.Lanes[0].Name)
		})
	}
}

func run(t *testing.T, browser string, args ...string) string {
	cmd := exec.Command(browser, append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--virtual-time-budget=5000"}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	require.NoError(t, cmd.Run(), "%s", errOut.String())
	return out.String()
}

// inked returns the fraction of pixels that are not near-white and the
// number of distinct colours.
func inked(img image.Image) (float64, int) {
	b := img.Bounds()
	seen := map[[3]uint32]bool{}
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
			if r < 0xe000 || g < 0xe000 || bl < 0xe000 {
				n++
			}
		}
	}
	return float64(n) / float64(b.Dx()*b.Dy()), len(seen)
}

// A duplicating link makes two arrows of one packet: still one arrow per
// delivery or drop.
func TestBuildDuplicates(t *testing.T) {
	var buf bytes.Buffer
	tw := tracefile.NewWriter(&buf, tracefile.Header{Seed: 3})
	_, err := scenarios.HolePunch(scenarios.HolePunchConfig{Seed: 3, Loss: 0.2, Observe: vnet.TraceFileObserver(tw),
		Setup: func(w *scenarios.HolePunchWorld) error {
			return w.A.Net.Uplink().Set(impair.Config{Duplicate: 0.5})
		}})
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	tr, err := tracefile.Read(&buf)
	require.NoError(t, err)
	dups := 0
	for _, e := range tr.Events {
		if e.Kind == "dup" {
			dups++
		}
	}
	require.Positive(t, dups)
	d := ladder.Build(tr)
	assert.Equal(t, fates(tr), d.Count())
	ids := map[uint64]int{}
	for _, a := range d.Arrows {
		ids[a.ID]++
	}
	twice := 0
	for _, n := range ids {
		if n == 2 {
			twice++
		}
	}
	assert.Equal(t, dups, twice, "each duplicated packet has two arrows")
	assert.Empty(t, tr.Topology.Nodes, "no topology: lanes in order of appearance")
	assert.Equal(t, "a", d.Lanes[0].Name)
}

// Highlighted packets are marked on their arrows, listed at the top of the
// page, and drawn orange with their label; an id not in the trace is a
// typed error.
func TestHighlight(t *testing.T) {
	d := ladder.Build(holePunchTrace(t))
	var drops []uint64
	for _, a := range d.Arrows {
		if a.Fate == "drop" && !slices.Contains(drops, a.ID) {
			drops = append(drops, a.ID)
		}
	}
	require.GreaterOrEqual(t, len(drops), 2)
	n, err := d.Highlight(ladder.Highlight{ID: drops[0], Label: "fate 1: lost"}, ladder.Highlight{ID: drops[1], Label: "fate 2: lost"})
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	hl := d.Highlighted()
	require.Len(t, hl, 2)
	assert.Equal(t, []string{"fate 1: lost", "fate 2: lost"}, []string{hl[0].Note, hl[1].Note})
	assert.Equal(t, []uint64{drops[0], drops[1]}, []uint64{hl[0].ID, hl[1].ID})

	n, err = d.Highlight(ladder.Highlight{ID: drops[0], Label: "again"}, ladder.Highlight{ID: 1 << 40, Label: "absent"})
	require.ErrorIs(t, err, ladder.ErrNoArrow)
	assert.Contains(t, err.Error(), "1099511627776")
	assert.Zero(t, n, "an arrow marked twice is counted once")
	assert.Equal(t, "fate 1: lost; again", d.Highlighted()[0].Note)

	var b bytes.Buffer
	require.NoError(t, ladder.WriteHTML(&b, d))
	page := b.String()
	assert.Contains(t, page, `"note":"fate 1: lost; again"`)
	assert.Contains(t, page, `"note":"fate 2: lost"`)
	back, err := ladder.ReadHTML(strings.NewReader(page))
	require.NoError(t, err)
	assert.Equal(t, d.Highlighted(), back.Highlighted(), "the page embeds the marks")
	_, err = ladder.ReadHTML(strings.NewReader("<html></html>"))
	assert.ErrorIs(t, err, ladder.ErrNotLadder)

	browser, err := exec.LookPath("chromium")
	if err != nil {
		return // the data is checked; drawing it needs a browser
	}
	file := filepath.Join(t.TempDir(), "hl.html")
	require.NoError(t, os.WriteFile(file, b.Bytes(), 0o644))
	dom := run(t, browser, "--dump-dom", "file://"+file+"#all")
	assert.Equal(t, 2, strings.Count(dom, `<g class="arrow drop hl`), "the two arrows drawn highlighted")
	drawn := func(s string) int { return strings.Count(dom, s) - strings.Count(page, s) } // not the script's own text
	assert.Equal(t, 2, drawn(`<text class="note"`), "each labelled")
	assert.Equal(t, 2, drawn(`<li><a href="#" data-i=`), "and listed at the top")
	assert.Contains(t, dom, "2 highlighted arrows")
}
