package rep

import (
	"testing"
)

// initHalfway: site 3 needs internal init from master 1 and receives
// about half of the snapshot before the chunks to it stop arriving.
func initHalfway(t *testing.T) *harness {
	h := archivedHarness(t, func(_ SiteID, c *Config) {
		c.InitChunkBytes = 20
		c.HeartbeatTicks, c.HeartbeatMonitorTicks = 0, 0
	})
	pages := 0
	h.drop = func(m Message) bool {
		if m.Type == MsgPage && m.To == 3 {
			pages++
			return pages > 5
		}
		return false
	}
	h.node(3).n.PeerUp(1)
	h.process(3)
	h.stabilize()
	h.drop = nil
	if got := len(h.node(3).snapIn); got != 100 {
		t.Fatalf("client holds %d snapshot bytes, want 100", got)
	}
	return h
}

// restart replaces site id's node by a new one over the same log, as a
// restarted process would, with cfg adjusted by opt.
func (h *harness) restart(id SiteID, opt func(*Config)) {
	h.t.Helper()
	cfg := h.node(id).n.cfg
	opt(&cfg)
	n, err := New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.node(id).n = n
}

// A client restarted in the middle of an init resumes the transfer where
// its durable bytes end, when the master still offers the same snapshot,
// instead of copying everything again.
func TestInitResumesAfterClientRestart(t *testing.T) {
	h := initHalfway(t)
	served := h.node(1).n.sv.snap.info
	h.restart(3, func(c *Config) {
		c.Resume = &InitResume{Snap: served, Offset: 100}
	})
	before := len(h.sent)
	h.client(3, 1)
	h.node(3).n.PeerUp(1)
	h.process(3)
	h.stabilize()
	for _, m := range h.sent[before:] {
		if m.Type == MsgPageReq && m.From == 3 && m.Offset < 100 {
			t.Fatalf("the restarted client asked for bytes it had: %v", m)
		}
	}
	h.requireDataEqual(1, 3)
	if s := h.node(3).n.Stats(); s.InitsResumed != 1 || s.PageBytesResumed != 100 || s.InitsDone != 1 {
		t.Fatalf("client stats %+v", s)
	}
}

// A resume point for a snapshot the master no longer offers is ignored:
// the client copies the one offered from its start.
func TestInitResumeOfAnotherSnapshotStartsOver(t *testing.T) {
	h := initHalfway(t)
	served := h.node(1).n.sv.snap.info
	other := served
	other.ID++
	h.node(3).snapIn = h.node(3).snapIn[:0]
	h.restart(3, func(c *Config) {
		c.Resume = &InitResume{Snap: other, Offset: 100}
	})
	h.client(3, 1)
	h.node(3).n.PeerUp(1)
	h.process(3)
	h.stabilize()
	h.requireDataEqual(1, 3)
	if s := h.node(3).n.Stats(); s.InitsResumed != 0 || s.InitsDone != 1 {
		t.Fatalf("client stats %+v", s)
	}
}

// Within a process, an init cut short (the source stopped serving, the
// master changed) resumes when the same snapshot is offered again.
func TestInitResumesAfterNotAvail(t *testing.T) {
	h := initHalfway(t)
	n := h.node(3).n
	n.keepPartial()
	n.c.snap = SnapInfo{} // as requestUpdate leaves it
	n.requestUpdate()
	h.process(3)
	h.stabilize()
	h.requireDataEqual(1, 3)
	if s := n.Stats(); s.InitsResumed != 1 {
		t.Fatalf("client stats %+v", s)
	}
}

// The master shows how far each init it serves got, and deletes the
// snapshot as soon as the client installed it, even when it writes
// nothing more that would carry the client past it.
func TestMasterShowsInitProgressAndReleasesSnapshotOnceInstalled(t *testing.T) {
	h := initHalfway(t)
	var x SiteStatus
	for _, s := range h.node(1).n.Sites() {
		if s.ID == 3 {
			x = s
		}
	}
	size := h.node(1).n.sv.snap.info.Size
	// The client got 100 bytes; the master sent those and the window
	// asked ahead of them (lost).
	if x.InitSent < 100 || x.InitSent > 100+initWindow*20 || x.InitSize != size {
		t.Fatalf("master shows %d/%d sent to site 3, want 100-%d/%d", x.InitSent, x.InitSize, 100+initWindow*20, size)
	}
	h.tick(2 * DefaultConfig().RequestMaxTicks) // the client asks again
	h.stabilize()
	h.requireDataEqual(1, 3)
	if h.node(1).n.sv.snap != nil {
		t.Fatal("the master still holds the snapshot after the client installed it")
	}
	for _, s := range h.node(1).n.Sites() {
		if s.ID == 3 && (s.InitSent != 0 || s.InitSize != 0) {
			t.Fatalf("master still shows an init to site 3: %+v", s)
		}
	}
}

// A client copying a snapshot keeps initWindow chunks asked ahead of the
// one it waits for, so the link does not idle a round trip per chunk.
func TestInitAsksChunksAhead(t *testing.T) {
	h := archivedHarness(t, func(_ SiteID, c *Config) { c.InitChunkBytes = 20 })
	h.node(3).n.PeerUp(1)
	h.process(3)
	h.stabilize()
	h.requireDataEqual(1, 3)
	// Between the first chunk and the second, the client asks for the
	// next initWindow chunks at once.
	var pages, asked int
	var offsets []int64
	for _, m := range h.sent {
		switch {
		case m.Type == MsgPage && m.To == 3:
			pages++
		case m.Type == MsgPageReq && m.From == 3:
			offsets = append(offsets, m.Offset)
			if pages == 1 {
				asked++
			}
		}
	}
	if asked != initWindow {
		t.Fatalf("after the first chunk the client asked %d more at once, want %d (requests %v)", asked, initWindow, offsets)
	}
	seen := map[int64]bool{}
	for i, o := range offsets {
		if seen[o] || i > 0 && o != offsets[i-1]+20 {
			t.Fatalf("chunk requests %v: want each offset once, in order", offsets)
		}
		seen[o] = true
	}
}

// The chunks a client asks ahead hold at most a few MiB however large
// the sender's chunks, and at least a few chunks however small.
func TestInitWindowBoundedInBytes(t *testing.T) {
	for _, stride := range []int64{1, 20, 64 << 10, 256 << 10, 1 << 20, MaxChunkBytes} {
		n := initAhead(stride)
		if n < initMinWindow || n > initWindow || n > initMinWindow && n*stride > initWindowBytes {
			t.Fatalf("chunks of %d bytes: %d asked ahead (%d bytes)", stride, n, n*stride)
		}
	}
	if initAhead(256<<10) != initWindow {
		t.Fatalf("default chunks of 256 KiB: %d asked ahead, want %d", initAhead(256<<10), initWindow)
	}
}
