package rep

import "logship/wal/lsn"

// Per-site progress, in the spirit of PostgreSQL's pg_stat_replication:
// for every other site the master knows the newest record it shipped
// there (sent), the newest the site made durable (acked, = flush) and the
// newest the site's readers see (applied). Applied travels on ACK: the
// driver reports it with Applied, and a client whose applied position
// moved without its durable one re-sends its durable LSN with the new
// Applied, at most once per tick, so a busy client adds no message per
// commit. Time-based lag is the driver's business: rep has no clock.

// Applied tells a client the newest record visible to its readers (the
// driver's applier), and the digest of its data there (0 if the driver
// keeps none). Both are reported to the master on the next ACK. The node
// never acts on them otherwise; on a master they are ignored.
func (n *Node) Applied(at lsn.LSN, digest uint64) {
	if n.role != RoleClient || !n.c.applied.Less(at) {
		return
	}
	n.c.applied, n.c.digest = at, digest
	if m := n.pendingAck(); m != nil {
		n.setApplied(m)
	}
}

// setApplied puts the applied position, and its digest when the ACK
// carries that very position, on m.
func (n *Node) setApplied(m *Message) {
	m.Applied = lsn.Min(n.c.applied, m.LSN)
	m.Digest = 0
	if m.Applied == n.c.applied && !m.Applied.IsZero() {
		m.Digest = n.c.digest
	}
	n.c.appliedSent = m.Applied
}

// pendingAck returns the ACK to the master still in the outbox, if any,
// so that a newer position rides on it instead of a second ACK.
func (n *Node) pendingAck() *Message {
	for i := range n.out.msgs {
		if m := &n.out.msgs[i]; m.Type == MsgAck && m.To == n.master && m.Gen == n.gen {
			return m
		}
	}
	return nil
}

// reportApplied re-sends the durable LSN with a newer applied position,
// once per tick at most (it runs on Tick).
func (n *Node) reportApplied() {
	if n.c.state != SyncCatchup && n.c.state != SyncReady || n.durable.IsZero() {
		return
	}
	ap := lsn.Min(n.c.applied, n.durable)
	if !n.c.appliedSent.Less(ap) {
		return
	}
	n.sendAck()
}

// sendAck sends the durable and applied positions to the master.
func (n *Node) sendAck() {
	if n.c.ackSent.Less(n.durable) {
		n.c.ackSent = n.durable
	}
	n.stats.AcksSent++
	m := Message{Type: MsgAck, To: n.master, LSN: n.durable, Electability: n.electability()}
	n.setApplied(&m)
	n.send(m)
}

// noteSent records that recs (non-empty) were shipped to s.
func (n *Node) noteSent(s *siteState, recs []LogRecord) {
	if last := recs[len(recs)-1].LSN; s.sent.Less(last) {
		s.sent = last
	}
}

// noteApplied takes the applied position an ACK carries, with its
// digest. It never moves back within a generation and never passes our
// log end.
func (n *Node) noteApplied(s *siteState, m Message) {
	if s.applied.Less(m.Applied) && !n.last.Less(m.Applied) {
		s.applied, s.appliedDigest = m.Applied, m.Digest
	}
}

// forgetInFlight: what was shipped on a broken connection may be lost;
// only what the site acknowledged is known to have arrived.
func (n *Node) forgetInFlight(s *siteState) { s.sent = s.acked }
