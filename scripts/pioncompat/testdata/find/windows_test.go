//go:build windows

package p

import (
	"testing"

	"github.com/pion/transport/v5/vnet"
)

func TestOnlyOnWindows(t *testing.T) { _ = vnet.NATModeNAT1To1 }
