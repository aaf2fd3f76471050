package shrink_test

import (
	"testing"

	"github.com/pion/stun/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vnetsim/vnetsim/shrink"
)

func TestKind(t *testing.T) {
	req, err := stun.Build(stun.TransactionID, stun.BindingRequest)
	require.NoError(t, err)
	ok, err := stun.Build(stun.TransactionID, stun.BindingSuccess)
	require.NoError(t, err)
	dtls := append([]byte{22, 0xfe, 0xfd}, make([]byte, 20)...)
	for _, tc := range []struct {
		proto   uint8
		payload []byte
		want    string
	}{
		{17, req.Raw, "STUN Binding request"},
		{17, ok.Raw, "STUN Binding success response"},
		{17, []byte{0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0}, "TURN ChannelData (12 bytes)"},
		{17, dtls, "DTLS record (23 bytes)"},
		{17, []byte{22, 0, 0, 0}, "UDP datagram (4 bytes)"},
		{17, nil, "UDP datagram (0 bytes)"},
		{6, []byte{1, 2}, "TCP segment (2 bytes)"},
	} {
		assert.Equal(t, tc.want, shrink.Kind(tc.proto, tc.payload))
	}
}
