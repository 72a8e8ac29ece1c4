package elect

import (
	"math/rand/v2"
	"testing"

	"logship/wal/lsn"
)

// Regression tests for bugs the simulator found (rep/sim, election mode).

func followTestNode(t *testing.T, hs HardState, full int) *Node {
	t.Helper()
	c := DefaultConfig()
	c.ID, c.Priority, c.Rand = 1, 1, rand.New(rand.NewPCG(1, 2))
	c.Sites = []Site{{ID: 2}, {ID: 3}}
	c.FullElectionTicks = full
	n, err := New(c, hs)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A restarted site has forgotten the generations it knew; its log's last
// record still says which master wrote it. A master older than that is
// stale, and following it would roll back that newer generation's
// records, commits reported permanent among them (sim seed 179).
func TestRestartedSiteRefusesMasterOlderThanItsLog(t *testing.T) {
	n := followTestNode(t, HardState{EGen: 4}, 0)
	n.UpdateLastRecord(3, lsn.New(1, 100))
	n.Start()
	n.MasterSeen(2, 1)
	if st := n.Status(); st.Role == RoleClient {
		t.Fatalf("followed master 2 of gen 1 with a gen-3 record in its log: %+v", st)
	}
	n.MasterSeen(3, 5)
	if st := n.Status(); st.Role != RoleClient || st.Master != 3 || st.Gen != 5 {
		t.Fatalf("did not follow master 3 of gen 5: %+v", st)
	}
}

// A site that voted in election E does not follow a master older than E:
// the candidate it voted for may have won, and the old master's commits
// acked by this site would be lost to it (sim seed 126).
func TestVoterRefusesOlderMaster(t *testing.T) {
	n := followTestNode(t, HardState{EGen: 2, VotedFor: 3}, 0)
	n.UpdateLastRecord(1, lsn.New(1, 100))
	n.MasterSeen(2, 1)
	if st := n.Status(); st.Role == RoleClient {
		t.Fatalf("a voter of election 2 followed master 2 of gen 1: %+v", st)
	}
	n.MasterSeen(3, 2)
	if st := n.Status(); st.Role != RoleClient || st.Master != 3 {
		t.Fatalf("did not follow the winner of election 2: %+v", st)
	}
}

// The full-election wait after start-up runs once. A site that joined
// ever newer elections restarted it each time, and waiting for a VOTE1
// that a site acting as master never sends, it never voted, so two live
// sites of three could not elect (sim seed 147).
func TestFullElectionWaitRunsOnce(t *testing.T) {
	const full = 300
	n := followTestNode(t, HardState{}, full)
	n.Start() // election 1, full: waits for every site's VOTE1
	voted := func() bool { return n.Status().Voted }
	for i := range full + 50 {
		if i%40 == 0 {
			// Site 2 keeps starting newer elections; site 3 is silent
			// (it is a master that answers VOTE1 with MASTER, or gone).
			egen := n.Status().EGen + 1
			if err := n.Step(Message{V: Version, Type: MsgVote1, From: 2, To: 1, EGen: egen, LastGen: 1,
				LastLSN: lsn.New(1, 50), Priority: 1, Electability: Electable}); err != nil {
				t.Fatal(err)
			}
		}
		n.Advance(n.Ready())
		n.Tick()
		if voted() {
			if i < full-1 {
				t.Fatalf("voted at tick %d, before the full-election wait of %d ticks", i, full)
			}
			return
		}
	}
	t.Fatalf("never voted within %d ticks of start-up: %+v", full+50, n.Status())
}

// The promise outlives newer elections: a site that voted in election 2,
// then entered election 3 (which clears VotedFor), still refuses a
// master of gen 1, across a restart too (sim seed 126).
func TestPromiseOutlivesNewerElections(t *testing.T) {
	n := followTestNode(t, HardState{EGen: 2, VotedFor: 3}, 0)
	n.UpdateLastRecord(1, lsn.New(1, 100))
	if err := n.Step(Message{V: Version, Type: MsgVote1, From: 2, To: 1, EGen: 3, LastGen: 1,
		LastLSN: lsn.New(1, 50), Priority: 1, Electability: Electable}); err != nil {
		t.Fatal(err)
	}
	rd := n.Ready()
	if rd.State == nil || rd.State.EGen != 3 || rd.State.VotedFor != 0 || rd.State.Promised != 2 {
		t.Fatalf("entering election 3 persisted %+v, want EGen 3, no vote, Promised 2", rd.State)
	}
	for _, m := range rd.Messages {
		if m.Type == MsgVote1 && m.Promised != 2 {
			t.Fatalf("VOTE1 carries Promised %d, want 2", m.Promised)
		}
	}
	n.Advance(rd)
	restarted := followTestNode(t, *rd.State, 0)
	for _, node := range []*Node{n, restarted} {
		node.MasterSeen(2, 1)
		if st := node.Status(); st.Role == RoleClient {
			t.Fatalf("followed master 2 of gen 1 after promising election 2: %+v", st)
		}
	}
	if got := restarted.Promised(); got != 2 {
		t.Fatalf("Promised after restart %d, want 2", got)
	}
}

// A vote sets Promised; state persisted before Promised existed (a vote,
// no Promised) derives it from the vote.
func TestVoteSetsPromised(t *testing.T) {
	if n := followTestNode(t, HardState{EGen: 4, VotedFor: 2}, 0); n.Promised() != 4 {
		t.Fatalf("Promised from an old state with a vote in 4: %d", n.Promised())
	}
	n := followTestNode(t, HardState{}, 0)
	n.UpdateLastRecord(1, lsn.New(1, 10))
	n.Start()
	for i := 0; i < 200 && n.Promised() == 0; i++ {
		n.Step(Message{V: Version, Type: MsgVote1, From: 2, To: 1, EGen: n.Status().EGen, LastGen: 1,
			LastLSN: lsn.New(1, 50), Priority: 1, Electability: Electable})
		n.Advance(n.Ready())
		n.Tick()
	}
	if p, eg := n.Promised(), n.Status().EGen; p == 0 || p != eg {
		t.Fatalf("after voting: Promised %d, EGen %d", p, eg)
	}
}

// A master that receives a VOTE1 promising an election newer than its
// generation stands down and takes part: that voter will never ack it
// again, and a newer master may exist. Without it the voters refuse the
// old master forever and never elect (sim seeds 278, 407, 417).
func TestMasterStandsDownForPromisedNewerElection(t *testing.T) {
	n := followTestNode(t, HardState{}, 0)
	n.UpdateLastRecord(1, lsn.New(1, 10))
	n.Start()
	for i := 0; i < 300 && n.Status().Role != RoleMaster; i++ {
		eg := n.Status().EGen
		n.Step(Message{V: Version, Type: MsgVote1, From: 2, To: 1, EGen: eg, LastGen: 0, Priority: 1, Electability: Electable})
		n.Step(Message{V: Version, Type: MsgVote2, From: 2, To: 1, EGen: eg, Electability: Electable})
		n.Advance(n.Ready())
		n.Tick()
	}
	st := n.Status()
	if st.Role != RoleMaster {
		t.Fatalf("did not become master: %+v", st)
	}
	// An ordinary VOTE1 (no newer promise) is answered with MASTER.
	n.Step(Message{V: Version, Type: MsgVote1, From: 3, To: 1, EGen: st.Gen + 1, LastGen: 1, Priority: 1, Electability: Electable})
	if n.Status().Role != RoleMaster {
		t.Fatal("a master stood down for a VOTE1 without a newer promise")
	}
	n.Advance(n.Ready())
	n.Step(Message{V: Version, Type: MsgVote1, From: 3, To: 1, EGen: st.Gen + 2, LastGen: 1, Priority: 1, Electability: Electable, Promised: st.Gen + 1})
	rd := n.Ready()
	if got := n.Status(); got.Role == RoleMaster || !got.Electing || got.EGen != st.Gen+2 {
		t.Fatalf("after a VOTE1 promising election %d: %+v, want standing down into election %d", st.Gen+1, got, st.Gen+2)
	}
	if rd.Role == nil || rd.Role.Role != RoleUnknown {
		t.Fatalf("no RoleUnknown decision for the driver: %+v", rd.Role)
	}
}

// A voter chooses by the log it holds when it votes, not when it joined:
// records it received (and acked to the old master) meanwhile may be
// commits that master reported permanent, and a candidate lacking them
// must not win with its vote (sim seed 1535).
func TestVoterChoosesByItsLogAtVoteTime(t *testing.T) {
	n := followTestNode(t, HardState{}, 0)
	n.UpdateLastRecord(1, lsn.New(1, 100))
	n.Start() // joins election 1 with last record 1/100
	if err := n.Step(Message{V: Version, Type: MsgVote1, From: 2, To: 1, EGen: n.Status().EGen, LastGen: 1,
		LastLSN: lsn.New(1, 200), Priority: 100, Electability: Electable}); err != nil {
		t.Fatal(err)
	}
	n.UpdateLastRecord(1, lsn.New(1, 300)) // more of the old master's records arrived
	for i := 0; i < 100 && !n.Status().Voted; i++ {
		n.Advance(n.Ready())
		n.Tick()
	}
	if st := n.Status(); !st.Voted || st.VotedFor == 2 {
		t.Fatalf("voted %+v: site 2 (last 1/200) is behind this site (1/300)", st)
	}
}

// A site that promised election 5 cannot follow master 5 of generation
// 4, which its lagging membership has as a non-voter (known): its own
// elections must reach that master, whose stand-down (above) is the only
// way the group gets a master the site can follow. It sent its VOTE1s to
// the voters only, who follow the master and ignore them, and started
// elections no one answered for ever (sim seed 303718, mem storage).
func TestElectionReachesKnownNonVoterMaster(t *testing.T) {
	n := followTestNode(t, HardState{EGen: 5, VotedFor: 3, Promised: 5}, 0)
	if err := n.SetSites([]Site{{ID: 2}, {ID: 3}, {ID: 4}}, []SiteID{5}, true); err != nil {
		t.Fatal(err)
	}
	n.UpdateLastRecord(1, lsn.New(1, 10))
	n.Start()
	n.MasterSeen(5, 4)
	if st := n.Status(); st.Role == RoleClient {
		t.Fatalf("followed master 5 of gen 4 after promising election 5: %+v", st)
	}
	for i := 0; i < 1000 && n.Status().EGen <= 5; i++ {
		n.Advance(n.Ready())
		n.Tick()
	}
	rd := n.Ready()
	var to5 *Message
	for i, m := range rd.Messages {
		if m.Type == MsgVote1 && m.To == 5 {
			to5 = &rd.Messages[i]
		}
	}
	if to5 == nil {
		t.Fatalf("election %d sent no VOTE1 to master 5 (known, not a voter here): %v", n.Status().EGen, rd.Messages)
	}
	if to5.Promised != 5 {
		t.Fatalf("the VOTE1 to site 5 carries Promised %d, want 5", to5.Promised)
	}
}
