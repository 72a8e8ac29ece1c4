package sitecore

import (
	"errors"
	"fmt"
	"testing"

	"logship/elect"
	"logship/rep"
	"logship/wal/lsn"
)

func members(ids ...rep.SiteID) rep.Membership {
	var ms rep.Membership
	for _, id := range ids {
		ms.Members = append(ms.Members, rep.Member{ID: id})
	}
	return ms
}

// memberCommit appends a record on the master with the membership ms
// taking effect as it enters the log, as the runtime does, and delivers
// what follows.
func (h *harness) memberCommit(id rep.SiteID, ms rep.Membership) rep.Record {
	h.t.Helper()
	s := h.sites[id]
	r := s.log.Append(s.gen, []byte("membership"))
	r.Perm = true
	ms.LSN = r.LSN
	for _, x := range h.ids {
		if !h.sites[x].down {
			if err := h.sites[x].c.SetMembership(ms, h.ids); err != nil {
				h.t.Fatal(err)
			}
		}
	}
	s.c.Appended([]rep.Record{r})
	s.c.Persisted(r.LSN)
	h.process(id)
	h.stabilize()
	return r
}

// TestMembershipChangesOneAtATime: a new master changes the membership
// only once a record of its own generation is at its commit point, and
// a second change waits until the previous record is; the majority that
// decides follows the membership from its record on.
func TestMembershipChangesOneAtATime(t *testing.T) {
	h := newHarness(t, 4, nil)
	for _, id := range h.ids {
		if err := h.sites[id].c.SetMembership(members(1, 2, 3), h.ids); err != nil {
			t.Fatal(err)
		}
	}
	m := h.waitMaster(2000)
	c := h.sites[m].c
	if err := c.CanChangeMembership(); !errors.Is(err, ErrChangePending) {
		t.Fatalf("before a record of its generation is permanent: %v, want ErrChangePending", err)
	}
	r := h.commit(m, "own")
	if !h.sites[m].results[r.LSN] {
		t.Fatal("own-generation record not permanent")
	}
	if err := c.CanChangeMembership(); err != nil {
		t.Fatalf("after: %v", err)
	}
	for _, id := range h.ids {
		if id != m && id != 4 {
			if err := h.sites[id].c.CanChangeMembership(); !errors.Is(err, ErrNotMaster) {
				t.Fatalf("client %d: %v, want ErrNotMaster", id, err)
			}
		}
	}

	// Add 4 (voting, for the arithmetic) while every other site is cut
	// off: the record cannot reach the commit point, and a second change
	// is refused meanwhile.
	h.partition(m, true)
	mr := h.memberCommit(m, members(1, 2, 3, 4))
	if ms, _ := c.Membership(); !ms.Pending || ms.LSN != mr.LSN {
		t.Fatalf("membership %+v, want pending at %v", ms, mr.LSN)
	}
	if err := c.CanChangeMembership(); !errors.Is(err, ErrChangePending) {
		t.Fatalf("second change while the first is pending: %v", err)
	}
	h.partition(m, false)
	// One other voter back is no longer enough: 4 voters need 3.
	var other rep.SiteID
	for _, id := range h.ids {
		if id != m && id != 4 {
			other = id
			break
		}
	}
	for _, id := range h.ids {
		if id != m && id != other {
			h.partition(id, true)
		}
	}
	h.tick(20)
	if ms, _ := c.Membership(); !ms.Pending {
		t.Fatalf("record permanent on 2 of 4 voters: %+v", ms)
	}
	for _, id := range h.ids {
		h.partition(id, false)
	}
	h.tick(40)
	if ms, _ := c.Membership(); ms.Pending {
		t.Fatalf("record not permanent with every site back: %+v", ms)
	}
	if err := c.CanChangeMembership(); err != nil {
		t.Fatalf("after the first change is permanent: %v", err)
	}
}

// TestMembershipNotMember: a site the membership lacks is no member,
// votes for no one and may not change the membership.
func TestMembershipNotMember(t *testing.T) {
	h := newHarness(t, 3, nil)
	c := h.sites[3].c
	if err := c.SetMembership(members(1, 2), h.ids); err != nil {
		t.Fatal(err)
	}
	if c.IsMember() {
		t.Fatal("site 3 is a member of {1,2}")
	}
	if err := c.SetMembership(rep.Membership{Members: []rep.Member{{ID: 2}, {ID: 1}}}, nil); !errors.Is(err, rep.ErrBadConfig) {
		t.Fatalf("unsorted membership: %v", err)
	}
}

// TestCheckChangeElectableQuorums: with a voter of priority 0
// (unelectable) in the group, an electable voter cannot be added or
// removed (the electable majorities before and after need not meet);
// an unelectable one can, and so can a view; two voters at once never.
func TestCheckChangeElectableQuorums(t *testing.T) {
	h := newHarness(t, 4, nil, func(id rep.SiteID, rc *rep.Config, ec *elect.Config) {
		if id == 2 {
			rc.Priority, ec.Priority = 0, 0
		}
	})
	m := h.waitMaster(2000)
	if m == 2 {
		t.Fatal("the priority-0 site won")
	}
	h.commit(m, "own") // every site has told the master its class
	c := h.sites[m].c
	all := members(1, 2, 3, 4)
	without := func(id rep.SiteID) rep.Membership {
		var ms rep.Membership
		for _, x := range all.Members {
			if x.ID != id {
				ms.Members = append(ms.Members, x)
			}
		}
		return ms
	}
	var electableOther rep.SiteID
	for _, id := range []rep.SiteID{1, 3, 4} {
		if id != m {
			electableOther = id
			break
		}
	}
	if err := c.CheckChange(all, without(electableOther)); !errors.Is(err, ErrUnsafeChange) {
		t.Fatalf("removing electable %d with unelectable voter 2: %v, want ErrUnsafeChange", electableOther, err)
	}
	if err := c.CheckChange(all, without(2)); err != nil {
		t.Fatalf("removing the unelectable voter: %v", err)
	}
	view := without(2)
	view.Members = append(view.Members[:1], append([]rep.Member{{ID: 2, NonVoting: true}}, view.Members[1:]...)...)
	if err := c.CheckChange(all, view); err != nil {
		t.Fatalf("demoting the unelectable voter: %v", err)
	}
	// With 2 a view, every voter is electable: an electable change is safe.
	if err := c.CheckChange(view, members(1, 3, 4)); err != nil {
		t.Fatalf("removing the view: %v", err)
	}
	if err := c.CheckChange(members(1, 3, 4), without(2)); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckChange(all, members(1, 3)); !errors.Is(err, ErrUnsafeChange) {
		t.Fatalf("two voters removed at once: %v", err)
	}
}

// TestPromotionFollowsTheLag: a master promotes a joining member once it
// is connected and has acknowledged a record within the lag of the
// master's newest; never a view (non-voting, not joining), never while
// a change is pending. The runtime and the simulator both promote so.
func TestPromotionFollowsTheLag(t *testing.T) {
	h := newHarness(t, 5, nil)
	ms := members(1, 2, 3)
	ms.Members = append(ms.Members, rep.Member{ID: 4, NonVoting: true, Joining: true}, rep.Member{ID: 5, NonVoting: true})
	for _, id := range h.ids {
		if err := h.sites[id].c.SetMembership(ms, h.ids); err != nil {
			t.Fatal(err)
		}
	}
	m := h.waitMaster(2000)
	c := h.sites[m].c
	if _, _, ok := c.Promotion(ms, 1<<20, records(h.sites[m].log)); ok {
		t.Fatal("promoted before a record of the master's generation is permanent")
	}
	h.commit(m, "own")
	// Site 4 cut off falls behind by the records written meanwhile.
	h.partition(4, true)
	for i := range 3 {
		h.commit(m, fmt.Sprintf("while 4 is away %d", i))
	}
	h.partition(4, false)
	h.tick(1) // 4 is connected but has not caught up yet
	dist := records(h.sites[m].log)
	if id, _, ok := c.Promotion(ms, 2, dist); ok {
		t.Fatalf("promoted %d more than 2 records behind", id)
	}
	id, next, ok := c.Promotion(ms, 10, dist)
	if !ok || id != 4 {
		t.Fatalf("Promotion within a lag of 10 records = %d %t, want 4", id, ok)
	}
	if x, _ := next.Find(4); !x.Voting() {
		t.Fatalf("the promotion leaves 4 %+v", x)
	}
	if x, _ := next.Find(5); x.Voting() {
		t.Fatal("the promotion made the view 5 voting")
	}
	// No change while one is pending: the master writes it, cut off.
	h.partition(m, true)
	h.memberCommit(m, next)
	if _, _, ok := c.Promotion(next, 1<<20, dist); ok {
		t.Fatal("a promotion offered while a change is pending")
	}
}

// records is a distance in records of log (rep.MemLog's), standing in
// for env's bytes.
func records(l *rep.MemLog) func(a, b lsn.LSN) int64 {
	return func(a, b lsn.LSN) int64 {
		var n int64
		for cur := a; cur.Less(b); n++ {
			r, err := l.Next(cur)
			if err != nil {
				break
			}
			cur = r.LSN
		}
		return n
	}
}
