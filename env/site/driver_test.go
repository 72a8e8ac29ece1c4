package site

import (
	"context"
	"errors"
	"fmt"
	"logship/env"
	"logship/internal/testwait"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"logship/rep"
	"logship/rep/transport"
	"logship/wal/lsn"
)

// group starts sites 1..n in fresh directories; site 1 master of gen 1.
func startGroup(t *testing.T, net *testNet, n int, ecfg env.Config, mod func(id SiteID, c *Config)) []*repSite {
	t.Helper()
	var ids []SiteID
	for i := 1; i <= n; i++ {
		ids = append(ids, SiteID(i))
	}
	var sites []*repSite
	for _, id := range ids {
		sites = append(sites, startRepSite(t, net, id, ids, t.TempDir(), ecfg, func(c *Config) {
			if mod != nil {
				mod(id, c)
			}
		}))
	}
	if err := sites[0].e.StartMaster(1); err != nil {
		t.Fatal(err)
	}
	for _, s := range sites[1:] {
		if err := s.e.StartClient(1); err != nil {
			t.Fatal(err)
		}
	}
	return sites
}

func TestDriverMasterAndTwoClientsReplicate(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		s := startGroup(t, net, 3, testConfig(), nil)
		var tok env.Token
		for i := range 100 {
			tok = repPut(t, s[0].e, fmt.Sprint("k", i), fmt.Sprint("v", i))
			if !tok.Permanent {
				t.Fatalf("commit %d at %s not permanent", i, tok.LSN)
			}
		}
		for _, c := range s[1:] {
			c.caughtUp(t, within, tok)
			mustData(t, s[0].env, c.env)
			if st := c.status(t); st.Role != rep.RoleClient || st.Master != 1 || st.Gen != 1 {
				t.Fatalf("client status %+v", st)
			}
		}
		st := s[0].status(t)
		if st.Role != rep.RoleMaster || st.LSN != tok.LSN {
			t.Fatalf("master status %+v", st)
		}
		for _, x := range st.Sites {
			if x.Acked != tok.LSN || !x.Connected || x.LagBytes != 0 {
				t.Fatalf("master's view of site %d: %+v", x.ID, x)
			}
		}
	})
}

func TestDriverClientUpdateAnswersErrNotMasterNamingMaster(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		s := startGroup(t, net, 2, testConfig(), nil)
		s[1].caughtUp(t, within, repPut(t, s[0].e, "a", "1"))
		_, err := s[1].e.Update(t.Context(), func(tx *env.Tx) error { return tx.Put("b", []byte("x"), []byte("y")) })
		var nm *NotMasterError
		if !errors.As(err, &nm) || nm.Master != 1 || !errors.Is(err, ErrNotMaster) || !errors.Is(err, rep.ErrNotMaster) {
			t.Fatalf("client Update: %v", err)
		}
		if !strings.Contains(err.Error(), "site 1") {
			t.Fatalf("error does not name the master: %v", err)
		}
	})
}

// With quorum acks and three electable sites, a commit is permanent once
// one client has it durable: it stays so with the other client down.
func TestDriverQuorumCommitsArePermanentWithOneClientDown(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		s := startGroup(t, net, 3, testConfig(), nil)
		s[1].caughtUp(t, within, repPut(t, s[0].e, "a", "1"))
		net.setLink(1, 3, false)
		for i := range 20 {
			if tok := repPut(t, s[0].e, fmt.Sprint("k", i), "v"); !tok.Permanent {
				t.Fatalf("quorum commit %s not permanent with 2 of 3 sites", tok.LSN)
			}
		}
		if n := s[0].stats(t).PermFailed; n != 0 {
			t.Fatalf("PermFailed = %d", n)
		}
	})
}

// Under AckAll with a client down, a commit is still committed but not
// permanent once the ack timeout passes, and PermFailed fires.
func TestDriverClientDownCommitNotPermanentAfterAckTimeout(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		s := startGroup(t, net, 3, testConfig(), func(_ SiteID, c *Config) {
			c.AckPolicy = rep.AckAll
			c.Timing.AckTimeout = 100 * time.Millisecond
		})
		s[2].caughtUp(t, within, repPut(t, s[0].e, "a", "1"))
		net.setLink(1, 3, false)
		start := time.Now()
		tok := repPut(t, s[0].e, "k", "v")
		if tok.Permanent {
			t.Fatal("commit permanent although a client is down under AckAll")
		}
		if el := time.Since(start); el < 90*time.Millisecond {
			t.Fatalf("not-permanent reported after %v, before the ack timeout", el)
		}
		ev := s[0].waitEvent(t, within, rep.EventPermFailed)
		if ev.LSN != tok.LSN {
			t.Fatalf("PermFailed for %s, want %s", ev.LSN, tok.LSN)
		}
		if err := s[0].e.WaitApplied(t.Context(), tok); err != nil { // committed locally
			t.Fatal(err)
		}
		s[1].caughtUp(t, within, tok)
	})
}

func TestDriverClientThreeLogFilesBehindCatchesUp(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		ecfg := testConfig() // 64 KiB log files
		s := startGroup(t, net, 2, ecfg, func(_ SiteID, c *Config) { c.AckPolicy = rep.AckNone })
		s[1].caughtUp(t, within, repPut(t, s[0].e, "a", "1"))
		net.setLink(1, 2, false)
		val := strings.Repeat("x", 1000)
		var tok env.Token
		for i := 0; tok.LSN.File < 5; i++ {
			tok = repPut(t, s[0].e, fmt.Sprint("k", i), val)
		}
		if behind := s[1].status(t).LSN; tok.LSN.File-behind.File < 3 {
			t.Fatalf("client at %s, master at %s: not 3 files behind", behind, tok.LSN)
		}
		net.setLink(1, 2, true)
		s[1].caughtUp(t, within, tok)
		mustData(t, s[0].env, s[1].env)
		if st := s[1].stats(t); st.Inits != 0 || st.LogRecords == 0 {
			t.Fatalf("caught up by init (%d) or without log records (%d)", st.Inits, st.LogRecords)
		}
	})
}

// A former master that committed a tail no client acknowledged rejoins
// as a client of the new master: the tail is rolled back, and the
// rolled-back records are in its rollback file.
func TestDriverFormerMasterRollsBackUnackedTailIntoRollbackFile(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		ecfg := testConfig()
		s, base := startCutOffMaster(t, net, ecfg)
		// Commit a tail nobody acknowledges.
		var tail []env.Token
		for i := range 3 {
			tok := repPut(t, s[0].e, fmt.Sprint("lost", i), "x")
			if tok.Permanent {
				t.Fatal("unacknowledged commit reported permanent")
			}
			tail = append(tail, tok)
		}
		s[0].stop()
		tok := replaceMaster(t, s)
		// Site 1 restarts as a client of site 2.
		net.setLink(1, 2, true)
		net.setLink(1, 3, true)
		old := startRepSite(t, net, 1, []SiteID{1, 2, 3}, s[0].dir, ecfg, nil)
		if err := old.e.StartClient(2); err != nil {
			t.Fatal(err)
		}
		old.caughtUp(t, within, tok)
		mustData(t, s[1].env, old.env)
		if st := old.stats(t); st.Rollbacks != 1 {
			t.Fatalf("Rollbacks = %d", st.Rollbacks)
		}
		files, err := env.RollbackFiles(old.dir)
		if err != nil || len(files) != 1 {
			t.Fatalf("rollback files %v, %v", files, err)
		}
		var got []lsn.LSN
		err = env.ReadRollbackFile(files[0], func(h env.RollbackHeader, r env.RollbackRecord) error {
			if h.Site != 1 || h.To != base.LSN || h.Count != 3 {
				return fmt.Errorf("header %+v", h)
			}
			_, ops, err := r.Ops()
			if err != nil || len(ops) != 1 || !strings.HasPrefix(string(ops[0].Key), "lost") || r.Gen != 1 {
				return fmt.Errorf("record %s: gen %d ops %+v %v", r.LSN, r.Gen, ops, err)
			}
			got = append(got, r.LSN)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, tk := range tail {
			if got[i] != tk.LSN {
				t.Fatalf("rollback file holds %v, want the tail %v", got, tail)
			}
		}
	})
}

// startCutOffMaster starts three sites, site 1 master, commits one
// record every site holds (base), then cuts site 1 off from the others.
func startCutOffMaster(t *testing.T, net *testNet, ecfg env.Config) ([]*repSite, env.Token) {
	t.Helper()
	s := startGroup(t, net, 3, ecfg, func(_ SiteID, c *Config) {
		c.Timing.AckTimeout = 50 * time.Millisecond
	})
	// The master's generation marker (markGeneration) commits on a
	// goroutine of its own: wait for it, or it could land after base.
	testwait.For(t, within, "the master's generation marker", func() bool { return !s[0].status(t).CommitLSN.IsZero() })
	base := repPut(t, s[0].e, "shared", "1")
	s[1].caughtUp(t, within, base)
	s[2].caughtUp(t, within, base)
	net.setLink(1, 2, false)
	net.setLink(1, 3, false)
	return s, base
}

// replaceMaster makes site 2 master of gen 2; it commits five records
// site 3 holds too, and returns the last one's token.
func replaceMaster(t *testing.T, s []*repSite) env.Token {
	t.Helper()
	if err := s[1].e.StartMaster(2); err != nil {
		t.Fatal(err)
	}
	var tok env.Token
	for i := range 5 {
		tok = repPut(t, s[1].e, fmt.Sprint("new", i), "y")
	}
	s[2].caughtUp(t, within, tok)
	return tok
}

// archive checkpoints the master and removes its old log files, those
// kept for lagging sites too (repadmin archive --force): what an init
// the master serves needs stays.
func archive(t *testing.T, e *env.Env) {
	t.Helper()
	if _, err := e.Archive(t.Context(), env.ArchiveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
}

// leaveBehind cuts the client s[1] off, commits on the master s[0] into
// its fourth log file and archives, so the client can only come back by
// internal init; it returns the last commit's token.
func leaveBehind(t *testing.T, net *testNet, s []*repSite) env.Token {
	t.Helper()
	s[1].caughtUp(t, within, repPut(t, s[0].e, "a", "1"))
	net.setLink(1, 2, false)
	var tok env.Token
	for i := 0; tok.LSN.File < 4; i++ {
		tok = repPut(t, s[0].e, fmt.Sprint("k", i), strings.Repeat("v", 1000))
	}
	archive(t, s[0].env)
	return tok
}

func TestDriverMasterLogsRemovedClientRebuiltByInternalInit(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		s := startGroup(t, net, 2, testConfig(), func(_ SiteID, c *Config) { c.AckPolicy = rep.AckNone })
		tok := leaveBehind(t, net, s)
		net.setLink(1, 2, true)
		s[1].caughtUp(t, within, tok)
		mustData(t, s[0].env, s[1].env)
		if st := s[1].stats(t); st.InitsDone != 1 {
			t.Fatalf("InitsDone = %d", st.InitsDone)
		}
		// The client's restart after init resumes from the snapshot point.
		tok = repPut(t, s[0].e, "after", "init")
		s[1].caughtUp(t, within, tok)
	})
}

func TestDriverNoAutoInitClientGetsErrJoinFailure(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		s := startGroup(t, net, 2, testConfig(), func(id SiteID, c *Config) {
			c.NoAutoInit = id == 2
			c.AckPolicy = rep.AckNone
		})
		leaveBehind(t, net, s)
		// The client must notice it is behind: restart it.
		s[1].stop()
		net.setLink(1, 2, true)
		c := startRepSite(t, net, 2, []SiteID{1, 2}, s[1].dir, testConfig(), func(c *Config) { c.NoAutoInit = true })
		if err := c.e.StartClient(1); err != nil {
			t.Fatal(err)
		}
		c.waitEvent(t, within, rep.EventJoinFailure)
		testwait.For(t, within, "join failure status", func() bool { return c.status(t).Err != nil })
		err := c.e.View(func(*env.ReadTx) error { return nil })
		if !errors.Is(err, ErrJoinFailure) || !errors.Is(err, rep.ErrJoinFailure) {
			t.Fatalf("View on a join-failed client: %v", err)
		}
		if st := c.status(t); st.SyncState != rep.SyncJoinFailed {
			t.Fatalf("sync state %s", st.SyncState)
		}
	})
}

// With NoWait, operations on a client that is synchronising fail at once
// with ErrLockout; once the sync completes they succeed.
func TestDriverNoWaitClientFailsWithErrLockoutDuringSync(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		ecfg := testConfig()
		dir2 := t.TempDir()
		// The client holds a history of its own, so it must verify.
		pre, err := env.Open(dir2, ecfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pre.Update(t.Context(), func(tx *env.Tx) error { return tx.Put("b", []byte("mine"), []byte("1")) }); err != nil {
			t.Fatal(err)
		}
		if err := pre.Close(); err != nil {
			t.Fatal(err)
		}
		// Hold VERIFY answers back: the client stays in verify (locked out).
		net.setFilter(func(_, _ transport.ID, m rep.Message) bool {
			return m.Type == rep.MsgVerify || m.Type == rep.MsgVerifyFail
		})
		m := startRepSite(t, net, 1, []SiteID{1, 2}, t.TempDir(), ecfg, nil)
		if err := m.e.StartMaster(1); err != nil {
			t.Fatal(err)
		}
		tok := repPut(t, m.e, "a", "1")
		c := startRepSite(t, net, 2, []SiteID{1, 2}, dir2, ecfg, func(c *Config) { c.NoWait = true })
		if err := c.e.StartClient(1); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, within, "lockout", func() bool { return c.status(t).Lockout })
		if err := c.e.View(func(*env.ReadTx) error { return nil }); !errors.Is(err, ErrLockout) || !errors.Is(err, rep.ErrLockout) {
			t.Fatalf("View during sync: %v", err)
		}
		if err := c.e.WaitApplied(t.Context(), tok); !errors.Is(err, ErrLockout) {
			t.Fatalf("WaitApplied during sync: %v", err)
		}
		net.setFilter(nil)
		c.caughtUp(t, within, tok)
		if err := c.e.View(func(*env.ReadTx) error { return nil }); err != nil {
			t.Fatalf("View after sync: %v", err)
		}
		mustData(t, m.env, c.env)
	})
}

func TestDriverDelayedClientStaysBehindUntilSync(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		ecfg := testConfig()
		// The delayed client acknowledges nothing until Sync, so commits must
		// not wait for it: with quorum each would sit out the ack timeout.
		m := startRepSite(t, net, 1, []SiteID{1, 2}, t.TempDir(), ecfg, func(c *Config) { c.AckPolicy = rep.AckNone })
		if err := m.e.StartMaster(1); err != nil {
			t.Fatal(err)
		}
		var tok env.Token
		for i := range 10 {
			tok = repPut(t, m.e, fmt.Sprint("k", i), "v")
		}
		c := startRepSite(t, net, 2, []SiteID{1, 2}, t.TempDir(), ecfg, func(c *Config) { c.DelayClient = true })
		if err := c.e.StartClient(1); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, within, "delayed with the master's generation", func() bool {
			st := c.status(t)
			return st.Gen == 1 && st.SyncState == rep.SyncDelayed
		})
		tok = repPut(t, m.e, "more", "v")
		if err := m.e.WaitApplied(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
		// Give it every chance to move: 200ms of the fake clock, twenty
		// ticks of every loop, looking after each millisecond.
		for range 200 {
			time.Sleep(time.Millisecond)
			if st := c.status(t); st.SyncState != rep.SyncDelayed || !st.LSN.IsZero() {
				t.Fatalf("delayed client moved: %+v", st)
			}
		}
		if err := c.e.View(func(*env.ReadTx) error { return nil }); err != nil { // old data stays readable
			t.Fatal(err)
		}
		if err := c.e.Sync(); err != nil {
			t.Fatal(err)
		}
		c.caughtUp(t, within, tok)
		mustData(t, m.env, c.env)
	})
}

// A client that reconnects to the same master generation resumes from its
// last acknowledged LSN: the master sends only the records committed
// during the break, none it had acknowledged.
func TestDriverWarmReconnectResendsZeroAcknowledgedBytes(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		s := startGroup(t, net, 2, testConfig(), func(_ SiteID, c *Config) { c.AckPolicy = rep.AckNone })
		var tok env.Token
		for i := range 50 {
			tok = repPut(t, s[0].e, fmt.Sprint("k", i), strings.Repeat("v", 100))
		}
		s[1].caughtUp(t, within, tok)
		testwait.For(t, within, "ack", func() bool { return s[0].status(t).Sites[0].Acked == tok.LSN })
		before, cbefore := s[0].stats(t), s[1].stats(t)
		net.setLink(1, 2, false)
		s[0].waitEvent(t, within, rep.EventConnectBroken)
		var during uint64
		for i := range 5 {
			during += uint64(len(payloadOf(t, s[0].env, repPut(t, s[0].e, fmt.Sprint("d", i), "w").LSN)))
		}
		end := s[0].status(t).LSN
		net.setLink(1, 2, true)
		s[1].caughtUp(t, within, env.Token{LSN: end})
		d, cd := s[0].stats(t).Sub(before.Stats), s[1].stats(t).Sub(cbefore.Stats)
		if d.LogBytesSent != during {
			t.Fatalf("master sent %d payload bytes after the reconnect; the records committed since hold %d", d.LogBytesSent, during)
		}
		if cd.LogDuplicated != 0 || cd.Syncs != 0 || cd.VerifyRequests != 0 {
			t.Fatalf("warm resume was not warm: duplicates %d, syncs %d, verifies %d", cd.LogDuplicated, cd.Syncs, cd.VerifyRequests)
		}
	})
}

func payloadOf(t *testing.T, e *env.Env, at lsn.LSN) []byte {
	t.Helper()
	r, err := e.Replica().Read(at)
	if err != nil {
		t.Fatal(err)
	}
	return r.Payload
}

// Garbage on the wire is dropped and counted, never a panic.
func TestDriverMalformedMessagesAreCountedNotFatal(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		s := startGroup(t, net, 2, testConfig(), nil)
		other := net.endpoint(9) // a site of no group connects
		defer other.Close()
		if err := s[1].ep.Send(1, []byte{0xc1, 0xff, 0x00}); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, within, "bad message counted", func() bool { return s[0].stats(t).BadMessages == 1 })
		s[1].caughtUp(t, within, repPut(t, s[0].e, "a", "1"))
		_ = context.Background
	})
}

// Committers hand their records to the loop concurrently, in any order;
// rep must get them in log order. A record handed over before the one
// before it in the log waits for it (found by the soak test: a master
// shipped a record after a gap, and its clients failed appending it).
func TestLocalCommitsReachRepInLogOrder(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		s := startElectGroup(t, net, 3)
		m := waitOneMaster(t, 10*time.Second, s)
		ctx := t.Context()
		put := func(k string) func(*env.Tx) error {
			return func(tx *env.Tx) error { return tx.Put("b", []byte(k), []byte("v")) }
		}
		p1, err := m.env.Append(ctx, put("first"))
		if err != nil {
			t.Fatal(err)
		}
		p2, err := m.env.Append(ctx, put("second"))
		if err != nil {
			t.Fatal(err)
		}
		c2 := m.e.handOff(p2)
		m.e.wake()
		synctest.Wait() // the loop has turned, and must have held the second back
		c1 := m.e.handOff(p1)
		var wg sync.WaitGroup
		for _, p := range []*env.Pending{p1, p2} {
			wg.Go(func() {
				tok, err := p.Durable()
				if err != nil {
					t.Error(err)
					return
				}
				m.e.madeDurable(tok.LSN)
			})
		}
		wg.Wait()
		for i, c := range []*commit{c1, c2} {
			select {
			case perm := <-c.ch:
				if !perm {
					t.Fatalf("commit %d not permanent: rep did not take it", i+1)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("commit %d: no result", i+1)
			}
		}
		last := m.status(t).LSN
		for _, o := range others(s, m) {
			testwait.For(t, 10*time.Second, "the client to hold the master's log", func() bool {
				st := o.status(t)
				return st.LSN == last && st.Err == nil
			})
		}
	})
}

// TestDriverDamagedSnapshotStartsInitOver: the last chunk of the first
// snapshot a client receives is damaged in flight, so the snapshot's
// checksum fails at install. The client does not halt: it drops the
// snapshot, asks again, installs the second one and catches up.
func TestDriverDamagedSnapshotStartsInitOver(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		s := startGroup(t, net, 2, testConfig(), func(_ SiteID, c *Config) { c.AckPolicy = rep.AckNone })
		tok := leaveBehind(t, net, s)
		damaged := 0
		net.setMutate(func(from, to transport.ID, m *rep.Message) bool {
			if m.Type != rep.MsgPage || m.Snap == nil || damaged > 0 || len(m.Data) == 0 || m.Offset+int64(len(m.Data)) != m.Snap.Size {
				return false
			}
			damaged++
			m.Data = slices.Clone(m.Data)
			m.Data[len(m.Data)/2] ^= 0xff
			return true
		})
		net.setLink(1, 2, true)
		s[1].caughtUp(t, within, tok)
		mustData(t, s[0].env, s[1].env)
		if damaged != 1 {
			t.Fatalf("%d chunks damaged, want 1", damaged)
		}
		st := s[1].stats(t)
		if st.InitsBadSnapshot != 1 || st.InitsDone != 1 || st.Inits != 2 {
			t.Fatalf("client stats: %d inits, %d done, %d damaged; want 2, 1, 1", st.Inits, st.InitsDone, st.InitsBadSnapshot)
		}
		if err := s[1].env.Failure(); err != nil {
			t.Fatalf("the client's store failed: %v", err)
		}
		tok = repPut(t, s[0].e, "after", "init")
		s[1].caughtUp(t, within, tok)
	})
}

// TestDriverThirdDamagedSnapshotHalts: when every snapshot arrives
// damaged, the client starts over twice and halts at the third, its
// store failed with the snapshot's error; its counts say three damaged
// and none done, and the halted loop's turns add none.
func TestDriverThirdDamagedSnapshotHalts(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		s := startGroup(t, net, 2, testConfig(), func(_ SiteID, c *Config) { c.AckPolicy = rep.AckNone })
		leaveBehind(t, net, s)
		net.setMutate(func(from, to transport.ID, m *rep.Message) bool {
			if m.Type != rep.MsgPage || m.Snap == nil || len(m.Data) == 0 || m.Offset+int64(len(m.Data)) != m.Snap.Size {
				return false
			}
			m.Data = slices.Clone(m.Data)
			m.Data[len(m.Data)/2] ^= 0xff
			return true
		})
		net.setLink(1, 2, true)
		testwait.For(t, within, "the client's store to fail", func() bool { return s[1].env.Failure() != nil })
		if err := s[1].env.Failure(); !errors.Is(err, env.ErrBadSnapshot) {
			t.Fatalf("the client failed with %v, want a bad snapshot", err)
		}
		time.Sleep(2 * time.Second) // the halted loop turns meanwhile
		if st := s[1].stats(t); st.InitsBadSnapshot != maxBadSnapshots || st.InitsDone != 0 || st.InitsFailed != 1 {
			t.Fatalf("client stats: %d damaged, %d done, %d given up; want %d, 0, 1", st.InitsBadSnapshot, st.InitsDone, st.InitsFailed, maxBadSnapshots)
		}
		if st := s[1].status(t); st.SyncState != rep.SyncInitFailed {
			t.Fatalf("client sync state %s, want init failed", st.SyncState)
		}
	})
}
