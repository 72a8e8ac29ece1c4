package rep

import (
	"fmt"
	"testing"
)

func TestDuplicatedAndReorderedInitMessagesAreHarmless(t *testing.T) {
	h := archivedHarness(t, func(_ SiteID, c *Config) { c.InitChunkBytes = 64 })
	seen := map[string]bool{}
	h.drop = func(m Message) bool {
		if m.To == 3 && (m.Type == MsgPage || m.Type == MsgUpdate) {
			k := fmt.Sprint(m.Type, m.Offset)
			if !seen[k] {
				seen[k] = true
				h.queue = append(h.queue, m) // delivered again, later
			}
		}
		return false
	}
	h.node(3).n.PeerUp(1)
	h.process(3)
	h.stabilize()
	h.drop = nil
	h.requireDataEqual(1, 3)
	s := h.node(3).n.Stats()
	if s.InitsDone != 1 || s.PagesDuplicated == 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestSyncOnSynchronisedClientIsNoOp(t *testing.T) {
	h := newHarness(t, 2)
	h.group()
	h.put(1, "a")
	h.stabilize()
	before := len(h.sent)
	if err := h.node(2).n.Sync(); err != nil {
		t.Fatal(err)
	}
	h.process(2)
	h.stabilize()
	if len(h.sent) != before || h.node(2).n.Status().SyncState != SyncReady {
		t.Fatalf("Sync on a ready client sent %d messages, state %s", len(h.sent)-before, h.node(2).n.Status().SyncState)
	}
	if err := h.node(1).n.Sync(); err != ErrNotClient {
		t.Fatalf("Sync on the master: %v", err)
	}
}

func TestNewMasterDuringInitStartsSyncOverWithNewMaster(t *testing.T) {
	h := archivedHarness(t, func(_ SiteID, c *Config) { c.InitChunkBytes = 64 })
	restore := h.dropType(MsgPage, 3)
	h.node(3).n.PeerUp(1)
	h.process(3)
	h.stabilize()
	restore()
	if h.node(3).n.Status().SyncState != SyncInit {
		t.Fatal("not in init")
	}
	h.master(2) // site 2 (up to date) becomes master of a new generation
	h.client(1, 2)
	h.stabilize()
	h.tick(DefaultConfig().RequestMaxTicks)
	h.requireDataEqual(2, 3)
	if st := h.node(3).n.Status(); st.Master != 2 || st.SyncState != SyncReady {
		t.Fatalf("status %+v", st)
	}
	if h.node(1).n.sv.snap != nil || !h.node(1).n.RetainLSN().IsZero() {
		t.Fatal("old master kept its init snapshot / retention after stepping down")
	}
}
