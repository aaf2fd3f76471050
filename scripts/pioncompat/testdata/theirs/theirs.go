package vnet

type Router struct{}

type RouterConfig struct{}

type Chunk interface{}

func NewRouter(c *RouterConfig) (*Router, error) { return nil, nil }

func NewNet() {}

func NewDelayFilter() {}
