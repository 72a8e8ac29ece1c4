package elect

import (
	"errors"
	"testing"
)

// observe makes sites 4 and 5 of a five-site harness non-voting on
// every node (as the driver does on a membership record).
func observe(t *testing.T, h *harness, id SiteID) {
	t.Helper()
	var voters []Site
	for _, o := range []SiteID{1, 2, 3} {
		if o != id {
			voters = append(voters, Site{ID: o})
		}
	}
	var known []SiteID
	for _, o := range []SiteID{4, 5} {
		if o != id {
			known = append(known, o)
		}
	}
	if err := h.node(id).n.SetSites(voters, known, id <= 3); err != nil {
		t.Fatal(err)
	}
}

// TestSetSitesNonVotersNeverCount: with voters {1,2,3} of five sites,
// two live non-voters and one live voter elect no one (they would be a
// majority of five: their votes are not counted), the non-voters never
// win, and once a second
// voter is back a voter wins and the non-voters follow it.
func TestSetSitesNonVotersNeverCount(t *testing.T) {
	h := newHarness(t, 5)
	for _, id := range h.ids {
		observe(t, h, id)
	}
	h.startAll()
	m := h.tickUntilMaster(2000)
	if m > 3 {
		t.Fatalf("non-voter %d became master", m)
	}
	var others []SiteID
	for _, id := range []SiteID{1, 2, 3} {
		if id != m {
			others = append(others, id)
		}
	}
	h.crash(m)
	h.crash(others[0])
	h.ticks(3000)
	if x := h.master(); x != 0 {
		t.Fatalf("site %d became master with one voter of three alive", x)
	}
	for _, id := range []SiteID{4, 5} {
		// They may hold elections (to carry what they promised), but
		// never stand, and no voter counts their votes.
		if h.node(id).n.Voting() {
			t.Fatalf("non-voter %d says it votes", id)
		}
	}
	h.restart(others[0])
	observe(t, h, others[0])
	if m2 := h.tickUntilMaster(3000); m2 > 3 || m2 == 0 {
		t.Fatalf("master after a second voter returned: %d", m2)
	}
}

// TestSetSitesNeedFollowsVoters: the votes a winner needs follow the
// voting members given, from the call on.
func TestSetSitesNeedFollowsVoters(t *testing.T) {
	h := newHarness(t, 5)
	n := h.node(1).n
	if need, _ := n.need(); need != 3 {
		t.Fatalf("five voters: need %d, want 3", need)
	}
	if err := n.SetSites([]Site{{ID: 2}, {ID: 3}}, []SiteID{4, 5}, true); err != nil {
		t.Fatal(err)
	}
	if need, _ := n.need(); need != 2 {
		t.Fatalf("three voters: need %d, want 2", need)
	}
	if err := n.SetSites([]Site{{ID: 2}, {ID: 2}}, nil, true); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("a site twice: %v, want ErrBadConfig", err)
	}
}

// TestSetSitesRemovedInOwnLogStillVotes: a site whose own log holds a
// not yet committed record removing it (it does not vote in its own
// membership) still answers the elections of the sites that count it,
// as a Raft server votes whatever its own configuration; it never
// stands. Without its vote the other live voter could not win.
func TestSetSitesRemovedInOwnLogStillVotes(t *testing.T) {
	h := newHarness(t, 3)
	if err := h.node(3).n.SetSites([]Site{{ID: 1}, {ID: 2}}, nil, false); err != nil {
		t.Fatal(err)
	}
	h.crash(2)
	h.start(1, 3)
	m := h.tickUntilMaster(3000)
	if m != 1 {
		t.Fatalf("master %d, want 1 (elected with site 3's vote)", m)
	}
	if h.node(3).n.Voting() {
		t.Fatal("site 3 says it votes")
	}
}
