package vnet

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// UDPProxy bridges a virtual network to real UDP servers on the host
// (pion's UDPProxy): for each proxied server address it attaches a Net
// with that address to the router, and relays every datagram a virtual
// client sends there to the real server, through one real socket per
// virtual client, and the server's answers back.
//
// It leaves determinism behind: real sockets and the real server answer
// in wall-clock time, so the tree must run in real time (Router.Start with
// no Scheduler, or a paced Scheduler on the wall clock), not in a synctest
// bubble (a real socket read is not durably blocking) nor by hand, and
// runs do not repeat. Use it to try a real server, not in a seed sweep.
type UDPProxy struct {
	r *Router

	mu      sync.Mutex
	workers map[netip.AddrPort]*proxyWorker
	closed  bool

	// realAddr, when set, replaces the real server's address (tests).
	realAddr *net.UDPAddr
}

// NewProxy returns a proxy that attaches its Nets to router.
func NewProxy(router *Router) (*UDPProxy, error) {
	if router == nil {
		return nil, configErr("NewProxy: nil router")
	}
	return &UDPProxy{r: router, workers: map[netip.AddrPort]*proxyWorker{}}, nil
}

// Proxy starts relaying datagrams sent to server inside the virtual
// network to the real server at the same address. client is accepted for
// pion compatibility and unused: any virtual client may use the proxy. A
// second call for the same server does nothing.
func (p *UDPProxy) Proxy(_ *Net, server *net.UDPAddr) error {
	if server == nil {
		return configErr("UDPProxy.Proxy: nil server address")
	}
	ap := udpAddrPort(server)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("vnet: UDPProxy.Proxy: %w", net.ErrClosed)
	}
	if _, ok := p.workers[ap]; ok {
		return nil
	}
	n, err := NewNet(&NetConfig{StaticIPs: []string{ap.Addr().String()}, Name: "proxy " + ap.String()})
	if err != nil {
		return err
	}
	if err := p.r.AddNet(n); err != nil {
		return err
	}
	vsock, err := n.listen("udp", ap, netip.AddrPort{})
	if err != nil {
		return err
	}
	real := net.UDPAddrFromAddrPort(ap)
	if p.realAddr != nil {
		real = p.realAddr
	}
	w := &proxyWorker{vsock: vsock, server: real, ends: map[netip.AddrPort]*net.UDPConn{}}
	p.workers[ap] = w
	w.wg.Add(1)
	go w.fromVirtual()
	return nil
}

// Deliver sends b to the real server as if the virtual client at source
// had sent it (pion's replay helper): it goes out through that client's
// real socket, if the client has used the proxy; else nothing is sent and
// 0 returned.
func (p *UDPProxy) Deliver(source, _ net.Addr, b []byte) (int, error) {
	ua, ok := source.(*net.UDPAddr)
	if !ok {
		return 0, fmt.Errorf("vnet: UDPProxy.Deliver: not a UDP address: %v", source)
	}
	src := udpAddrPort(ua)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range p.workers {
		w.mu.Lock()
		end := w.ends[src]
		w.mu.Unlock()
		if end != nil {
			return end.Write(b)
		}
	}
	return 0, nil
}

// Close stops every relay and closes its sockets (the Nets stay attached).
func (p *UDPProxy) Close() error {
	p.mu.Lock()
	p.closed = true
	workers := p.workers
	p.workers = map[netip.AddrPort]*proxyWorker{}
	p.mu.Unlock()
	for _, w := range workers {
		w.close()
	}
	return nil
}

// proxyWorker relays one proxied server's traffic.
type proxyWorker struct {
	vsock  *UDPConn
	server *net.UDPAddr
	wg     sync.WaitGroup

	mu     sync.Mutex
	ends   map[netip.AddrPort]*net.UDPConn // by virtual client
	closed bool
}

// fromVirtual relays datagrams from virtual clients to the real server.
func (w *proxyWorker) fromVirtual() {
	defer w.wg.Done()
	buf := make([]byte, maxUDPPayload6)
	for {
		k, from, _, err := w.vsock.read(buf)
		if err != nil {
			return
		}
		end, err := w.endpoint(from)
		if err != nil {
			continue // the real network refused: the datagram is lost, as a real one would be
		}
		_, _ = end.Write(buf[:k])
	}
}

// endpoint returns the real socket of a virtual client, making it and its
// reader at the client's first datagram.
func (w *proxyWorker) endpoint(client netip.AddrPort) (*net.UDPConn, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c := w.ends[client]; c != nil {
		return c, nil
	}
	if w.closed {
		return nil, net.ErrClosed
	}
	c, err := net.DialUDP("udp", nil, w.server)
	if err != nil {
		return nil, err
	}
	w.ends[client] = c
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		buf := make([]byte, maxUDPPayload6)
		for {
			k, err := c.Read(buf)
			if err != nil {
				return
			}
			if _, err := w.vsock.WriteTo(buf[:k], net.UDPAddrFromAddrPort(client)); err != nil {
				return
			}
		}
	}()
	return c, nil
}

func (w *proxyWorker) close() {
	_ = w.vsock.Close()
	w.mu.Lock()
	w.closed = true
	for _, c := range w.ends {
		_ = c.Close()
	}
	w.mu.Unlock()
	w.wg.Wait()
}
