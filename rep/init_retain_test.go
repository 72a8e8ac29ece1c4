package rep

import (
	"errors"
	"testing"
)

// retainHarness: site 3 needs internal init from master 1, whose init
// retention is bounded by maxBytes; the chunks to site 3 are held back
// until the returned function is called.
func retainHarness(t *testing.T, maxBytes int64) (*harness, func()) {
	h := archivedHarness(t, func(_ SiteID, c *Config) {
		c.InitChunkBytes = 100
		c.InitRetainMaxBytes = maxBytes
		c.HeartbeatTicks, c.HeartbeatMonitorTicks = 0, 0
	})
	restore := h.dropType(MsgPage, 3)
	h.node(3).n.PeerUp(1)
	h.process(3)
	h.stabilize()
	if r := h.node(1).n.RetainLSN(); r.IsZero() {
		t.Fatal("master does not retain its log from the snapshot")
	}
	return h, restore
}

func TestMasterAbandonsInitPastRetainBoundAndClientFailsClearly(t *testing.T) {
	h, restore := retainHarness(t, 200)
	h.putN(1, 10, "during-init-") // 10 * (14+24) bytes > 200
	// Master side: retention given up, snapshot released, event.
	if r := h.node(1).n.RetainLSN(); !r.IsZero() {
		t.Fatalf("master still retains %s past InitRetainMaxBytes", r)
	}
	if h.node(1).n.sv.snap != nil {
		t.Fatal("snapshot not released")
	}
	if e := h.requireEvent(1, EventInitFailed); e.Site != 3 {
		t.Fatalf("master event %v", e)
	}
	if s := h.node(1).n.Stats(); s.InitsAbandoned != 1 {
		t.Fatalf("InitsAbandoned = %d", s.InitsAbandoned)
	}
	restore()
	h.stabilize()
	h.tick(2 * DefaultConfig().RequestMaxTicks)
	// Client side: a clear error and an event, and no second init.
	st := h.node(3).status
	if st.SyncState != SyncInitFailed || !errors.Is(st.Err, ErrInitAbandoned) {
		t.Fatalf("client status %+v", st)
	}
	h.requireEvent(3, EventInitFailed)
	if s := h.node(3).n.Stats(); s.Inits != 1 || s.InitsFailed != 1 || s.InitsDone != 0 {
		t.Fatalf("client stats %+v", s)
	}
	if h.count(MsgUpdateReq, 3, 1) != 1 {
		t.Fatalf("client asked for init %d times", h.count(MsgUpdateReq, 3, 1))
	}
	// The operator raises the bound and retries with Sync.
	h.node(1).n.cfg.InitRetainMaxBytes = 1 << 20
	if err := h.node(3).n.Sync(); err != nil {
		t.Fatal(err)
	}
	h.process(3)
	h.stabilize()
	h.requireDataEqual(1, 3)
	if st := h.node(3).status; st.Err != nil || st.SyncState != SyncReady {
		t.Fatalf("after Sync: %+v", st)
	}
}

func TestMasterRetainsLogFromSnapshotUntilClientCaughtUp(t *testing.T) {
	h, restore := retainHarness(t, 1<<20)
	snapLSN := h.node(1).n.RetainLSN()
	h.putN(1, 10, "during-init-")
	// Archival honours RetainLSN, so the client's catch-up finds the log.
	h.archive(1, h.node(1).n.Status().RetainLSN)
	if r := h.node(1).n.RetainLSN(); r != snapLSN {
		t.Fatalf("RetainLSN %s, want the snapshot's %s", r, snapLSN)
	}
	restore()
	h.tick(DefaultConfig().RequestMinTicks)
	h.requireDataEqual(1, 3)
	h.requireEvent(3, EventStartupDone)
	if r := h.node(1).n.RetainLSN(); !r.IsZero() || h.node(1).n.sv.snap != nil {
		t.Fatalf("master still retains %s after the client caught up", r)
	}
	if s := h.node(3).n.Stats(); s.Inits != 1 || s.InitsFailed != 0 {
		t.Fatalf("client stats %+v", s)
	}
}

func TestClientOutdatedRightAfterInitFailsInsteadOfLooping(t *testing.T) {
	// InitRetainMaxBytes 0: the master never abandons, but its log is
	// archived past the snapshot anyway (a driver ignoring RetainLSN).
	h, restore := retainHarness(t, 0)
	h.putN(1, 10, "during-init-")
	h.archive(1, h.node(1).log.Last())
	restore()
	h.tick(2 * DefaultConfig().RequestMaxTicks)
	st := h.node(3).status
	if st.SyncState != SyncInitFailed || !errors.Is(st.Err, ErrInitAbandoned) {
		t.Fatalf("client status %+v", st)
	}
	if s := h.node(3).n.Stats(); s.Inits != 1 || s.InitsDone != 1 || s.InitsFailed != 1 {
		t.Fatalf("client stats %+v", s)
	}
}
