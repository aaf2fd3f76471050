package iceserver

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"

	"github.com/pion/stun/v4"

	"github.com/vnetsim/vnetsim/vnet"
)

// HostConfig configures Host.
type HostConfig struct {
	// TURN configures the TURN server. Required (its Net, Address and
	// Users at least). Its address also answers STUN Binding requests.
	TURN TURNConfig

	// STUN, when its Net is set, starts a separate STUN server (with
	// STUN.OtherAddress, one that supports RFC 5780 discovery) and the
	// stun: URL names it. Left zero, the stun: URL names the TURN
	// server's address, which answers Binding requests itself; that is the
	// usual "stun:host:3478" plus "turn:host:3478" pair.
	STUN STUNConfig

	// Hostname is put into the URLs instead of the TURN server's IP, for a
	// name the scenario's resolver maps to it. Empty means the IP. It also
	// names the separate STUN server when that shares the TURN server's IP.
	Hostname string

	// STUNHostname names a separate STUN server in its URL. Empty means
	// Hostname when the STUN server shares the TURN IP, else its IP.
	STUNHostname string

	// Username picks the user whose credentials go into the turn: URL.
	// Empty is allowed when TURN.Users has exactly one user.
	Username string
}

// Hosted is a running set of ICE servers.
type Hosted struct {
	// STUN is the separate STUN server, nil when the TURN server serves
	// the stun: URL.
	STUN *STUNServer
	// TURN is the TURN server.
	TURN *TURNServer
	// URLs are ready for ice.AgentConfig.Urls: the stun: URL first, then
	// the turn: URL with transport=udp and the user's credentials.
	URLs []*stun.URI
	// Net is the server host that HostOn attached to its router; nil from
	// Host, whose caller brings the Nets.
	Net *vnet.Net
}

// Host starts a TURN server, and optionally a separate STUN server, and
// returns the URLs pion/ice needs to use them. Close stops both.
func Host(cfg HostConfig) (*Hosted, error) {
	user, pass, err := cfg.credentials()
	if err != nil {
		return nil, err
	}
	if err := cfg.checkConflict(); err != nil {
		return nil, err
	}
	h := &Hosted{}
	if h.TURN, err = StartTURN(cfg.TURN); err != nil {
		return nil, err
	}
	turnAddr := h.TURN.Addr()
	turnHost := cfg.Hostname
	if turnHost == "" {
		turnHost = turnAddr.Addr().String()
	}

	stunHost, stunPort := turnHost, turnAddr.Port()
	if cfg.STUN.Net != nil {
		if h.STUN, err = StartSTUN(cfg.STUN); err != nil {
			_ = h.TURN.Close()

			return nil, err
		}
		stunAddr := h.STUN.Addr()
		stunPort = stunAddr.Port()
		switch {
		case cfg.STUNHostname != "":
			stunHost = cfg.STUNHostname
		case stunAddr.Addr() != turnAddr.Addr():
			stunHost = stunAddr.Addr().String()
		}
	}

	h.URLs = []*stun.URI{
		{Scheme: stun.SchemeTypeSTUN, Host: stunHost, Port: int(stunPort), Proto: stun.ProtoTypeUDP},
		{
			Scheme: stun.SchemeTypeTURN, Host: turnHost, Port: int(turnAddr.Port()), Proto: stun.ProtoTypeUDP,
			Username: user, Password: pass,
		},
	}

	return h, nil
}

func (c *HostConfig) credentials() (string, string, error) {
	if c.Username != "" {
		pass, ok := c.TURN.Users[c.Username]
		if !ok {
			return "", "", fmt.Errorf("%w: HostConfig.Username %q is not in TURN.Users", ErrInvalidConfig, c.Username)
		}

		return c.Username, pass, nil
	}
	if len(c.TURN.Users) != 1 {
		names := make([]string, 0, len(c.TURN.Users))
		for u := range c.TURN.Users {
			names = append(names, u)
		}
		sort.Strings(names)

		return "", "", fmt.Errorf("%w: HostConfig.Username must pick one of TURN.Users %q", ErrInvalidConfig, names)
	}
	for u, p := range c.TURN.Users {
		return u, p, nil
	}

	return "", "", nil // unreachable: one user
}

// checkConflict rejects a separate STUN server with a socket on the TURN
// server's address: the second bind would fail less clearly.
func (c *HostConfig) checkConflict() error {
	if c.STUN.Net == nil || c.STUN.Net != c.TURN.Net {
		return nil
	}
	st, tu := c.STUN, c.TURN
	if st.normalize() != nil || tu.normalize() != nil {
		return nil // StartTURN and StartSTUN report these
	}
	addrs := []netip.AddrPort{st.Address}
	if st.OtherAddress.IsValid() {
		addrs = append(addrs, st.OtherAddress,
			netip.AddrPortFrom(st.Address.Addr(), st.OtherAddress.Port()),
			netip.AddrPortFrom(st.OtherAddress.Addr(), st.Address.Port()))
	}
	for _, a := range addrs {
		if a == tu.Address {
			return fmt.Errorf("%w: the STUN server would listen on the TURN address %s; leave HostConfig.STUN zero to let the TURN server answer Binding requests",
				ErrInvalidConfig, a)
		}
	}

	return nil
}

// Close stops the servers.
func (h *Hosted) Close() error {
	var errs []error
	if h.STUN != nil {
		errs = append(errs, h.STUN.Close())
	}
	if h.TURN != nil {
		errs = append(errs, h.TURN.Close())
	}

	return errors.Join(errs...)
}
