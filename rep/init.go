package rep

import "logship/wal/lsn"

// SnapshotReader reads a snapshot the driver took (a file, in env). rep
// reads chunks from it while serving PAGE_REQ.
type SnapshotReader interface {
	ReadAt(p []byte, off int64) (int, error)
}

// masterSnap is the snapshot the master serves for internal init.
type masterSnap struct {
	info SnapInfo
	r    SnapshotReader
}

// startInit begins internal initialization, or fails the join when
// NoAutoInit is configured.
func (n *Node) startInit() {
	n.dropBuffer()
	n.clearRequest()
	if n.cfg.NoAutoInit {
		n.c.state = SyncJoinFailed
		n.stats.JoinFailures++
		n.event(Event{Type: EventJoinFailure, Site: n.master, Gen: n.gen, LSN: n.last})
		return
	}
	n.c.state = SyncInit
	n.c.snap, n.c.initOffset = SnapInfo{}, 0
	n.stats.Inits++
	n.event(Event{Type: EventInitStarted, Site: n.master, Gen: n.gen})
	n.request(Message{Type: MsgUpdateReq}, n.master)
}

// handleUpdate starts (or resumes) receiving the snapshot the master
// describes.
func (n *Node) handleUpdate(m Message) {
	if n.c.state != SyncInit {
		n.stats.MsgsIgnored++
		return
	}
	if n.c.snap.ID != m.Snap.ID || n.c.snap.ID == 0 {
		n.c.snap, n.c.initOffset = *m.Snap, 0
	}
	n.nextChunk()
}

// nextChunk asks for the chunk at the resume offset, or installs the
// snapshot once complete.
func (n *Node) nextChunk() {
	if n.c.initOffset >= n.c.snap.Size {
		n.finishInit()
		return
	}
	snap := n.c.snap
	n.request(Message{Type: MsgPageReq, Snap: &snap, Offset: n.c.initOffset}, n.master)
}

// handlePage stores an in-order chunk and asks for the next one. A chunk
// for another snapshot or offset is a duplicate; NotAvail (the master no
// longer serves this snapshot) starts the init over.
func (n *Node) handlePage(m Message) {
	if n.c.state != SyncInit || n.c.snap.ID == 0 || m.Snap.ID != n.c.snap.ID {
		n.stats.MsgsIgnored++
		return
	}
	if m.NotAvail {
		n.c.snap, n.c.initOffset = SnapInfo{}, 0
		n.request(Message{Type: MsgUpdateReq}, n.master)
		return
	}
	if m.Offset != n.c.initOffset || len(m.Data) == 0 {
		n.stats.PagesDuplicated++
		return
	}
	n.out.chunks = append(n.out.chunks, Chunk{Snap: n.c.snap, Offset: m.Offset, Data: m.Data})
	n.c.initOffset += int64(len(m.Data))
	n.stats.PagesRecv++
	n.stats.PageBytesRecv += uint64(len(m.Data))
	n.c.req.wait = n.cfg.RequestMinTicks
	n.nextChunk()
}

// finishInit asks the driver to install the snapshot; the log continues
// after the snapshot's LSN.
func (n *Node) finishInit() {
	n.clearRequest()
	n.out.install = &Install{Snap: n.c.snap}
	n.out.appends = nil
	n.last, n.durable = n.c.snap.LSN, n.c.snap.LSN
	n.c.ackSent = lsn.Zero
	n.stats.InitsDone++
	n.event(Event{Type: EventInitDone, Site: n.master, Gen: n.gen, LSN: n.c.snap.LSN})
	n.c.state = SyncCatchup
	n.needLog()
	n.maybeAck()
}

// SnapshotTaken gives the master the snapshot it asked for with
// Ready.TakeSnapshot: info.LSN is the last record it reflects, r reads
// its bytes. Every site waiting for init is sent UPDATE.
func (n *Node) SnapshotTaken(info SnapInfo, r SnapshotReader) error {
	if n.role != RoleMaster {
		return ErrNotMaster
	}
	n.m.snapPending = false
	n.m.snap = &masterSnap{info: info, r: r}
	n.stats.SnapshotsTaken++
	for _, s := range n.cfg.Sites {
		if st := n.sites[s.ID]; st.initWait {
			st.initWait = false
			n.serveUpdate(st)
		}
	}
	return nil
}

// serveUpdate answers UPDATE_REQ with the current snapshot, asking the
// driver for one first if there is none. From then until the site has
// caught up, the master retains its log from the snapshot's LSN.
func (n *Node) serveUpdate(s *siteState) {
	if n.m.snap == nil {
		s.initWait = true
		if !n.m.snapPending {
			n.m.snapPending = true
			n.out.takeSnap = true
		}
		return
	}
	info := n.m.snap.info
	if s.initLSN.IsZero() || info.LSN.Less(s.initLSN) {
		s.initLSN = info.LSN
	}
	n.stats.InitsServed++
	n.send(Message{Type: MsgUpdate, To: s.ID, Snap: &info})
}

// servePage answers PAGE_REQ with one chunk of the current snapshot.
func (n *Node) servePage(m Message) {
	ms := n.m.snap
	if ms == nil || ms.info.ID != m.Snap.ID {
		n.send(Message{Type: MsgPage, To: m.From, Snap: m.Snap, Offset: m.Offset, NotAvail: true})
		return
	}
	info := ms.info
	want := min(int64(n.cfg.InitChunkBytes), info.Size-m.Offset)
	if want <= 0 {
		n.send(Message{Type: MsgPage, To: m.From, Snap: &info, Offset: m.Offset, NotAvail: true})
		return
	}
	buf := make([]byte, want)
	if got, _ := ms.r.ReadAt(buf, m.Offset); int64(got) != want {
		n.send(Message{Type: MsgPage, To: m.From, Snap: &info, Offset: m.Offset, NotAvail: true})
		return
	}
	n.stats.PagesSent++
	n.stats.PageBytesSent += uint64(want)
	n.send(Message{Type: MsgPage, To: m.From, Snap: &info, Offset: m.Offset, Data: buf})
}

// releaseInit moves a site's retention point along with its acks and
// drops it once the site has caught up; the snapshot is released when no
// site needs it any more.
func (n *Node) releaseInit(s *siteState) {
	if s.initLSN.IsZero() || s.acked.Less(s.initLSN) {
		return
	}
	s.initLSN = s.acked
	if s.acked.Less(n.last) {
		return
	}
	s.initLSN = lsn.Zero
	for _, o := range n.sites {
		if !o.initLSN.IsZero() || o.initWait {
			return
		}
	}
	if n.m.snap != nil {
		n.out.releaseSnap = n.m.snap.info.ID
		n.m.snap = nil
	}
}

// RetainLSN is the oldest LSN the master must keep in its log for an
// internal init in progress (Zero when none): log archival must not
// remove it or anything after it.
func (n *Node) RetainLSN() lsn.LSN {
	var r lsn.LSN
	if n.role != RoleMaster {
		return r
	}
	for _, s := range n.sites {
		if !s.initLSN.IsZero() && (r.IsZero() || s.initLSN.Less(r)) {
			r = s.initLSN
		}
	}
	return r
}
