package transport

import "sync/atomic"

// PeerStats counts what happened on the connections to one peer. Byte
// counts are message bodies, not frame headers or TLS overhead.
type PeerStats struct {
	FramesSent    uint64
	BytesSent     uint64
	FramesRecv    uint64
	BytesRecv     uint64
	Drops         uint64 // messages dropped: queue full, not connected, or queued when the connection died
	Connects      uint64 // connections established
	Reconnects    uint64 // connections established after the first
	Disconnects   uint64
	DialFailures  uint64 // failed dials and dialer-side handshakes
	HeartbeatsOut uint64
	Connected     bool
	LastError     string // the last dial or connection error, for operators
}

// Stats is a snapshot of a transport's counters.
type Stats struct {
	Peers map[ID]PeerStats
	// InboundRefused counts inbound connections refused or failed before
	// the peer was known (TLS failures, bad hellos, unknown sites).
	InboundRefused uint64
}

// Sub returns the counters accumulated since prev; state fields (Connected,
// LastError) are taken from s.
func (s Stats) Sub(prev Stats) Stats {
	out := Stats{Peers: make(map[ID]PeerStats, len(s.Peers)), InboundRefused: s.InboundRefused - prev.InboundRefused}
	for id, p := range s.Peers {
		q := prev.Peers[id]
		p.FramesSent -= q.FramesSent
		p.BytesSent -= q.BytesSent
		p.FramesRecv -= q.FramesRecv
		p.BytesRecv -= q.BytesRecv
		p.Drops -= q.Drops
		p.Connects -= q.Connects
		p.Reconnects -= q.Reconnects
		p.Disconnects -= q.Disconnects
		p.DialFailures -= q.DialFailures
		p.HeartbeatsOut -= q.HeartbeatsOut
		out.Peers[id] = p
	}
	return out
}

// peerCounters are updated by the writer and reader goroutines without a
// lock; Stats reads them atomically.
type peerCounters struct {
	framesSent, bytesSent       atomic.Uint64
	framesRecv, bytesRecv       atomic.Uint64
	drops                       atomic.Uint64
	connects, disconnects       atomic.Uint64
	dialFailures, heartbeatsOut atomic.Uint64
}

func (c *peerCounters) snapshot() PeerStats {
	connects := c.connects.Load()
	return PeerStats{
		FramesSent:    c.framesSent.Load(),
		BytesSent:     c.bytesSent.Load(),
		FramesRecv:    c.framesRecv.Load(),
		BytesRecv:     c.bytesRecv.Load(),
		Drops:         c.drops.Load(),
		Connects:      connects,
		Reconnects:    max(connects, 1) - 1,
		Disconnects:   c.disconnects.Load(),
		DialFailures:  c.dialFailures.Load(),
		HeartbeatsOut: c.heartbeatsOut.Load(),
	}
}
