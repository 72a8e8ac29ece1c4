package site

import (
	"context"
	"errors"
	"fmt"
	"logship/env"
	"logship/internal/testwait"
	"strings"
	"sync"
	"testing"
	"time"

	"logship/elect"
	"logship/rep"
	"logship/rep/transport"
	"logship/wal/vfs"
)

// startElectSiteWith starts site id of group ids in dir in election mode;
// mod adjusts the environment's and the replication config.
func startElectSiteWith(t *testing.T, net *testNet, id SiteID, ids []SiteID, dir string, mod func(*env.Config, *Config)) *repSite {
	t.Helper()
	ecfg := testConfig()
	ecfg.Logger = electLogger()
	var rmod func(*Config)
	if mod != nil {
		mod(&ecfg, nil)
		rmod = func(c *Config) { mod(nil, c) }
	}
	return startRepSite(t, net, id, ids, dir, ecfg, func(c *Config) {
		c.Election.On = true
		if rmod != nil {
			rmod(c)
		}
	})
}

// withPriorities gives each site of the group the priority prio names (1
// if absent); each site tells the others its own.
func withPriorities(id SiteID, prio map[SiteID]uint32) func(*env.Config, *Config) {
	p := func(s SiteID) uint32 {
		if v, ok := prio[s]; ok {
			return v
		}
		return 1
	}
	return func(_ *env.Config, c *Config) {
		if c == nil {
			return
		}
		c.Priority = p(id)
	}
}

func others(all []*repSite, not ...*repSite) []*repSite {
	var out []*repSite
	for _, s := range all {
		skip := false
		for _, n := range not {
			skip = skip || s == n
		}
		if !skip {
			out = append(out, s)
		}
	}
	return out
}

// writeResult is one write a test writer made.
type writeResult struct {
	key  string
	perm bool
	err  error
}

// writeLoop commits distinct keys on e until stop is closed or max
// writes were made, pausing briefly after a refused write.
func writeLoop(e *Site, prefix string, max int, stop <-chan struct{}) []writeResult {
	var res []writeResult
	pause := time.NewTicker(time.Millisecond)
	defer pause.Stop()
	for i := range max {
		select {
		case <-stop:
			return res
		default:
		}
		key := fmt.Sprintf("%s-%d", prefix, i)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		tok, err := e.Update(ctx, func(tx *env.Tx) error { return tx.Put("b", []byte(key), []byte("v")) })
		cancel()
		res = append(res, writeResult{key: key, perm: err == nil && tok.Permanent, err: err})
		if err != nil {
			select {
			case <-stop:
				return res
			case <-pause.C:
			}
		}
	}
	return res
}

// TestTransferLosesNothing stays on the real clock: its writers commit
// back to back, so some goroutine is always in an fsync or running, and a
// bubble's fake clock would never move; the transfer, which needs ticks,
// would begin only once every write was done, with none in flight.
func TestTransferLosesNothing(t *testing.T) {
	net := newTestNet(t)
	s := startElectGroup(t, net, 3)
	m := waitOneMaster(t, 10*time.Second, s)
	gen := m.status(t).Gen
	target := others(s, m)[0]
	for i := range 10 {
		if tok := repPut(t, m.e, fmt.Sprint("pre", i), "v"); !tok.Permanent {
			t.Fatalf("commit %d before the transfer not permanent", i)
		}
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	results := make([][]writeResult, 3)
	for g := range results {
		wg.Go(func() { results[g] = writeLoop(m.e, fmt.Sprint("w", g), 20000, stop) })
	}
	stopWriters := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopWriters)
	// Let the writers get going, so commits are in flight when the
	// transfer begins.
	testwait.For(t, within, "writes in flight", func() bool {
		st := m.e.Stats()
		return st.Perms >= 60
	})

	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	if err := m.e.Transfer(ctx, target.id); err != nil {
		t.Fatalf("Transfer to %d: %v", target.id, err)
	}
	// Transfer returned: the old master follows the target at a newer
	// generation.
	st := m.status(t)
	if st.Role != rep.RoleClient || st.Master != target.id || st.Gen <= gen {
		t.Fatalf("old master after Transfer: role %s master %d gen %d (was %d)", st.Role, st.Master, st.Gen, gen)
	}
	// The target became master before it announced it; its published
	// status may trail by a moment.
	testwait.For(t, time.Second, "the target's status to show it master", func() bool {
		ts := target.status(t)
		return ts.Role == rep.RoleMaster && ts.Gen == st.Gen
	})
	stopWriters()

	perm, refused := 0, 0
	var permKeys []string
	for _, rs := range results {
		for _, r := range rs {
			switch {
			case r.err != nil:
				if !errors.Is(r.err, ErrNotMaster) {
					t.Fatalf("write %s on the old master: %v, want an error wrapping ErrNotMaster", r.key, r.err)
				}
				refused++
			case r.perm:
				perm++
				permKeys = append(permKeys, r.key)
			}
		}
	}
	t.Logf("writers: %d permanent, %d refused", perm, refused)
	if refused == 0 {
		t.Fatal("no write on the old master was refused during the transfer")
	}

	nm := waitOneMaster(t, within, s)
	if nm != target {
		t.Fatalf("master after the transfer is site %d, want %d", nm.id, target.id)
	}
	tok := repPut(t, nm.e, "after", "transfer")
	if !tok.Permanent {
		t.Fatal("write on the new master not permanent")
	}
	ctx2, cancel2 := context.WithTimeout(t.Context(), within)
	defer cancel2()
	if err := nm.e.WaitApplied(ctx2, tok); err != nil {
		t.Fatal(err)
	}
	for _, k := range permKeys {
		if _, ok := viewGet(t, nm.e, "b", k); !ok {
			t.Fatalf("write %s reported permanent is missing on the new master", k)
		}
	}
	for _, x := range others(s, nm) {
		x.caughtUp(t, within, tok)
		mustData(t, nm.env, x.env)
	}
	if ss := m.stats(t); ss.Rollbacks != 0 {
		t.Fatalf("the old master rolled back %d times: it held something the target lacked", ss.Rollbacks)
	}
}

func TestTransferErrors(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		ids := []SiteID{1, 2, 3}
		prio := map[SiteID]uint32{3: 0}
		var s []*repSite
		for _, id := range ids {
			s = append(s, startElectSiteWith(t, net, id, ids, t.TempDir(), withPriorities(id, prio)))
		}
		m := waitOneMaster(t, 10*time.Second, s)
		gen := m.status(t).Gen
		var client, zero *repSite
		for _, x := range others(s, m) {
			if x.id == 3 {
				zero = x
			} else {
				client = x
			}
		}
		ctx, cancel := context.WithTimeout(t.Context(), within)
		defer cancel()

		if err := m.e.Transfer(ctx, 9); !errors.Is(err, elect.ErrUnknownSite) {
			t.Fatalf("transfer to an unknown site: %v", err)
		}
		if err := m.e.Transfer(ctx, m.id); !errors.Is(err, elect.ErrUnknownSite) {
			t.Fatalf("transfer to itself: %v", err)
		}
		if err := m.e.Transfer(ctx, zero.id); !errors.Is(err, elect.ErrNotElectable) || !errors.Is(err, ErrTransferFailed) {
			t.Fatalf("transfer to a priority-0 site: %v", err)
		}
		var nm *NotMasterError
		if err := client.e.Transfer(ctx, zero.id); !errors.As(err, &nm) || nm.Master != m.id || !errors.Is(err, ErrNotMaster) {
			t.Fatalf("transfer on a client: %v", err)
		}
		done, stop := context.WithCancel(t.Context())
		stop()
		if err := m.e.Transfer(done, client.id); !errors.Is(err, context.Canceled) {
			t.Fatalf("transfer with an ended context: %v", err)
		}
		// None of these started a transfer: the master still writes.
		if tok := repPut(t, m.e, "still", "master"); !tok.Permanent {
			t.Fatal("write after refused transfers not permanent")
		}

		// A target the master cannot reach: the transfer fails at once,
		// saying so, and never refuses a write.
		net.setLink(transport.ID(m.id), transport.ID(client.id), false)
		if err := m.e.Transfer(ctx, client.id); !errors.Is(err, ErrTransferFailed) || !strings.Contains(err.Error(), "not connected") {
			t.Fatalf("transfer to a disconnected target: %v", err)
		}
		if es, err := m.e.ElectStatus(); err != nil || es.WriteErr != nil {
			t.Fatalf("writes refused after a transfer to a disconnected target failed: %v %v", es.WriteErr, err)
		}
		net.setLink(transport.ID(m.id), transport.ID(client.id), true)
		testwait.For(t, within, "the link back up", func() bool { return m.ep.Connected(transport.ID(client.id)) })

		// A target that cannot catch up (connected, but the log does not
		// reach it): the transfer times out, fails with ErrTransferFailed
		// saying the target did not catch up, and writes resume.
		net.setFilter(func(from, to transport.ID, msg rep.Message) bool {
			return from == transport.ID(m.id) && to == transport.ID(client.id) && msg.Type == rep.MsgLog
		})
		// Not permanent: the quorum of electable sites is both data sites.
		repPut(t, m.e, "unseen", "by the target")
		begun := time.Now()
		if err := m.e.Transfer(ctx, client.id); !errors.Is(err, ErrTransferFailed) || !strings.Contains(err.Error(), "did not catch up") {
			t.Fatalf("transfer to a target that cannot catch up: %v", err)
		}
		t.Logf("transfer gave up after %v", time.Since(begun).Round(time.Millisecond))
		net.setFilter(nil)
		if st := m.status(t); st.Role != rep.RoleMaster || st.Gen != gen {
			t.Fatalf("master after the failed transfer: role %s gen %d", st.Role, st.Gen)
		}
		testwait.For(t, within, "writes to resume", func() bool {
			es, err := m.e.ElectStatus()
			return err == nil && es.WriteErr == nil
		})
		repPut(t, m.e, "resumed", "v")
	})
}

func TestSetPriorityAtRunTime(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		ids := []SiteID{1, 2, 3}
		prio := map[SiteID]uint32{1: 100, 2: 50, 3: 10}
		var s []*repSite
		for _, id := range ids {
			s = append(s, startElectSiteWith(t, net, id, ids, t.TempDir(), withPriorities(id, prio)))
		}
		m := waitOneMaster(t, 10*time.Second, s)
		rest := others(s, m)
		// favourite would win the next election at equal logs; it is set
		// to priority 0, so the other one must win.
		favourite, other := rest[0], rest[1]
		if prio[other.id] > prio[favourite.id] {
			favourite, other = other, favourite
		}
		if err := favourite.e.SetPriority(0); err != nil {
			t.Fatal(err)
		}
		if es, err := favourite.e.ElectStatus(); err != nil || es.Priority != 0 {
			t.Fatalf("elect status after SetPriority(0): %+v %v", es, err)
		}
		var tok env.Token
		for i := range 5 {
			tok = repPut(t, m.e, fmt.Sprint("k", i), "v")
		}
		for _, x := range rest {
			x.caughtUp(t, within, tok)
		}
		m.stop()
		nm := waitOneMaster(t, 10*time.Second, rest)
		if nm != other {
			t.Fatalf("site %d won the election; site %d has priority 0, so site %d should have", nm.id, favourite.id, other.id)
		}
		// A master set to priority 0 keeps mastership until the next election.
		if err := nm.e.SetPriority(0); err != nil {
			t.Fatal(err)
		}
		if tok := repPut(t, nm.e, "after", "priority 0"); !tok.Permanent {
			t.Fatal("write on a master set to priority 0 not permanent")
		}
		if st := nm.status(t); st.Role != rep.RoleMaster {
			t.Fatalf("master set to priority 0: role %s", st.Role)
		}
	})
}

func TestSetDelayClientAtRunTime(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		s := startElectGroup(t, net, 3)
		m := waitOneMaster(t, 10*time.Second, s)
		rest := others(s, m)
		delayed, target := rest[0], rest[1]
		repPut(t, m.e, "before", "v")
		if err := delayed.e.SetDelayClient(true); err != nil {
			t.Fatal(err)
		}
		// A new master: the delayed client follows it but does not sync.
		transfer := func(from, to *repSite) {
			t.Helper()
			ctx, cancel := context.WithTimeout(t.Context(), within)
			defer cancel()
			if err := from.e.Transfer(ctx, to.id); err != nil {
				t.Fatalf("transfer %d -> %d: %v", from.id, to.id, err)
			}
			// The target announced itself before publishing its new
			// status: give that a moment.
			testwait.For(t, time.Second, "the target to accept writes", func() bool {
				es, err := to.e.ElectStatus()
				return err == nil && es.WriteErr == nil && to.status(t).Role == rep.RoleMaster
			})
		}
		stayBehind := func(master *repSite, key string) env.Token {
			t.Helper()
			testwait.For(t, within, "the delayed client to wait for Sync", func() bool {
				st := delayed.status(t)
				return st.Master == master.id && st.SyncState == rep.SyncDelayed
			})
			tok := repPut(t, master.e, key, "v")
			if !tok.Permanent {
				t.Fatalf("write %s on the new master not permanent", key)
			}
			st := delayed.status(t)
			if st.SyncState != rep.SyncDelayed || !st.DurableLSN.Less(tok.LSN) {
				t.Fatalf("delayed client: sync %s durable %s, write at %s", st.SyncState, st.DurableLSN, tok.LSN)
			}
			if _, ok := viewGet(t, delayed.e, "b", key); ok {
				t.Fatalf("delayed client applied %s", key)
			}
			return tok
		}
		transfer(m, target)
		tok := stayBehind(target, "while-delayed-1")
		if err := delayed.e.SetDelayClient(false); err != nil {
			t.Fatal(err)
		}
		delayed.caughtUp(t, within, tok)
		mustData(t, target.env, delayed.env)

		// On again; this time Sync releases it.
		if err := delayed.e.SetDelayClient(true); err != nil {
			t.Fatal(err)
		}
		waitOneMaster(t, within, s)
		transfer(target, m)
		tok = stayBehind(m, "while-delayed-2")
		if err := delayed.e.Sync(); err != nil {
			t.Fatal(err)
		}
		delayed.caughtUp(t, within, tok)
		mustData(t, m.env, delayed.env)
	})
}

// startInjectedGroup starts n electing sites whose logs run on fault
// injectors, each site's site config adjusted by mod (nil: none).
func startInjectedGroup(t *testing.T, n int, mod func(*Config)) ([]*repSite, map[SiteID]*vfs.Injector) {
	t.Helper()
	net := newTestNet(t)
	var ids []SiteID
	for i := 1; i <= n; i++ {
		ids = append(ids, SiteID(i))
	}
	inj := map[SiteID]*vfs.Injector{}
	var s []*repSite
	for _, id := range ids {
		inj[id] = vfs.NewInjector(vfs.OS)
		s = append(s, startElectSiteWith(t, net, id, ids, t.TempDir(), func(e *env.Config, c *Config) {
			if e != nil {
				e.FS = inj[id]
			}
			if c != nil && mod != nil {
				mod(c)
			}
		}))
	}
	return s, inj
}
