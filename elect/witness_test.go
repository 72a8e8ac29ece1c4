package elect

import (
	"errors"
	"testing"
)

// Sites 1 and 2 keep data; site 3 is the witness.

func TestWitnessVotesCountsTowardMajorityNeverWins(t *testing.T) {
	h := newHarness(t, 3, withWitness(3))
	h.setLast(1, 1, 1, 0)
	h.setLast(2, 1, 1, 0)
	h.startAll()
	m := h.tickUntilMaster(50)
	if m == 3 {
		t.Fatal("the witness became master")
	}
	h.node(m).n.Mirrored(true)
	h.process(m)
	h.ticks(5)
	h.crash(m)
	other := 3 - m
	// With the witness's vote the other data site wins alone.
	if x := h.tickUntilMaster(300); x != other {
		t.Fatalf("master = %d, want %d", x, other)
	}
	if err := h.node(3).n.Campaign(); err != nil {
		t.Fatal(err)
	}
	if err := h.node(3).n.SetPriority(5); !errors.Is(err, ErrWitness) {
		t.Fatalf("SetPriority on a witness = %v, want ErrWitness", err)
	}
}

func TestWitnessBreaksTieAndRefusesSecondGrant(t *testing.T) {
	h := newHarness(t, 3, withWitness(3))
	h.partition(1, 2, true) // the data sites cannot see each other
	h.startAll()
	full := h.node(1).cfg.FullElectionTicks
	h.tickUntil("a master", full+100, func() bool { return h.master() != 0 })
	m := h.master()
	other := 3 - m
	h.ticks(20)
	mn := h.node(m).n
	if err := mn.WriteErr(); err != nil {
		t.Fatalf("master %d (not mirrored, holding the grant) WriteErr = %v", m, err)
	}
	if w := h.node(3).n.Status().Holder; w != m {
		t.Fatalf("witness grant holder = %d, want %d", w, m)
	}
	// The other site keeps campaigning and never wins.
	h.ticks(500)
	if h.master() != m || h.node(other).n.Status().Role == RoleMaster {
		t.Fatalf("the refused site became master\n%s", h.dump())
	}
	// Asked directly for the grant, the witness refuses, naming the holder.
	w := h.node(3).n
	w.Step(Message{V: Version, Type: MsgGrantReq, From: other, To: 3, EGen: 99, Gen: 99, Stamp: 1})
	var ans *Message
	for _, msg := range w.Ready().Messages {
		if msg.Type == MsgGrant && msg.To == other {
			ans = &msg
		}
	}
	if ans == nil || ans.OK || ans.Holder != m {
		t.Fatalf("answer to a second grant request = %+v, want refused naming %d", ans, m)
	}
	if w.Stats().GrantsRefused == 0 {
		t.Fatal("no refusal counted")
	}
}

func TestNotMirroredMasterWithoutGrantStopsWriting(t *testing.T) {
	h := newHarness(t, 3, withWitness(3))
	h.startAll()
	m := h.tickUntilMaster(50)
	n := h.node(m).n
	h.tickUntil("writable", 20, n.CanWrite)
	h.isolate(m, true) // loses the other data site and the witness
	cfg := h.node(m).cfg
	h.tickUntil("not writable", cfg.GrantTicks, func() bool { return !n.CanWrite() })
	if err := n.WriteErr(); !errors.Is(err, ErrNotMirrored) {
		t.Fatalf("WriteErr = %v, want ErrNotMirrored", err)
	}
}

// The grant holder dies while not mirrored: under the default
// (consistency) the other data site never becomes master, since it may
// lack the holder's commits.
func TestWitnessConsistencyRefusesOtherSiteAfterHolderDies(t *testing.T) {
	h := newHarness(t, 3, withWitness(3))
	h.startAll()
	m := h.tickUntilMaster(50)
	other := 3 - m
	h.partition(m, other, true)
	h.ticks(20) // m runs not mirrored on the witness's grant
	if !h.node(m).n.CanWrite() {
		t.Fatalf("master %d cannot write on the grant", m)
	}
	h.crash(m)
	h.partition(m, other, false)
	h.ticks(1000)
	if x := h.master(); x != 0 {
		t.Fatalf("site %d became master while the dead holder %d kept the grant", x, m)
	}
	// The holder comes back: it wins again (or the other, once mirrored).
	h.restart(m)
	h.tickUntilMaster(400)
}

// Under GrantAfterExpiry (availability) the other data site takes over
// once the dead holder's grant expired.
func TestWitnessAvailabilityGrantsAfterExpiry(t *testing.T) {
	h := newHarness(t, 3, withWitness(3), func(id SiteID, c *Config) {
		if id == 3 {
			c.GrantAfterExpiry = true
		}
	})
	h.startAll()
	m := h.tickUntilMaster(50)
	other := 3 - m
	h.partition(m, other, true)
	h.ticks(20)
	h.crash(m)
	h.partition(m, other, false)
	if x := h.tickUntilMaster(500); x != other {
		t.Fatalf("master = %d, want %d", x, other)
	}
	// The expired holder, restarted, follows the new master.
	h.restart(m)
	h.tickUntilMaster(100)
}

func TestMirroredMasterReleasesGrant(t *testing.T) {
	h := newHarness(t, 3, withWitness(3))
	h.startAll()
	m := h.tickUntilMaster(50)
	h.ticks(5)
	if h.node(3).n.Status().Holder != m {
		t.Fatalf("holder = %d, want %d before mirroring", h.node(3).n.Status().Holder, m)
	}
	h.node(m).n.Mirrored(true)
	h.process(m)
	h.ticks(2)
	if x := h.node(3).n.Status().Holder; x != 0 {
		t.Fatalf("holder = %d after release", x)
	}
	h.crash(m)
	if x := h.tickUntilMaster(300); x != 3-m {
		t.Fatalf("master = %d, want %d", x, 3-m)
	}
}

func TestWitnessGrantSurvivesWitnessRestart(t *testing.T) {
	h := newHarness(t, 3, withWitness(3))
	h.startAll()
	m := h.tickUntilMaster(50)
	h.ticks(5)
	h.crash(3)
	h.restart(3)
	if x := h.node(3).n.Status().Holder; x != m {
		t.Fatalf("restarted witness holder = %d, want %d", x, m)
	}
}
