package env

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"logship/rep"
	"logship/rep/transport"
)

// chanNet is a real-time in-memory network for driver tests: each
// endpoint has a buffered inbox; links can be cut (both ends get
// KindConnDown) and restored (KindConnUp); a filter can drop messages.
type chanNet struct {
	mu     sync.Mutex
	eps    map[transport.ID]*chanEP
	down   map[[2]transport.ID]bool
	filter func(from, to transport.ID, m rep.Message) bool // true: drop
}

type chanEP struct {
	net    *chanNet
	id     transport.ID
	inbox  chan transport.Message
	closed bool
}

func newChanNet() *chanNet {
	return &chanNet{eps: map[transport.ID]*chanEP{}, down: map[[2]transport.ID]bool{}}
}

func linkKey(a, b transport.ID) [2]transport.ID {
	if a > b {
		a, b = b, a
	}
	return [2]transport.ID{a, b}
}

// endpoint (re)creates the endpoint of id; peers see the connection up.
func (n *chanNet) endpoint(id transport.ID) *chanEP {
	n.mu.Lock()
	defer n.mu.Unlock()
	ep := &chanEP{net: n, id: id, inbox: make(chan transport.Message, 1<<16)}
	n.eps[id] = ep
	for oid, o := range n.eps {
		if oid != id && !o.closed && !n.down[linkKey(id, oid)] {
			n.post(o, transport.Message{From: id, Kind: transport.KindConnUp})
			n.post(ep, transport.Message{From: oid, Kind: transport.KindConnUp})
		}
	}
	return ep
}

func (n *chanNet) post(ep *chanEP, m transport.Message) bool {
	if ep.closed {
		return false
	}
	select {
	case ep.inbox <- m:
		return true
	default:
		return false
	}
}

// setLink cuts or restores the link between a and b.
func (n *chanNet) setLink(a, b transport.ID, up bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := linkKey(a, b)
	if n.down[k] == !up {
		return
	}
	n.down[k] = !up
	kind := transport.KindConnDown
	if up {
		kind = transport.KindConnUp
	}
	if ea, eb := n.eps[a], n.eps[b]; ea != nil && eb != nil {
		n.post(ea, transport.Message{From: b, Kind: kind})
		n.post(eb, transport.Message{From: a, Kind: kind})
	}
}

func (n *chanNet) setFilter(f func(from, to transport.ID, m rep.Message) bool) {
	n.mu.Lock()
	n.filter = f
	n.mu.Unlock()
}

func (e *chanEP) Send(to transport.ID, body []byte) error {
	n := e.net
	n.mu.Lock()
	defer n.mu.Unlock()
	dst := n.eps[to]
	if e.closed || dst == nil || dst.closed || n.down[linkKey(e.id, to)] {
		return transport.ErrNotConnected
	}
	if n.filter != nil {
		if len(body) > 0 && body[0] == envelopeRep {
			if m, err := rep.Unmarshal(body[1:]); err == nil && n.filter(e.id, to, m) {
				return nil
			}
		}
	}
	if !n.post(dst, transport.Message{From: e.id, Body: body}) {
		return transport.ErrQueueFull
	}
	return nil
}

func (e *chanEP) Broadcast(body []byte) int {
	k := 0
	e.net.mu.Lock()
	var ids []transport.ID
	for id := range e.net.eps {
		ids = append(ids, id)
	}
	e.net.mu.Unlock()
	for _, id := range ids {
		if id != e.id && e.Send(id, body) == nil {
			k++
		}
	}
	return k
}

func (e *chanEP) Recv() <-chan transport.Message { return e.inbox }

func (e *chanEP) Connected(id transport.ID) bool {
	n := e.net
	n.mu.Lock()
	defer n.mu.Unlock()
	o := n.eps[id]
	return o != nil && !o.closed && !n.down[linkKey(e.id, id)]
}

func (e *chanEP) Close() error {
	n := e.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	close(e.inbox)
	for oid, o := range n.eps {
		if oid != e.id && !n.down[linkKey(e.id, oid)] {
			n.post(o, transport.Message{From: e.id, Kind: transport.KindConnDown})
		}
	}
	return nil
}

// repSite is one replicated environment in a driver test.
type repSite struct {
	id     SiteID
	dir    string
	e      *Env
	ep     *chanEP             // the in-memory endpoint, or nil
	tr     transport.Transport // the transport replication runs on
	events chan RepEvent
}

// startRepSite opens (or reopens) the environment in dir with replication
// over net. mod adjusts the replication config.
func startRepSite(t testing.TB, net *chanNet, id SiteID, ids []SiteID, dir string, ecfg Config, mod func(*ReplicationConfig)) *repSite {
	t.Helper()
	e, err := Open(dir, ecfg)
	if err != nil {
		t.Fatalf("site %d: Open: %v", id, err)
	}
	ep := net.endpoint(transport.ID(id))
	return startRepSiteOn(t, &repSite{id: id, dir: dir, e: e, ep: ep, tr: ep, events: make(chan RepEvent, 4096)}, ids, ecfg, mod)
}

// startRepSiteOn starts replication on s.e over s.tr.
func startRepSiteOn(t testing.TB, s *repSite, ids []SiteID, ecfg Config, mod func(*ReplicationConfig)) *repSite {
	t.Helper()
	id := s.id
	rc := DefaultReplicationConfig()
	rc.Transport, rc.ID, rc.Priority, rc.Events = s.tr, id, 1, s.events
	rc.RequestMin = 10 * time.Millisecond
	rc.RequestMax = 100 * time.Millisecond
	rc.Logger = ecfg.Logger
	for _, o := range ids {
		if o != id {
			rc.Sites = append(rc.Sites, Site{ID: o})
		}
	}
	if mod != nil {
		mod(&rc)
	}
	if err := s.e.StartReplication(rc); err != nil {
		t.Fatalf("site %d: StartReplication: %v", id, err)
	}
	t.Cleanup(func() { s.stop() })
	return s
}

// stop closes the environment (replication first) and the transport.
func (s *repSite) stop() {
	_ = s.e.Close()
	_ = s.tr.Close()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		<-tick.C
	}
}

func (s *repSite) status(t testing.TB) RepStatus {
	t.Helper()
	st, err := s.e.RepStatus()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (s *repSite) stats(t testing.TB) RepStats {
	t.Helper()
	st, err := s.e.RepStats()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// waitEvent waits for an event of type typ on s.
func (s *repSite) waitEvent(t testing.TB, within time.Duration, typ EventType) RepEvent {
	t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		select {
		case ev := <-s.events:
			if ev.Type == typ {
				return ev
			}
		case <-timer.C:
			t.Fatalf("site %d: no %s event within %v", s.id, typ, within)
		}
	}
}

// caughtUp waits until s is a ready client holding at least at, applied.
func (s *repSite) caughtUp(t testing.TB, within time.Duration, at Token) {
	t.Helper()
	waitFor(t, within, fmt.Sprintf("site %d to reach %s", s.id, at.LSN), func() bool {
		st := s.status(t)
		return st.SyncState == rep.SyncReady && !st.DurableLSN.Less(at.LSN)
	})
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := s.e.WaitApplied(ctx, Token{LSN: at.LSN}); err != nil {
		t.Fatalf("site %d: WaitApplied: %v", s.id, err)
	}
}

func repPut(t testing.TB, e *Env, key, value string) Token {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := e.Update(ctx, func(tx *Tx) error { return tx.Put("b", []byte(key), []byte(value)) })
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return tok
}

func mustData(t testing.TB, a, b *Env) {
	t.Helper()
	for _, e := range []*Env{a, b} {
		ctx, cancel := context.WithTimeout(context.Background(), within)
		err := e.WaitApplied(ctx, Token{LSN: e.log.Last()})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	da, _ := dump(t, a)
	db, _ := dump(t, b)
	if !equalData(da, db) {
		t.Fatal(diffData(da, db))
	}
}

const within = 20 * time.Second
