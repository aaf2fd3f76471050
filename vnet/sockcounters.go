package vnet

// sockCounters are the counters a UDPConn keeps for SocketStats, without
// the host's name and the bound address, which Stats fills in when read:
// 40 bytes of the socket instead of 88, all on the datagram path's lines.
type sockCounters struct {
	PacketsOut, BytesOut uint64
	PacketsIn, BytesIn   uint64
	Overflows            uint64
}

// socketStats returns the counters as SocketStats, Host and Local unset.
func (k sockCounters) socketStats() SocketStats {
	return SocketStats{
		PacketsOut: k.PacketsOut, BytesOut: k.BytesOut,
		PacketsIn: k.PacketsIn, BytesIn: k.BytesIn,
		Overflows: k.Overflows,
	}
}
