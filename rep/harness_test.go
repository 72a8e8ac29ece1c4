package rep

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"logship/wal/lsn"
)

// The harness runs a group of nodes over MemLogs and a message queue it
// delivers deterministically, carrying out every Ready the way the env
// driver will. Tests read like scripts:
//
//	h := newHarness(t, 3)
//	h.master(1); h.client(2, 1); h.client(3, 1); h.stabilize()
//	h.put(1, "a", "b", "c")
//	h.stabilize()
//	h.requireLogsEqual(1, 2)

type hnode struct {
	id       SiteID
	n        *Node
	log      *MemLog
	noSync   bool     // do not call Persisted after appends
	rollback []Record // the rollback file
	snapIn   []byte   // snapshot being received
	base     []byte   // installed snapshot data (payloads up to its LSN)
	commits  []CommitResult
	events   []Event
	status   Status
	installs []Install // every Ready.Install carried out
	// badInstalls: this many Installs find the snapshot damaged, as
	// env's Install does on a bad checksum: nothing of the Ready after
	// the chunks is carried out, and the driver says InstallFailed.
	badInstalls int
	// preInstall: the messages sent before the first Install carried out.
	preInstall []Message
	// badStatus: the node's status right after each InstallFailed.
	badStatus []Status
}

type harness struct {
	t      *testing.T
	nodes  map[SiteID]*hnode
	ids    []SiteID
	queue  []Message
	drop   func(Message) bool // true: lose the message
	cut    map[[2]SiteID]bool // one-way partitions
	gen    uint64
	snapID uint64
	sent   []Message // every message delivered, for assertions
}

// newHarness creates sites 1..size with priority 1 and small segments;
// opts adjust every site's config.
func newHarness(t *testing.T, size int, opts ...func(id SiteID, c *Config)) *harness {
	t.Helper()
	h := &harness{t: t, nodes: map[SiteID]*hnode{}, cut: map[[2]SiteID]bool{}}
	for i := 1; i <= size; i++ {
		h.ids = append(h.ids, SiteID(i))
	}
	for _, id := range h.ids {
		log := NewMemLog(256)
		cfg := DefaultConfig()
		cfg.ID, cfg.Priority, cfg.Log = id, 1, log
		for _, o := range h.ids {
			if o != id {
				cfg.Sites = append(cfg.Sites, Site{ID: o})
			}
		}
		for _, o := range opts {
			o(id, &cfg)
		}
		n, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		h.nodes[id] = &hnode{id: id, n: n, log: log}
	}
	return h
}

func (h *harness) node(id SiteID) *hnode { return h.nodes[id] }

// master makes id master of a new generation.
func (h *harness) master(id SiteID) {
	h.t.Helper()
	h.gen++
	if err := h.nodes[id].n.BecomeMaster(h.gen); err != nil {
		h.t.Fatal(err)
	}
	h.process(id)
}

// client makes id a client of master at the current generation.
func (h *harness) client(id, master SiteID) {
	h.t.Helper()
	if err := h.nodes[id].n.BecomeClient(master, h.gen); err != nil {
		h.t.Fatal(err)
	}
	h.process(id)
}

// put appends one commit record per payload on the master as one group,
// makes them durable there, and ships them.
func (h *harness) put(id SiteID, payloads ...string) []Record {
	h.t.Helper()
	hn := h.nodes[id]
	var recs []Record
	for _, p := range payloads {
		recs = append(recs, hn.log.Append(hn.n.Status().Gen, []byte(p)))
	}
	if err := hn.n.Appended(recs); err != nil {
		h.t.Fatal(err)
	}
	if !hn.noSync {
		hn.n.Persisted(hn.log.Last())
	}
	h.process(id)
	return recs
}

// putN appends n records "k0".."k(n-1)" in separate groups.
func (h *harness) putN(id SiteID, n int, prefix string) {
	for i := range n {
		h.put(id, fmt.Sprintf("%s%d", prefix, i))
	}
}

// process carries out id's Ready until it has none.
func (h *harness) process(id SiteID) {
	h.t.Helper()
	hn := h.nodes[id]
	for range 100 {
		rd := hn.n.Ready()
		if rd.Empty() {
			return
		}
		if rb := rd.Rollback; rb != nil {
			hn.rollback = append(hn.rollback, hn.log.TruncateAfter(rb.To)...)
		}
		for _, c := range rd.Chunks {
			if c.Offset == 0 {
				hn.snapIn = nil
			}
			if int64(len(hn.snapIn)) != c.Offset {
				h.t.Fatalf("site %d: chunk at %d, have %d bytes", id, c.Offset, len(hn.snapIn))
			}
			hn.snapIn = append(hn.snapIn, c.Data...)
		}
		if rd.Install != nil && hn.badInstalls > 0 {
			hn.badInstalls--
			hn.snapIn = nil
			hn.n.InstallFailed(hn.log.Last(), hn.log.Last(), nil)
			hn.n.Advance(rd)
			hn.badStatus = append(hn.badStatus, hn.n.Status())
			continue
		}
		if in := rd.Install; in != nil {
			// The records after Discard go to the rollback file, as
			// env's Replica.Install writes them.
			for _, r := range hn.log.Records() {
				if in.Discard.Less(r.LSN) {
					hn.rollback = append(hn.rollback, r)
				}
			}
			hn.installs = append(hn.installs, *in)
			hn.base, hn.snapIn = hn.snapIn, nil
			hn.log.Reset(in.Snap.LSN)
		}
		for _, r := range rd.Append {
			if err := hn.log.AppendAt(r); err != nil {
				h.t.Fatalf("site %d: %v", id, err)
			}
		}
		for _, m := range rd.Messages {
			if m.From != id {
				h.t.Fatalf("site %d sent a message from %d", id, m.From)
			}
			// Every message must survive the codec.
			b, err := Marshal(m)
			if err != nil {
				h.t.Fatalf("marshal %v: %v", m, err)
			}
			back, err := Unmarshal(b)
			if err != nil {
				h.t.Fatalf("unmarshal %v: %v", m, err)
			}
			h.queue = append(h.queue, back)
			if len(hn.installs) == 0 {
				hn.preInstall = append(hn.preInstall, back)
			}
		}
		hn.commits = append(hn.commits, rd.Commits...)
		hn.events = append(hn.events, rd.Events...)
		if rd.Status != nil {
			hn.status = *rd.Status
		}
		hn.n.Advance(rd)
		if len(rd.Append) > 0 && !hn.noSync {
			hn.n.Persisted(hn.log.Last())
		}
		if rd.TakeSnapshot {
			h.snapID++
			data := hn.data()
			if err := hn.n.SnapshotTaken(SnapInfo{ID: h.snapID, LSN: hn.log.Last(), Size: int64(len(data))}, bytes.NewReader(data)); err != nil {
				h.t.Fatal(err)
			}
		}
	}
	h.t.Fatalf("site %d: Ready never drained", id)
}

// data is the site's database: the installed snapshot plus its log.
func (hn *hnode) data() []byte {
	d := append([]byte(nil), hn.base...)
	for _, r := range hn.log.Records() {
		d = append(d, r.Payload...)
		d = append(d, ';')
	}
	return d
}

// deliverOne delivers the oldest queued message; false when none.
func (h *harness) deliverOne() bool {
	h.t.Helper()
	if len(h.queue) == 0 {
		return false
	}
	m := h.queue[0]
	h.queue = h.queue[1:]
	if h.cut[[2]SiteID{m.From, m.To}] || h.drop != nil && h.drop(m) {
		return true
	}
	h.sent = append(h.sent, m)
	if err := h.nodes[m.To].n.Step(m); err != nil {
		h.t.Fatal(err)
	}
	h.process(m.To)
	return true
}

// stabilize delivers until no message is in flight.
func (h *harness) stabilize() {
	h.t.Helper()
	for i := 0; h.deliverOne(); i++ {
		if i > 100000 {
			h.t.Fatal("no quiescence after 100000 messages")
		}
	}
}

// tick advances every site by k ticks, delivering after each.
func (h *harness) tick(k int) {
	h.t.Helper()
	for range k {
		for _, id := range h.ids {
			h.nodes[id].n.Tick()
			h.process(id)
		}
		h.stabilize()
	}
}

// partition cuts both directions between a and b; heal restores them.
func (h *harness) partition(a, b SiteID) { h.cut[[2]SiteID{a, b}], h.cut[[2]SiteID{b, a}] = true, true }
func (h *harness) heal()                 { h.cut = map[[2]SiteID]bool{} }

// dropType loses every message of type t to site to until the returned
// function restores delivery.
func (h *harness) dropType(t MsgType, to SiteID) func() {
	h.drop = func(m Message) bool { return m.Type == t && m.To == to }
	return func() { h.drop = nil }
}

// archive removes id's log before at, keeping the removed records' data
// (as a checkpoint into bbolt would).
func (h *harness) archive(id SiteID, at lsn.LSN) {
	hn := h.nodes[id]
	for _, r := range hn.log.Records() {
		if r.LSN.Less(at) {
			hn.base = append(hn.base, r.Payload...)
			hn.base = append(hn.base, ';')
		}
	}
	hn.log.RemoveBefore(at)
}

func (h *harness) requireLogsEqual(a, b SiteID) {
	h.t.Helper()
	la, lb := h.nodes[a].log.Records(), h.nodes[b].log.Records()
	if !slices.EqualFunc(la, lb, sameRecord) {
		h.t.Fatalf("logs differ:\n site %d: %s\n site %d: %s", a, fmtLog(la), b, fmtLog(lb))
	}
}

func (h *harness) requireDataEqual(a, b SiteID) {
	h.t.Helper()
	if da, db := h.nodes[a].data(), h.nodes[b].data(); !bytes.Equal(da, db) {
		h.t.Fatalf("data differ:\n site %d: %q\n site %d: %q", a, da, b, db)
	}
}

func (h *harness) requireEvent(id SiteID, t EventType) Event {
	h.t.Helper()
	for _, e := range h.nodes[id].events {
		if e.Type == t {
			return e
		}
	}
	h.t.Fatalf("site %d: no %s event in %v", id, t, h.nodes[id].events)
	return Event{}
}

func (h *harness) hasEvent(id SiteID, t EventType) bool {
	for _, e := range h.nodes[id].events {
		if e.Type == t {
			return true
		}
	}
	return false
}

func (h *harness) count(t MsgType, from, to SiteID) int {
	c := 0
	for _, m := range h.sent {
		if m.Type == t && (from == 0 || m.From == from) && (to == 0 || m.To == to) {
			c++
		}
	}
	return c
}

func sameRecord(a, b Record) bool {
	return a.LSN == b.LSN && a.Gen == b.Gen && a.Checksum == b.Checksum && bytes.Equal(a.Payload, b.Payload)
}

func fmtLog(rs []Record) string {
	var b bytes.Buffer
	for _, r := range rs {
		fmt.Fprintf(&b, "%s:g%d:%s ", r.LSN, r.Gen, r.Payload)
	}
	return b.String()
}

// group starts master 1 and clients 2..n, all synchronised.
func (h *harness) group() {
	h.master(1)
	for _, id := range h.ids[1:] {
		h.client(id, 1)
	}
	h.stabilize()
}
