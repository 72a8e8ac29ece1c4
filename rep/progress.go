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
// driver's applier). It is reported to the master on the next ACK. The
// node never acts on it otherwise; on a master it is ignored.
func (n *Node) Applied(at lsn.LSN) {
	if n.role != RoleClient || !n.c.applied.Less(at) {
		return
	}
	n.c.applied = at
	if m := n.pendingAck(); m != nil {
		m.Applied = lsn.Min(at, m.LSN)
		n.c.appliedSent = m.Applied
	}
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
	ap := lsn.Min(n.c.applied, n.durable)
	n.c.appliedSent = ap
	if n.c.ackSent.Less(n.durable) {
		n.c.ackSent = n.durable
	}
	n.stats.AcksSent++
	n.send(Message{Type: MsgAck, To: n.master, LSN: n.durable, Applied: ap, Electability: n.electability()})
}

// noteSent records that recs (non-empty) were shipped to s.
func (n *Node) noteSent(s *siteState, recs []LogRecord) {
	if last := recs[len(recs)-1].LSN; s.sent.Less(last) {
		s.sent = last
	}
}

// noteApplied takes the applied position an ACK carries. It never moves
// back within a generation and never passes our log end.
func (n *Node) noteApplied(s *siteState, m Message) {
	if s.applied.Less(m.Applied) && !n.last.Less(m.Applied) {
		s.applied = m.Applied
	}
}

// forgetInFlight: what was shipped on a broken connection may be lost;
// only what the site acknowledged is known to have arrived.
func (n *Node) forgetInFlight(s *siteState) { s.sent = s.acked }
