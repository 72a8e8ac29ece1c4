package rep

import "logship/wal/lsn"

// clientState is the client's side of the protocol.
type clientState struct {
	state      SyncState
	masterLast lsn.LSN // newest master LSN heard of
	commit     lsn.LSN // newest commit point heard from the master (commit.go)
	silent     int     // ticks since the master was last heard
	silentSent bool    // EventMasterSilent reported for this silence
	ackSent    lsn.LSN
	// applied: the newest record the driver reported applied (Applied),
	// with the data's digest there; appliedSent: the applied position
	// last put on an ACK.
	applied, appliedSent lsn.LSN
	digest               uint64

	// gap repair (gap.go)
	buf      []LogRecord // records ahead of a gap, sorted by LSN
	bufBytes int
	peerMiss bool // the peer could not serve the current need
	req      request

	// verify (verify.go)
	verifyLSN lsn.LSN
	// diverged: the walk back found a record that differs from the
	// master's; divergedBelow is the record before the oldest such
	// (discard.go).
	diverged      bool
	divergedBelow lsn.LSN

	// internal init (init.go)
	snap         SnapInfo
	initOffset   int64
	initAsked    int64   // chunks are asked up to here (nextChunk)
	initStride   int64   // the sender's chunk size, from its first chunk
	initFrom     SiteID  // the site the snapshot is asked of (peer or master)
	initPeerMiss bool    // the peer could not serve this init
	discard      lsn.LSN // Install.Discard for this init (discard.go)
	afterInit    bool    // catching up after an init, not yet StartupDone
	err          error   // Status.Err: why the client cannot continue
}

func (c *clientState) reset(cfg Config) {
	*c = clientState{}
	c.req.wait = cfg.RequestMinTicks
}

// stepClient handles a message on a client.
func (n *Node) stepClient(m Message) {
	fromMaster := m.From == n.master
	if fromMaster {
		n.c.silent, n.c.silentSent = 0, false
		if n.c.masterLast.Less(m.Last) {
			n.c.masterLast = m.Last
		}
		n.heardCommit(m.Commit)
	}
	switch m.Type {
	case MsgLog:
		n.handleLog(m)
	case MsgLogMore:
		n.handleLogMore(m)
	case MsgLogNotAvail:
		n.handleNotAvail(m)
	case MsgHeartbeat, MsgNewMaster:
		if !fromMaster {
			if m.Type == MsgNewMaster {
				n.event(Event{Type: EventDupMaster, Site: m.From, Gen: m.Gen})
			}
			return
		}
		n.catchUpIfBehind()
		n.checkStartup()
	case MsgVerify, MsgVerifyFail:
		if fromMaster {
			n.handleVerify(m)
		}
	case MsgUpdate:
		n.handleUpdate(m)
	case MsgPage:
		n.handlePage(m)
	case MsgLogReq:
		n.servePeer(m)
	case MsgUpdateReq:
		n.servePeerUpdate(m)
	case MsgPageReq:
		n.stats.ClientSvcReq++
		n.servePage(m)
	case MsgVerifyReq:
		// Only the master serves these; say so, so the sender looks
		// elsewhere.
		n.stats.ClientSvcReq++
		n.stats.ClientSvcMiss++
		n.send(Message{Type: MsgLogNotAvail, To: m.From, LSN: m.LSN})
	default:
		n.stats.MsgsIgnored++
	}
}

// handleLog appends the records that continue the local log, buffers the
// ones ahead of a gap and ignores duplicates, then decides whether to ask
// for more.
func (n *Node) handleLog(m Message) {
	if n.c.state != SyncCatchup && n.c.state != SyncReady {
		// Not synchronised with this master yet: the records are
		// requested again from the sync point.
		n.stats.MsgsIgnored++
		return
	}
	progress := false
	for _, r := range m.Records {
		switch {
		case !n.last.Less(r.LSN):
			n.stats.LogDuplicated++
		case r.Prev == n.last:
			n.accept(r)
			progress = true
		case n.last.Less(r.Prev):
			n.bufferRecord(r)
		default:
			// Prev before our last but LSN after it: not our history.
			n.stats.MsgsIgnored++
		}
	}
	if progress {
		n.drainBuffer()
		n.checkRetain()
		n.c.req.elapsed = 0
	}
	n.afterLog(m, progress)
	n.checkStartup()
}

// accept hands one in-order record to the driver.
func (n *Node) accept(r LogRecord) {
	n.out.appends = append(n.out.appends, r.record())
	n.last = r.LSN
	n.written += uint64(r.record().size())
	n.stats.LogRecords++
	n.stats.LogBytesRecv += uint64(len(r.Payload))
	if n.c.masterLast.Less(r.LSN) {
		n.c.masterLast = r.LSN
	}
}

// maybeAck acknowledges the durable log to the master, coalescing with
// an ACK not yet handed to the driver.
func (n *Node) maybeAck() {
	if n.c.state != SyncCatchup && n.c.state != SyncReady || n.durable.IsZero() || !n.c.ackSent.Less(n.durable) {
		return
	}
	n.c.ackSent = n.durable
	if m := n.pendingAck(); m != nil {
		m.LSN = n.durable
		n.setApplied(m)
		return
	}
	n.sendAck()
}

// checkStartup declares the client caught up once it holds everything the
// master is known to have.
func (n *Node) checkStartup() {
	if n.c.state != SyncCatchup || len(n.c.buf) > 0 || n.last.Less(n.c.masterLast) {
		return
	}
	n.c.state, n.c.afterInit = SyncReady, false
	n.stats.StartupsDone++
	n.event(Event{Type: EventStartupDone, Site: n.master, Gen: n.gen, LSN: n.last})
}

// resume continues a warm connection: ask for what came after our last
// record, without verify.
func (n *Node) resume() {
	if n.c.state == SyncCatchup || n.c.state == SyncReady {
		n.c.peerMiss = false
		n.c.ackSent = lsn.Zero // the last ACK may have been lost with the connection
		n.needLog()
		n.maybeAck()
	}
}

// tickClient runs the heartbeat monitor and the retransmission timer.
func (n *Node) tickClient() {
	n.c.silent++
	if mt := n.cfg.HeartbeatMonitorTicks; mt > 0 && n.c.silent >= mt && !n.c.silentSent {
		n.c.silentSent = true
		n.stats.MasterSilent++
		n.event(Event{Type: EventMasterSilent, Site: n.master, Gen: n.gen})
	}
	n.tickRequest()
	n.reportApplied()
}
