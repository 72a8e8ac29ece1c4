package site

import (
	"context"
	"errors"
	"testing"
	"time"

	"logship/internal/testwait"
	"logship/rep"
	"logship/rep/transport"
)

// TestMembersRecordRolledBackReverts: a master cut off from the others
// writes a membership record that no majority holds; the others elect a
// master under the old membership, and when the old master rejoins it
// rolls the record back and uses the membership before it again. The
// change it was asked for reports no success.
func TestMembersRecordRolledBackReverts(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		s := startElectGroup(t, net, 3)
		m := waitOneMaster(t, 10*time.Second, s)
		for _, x := range s {
			if x != m {
				net.setLink(transport.ID(m.id), transport.ID(x.id), false)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		err := m.e.AddMember(ctx, Member{ID: 9, NonVoting: true})
		cancel()
		if err == nil || errors.Is(err, ErrChangePending) {
			t.Fatalf("AddMember on a cut-off master: %v, want a failure to commit", err)
		}
		if ms := m.e.Members(); !ms.Has(9) || ms.LSN.IsZero() {
			t.Fatalf("the cut-off master does not use its own record: %+v", ms)
		}
		var live []*repSite
		for _, x := range s {
			if x != m {
				live = append(live, x)
			}
		}
		nm := waitOneMaster(t, within, live)
		tok := repPut(t, nm.e, "k", "v")
		if !tok.Permanent {
			t.Fatal("write of the new master not permanent")
		}
		for _, x := range live {
			net.setLink(transport.ID(m.id), transport.ID(x.id), true)
		}
		testwait.For(t, within, "the old master to roll the record back", func() bool {
			ms := m.e.Members()
			st := m.status(t)
			return st.Role == rep.RoleClient && !ms.Has(9) && len(ms.Members) == 3 && ms.LSN.IsZero()
		})
		m.caughtUp(t, within, tok)
		mustData(t, nm.env, m.env)
	})
}

// TestMembersSurviveRestart: a site restarted after a change uses the
// changed membership, not its configured one, and so does a site that
// restarts with its applied data behind the record (the log tail).
func TestMembersSurviveRestart(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		s := startElectGroup(t, net, 3)
		m := waitOneMaster(t, 10*time.Second, s)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.e.AddMember(ctx, Member{ID: 7, NonVoting: true, Addr: "127.0.0.1:1"}); err != nil {
			t.Fatal(err)
		}
		want := m.e.Members()
		tok := repPut(t, m.e, "k", "v")
		var c *repSite
		for _, x := range s {
			if x != m {
				c = x
			}
		}
		c.caughtUp(t, within, tok)
		c.stop()
		c2 := startElectSite(t, net, c.id, []SiteID{1, 2, 3}, c.dir)
		got := c2.e.Members()
		if m7, ok := got.Find(7); !ok || m7.Voting() || m7.Addr != "127.0.0.1:1" || len(got.Members) != len(want.Members) {
			t.Fatalf("after restart: %+v, want %+v", got, want)
		}
		if got.LSN.Less(want.LSN) {
			t.Fatalf("after restart the membership is stamped %v, before its record %v", got.LSN, want.LSN)
		}
	})
}
