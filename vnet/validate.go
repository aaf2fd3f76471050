package vnet

// Validate reports whether NewRouter would accept c: the subnets (not in
// reserved blocks), static addresses and 1:1 pairs, MTU, delays, the NAT
// (NATType.Validate, nat.Config.Validate) and the firewall
// (nat.FirewallConfig.Validate). The error wraps ErrConfig and the cause.
// Whether the router fits a tree is AddRouter's to say.
func (c RouterConfig) Validate() error {
	if c.Scheduler == nil {
		c.Scheduler = validationScheduler
	}
	_, err := NewRouter(&c)
	return err
}

// Validate reports whether NewNet would accept c: static addresses, the
// read buffer and the TCP configuration. The error wraps ErrConfig and
// the cause. Whether the addresses fit a router is AddNet's to say.
func (c NetConfig) Validate() error {
	_, err := NewNet(&c)
	return err
}
