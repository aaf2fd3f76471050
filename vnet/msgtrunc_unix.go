//go:build unix && !aix

package vnet

import "syscall"

// msgTrunc is the flag ReadMsgUDP sets on a truncated datagram: this
// system's MSG_TRUNC, which code written for net.UDPConn tests for.
const msgTrunc = syscall.MSG_TRUNC
