package simtest_test

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/sim/simtest"
	"github.com/vnetsim/vnetsim/tracefile"
	"github.com/vnetsim/vnetsim/vnet"
)

// TestTraceHelper is run by TestTraceOfFailingRun in a child process: a
// world sends one datagram, then the test fails if SIMTEST_HELPER says so.
func TestTraceHelper(t *testing.T) {
	mode := os.Getenv("SIMTEST_HELPER")
	if mode == "" {
		t.Skip("run by TestTraceOfFailingRun in a child process")
	}
	simtest.Run(t, 7, func(t *testing.T, s *sim.Scheduler) {
		wan, err := vnet.NewRouter(&vnet.RouterConfig{Name: "wan", CIDR: "1.2.3.0/24", Scheduler: s})
		require.NoError(t, err)
		a, err := vnet.NewNet(&vnet.NetConfig{Name: "a"})
		require.NoError(t, err)
		require.NoError(t, wan.AddNet(a))
		c, err := a.ListenPacket("udp4", "0.0.0.0:1000")
		require.NoError(t, err)
		_, err = c.WriteTo([]byte("x"), net.UDPAddrFromAddrPort(netip.AddrPortFrom(a.IP(), 1000)))
		require.NoError(t, err)
		time.Sleep(time.Second)
		require.NoError(t, c.Close())
		if mode == "fail" {
			t.Error("deliberate failure")
		}
	})
}

// A failing run's trace is written to a file named after the test and
// seed, and the log says where, next to the reproduction command. A
// passing run writes none unless VNETSIM_TRACE_DIR asks for every run.
func TestTraceOfFailingRun(t *testing.T) {
	for _, tc := range []struct {
		name, mode string
		dirEnv     bool
		written    bool
	}{
		{"failing", "fail", false, true},
		{"passing", "pass", false, false},
		{"passing with VNETSIM_TRACE_DIR", "pass", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestTraceHelper$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "SIMTEST_HELPER="+tc.mode, "TMPDIR="+tmp, simtest.SeedEnv+"=", simtest.TraceDirEnv+"=")
			dir := filepath.Join(tmp, "vnetsim-traces")
			if tc.dirEnv {
				dir = filepath.Join(tmp, "all")
				cmd.Env = append(cmd.Env, simtest.TraceDirEnv+"="+dir)
			}
			out, err := cmd.CombinedOutput()
			if tc.mode == "fail" {
				require.Error(t, err, "%s", out)
			} else {
				require.NoError(t, err, "%s", out)
			}
			path := filepath.Join(dir, "TestTraceHelper.seed-7.jsonl")
			if !tc.written {
				assert.NoFileExists(t, path)
				assert.NotContains(t, string(out), "simtest: trace")
				return
			}
			assert.Contains(t, string(out), "written to "+path)
			assert.Contains(t, string(out), "reproduce with: VNETSIM_SEED=7 go test -count=1 -run '^TestTraceHelper$' ./sim/simtest")
			tr, err := tracefile.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, uint64(7), tr.Header.Seed)
			assert.Equal(t, "TestTraceHelper", tr.Header.Name)
			require.Len(t, tr.Events, 2, "the send and the delivery")
			assert.Equal(t, "send", tr.Events[0].Kind)
			assert.Equal(t, "deliver", tr.Events[1].Kind)
			assert.NotEmpty(t, tr.Topology.Nodes)
		})
	}
}

func TestTracePath(t *testing.T) {
	t.Setenv(simtest.TraceDirEnv, "/x")
	assert.Equal(t, "/x/TestA_seed_3_b_c.seed-3.jsonl", simtest.TracePath("TestA/seed=3/b c", 3))
}
