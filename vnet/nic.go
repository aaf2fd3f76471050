package vnet

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/vnetsim/vnetsim/impair"
)

// NIC is what Router.AddNet attaches (pion's vnet.NIC): a *Net, or one of
// pion's filters wrapping a NIC (NewDelayFilter, NewLossFilter, NewQueue).
// Those filters act on the traffic that reaches the Net from its router,
// as pion's do, and vnetsim builds them on the Net's downlink model
// (Net.Downlink, an impair.Config): so their randomness comes from the
// world's seed, their delays are virtual time, and they start no goroutine.
// A filter's setter changes the downlink at the next nanosecond of virtual
// time. The filters own the downlink's model: Downlink().Set replaces it
// until the next change of a filter.
type NIC interface {
	// base is the Net at the bottom of the chain.
	base() *Net
	// shape adds the NIC's impairments to the downlink model cfg of the
	// Net, whose world is w (handler context or before the tree runs).
	shape(cfg *impair.Config, w *world)
}

func (n *Net) base() *Net                   { return n }
func (n *Net) shape(*impair.Config, *world) {}

// addNIC attaches nic's Net and gives its downlink the model of the
// filters around it.
func (r *Router) addNIC(nic NIC) error {
	if nic == nil {
		return topoErr("router %q: AddNet(nil)", r.name)
	}
	n := nic.base()
	if n == nil {
		return topoErr("router %q: AddNet: the filter wraps no Net", r.name)
	}
	if err := r.addNet(n); err != nil {
		return err
	}
	n.nic = nic
	if nic == NIC(n) {
		return nil
	}
	return n.down.set(n.downModel())
}

// downModel is the downlink's model: the router's egress delay, then the
// filters, innermost first.
func (n *Net) downModel() impair.Config {
	cfg := n.router.egress
	n.nic.shape(&cfg, n.w)
	return cfg
}

// reshape applies a filter's change to an attached Net's downlink.
func (n *Net) reshape() {
	if n.router == nil || n.nic == nil {
		return // applied when the Net is attached
	}
	_ = n.down.Set(n.downModel()) // the filters' setters validate their values
}

// ErrInvalidDelay is returned for a negative delay (pion's name).
var ErrInvalidDelay = errors.New("vnet: delay must be non-negative")

// DelayFilterOption configures a DelayFilter.
type DelayFilterOption func(*DelayFilter) error

// WithDelay sets the delay of a DelayFilter.
func WithDelay(delay time.Duration) DelayFilterOption {
	return func(f *DelayFilter) error {
		if delay < 0 {
			return ErrInvalidDelay
		}
		f.delay = delay
		return nil
	}
}

// DelayFilter delays every packet that reaches the NIC it wraps by a fixed
// time (pion's DelayFilter): the Net's downlink model gets that much Delay
// on top of the rest. Order is kept.
type DelayFilter struct {
	NIC
	mu    sync.Mutex
	delay time.Duration
}

// NewDelayFilter wraps nic; attach the filter with Router.AddNet.
func NewDelayFilter(nic NIC, opts ...DelayFilterOption) (*DelayFilter, error) {
	if nic == nil {
		return nil, configErr("NewDelayFilter: nil NIC")
	}
	f := &DelayFilter{NIC: nic}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(f); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// SetDelay changes the delay (from the next nanosecond of virtual time).
// A negative delay counts as zero.
func (f *DelayFilter) SetDelay(d time.Duration) {
	f.mu.Lock()
	f.delay = max(d, 0)
	f.mu.Unlock()
	f.base().reshape()
}

// Run does nothing: the delay is a link model, with no goroutine to run
// (pion's filter starts its own since v5.1).
func (f *DelayFilter) Run(context.Context) {}

// Close does nothing (there is no goroutine to stop); packets already
// delayed arrive.
func (f *DelayFilter) Close() error { return nil }

func (f *DelayFilter) base() *Net { return f.NIC.base() }

func (f *DelayFilter) shape(cfg *impair.Config, w *world) {
	f.NIC.shape(cfg, w)
	f.mu.Lock()
	cfg.Delay += f.delay
	f.mu.Unlock()
}

// Errors of NewLossFilter's arguments (pion's names).
var (
	ErrInvalidChance           = errors.New("vnet: chance must be between 0 and 100 inclusive")
	ErrInvalidShuffleBlockSize = errors.New("vnet: shuffleBlockSize must be greater than 0")
)

// LossFilterOption configures a LossFilter.
type LossFilterOption func(*LossFilter) error

// WithShuffleLossHandler drops exactly round(chance·blockSize/100) packets
// of every blockSize, at random places in the block, instead of each
// packet independently with probability chance/100.
func WithShuffleLossHandler(blockSize int) LossFilterOption {
	return func(f *LossFilter) error {
		if blockSize < 1 {
			return ErrInvalidShuffleBlockSize
		}
		f.block = blockSize
		return nil
	}
}

// LossFilterHandler decides which packets a LossFilter drops (pion's
// name). Its methods are unexported, as in pion: the handlers are the
// filters' own, and WithLossHandler passes one filter's handler to
// another (LossFilter.Handler).
type LossFilterHandler interface {
	shouldDrop() bool
	setLossRate(chance int, resetImmediately bool)
}

// WithLossHandler makes the filter drop what handler decides, sharing its
// state with the filter it came from. It takes precedence over
// WithShuffleLossHandler, as in pion.
func WithLossHandler(handler LossFilterHandler) LossFilterOption {
	return func(f *LossFilter) error {
		if handler == nil {
			return configErr("WithLossHandler: nil handler")
		}
		f.handler = handler
		return nil
	}
}

// WithLossSeed is accepted for pion compatibility and ignored: the loss
// draws from the world's random stream of the Net's downlink, fixed by the
// scheduler's seed, so runs repeat without it.
func WithLossSeed(int64) LossFilterOption { return func(*LossFilter) error { return nil } }

// LossFilter drops a share of the packets that reach the NIC it wraps
// (pion's LossFilter): the Net's downlink model gets the loss (Bernoulli,
// counted as ReasonLoss; or the shuffled blocks, counted as ReasonRule).
type LossFilter struct {
	NIC
	mu      sync.Mutex
	chance  int // percent
	block   int // > 0: shuffle mode
	shuffle *shuffleLoss
	handler LossFilterHandler // WithLossHandler's, else nil
}

// Handler returns the filter's loss handler, for WithLossHandler: the
// given handler, or the shuffled-block state in shuffle mode; nil in
// Bernoulli mode, which is the link model's loss and has no handler.
func (f *LossFilter) Handler() LossFilterHandler {
	if f.handler != nil {
		return f.handler
	}
	if f.shuffle != nil {
		return f.shuffle
	}
	return nil
}

// NewLossFilter wraps nic, dropping chance percent of its inbound packets.
func NewLossFilter(nic NIC, chance int, opts ...LossFilterOption) (*LossFilter, error) {
	if nic == nil {
		return nil, configErr("NewLossFilter: nil NIC")
	}
	if chance < 0 || chance > 100 {
		return nil, ErrInvalidChance
	}
	f := &LossFilter{NIC: nic, chance: chance}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(f); err != nil {
			return nil, err
		}
	}
	switch {
	case f.handler != nil:
		f.handler.setLossRate(chance, false)
	case f.block > 0:
		f.shuffle = &shuffleLoss{size: f.block, drops: shuffleDrops(chance, f.block)}
	}
	return f, nil
}

// SetLossRate changes the loss to chance percent. In shuffle mode the new
// rate starts with the next block unless resetImmediately, which starts a
// new block now; Bernoulli loss changes at the next nanosecond either way.
func (f *LossFilter) SetLossRate(chance int, resetImmediately bool) error {
	if chance < 0 || chance > 100 {
		return ErrInvalidChance
	}
	f.mu.Lock()
	f.chance = chance
	f.mu.Unlock()
	if h := f.Handler(); h != nil {
		h.setLossRate(chance, resetImmediately)
		return nil
	}
	f.base().reshape()
	return nil
}

func (f *LossFilter) base() *Net { return f.NIC.base() }

func (f *LossFilter) shape(cfg *impair.Config, w *world) {
	f.NIC.shape(cfg, w)
	if h := f.Handler(); h != nil {
		if sh, ok := h.(*shuffleLoss); ok {
			sh.attach(w, f.base()) // its random stream, at the first filter attached
		}
		cfg.Rules = append(cfg.Rules, func(time.Time, *impair.Packet) impair.Action {
			if h.shouldDrop() {
				return impair.Drop
			}
			return impair.Pass
		})
		return
	}
	f.mu.Lock()
	p := float64(f.chance) / 100
	f.mu.Unlock()
	cfg.Loss = 1 - (1-cfg.Loss)*(1-p) // stacked filters: independent losses
}

// shuffleDrops is how many packets of a block of size are dropped.
func shuffleDrops(chance, size int) int {
	return int(math.Round(float64(chance) * float64(size) / 100))
}

// shuffleLoss is the shuffle mode's state, kept by the rule on the
// scheduler's goroutine; set may come from any goroutine.
type shuffleLoss struct {
	mu      sync.Mutex
	size    int
	drops   int // for the next block
	rng     *rand.Rand
	pattern []bool // the current block: true drops
	i       int
}

func (s *shuffleLoss) attach(w *world, n *Net) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rng == nil {
		s.rng = w.sched.Rand("shuffle-loss " + n.name)
	}
}

func (s *shuffleLoss) setLossRate(chance int, now bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drops = shuffleDrops(chance, s.size)
	if now {
		s.pattern = nil
	}
}

// shouldDrop runs on the scheduler's goroutine, as a rule of the downlink.
func (s *shuffleLoss) shouldDrop() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pattern == nil || s.i == len(s.pattern) {
		s.pattern = make([]bool, s.size)
		for i := range s.drops {
			s.pattern[i] = true
		}
		s.rng.Shuffle(len(s.pattern), func(i, j int) { s.pattern[i], s.pattern[j] = s.pattern[j], s.pattern[i] })
		s.i = 0
	}
	drop := s.pattern[s.i]
	s.i++
	return drop
}

// TBFQueue is a token bucket (pion's TBFQueue): rate in bits per second,
// burst and queue size in bytes. Wrap a NIC with it through NewQueue. The
// Net's downlink model gets Rate, Burst and QueueBytes (impair's token
// bucket); bytes are IP bytes, where pion counts payload bytes.
type TBFQueue struct {
	mu    sync.Mutex
	rate  int
	burst int
	size  int64
	q     *Queue // the Queue using it, for its setters
}

// NewTBFQueue returns a token bucket of rate r bit/s, burst b bytes and
// queue size s bytes.
func NewTBFQueue(r int, b int, s int64) *TBFQueue {
	return &TBFQueue{rate: r, burst: b, size: s}
}

// SetRate changes the rate to r bit/s.
func (t *TBFQueue) SetRate(r int) { t.update(func() { t.rate = r }) }

// SetBurst changes the burst to b bytes.
func (t *TBFQueue) SetBurst(b int) { t.update(func() { t.burst = b }) }

// SetSize changes the queue size to s bytes.
func (t *TBFQueue) SetSize(s int64) { t.update(func() { t.size = s }) }

func (t *TBFQueue) update(fn func()) {
	t.mu.Lock()
	fn()
	q := t.q
	t.mu.Unlock()
	if q != nil {
		q.base().reshape()
	}
}

func (t *TBFQueue) shape(cfg *impair.Config) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rate <= 0 {
		return // no limit
	}
	cfg.Rate = int64(t.rate)
	cfg.Burst = max(t.burst, 0)
	cfg.QueueBytes = int(min(max(t.size, 0), math.MaxInt32))
}

// Discipline is a queueing discipline for NewQueue; *TBFQueue is the one
// there is.
type Discipline interface {
	shapeQueue(cfg *impair.Config)
	bind(q *Queue)
}

func (t *TBFQueue) shapeQueue(cfg *impair.Config) { t.shape(cfg) }
func (t *TBFQueue) bind(q *Queue) {
	t.mu.Lock()
	t.q = q
	t.mu.Unlock()
}

// Queue shapes the packets that reach the NIC it wraps with a queueing
// discipline (pion's Queue).
type Queue struct {
	NIC
	d Discipline
}

// NewQueue wraps n with discipline d.
func NewQueue(n NIC, d Discipline) (*Queue, error) {
	if n == nil || d == nil {
		return nil, configErr("NewQueue: nil NIC or Discipline")
	}
	q := &Queue{NIC: n, d: d}
	d.bind(q)
	return q, nil
}

// Close does nothing (no goroutine); queued packets are delivered.
func (q *Queue) Close() error { return nil }

func (q *Queue) base() *Net { return q.NIC.base() }

func (q *Queue) shape(cfg *impair.Config, w *world) {
	q.NIC.shape(cfg, w)
	q.d.shapeQueue(cfg)
}
