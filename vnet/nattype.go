package vnet

import (
	"time"

	"github.com/vnetsim/vnetsim/nat"
)

// EndpointDependencyType is pion's name for a NAT behaviour (RFC 4787).
type EndpointDependencyType uint8

// Behaviours, with pion's names.
const (
	// EndpointIndependent: the behaviour does not depend on the remote endpoint.
	EndpointIndependent EndpointDependencyType = iota
	// EndpointAddrDependent: it depends on the remote address.
	EndpointAddrDependent
	// EndpointAddrPortDependent: it depends on the remote address and port.
	EndpointAddrPortDependent
)

func (t EndpointDependencyType) behavior() nat.Behavior {
	switch t {
	case EndpointAddrDependent:
		return nat.AddressDependent
	case EndpointAddrPortDependent:
		return nat.AddressAndPortDependent
	}
	return nat.EndpointIndependent
}

// NATMode is pion's NAT mode.
type NATMode uint8

// NAT modes, with pion's names.
const (
	// NATModeNormal is a NAPT (RFC 2663): addresses and ports translated.
	NATModeNormal NATMode = iota
	// NATModeNAT1To1 maps each public StaticIPs address to one private
	// address, ports untouched ("public/private" entries).
	NATModeNAT1To1
)

// NATType describes a child router's NAT with pion's field names. Fields
// pion lacks are the nat package's; zero values take nat's defaults.
type NATType struct {
	Mode              NATMode
	MappingBehavior   EndpointDependencyType
	FilteringBehavior EndpointDependencyType
	Hairpinning       bool
	PortPreservation  bool
	// MappingLifeTime is the idle timeout of a UDP mapping. Zero means
	// nat's default (30 s).
	MappingLifeTime time.Duration

	// PortMin and PortMax bound the external ports (zero: nat's defaults).
	PortMin, PortMax uint16
	// RandomPorts allocates external ports from the world's seed instead of
	// sequentially.
	RandomPorts bool
	// InboundRefresh lets inbound packets refresh a mapping too.
	InboundRefresh bool
	// MaxMappings limits the table (0: unlimited); new flows beyond it drop.
	MaxMappings int
	// Pooling chooses how several external addresses are shared.
	Pooling nat.Pooling
}

// Config returns the nat package's configuration for t (External empty:
// the router fills it).
func (t NATType) Config() nat.Config {
	return nat.Config{
		Mapping:          t.MappingBehavior.behavior(),
		Filtering:        t.FilteringBehavior.behavior(),
		Hairpinning:      t.Hairpinning,
		PortPreservation: t.PortPreservation,
		PortMin:          t.PortMin,
		PortMax:          t.PortMax,
		RandomPorts:      t.RandomPorts,
		MappingLifetime:  t.MappingLifeTime,
		InboundRefresh:   t.InboundRefresh,
		MaxMappings:      t.MaxMappings,
		Pooling:          t.Pooling,
	}
}

// buildNATConfig settles the NAT configuration of r as a child router.
func (r *Router) buildNATConfig() error {
	var cfg nat.Config
	switch {
	case r.cfg.NAT != nil:
		cfg = *r.cfg.NAT
	case r.cfg.NATType != nil:
		cfg = r.cfg.NATType.Config()
		if r.cfg.NATType.Mode == NATModeNAT1To1 && len(r.private) == 0 {
			return configErr("router %q: NATModeNAT1To1 needs StaticIPs of the form \"public/private\"", r.name)
		}
	default:
		cfg = nat.PortRestrictedCone.Config()
	}
	if len(r.private) > 0 {
		cfg.OneToOne = cfg.OneToOne[:0:0]
		for i, pub := range r.ext {
			cfg.OneToOne = append(cfg.OneToOne, nat.Pair{External: pub, Internal: r.private[i]})
		}
	}
	r.natCfg = &cfg
	return nil
}
