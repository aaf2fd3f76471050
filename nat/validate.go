package nat

// Validate reports whether New would accept c: every enum known, no
// negative duration or limit, PortMin <= PortMax once the defaults apply,
// an external address or a 1:1 pair, no bad or duplicate address. The
// error wraps one of ErrBadOption, ErrPortRange, ErrNoExternal,
// ErrBadAddress or ErrDuplicate and names the field. (New also needs a
// *rand.Rand for RandomPorts, which is not the config's to check.)
func (c Config) Validate() error {
	d := c.withDefaults()
	return d.validate()
}

// Validate reports whether NewFirewall would accept c; the error wraps
// ErrBadOption and names the field.
func (c FirewallConfig) Validate() error {
	d := c.withDefaults()
	return d.validate()
}
