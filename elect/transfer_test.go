package elect

import (
	"errors"
	"testing"
)

func TestTransferHandsOverToUpToDateTarget(t *testing.T) {
	h := newHarness(t, 3, withPriority(1, 100), withPriority(3, 50))
	for _, id := range h.ids {
		h.setLast(id, 1, 1, 100)
	}
	h.startAll()
	if m := h.tickUntilMaster(50); m != 1 {
		t.Fatalf("master = %d, want 1", m)
	}
	old := h.node(1).n
	gen := old.Status().Gen
	if err := old.Transfer(2); err != nil {
		t.Fatal(err)
	}
	h.process(1)
	if err := old.WriteErr(); !errors.Is(err, ErrTransferring) {
		t.Fatalf("WriteErr during transfer = %v, want ErrTransferring", err)
	}
	// The driver sees site 2 acknowledge the master's end of log; the
	// master wrote nothing since (it refused writes).
	h.ticks(3)
	old.TransferCaughtUp(2)
	h.process(1)
	h.tickUntil("the target is master", 100, func() bool { return h.master() == 2 })
	if m := h.tickUntilMaster(50); m != 2 {
		t.Fatalf("master = %d, want the target 2\n%s", m, h.dump())
	}
	if g := h.node(2).n.Status().Gen; g <= gen {
		t.Fatalf("target's gen %d not above %d", g, gen)
	}
	if !h.hasEvent(1, EventTransferDone) {
		t.Fatal("no TransferDone on the old master")
	}
	if st := old.Stats(); st.TransfersDone != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTransferTimesOutAndWritesResume(t *testing.T) {
	h := newHarness(t, 3, withPriority(1, 100))
	h.startAll()
	h.tickUntilMaster(50)
	n := h.node(1).n
	if err := n.Transfer(2); err != nil {
		t.Fatal(err)
	}
	h.process(1)
	// Never caught up.
	h.tickUntil("transfer given up", int(n.transferTicks())+1, func() bool { return n.CanWrite() })
	if !h.hasEvent(1, EventTransferFailed) {
		t.Fatal("no TransferFailed")
	}
	if h.master() != 1 {
		t.Fatal("master changed")
	}
}

func TestTransferRejectsBadTargets(t *testing.T) {
	h := newHarness(t, 4, withWitness(4), withPriority(3, 0), withPriority(1, 100))
	h.startAll()
	h.tickUntilMaster(50)
	n := h.node(1).n
	for to, want := range map[SiteID]error{9: ErrUnknownSite, 4: ErrWitness} {
		if err := n.Transfer(to); !errors.Is(err, want) {
			t.Errorf("Transfer(%d) = %v, want %v", to, err, want)
		}
	}
	if err := h.node(2).n.Transfer(1); !errors.Is(err, ErrNotLeader) {
		t.Errorf("Transfer on a client = %v, want ErrNotLeader", err)
	}
}

// A target that cannot stand (priority 0) refuses the handover at once:
// the master hears the refusal and the transfer fails within a round
// trip, not at its deadline, and writes resume.
func TestTransferToPriorityZeroFailsFast(t *testing.T) {
	h := newHarness(t, 3, withPriority(3, 0), withPriority(1, 100))
	h.startAll()
	h.tickUntilMaster(50)
	n := h.node(1).n
	if err := n.Transfer(3); err != nil {
		t.Fatal(err)
	}
	n.TransferCaughtUp(3)
	for range 5 {
		h.tick()
	}
	if !h.hasEvent(1, EventTransferRefused) || !h.hasEvent(1, EventTransferFailed) {
		t.Fatal("no EventTransferRefused and EventTransferFailed five ticks after the priority-0 target got TRANSFER")
	}
	if st := n.Status(); st.Role != RoleMaster || st.TransferTo != 0 || st.WriteErr != nil {
		t.Fatalf("master after the refused transfer: %+v", st)
	}
}
