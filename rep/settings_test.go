package rep

import (
	"errors"
	"testing"
)

func TestSetPriorityGoesOutInNextAnnouncements(t *testing.T) {
	h := newHarness(t, 3)
	h.group()
	h.node(2).n.SetPriority(7)
	h.node(3).n.SetPriority(0)
	h.master(2) // NEWMASTER to 1 and 3; both follow with NEWCLIENT
	h.stabilize()
	var newMaster, newClient3 *Message
	for i := range h.sent {
		m := &h.sent[i]
		switch {
		case m.Type == MsgNewMaster && m.From == 2 && m.Gen == 2:
			newMaster = m
		case m.Type == MsgNewClient && m.From == 3 && m.To == 2:
			newClient3 = m
		}
	}
	if newMaster == nil || newMaster.Priority != 7 {
		t.Fatalf("NEWMASTER from the new master: %v", newMaster)
	}
	if newClient3 == nil || newClient3.Priority != 0 {
		t.Fatalf("NEWCLIENT from site 3: %v", newClient3)
	}
}

func TestSetDelayClientAtRunTime(t *testing.T) {
	h := newHarness(t, 3)
	h.group()
	h.put(1, "a")
	h.stabilize()
	h.node(3).n.SetDelayClient(true)
	h.master(2) // the next new master: site 3 waits for it
	h.stabilize()
	h.requireEvent(3, EventSyncDelayed)
	if st := h.node(3).n.Status(); st.SyncState != SyncDelayed || st.Master != 2 {
		t.Fatalf("site 3 after the new master: %+v", st)
	}
	h.put(2, "b", "c")
	h.stabilize()
	if got := len(h.node(3).log.Records()); got != 1 {
		t.Fatalf("delayed client holds %d records, want 1", got)
	}
	// Site 1 never delayed: it followed the new master at once.
	h.requireLogsEqual(2, 1)
	h.node(3).n.SetDelayClient(false) // starts the sync, like Sync
	h.process(3)
	h.stabilize()
	h.requireLogsEqual(2, 3)
	h.requireEvent(3, EventStartupDone)
	// Off again while not delayed: nothing happens.
	syncs := h.node(3).n.Stats().Syncs
	h.node(3).n.SetDelayClient(false)
	h.process(3)
	if s := h.node(3).n.Stats().Syncs; s != syncs {
		t.Fatalf("SetDelayClient(false) on a ready client started a sync (%d -> %d)", syncs, s)
	}
}

func TestStepDownSilencesMasterUntilItFollows(t *testing.T) {
	h := newHarness(t, 3)
	h.group()
	h.put(1, "a")
	h.stabilize()
	n1 := h.node(1).n
	n1.StepDown()
	h.process(1)
	if st := n1.Status(); st.Role != RoleNone || st.Master != 0 || st.Gen != 1 {
		t.Fatalf("stepped-down master: %+v", st)
	}
	if err := n1.Appended([]Record{{LSN: h.node(1).log.End(), Gen: 1}}); !errors.Is(err, ErrNotMaster) {
		t.Fatalf("Appended after StepDown: %v", err)
	}
	before := h.count(MsgHeartbeat, 1, 0)
	h.tick(5 * DefaultConfig().HeartbeatTicks)
	if got := h.count(MsgHeartbeat, 1, 0); got != before {
		t.Fatalf("stepped-down master sent %d heartbeats", got-before)
	}
	// The others elect site 2 (here: by hand); site 1 ignores it until
	// told to follow.
	h.master(2)
	h.stabilize()
	if st := n1.Status(); st.Role != RoleNone {
		t.Fatalf("stepped-down site followed on its own: %+v", st)
	}
	h.put(2, "b")
	h.stabilize()
	h.client(1, 2)
	h.stabilize()
	h.requireLogsEqual(2, 1)
	if st := n1.Status(); st.Role != RoleClient || st.SyncState != SyncReady {
		t.Fatalf("after BecomeClient: %+v", st)
	}
	n1.StepDown() // a client: no-op
	if n1.Status().Role != RoleClient {
		t.Fatal("StepDown changed a client")
	}
}

// Permanence counts the master by its configured priority, as the other
// sites' elections do, whatever SetPriority announced.
func TestSetPriorityZeroMasterStillCountsForQuorum(t *testing.T) {
	h := newHarness(t, 3)
	h.group()
	h.node(1).n.SetPriority(0)
	h.partition(1, 3)
	recs := h.put(1, "a")
	h.stabilize()
	if len(h.node(1).commits) == 0 || !h.node(1).commits[len(h.node(1).commits)-1].Permanent ||
		h.node(1).commits[len(h.node(1).commits)-1].LSN != recs[0].LSN {
		t.Fatalf("commit acked by the master and site 2 of 3: %v", h.node(1).commits)
	}
}

// A delayed client told to Sync before it heard its master's generation
// (a restarted site: gen 0) does not fall back to delayed when the
// master's announcement arrives: the Sync applies to it.
func TestSyncBeforeMasterGenerationKnownIsNotLost(t *testing.T) {
	h := newHarness(t, 2, func(id SiteID, c *Config) { c.DelayClient = id == 2 })
	if err := h.node(2).n.BecomeClient(1, 0); err != nil {
		t.Fatal(err)
	}
	h.process(2)
	if st := h.node(2).n.Status(); st.SyncState != SyncDelayed {
		t.Fatalf("restarted delayed client: %+v", st)
	}
	if err := h.node(2).n.Sync(); err != nil {
		t.Fatal(err)
	}
	h.process(2)
	h.master(1)
	h.put(1, "a", "b")
	h.stabilize()
	if st := h.node(2).n.Status(); st.SyncState != SyncReady || st.Gen != h.gen {
		t.Fatalf("after the master's announcement: %+v, want ready at gen %d", st, h.gen)
	}
	h.requireLogsEqual(1, 2)
}
