package rep

import (
	"errors"
	"fmt"

	"logship/wal/lsn"
)

// SnapshotReader reads a snapshot the driver took (a file, in env). rep
// reads chunks from it while serving PAGE_REQ.
type SnapshotReader interface {
	ReadAt(p []byte, off int64) (int, error)
}

// snapServer is the snapshot a site serves for internal init: the master,
// or a client serving its peers (client-to-client init).
type snapServer struct {
	snap    *servedSnap
	pending bool // Ready.TakeSnapshot asked, SnapshotTaken not yet called
}

type servedSnap struct {
	info SnapInfo
	r    SnapshotReader
	mark uint64 // Node.written when the snapshot was taken
}

// ---- Client: receiving an init --------------------------------------------

// startInit begins internal initialization, or fails the join when
// NoAutoInit is configured. The snapshot is asked of the peer first when
// one is configured (client-to-client), else of the master.
func (n *Node) startInit() { n.startInitFrom(true) }

// startInitFrom is startInit; peerOK false skips the peer.
func (n *Node) startInitFrom(peerOK bool) {
	n.dropBuffer()
	n.clearRequest()
	n.c.afterInit, n.c.initPeerMiss = false, !peerOK
	if n.cfg.NoAutoInit {
		n.c.state = SyncJoinFailed
		n.c.err = fmt.Errorf("%w: master %d (gen %d) no longer has the log after %s", ErrJoinFailure, n.master, n.gen, n.last)
		n.stats.JoinFailures++
		n.event(Event{Type: EventJoinFailure, Site: n.master, Gen: n.gen, LSN: n.last})
		return
	}
	d := n.discardPoint()
	if n.refuseDiscard(d, "internal init") {
		return
	}
	n.c.discard = d
	n.c.state = SyncInit
	n.stats.Inits++
	n.event(Event{Type: EventInitStarted, Site: n.master, Gen: n.gen})
	n.requestUpdate()
}

// requestUpdate asks for a snapshot from the start: of the peer (marked
// anywhere) unless it failed this init, else of the master.
func (n *Node) requestUpdate() {
	n.keepPartial()
	n.c.snap, n.c.initOffset = SnapInfo{}, 0
	m, to := Message{Type: MsgUpdateReq}, n.master
	if p := n.cfg.Peer; p != 0 && p != n.master && n.sites[p].connected && !n.c.initPeerMiss {
		to, m.Anywhere = p, true
	}
	n.c.initFrom = to
	n.request(m, to)
}

// initRereq abandons the peer for this init and asks the master
// (rereq): the peer cannot serve, stopped serving, or did not answer.
func (n *Node) initRereq() {
	n.stats.Rereqs++
	n.c.initPeerMiss = true
	n.c.req.wait = n.cfg.RequestMinTicks
	n.requestUpdate()
}

// handleUpdate starts (or resumes) receiving the snapshot the site we
// asked describes.
func (n *Node) handleUpdate(m Message) {
	if n.c.state != SyncInit || m.From != n.c.initFrom {
		n.stats.MsgsIgnored++
		return
	}
	if n.c.snap.ID != m.Snap.ID || n.c.snap.ID == 0 {
		n.c.snap, n.c.initOffset = *m.Snap, 0
		n.c.initAsked, n.c.initStride = 0, 0
		if r := n.partial; r.Snap == *m.Snap && (r.From == 0 || r.From == m.From) && r.Offset > 0 && r.Offset < r.Snap.Size {
			// The same snapshot as one we got part of: go on from
			// there (the driver kept those bytes).
			n.c.initOffset = r.Offset
			n.stats.InitsResumed++
			n.stats.PageBytesResumed += uint64(r.Offset)
		} else {
			// Another snapshot, from its start: its first chunk makes
			// the driver drop what it kept of the old one.
			n.partial = InitResume{}
		}
	}
	n.nextChunk()
}

// keepPartial remembers how far the current transfer got before the
// client asks for a snapshot anew (the sender stopped serving it, the
// master changed), so that it resumes if the same snapshot is offered.
func (n *Node) keepPartial() {
	if n.role == RoleClient && n.c.state == SyncInit && n.c.snap.ID != 0 && n.c.initOffset > 0 && n.c.initOffset < n.c.snap.Size {
		n.partial = InitResume{Snap: n.c.snap, Offset: n.c.initOffset, From: n.c.initFrom}
	}
}

// initWindow is how many chunks a client keeps asked ahead while it
// copies a snapshot: one round trip per chunk would leave the link idle
// between them, and each chunk is still one short turn of the sender's
// loop. Sixteen default chunks (4 MiB) keep a 1 GiB init within 1.5x of
// a raw copy of the file on a loaded machine, where four left both loops
// waiting on each other's scheduling (docs/performance.md); with larger
// chunks the window is bounded by initWindowBytes, but never below
// initMinWindow chunks.
const (
	initWindow      = 16
	initMinWindow   = 4
	initWindowBytes = 4 << 20
)

// initAhead is how many chunks of stride bytes the client keeps asked
// ahead.
func initAhead(stride int64) int64 {
	return max(initMinWindow, min(initWindow, initWindowBytes/max(stride, 1)))
}

// nextChunk asks for the chunk at the resume offset (the one request
// re-sent with back-off) and, once the sender's chunk size is known from
// its first chunk, the next ones up to initAhead chunks ahead; or
// installs the snapshot once complete.
func (n *Node) nextChunk() {
	if n.c.initOffset >= n.c.snap.Size {
		n.finishInit()
		return
	}
	snap := n.c.snap
	m := Message{Type: MsgPageReq, Snap: &snap, Offset: n.c.initOffset, Anywhere: n.c.initFrom != n.master}
	if n.c.initAsked <= n.c.initOffset {
		n.request(m, n.c.initFrom)
		n.c.initAsked = n.c.initOffset + max(n.c.initStride, 1)
	} else {
		// Already asked: the retry, if it comes to one, asks from here.
		n.c.req.msg = m
		n.c.req.msg.To, n.c.req.elapsed = n.c.initFrom, 0
	}
	for stride := n.c.initStride; stride > 0 && n.c.initAsked < snap.Size && n.c.initAsked < n.c.initOffset+initAhead(stride)*stride; n.c.initAsked += stride {
		ahead := m
		ahead.Offset, ahead.To = n.c.initAsked, n.c.initFrom
		n.send(ahead)
	}
}

// handlePage stores an in-order chunk and asks for the next one. A chunk
// from another site, for another snapshot or at another offset is a
// duplicate; NotAvail (the sender no longer serves this snapshot) starts
// the init over, from the master.
func (n *Node) handlePage(m Message) {
	if n.c.state != SyncInit || n.c.snap.ID == 0 || m.From != n.c.initFrom || m.Snap.ID != n.c.snap.ID {
		n.stats.MsgsIgnored++
		return
	}
	if m.NotAvail {
		if m.From != n.master {
			n.initRereq()
			return
		}
		n.requestUpdate()
		return
	}
	if m.Offset != n.c.initOffset || len(m.Data) == 0 {
		n.stats.PagesDuplicated++
		return
	}
	n.out.chunks = append(n.out.chunks, Chunk{Snap: n.c.snap, Offset: m.Offset, Data: m.Data})
	if n.c.initStride == 0 {
		n.c.initStride = int64(len(m.Data))
	}
	n.c.initOffset += int64(len(m.Data))
	n.stats.PagesRecv++
	n.stats.PageBytesRecv += uint64(len(m.Data))
	if m.From != n.master {
		n.stats.PageBytesFromPeer += uint64(len(m.Data))
	}
	n.c.req.wait = n.cfg.RequestMinTicks
	n.nextChunk()
}

// finishInit asks the driver to install the snapshot; the log continues
// after the snapshot's LSN. The driver first keeps the records after
// Discard in a rollback file (discard.go).
func (n *Node) finishInit() {
	n.clearRequest()
	if n.c.discard.Less(n.last) {
		n.stats.InitDiscards++
		n.event(Event{Type: EventRollback, Site: n.master, Gen: n.gen, LSN: n.c.discard})
	}
	n.out.install = &Install{Snap: n.c.snap, Discard: n.c.discard}
	n.partial = InitResume{}
	n.lowerShared(n.c.snap.LSN)
	n.out.appends = nil
	n.last, n.durable = n.c.snap.LSN, n.c.snap.LSN
	n.c.ackSent = lsn.Zero
	n.stats.InitsDone++
	if n.c.initFrom != n.master {
		n.stats.InitsFromPeer++
	}
	n.event(Event{Type: EventInitDone, Site: n.c.initFrom, Gen: n.gen, LSN: n.c.snap.LSN})
	n.c.state = SyncCatchup
	n.c.afterInit = true
	n.needLog()
	n.maybeAck()
}

// InstallFailed tells a client that the driver could not install the
// snapshot of the Ready it is carrying out (call it before Advance of
// that Ready, so that nothing reads the snapshot's position as the log's
// meanwhile): the snapshot was found
// damaged when complete (env's ErrBadSnapshot: its checksum, size or
// header do not hold), the driver dropped it and changed nothing else of
// its log or data for that Ready's Install, and carried out none of its
// Append or Messages (the ACK of the snapshot's position among them: it
// must not be sent). last and durable are the driver's log end and
// durable end, as they were before the init.
//
// The node forgets the install and starts the init over, asking the
// master for a snapshot from its start even when the damaged one came
// from a peer (which may be what is damaged). The records the first
// attempt was to discard are still in the log and are discarded by the
// next. With stop not nil the init is given up instead (the driver is
// about to halt: too many damaged snapshots); the client stops in
// SyncInitFailed with stop as its error and asks for nothing more.
func (n *Node) InstallFailed(last, durable lsn.LSN, stop error) {
	if n.role != RoleClient {
		return
	}
	discard := n.c.discard
	n.stats.InitsBadSnapshot++
	if n.stats.InitsDone > 0 { // counted by finishInit
		n.stats.InitsDone--
		if n.c.initFrom != n.master && n.stats.InitsFromPeer > 0 {
			n.stats.InitsFromPeer--
		}
	}
	n.out.install = nil
	n.out.appends = nil
	n.last, n.durable = last, durable
	n.c.afterInit = false
	n.partial = InitResume{}
	if stop != nil {
		n.initFailed(stop)
		n.c.snap = SnapInfo{}
		return
	}
	n.c.snap = SnapInfo{}
	n.startInitFrom(false)
	if n.c.state == SyncInit {
		// The discard point of the first attempt still holds: the log
		// has not changed since it was chosen.
		n.c.discard = lsn.Min(n.c.discard, discard)
	}
}

// initOutdated handles the master's "outdated" (the log we need is
// archived) during catch-up right after an init. After a peer's snapshot
// the master may simply be older than the peer's snapshot: init again,
// from the master. After a master's snapshot it depends on progress. The
// master retains its log only until the client has caught up to the
// master's end as of the client's first ack past the snapshot, and may
// archive after that while the client still catches up with a busy
// master; a client that got past the snapshot made progress, so a fresh
// init (from a later snapshot) is not a loop. A client that got nothing
// past the snapshot would only loop: it stops with ErrInitAbandoned.
func (n *Node) initOutdated() {
	if n.c.initFrom != n.master || n.c.snap.LSN.Less(n.last) {
		n.startInitFrom(false)
		return
	}
	n.initFailed(fmt.Errorf("%w: master %d no longer has the log after snapshot %s (catch-up exceeded its InitRetainMaxBytes)",
		ErrInitAbandoned, n.master, n.c.snap.LSN))
}

// initFailed stops the client: the init cannot complete. Sync retries.
func (n *Node) initFailed(err error) {
	n.dropBuffer()
	n.clearRequest()
	n.c.state, n.c.err, n.c.afterInit = SyncInitFailed, err, false
	n.stats.InitsFailed++
	n.event(Event{Type: EventInitFailed, Site: n.master, Gen: n.gen, LSN: n.c.snap.LSN})
}

// ---- Serving an init: master, or a client for its peers --------------------

// SnapshotTaken gives the node the snapshot it asked for with
// Ready.TakeSnapshot: info.LSN is the last record it reflects, r reads
// its bytes. Every site waiting for init is sent UPDATE; a snapshot that
// no site waits for any more (the role changed meanwhile) is released at
// once.
func (n *Node) SnapshotTaken(info SnapInfo, r SnapshotReader) error {
	if n.role == RoleNone {
		return ErrNotMaster
	}
	n.sv.pending = false
	waiting := false
	for _, s := range n.sites {
		waiting = waiting || s.initWait
	}
	if !waiting {
		n.out.releaseSnaps = append(n.out.releaseSnaps, info.ID)
		return nil
	}
	if old := n.sv.snap; old != nil && old.info.ID != info.ID {
		n.out.releaseSnaps = append(n.out.releaseSnaps, old.info.ID)
	}
	n.sv.snap = &servedSnap{info: info, r: r, mark: n.written}
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
// caught up, this site retains its log from the snapshot's LSN, for at
// most InitRetainMaxBytes of log written after the snapshot.
func (n *Node) serveUpdate(s *siteState) {
	s.initAbandoned = false
	s.initSent, s.initSize, s.initCopied, s.initInstalled = 0, 0, false, false
	if n.sv.snap == nil {
		s.initWait = true
		if !n.sv.pending {
			n.sv.pending = true
			n.out.takeSnap = true
		}
		return
	}
	info := n.sv.snap.info
	if _, err := n.log.Next(info.LSN); errors.Is(err, ErrLogRemoved) {
		// A snapshot kept from an earlier init whose log after it has
		// been archived since: the client could not catch up from it.
		// Take a new one.
		n.out.releaseSnaps = append(n.out.releaseSnaps, info.ID)
		n.sv.snap = nil
		n.serveUpdate(s)
		return
	}
	if from := retainFrom(info.LSN); s.initLSN.IsZero() || from.Less(s.initLSN) {
		s.initLSN, s.initTarget, s.initMark = from, lsn.Zero, n.sv.snap.mark
	}
	n.stats.InitsServed++
	n.send(Message{Type: MsgUpdate, To: s.ID, Snap: &info})
}

// retainFrom is the retention point for a client initialised from a
// snapshot at snap. A snapshot of an empty log is at Zero, which
// initLSN uses for "not in init": retain from 0/1 instead, before every
// real record (files start at 1), so the whole log is kept.
func retainFrom(snap lsn.LSN) lsn.LSN {
	if snap.IsZero() {
		return lsn.LSN{File: 0, Offset: 1}
	}
	return snap
}

// servePeerUpdate answers an UPDATE_REQ that reached this client: it
// serves a snapshot while synchronised with the same master generation,
// else says LOG_NOTAVAIL and the requester asks the master.
func (n *Node) servePeerUpdate(m Message) {
	n.stats.ClientSvcReq++
	if (n.c.state != SyncCatchup && n.c.state != SyncReady) || m.Gen != n.gen || m.From == n.master {
		n.stats.ClientSvcMiss++
		n.send(Message{Type: MsgLogNotAvail, To: m.From, LSN: m.LSN})
		return
	}
	n.serveUpdate(n.sites[m.From])
}

// servePage answers PAGE_REQ with one chunk of the current snapshot.
// A site whose init was abandoned is told so again.
func (n *Node) servePage(m Message) {
	if s := n.sites[m.From]; s.initAbandoned && n.role == RoleMaster {
		n.sendAbandoned(s)
		return
	}
	ms := n.sv.snap
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
	if s := n.sites[m.From]; s != nil {
		s.initSent, s.initSize = m.Offset+want, info.Size
		s.initCopied = s.initSent == info.Size
	}
	n.send(Message{Type: MsgPage, To: m.From, Snap: &info, Offset: m.Offset, Data: buf})
}

// initProgress moves a site's retention point along with its progress
// (the master: its ACKs; a peer: its LOG_REQs). The first time the site
// is past the snapshot, the target becomes this site's log end; once the
// site reaches it, the init is over and nothing is retained for it.
func (n *Node) initProgress(s *siteState, at lsn.LSN) {
	if s.initLSN.IsZero() || at.Less(s.initLSN) {
		return
	}
	n.initInstalled(s, at)
	if s.initTarget.IsZero() {
		s.initTarget = n.last
	}
	s.initLSN = at
	if at.Less(s.initTarget) {
		return
	}
	s.initLSN, s.initTarget = lsn.Zero, lsn.Zero
	s.initSent, s.initSize = 0, 0
	n.maybeReleaseSnap()
}

// initInstalled notes that a site in init reported a position at or past
// the snapshot after its last chunk went out: it installed the snapshot,
// so the file can go (maybeReleaseSnap) even while the master, idle,
// writes nothing that would carry the site past it.
func (n *Node) initInstalled(s *siteState, at lsn.LSN) {
	if !s.initCopied || s.initInstalled || n.sv.snap == nil || at.Less(n.sv.snap.info.LSN) {
		return
	}
	s.initInstalled = true
	s.initSent, s.initSize = 0, 0
	n.maybeReleaseSnap()
}

// checkRetain abandons every init whose retained log exceeds
// InitRetainMaxBytes: the site stops retaining for it and (the master)
// tells the client, which stops with ErrInitAbandoned instead of
// starting over.
func (n *Node) checkRetain() {
	max := n.cfg.InitRetainMaxBytes
	if max <= 0 {
		return
	}
	for _, c := range n.cfg.Sites {
		s := n.sites[c.ID]
		if s.initLSN.IsZero() || n.written-s.initMark <= uint64(max) {
			continue
		}
		n.stats.InitsAbandoned++
		n.event(Event{Type: EventInitFailed, Site: s.ID, Gen: n.gen, LSN: s.initLSN})
		s.initLSN, s.initTarget, s.initAbandoned = lsn.Zero, lsn.Zero, true
		s.initSent, s.initSize = 0, 0
		if n.role == RoleMaster {
			n.sendAbandoned(s)
		}
		n.maybeReleaseSnap()
	}
}

func (n *Node) sendAbandoned(s *siteState) {
	n.send(Message{Type: MsgLogNotAvail, To: s.ID, Outdated: true, Abandoned: true})
}

// maybeReleaseSnap releases the snapshot when no site needs it any more:
// none waits for one, and every site in init has installed it (its log
// may still be retained for it until it caught up, but not the file).
func (n *Node) maybeReleaseSnap() {
	for _, o := range n.sites {
		if o.initWait || !o.initLSN.IsZero() && !o.initInstalled {
			return
		}
	}
	if n.sv.snap != nil {
		n.out.releaseSnaps = append(n.out.releaseSnaps, n.sv.snap.info.ID)
		n.sv.snap = nil
	}
}

// resetServing forgets every init this site serves (a role change):
// the snapshot is released and nothing is retained any more.
func (n *Node) resetServing() {
	for _, s := range n.sites {
		s.initLSN, s.initTarget, s.initWait, s.initAbandoned = lsn.Zero, lsn.Zero, false, false
		s.initSent, s.initSize, s.initCopied, s.initInstalled = 0, 0, false, false
	}
	if n.sv.snap != nil {
		n.out.releaseSnaps = append(n.out.releaseSnaps, n.sv.snap.info.ID)
	}
	n.sv = snapServer{}
}

// RetainLSN is the oldest LSN this site must keep in its log for an
// internal init it serves (Zero when none): log archival must not remove
// it or anything after it. On the master it covers each client from the
// moment its snapshot is taken until it caught up past it; on a client
// serving its peer, the same, as far as the peer's requests show it.
func (n *Node) RetainLSN() lsn.LSN {
	var r lsn.LSN
	for _, s := range n.sites {
		if !s.initLSN.IsZero() && (r.IsZero() || s.initLSN.Less(r)) {
			r = s.initLSN
		}
	}
	return r
}
