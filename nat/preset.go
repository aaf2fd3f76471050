package nat

import (
	"errors"
	"fmt"
	"time"
)

// Preset names a kind of NAT the way people talk about them. Preset.Config
// returns its Config with External empty: the caller (the router) fills in
// the external addresses before New.
type Preset uint8

const (
	// FullCone: endpoint-independent mapping and filtering. Once a host has
	// sent anything out, anyone can reach it on that port.
	FullCone Preset = iota
	// RestrictedCone: endpoint-independent mapping, address-dependent
	// filtering.
	RestrictedCone
	// PortRestrictedCone: endpoint-independent mapping, address-and-port-
	// dependent filtering. The most common home-router behaviour.
	PortRestrictedCone
	// Symmetric: address-and-port-dependent mapping and filtering, with
	// random ports, so a peer cannot predict the port it should punch to:
	// the case where ICE needs a relay.
	Symmetric
	// CarrierGrade: a CGN as RFC 6888 describes it: endpoint-independent
	// mapping, address-and-port-dependent filtering, paired pooling, random
	// ports, RFC 4787's 2-minute UDP timeout, and a per-subscriber limit of
	// CarrierGradePortsPerHost mappings. Give it several External addresses
	// to model a shared pool.
	CarrierGrade
	numPresets
)

// CarrierGradePortsPerHost is the CarrierGrade preset's MaxMappingsPerHost:
// a mid-range value among the per-subscriber port blocks CGN operators hand
// out, large enough that ordinary ICE never hits it, small enough that a
// test that leaks sockets does.
const CarrierGradePortsPerHost = 2048

// ErrUnknownPreset is returned by ParsePreset for a name it does not know.
var ErrUnknownPreset = errors.New("nat: unknown preset")

var presetNames = [numPresets]string{
	FullCone:           "full-cone",
	RestrictedCone:     "restricted-cone",
	PortRestrictedCone: "port-restricted-cone",
	Symmetric:          "symmetric",
	CarrierGrade:       "carrier-grade",
}

// String returns the preset's name as ParsePreset accepts it, e.g. "full-cone".
func (p Preset) String() string {
	if p < numPresets {
		return presetNames[p]
	}
	return fmt.Sprintf("preset(%d)", uint8(p))
}

// Presets lists every preset, in declaration order.
func Presets() []Preset {
	ps := make([]Preset, numPresets)
	for i := range ps {
		ps[i] = Preset(i)
	}
	return ps
}

// ParsePreset returns the preset whose String is name.
func ParsePreset(name string) (Preset, error) {
	for i, n := range presetNames {
		if n == name {
			return Preset(i), nil
		}
	}
	return 0, fmt.Errorf("%w: %q (known: full-cone, restricted-cone, port-restricted-cone, symmetric, carrier-grade)", ErrUnknownPreset, name)
}

// Config returns the preset's configuration. Every preset hairpins (RFC 4787
// REQ-9, RFC 6888 REQ-9 for CGNs) and leaves External empty; the cone
// presets preserve ports when they can, as Linux-based home routers do.
// Symmetric and CarrierGrade allocate random ports, so New needs a
// *rand.Rand for them. Fields not mentioned keep the defaults documented on
// Config. An unknown preset returns the zero Config (a full cone).
func (p Preset) Config() Config {
	c := Config{Hairpinning: true}
	switch p {
	case FullCone:
		c.PortPreservation = true
	case RestrictedCone:
		c.Filtering = AddressDependent
		c.PortPreservation = true
	case PortRestrictedCone:
		c.Filtering = AddressAndPortDependent
		c.PortPreservation = true
	case Symmetric:
		c.Mapping = AddressAndPortDependent
		c.Filtering = AddressAndPortDependent
		c.RandomPorts = true
	case CarrierGrade:
		c.Filtering = AddressAndPortDependent
		c.Pooling = Paired
		c.RandomPorts = true
		c.MappingLifetime = 2 * time.Minute
		c.MaxMappingsPerHost = CarrierGradePortsPerHost
	default:
		return Config{}
	}
	return c
}
