package p

import (
	"testing"

	"github.com/pion/transport/v5/vnet"
)

func TestDirect(t *testing.T) {
	_, _ = vnet.NewRouter(&vnet.RouterConfig{CIDR: "1.2.3.0/24"})
}

func TestViaHelper(t *testing.T) { buildNet(t) }

func TestViaTwoHelpers(t *testing.T) { outer() }

func TestViaTypeMethod(t *testing.T) {
	var e env
	e.start()
}

func TestViaConstructor(t *testing.T) { newPair().close() }

func TestLocalNamedVnet(t *testing.T) {
	vnet := fake{}
	vnet.NewRouter()
}

func TestSameMethodNameElsewhere(t *testing.T) {
	var f fake
	f.close()
}

func TestNoVnet(t *testing.T) {}

func Testlowercase(t *testing.T) { buildNet(t) }

func TestMain(m *testing.M) { buildNet(nil) }

func TestParamNamedVnet(t *testing.T) { useParam(fake{}) }

func useParam(vnet fake) { vnet.NewRouter() }

type fake struct{}

func (fake) NewRouter() {}
func (fake) close()     {}
