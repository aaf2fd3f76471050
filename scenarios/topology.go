package scenarios

import (
	"fmt"
	"net/netip"

	"github.com/pion/stun/v4"

	"github.com/vnetsim/vnetsim/impair"
	"github.com/vnetsim/vnetsim/nat"
	"github.com/vnetsim/vnetsim/scenarios/iceserver"
	"github.com/vnetsim/vnetsim/sim"
	"github.com/vnetsim/vnetsim/vnet"
)

// The Internet's fixed addresses.
const (
	WANCIDR     = "100.64.0.0/16"
	ServerIP    = "100.64.0.2"
	ServerName  = "ice.vnetsim.test"
	TURNUser    = "vnetsim"
	TURNPass    = "vnetsim"
	ServersPort = 3478

	// WANCIDR6 is the WAN's IPv6 prefix in a dual-stack Internet; each
	// router a peer sits behind routes its own 2001:db8:N::/64.
	WANCIDR6 = "2001:db8::/64"
)

// Internet is a WAN router with a STUN/TURN server on it, the world most
// NAT-traversal tests start from.
type Internet struct {
	Sched   *sim.Scheduler
	WAN     *vnet.Router
	Server  *vnet.Net         // the host of the STUN and TURN servers
	Servers *iceserver.Hosted // the running servers
	STUN    []*stun.URI       // the stun: URL alone
	All     []*stun.URI       // stun: and turn: URLs
	// Firewall configures the IPv6 firewall of the routers that
	// AddNATPeer and AddDoubleNATPeer build from now on in a dual-stack
	// Internet. Nil: nat.FirewallConfig's defaults (RFC 6092).
	Firewall *nat.FirewallConfig
	dual     bool
	peers    int
}

// NewInternet builds the WAN (100.64.0.0/16) on s, with a TURN server
// (which also answers STUN) at 100.64.0.2:3478, named ice.vnetsim.test in
// DNS, user and password "vnetsim". The servers' goroutines need a running
// scheduler: call it inside simtest.Run, or Start the world. Close stops
// the servers.
func NewInternet(s *sim.Scheduler) (*Internet, error) { return newInternet(s, false) }

// NewDualStackInternet is NewInternet with IPv6 too: the WAN routes
// WANCIDR6, every router AddNATPeer and AddDoubleNATPeer build routes an
// IPv6 prefix of its own behind a stateful firewall (Internet.Firewall)
// besides its IPv4 NAT, and the hosts behind them and AddPublicPeer's get
// an address of each family (AddCloudPeer's stay IPv4-only).
// The STUN and TURN servers stay IPv4-only (ServerName has no AAAA
// record), as many deployed ones are.
func NewDualStackInternet(s *sim.Scheduler) (*Internet, error) { return newInternet(s, true) }

func newInternet(s *sim.Scheduler, dual bool) (*Internet, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: NewInternet needs a scheduler (got nil)", vnet.ErrConfig)
	}
	cfg := vnet.RouterConfig{Name: "wan", CIDR: WANCIDR, Scheduler: s}
	if dual {
		cfg.IPv6CIDR = WANCIDR6
	}
	wan, err := vnet.NewRouter(&cfg)
	if err != nil {
		return nil, err
	}
	srv, err := vnet.NewNet(&vnet.NetConfig{Name: "ice-server", StaticIP: ServerIP})
	if err != nil {
		return nil, err
	}
	if err := wan.AddNet(srv); err != nil {
		return nil, err
	}
	if err := wan.AddHost(ServerName, ServerIP); err != nil {
		return nil, err
	}
	hosted, err := iceserver.Host(iceserver.HostConfig{
		TURN: iceserver.TURNConfig{
			Net:           srv,
			Address:       netip.AddrPortFrom(netip.MustParseAddr(ServerIP), ServersPort),
			Users:         map[string]string{TURNUser: TURNPass},
			LoggerFactory: s.LoggerFactory(),
		},
		Hostname: ServerName,
	})
	if err != nil {
		return nil, err
	}
	in := &Internet{Sched: s, WAN: wan, Server: srv, Servers: hosted, All: hosted.URLs, dual: dual}
	for _, u := range hosted.URLs {
		if u.Scheme == stun.SchemeTypeSTUN {
			in.STUN = append(in.STUN, u)
		}
	}
	return in, nil
}

// Close stops the STUN and TURN servers.
func (in *Internet) Close() error { return in.Servers.Close() }

// Peer is a host and the routers in front of it.
type Peer struct {
	Net     *vnet.Net
	Routers []*vnet.Router // nearest first; empty for a host on the WAN
}

// Access returns the link from the peer's first router (or the WAN) to the
// peer, and back: its access link, where impairments usually go.
func (p *Peer) Access() (up, down *vnet.Link) { return p.Net.Uplink(), p.Net.Downlink() }

// Impair puts cfg on both directions of the peer's access link.
func (p *Peer) Impair(cfg impair.Config) error {
	if err := p.Net.Uplink().Set(cfg); err != nil {
		return err
	}
	return p.Net.Downlink().Set(cfg)
}

// AddPublicPeer puts a host straight on the WAN.
func (in *Internet) AddPublicPeer(name string) (*Peer, error) {
	n, err := vnet.NewNet(&vnet.NetConfig{Name: name})
	if err != nil {
		return nil, err
	}
	if err := in.WAN.AddNet(n); err != nil {
		return nil, err
	}
	return &Peer{Net: n}, nil
}

// AddNATPeer puts a host behind a NAT of the given preset.
func (in *Internet) AddNATPeer(name string, preset nat.Preset) (*Peer, error) {
	r, err := in.natRouter(name+"-nat", in.WAN, preset, nil)
	if err != nil {
		return nil, err
	}
	n, err := vnet.NewNet(&vnet.NetConfig{Name: name})
	if err != nil {
		return nil, err
	}
	if err := r.AddNet(n); err != nil {
		return nil, err
	}
	return &Peer{Net: n, Routers: []*vnet.Router{r}}, nil
}

// AddDoubleNATPeer puts a host behind a home NAT behind a carrier-grade NAT.
func (in *Internet) AddDoubleNATPeer(name string, home nat.Preset) (*Peer, error) {
	cgn, err := in.natRouter(name+"-cgn", in.WAN, nat.CarrierGrade, nil)
	if err != nil {
		return nil, err
	}
	r, err := in.natRouter(name+"-nat", cgn, home, nil)
	if err != nil {
		return nil, err
	}
	n, err := vnet.NewNet(&vnet.NetConfig{Name: name})
	if err != nil {
		return nil, err
	}
	if err := r.AddNet(n); err != nil {
		return nil, err
	}
	return &Peer{Net: n, Routers: []*vnet.Router{r, cgn}}, nil
}

// AddCloudPeer puts a host behind a 1:1 NAT, like a cloud instance with a
// public IP.
func (in *Internet) AddCloudPeer(name string) (*Peer, error) {
	in.peers++
	pub := fmt.Sprintf("100.64.%d.%d", 100+in.peers/200, 1+in.peers%200)
	priv := fmt.Sprintf("10.%d.0.10", in.peers)
	r, err := vnet.NewRouter(&vnet.RouterConfig{
		Name:      name + "-1to1",
		CIDR:      fmt.Sprintf("10.%d.0.0/24", in.peers),
		StaticIPs: []string{pub + "/" + priv},
		NATType:   &vnet.NATType{Mode: vnet.NATModeNAT1To1},
	})
	if err != nil {
		return nil, err
	}
	if err := in.WAN.AddRouter(r); err != nil {
		return nil, err
	}
	n, err := vnet.NewNet(&vnet.NetConfig{Name: name, StaticIP: priv})
	if err != nil {
		return nil, err
	}
	if err := r.AddNet(n); err != nil {
		return nil, err
	}
	return &Peer{Net: n, Routers: []*vnet.Router{r}}, nil
}

// natRouter adds a NAT router of the preset below parent, on its own
// 10.x.0.0/24 (or 100.65.x.0/24 for a carrier-grade NAT) subnet.
func (in *Internet) natRouter(name string, parent *vnet.Router, preset nat.Preset, _ *impair.Config) (*vnet.Router, error) {
	in.peers++
	cidr := fmt.Sprintf("10.%d.0.0/24", in.peers)
	if preset == nat.CarrierGrade {
		cidr = fmt.Sprintf("100.65.%d.0/24", in.peers)
	}
	cfg := preset.Config()
	rc := vnet.RouterConfig{Name: name, CIDR: cidr, NAT: &cfg}
	if in.dual {
		rc.IPv6CIDR = fmt.Sprintf("2001:db8:%x::/64", in.peers)
		rc.Firewall = in.Firewall
	}
	r, err := vnet.NewRouter(&rc)
	if err != nil {
		return nil, err
	}
	if err := parent.AddRouter(r); err != nil {
		return nil, err
	}
	return r, nil
}
