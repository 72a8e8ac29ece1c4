// Package transport moves replication messages between the sites of a
// logship group. It owns the wire: frame format, handshake, TCP and TLS
// connections, heartbeats, reconnection and per-peer send queues. It does
// not know what a message means: bodies are opaque bytes, and the rep
// package plugs its msgpack messages in with a [Codec].
//
// [Transport] is the small interface the rest of logship uses. [TCP]
// implements it between processes; package memnet implements it in memory,
// with seeded faults and virtual time, for the simulator.
//
// # Frame format
//
// Every frame, in both directions and from the first byte on, is a 12-byte
// header followed by the body (all integers big-endian):
//
//	 0     1     2     3     4                       8                      12
//	+-----+-----+-----+-----+-----------------------+-----------------------+------------
//	| 'L' | 'S' | ver | type|   body length (u32)   |  CRC-32C (u32)        | body ...
//	+-----+-----+-----+-----+-----------------------+-----------------------+------------
//
// ver is [FrameVersion]. type is data (0, a message body for the user),
// heartbeat (1, empty), hello (2), reject (3) or auth (4, a group-secret
// proof). The CRC-32C (Castagnoli)
// covers header bytes 2..7 (version, type, length) and then the body, so a
// corrupted length or type is detected as well as a corrupted body. A
// length above the receiver's MaxFrameSize is refused before the body is
// read or allocated. [ReadFrame] returns an error, never panics, on
// truncated, garbled or oversized input; it is fuzzed (FuzzReadFrame).
//
// # Handshake
//
// The dialer sends a hello frame {protocol version, site ID, group name}
// (after the TLS handshake when TLS is on). The acceptor answers with its
// own hello, or with a reject frame {code, reason} and closes: a site not
// in its Peers, of another group, or speaking another [ProtocolVersion] is
// refused, the reason logged on the accepting side and returned to the
// dialer as [ErrUnknownSite], [ErrWrongGroup] or [ErrVersion]. The dialer
// checks the answer the same way, and also that the address answered as
// the site it expected ([ErrWrongSite]).
//
// With Config.TLS set, both sides authenticate: the acceptor requires a
// client certificate signed by a CA in ClientCAs, the dialer verifies the
// acceptor against RootCAs. A site without a certificate from the group's
// CA gets no connection and so no data. Config.VerifyPeer can further
// bind certificates to site IDs, so that one site's certificate cannot
// claim another's ID ([ErrIdentity]).
//
// With Config.GroupSecret set, the hello carries a 32-byte nonce, and
// after the hellos both sides prove they hold the secret with an
// HMAC-SHA256 over both nonces, both IDs, the group and the direction:
// the dialer first, then the acceptor (secret.go). A site that cannot
// prove it is refused on both sides with [ErrAuth]; a recorded handshake
// does not replay, since the other side's nonce is fresh.
//
// # Connection rule
//
// Each pair of sites shares exactly one connection, opened by the site
// with the lower ID; the higher one only accepts, and refuses a dial from a
// site whose ID is above its own. The dialer retries with exponential
// back-off between ReconnectMin and ReconnectMax (with jitter), reset
// after a connection that came up. When a dialer reconnects before the
// acceptor has noticed the old connection die (a restarted process, say),
// the acceptor replaces the old connection with the new one.
// [TCP.AddPeer] and [TCP.RemovePeer] change the peer set at run time.
//
// TCP_NODELAY is set on every connection: replication is
// request/response-shaped, and Nagle's algorithm against delayed ACKs
// costs ~40 ms per acknowledged commit.
//
// Each side sends a heartbeat frame when it has written nothing for
// HeartbeatInterval, and drops a connection on which no byte has arrived,
// or a write has made no progress, for HeartbeatTimeout. Progress, not
// whole frames, is what counts, so a large frame on a slow link survives.
//
// # Queues and drops
//
// Each connection has a bounded send queue (SendQueueLen) drained by one
// writer goroutine, which gathers everything already queued into a single
// write. [TCP.Send] never blocks: with no connection, or a full queue, it
// drops the message, counts it in [PeerStats].Drops and returns
// [ErrNotConnected] or [ErrQueueFull]. Messages still queued when a
// connection dies are dropped and counted too; they are not replayed on
// the next connection. The replication protocol re-requests what it
// misses, so a slow or dead peer costs drops, never a stall of the caller
// or of the other peers.
//
// One reader goroutine per connection delivers bodies to the single
// channel returned by Recv, together with [KindConnUp] and [KindConnDown]
// events, in order per peer. When the consumer falls behind, readers stop
// reading and TCP flow control pushes back on the senders.
package transport
