package harness

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/vnet"
)

// A pion-style test: subtests, a root and a child router built without a
// scheduler, the root started and stopped by the test, a 30-second wait.
func pionStyleTest(ran *[]string) func(t *testing.T) {
	return func(t *testing.T) {
		start := time.Now()
		t.Run("routers", func(t *testing.T) {
			wan, err := vnet.NewRouter(RouterConfig(&vnet.RouterConfig{CIDR: "1.2.3.0/24"}))
			require.NoError(t, err)
			lan, err := vnet.NewRouter(RouterConfig(&vnet.RouterConfig{CIDR: "10.0.0.0/24"}))
			require.NoError(t, err)
			assert.Same(t, wan.Scheduler(), lan.Scheduler(), "every router of the bubble shares its scheduler")
			require.NoError(t, wan.AddRouter(lan))
			require.NoError(t, wan.Start())
			require.NoError(t, wan.Stop())
			*ran = append(*ran, t.Name())
		})
		t.Run("sleep", func(t *testing.T) {
			time.Sleep(30 * time.Second)
			*ran = append(*ran, t.Name())
		})
		// The routers' control events take a nanosecond each.
		elapsed := time.Since(start)
		assert.GreaterOrEqual(t, elapsed, 30*time.Second)
		assert.Less(t, elapsed, 30*time.Second+time.Millisecond, "the bubble's clock moved by the sleep")
	}
}

func TestBubbleRunsSubtests(t *testing.T) {
	var ran []string
	Bubble(t, pionStyleTest(&ran))
	assert.Equal(t, []string{t.Name() + "/routers", t.Name() + "/sleep"}, ran)
}

func TestRouterConfigOutsideBubble(t *testing.T) {
	cfg := &vnet.RouterConfig{CIDR: "1.2.3.0/24"}
	assert.Same(t, cfg, RouterConfig(cfg), "outside a bubble the config is the caller's")
	assert.Nil(t, RouterConfig(nil))
}

// leaked mimics pion's transport/test.CheckRoutines filter on one snapshot.
// pion's checker retries for seconds, so an earlier test's goroutine that is
// still returning from testing.tRunner (its deferred epilogue, outside any
// bubble) never fails it; a single snapshot skips that goroutine instead.
func leaked() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, s := range strings.Split(string(buf), "\n\n") {
		if s == "" || strings.Contains(s, "testing.Main(") || strings.Contains(s, "testing.(*T).Run(") ||
			strings.Contains(s, "harness.leaked(") || finishedTest(s) || Ignore(s) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// finishedTest reports whether a stack is a test goroutine, outside any
// bubble, that is running testing.tRunner's epilogue after its test ended.
func finishedTest(stack string) bool {
	header, _, _ := strings.Cut(stack, "\n")
	return !strings.Contains(header, "synctest bubble") && strings.Contains(stack, "testing.tRunner.func1(") &&
		strings.Contains(stack, "created by testing.(*T).Run in goroutine")
}

func TestFinishedTestFilter(t *testing.T) {
	epilogue := "goroutine 6 [runnable]:\ntesting.tRunner.func1()\n\t/usr/local/go/src/testing/testing.go:2027 +0x94f\n" +
		"testing.tRunner(0xc00002b448, 0xa0abf0)\n\t/usr/local/go/src/testing/testing.go:2042 +0x256\n" +
		"created by testing.(*T).Run in goroutine 1\n\t/usr/local/go/src/testing/testing.go:2101 +0xb13"
	assert.True(t, finishedTest(epilogue), "the CI failure's stack: an earlier test returning")
	inBubble := strings.Replace(epilogue, "[runnable]", "[runnable, synctest bubble 1]", 1)
	assert.False(t, finishedTest(inBubble), "a subtest inside the bubble is the test's own")
	assert.False(t, finishedTest("goroutine 9 [chan receive]:\nmain.leak()\ncreated by main.start in goroutine 1"))
}

func TestIgnoreHidesOnlyTheHarness(t *testing.T) {
	Bubble(t, func(t *testing.T) {
		wan, err := vnet.NewRouter(RouterConfig(&vnet.RouterConfig{CIDR: "1.2.3.0/24"}))
		require.NoError(t, err)
		require.NoError(t, wan.Start())
		assert.Empty(t, leaked(), "the synctest.Test goroutine and the bubble's scheduler are the harness's")

		stop := make(chan struct{})
		go func() { <-stop }()
		runtime.Gosched()
		assert.Len(t, leaked(), 1, "a goroutine the test started is not hidden")
		close(stop)
		require.NoError(t, wan.Stop())
	})
	assert.False(t, Ignore("goroutine 7 [select]:\ngithub.com/vnetsim/vnetsim/sim.(*Scheduler).loop(0x1)\ncreated by github.com/vnetsim/vnetsim/sim.(*Scheduler).Start in goroutine 6\n"),
		"outside a bubble a scheduler's loop is not the harness's")
}
