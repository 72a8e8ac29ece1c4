package elect

import (
	"math/rand/v2"
	"testing"

	"logship/wal/lsn"
)

func TestStartupElectsOneMasterFollowedByAll(t *testing.T) {
	h := newHarness(t, 3)
	h.startAll()
	m := h.tickUntilMaster(50) // every site up: no full-election wait
	if !h.hasEvent(m, EventElected) {
		t.Fatalf("site %d master without EventElected", m)
	}
	for _, id := range h.ids {
		if id != m && !h.hasEvent(id, EventNewMaster) {
			t.Errorf("site %d: no EventNewMaster", id)
		}
	}
	if g := h.node(m).n.Status().Gen; g != 1 {
		t.Errorf("first master's gen = %d, want 1", g)
	}
}

func TestMostUpToDateSiteWinsOverHigherPriorityLaggard(t *testing.T) {
	h := newHarness(t, 3, withPriority(2, 100), withPriority(3, 10))
	h.setLast(1, 1, 1, 900)
	h.setLast(2, 1, 1, 500) // priority 100 but behind
	h.setLast(3, 1, 1, 900) // as up to date as 1, priority 10
	h.startAll()
	m := h.tickUntilMaster(50)
	if m != 3 {
		t.Fatalf("master = %d, want 3 (most up to date, then priority)\n%s", m, h.dump())
	}
	// Master 3 dies; 1 (up to date, priority 1) beats 2 (priority 100).
	h.crash(3)
	m = h.tickUntilMaster(200)
	if m != 1 {
		t.Fatalf("after crash master = %d, want 1\n%s", m, h.dump())
	}
	if g := h.node(1).n.Status().Gen; g <= 1 {
		t.Errorf("new master gen %d not above the old one", g)
	}
}

func TestLastRecordGenerationOutranksLSN(t *testing.T) {
	h := newHarness(t, 3)
	h.setLast(1, 1, 9, 0) // long log of an old generation
	h.setLast(2, 2, 1, 100)
	h.setLast(3, 1, 1, 0)
	h.startAll()
	if m := h.tickUntilMaster(50); m != 2 {
		t.Fatalf("master = %d, want 2 (newer generation)", m)
	}
}

func TestPriorityZeroSiteNeverWins(t *testing.T) {
	h := newHarness(t, 3, withPriority(3, 0))
	h.setLast(3, 1, 5, 0) // the most up-to-date site cannot win
	h.setLast(1, 1, 2, 0)
	h.setLast(2, 1, 1, 0)
	h.startAll()
	if m := h.tickUntilMaster(50); m != 1 {
		t.Fatalf("master = %d, want 1\n%s", m, h.dump())
	}
	// Only the priority-0 site and one electable site left, which then
	// dies too: no master, ever.
	h.crash(1)
	m := h.tickUntilMaster(300)
	if m != 2 {
		t.Fatalf("master = %d, want 2", m)
	}
	h.crash(2)
	h.ticks(1000)
	if m := h.master(); m != 0 {
		t.Fatalf("site %d became master with only a priority-0 site up", m)
	}
	if h.node(3).n.Stats().ElectionsFailed == 0 {
		t.Fatal("the priority-0 site never tried an election")
	}
}

func TestElectionNeedsMajority(t *testing.T) {
	h := newHarness(t, 5)
	h.startAll()
	m := h.tickUntilMaster(50)
	h.crash(m)
	crashed := 1
	for _, id := range h.ids {
		if id != m && crashed < 3 {
			h.crash(id)
			crashed++
		}
	}
	h.ticks(1000) // 2 of 5 left
	if x := h.master(); x != 0 {
		t.Fatalf("site %d elected by a minority\n%s", x, h.dump())
	}
}

func TestFullElectionWaitsForEverySiteAtStartup(t *testing.T) {
	h := newHarness(t, 3)
	h.setLast(3, 1, 9, 0) // the slow booter has the newest log
	h.crash(3)
	h.start(1, 2)
	h.ticks(100) // a majority is there, but the first election waits
	if m := h.master(); m != 0 {
		t.Fatalf("site %d elected before the full-election wait", m)
	}
	h.restart(3)
	if m := h.tickUntilMaster(50); m != 3 {
		t.Fatalf("master = %d, want 3", m)
	}
}

func TestFullElectionSettlesForMajorityAfterTimeout(t *testing.T) {
	h := newHarness(t, 3)
	h.crash(3)
	h.start(1, 2)
	full := h.node(1).cfg.FullElectionTicks
	h.ticks(full - 5)
	if m := h.master(); m != 0 {
		t.Fatalf("site %d elected before FullElectionTicks", m)
	}
	h.tickUntilMaster(full)
}

func TestSiteHearingCurrentMasterIgnoresCampaign(t *testing.T) {
	h := newHarness(t, 3)
	h.startAll()
	m := h.tickUntilMaster(50)
	other := h.ids[0]
	if other == m {
		other = h.ids[1]
	}
	gen := h.node(m).n.Status().Gen
	// other loses its link to the master only and campaigns.
	h.partition(other, m, true)
	if err := h.node(other).n.Campaign(); err != nil {
		t.Fatal(err)
	}
	h.process(other)
	h.ticks(300)
	if x := h.master(); x != m || h.node(m).n.Status().Gen != gen {
		t.Fatalf("master changed to %d: a site hearing the master joined the election\n%s", x, h.dump())
	}
	if h.node(other).n.Stats().ElectionsFailed == 0 {
		t.Fatal("the cut-off site's elections should fail")
	}
	h.partition(other, m, false)
	h.tickUntilMaster(100)
}

func TestStartingSiteFindsExistingMaster(t *testing.T) {
	h := newHarness(t, 3)
	h.crash(3)
	h.start(1, 2)
	m := h.tickUntilMaster(400)
	h.restart(3)
	h.tickUntil("site 3 follows the master", 20, func() bool {
		st := h.node(3).n.Status()
		return st.Role == RoleClient && st.Master == m
	})
	if h.master() != m {
		t.Fatal("master changed when a site joined")
	}
}

func TestElectionRetriesWithBackoffAfterFailure(t *testing.T) {
	h := newHarness(t, 3)
	h.isolate(1, true)
	h.start(1)
	h.ticks(1000)
	st := h.node(1).n.Stats()
	if st.ElectionsFailed < 2 || st.Elections != st.ElectionsFailed+1 && st.Elections != st.ElectionsFailed {
		t.Fatalf("stats %+v: want repeated failed elections", st)
	}
	// Retries are spaced by at least RetryTicks (+ the election itself).
	span := uint64(h.node(1).cfg.ElectionTicks + h.node(1).cfg.RetryTicks)
	if max := 1000/span + 2; st.Elections > max {
		t.Fatalf("%d elections in 1000 ticks, want <= %d (back-off)", st.Elections, max)
	}
}

// A voter persists its vote before sending it; restarted mid-election
// from that state it refuses to vote again in the same election, even for
// a better candidate.
func TestCrashedVoterRestartingMidElectionDoesNotVoteTwice(t *testing.T) {
	cfg := func(id SiteID) Config {
		c := DefaultConfig()
		c.ID, c.Priority, c.Rand, c.FullElectionTicks = id, 1, rand.New(rand.NewPCG(1, uint64(id))), 0
		for _, o := range []SiteID{1, 2, 3} {
			if o != id {
				c.Sites = append(c.Sites, Site{ID: o})
			}
		}
		return c
	}
	n3, err := New(cfg(3), HardState{})
	if err != nil {
		t.Fatal(err)
	}
	vote1 := func(from SiteID, egen uint64, file uint32) Message {
		return Message{V: Version, Type: MsgVote1, From: from, To: 3, EGen: egen,
			LastGen: 1, LastLSN: lsn.New(file, 0), Priority: 1, Electability: Electable}
	}
	n3.Step(vote1(1, 5, 2)) // site 1 campaigns in election 5
	for range cfg(3).VoteWaitTicks {
		n3.Tick()
	}
	rd := n3.Ready()
	if rd.State == nil || rd.State.EGen != 5 || rd.State.VotedFor != 1 {
		t.Fatalf("state %+v: want egen 5 voted for 1 (to persist before sending)", rd.State)
	}
	var sent []Message
	for _, m := range rd.Messages {
		if m.Type == MsgVote2 {
			sent = append(sent, m)
		}
	}
	if len(sent) != 1 || sent[0].To != 1 {
		t.Fatalf("VOTE2s %v: want one for site 1", sent)
	}
	persisted := *rd.State
	// Crash before (or after) the VOTE2 left; restart from the store.
	n3, err = New(cfg(3), persisted)
	if err != nil {
		t.Fatal(err)
	}
	n3.Step(vote1(2, 5, 9)) // a better candidate in the same election
	n3.Step(vote1(1, 5, 2))
	for range 2 * cfg(3).ElectionTicks {
		n3.Tick()
	}
	for _, m := range n3.Ready().Messages {
		if m.Type == MsgVote2 {
			t.Fatalf("restarted voter sent %v in election 5 it already voted in", m)
		}
	}
	if st := n3.Status(); st.VotedFor != 1 && st.EGen == 5 {
		t.Fatalf("vote changed to %d", st.VotedFor)
	}
	// A later election is a new vote.
	n3.Step(vote1(2, 6, 9))
	for range cfg(3).VoteWaitTicks {
		n3.Tick()
	}
	if hs := n3.Ready().State; hs == nil || hs.EGen != 6 || hs.VotedFor != 2 {
		t.Fatalf("state %+v: want a vote for 2 in election 6", hs)
	}
}

func TestCrashedVoterInGroupNeverLetsTwoWinTheSameGeneration(t *testing.T) {
	// The harness fails the test if two sites are master of one gen;
	// crash and restart voters throughout elections.
	for seed := range uint64(50) {
		h := newHarnessSeed(t, seed, 3, tight)
		h.maxDelay = 3
		h.startAll()
		for range 400 {
			h.tick()
			if h.rng.IntN(15) == 0 {
				id := h.ids[h.rng.IntN(3)]
				h.crash(id)
				h.ticks(h.rng.IntN(5))
				h.restart(id)
			}
		}
	}
}

func TestTwoSiteStrictLoneSiteDoesNotElectItself(t *testing.T) {
	h := newHarness(t, 2)
	h.startAll()
	m := h.tickUntilMaster(50)
	h.crash(m)
	h.ticks(1000)
	if x := h.master(); x != 0 {
		t.Fatalf("lone site %d elected itself under TwoSiteStrict", x)
	}
}

func TestTwoSiteNotStrictLoneSiteElectsItself(t *testing.T) {
	h := newHarness(t, 2, func(_ SiteID, c *Config) { c.TwoSiteStrict = false })
	h.startAll()
	m := h.tickUntilMaster(50)
	h.crash(m)
	other := 3 - m
	h.tickUntil("the lone site elects itself", 500, func() bool { return h.master() == other })
}

func TestDupMasterLowerGenerationYields(t *testing.T) {
	h := newHarness(t, 3, func(_ SiteID, c *Config) { c.TwoSiteStrict = false })
	h.startAll()
	old := h.tickUntilMaster(50)
	// Cut the master off; the others elect a new one; the old one still
	// believes it is master.
	h.isolate(old, true)
	h.tickUntil("a second master", 400, func() bool {
		for _, id := range h.ids {
			if id != old && h.node(id).n.Status().Role == RoleMaster {
				return true
			}
		}
		return false
	})
	if h.node(old).n.Status().Role != RoleMaster {
		t.Fatal("old master stepped down without hearing anyone")
	}
	h.isolate(old, false)
	m := h.tickUntilMaster(100)
	if m == old {
		t.Fatalf("old master %d of the lower generation stayed", old)
	}
	if !h.hasEvent(old, EventDupMaster) {
		t.Error("no DupMaster event on the yielding master")
	}
	if !h.hasEvent(m, EventDupMaster) {
		t.Error("no DupMaster event on the master that stayed")
	}
}

func TestDupMasterSameGenerationHigherIDStays(t *testing.T) {
	h := newHarness(t, 3)
	h.handMasters = true
	for _, id := range []SiteID{1, 2} {
		n := h.node(id).n
		n.becomeMaster(7) // as if set up by hand (--master) on both
		h.process(id)
	}
	h.tickUntilMaster(50)
	if m := h.master(); m != 2 {
		t.Fatalf("master = %d, want 2", m)
	}
}

func TestSetPriorityAtRunTime(t *testing.T) {
	h := newHarness(t, 3)
	if err := h.node(1).n.SetPriority(0); err != nil {
		t.Fatal(err)
	}
	if err := h.node(2).n.SetPriority(0); err != nil {
		t.Fatal(err)
	}
	h.startAll()
	if m := h.tickUntilMaster(50); m != 3 {
		t.Fatalf("master = %d, want 3 (the only site left electable)", m)
	}
}

// Sites that start together send their VOTE1s before their connections
// are up, and the transport drops them. When a connection comes up
// (PeerUp) each side sends its VOTE1 again, so the first election ends
// once every site is connected, not when the full-election wait runs
// out; the highest priority wins.
func TestVotesSentBeforeTheConnectionAreResentWhenItComesUp(t *testing.T) {
	h := newHarness(t, 3, withPriority(1, 200))
	h.isolate(1, true)
	h.isolate(2, true)
	h.startAll()
	h.ticks(5)
	for _, pair := range [][2]SiteID{{1, 2}, {1, 3}, {2, 3}} {
		a, b := pair[0], pair[1]
		h.partition(a, b, false)
		h.node(a).n.PeerUp(b)
		h.process(a)
		h.node(b).n.PeerUp(a)
		h.process(b)
	}
	full := h.node(1).cfg.FullElectionTicks
	if m := h.tickUntilMaster(full / 3); m != 1 {
		t.Fatalf("master = %d, want site 1 (priority 200) well before the full-election wait (%d ticks)\n%s", m, full, h.dump())
	}
}

// A master that hears a stale master's claim in every message that master
// had queued answers it once a heartbeat interval, not once a message:
// one DupMaster event and one MASTER, and another after the interval in
// case that one was lost.
func TestStaleClaimsAreAnsweredOnceAHeartbeat(t *testing.T) {
	h := newHarness(t, 3)
	h.handMasters = true
	n := h.node(2).n
	n.becomeMaster(7)
	h.process(2)
	count := func() (events, masters int) {
		rd := n.Ready()
		for _, e := range rd.Events {
			if e.Type == EventDupMaster {
				events++
			}
		}
		for _, m := range rd.Messages {
			if m.Type == MsgMaster && m.To == 1 {
				masters++
			}
		}
		n.Advance(rd)
		return events, masters
	}
	for range 16 {
		n.MasterSeen(1, 5)
	}
	if e, m := count(); e != 1 || m != 1 {
		t.Fatalf("16 claims in one tick: %d DupMaster events, %d MASTER to the claimant; want 1 and 1", e, m)
	}
	if s := n.Stats(); s.DupMasters != 16 {
		t.Fatalf("DupMasters = %d, want every claim counted (16)", s.DupMasters)
	}
	for range h.node(2).cfg.HeartbeatTicks {
		n.Tick()
	}
	n.MasterSeen(1, 5)
	n.MasterSeen(3, 6) // another claimant is answered on its own
	if e, m := count(); e != 2 || m != 1 {
		t.Fatalf("claims a heartbeat later: %d DupMaster events, %d MASTER to site 1; want 2 and 1", e, m)
	}
}
