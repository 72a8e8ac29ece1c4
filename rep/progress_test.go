package rep

import (
	"testing"

	"logship/wal/lsn"
)

func siteView(t *testing.T, n *Node, id SiteID) SiteStatus {
	t.Helper()
	for _, s := range n.Sites() {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("no site %d in %+v", id, n.Sites())
	return SiteStatus{}
}

func TestMasterTracksSentAckedAppliedPerSite(t *testing.T) {
	h := newHarness(t, 3)
	h.group()
	h.node(3).noSync = true // receives, never makes durable
	recs := h.put(1, "a", "b")
	last := recs[1].LSN
	h.stabilize()

	s2 := siteView(t, h.node(1).n, 2)
	if s2.Sent != last || s2.Acked != last || !s2.Applied.IsZero() {
		t.Fatalf("site 2 = %+v, want sent = acked = %s, applied unknown", s2, last)
	}
	s3 := siteView(t, h.node(1).n, 3)
	if s3.Sent != last || !s3.Acked.IsZero() {
		t.Fatalf("site 3 = %+v, want sent %s, nothing acked", s3, last)
	}

	// The applier on site 2 catches up in two steps; each step reaches
	// the master on the next tick, as an ACK repeating the durable LSN.
	acks := h.count(MsgAck, 2, 1)
	h.node(2).n.Applied(recs[0].LSN, 0)
	h.process(2)
	if got := h.count(MsgAck, 2, 1); got != acks {
		t.Fatalf("Applied sent an ACK at once (%d -> %d); want it on the tick", acks, got)
	}
	h.tick(1)
	if got := siteView(t, h.node(1).n, 2).Applied; got != recs[0].LSN {
		t.Fatalf("applied after one tick = %s, want %s", got, recs[0].LSN)
	}
	h.node(2).n.Applied(last, 0)
	h.tick(1)
	if got := siteView(t, h.node(1).n, 2); got.Applied != last || got.Acked != last {
		t.Fatalf("site 2 = %+v, want applied = acked = %s", got, last)
	}
	if got := h.count(MsgAck, 2, 1); got != acks+2 {
		t.Fatalf("ACKs from site 2: %d, want %d (one per applied step)", got, acks+2)
	}
	// Nothing new: no more ACKs.
	h.tick(3)
	if got := h.count(MsgAck, 2, 1); got != acks+2 {
		t.Fatalf("idle ticks sent ACKs: %d, want %d", got, acks+2)
	}
}

func TestAppliedRidesOnThePendingAck(t *testing.T) {
	h := newHarness(t, 2)
	h.group()
	h.node(2).noSync = true
	recs := h.put(1, "a")
	h.stabilize()
	acks := h.count(MsgAck, 2, 1)

	n := h.node(2).n
	n.Persisted(recs[0].LSN)  // queues an ACK
	n.Applied(recs[0].LSN, 0) // joins it
	h.process(2)
	h.stabilize()
	if got := h.count(MsgAck, 2, 1); got != acks+1 {
		t.Fatalf("ACKs: %d, want %d", got, acks+1)
	}
	if s := siteView(t, h.node(1).n, 2); s.Acked != recs[0].LSN || s.Applied != recs[0].LSN {
		t.Fatalf("site 2 = %+v", s)
	}
	h.tick(2)
	if got := h.count(MsgAck, 2, 1); got != acks+1 {
		t.Fatalf("applied reported twice: %d ACKs", got)
	}
}

func TestAppliedNeverReportedPastDurable(t *testing.T) {
	h, first, second := secondUnsynced(t)

	// The driver's applier cannot be ahead of the log's durability; if a
	// driver says so anyway, the ACK must still validate.
	h.node(2).n.Applied(second, 0)
	h.tick(1)
	if s := siteView(t, h.node(1).n, 2); s.Acked != first || s.Applied != first {
		t.Fatalf("site 2 = %+v, want acked = applied = %s", s, first)
	}
}

func TestBrokenConnectionForgetsInFlightRecords(t *testing.T) {
	h, first, second := secondUnsynced(t)
	m := h.node(1).n
	if s := siteView(t, m, 2); s.Sent != second || s.Acked != first {
		t.Fatalf("before: %+v", s)
	}
	m.PeerDown(2)
	if s := siteView(t, m, 2); s.Sent != first {
		t.Fatalf("after PeerDown sent = %s, want the acked %s", s.Sent, first)
	}
}

func TestNewMasterStartsProgressOver(t *testing.T) {
	h := newHarness(t, 2)
	h.group()
	h.put(1, "a")
	h.stabilize()
	h.node(2).n.Applied(h.node(2).log.Last(), 0)
	h.tick(1)
	if s := siteView(t, h.node(1).n, 2); s.Applied.IsZero() || s.Sent.IsZero() {
		t.Fatalf("before: %+v", s)
	}
	h.gen++
	if err := h.node(1).n.BecomeMaster(h.gen); err != nil {
		t.Fatal(err)
	}
	if s := siteView(t, h.node(1).n, 2); s.Sent != lsn.Zero || s.Acked != lsn.Zero || s.Applied != lsn.Zero {
		t.Fatalf("after a new generation: %+v", s)
	}
}

func TestAppliedIgnoredOnMaster(t *testing.T) {
	h := newHarness(t, 2)
	h.group()
	recs := h.put(1, "a")
	h.node(1).n.Applied(recs[0].LSN, 0)
	if rd := h.node(1).n.Ready(); len(rd.Messages) != 0 {
		t.Fatalf("master sent %v on Applied", rd.Messages)
	}
}

// secondUnsynced commits two records on master 1; client 2 syncs the
// first only (the second stays appended, not durable).
func secondUnsynced(t *testing.T) (h *harness, first, second lsn.LSN) {
	t.Helper()
	h = newHarness(t, 2)
	h.group()
	first = h.put(1, "a")[0].LSN
	h.stabilize()
	h.node(2).noSync = true
	second = h.put(1, "b")[0].LSN
	h.stabilize()
	return h, first, second
}
