package rep

import (
	"fmt"
	"sort"
)

// request is the client's one outstanding request (LOG_REQ, VERIFY_REQ,
// UPDATE_REQ or PAGE_REQ) with its retransmission timer: it is re-sent
// after wait ticks without progress, wait doubling from RequestMinTicks
// to RequestMaxTicks (Berkeley DB rep_set_request).
type request struct {
	msg     Message // Type 0: none outstanding
	to      SiteID
	wait    int
	elapsed int
}

// request sends m to to and arms the retransmission timer. A request of a
// new kind starts the back-off over.
func (n *Node) request(m Message, to SiteID) {
	if n.c.req.msg.Type != m.Type {
		n.c.req.wait = n.cfg.RequestMinTicks
	}
	m.To = to
	n.c.req.msg, n.c.req.to, n.c.req.elapsed = m, to, 0
	n.send(m)
}

// clearRequest marks the outstanding request answered.
func (n *Node) clearRequest() {
	n.c.req = request{wait: n.cfg.RequestMinTicks}
	n.c.peerMiss = false
}

// tickRequest re-sends an unanswered request with back-off. A log request
// the peer left unanswered goes to the master instead (rereq).
func (n *Node) tickRequest() {
	r := &n.c.req
	if r.msg.Type == 0 {
		return
	}
	r.elapsed++
	if r.elapsed < r.wait {
		return
	}
	r.wait = min(2*r.wait, n.cfg.RequestMaxTicks)
	n.stats.Retransmits++
	if (r.msg.Type == MsgUpdateReq || r.msg.Type == MsgPageReq) && r.to != n.master {
		// The peer did not answer in time: the init goes to the master.
		n.initRereq()
		return
	}
	if r.msg.Type == MsgLogReq {
		if r.to != n.master {
			n.stats.Rereqs++
			n.c.peerMiss = true
		}
		n.needLog()
		return
	}
	if r.msg.Type == MsgPageReq {
		// Whatever was asked ahead is lost too: ask again as chunks come.
		n.c.initAsked = r.msg.Offset + max(n.c.initStride, 1)
	}
	n.request(r.msg, r.to)
}

// needLog asks for the records after the local last one, up to the first
// buffered record when there is a gap: from the peer (marked anywhere)
// when one is configured and has not failed this need, else the master.
func (n *Node) needLog() {
	m := Message{Type: MsgLogReq, LSN: n.last}
	if len(n.c.buf) > 0 {
		m.Until = n.c.buf[0].LSN
	}
	to := n.master
	if p := n.cfg.Peer; p != 0 && p != n.master && n.sites[p].connected && !n.c.peerMiss {
		to, m.Anywhere = p, true
	}
	n.stats.LogRequested++
	n.request(m, to)
}

// bufferRecord keeps a record that arrived ahead of a gap, bounded by
// GapBufferBytes; dropped records are requested again later.
func (n *Node) bufferRecord(r LogRecord) {
	i := sort.Search(len(n.c.buf), func(i int) bool { return !n.c.buf[i].LSN.Less(r.LSN) })
	if i < len(n.c.buf) && n.c.buf[i].LSN == r.LSN {
		n.stats.LogDuplicated++
		return
	}
	if n.c.bufBytes+len(r.Payload) > n.cfg.GapBufferBytes && len(n.c.buf) > 0 {
		n.stats.LogQueueDropped++
		return
	}
	if len(n.c.buf) == 0 {
		n.stats.Gaps++
	}
	n.c.buf = append(n.c.buf, LogRecord{})
	copy(n.c.buf[i+1:], n.c.buf[i:])
	n.c.buf[i] = r
	n.c.bufBytes += len(r.Payload)
	n.stats.LogQueued++
	n.stats.LogQueuedMax = max(n.stats.LogQueuedMax, uint64(len(n.c.buf)))
}

// drainBuffer appends the buffered records that now continue the log.
func (n *Node) drainBuffer() {
	i := 0
	for ; i < len(n.c.buf); i++ {
		r := n.c.buf[i]
		if !n.last.Less(r.LSN) {
			n.stats.LogDuplicated++
		} else if r.Prev == n.last {
			n.accept(r)
		} else {
			break
		}
		n.c.bufBytes -= len(r.Payload)
	}
	n.c.buf = n.c.buf[i:]
	if len(n.c.buf) == 0 {
		n.c.buf, n.c.bufBytes = nil, 0
	}
}

func (n *Node) dropBuffer() { n.c.buf, n.c.bufBytes = nil, 0 }

// afterLog decides, after a LOG message, whether to request more now,
// leave it to the outstanding request and its timer, or stop asking.
func (n *Node) afterLog(m Message, progress bool) {
	gap, behind := len(n.c.buf) > 0, n.last.Less(n.c.masterLast)
	r := &n.c.req
	if !gap && !behind {
		if r.msg.Type == MsgLogReq {
			n.clearRequest()
		}
		return
	}
	if r.msg.Type != MsgLogReq {
		// A new gap (or a lost tail): ask at once.
		n.needLog()
		return
	}
	switch {
	case progress && !r.msg.Until.IsZero() && !n.last.Less(r.msg.Until):
		// The requested range is filled; what is still missing lies
		// beyond it.
		n.c.req.wait = n.cfg.RequestMinTicks
		n.needLog()
	case m.From == r.to && r.to != n.master && !n.last.Less(m.Last):
		// The peer sent all it has and we still lack records.
		n.rereq()
	}
}

// catchUpIfBehind asks for the log when the master is known to be ahead
// and nothing is outstanding (a lost tail record, a warm reconnect).
func (n *Node) catchUpIfBehind() {
	if (n.c.state == SyncCatchup || n.c.state == SyncReady) && n.c.req.msg.Type == 0 &&
		(n.last.Less(n.c.masterLast) || len(n.c.buf) > 0) {
		n.needLog()
	}
}

// handleLogMore continues a throttled pass from where we are.
func (n *Node) handleLogMore(m Message) {
	if n.c.state != SyncCatchup && n.c.state != SyncReady {
		return
	}
	if m.From == n.master && n.c.masterLast.Less(m.Last) {
		n.c.masterLast = m.Last
	}
	n.c.req.wait = n.cfg.RequestMinTicks
	n.needLog()
}

// handleNotAvail reacts to a site that cannot serve our request: the
// peer's refusal (of a log range or of an init) is re-requested from the
// master at once; the master's "outdated" starts internal init, unless
// the master abandoned an init for us or we are catching up right after
// one, which would only loop (initOutdated).
func (n *Node) handleNotAvail(m Message) {
	if !m.Abandoned && n.c.state != SyncInit && (n.c.req.msg.Type != MsgLogReq || m.LSN != n.c.req.msg.LSN) {
		// The answer to an earlier request (delayed or duplicated on the
		// way), or to one already satisfied: what we need now may well be
		// there. Acting on it could start an init, or fail one, for
		// nothing; a client that caught up and acked records would even
		// re-initialise below them (sim seed 6136).
		n.stats.StaleNotAvail++
		return
	}
	switch {
	case m.From == n.master && m.Abandoned:
		if n.c.state == SyncInit || n.c.state == SyncCatchup && n.c.afterInit {
			n.initFailed(fmt.Errorf("%w: master %d stopped retaining its log for this client's internal init (InitRetainMaxBytes exceeded)",
				ErrInitAbandoned, n.master))
		}
	case m.From == n.master && m.Outdated:
		switch {
		case n.c.state == SyncCatchup && n.c.afterInit:
			n.initOutdated()
		case n.c.state == SyncCatchup || n.c.state == SyncReady || n.c.state == SyncVerify:
			n.startInit()
		}
	case m.From != n.master && n.c.state == SyncInit && m.From == n.c.initFrom:
		n.initRereq()
	case m.From != n.master && n.c.req.msg.Type == MsgLogReq && n.c.req.to == m.From:
		n.rereq()
	}
}

// rereq re-requests the current need from the master.
func (n *Node) rereq() {
	n.stats.Rereqs++
	n.c.peerMiss = true
	n.needLog()
}
