package rep

import (
	"errors"
	"testing"

	"logship/wal/lsn"
)

// perm reports whether the newest commit reported on the master is
// permanent, and clears the list.
func lastPerm(h *harness, id SiteID) (CommitResult, bool) {
	hn := h.node(id)
	if len(hn.commits) == 0 {
		return CommitResult{}, false
	}
	c := hn.commits[len(hn.commits)-1]
	hn.commits = nil
	return c, true
}

// TestSetSitesQuorumFollowsMembership: the master counts only the
// voting members it is given, from the call on: a non-voting member's
// ack never counts under any policy, a removed site's neither, an added
// voter's does, and a removal that shrinks the majority makes a waiting
// commit permanent at once.
func TestSetSitesQuorumFollowsMembership(t *testing.T) {
	h := newHarness(t, 5, func(id SiteID, c *Config) { c.AckPolicy = AckQuorum })
	h.group()
	m := h.node(1).n
	// Sites 4 and 5 cut off: {1,2,3} is a majority of 5.
	for _, id := range []SiteID{4, 5} {
		h.partition(1, id)
	}
	h.put(1, "a")
	h.stabilize()
	if c, ok := lastPerm(h, 1); !ok || !c.Permanent {
		t.Fatalf("quorum of 3 of 5: %+v %t", c, ok)
	}
	// 2 and 3 become non-voting: 1 alone of the voters {1,4,5} is no
	// majority, whatever 2 and 3 ack.
	if err := m.SetSites([]Site{{ID: 2, NonVoting: true}, {ID: 3, NonVoting: true}, {ID: 4}, {ID: 5}}, true); err != nil {
		t.Fatal(err)
	}
	h.put(1, "b")
	h.stabilize()
	if c, ok := lastPerm(h, 1); ok {
		t.Fatalf("non-voting acks counted: %+v", c)
	}
	// Remove 4 and 5 (and keep 2, 3 non-voting): 1 is the only voter,
	// and the waiting commit is permanent at once.
	if err := m.SetSites([]Site{{ID: 2, NonVoting: true}, {ID: 3, NonVoting: true}}, true); err != nil {
		t.Fatal(err)
	}
	h.process(1)
	if c, ok := lastPerm(h, 1); !ok || !c.Permanent {
		t.Fatalf("after removing the silent voters: %+v %t", c, ok)
	}
	// Promote 2: {1,2} needs both.
	if err := m.SetSites([]Site{{ID: 2}, {ID: 3, NonVoting: true}}, true); err != nil {
		t.Fatal(err)
	}
	h.partition(1, 2)
	h.put(1, "c")
	h.stabilize()
	if c, ok := lastPerm(h, 1); ok {
		t.Fatalf("permanent without the promoted voter's ack: %+v", c)
	}
	h.heal()
	h.put(1, "d")
	for range 50 {
		if c := h.node(1).commits; len(c) > 0 {
			break
		}
		h.tick(1)
		h.stabilize()
	}
	if c, ok := lastPerm(h, 1); !ok || !c.Permanent {
		t.Fatalf("promoted voter acked, not permanent: %+v %t", c, ok)
	}
	if m.Member(4) || !m.Member(3) {
		t.Fatal("Member: removed site still known, or a kept one forgotten")
	}
}

// TestSetSitesPolicies: every ack policy counts the voting members only.
func TestSetSitesPolicies(t *testing.T) {
	h := newHarness(t, 3)
	h.group()
	m := h.node(1).n
	h.put(1, "a")
	h.stabilize()
	at := h.node(1).log.Last()
	// Site 2 acked; make it non-voting and site 3 (which acked too) be
	// reset to nothing acked.
	m.sites[3].acked = lsn.Zero
	if err := m.SetSites([]Site{{ID: 2, NonVoting: true}, {ID: 3}}, true); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		p    AckPolicy
		want bool
	}{
		{AckNone, true}, {AckOne, false}, {AckOnePeer, false}, {AckAll, false}, {AckAllPeers, false}, {AckQuorum, false},
	} {
		m.cfg.AckPolicy = tt.p
		if got := m.permMet(at); got != tt.want {
			t.Errorf("%s with only a non-voting ack: %t, want %t", tt.p, got, tt.want)
		}
	}
	// The master itself not voting (being removed): quorum of {3} needs 3.
	m.sites[3].acked = at
	if err := m.SetSites([]Site{{ID: 2, NonVoting: true}, {ID: 3}}, false); err != nil {
		t.Fatal(err)
	}
	m.cfg.AckPolicy = AckQuorum
	if !m.permMet(at) {
		t.Error("quorum of the one other voter, which acked: not met")
	}
	m.sites[3].acked = lsn.Zero
	if m.permMet(at) || m.commitPoint() != lsn.Zero {
		t.Error("a master that does not vote counted itself")
	}
}

func TestSetSitesRejectsBadSites(t *testing.T) {
	h := newHarness(t, 2)
	m := h.node(1).n
	for _, sites := range [][]Site{{{ID: 0}}, {{ID: 1}}, {{ID: 2}, {ID: 2}}, {{ID: 2, Witness: true}}} {
		if err := m.SetSites(sites, true); !errors.Is(err, ErrBadConfig) {
			t.Errorf("SetSites(%+v) = %v, want ErrBadConfig", sites, err)
		}
	}
}

func TestMembershipValidate(t *testing.T) {
	ok := Membership{Members: []Member{{ID: 1}, {ID: 2, NonVoting: true, Joining: true}, {ID: 3, Witness: true}}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if ok.Voters() != 2 || !ok.Has(2) || ok.Has(4) {
		t.Fatalf("Voters/Has wrong on %+v", ok)
	}
	for _, bad := range []Membership{
		{},
		{Members: []Member{{ID: 0}}},
		{Members: []Member{{ID: 2}, {ID: 1}}},
		{Members: []Member{{ID: 1}, {ID: 1}}},
		{Members: []Member{{ID: 1}, {ID: 2, Witness: true, NonVoting: true}}},
		{Members: []Member{{ID: 1}, {ID: 2, Joining: true}}},
		{Members: []Member{{ID: 1, NonVoting: true}, {ID: 2, Witness: true}}},
	} {
		if err := bad.Validate(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("Validate(%+v) = %v, want ErrBadConfig", bad, err)
		}
	}
}
