package elect

import (
	"errors"
	"math/rand/v2"
	"testing"

	"logship/wal/lsn"
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

// A site's class is fixed at its first start: restarted with priority 0
// after it was counted as electable, it still keeps the vote floor (its
// acks may have made commits permanent that only it and the master
// hold), so the laggard is not elected.
func TestRestartWithPriorityZeroKeepsElectableClass(t *testing.T) {
	h := masterWithLaggard(t)
	h.crash(2)
	h.nodes[2].cfg.Priority = 0
	h.restart(2)
	if got := h.node(2).n.Electability(); got != Electable {
		t.Fatalf("site 2 restarted with priority 0: class %s, want electable (fixed at its first start)", got)
	}
	h.crash(1)
	h.ticks(400)
	if m := h.master(); m != 0 {
		t.Fatalf("site %d elected with a log behind site 2's\n%s", m, h.dump())
	}
}

// A site first started with priority 0 is unelectable for good, and says
// so in its votes; persisted in its first Ready.
func TestFirstStartFixesClass(t *testing.T) {
	for _, tc := range []struct {
		pri  uint32
		want Electability
	}{{0, Unelectable}, {5, Electable}} {
		c := DefaultConfig()
		c.ID, c.Priority, c.Rand = 1, tc.pri, rand.New(rand.NewPCG(1, 2))
		c.Sites = []Site{{ID: 2}, {ID: 3}}
		n, err := New(c, HardState{})
		if err != nil {
			t.Fatal(err)
		}
		rd := n.Ready()
		if rd.State == nil || rd.State.Electability != tc.want {
			t.Fatalf("priority %d: first Ready.State %+v, want class %s", tc.pri, rd.State, tc.want)
		}
		n.Advance(rd)
		n.Start()
		rd = n.Ready()
		for _, m := range rd.Messages {
			if m.Type == MsgVote1 && m.Electability != tc.want {
				t.Fatalf("priority %d: VOTE1 says %s, want %s", tc.pri, m.Electability, tc.want)
			}
		}
	}
}

// A VOTE2 counts toward the electable quorum only when its voter says it
// is electable, and a voter that did not say counts in the number of
// electable sites: in a group of three whose third site is silent, the
// candidate needs an electable vote besides its own, unless the voter
// said it is unelectable (then the electable sites are the candidate and
// the silent one, and the candidate's own vote meets their majorities).
func TestVoteCountsAsElectableOnlyWhenItSaysSo(t *testing.T) {
	for _, tc := range []struct {
		class Electability
		win   bool
	}{{ElectabilityUnknown, false}, {Unelectable, true}, {Electable, true}} {
		n := followTestNode(t, HardState{}, 0)
		n.UpdateLastRecord(1, lsn.New(1, 10))
		n.Start()
		for i := 0; i < 50 && n.Status().Role != RoleMaster; i++ {
			eg := n.Status().EGen
			n.Step(Message{V: Version, Type: MsgVote1, From: 2, To: 1, EGen: eg, LastGen: 0, Priority: 1, Electability: tc.class})
			n.Step(Message{V: Version, Type: MsgVote2, From: 2, To: 1, EGen: eg, Electability: tc.class})
			n.Advance(n.Ready())
			n.Tick()
		}
		if got := n.Status().Role == RoleMaster; got != tc.win {
			t.Errorf("VOTE2 from a voter saying %s: won %t, want %t", tc.class, got, tc.win)
		}
	}
}
