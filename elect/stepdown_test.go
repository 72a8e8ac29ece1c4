package elect

import (
	"errors"
	"testing"
)

// A master that steps down stops heartbeating (in the harness: its role
// decision is no longer master); the others elect a new master without
// it; it never campaigns or wins while stalled, and rejoins as a client
// once Recovered.
func TestStepDownLetsOthersElectAndRejoinsAfterRecovery(t *testing.T) {
	h := newHarness(t, 3, withPriority(1, 100))
	for _, id := range h.ids {
		h.setLast(id, 1, 1, 100)
	}
	h.startAll()
	if m := h.tickUntilMaster(400); m != 1 {
		t.Fatalf("master = %d, want 1", m)
	}
	old := h.node(1).n
	gen := old.Status().Gen
	old.StepDown()
	h.process(1)
	if st := old.Status(); st.Role != RoleUnknown || st.Master != 0 || !st.Stalled || st.WriteErr == nil {
		t.Fatalf("after StepDown: %+v", st)
	}
	if !h.hasEvent(1, EventSteppedDown) {
		t.Fatal("no SteppedDown event")
	}
	if err := old.Campaign(); !errors.Is(err, ErrStalled) {
		t.Fatalf("Campaign while stalled = %v", err)
	}
	h.tickUntil("another master", 400, func() bool { m := h.master(); return m != 0 && m != 1 })
	nm := h.master()
	if g := h.node(nm).n.Status().Gen; g <= gen {
		t.Fatalf("new master gen %d, old %d", g, gen)
	}
	for range 300 { // several election spans: the stalled site stays out
		h.tick()
		if st := old.Status(); st.Role != RoleUnknown || h.master() != nm {
			t.Fatalf("tick %d: stalled site %+v, master %d\n%s", h.now, st, h.master(), h.dump())
		}
	}
	old.Recovered()
	h.process(1)
	if m := h.tickUntilMaster(200); m != nm {
		t.Fatalf("after recovery the master is %d, want %d\n%s", m, nm, h.dump())
	}
	if st := old.Status(); st.Role != RoleClient || st.Master != nm || st.Stalled {
		t.Fatalf("recovered site: %+v", st)
	}
}

// A stalled site's vote counts as electable at the others, so it goes only
// to a candidate at least as up to date as the stalled site's own log:
// its durable records may hold a commit reported permanent.
func TestStalledSiteVotesOnlyForUpToDateCandidate(t *testing.T) {
	h := masterWithLaggard(t)
	h.node(1).n.StepDown()
	h.process(1)
	h.crash(2)
	h.ticks(400)
	if m := h.master(); m != 0 {
		t.Fatalf("site %d elected with a log behind the stalled site's\n%s", m, h.dump())
	}
	h.restart(2)
	h.tickUntil("site 2 master", 600, func() bool { return h.master() == 2 })
}

// A stalled client votes but never wins, even when it would be the best
// candidate.
func TestStalledClientDoesNotWin(t *testing.T) {
	h := newHarness(t, 3, withPriority(1, 100), withPriority(2, 200))
	h.startAll()
	m := h.tickUntilMaster(400)
	if m != 2 {
		t.Fatalf("master = %d, want 2", m)
	}
	h.node(1).n.StepDown() // a client: only marked stalled
	h.process(1)
	if st := h.node(1).n.Status(); st.Role != RoleClient || !st.Stalled {
		t.Fatalf("stalled client: %+v", st)
	}
	h.crash(2)
	h.tickUntil("site 3 master", 600, func() bool { return h.master() == 3 })
	if h.node(1).n.Status().Role == RoleMaster {
		t.Fatal("stalled client won")
	}
}

// A transfer in progress fails when the master steps down.
func TestStepDownFailsTransfer(t *testing.T) {
	h := newHarness(t, 3, withPriority(1, 100))
	h.startAll()
	h.tickUntilMaster(400)
	n := h.node(1).n
	if err := n.Transfer(2); err != nil {
		t.Fatal(err)
	}
	n.StepDown()
	h.process(1)
	if !h.hasEvent(1, EventTransferFailed) || n.Status().TransferTo != 0 {
		t.Fatalf("transfer after StepDown: events %v status %+v", h.node(1).events, n.Status())
	}
}

// A site set to priority 0 at run time still votes, but like a stalled
// one only for a candidate at least as up to date as itself.
func TestRunTimePriorityZeroVotesOnlyForUpToDateCandidate(t *testing.T) {
	h := masterWithLaggard(t)
	if err := h.node(2).n.SetPriority(0); err != nil {
		t.Fatal(err)
	}
	h.crash(1)
	h.ticks(400)
	if m := h.master(); m != 0 {
		t.Fatalf("site %d elected with a log behind site 2's\n%s", m, h.dump())
	}
	if err := h.node(2).n.SetPriority(1); err != nil {
		t.Fatal(err)
	}
	h.tickUntil("site 2 master", 600, func() bool { return h.master() == 2 })
}

// masterWithLaggard elects site 1 (priority 100) in a group of three and
// gives sites 1 and 2 the log up to 1/300 and site 3 up to 1/100 only.
func masterWithLaggard(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, 3, withPriority(1, 100))
	h.startAll()
	if m := h.tickUntilMaster(400); m != 1 {
		t.Fatalf("master = %d, want 1", m)
	}
	gen := h.node(1).n.Status().Gen
	// Site 2 acknowledged everything; site 3 is behind.
	h.setLast(1, gen, 1, 300)
	h.setLast(2, gen, 1, 300)
	h.setLast(3, gen, 1, 100)
	return h
}
