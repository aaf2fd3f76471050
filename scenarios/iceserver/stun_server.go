package iceserver

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5"
)

// DefaultSTUNPort is the STUN/TURN port of RFC 8489, used when a config leaves
// the port of its primary address zero.
const DefaultSTUNPort = 3478

// maxSTUNDatagram bounds the datagrams the STUN server reads. Binding
// requests are tiny; anything longer is not a request this server can answer
// and is dropped as truncated. The server reads into a buffer one byte
// longer, because Nets report truncation differently: pion's vnet returns
// io.ErrShortBuffer, while real UDP sockets on Linux and vnetsim's vnet
// silently cut the datagram to the buffer.
const maxSTUNDatagram = 1500

// ErrInvalidConfig wraps every configuration problem found by StartSTUN,
// StartTURN, Host and Discover; the wrapping message names the field.
var ErrInvalidConfig = errors.New("iceserver: invalid config")

// STUNConfig configures StartSTUN.
type STUNConfig struct {
	// Net is the network the server's sockets are opened on. Required.
	Net transport.Net

	// Address is the primary transport address (IP1:P1). The IP must be one
	// the Net owns and must not be unspecified, because it is reported back
	// in RESPONSE-ORIGIN. Port 0 means DefaultSTUNPort.
	Address netip.AddrPort

	// OtherAddress is the alternate transport address (IP2:P2) that turns on
	// RFC 5780 behaviour discovery: the server then listens on all four
	// combinations IP1:P1, IP1:P2, IP2:P1 and IP2:P2, includes OTHER-ADDRESS
	// in its responses and honours CHANGE-REQUEST. Both the IP and the port
	// must differ from Address's. Port 0 means Address's port plus one.
	// The zero value leaves RFC 5780 off: one socket, and requests carrying
	// CHANGE-REQUEST get a 420 (Unknown Attribute) error as RFC 5780
	// section 6.1 prescribes.
	OtherAddress netip.AddrPort

	// Software, when not empty, is sent in a SOFTWARE attribute of every
	// response.
	Software string
}

// STUNStats counts what the server did with each datagram it read. Every
// datagram lands in exactly one outcome, so nothing is lost without a
// reason: once the server is idle, Received equals the sum of Responses,
// ErrorResponses, the Dropped fields and WriteErrors.
type STUNStats struct {
	// Received counts datagrams read from any socket.
	Received uint64
	// Responses counts Binding success responses sent.
	Responses uint64
	// ErrorResponses counts error responses sent (400 Bad Request for a
	// malformed CHANGE-REQUEST or a request for a method other than
	// Binding, 420 Unknown Attribute for unknown comprehension-required
	// attributes).
	ErrorResponses uint64
	// DroppedNotSTUN counts datagrams that are not STUN messages at all.
	DroppedNotSTUN uint64
	// DroppedMalformed counts STUN messages that failed to decode, and
	// datagrams whose sender the Net reported without an IP address.
	DroppedMalformed uint64
	// DroppedNotRequest counts indications and responses, which a server
	// never answers (a Binding indication is a keepalive).
	DroppedNotRequest uint64
	// DroppedTruncated counts datagrams longer than the read buffer.
	DroppedTruncated uint64
	// WriteErrors counts responses the Net refused to send.
	WriteErrors uint64
	// ReadErrors counts sockets that stopped reading on an unexpected
	// error before Close (each such socket stops serving).
	ReadErrors uint64
}

// STUNServer is a running STUN server. Its methods are safe for concurrent
// use.
type STUNServer struct {
	cfg      STUNConfig
	rfc5780  bool
	socks    [2][2]*stunSocket // [ip index][port index]; only [0][0] without RFC 5780
	software stun.Software

	closing   atomic.Bool
	closeOnce sync.Once
	wg        sync.WaitGroup

	stats struct {
		received, responses, errorResponses                 atomic.Uint64
		notSTUN, malformed, notRequest, truncated, writeErr atomic.Uint64
		readErr                                             atomic.Uint64
	}
}

// stunSocket is one listening socket with the addresses the server reports
// for it, precomputed so that answering allocates nothing.
type stunSocket struct {
	conn   net.PacketConn
	addr   netip.AddrPort
	ip     net.IP // addr's IP as a slice, for RESPONSE-ORIGIN and OTHER-ADDRESS
	ipIdx  int
	prtIdx int
}

// StartSTUN opens the server's sockets on cfg.Net and starts one reading
// goroutine per socket. Close stops them.
func StartSTUN(cfg STUNConfig) (*STUNServer, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	s := &STUNServer{cfg: cfg, rfc5780: cfg.OtherAddress.IsValid()}
	if cfg.Software != "" {
		s.software = stun.NewSoftware(cfg.Software)
	}

	ips := [2]netip.Addr{cfg.Address.Addr(), cfg.OtherAddress.Addr()}
	ports := [2]uint16{cfg.Address.Port(), cfg.OtherAddress.Port()}
	n := 1
	if s.rfc5780 {
		n = 2
	}
	for i := range n {
		for p := range n {
			addr := netip.AddrPortFrom(ips[i], ports[p])
			conn, err := listenUDP(cfg.Net, addr)
			if err != nil {
				s.closeSockets()

				return nil, fmt.Errorf("iceserver: STUN listen on %s: %w", addr, err)
			}
			s.socks[i][p] = &stunSocket{conn: conn, addr: addr, ip: addr.Addr().AsSlice(), ipIdx: i, prtIdx: p}
		}
	}
	for i := range n {
		for p := range n {
			s.wg.Add(1)
			go s.serve(s.socks[i][p])
		}
	}

	return s, nil
}

func (c *STUNConfig) normalize() error {
	if c.Net == nil {
		return fmt.Errorf("%w: STUNConfig.Net is nil", ErrInvalidConfig)
	}

	return c.normalizeAddrs()
}

// normalizeAddrs checks and completes the addresses (everything but Net).
func (c *STUNConfig) normalizeAddrs() error {
	if !c.Address.Addr().IsValid() || c.Address.Addr().IsUnspecified() {
		return fmt.Errorf("%w: STUNConfig.Address %q needs a concrete IP", ErrInvalidConfig, c.Address)
	}
	c.Address = netip.AddrPortFrom(c.Address.Addr().Unmap(), c.Address.Port())
	if c.Address.Port() == 0 {
		c.Address = netip.AddrPortFrom(c.Address.Addr(), DefaultSTUNPort)
	}
	if !c.OtherAddress.Addr().IsValid() {
		if c.OtherAddress.Port() != 0 {
			return fmt.Errorf("%w: STUNConfig.OtherAddress has a port but no IP", ErrInvalidConfig)
		}

		return nil
	}
	other := c.OtherAddress.Addr().Unmap()
	port := c.OtherAddress.Port()
	if port == 0 {
		if c.Address.Port() == 65535 {
			return fmt.Errorf("%w: STUNConfig.OtherAddress needs a port (Address uses 65535)", ErrInvalidConfig)
		}
		port = c.Address.Port() + 1
	}
	switch {
	case other.IsUnspecified():
		return fmt.Errorf("%w: STUNConfig.OtherAddress %q needs a concrete IP", ErrInvalidConfig, c.OtherAddress)
	case other.Is4() != c.Address.Addr().Is4():
		return fmt.Errorf("%w: STUNConfig.OtherAddress %s and Address %s are of different IP families",
			ErrInvalidConfig, other, c.Address.Addr())
	case other == c.Address.Addr():
		return fmt.Errorf("%w: STUNConfig.OtherAddress must use a second IP, not %s", ErrInvalidConfig, other)
	case port == c.Address.Port():
		return fmt.Errorf("%w: STUNConfig.OtherAddress must use a second port, not %d", ErrInvalidConfig, port)
	}
	c.OtherAddress = netip.AddrPortFrom(other, port)

	return nil
}

// listenUDP binds one UDP socket on nw at addr.
func listenUDP(nw transport.Net, addr netip.AddrPort) (net.PacketConn, error) {
	network := "udp4"
	if addr.Addr().Is6() {
		network = "udp6"
	}

	return nw.ListenPacket(network, addr.String())
}

// Addr returns the primary address (IP1:P1).
func (s *STUNServer) Addr() netip.AddrPort { return s.cfg.Address }

// OtherAddr returns the alternate address (IP2:P2), or the zero value when
// RFC 5780 is off.
func (s *STUNServer) OtherAddr() netip.AddrPort { return s.cfg.OtherAddress }

// Stats returns a snapshot of the counters.
func (s *STUNServer) Stats() STUNStats {
	return STUNStats{
		Received:          s.stats.received.Load(),
		Responses:         s.stats.responses.Load(),
		ErrorResponses:    s.stats.errorResponses.Load(),
		DroppedNotSTUN:    s.stats.notSTUN.Load(),
		DroppedMalformed:  s.stats.malformed.Load(),
		DroppedNotRequest: s.stats.notRequest.Load(),
		DroppedTruncated:  s.stats.truncated.Load(),
		WriteErrors:       s.stats.writeErr.Load(),
		ReadErrors:        s.stats.readErr.Load(),
	}
}

// Close closes every socket and returns once every goroutine the server
// started has returned. Closing twice is harmless.
func (s *STUNServer) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		err = s.closeSockets()
	})
	s.wg.Wait()

	return err
}

func (s *STUNServer) closeSockets() error {
	var errs []error
	for i := range s.socks {
		for p := range s.socks[i] {
			if sk := s.socks[i][p]; sk != nil {
				if err := sk.conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
					errs = append(errs, fmt.Errorf("close %s: %w", sk.addr, err))
				}
			}
		}
	}

	return errors.Join(errs...)
}

// verdict is what answer did with one datagram; serve counts it.
type verdict uint8

const (
	verdictSuccess verdict = iota
	verdictError
	verdictNotSTUN
	verdictMalformed
	verdictNotRequest
)

// stunWorker is the per-socket state reused for every datagram, so that the
// steady state allocates nothing in this package.
type stunWorker struct {
	req, resp stun.Message
	unknown   []stun.AttrType
	mapped    [net.IPv6len]byte
}

func (s *STUNServer) serve(sk *stunSocket) {
	defer s.wg.Done()
	buf := make([]byte, maxSTUNDatagram+1)
	w := &stunWorker{}
	for {
		n, from, err := sk.conn.ReadFrom(buf)
		if err == nil && n > maxSTUNDatagram {
			err = io.ErrShortBuffer
		}
		if err != nil {
			if errors.Is(err, io.ErrShortBuffer) {
				s.stats.received.Add(1)
				s.stats.truncated.Add(1)

				continue
			}
			if s.closing.Load() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue // nobody sets deadlines on these sockets, but a Net may time out anyway
			}
			s.stats.readErr.Add(1)

			return
		}
		s.stats.received.Add(1)
		src, ok := addrPortOf(from)
		if !ok {
			s.stats.malformed.Add(1)

			continue
		}
		out, v := s.answer(sk, buf[:n], src, w)
		switch v {
		case verdictNotSTUN:
			s.stats.notSTUN.Add(1)

			continue
		case verdictMalformed:
			s.stats.malformed.Add(1)

			continue
		case verdictNotRequest:
			s.stats.notRequest.Add(1)

			continue
		}
		// Count before sending, so that a client holding the answer sees
		// it counted; a refused send moves it to WriteErrors.
		counter := &s.stats.responses
		if v == verdictError {
			counter = &s.stats.errorResponses
		}
		counter.Add(1)
		if _, err := out.conn.WriteTo(w.resp.Raw, from); err != nil {
			counter.Add(^uint64(0))
			s.stats.writeErr.Add(1)
		}
	}
}

// answer decodes one datagram received on in from src and, for a request,
// encodes the reply into w.resp. It returns the socket to send the reply
// from. It touches no socket and no shared state, so it is safe to call from
// every serving goroutine at once (each with its own worker).
func (s *STUNServer) answer(in *stunSocket, data []byte, src netip.AddrPort, w *stunWorker) (*stunSocket, verdict) {
	if !stun.IsMessage(data) {
		return nil, verdictNotSTUN
	}
	req := &w.req
	req.Raw = data // decoded in place; attribute values alias the read buffer
	if err := req.Decode(); err != nil {
		return nil, verdictMalformed
	}
	if req.Type.Class != stun.ClassRequest {
		return nil, verdictNotRequest
	}
	if req.Type.Method != stun.MethodBinding {
		s.errorResponse(w, stun.CodeBadRequest, nil)

		return in, verdictError
	}

	w.unknown = w.unknown[:0]
	for _, a := range req.Attributes {
		if a.Type.Required() && !s.knownAttr(a.Type) {
			w.unknown = append(w.unknown, a.Type)
		}
	}
	if len(w.unknown) > 0 {
		s.errorResponse(w, stun.CodeUnknownAttribute, w.unknown)

		return in, verdictError
	}

	out := in
	var change ChangeRequest
	switch err := change.GetFrom(req); {
	case err == nil:
		// Only reachable with RFC 5780 on: knownAttr rejected it otherwise.
		ip, port := in.ipIdx, in.prtIdx
		if change.ChangeIP {
			ip ^= 1
		}
		if change.ChangePort {
			port ^= 1
		}
		out = s.socks[ip][port]
	case errors.Is(err, stun.ErrAttributeNotFound):
	default:
		s.errorResponse(w, stun.CodeBadRequest, nil)

		return in, verdictError
	}

	resp := &w.resp
	resp.Reset()
	resp.TransactionID = req.TransactionID
	resp.Type = stun.BindingSuccess
	resp.WriteHeader()

	ip := w.mappedIP(src.Addr())
	port := int(src.Port())
	xor := stun.XORMappedAddress{IP: ip, Port: port}
	if err := xor.AddTo(resp); err != nil {
		return nil, verdictMalformed
	}
	mapped := stun.MappedAddress{IP: ip, Port: port}
	if err := mapped.AddTo(resp); err != nil {
		return nil, verdictMalformed
	}
	origin := stun.ResponseOrigin{IP: out.ip, Port: int(out.addr.Port())}
	_ = origin.AddTo(resp) // the server's own IPs always encode
	if s.rfc5780 {
		o := s.socks[in.ipIdx^1][in.prtIdx^1]
		other := stun.OtherAddress{IP: o.ip, Port: int(o.addr.Port())}
		_ = other.AddTo(resp)
	}
	s.finish(resp)

	return out, verdictSuccess
}

// mappedIP writes a into the worker's scratch array and returns it as a
// net.IP without allocating.
func (w *stunWorker) mappedIP(a netip.Addr) net.IP {
	a = a.Unmap()
	if a.Is4() {
		v := a.As4()
		copy(w.mapped[:4], v[:])

		return w.mapped[:4]
	}
	v := a.As16()
	copy(w.mapped[:], v[:])

	return w.mapped[:]
}

// knownAttr reports whether a comprehension-required attribute is one the
// server understands (or may safely ignore) in a Binding request.
func (s *STUNServer) knownAttr(t stun.AttrType) bool {
	switch t {
	case stun.AttrChangeRequest:
		return s.rfc5780
	case stun.AttrUsername, stun.AttrMessageIntegrity, stun.AttrMessageIntegritySHA256,
		stun.AttrUserhash, stun.AttrRealm, stun.AttrNonce, stun.AttrPadding,
		stun.AttrErrorCode, stun.AttrUnknownAttributes,
		stun.AttrMappedAddress, stun.AttrXORMappedAddress, stun.AttrPriority, stun.AttrUseCandidate:
		// Authentication is not offered, so credentials are ignored (RFC 8489
		// section 9); PADDING only pads; the rest carry no meaning in a
		// Binding request to a server.
		return true
	default:
		return false
	}
}

func (s *STUNServer) errorResponse(w *stunWorker, code stun.ErrorCode, unknown []stun.AttrType) {
	resp := &w.resp
	resp.Reset()
	resp.TransactionID = w.req.TransactionID
	resp.Type = stun.NewType(w.req.Type.Method, stun.ClassErrorResponse)
	resp.WriteHeader()
	_ = code.AddTo(resp)
	if len(unknown) > 0 {
		_ = stun.UnknownAttributes(unknown).AddTo(resp)
	}
	s.finish(resp)
}

// finish appends SOFTWARE (if configured) and FINGERPRINT.
func (s *STUNServer) finish(resp *stun.Message) {
	if s.software != nil {
		_ = s.software.AddTo(resp)
	}
	_ = stun.Fingerprint.AddTo(resp)
}

// addrPortOf converts the address a Net reports for a datagram's sender.
// The common case, *net.UDPAddr, converts without allocating.
func addrPortOf(a net.Addr) (netip.AddrPort, bool) {
	switch v := a.(type) {
	case *net.UDPAddr:
		ip, ok := netip.AddrFromSlice(v.IP)
		if !ok || v.Port < 0 || v.Port > 65535 {
			return netip.AddrPort{}, false
		}

		return netip.AddrPortFrom(ip.Unmap(), uint16(v.Port)), true
	case nil:
		return netip.AddrPort{}, false
	default:
		host, port, err := net.SplitHostPort(a.String())
		if err != nil {
			return netip.AddrPort{}, false
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return netip.AddrPort{}, false
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return netip.AddrPort{}, false
		}

		return netip.AddrPortFrom(ip.Unmap(), uint16(p)), true
	}
}
