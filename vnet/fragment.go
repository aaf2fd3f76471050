package vnet

// fragInfo describes an IP fragment (zero for a whole datagram).
type fragInfo struct {
	is   bool   // the packet is a fragment
	more bool   // more fragments follow (IPv4 MF, IPv6 M)
	off  uint16 // offset of its data in the datagram's IP payload, in bytes
	id   uint32 // IP identification shared by the datagram's fragments
}
