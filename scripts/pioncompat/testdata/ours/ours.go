package vnet

type Router struct{}

type RouterConfig struct{ CIDR string }

type Pair[K comparable, V any] struct{}

const NATModeNAT1To1 = 1

var ErrThing error

func NewRouter(c *RouterConfig) (*Router, error) { return nil, nil }

func NewNet() {}

func Map[T any](x T) T { return x }

func (r *Router) Start() error { return nil }

func unexported() {}
