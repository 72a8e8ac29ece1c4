package site

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"logship/env"
	"logship/internal/testwait"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"logship/elect"
	"logship/rep"
	"logship/rep/transport"
)

// electLogger: quiet unless LOGSHIP_TEST_LOG is set.
func electLogger() *slog.Logger {
	if os.Getenv("LOGSHIP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return discardLogger()
}

// startElectSite starts (or restarts) site id of group ids in dir, in
// election mode.
func startElectSite(t *testing.T, net *testNet, id SiteID, ids []SiteID, dir string) *repSite {
	t.Helper()
	ecfg := testConfig()
	ecfg.Logger = electLogger()
	return startRepSite(t, net, id, ids, dir, ecfg, func(c *Config) {
		c.Election.On = true
	})
}

func startElectGroup(t *testing.T, net *testNet, n int) []*repSite {
	t.Helper()
	var ids []SiteID
	for i := 1; i <= n; i++ {
		ids = append(ids, SiteID(i))
	}
	var sites []*repSite
	for _, id := range ids {
		sites = append(sites, startElectSite(t, net, id, ids, t.TempDir()))
	}
	return sites
}

// waitOneMaster waits until exactly one live site is rep master, every
// other live site is a ready client of it in the same generation, and
// returns the master.
func waitOneMaster(t *testing.T, within time.Duration, live []*repSite) *repSite {
	t.Helper()
	var m *repSite
	testwait.For(t, within, "one master and ready clients", func() bool {
		m = nil
		for _, s := range live {
			if s.status(t).Role == rep.RoleMaster {
				if m != nil {
					return false
				}
				m = s
			}
		}
		if m == nil {
			return false
		}
		ms := m.status(t)
		if es, err := m.e.ElectStatus(); err != nil || es.WriteErr != nil || es.Gen != ms.Gen {
			return false
		}
		// The master's first record of its generation is committed
		// (markGeneration): the group is quiet.
		if ms.CommitLSN.IsZero() || ms.CommitLSN != ms.LSN {
			return false
		}
		for _, s := range live {
			if s == m {
				continue
			}
			st := s.status(t)
			if st.Role != rep.RoleClient || st.Master != m.id || st.Gen != ms.Gen || st.SyncState != rep.SyncReady || st.LSN != ms.LSN {
				return false
			}
		}
		return true
	})
	return m
}

func TestElectThreeSitesElectOneMasterAtStartup(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		s := startElectGroup(t, net, 3)
		m := waitOneMaster(t, 10*time.Second, s)
		gen := m.status(t).Gen
		if gen == 0 {
			t.Fatal("master of generation 0")
		}
		if err := m.e.StartMaster(gen + 1); !errors.Is(err, ErrElections) {
			t.Fatalf("StartMaster in elect mode: %v", err)
		}
		// Exactly one Elected event, on the master.
		for _, x := range s {
			es, err := x.e.ElectStatus()
			if err != nil {
				t.Fatal(err)
			}
			if es.Gen != gen || SiteID(es.Master) != m.id {
				t.Fatalf("site %d elect status %+v, want master %d gen %d", x.id, es, m.id, gen)
			}
		}
		tok := repPut(t, m.e, "k", "v")
		if !tok.Permanent {
			t.Fatal("commit not permanent")
		}
		for _, x := range s {
			if x == m {
				continue
			}
			x.caughtUp(t, within, tok)
			var nm *NotMasterError
			if _, err := x.e.Update(t.Context(), func(tx *env.Tx) error { return tx.Put("b", []byte("x"), []byte("y")) }); !errors.As(err, &nm) || nm.Master != m.id {
				t.Fatalf("site %d: client Update: %v", x.id, err)
			}
			// A client that hears the master ignores a campaign.
			if err := x.e.Elect(); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(200 * time.Millisecond) // fake clock: time for a wrongful election to happen
		if m2 := waitOneMaster(t, 5*time.Second, s); m2 != m || m2.status(t).Gen != gen {
			t.Fatalf("campaign against a live master changed it: site %d gen %d", m2.id, m2.status(t).Gen)
		}
	})
}

func TestElectMasterCrashFailoverKeepsPermanentCommitsAndOldMasterRejoins(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		s := startElectGroup(t, net, 3)
		ids := []SiteID{1, 2, 3}
		m := waitOneMaster(t, 10*time.Second, s)
		gen := m.status(t).Gen

		perm := map[string]string{}
		for i := range 50 {
			k, v := fmt.Sprint("k", i), fmt.Sprint("v", i)
			if tok := repPut(t, m.e, k, v); tok.Permanent {
				perm[k] = v
			}
		}
		if len(perm) != 50 {
			t.Fatalf("%d of 50 commits permanent with every site up", len(perm))
		}

		// Crash the master.
		m.stop()
		crashed := time.Now()
		var live []*repSite
		for _, x := range s {
			if x != m {
				live = append(live, x)
			}
		}
		nm := waitOneMaster(t, 5*time.Second, live)
		failover := time.Since(crashed)
		t.Logf("failover: site %d master after %v", nm.id, failover)
		ngen := nm.status(t).Gen
		if ngen <= gen {
			t.Fatalf("new master gen %d, old %d", ngen, gen)
		}
		// Everything in the new master's log is applied before reading.
		ctx, cancel := context.WithTimeout(t.Context(), within)
		if err := nm.e.WaitApplied(ctx, env.Token{LSN: nm.status(t).LSN}); err != nil {
			t.Fatal(err)
		}
		cancel()
		for k, v := range perm {
			if got, ok := viewGet(t, nm.e, "b", k); !ok || got != v {
				t.Fatalf("permanent commit %s=%s lost on the new master: %q %v", k, v, got, ok)
			}
		}
		var tok env.Token
		for i := range 20 {
			tok = repPut(t, nm.e, fmt.Sprint("n", i), fmt.Sprint("w", i))
			if !tok.Permanent {
				t.Fatalf("commit %d on the new master not permanent with a majority up", i)
			}
		}

		// The old master restarts and rejoins as a client.
		old := startElectSite(t, net, m.id, ids, m.dir)
		all := append(live, old)
		if got := waitOneMaster(t, 10*time.Second, all); got != nm {
			t.Fatalf("after rejoin the master is site %d, want %d", got.id, nm.id)
		}
		if st := old.status(t); st.Role != rep.RoleClient || st.Master != nm.id || st.Gen != ngen {
			t.Fatalf("old master after restart: %+v", st)
		}
		old.caughtUp(t, within, tok)
		for _, x := range live {
			if x != nm {
				x.caughtUp(t, within, tok)
			}
		}
		for _, x := range all {
			if x != nm {
				mustData(t, nm.env, x.env)
			}
		}
	})
}

// The election state goes through raft-boltdb and back intact.
func TestElectHardStateRoundTripThroughStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), electStoreFile)
	st, err := openElectStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if hs, err := st.Load(); err != nil || hs != (elect.HardState{}) {
		t.Fatalf("fresh store: %+v %v", hs, err)
	}
	want := elect.HardState{EGen: 7, VotedFor: 3, Holder: 2, HolderGen: 6, HolderTentative: true, Promised: 7, Electability: elect.Unelectable}
	if err := st.Save(elect.HardState{EGen: 6, VotedFor: 2}); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(want); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = openElectStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got, err := st.Load(); err != nil || got != want {
		t.Fatalf("reopened store: %+v %v, want %+v", got, err, want)
	}
	if _, err := decodeHardState([]byte{1, 2, 3}); err == nil {
		t.Fatal("a truncated record decoded")
	}
	// A version-1 record (written before Promised existed) still reads.
	v1 := encodeHardState(want)[:hardStateLenV1]
	v1[0] = 1
	old, err := decodeHardState(v1)
	if err != nil || old.EGen != 7 || old.VotedFor != 3 || old.Promised != 0 || old.Electability != elect.ElectabilityUnknown {
		t.Fatalf("version-1 record: %+v %v", old, err)
	}
	// A version-2 record (before the electability class) reads with
	// Promised and no class; elect.New fixes the class from the priority.
	v2 := encodeHardState(want)[:hardStateLenV2]
	v2[0] = 2
	old, err = decodeHardState(v2)
	if err != nil || old.EGen != 7 || old.Promised != want.Promised || old.Electability != elect.ElectabilityUnknown {
		t.Fatalf("version-2 record: %+v %v", old, err)
	}
}

// A site that voted in election E, crashed and restarted keeps its vote:
// it does not cast a second VOTE2 in E for another candidate.
func TestElectRestartMidElectionKeepsPersistedVote(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, electStoreFile)
	cfg := func() elect.Config {
		c := elect.DefaultConfig()
		c.ID, c.Priority = 1, 1
		c.Sites = []elect.Site{{ID: 2}, {ID: 3}}
		c.Rand = rand.New(rand.NewPCG(1, 2))
		c.FullElectionTicks = 0
		return c
	}
	// Before the crash: site 1 joins election 5 on site 2's VOTE1 and
	// votes for 2 (the more up-to-date log), persisting the vote.
	st, err := openElectStore(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := elect.New(cfg(), elect.HardState{EGen: 4})
	if err != nil {
		t.Fatal(err)
	}
	n.Start()
	carry := func(n *elect.Node) []elect.Message {
		var sent []elect.Message
		for n.HasReady() {
			rd := n.Ready()
			if rd.State != nil {
				if err := st.Save(*rd.State); err != nil {
					t.Fatal(err)
				}
			}
			sent = append(sent, rd.Messages...)
			n.Advance(rd)
		}
		return sent
	}
	carry(n)
	vote1 := func(from elect.SiteID, egen, lastGen uint64) elect.Message {
		return elect.Message{V: elect.Version, Type: elect.MsgVote1, From: from, To: 1, EGen: egen, LastGen: lastGen, Priority: 1, Tiebreak: 1}
	}
	for _, from := range []elect.SiteID{2, 3} {
		if err := n.Step(vote1(from, 6, map[elect.SiteID]uint64{2: 5, 3: 1}[from])); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 {
		n.Tick()
	}
	sent := carry(n)
	voted := elect.SiteID(0)
	for _, m := range sent {
		if m.Type == elect.MsgVote2 {
			voted = m.To
		}
	}
	if voted != 2 {
		t.Fatalf("before the crash site 1 voted for %d, want 2 (messages %v)", voted, sent)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart from the store: election 6, vote for 2.
	st, err = openElectStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hs, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	if hs.EGen != 6 || hs.VotedFor != 2 {
		t.Fatalf("persisted state %+v, want EGen 6 VotedFor 2", hs)
	}
	n, err = elect.New(cfg(), hs)
	if err != nil {
		t.Fatal(err)
	}
	// Site 3 asks again in election 6, now with the best log: no second
	// vote in 6.
	if err := n.Step(vote1(3, 6, 9)); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		n.Tick()
	}
	for _, m := range carry(n) {
		if m.Type == elect.MsgVote2 && m.EGen == 6 {
			t.Fatalf("restarted site voted again in election 6: %v", m)
		}
	}
	if es := n.Status(); es.EGen == 6 && es.VotedFor != 2 {
		t.Fatalf("vote in election 6 changed to %d", es.VotedFor)
	}
}

// Envelope: a body with an unknown envelope byte, or a malformed election
// message, is counted and dropped; the group carries on.
func TestElectMalformedEnvelopeCountedNotFatal(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		s := startElectGroup(t, net, 3)
		m := waitOneMaster(t, 10*time.Second, s)
		before := m.stats(t).BadMessages
		from := s[int(m.id)%3] // another site of the group
		for _, body := range [][]byte{{}, {'x', 1, 2}, {'e', 0xc1, 0xff}, {'r', 0xc1}, {'e'}} {
			if err := from.ep.Send(transport.ID(m.id), body); err != nil {
				t.Fatal(err)
			}
		}
		testwait.For(t, within, "bad messages counted", func() bool { return m.stats(t).BadMessages == before+5 })
		if tok := repPut(t, m.e, "a", "1"); !tok.Permanent {
			t.Fatal("commit after garbage not permanent")
		}
	})
}
