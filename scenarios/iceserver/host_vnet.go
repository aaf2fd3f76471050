package iceserver

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/vnetsim/vnetsim/vnet"
)

// HostOn is Host on a vnetsim router: it creates the server host itself.
//
// It attaches to wan one Net that owns every IP the configuration names
// (TURN.Address's, and STUN.Address's and STUN.OtherAddress's when a
// separate STUN server is asked for), starts the servers on it, and adds
// DNS records on wan (router.AddHost) for Hostname (the TURN server's IP)
// and STUNHostname (the STUN server's IP), so that every Net at or below
// wan resolves the names in the URLs. Hosted.Net is the new host.
//
// cfg.TURN.Net and cfg.STUN.Net must be nil: HostOn sets them. A separate
// STUN server starts when cfg.STUN.Address is set (with
// cfg.STUN.OtherAddress, one that serves RFC 5780 discovery); otherwise the
// TURN server answers the stun: URL, as with Host. A nil
// cfg.TURN.LoggerFactory means the scheduler's (wan.Scheduler()).
//
// The configuration is checked before anything is attached. The router has
// no way to detach a Net, so a failure after the attachment (the servers
// failing to start) leaves the host attached but unused; Close stops the
// servers and leaves the host (and its DNS records) on the router.
func HostOn(wan *vnet.Router, cfg HostConfig) (*Hosted, error) {
	if wan == nil {
		return nil, fmt.Errorf("%w: HostOn needs a router", ErrInvalidConfig)
	}
	if cfg.TURN.Net != nil || cfg.STUN.Net != nil {
		return nil, fmt.Errorf("%w: HostOn creates the server Net; leave TURN.Net and STUN.Net nil (or use Host)", ErrInvalidConfig)
	}
	separateSTUN := cfg.STUN.Address != (netip.AddrPort{})
	if !separateSTUN && cfg.STUN != (STUNConfig{}) {
		return nil, fmt.Errorf("%w: HostConfig.STUN is set but has no Address", ErrInvalidConfig)
	}

	// Check the addresses before a Net exists, to know which IPs it needs.
	tcfg, scfg := cfg.TURN, cfg.STUN
	if err := tcfg.normalizeFields(); err != nil {
		return nil, err
	}
	ips := []netip.Addr{tcfg.Address.Addr()}
	if separateSTUN {
		if err := scfg.normalizeAddrs(); err != nil {
			return nil, err
		}
		ips = appendNew(ips, scfg.Address.Addr())
		if scfg.OtherAddress.IsValid() {
			ips = appendNew(ips, scfg.OtherAddress.Addr())
		}
	}
	static := make([]string, len(ips))
	for i, ip := range ips {
		if !ip.Is4() {
			return nil, fmt.Errorf("%w: HostOn: %s is not IPv4 (vnet routes IPv4 only)", ErrInvalidConfig, ip)
		}
		static[i] = ip.String()
	}
	// DNS records, checked now: AddHost refuses a name that is empty once
	// its trailing dot is trimmed.
	records := map[string]netip.Addr{}
	if cfg.Hostname != "" {
		records[cfg.Hostname] = tcfg.Address.Addr()
	}
	if separateSTUN && cfg.STUNHostname != "" {
		if ip, ok := records[cfg.STUNHostname]; ok && ip != scfg.Address.Addr() {
			return nil, fmt.Errorf("%w: HostOn: Hostname and STUNHostname are both %q but name different IPs (%s, %s)",
				ErrInvalidConfig, cfg.STUNHostname, ip, scfg.Address.Addr())
		}
		records[cfg.STUNHostname] = scfg.Address.Addr()
	}
	for name := range records {
		if strings.Trim(name, ".") == "" {
			return nil, fmt.Errorf("%w: HostOn: host name %q", ErrInvalidConfig, name)
		}
	}

	name := cfg.Hostname
	if name == "" {
		name = "ice " + tcfg.Address.Addr().String()
	}
	host, err := vnet.NewNet(&vnet.NetConfig{Name: name, StaticIPs: static})
	if err != nil {
		return nil, fmt.Errorf("iceserver: HostOn: %w", err)
	}
	cfg.TURN.Net = host
	if separateSTUN {
		cfg.STUN.Net = host
	}
	if cfg.TURN.LoggerFactory == nil {
		cfg.TURN.LoggerFactory = wan.Scheduler().LoggerFactory()
	}
	if _, _, err := cfg.credentials(); err != nil {
		return nil, err
	}
	if err := cfg.checkConflict(); err != nil {
		return nil, err
	}
	if err := wan.AddNet(host); err != nil {
		return nil, fmt.Errorf("iceserver: HostOn: %w", err)
	}

	h, err := Host(cfg)
	if err != nil {
		return nil, err
	}
	h.Net = host
	for _, name := range sortedKeys(records) {
		if err := wan.AddHost(name, records[name].String()); err != nil {
			_ = h.Close()

			return nil, fmt.Errorf("iceserver: HostOn: %w", err)
		}
	}

	return h, nil
}

func appendNew(ips []netip.Addr, ip netip.Addr) []netip.Addr {
	for _, x := range ips {
		if x == ip {
			return ips
		}
	}

	return append(ips, ip)
}

func sortedKeys(m map[string]netip.Addr) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	return keys
}
