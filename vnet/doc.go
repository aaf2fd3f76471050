// Package vnet is a simulated network of routers, NATs, firewalls and hosts
// driven by one [sim.Scheduler] on a virtual clock. A [Net] is a host: it
// satisfies pion's transport.Net, so pion/ice, pion/turn, pion/webrtc and
// code of your own run over it unchanged, with UDP and TCP in both address
// families.
//
// # Building a tree
//
// A tree is a root [Router] (the Internet, usually without NAT) with child
// routers under it ([Router.AddRouter]) and hosts on any router
// ([Router.AddNet]). A child router translates IPv4 with a NAT (see
// [RouterConfig.NATType], [RouterConfig.NAT] and package [nat]) and guards
// IPv6 with a stateful firewall ([RouterConfig.Firewall]); IPv6 is routed,
// never translated. The root's [RouterConfig.Scheduler] decides how time
// runs: nil means a paced scheduler on the wall clock, like pion's vnet; a
// scheduler made with [sim.New] and started inside a testing/synctest bubble
// (see [github.com/vnetsim/vnetsim/sim/simtest.Run]) runs on virtual time, so
// timeouts cost no wall time. Tests build the common trees in one call with
// package [github.com/vnetsim/vnetsim/vnet/vnettest].
//
// Every router and host is joined by two [Link] values, one per direction.
// A link carries an impairment model from package [impair] (delay, jitter,
// loss, duplication, reordering, rate and queue, partitions, rules; an
// [impair.Config]), perfect by default; [Link.Set] changes it as an event at
// the next nanosecond.
//
// # A datagram's path
//
// A UDP datagram passes these functions, in order. The first three run on the
// application's goroutine; everything after Submit runs on the scheduler's
// goroutine, one event at a time, so router, link, NAT and socket-table state
// need no locks there.
//
//  1. [UDPConn.WriteTo] checks the destination and the socket, and copies the
//     payload into a pooled packet.
//  2. UDPConn.nextKey gives the event its stable key (host, socket, the
//     socket's own counter), so the order of same-instant events never
//     depends on which goroutine submitted first.
//  3. [sim.Scheduler.Submit] hands the packet to the scheduler's inbox, due at
//     the next nanosecond at the earliest.
//  4. Net.egress binds an ephemeral port if the socket has none, stamps the
//     source address, counts the datagram as sent and records it, then puts
//     it on the host's uplink (or straight back into the host for its own
//     addresses and loopback).
//  5. Link.send asks the link's impair model for the packet's fate: dropped
//     (counted with its reason), held, or delivered at an instant, perhaps
//     in two copies. Link.deliver schedules the arrival at the far end.
//  6. Router.arrive decrements the TTL; a packet from the parent goes
//     through Router.inbound (NAT or firewall, inbound); others through
//     Router.forward: down to a host or child on the router's subnet, or up
//     through the NAT (outbound) to the parent.
//  7. Net.arrive finds the socket the datagram is for (Net.socketFor). Each
//     hand-over to an application gets a nanosecond of its own, so two
//     application goroutines are never woken at one instant.
//  8. UDPConn.enqueue puts it in the socket's receive queue (or drops it,
//     counted, when the buffer is full or the socket is closed), and
//     [UDPConn.ReadFrom], on the application's goroutine, takes it.
//
// TCP segments take the same path between hosts ([Net.Dial], [Net.Listen],
// [TCPConn]); package [tcp] runs each host's connections on the scheduler.
//
// # Seeing a run
//
// [Router.Observe] sees every packet event as a [Record]; [NewTracer] writes
// them as text lines; [Router.Snapshot] and [Router.Stats] count what every
// link, router, NAT and socket did, and [Snapshot.Check] proves that no
// datagram was lost without a reason; [Router.Capture] writes pcapng files with real IP
// headers for Wireshark.
//
// # Concurrency
//
// Net and conn methods are safe from any goroutine. A blocking call
// (ReadFrom, Accept, deadlines) waits on a channel made inside the world, so
// a synctest bubble sees it as durably blocked and can move time. Topology
// calls (AddRouter, AddNet, Start, Stop) are for the goroutine that builds
// the tree.
package vnet
