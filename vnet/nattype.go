package vnet

import (
	"fmt"
	"net/netip"
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
// pion lacks are the nat package's.
//
// A NATType is taken literally, zero fields included, as pion takes it: its
// zero value is endpoint-independent mapping and filtering (a full-cone
// NAT, pion's EndpointIndependent being 0), no hairpinning, no port
// preservation, sequential ports from nat.DefaultPortMin (1024) to
// nat.DefaultPortMax, and a MappingLifeTime of nat.DefaultMappingLifetime:
// nat.Config's zero value and defaults. That is not what a nil
// RouterConfig.NATType gives (the nat.PortRestrictedCone preset, a typical
// home NAT); to change one field of that, set RouterConfig.NAT to
// nat.PortRestrictedCone.Config() with the change.
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

// buildNATConfig settles the NAT configuration of r as a child router, and
// checks it, so that a bad one fails at NewRouter and not at AddRouter.
func (r *Router) buildNATConfig() error {
	if err := r.buildNATConfig1(); err != nil {
		return err
	}
	cfg := *r.natCfg
	if len(cfg.External) == 0 && len(cfg.OneToOne) == 0 {
		// The parent fills External at AddRouter; stand in for it.
		cfg.External = []netip.Addr{netip.AddrFrom4([4]byte{192, 0, 2, 1})}
	}
	if err := cfg.Validate(); err != nil {
		return configErr("router %q: NAT: %w", r.name, err)
	}
	return nil
}

func (r *Router) buildNATConfig1() error {
	var cfg nat.Config
	switch {
	case r.cfg.NAT != nil:
		cfg = *r.cfg.NAT
	case r.cfg.NATType != nil:
		if err := r.cfg.NATType.Validate(); err != nil {
			return configErr("router %q: %w", r.name, err)
		}
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

// Validate reports whether t's enums are known (Mode, MappingBehavior,
// FilteringBehavior) and the rest passes nat.Config.Validate. NewRouter
// calls it; the error wraps ErrConfig or the nat package's sentinel.
func (t NATType) Validate() error {
	switch {
	case t.Mode > NATModeNAT1To1:
		return fmt.Errorf("%w: NATType.Mode = %d is not a NATMode", ErrConfig, t.Mode)
	case t.MappingBehavior > EndpointAddrPortDependent:
		return fmt.Errorf("%w: NATType.MappingBehavior = %d is not an EndpointDependencyType", ErrConfig, t.MappingBehavior)
	case t.FilteringBehavior > EndpointAddrPortDependent:
		return fmt.Errorf("%w: NATType.FilteringBehavior = %d is not an EndpointDependencyType", ErrConfig, t.FilteringBehavior)
	}
	cfg := t.Config()
	cfg.External = []netip.Addr{netip.AddrFrom4([4]byte{192, 0, 2, 1})} // the router fills it
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: NATType: %w", ErrConfig, err)
	}
	return nil
}
