package sweep_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim/sweep"
)

// Four shards of a 400-seed sweep run 100 seeds each, together exactly the
// seeds of one whole run, none twice.
func TestShardsPartitionTheSeeds(t *testing.T) {
	whole := sweep.Shard{}.Seeds(400)
	require.Len(t, whole, 400)
	seen := map[uint64]int{}
	var union []uint64
	for i := range 4 {
		sh, err := sweep.ParseShard(sweep.Shard{Index: i, Count: 4}.String())
		require.NoError(t, err)
		seeds := sh.Seeds(400)
		assert.Len(t, seeds, 100, "shard %v", sh)
		for _, s := range seeds {
			seen[s]++
			union = append(union, s)
			assert.True(t, sh.Has(s))
		}
	}
	assert.Len(t, seen, 400)
	for s, n := range seen {
		assert.Equal(t, 1, n, "seed %d", s)
	}
	assert.ElementsMatch(t, whole, union)
}

func TestShardUneven(t *testing.T) {
	for _, tc := range []struct {
		shard sweep.Shard
		n     int
		want  []uint64
	}{
		{sweep.Shard{}, 3, []uint64{1, 2, 3}},
		{sweep.Shard{Index: 0, Count: 1}, 2, []uint64{1, 2}},
		{sweep.Shard{Index: 0, Count: 3}, 7, []uint64{1, 4, 7}},
		{sweep.Shard{Index: 2, Count: 3}, 7, []uint64{3, 6}},
		{sweep.Shard{Index: 3, Count: 4}, 3, []uint64{}},
		{sweep.Shard{}, 0, []uint64{}},
	} {
		assert.Equal(t, tc.want, tc.shard.Seeds(tc.n), "%v of %d", tc.shard, tc.n)
	}
}

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want sweep.Shard
		bad  bool
	}{
		{"", sweep.Shard{}, false},
		{"2/4", sweep.Shard{Index: 2, Count: 4}, false},
		{" 0 / 1 ", sweep.Shard{Index: 0, Count: 1}, false},
		{"4/4", sweep.Shard{}, true},
		{"-1/4", sweep.Shard{}, true},
		{"1/-4", sweep.Shard{}, true},
		{"2", sweep.Shard{}, true},
		{"a/4", sweep.Shard{}, true},
		{"1/b", sweep.Shard{}, true},
	} {
		got, err := sweep.ParseShard(tc.in)
		if tc.bad {
			assert.ErrorIs(t, err, sweep.ErrShard, "%q", tc.in)
			continue
		}
		require.NoError(t, err, "%q", tc.in)
		assert.Equal(t, tc.want, got)
	}
}

// A bad shard's message says what is wrong with it in the terms of the
// flag: COUNT at least 1, INDEX 0-based.
func TestParseShardMessages(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"1/0", "count 0 in \"1/0\": COUNT must be at least 1 (INDEX/COUNT, 0 <= INDEX < COUNT)"},
		{"0/0", "count 0 in \"0/0\": COUNT must be at least 1"},
		{"1/-4", "count -4 in \"1/-4\": COUNT must be at least 1"},
		{"4/4", "index 4 is not in [0, 4): INDEX is 0-based, 0 <= INDEX < COUNT"},
		{"-1/4", "index -1 is not in [0, 4): INDEX is 0-based"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := sweep.ParseShard(tc.in)
			require.ErrorIs(t, err, sweep.ErrShard)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestShardFromEnv(t *testing.T) {
	t.Setenv(sweep.ShardEnv, "1/3")
	sh, err := sweep.ShardFromEnv()
	require.NoError(t, err)
	assert.Equal(t, sweep.Shard{Index: 1, Count: 3}, sh)
	t.Setenv(sweep.ShardEnv, "3/3")
	_, err = sweep.ShardFromEnv()
	assert.ErrorIs(t, err, sweep.ErrShard)
	assert.ErrorContains(t, err, sweep.ShardEnv)
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"read udp 10.0.0.2:5000: i/o timeout after 1.5s": "read udp N.N.N.N:N: i/o timeout after N.Ns",
		"transaction 0a1b2c3d4e5f failed":                "transaction X failed",
		"ice:  connection\tfailed":                       "ice: connection failed",
		"facade 123456":                                  "facade N",
	} {
		assert.Equal(t, want, sweep.Mask(in), in)
	}
}

func sample() *sweep.Summary {
	s := &sweep.Summary{Name: "TestFlaky", Shard: "all"}
	s.Add(sweep.Result{Seed: 3, Outcome: sweep.Fail, Message: "timeout after 2.5s", LastEvent: "drop b->a #17 loss", VirtualTime: 2500 * time.Millisecond, Repro: "VNETSIM_SEED=3 go test"})
	s.Add(sweep.Result{Seed: 1, Outcome: sweep.Pass, VirtualTime: time.Second})
	s.Add(sweep.Result{Seed: 2, Outcome: sweep.Fail, Message: "timeout after 1.25s", LastEvent: "drop b->a #9 loss", VirtualTime: 1250 * time.Millisecond, Repro: "VNETSIM_SEED=2 go test"})
	s.Add(sweep.Result{Seed: 4, Outcome: sweep.Fail, Message: "no candidates <&>", VirtualTime: time.Second})
	s.Add(sweep.Result{Seed: 5, Outcome: sweep.Error, Message: "bad config"})
	return s
}

func TestSummaryGroups(t *testing.T) {
	s := sample()
	s.Finish()
	assert.Equal(t, 5, s.Seeds)
	assert.Equal(t, 1, s.Passed)
	assert.Equal(t, 4, s.Failed)
	require.Len(t, s.Groups, 3)
	g := s.Groups[0]
	assert.Equal(t, "timeout after N.Ns | drop b->a #N loss", g.Signature)
	assert.Equal(t, 2, g.Count)
	assert.Equal(t, []uint64{2, 3}, g.Seeds)
	assert.Equal(t, uint64(2), g.Representative, "the smallest seed represents the group")
	assert.Equal(t, "VNETSIM_SEED=2 go test", g.Repro)
	assert.Equal(t, "timeout after 1.25s", g.Example)
	for i, r := range s.Results {
		assert.Equal(t, uint64(i+1), r.Seed, "sorted by seed")
	}

	var out bytes.Buffer
	require.NoError(t, s.WriteGroups(&out))
	assert.Contains(t, out.String(), "4 of 5 seeds failed (shard all), 3 signature(s)")
	assert.Contains(t, out.String(), "1. 2× timeout after N.Ns | drop b->a #N loss\n   seeds 2 3\n   e.g. seed 2: timeout after 1.25s\n   reproduce: VNETSIM_SEED=2 go test\n")
}

func TestSummaryJSONRoundTrip(t *testing.T) {
	s := sample()
	var buf bytes.Buffer
	require.NoError(t, s.WriteJSON(&buf))
	back, err := sweep.ReadJSON(&buf)
	require.NoError(t, err)
	assert.Equal(t, s.Results, back.Results)
	assert.Equal(t, s.Groups, back.Groups)
	_, err = sweep.ReadJSON(bytes.NewBufferString("{"))
	assert.Error(t, err)
}

func TestMergeShards(t *testing.T) {
	s := sample()
	a := &sweep.Summary{Shard: "0/2"}
	b := &sweep.Summary{Shard: "1/2"}
	for _, r := range s.Results {
		if r.Seed%2 == 1 {
			a.Add(r)
		} else {
			b.Add(r)
		}
	}
	m, err := sweep.Merge("TestFlaky", a, b)
	require.NoError(t, err)
	s.Finish()
	assert.Equal(t, s.Results, m.Results)
	assert.Equal(t, s.Groups, m.Groups)
	assert.Equal(t, "0/2+1/2", m.Shard)
	_, err = sweep.Merge("x", a, a)
	assert.ErrorContains(t, err, "is in shard 0/2 and shard 0/2")
}

type junitDoc struct {
	Tests  int `xml:"tests,attr"`
	Suites []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Errors   int    `xml:"errors,attr"`
		Cases    []struct {
			Name    string `xml:"name,attr"`
			Time    string `xml:"time,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Body    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// The JUnit file parses with encoding/xml, one testcase per seed, failures
// carrying their message (escaped properly) and signature.
func TestJUnitParses(t *testing.T) {
	s := sample()
	var buf bytes.Buffer
	require.NoError(t, s.WriteJUnit(&buf))
	var doc junitDoc
	require.NoError(t, xml.Unmarshal(buf.Bytes(), &doc), buf.String())
	assert.Equal(t, 5, doc.Tests)
	require.Len(t, doc.Suites, 1)
	su := doc.Suites[0]
	assert.Equal(t, "TestFlaky", su.Name)
	assert.Equal(t, 3, su.Failures)
	assert.Equal(t, 1, su.Errors)
	require.Len(t, su.Cases, 5)
	for i, c := range su.Cases {
		assert.Equal(t, "seed="+string(rune('1'+i)), c.Name)
	}
	assert.Nil(t, su.Cases[0].Failure)
	require.NotNil(t, su.Cases[1].Failure)
	assert.Equal(t, "timeout after 1.25s", su.Cases[1].Failure.Message)
	assert.Equal(t, "1.250000", su.Cases[1].Time)
	assert.Contains(t, su.Cases[1].Failure.Body, "signature: timeout after N.Ns | drop b->a #N loss")
	assert.Equal(t, "no candidates <&>", su.Cases[3].Failure.Message)
	require.NotNil(t, su.Cases[4].Error)
}

// A standard parser outside Go reads it too: Python's xml.etree, when
// python3 is installed.
func TestJUnitParsesInPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed; TestJUnitParses covers encoding/xml")
	}
	path := filepath.Join(t.TempDir(), "sweep.xml")
	var buf bytes.Buffer
	require.NoError(t, sample().WriteJUnit(&buf))
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	out, err := exec.Command(py, "-c", `
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
cases = root.findall("./testsuite/testcase")
print(len(cases), sum(1 for c in cases if c.find("failure") is not None), cases[3].find("failure").get("message"))
`, path).CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, "5 3 no candidates <&>\n", string(out))
}

func TestShardValidate(t *testing.T) {
	assert.NoError(t, sweep.Shard{}.Validate())
	err := sweep.Shard{Index: 5, Count: 2}.Validate()
	assert.True(t, errors.Is(err, sweep.ErrShard))
	assert.Equal(t, "all", sweep.Shard{Index: 0, Count: 1}.String())
}
