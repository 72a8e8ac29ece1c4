package rep

import (
	"errors"
	"fmt"

	"logship/wal/lsn"
)

// masterState is the master's side of the protocol.
type masterState struct {
	pending []pendingCommit
	idle    int     // ticks since the master last sent to all clients
	commit  lsn.LSN // the commit point (commit.go)
	// genStart is this master's first record of its own generation; the
	// commit point moves only once that record is on a majority
	// (commit.go).
	genStart lsn.LSN
}

// Appended tells the master that recs were written to its log (not
// necessarily fsynced yet), in order after every earlier record. They are
// shipped at once, so the clients' fsyncs overlap the master's; records
// with Perm are tracked until their ack policy is met or times out.
func (n *Node) Appended(recs []Record) error {
	if n.role != RoleMaster {
		return ErrNotMaster
	}
	if len(recs) == 0 {
		return nil
	}
	wire := make([]LogRecord, 0, len(recs))
	for _, r := range recs {
		if !n.last.Less(r.LSN) {
			return fmt.Errorf("rep: appended record %s does not follow %s", r.LSN, n.last)
		}
		wire = append(wire, LogRecord{LSN: r.LSN, Prev: n.last, Gen: r.Gen, Checksum: r.Checksum, Payload: r.Payload})
		n.last = r.LSN
		n.written += uint64(r.size())
		if n.m.genStart.IsZero() && r.Gen == n.gen {
			n.m.genStart = r.LSN
		}
		if r.Perm {
			n.m.pending = append(n.m.pending, pendingCommit{lsn: r.LSN, deadline: n.now + uint64(n.cfg.AckTimeoutTicks)})
		}
	}
	for _, s := range n.cfg.Sites {
		if n.sites[s.ID].connected {
			n.shipTo(s.ID, wire, n.cfg.BulkBytes, false)
		}
	}
	n.m.idle = 0
	n.checkRetain()
	n.checkPerms()
	return nil
}

// shipTo sends records to one site, packing them into LOG messages of at
// most limit payload bytes (one record per message when bulk is off). A
// record larger than limit travels alone. Live records (served false)
// carry as Last their own last record, so a client does not mistake the
// rest of the same group, still in flight, for a lost tail; served
// records carry the log end, so a catching-up client knows how far to go.
func (n *Node) shipTo(to SiteID, recs []LogRecord, limit int, served bool) {
	var batch []LogRecord
	size := 0
	flush := func() {
		if len(batch) == 0 {
			return
		}
		last := n.last
		if !served {
			last = batch[len(batch)-1].LSN
		}
		n.send(Message{Type: MsgLog, To: to, Records: batch, Last: last, Commit: n.sentCommit()})
		n.noteSent(n.sites[to], batch)
		if len(batch) > 1 {
			n.stats.BulkTransfers++
		}
		batch, size = nil, 0
	}
	for _, r := range recs {
		sz := len(r.Payload) + 24
		if len(batch) > 0 && (!n.cfg.Bulk || limit > 0 && size+sz > limit) {
			flush()
		}
		batch = append(batch, r)
		size += sz
		n.stats.LogRecordsSent++
		n.stats.LogBytesSent += uint64(len(r.Payload))
	}
	flush()
}

// serveLog answers a LOG_REQ from the local log (master, or a client
// serving a peer): the records after m.LSN up to m.Until, at most
// ThrottleBytes in this pass (at least one record); a pass cut short ends
// with LOG_MORE. A range the log cannot start gets LOG_NOTAVAIL, marked
// Outdated when the log was archived past it.
func (n *Node) serveLog(m Message) {
	r, err := n.log.Next(m.LSN)
	if err != nil {
		if m.LSN.Compare(n.last) >= 0 && err == ErrNotFound {
			// Nothing after it yet: tell the requester where we are.
			n.send(Message{Type: MsgLog, To: m.From, Last: n.last})
			return
		}
		n.stats.ReqsMissed++
		damaged := errors.Is(err, ErrLogDamaged)
		if damaged {
			n.stats.LogDamaged++
		}
		n.send(Message{Type: MsgLogNotAvail, To: m.From, LSN: m.LSN, Until: m.Until,
			Outdated: n.role == RoleMaster && (err == ErrLogRemoved || damaged || !m.LSN.IsZero() && m.LSN.Less(n.log.First()))})
		return
	}
	n.stats.ReqsServed++
	var recs []LogRecord
	prev, total := m.LSN, 0
	for {
		if !m.Until.IsZero() && !r.LSN.Less(m.Until) {
			break
		}
		recs = append(recs, LogRecord{LSN: r.LSN, Prev: prev, Gen: r.Gen, Checksum: r.Checksum, Payload: r.Payload})
		prev = r.LSN
		total += r.size()
		if n.cfg.ThrottleBytes > 0 && total >= n.cfg.ThrottleBytes {
			nr, err := n.log.Next(r.LSN)
			if err == nil && (m.Until.IsZero() || nr.LSN.Less(m.Until)) {
				n.shipTo(m.From, recs, n.cfg.BulkBytes, true)
				n.stats.Throttles++
				n.send(Message{Type: MsgLogMore, To: m.From, LSN: r.LSN, Last: n.last})
				return
			}
			break
		}
		if r, err = n.log.Next(r.LSN); err != nil {
			// The records up to here go out; the next request, starting
			// where this one stopped, meets the same error first.
			break
		}
	}
	if len(recs) == 0 {
		n.send(Message{Type: MsgLog, To: m.From, Last: n.last})
		return
	}
	n.shipTo(m.From, recs, n.cfg.BulkBytes, true)
}

// stepMaster handles a message on the master.
func (n *Node) stepMaster(m Message) {
	s := n.sites[m.From]
	switch m.Type {
	case MsgAck:
		n.stats.AcksRecv++
		if s.acked.Less(m.LSN) && !n.last.Less(m.LSN) {
			s.acked = m.LSN
		}
		n.noteApplied(s, m)
		if !s.initLSN.IsZero() {
			n.initInstalled(s, m.LSN)
		}
		if s.initLSN.Less(s.acked) {
			// Only an ack past the snapshot is progress: one of the
			// snapshot LSN itself, with an idle master, would end the init
			// at once, and a client cut off before its first LOG_REQ
			// would then find that log archived and stop with
			// ErrInitAbandoned (sim seed 6957).
			n.initProgress(s, s.acked)
		}
		n.checkPerms()
	case MsgLogReq:
		n.serveLog(m)
	case MsgVerifyReq:
		n.serveVerify(m)
	case MsgNewClient, MsgMasterReq:
		n.send(Message{Type: MsgNewMaster, To: m.From, Last: n.last, Priority: n.cfg.Priority})
		n.checkPerms() // the site may have said it is not electable
	case MsgNewMaster:
		if m.Gen == n.gen {
			n.event(Event{Type: EventDupMaster, Site: m.From, Gen: m.Gen})
		}
	case MsgUpdateReq:
		n.serveUpdate(s)
	case MsgPageReq:
		n.servePage(m)
	default:
		n.stats.MsgsIgnored++
	}
}

// tickMaster sends heartbeats and expires waiting commits.
func (n *Node) tickMaster() {
	n.m.idle++
	if n.cfg.HeartbeatTicks > 0 && n.m.idle >= n.cfg.HeartbeatTicks {
		n.m.idle = 0
		n.stats.HeartbeatsSent++
		n.broadcast(Message{Type: MsgHeartbeat, Last: n.last, Commit: n.sentCommit()})
	}
	n.expirePerms()
}

// serveVerify answers a VERIFY_REQ with the identity of the local record
// at m.LSN, or VERIFY_FAIL when the log no longer reaches back that far.
func (n *Node) serveVerify(m Message) {
	r, err := n.log.Read(m.LSN)
	if errors.Is(err, ErrLogDamaged) {
		n.stats.LogDamaged++
	}
	if first := n.log.First(); err == ErrLogRemoved || errors.Is(err, ErrLogDamaged) || err != nil && (first.IsZero() || m.LSN.Less(first)) {
		n.send(Message{Type: MsgVerifyFail, To: m.From, LSN: m.LSN, Last: n.last})
		return
	}
	reply := Message{Type: MsgVerify, To: m.From, LSN: m.LSN, Last: n.last}
	if err == nil {
		reply.Found, reply.RecGen, reply.Checksum = true, r.Gen, r.Checksum
	}
	n.send(reply)
}
