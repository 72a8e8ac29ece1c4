package rep

import "logship/wal/lsn"

// startSync begins synchronising with the master: find the sync point,
// the newest record both logs share, by asking the master for the
// identity of our last record and walking back until one matches.
func (n *Node) startSync() {
	n.stats.Syncs++
	n.dropBuffer()
	n.clearRequest()
	n.noteShared()
	n.c.diverged, n.c.divergedBelow = false, lsn.Zero
	if n.last.IsZero() {
		// Nothing to verify: everything comes from the master.
		n.syncPoint(lsn.Zero)
		return
	}
	n.c.state = SyncVerify
	n.c.verifyLSN = n.last
	n.stats.VerifyRequests++
	n.request(Message{Type: MsgVerifyReq, LSN: n.last}, n.master)
}

// handleVerify compares the master's identity of the record at verifyLSN
// with ours: a match is the sync point; a mismatch steps back one record,
// or to our last record not past the master's log end;
// no record left, or VERIFY_FAIL (the master archived that far back),
// means the logs do not overlap and the client needs internal init.
func (n *Node) handleVerify(m Message) {
	if n.c.state != SyncVerify || m.LSN != n.c.verifyLSN {
		n.stats.MsgsIgnored++
		return
	}
	if m.Type == MsgVerifyFail {
		n.stats.Outdated++
		n.startInit()
		return
	}
	if m.Found {
		if r, err := n.log.Read(m.LSN); err == nil && r.Gen == m.RecGen && r.Checksum == m.Checksum {
			n.syncPoint(m.LSN)
			return
		}
	}
	prev, err := n.log.Prev(m.LSN)
	// The master's log ends at m.Last: our records past it cannot match,
	// so step over them here rather than ask about each (a deposed
	// master's tail can be long, and each question costs a round trip).
	for err == nil && m.Last.Less(prev) {
		n.stats.VerifySkipped++
		prev, err = n.log.Prev(prev)
	}
	if !n.c.diverged || prev.Less(n.c.divergedBelow) {
		// prev is Zero on error: everything is then in doubt.
		n.c.diverged, n.c.divergedBelow = true, prev
	}
	if err != nil || prev.IsZero() {
		n.stats.Outdated++
		n.startInit()
		return
	}
	n.c.verifyLSN = prev
	n.stats.VerifyRequests++
	n.c.req.wait = n.cfg.RequestMinTicks
	n.request(Message{Type: MsgVerifyReq, LSN: prev}, n.master)
}

// syncPoint rolls back whatever follows s (the driver undoes it and keeps
// the records in the rollback file), then requests the log after s. A
// rollback over MaxRollbackBytes is refused instead (discard.go).
func (n *Node) syncPoint(s lsn.LSN) {
	n.clearRequest()
	if s.Less(n.last) {
		if n.refuseDiscard(s, "rolling back to the sync point") {
			return
		}
		n.lowerShared(s)
		n.out.rollback = &Rollback{To: s, From: n.last}
		n.dropAppendsAfter(s)
		n.stats.Rollbacks++
		n.event(Event{Type: EventRollback, Site: n.master, Gen: n.gen, LSN: s})
		n.last = s
		n.durable = lsn.Min(n.durable, s)
	}
	n.stats.SyncPoint = s
	n.c.state = SyncCatchup
	n.needLog()
	n.maybeAck()
}

// dropAppendsAfter removes from the outbox appends a rollback or install
// supersedes.
func (n *Node) dropAppendsAfter(s lsn.LSN) {
	keep := n.out.appends[:0]
	for _, r := range n.out.appends {
		if !s.Less(r.LSN) {
			keep = append(keep, r)
		}
	}
	n.out.appends = keep
}
