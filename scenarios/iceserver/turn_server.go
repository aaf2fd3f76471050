package iceserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v5"
	"github.com/pion/turn/v5"
)

// DefaultRealm is the TURN realm used when TURNConfig.Realm is empty.
const DefaultRealm = "vnetsim"

// TURNConfig configures StartTURN.
type TURNConfig struct {
	// Net is the network the listening socket and every relay socket are
	// opened on. Required.
	Net transport.Net

	// Address is where the server listens for UDP. The IP must be one the
	// Net owns and not unspecified: relay sockets are bound to it too.
	// Port 0 means DefaultSTUNPort (3478).
	Address netip.AddrPort

	// RelayIP is the IP reported to clients in XOR-RELAYED-ADDRESS. The zero
	// value means Address's IP; set it when the server sits behind a 1:1
	// NAT and its relays are reachable at a public IP it does not own.
	RelayIP netip.Addr

	// Realm is the long-term credential realm. Empty means DefaultRealm.
	Realm string

	// Users maps user names to passwords (long-term credentials, RFC 8489
	// section 9.2). At least one user is required; keys are derived once
	// with turn.GenerateAuthKey.
	Users map[string]string

	// AllocationLifetime is the lifetime granted to an allocation whose
	// request names none (clients may ask for up to an hour). Zero means
	// pion/turn's default of 10 minutes. LIFETIME travels in whole
	// seconds, so keep it at 1s or more: pion's client refreshes at half
	// the granted lifetime and cannot run on a zero one.
	AllocationLifetime time.Duration

	// PermissionTimeout is the lifetime of a permission. Zero means
	// pion/turn's default (5 minutes).
	PermissionTimeout time.Duration

	// ChannelBindTimeout is the lifetime of a channel binding. Zero means
	// pion/turn's default (10 minutes).
	ChannelBindTimeout time.Duration

	// EventHandler receives pion/turn's allocation lifecycle callbacks
	// (created, deleted, permissions, channels, authentication verdicts).
	// The zero value reports nothing.
	EventHandler turn.EventHandler

	// LoggerFactory is handed to pion/turn. Nil means pion's default
	// (errors only, to stderr).
	LoggerFactory logging.LoggerFactory
}

// TURNServer is a running pion/turn server on a transport.Net.
type TURNServer struct {
	server   *turn.Server
	addr     netip.AddrPort
	relayIP  netip.Addr
	realm    string
	listener *trackedConn
	relays   *trackingRelays

	// live counts allocations created and not yet deleted, from pion's
	// event callbacks, so that Close can wait until every allocation is
	// gone (deletion is the last act of an allocation's goroutine).
	liveMu sync.Mutex
	liveCh *sync.Cond
	live   int

	closeOnce sync.Once
	closeErr  error
}

// StartTURN starts a UDP TURN server listening on cfg.Address of cfg.Net,
// allocating its relay sockets on the same Net and IP. Binding requests
// are answered too, so the address also serves as a plain STUN server.
func StartTURN(cfg TURNConfig) (*TURNServer, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	keys := make(map[string][]byte, len(cfg.Users))
	for user, pass := range cfg.Users {
		keys[user] = turn.GenerateAuthKey(user, cfg.Realm, pass)
	}

	conn, err := listenUDP(cfg.Net, cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("iceserver: TURN listen on %s: %w", cfg.Address, err)
	}
	listener := newTrackedConn(conn, nil)
	relays := &trackingRelays{
		static: turn.RelayAddressGeneratorStatic{
			RelayAddress: cfg.RelayIP.AsSlice(),
			Address:      cfg.Address.Addr().String(),
			Net:          cfg.Net,
		},
		live: map[*trackedConn]struct{}{},
	}
	realm := cfg.Realm
	s := &TURNServer{
		addr:     cfg.Address,
		relayIP:  cfg.RelayIP,
		realm:    realm,
		listener: listener,
		relays:   relays,
	}
	s.liveCh = sync.NewCond(&s.liveMu)
	server, err := turn.NewServer(turn.ServerConfig{
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: listener, RelayAddressGenerator: relays}},
		LoggerFactory:     cfg.LoggerFactory,
		Realm:             realm,
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			if ra.Realm != realm {
				return "", nil, false
			}
			key, ok := keys[ra.Username]

			return ra.Username, key, ok
		},
		EventHandler:       s.countAllocations(cfg.EventHandler),
		AllocationLifetime: cfg.AllocationLifetime,
		PermissionTimeout:  cfg.PermissionTimeout,
		ChannelBindTimeout: cfg.ChannelBindTimeout,
	})
	if err != nil {
		_ = conn.Close()

		return nil, fmt.Errorf("iceserver: TURN server: %w", err)
	}

	s.server = server

	return s, nil
}

// countAllocations wraps the user's handler to keep s.live.
func (s *TURNServer) countAllocations(h turn.EventHandler) turn.EventHandler {
	created, deleted := h.OnAllocationCreated, h.OnAllocationDeleted
	h.OnAllocationCreated = func(src, dst net.Addr, proto, user, realm string, relay net.Addr, port int) {
		s.addLive(1)
		if created != nil {
			created(src, dst, proto, user, realm, relay, port)
		}
	}
	h.OnAllocationDeleted = func(src, dst net.Addr, proto, user, realm string) {
		if deleted != nil {
			deleted(src, dst, proto, user, realm)
		}
		s.addLive(-1)
	}

	return h
}

func (s *TURNServer) addLive(d int) {
	s.liveMu.Lock()
	s.live += d
	if s.live == 0 {
		s.liveCh.Broadcast()
	}
	s.liveMu.Unlock()
}

func (c *TURNConfig) normalize() error {
	if c.Net == nil {
		return fmt.Errorf("%w: TURNConfig.Net is nil", ErrInvalidConfig)
	}

	return c.normalizeFields()
}

// normalizeFields checks and completes everything but Net.
func (c *TURNConfig) normalizeFields() error {
	ip := c.Address.Addr().Unmap()
	if !ip.IsValid() || ip.IsUnspecified() {
		return fmt.Errorf("%w: TURNConfig.Address %q needs a concrete IP", ErrInvalidConfig, c.Address)
	}
	port := c.Address.Port()
	if port == 0 {
		port = DefaultSTUNPort
	}
	c.Address = netip.AddrPortFrom(ip, port)
	c.RelayIP = c.RelayIP.Unmap()
	if !c.RelayIP.IsValid() {
		c.RelayIP = ip
	}
	if c.RelayIP.IsUnspecified() {
		return fmt.Errorf("%w: TURNConfig.RelayIP %s is unspecified", ErrInvalidConfig, c.RelayIP)
	}
	if c.Realm == "" {
		c.Realm = DefaultRealm
	}
	if len(c.Users) == 0 {
		return fmt.Errorf("%w: TURNConfig.Users is empty, every request would be refused", ErrInvalidConfig)
	}
	if _, ok := c.Users[""]; ok {
		return fmt.Errorf("%w: TURNConfig.Users has an empty user name", ErrInvalidConfig)
	}
	for name, d := range map[string]time.Duration{
		"AllocationLifetime": c.AllocationLifetime,
		"PermissionTimeout":  c.PermissionTimeout,
		"ChannelBindTimeout": c.ChannelBindTimeout,
	} {
		if d < 0 {
			return fmt.Errorf("%w: TURNConfig.%s %v is negative", ErrInvalidConfig, name, d)
		}
		if d > 0 && d < time.Second {
			return fmt.Errorf("%w: TURNConfig.%s %v is under the 1s granularity of TURN lifetimes", ErrInvalidConfig, name, d)
		}
	}

	return nil
}

// Addr returns the address the server listens on.
func (s *TURNServer) Addr() netip.AddrPort { return s.addr }

// RelayIP returns the IP reported in relayed addresses.
func (s *TURNServer) RelayIP() netip.Addr { return s.relayIP }

// Realm returns the credential realm.
func (s *TURNServer) Realm() string { return s.realm }

// AllocationCount returns the number of live allocations.
func (s *TURNServer) AllocationCount() int { return s.server.AllocationCount() }

// Close stops the server: it closes the listening socket and every relay
// socket, and returns once pion/turn's reader of each has seen it closed and
// every allocation has been deleted (AllocationCount is then 0). What is
// left of pion/turn's goroutines at that point is a few non-blocking lines
// before they return. Closing twice is harmless.
func (s *TURNServer) Close() error {
	s.closeOnce.Do(func() {
		err := s.server.Close()
		// pion/turn's read loop creates every allocation; once it has seen
		// the listener closed, no relay can be added.
		<-s.listener.exited
		s.relays.closeAll()
		s.liveMu.Lock()
		for s.live > 0 {
			s.liveCh.Wait()
		}
		s.liveMu.Unlock()
		s.closeErr = err
	})

	return s.closeErr
}

// trackedConn wraps a PacketConn and reports when a ReadFrom has failed,
// which is when pion/turn's goroutine reading it returns. Close is
// idempotent so that pion/turn and Close may both close it.
type trackedConn struct {
	net.PacketConn
	exited    chan struct{}
	exitOnce  sync.Once
	onExit    func(*trackedConn)
	closeOnce sync.Once
	closeErr  error
}

func newTrackedConn(c net.PacketConn, onExit func(*trackedConn)) *trackedConn {
	return &trackedConn{PacketConn: c, exited: make(chan struct{}), onExit: onExit}
}

func (c *trackedConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	if err != nil {
		// Both pion/turn loops return on any read error.
		c.exitOnce.Do(func() {
			if c.onExit != nil {
				c.onExit(c)
			}
			close(c.exited)
		})
	}

	return n, addr, err
}

func (c *trackedConn) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.PacketConn.Close() })

	return c.closeErr
}

// trackingRelays is the relay address generator: pion's static generator on
// the configured Net, with each relay socket tracked until its reader exits.
type trackingRelays struct {
	static turn.RelayAddressGeneratorStatic
	mu     sync.Mutex
	live   map[*trackedConn]struct{}
}

func (r *trackingRelays) Validate() error { return r.static.Validate() }

func (r *trackingRelays) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	conn, addr, err := r.static.AllocatePacketConn(conf)
	if err != nil {
		return nil, nil, err
	}
	tc := newTrackedConn(conn, r.forget)
	r.mu.Lock()
	r.live[tc] = struct{}{}
	r.mu.Unlock()

	return tc, addr, nil
}

// AllocateListener refuses: this server offers UDP relays only.
func (r *trackingRelays) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errNoTCPRelay
}

// AllocateConn refuses: this server offers UDP relays only.
func (r *trackingRelays) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, errNoTCPRelay
}

var errNoTCPRelay = errors.New("iceserver: TCP relays are not offered")

func (r *trackingRelays) forget(c *trackedConn) {
	r.mu.Lock()
	delete(r.live, c)
	r.mu.Unlock()
}

// closeAll closes every live relay socket and waits until each reader has
// seen it closed.
func (r *trackingRelays) closeAll() {
	r.mu.Lock()
	conns := make([]*trackedConn, 0, len(r.live))
	for c := range r.live {
		conns = append(conns, c)
	}
	r.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	for _, c := range conns {
		<-c.exited
	}
}
