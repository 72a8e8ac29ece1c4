package site

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"logship/elect"
	"logship/env"
	"logship/internal/sitecore"
	"logship/internal/testwait"
	"logship/rep"
	"logship/rep/transport"
)

// waitMirrored writes on the master until the commit is permanent and the
// witness holds no grant: the master is mirrored, so losing it leaves the
// other data site free to take over.
func waitMirrored(t *testing.T, m *repSite, w *testWitness) {
	t.Helper()
	tok := repPut(t, m.e, "mirrored", "yes")
	if !tok.Permanent {
		t.Fatal("commit with both data sites up not permanent")
	}
	testwait.For(t, 10*time.Second, "the master to release the witness's grant", func() bool {
		st := w.w.Status()
		return st.Holder == 0 && st.Master == m.id
	})
}

func other(data []*repSite, s *repSite) *repSite {
	if data[0] == s {
		return data[1]
	}
	return data[0]
}

func TestWitnessBreaksTie(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		data, w := startWitnessGroup(t, net, nil)
		m := waitOneMaster(t, 10*time.Second, data)
		waitMirrored(t, m, w)
		// rep on the data sites knows nothing of the witness but its status.
		for _, s := range data {
			st := s.status(t)
			var wit *SiteStatus
			for i := range st.Sites {
				if st.Sites[i].ID == w.id {
					wit = &st.Sites[i]
				}
			}
			if wit == nil || !wit.Witness || !wit.Connected {
				t.Fatalf("site %d: witness in status = %+v, want a connected witness", s.id, wit)
			}
			if bad := s.stats(t).BadMessages; bad != 0 {
				t.Fatalf("site %d: %d bad messages in a healthy group with a witness", s.id, bad)
			}
		}

		oldGen := m.status(t).Gen
		m.stop()
		surv := other(data, m)
		testwait.For(t, 10*time.Second, "the surviving data site to be a writable master", func() bool { return writable(t, surv) })
		st := w.w.Status()
		if st.Master != surv.id || st.Holder != surv.id {
			t.Fatalf("witness status %+v: want master and grant holder %d", st, surv.id)
		}
		es, err := surv.e.ElectStatus()
		if err != nil {
			t.Fatal(err)
		}
		if es.Gen <= oldGen {
			t.Fatalf("new master generation %d, old %d", es.Gen, oldGen)
		}
		// Not mirrored: writes go on under the grant, and are not permanent,
		// since the witness is not counted for acks.
		var tok env.Token
		testwait.For(t, 10*time.Second, "a write on the new master", func() bool {
			var err error
			tok, err = tryPut(surv, "after", "failover", 3*time.Second)
			return err == nil
		})
		if tok.Permanent {
			t.Fatal("a not-mirrored commit is permanent: the witness was counted as an ack")
		}
		if v, ok := viewGet(t, surv.e, "b", "mirrored"); !ok || v != "yes" {
			t.Fatalf("permanent commit lost in the failover: %q %v", v, ok)
		}
		if st := w.w.Status(); st.Master == w.id || st.VotedFor == w.id || st.BadMessages != 0 || st.Err != nil {
			t.Fatalf("witness status %+v: it stood as master or saw bad messages", st)
		}
	})
}

func TestWitnessRefusesSecondGrant(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		data, w := startWitnessGroup(t, net, nil)
		m := waitOneMaster(t, 10*time.Second, data)
		o := other(data, m)
		waitMirrored(t, m, w)
		oStats := func() elect.Stats {
			return o.e.ElectStats()
		}
		before := oStats().Elections

		// The data sites lose each other; both still reach the witness.
		net.setLink(transport.ID(m.id), transport.ID(o.id), false)
		testwait.For(t, 10*time.Second, "the master to take the witness's grant", func() bool {
			return w.w.Status().Holder == m.id && writable(t, m)
		})
		// For a while: the master keeps writing under the grant; the other
		// site campaigns, is refused, and never accepts a write.
		deadline := time.Now().Add(2 * time.Second)
		writes := 0
		for i := 0; time.Now().Before(deadline); i++ {
			if _, err := tryPut(m, fmt.Sprint("k", i), "v", 2*time.Second); err == nil {
				writes++
			} else if !errors.Is(err, ErrNotMaster) {
				t.Fatalf("write %d on the master holding the grant: %v", i, err)
			}
			if _, err := tryPut(o, fmt.Sprint("o", i), "v", time.Second); !errors.Is(err, ErrNotMaster) {
				t.Fatalf("write on the cut-off data site: %v, want ErrNotMaster", err)
			}
			if writable(t, o) || o.status(t).Role == rep.RoleMaster {
				t.Fatal("the refused data site became master")
			}
			if h := w.w.Status().Holder; h != m.id {
				t.Fatalf("grant holder %d, want %d", h, m.id)
			}
			time.Sleep(20 * time.Millisecond) // fake clock: two ticks a round
		}
		if writes == 0 {
			t.Fatal("the master holding the grant wrote nothing")
		}
		if oStats().Elections == before {
			t.Fatal("the cut-off data site never campaigned")
		}

		// Now the master loses the witness too: its grant lapses, and under
		// the default (consistency) the witness still refuses the other site,
		// which holds none of the not-mirrored commits. Nobody writes.
		net.setLink(transport.ID(m.id), transport.ID(w.id), false)
		testwait.For(t, 5*time.Second, "the master to stop writing without a grant", func() bool { return !writable(t, m) })
		if _, err := tryPut(m, "late", "v", time.Second); !errors.Is(err, ErrNotMaster) || !errors.Is(err, elect.ErrNotMirrored) {
			t.Fatalf("write on the master after its grant lapsed: %v, want ErrNotMaster and elect.ErrNotMirrored", err)
		}
		deadline = time.Now().Add(1500 * time.Millisecond)
		for time.Now().Before(deadline) {
			if writable(t, o) || writable(t, m) {
				t.Fatalf("a data site accepts writes with the witness refusing: master %v other %v", writable(t, m), writable(t, o))
			}
			time.Sleep(20 * time.Millisecond) // fake clock: two ticks a round
		}
		if st := w.w.Status(); st.Holder != m.id {
			t.Fatalf("witness gave up the grant of %d: %+v", m.id, st)
		}

		// Healed, the group has one master again and the other site holds
		// everything written under the grant.
		net.setLink(transport.ID(m.id), transport.ID(o.id), true)
		net.setLink(transport.ID(m.id), transport.ID(w.id), true)
		nm := waitOneMaster(t, 10*time.Second, data)
		tok := repPut(t, nm.e, "healed", "1")
		other(data, nm).caughtUp(t, within, tok)
		mustData(t, m.env, o.env)
	})
}

// With WitnessGrantAfterExpiry the witness chooses availability: once
// the cut-off master's grant has lapsed, the other data site is elected.
// The old master has stopped writing by then.
func TestWitnessGrantAfterExpiryFailsOver(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		ids := []SiteID{1, 2, 3}
		data := []*repSite{
			startWitnessDataSite(t, net, 1, ids, 3, t.TempDir(), nil),
			startWitnessDataSite(t, net, 2, ids, 3, t.TempDir(), nil),
		}
		w := startTestWitness(t, net, 3, ids, t.TempDir(), func(c *Config) { c.Witness.GrantAfterExpiry = true })
		m := waitOneMaster(t, 10*time.Second, data)
		o := other(data, m)
		waitMirrored(t, m, w)
		net.setLink(transport.ID(m.id), transport.ID(o.id), false)
		testwait.For(t, 10*time.Second, "the master to take the grant", func() bool { return w.w.Status().Holder == m.id })
		net.setLink(transport.ID(m.id), transport.ID(w.id), false)
		testwait.For(t, 10*time.Second, "the other data site to be a writable master", func() bool {
			if writable(t, m) && writable(t, o) {
				t.Fatal("two data sites accept writes")
			}
			return writable(t, o)
		})
		if writable(t, m) {
			t.Fatal("the old master still accepts writes")
		}
		if st := w.w.Status(); st.Holder != o.id || st.Master != o.id {
			t.Fatalf("witness status %+v, want master and holder %d", st, o.id)
		}
	})
}

// A witness drops rep messages and counts them; the data sites ignore
// the witness's connection and never count its traffic as bad.
func TestWitnessDropsRepMessages(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		data, w := startWitnessGroup(t, net, nil)
		m := waitOneMaster(t, 10*time.Second, data)
		// Quiet: the other data site has applied the master's first record
		// and said so (its last ACK).
		testwait.For(t, 5*time.Second, "the client to report the master's log applied", func() bool {
			st := m.status(t)
			for _, x := range st.Sites {
				if !x.Witness && x.AppliedLSN != st.LSN {
					return false
				}
			}
			return true
		})
		b, err := sitecore.Encode(rep.Message{V: rep.Version, Type: rep.MsgHeartbeat, From: m.id, To: w.id, Gen: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.ep.Send(transport.ID(w.id), b); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, 5*time.Second, "the witness to drop the rep message", func() bool { return w.w.Status().RepDropped == 1 })
		// And the other way round: a rep message from the witness is ignored.
		b, err = sitecore.Encode(rep.Message{V: rep.Version, Type: rep.MsgAck, From: w.id, To: m.id, Gen: 1})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // every message sent so far has been taken
		before := m.stats(t).MsgsRecv
		if err := w.ep.Send(transport.ID(m.id), b); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the master has taken it, and is idle again
		st := m.stats(t)
		if st.BadMessages != 0 {
			t.Fatalf("%d bad messages after a rep message from the witness", st.BadMessages)
		}
		if st.MsgsRecv != before {
			t.Fatalf("rep stepped a message from the witness (%d -> %d received)", before, st.MsgsRecv)
		}
		if st := w.w.Status(); len(st.Peers) != 2 || st.ID != w.id {
			t.Fatalf("witness status %+v, want 2 connected peers", st)
		}
		if err := w.w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.w.Close(); !errors.Is(err, ErrClosed) {
			t.Fatalf("second Close: %v", err)
		}
	})
}

func TestWitnessConfigValidation(t *testing.T) {
	net := newTestNet(t)
	ep := net.endpoint(9)
	t.Cleanup(func() { _ = ep.Close() })
	base := func() Config {
		c := DefaultConfig()
		c.Transport, c.ID, c.Logger = ep, 9, discardLogger()
		c.Sites = []Member{{ID: 1}, {ID: 2}}
		return c
	}
	c := base()
	c.Priority = 1
	if _, err := StartWitness(t.TempDir(), c); !errors.Is(err, rep.ErrBadConfig) {
		t.Fatalf("witness with priority 1: %v", err)
	}
	c = base()
	c.Sites = append(c.Sites, Member{ID: 3, Witness: true})
	c.Sites[0].Witness, c.Sites[1].Witness = true, true
	if _, err := StartWitness(t.TempDir(), c); !errors.Is(err, elect.ErrBadConfig) {
		t.Fatalf("a group of witnesses only: %v", err)
	}
	// Data-site settings that make no sense.
	d := base()
	d.Witness.GrantAfterExpiry = true
	d.Leases.On = true
	d.Sites = append(d.Sites, Member{ID: 3, Witness: true})
	d.Peer = 3
	err := d.Validate()
	for _, field := range []string{"Witness.GrantAfterExpiry", "Leases.On needs Election.On", "Sites[2] (3) is a witness", "Peer (3) is a witness"} {
		if err == nil || !errors.Is(err, rep.ErrBadConfig) || !strings.Contains(err.Error(), field) {
			t.Fatalf("Validate: %v, want it to name %q", err, field)
		}
	}
}
