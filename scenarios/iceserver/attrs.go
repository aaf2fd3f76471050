package iceserver

import (
	"errors"
	"fmt"

	"github.com/pion/stun/v4"
)

// CHANGE-REQUEST flag bits (RFC 5780 section 7.2). pion/stun/v4 names the
// attribute type (stun.AttrChangeRequest) but has no value type for it, so
// ChangeRequest below supplies one. OTHER-ADDRESS and RESPONSE-ORIGIN come
// from pion/stun (stun.OtherAddress, stun.ResponseOrigin).
const (
	changeIPFlag   = 0x04
	changePortFlag = 0x02
	changeReqSize  = 4
)

// ErrBadChangeRequest reports a CHANGE-REQUEST attribute whose value is not
// the 4 bytes RFC 5780 defines.
var ErrBadChangeRequest = errors.New("iceserver: malformed CHANGE-REQUEST attribute")

// ChangeRequest is the CHANGE-REQUEST attribute of RFC 5780 (section 7.2):
// it asks the server to answer from its other IP address, its other port, or
// both. It implements stun.Setter and stun.Getter.
type ChangeRequest struct {
	ChangeIP   bool
	ChangePort bool
}

// AddTo appends the attribute to m.
func (c ChangeRequest) AddTo(m *stun.Message) error {
	var v [changeReqSize]byte
	if c.ChangeIP {
		v[3] |= changeIPFlag
	}
	if c.ChangePort {
		v[3] |= changePortFlag
	}
	m.Add(stun.AttrChangeRequest, v[:])

	return nil
}

// GetFrom decodes the attribute from m. It returns stun.ErrAttributeNotFound
// when m has none, and ErrBadChangeRequest when its length is wrong.
func (c *ChangeRequest) GetFrom(m *stun.Message) error {
	v, err := m.Get(stun.AttrChangeRequest)
	if err != nil {
		return err
	}
	if len(v) != changeReqSize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrBadChangeRequest, len(v), changeReqSize)
	}
	c.ChangeIP = v[3]&changeIPFlag != 0
	c.ChangePort = v[3]&changePortFlag != 0

	return nil
}
