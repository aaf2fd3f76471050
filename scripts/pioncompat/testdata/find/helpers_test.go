package p

import (
	"testing"

	pv "github.com/pion/transport/v5/vnet"
)

func buildNet(t *testing.T) { _, _ = pv.NewNet(&pv.NetConfig{}) }

func outer() { inner() }

func inner() { buildNet(nil) }

type env struct{}

func (e *env) start() { _ = pv.NATModeNAT1To1 }

type pair struct{ r *pv.Router }

func newPair() *pair { return &pair{} }

func (p *pair) close() {}
