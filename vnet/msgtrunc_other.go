//go:build !unix || aix

package vnet

// msgTrunc is the flag ReadMsgUDP sets on a truncated datagram. This
// system's syscall package has no MSG_TRUNC: Linux's value, the system
// vnet models.
const msgTrunc = 0x20
