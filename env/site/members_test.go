package site

import (
	"context"
	"errors"
	"testing"
	"time"

	"logship/internal/testwait"
	"logship/rep"
)

// voters lists the voting members of ms.
func voters(ms Membership) []SiteID {
	var out []SiteID
	for _, m := range ms.Members {
		if m.Voting() {
			out = append(out, m.ID)
		}
	}
	return out
}

// TestMembersJoinPromoteRemove: an empty site joins a running group,
// is added non-voting, catches up, is promoted by the master, counts;
// a client is then removed, and finally the master removes itself and
// the remaining voters elect another. Writes stay permanent throughout
// and every member converges.
func TestMembersJoinPromoteRemove(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		s := startElectGroup(t, net, 3)
		m := waitOneMaster(t, 10*time.Second, s)
		for _, x := range s {
			ms := x.e.Members()
			if len(ms.Members) != 3 || len(voters(ms)) != 3 || !ms.LSN.IsZero() || x.status(t).MemberErr != nil {
				t.Fatalf("site %d: primordial membership %+v (err %v)", x.id, ms, x.status(t).MemberErr)
			}
		}
		for i := range 20 {
			repPut(t, m.e, string(rune('a'+i)), "v")
		}

		// Site 4 starts empty, knowing only the master.
		ecfg := testConfig()
		ecfg.Logger = electLogger()
		n4 := startRepSite(t, net, 4, []SiteID{m.id, 4}, t.TempDir(), ecfg, func(c *Config) {
			c.Election.On, c.Join = true, true
		})
		if err := n4.status(t).MemberErr; !errors.Is(err, ErrNotMember) {
			t.Fatalf("joining site: MemberErr %v, want ErrNotMember", err)
		}
		var client *repSite
		for _, x := range s {
			if x != m {
				client = x
				break
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := client.e.AddMember(ctx, Member{ID: 4}); !errors.Is(err, ErrNotMaster) {
			t.Fatalf("AddMember on a client: %v, want ErrNotMaster", err)
		}
		if err := m.e.AddMember(ctx, Member{ID: 4}); err != nil {
			t.Fatalf("AddMember: %v", err)
		}
		if err := m.e.AddMember(ctx, Member{ID: 4}); !errors.Is(err, ErrMemberExists) {
			t.Fatalf("AddMember twice: %v, want ErrMemberExists", err)
		}
		all := append(append([]*repSite(nil), s...), n4)
		testwait.For(t, within, "site 4 promoted to voting on every site", func() bool {
			for _, x := range all {
				ms := x.e.Members()
				if mem, ok := ms.Find(4); !ok || !mem.Voting() || mem.Joining || ms.Pending || x.status(t).MemberErr != nil {
					return false
				}
			}
			return true
		})
		tok := repPut(t, m.e, "after-join", "v")
		if !tok.Permanent {
			t.Fatal("write after the join not permanent")
		}
		n4.caughtUp(t, within, tok)
		mustData(t, m.env, n4.env)

		// Remove a client: the group is {master, other client, 4}.
		if err := m.e.RemoveMember(ctx, client.id); err != nil {
			t.Fatalf("RemoveMember(%d): %v", client.id, err)
		}
		if err := m.e.RemoveMember(ctx, client.id); !errors.Is(err, ErrUnknownMember) {
			t.Fatalf("RemoveMember twice: %v, want ErrUnknownMember", err)
		}
		testwait.For(t, within, "the removed site to know it", func() bool {
			return errors.Is(client.status(t).MemberErr, ErrNotMember)
		})
		client.stop() // a removed site's loss costs the group nothing
		var live []*repSite
		for _, x := range all {
			if x != client {
				live = append(live, x)
			}
		}
		if tok := repPut(t, m.e, "after-remove", "v"); !tok.Permanent {
			t.Fatal("write after the removal not permanent")
		}

		// The master removes itself: it steps down once the record is
		// permanent, and the remaining two elect a master.
		if err := m.e.RemoveMember(ctx, m.id); err != nil {
			t.Fatalf("RemoveMember(master %d): %v", m.id, err)
		}
		var rest []*repSite
		for _, x := range live {
			if x != m {
				rest = append(rest, x)
			}
		}
		testwait.For(t, within, "the removed master to step down", func() bool { return m.status(t).Role != rep.RoleMaster })
		m2 := waitOneMaster(t, within, rest)
		tok = repPut(t, m2.e, "after-master-removed", "v")
		if !tok.Permanent {
			t.Fatal("write under the new master not permanent")
		}
		for _, x := range rest {
			if x != m2 {
				x.caughtUp(t, within, tok)
				mustData(t, m2.env, x.env)
			}
			if ms := x.e.Members(); len(ms.Members) != 2 || ms.Has(m.id) || ms.Has(client.id) {
				t.Fatalf("site %d: membership %+v", x.id, ms)
			}
		}
	})
}
