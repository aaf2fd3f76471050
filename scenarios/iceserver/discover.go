package iceserver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5"
)

// Defaults of DiscoverOptions.
const (
	// DefaultDiscoverTimeout is how long Discover waits for an answer to one
	// transmission: RFC 8489's initial RTO.
	DefaultDiscoverTimeout = 500 * time.Millisecond
	// DefaultDiscoverAttempts is how many times Discover sends one request
	// (the first transmission plus retransmissions) before it concludes
	// that no answer will come.
	DefaultDiscoverAttempts = 3
)

// Errors returned by Discover, wrapped with the name of the test that failed.
var (
	// ErrNoResponse means a request got no answer after every attempt where
	// an answer was required (a silent filtering test is not an error).
	ErrNoResponse = errors.New("iceserver: no response from STUN server")
	// ErrErrorResponse means the server answered with a STUN error.
	ErrErrorResponse = errors.New("iceserver: STUN error response")
	// ErrBadResponse means the server's answer lacked a mapped address.
	ErrBadResponse = errors.New("iceserver: malformed STUN response")
	// ErrNoOtherAddress means the server does not support RFC 5780: its
	// answer had no usable OTHER-ADDRESS, so mapping and filtering behaviour
	// cannot be tested. Result.Mapped and Result.NAT are still filled in.
	ErrNoOtherAddress = errors.New("iceserver: STUN server gave no OTHER-ADDRESS (no RFC 5780 support)")
	// ErrNoLocalAddress means the Net has no usable address of the server's
	// IP family and DiscoverOptions.LocalIP was not set.
	ErrNoLocalAddress = errors.New("iceserver: no local address to test from")
)

// DiscoverOptions tunes Discover. The zero value is ready to use.
type DiscoverOptions struct {
	// LocalIP is the address the test sockets bind to. The zero value picks
	// the first address of the server's IP family on an up, non-loopback
	// interface of the Net. A concrete address is needed to tell whether a
	// NAT is present (mapped address equal to the local one means none).
	LocalIP netip.Addr

	// Timeout is how long to wait for an answer to one transmission.
	// Zero means DefaultDiscoverTimeout. The retransmission timer stays at
	// Timeout (no backoff), so a test whose answer the NAT filters away
	// costs Attempts*Timeout.
	Timeout time.Duration

	// Attempts is how many times a request is sent before giving up.
	// Zero means DefaultDiscoverAttempts.
	Attempts int

	// Clock supplies the timers for the timeouts. Nil means clock.New(),
	// the time package, which inside a synctest bubble is virtual.
	Clock clock.Clock

	// Rand, when set, draws the STUN transaction IDs, which makes the bytes
	// on the wire repeatable from a seed. Nil draws them from crypto/rand
	// (stun.NewTransactionID). Discover uses it from one goroutine only.
	Rand *rand.Rand
}

// Result is what Discover found out.
type Result struct {
	// Local is the address the mapping tests were sent from.
	Local netip.AddrPort
	// Mapped is the server-reflexive address of Local seen by the server's
	// primary address (test I).
	Mapped netip.AddrPort
	// Other is the server's alternate address (OTHER-ADDRESS).
	Other netip.AddrPort
	// NAT reports whether Mapped differs from Local, that is whether some
	// address translation happens between the client and the server.
	NAT bool
	// Mapping is the NAT's mapping behaviour (RFC 5780 section 4.3).
	// Without a NAT it is EndpointIndependent.
	Mapping Behavior
	// Filtering is the filtering behaviour of the NAT or firewall
	// (RFC 5780 section 4.4). Without a NAT it still reports what a
	// firewall on the path lets through.
	Filtering Behavior
}

// String summarises r on one line.
func (r Result) String() string {
	nat := "no NAT"
	if r.NAT {
		nat = "NAT"
	}

	return fmt.Sprintf("%s, %s -> %s, mapping %s, filtering %s", nat, r.Local, r.Mapped, r.Mapping, r.Filtering)
}

// Discover runs the behaviour discovery tests of RFC 5780 against the STUN
// server at server (which must run with an OtherAddress, like StartSTUN's)
// from the Net nw, typically a host behind a NAT.
//
// The mapping tests (section 4.3) send Binding requests from one socket to
// the server's primary address (test I), to its alternate IP on the primary
// port (test II) and to its alternate IP and port (test III), and compare
// the mapped addresses. The filtering tests (section 4.4) run from a second,
// fresh socket, so that the mapping tests' traffic to the alternate address
// opens no filter: after test I, test II asks the server to answer from its
// other IP and port, and test III from its other port only. An answer that
// does not arrive within Attempts*Timeout counts as filtered.
//
// On error the Result holds whatever was learnt before the failing test.
func Discover(ctx context.Context, nw transport.Net, server *net.UDPAddr, opts DiscoverOptions) (Result, error) {
	var res Result
	if nw == nil {
		return res, fmt.Errorf("%w: Discover needs a Net", ErrInvalidConfig)
	}
	if server == nil {
		return res, fmt.Errorf("%w: Discover needs a server address", ErrInvalidConfig)
	}
	srv := server.AddrPort()
	srv = netip.AddrPortFrom(srv.Addr().Unmap(), srv.Port())
	if !srv.Addr().IsValid() || srv.Port() == 0 {
		return res, fmt.Errorf("%w: server address %s", ErrInvalidConfig, server)
	}
	if err := opts.normalize(); err != nil {
		return res, err
	}
	local := opts.LocalIP
	if !local.IsValid() {
		var err error
		if local, err = pickLocalIP(nw, srv.Addr().Is4()); err != nil {
			return res, err
		}
	}

	// Mapping tests.
	mp, err := newProber(nw, local, &opts)
	if err != nil {
		return res, err
	}
	defer mp.close()
	res.Local = mp.local

	r1, err := mp.roundTrip(ctx, srv, nil)
	if err != nil {
		return res, fmt.Errorf("mapping test I: %w", err)
	}
	res.Mapped = r1.mapped
	res.NAT = r1.mapped != mp.local
	res.Other = r1.other
	if !r1.other.IsValid() || r1.other.Addr() == srv.Addr() || r1.other.Port() == srv.Port() {
		return res, ErrNoOtherAddress
	}
	if !res.NAT {
		res.Mapping = EndpointIndependent
	} else {
		r2, err := mp.roundTrip(ctx, netip.AddrPortFrom(r1.other.Addr(), srv.Port()), nil)
		if err != nil {
			return res, fmt.Errorf("mapping test II: %w", err)
		}
		if r2.mapped == r1.mapped {
			res.Mapping = EndpointIndependent
		} else {
			r3, err := mp.roundTrip(ctx, r1.other, nil)
			if err != nil {
				return res, fmt.Errorf("mapping test III: %w", err)
			}
			if r3.mapped == r2.mapped {
				res.Mapping = AddressDependent
			} else {
				res.Mapping = AddressAndPortDependent
			}
		}
	}
	mp.close()

	// Filtering tests, from a socket that has talked to nobody yet.
	fp, err := newProber(nw, local, &opts)
	if err != nil {
		return res, err
	}
	defer fp.close()
	if _, err := fp.roundTrip(ctx, srv, nil); err != nil {
		return res, fmt.Errorf("filtering test I: %w", err)
	}
	_, err = fp.roundTrip(ctx, srv, &ChangeRequest{ChangeIP: true, ChangePort: true})
	switch {
	case err == nil:
		res.Filtering = EndpointIndependent

		return res, nil
	case !errors.Is(err, ErrNoResponse):
		return res, fmt.Errorf("filtering test II: %w", err)
	}
	_, err = fp.roundTrip(ctx, srv, &ChangeRequest{ChangePort: true})
	switch {
	case err == nil:
		res.Filtering = AddressDependent
	case errors.Is(err, ErrNoResponse):
		res.Filtering = AddressAndPortDependent
	default:
		return res, fmt.Errorf("filtering test III: %w", err)
	}

	return res, nil
}

func (o *DiscoverOptions) normalize() error {
	switch {
	case o.Timeout < 0:
		return fmt.Errorf("%w: DiscoverOptions.Timeout %v is negative", ErrInvalidConfig, o.Timeout)
	case o.Attempts < 0:
		return fmt.Errorf("%w: DiscoverOptions.Attempts %d is negative", ErrInvalidConfig, o.Attempts)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultDiscoverTimeout
	}
	if o.Attempts == 0 {
		o.Attempts = DefaultDiscoverAttempts
	}
	if o.Clock == nil {
		o.Clock = clock.New()
	}
	o.LocalIP = o.LocalIP.Unmap()

	return nil
}

// pickLocalIP returns the first address of the wanted family on an up,
// non-loopback interface of nw.
func pickLocalIP(nw transport.Net, want4 bool) (netip.Addr, error) {
	ifaces, err := nw.Interfaces()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: %w", ErrNoLocalAddress, err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue // an interface without addresses
		}
		for _, a := range addrs {
			var ip net.IP
			switch v := a.(type) {
			case *net.IPNet:
				ip = v.IP
			case *net.IPAddr:
				ip = v.IP
			default:
				continue
			}
			addr, ok := netip.AddrFromSlice(ip)
			if !ok {
				continue
			}
			addr = addr.Unmap()
			if addr.Is4() == want4 && !addr.IsLoopback() && !addr.IsLinkLocalUnicast() {
				return addr, nil
			}
		}
	}

	return netip.Addr{}, ErrNoLocalAddress
}

// reply is the part of a Binding response Discover uses.
type reply struct {
	mapped netip.AddrPort
	other  netip.AddrPort
}

// prober is one client socket with a goroutine reading it; roundTrip
// matches answers to requests by transaction ID.
type prober struct {
	conn      net.PacketConn
	local     netip.AddrPort
	opts      *DiscoverOptions
	in        chan *stun.Message
	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

func newProber(nw transport.Net, ip netip.Addr, opts *DiscoverOptions) (*prober, error) {
	conn, err := listenUDP(nw, netip.AddrPortFrom(ip, 0))
	if err != nil {
		return nil, fmt.Errorf("iceserver: Discover listen on %s: %w", ip, err)
	}
	local, ok := addrPortOf(conn.LocalAddr())
	if !ok {
		_ = conn.Close()

		return nil, fmt.Errorf("iceserver: Discover socket has no IP address: %v", conn.LocalAddr())
	}
	p := &prober{
		conn:  conn,
		local: local,
		opts:  opts,
		in:    make(chan *stun.Message, 4),
		done:  make(chan struct{}),
	}
	p.wg.Add(1)
	go p.read()

	return p, nil
}

func (p *prober) read() {
	defer p.wg.Done()
	buf := make([]byte, maxSTUNDatagram)
	for {
		n, _, err := p.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, io.ErrShortBuffer) {
				continue // not an answer to anything we sent
			}

			return
		}
		if !stun.IsMessage(buf[:n]) {
			continue
		}
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if m.Decode() != nil {
			continue
		}
		select {
		case p.in <- m:
		case <-p.done:
			return
		}
	}
}

// close closes the socket and waits for the reader to return.
func (p *prober) close() {
	p.closeOnce.Do(func() {
		close(p.done)
		_ = p.conn.Close()
		p.wg.Wait()
	})
}

func (p *prober) transactionID() [stun.TransactionIDSize]byte {
	if p.opts.Rand == nil {
		return stun.NewTransactionID()
	}
	var id [stun.TransactionIDSize]byte
	binary.BigEndian.PutUint64(id[:8], p.opts.Rand.Uint64())
	binary.BigEndian.PutUint32(id[8:], p.opts.Rand.Uint32())

	return id
}

// roundTrip sends a Binding request to to, retransmitting every Timeout up
// to Attempts times, and decodes the answer.
func (p *prober) roundTrip(ctx context.Context, to netip.AddrPort, change *ChangeRequest) (reply, error) {
	setters := []stun.Setter{stun.BindingRequest, stun.NewTransactionIDSetter(p.transactionID())}
	if change != nil {
		setters = append(setters, *change)
	}
	setters = append(setters, stun.Fingerprint)
	req, err := stun.Build(setters...)
	if err != nil {
		return reply{}, err
	}
	dst := net.UDPAddrFromAddrPort(to)

	for range p.opts.Attempts {
		if _, err := p.conn.WriteTo(req.Raw, dst); err != nil {
			return reply{}, fmt.Errorf("send to %s: %w", to, err)
		}
		if m, err := p.await(ctx, req.TransactionID); err != nil {
			return reply{}, err
		} else if m != nil {
			return parseReply(m)
		}
	}

	return reply{}, fmt.Errorf("%w: %s after %d attempts of %v", ErrNoResponse, to, p.opts.Attempts, p.opts.Timeout)
}

// await waits one Timeout for the answer to id. It returns (nil, nil) on
// timeout.
func (p *prober) await(ctx context.Context, id [stun.TransactionIDSize]byte) (*stun.Message, error) {
	timer := p.opts.Clock.Timer(p.opts.Timeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return nil, nil
		case m := <-p.in:
			if m.TransactionID == id {
				return m, nil
			}
			// A late answer to an earlier test: ignore it.
		}
	}
}

func parseReply(m *stun.Message) (reply, error) {
	if m.Type.Class == stun.ClassErrorResponse {
		var code stun.ErrorCodeAttribute
		if code.GetFrom(m) == nil {
			return reply{}, fmt.Errorf("%w: %d %s", ErrErrorResponse, code.Code, code.Reason)
		}

		return reply{}, ErrErrorResponse
	}
	if m.Type != stun.BindingSuccess {
		return reply{}, fmt.Errorf("%w: unexpected message type %s", ErrBadResponse, m.Type)
	}
	var r reply
	var xor stun.XORMappedAddress
	if err := xor.GetFrom(m); err == nil {
		r.mapped = toAddrPort(xor.IP, xor.Port)
	} else {
		var mapped stun.MappedAddress
		if err := mapped.GetFrom(m); err != nil {
			return reply{}, fmt.Errorf("%w: no (XOR-)MAPPED-ADDRESS", ErrBadResponse)
		}
		r.mapped = toAddrPort(mapped.IP, mapped.Port)
	}
	if !r.mapped.IsValid() {
		return reply{}, fmt.Errorf("%w: bad mapped address", ErrBadResponse)
	}
	var other stun.OtherAddress
	if err := other.GetFrom(m); err == nil {
		r.other = toAddrPort(other.IP, other.Port)
	}

	return r, nil
}

func toAddrPort(ip net.IP, port int) netip.AddrPort {
	a, ok := netip.AddrFromSlice(ip)
	if !ok || port <= 0 || port > 65535 {
		return netip.AddrPort{}
	}

	return netip.AddrPortFrom(a.Unmap(), uint16(port))
}
