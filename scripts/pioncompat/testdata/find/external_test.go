package p_test

import (
	"testing"

	"github.com/pion/transport/v5/vnet"
)

func TestExternal(t *testing.T) { _ = vnet.NATModeNAT1To1 }
