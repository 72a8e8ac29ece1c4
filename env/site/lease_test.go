package site

import (
	"errors"
	"logship/env"
	"logship/internal/testwait"
	"sync"
	"testing"
	"time"

	"logship/elect"
	"logship/rep"
	"logship/rep/transport"
)

// startLeaseGroup starts n data sites with elections and leases; mod,
// if not nil, adjusts each site's config.
func startLeaseGroup(t *testing.T, net *testNet, n int, mod func(SiteID, *Config)) []*repSite {
	t.Helper()
	var ids []SiteID
	for i := 1; i <= n; i++ {
		ids = append(ids, SiteID(i))
	}
	var sites []*repSite
	for _, id := range ids {
		sites = append(sites, startWitnessDataSite(t, net, id, ids, 0, t.TempDir(), func(c *Config) {
			c.Leases.On = true
			if mod != nil {
				mod(id, c)
			}
		}))
	}
	return sites
}

func leaseGet(s *repSite, key string) (string, error) {
	var v []byte
	err := s.e.ViewLease(func(tx *env.ReadTx) error {
		var err error
		v, err = tx.Get("b", []byte(key))
		return err
	})
	return string(v), err
}

// anotherWritable returns a site of live other than old that accepts
// writes, or nil.
func anotherWritable(t *testing.T, live []*repSite, old *repSite) *repSite {
	for _, s := range live {
		if s != old && writable(t, s) {
			return s
		}
	}
	return nil
}

func TestLeaseReadRefusedWhenCutOff(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		sites := startLeaseGroup(t, net, 3, nil)
		m := waitOneMaster(t, 10*time.Second, sites)
		repPut(t, m.e, "k", "v1")
		if v, err := leaseGet(m, "k"); err != nil || v != "v1" {
			t.Fatalf("lease read on the master: %q %v", v, err)
		}
		for _, s := range sites {
			if s == m {
				continue
			}
			var nm *NotMasterError
			if _, err := leaseGet(s, "k"); !errors.As(err, &nm) || nm.Master != m.id {
				t.Fatalf("lease read on client %d: %v, want NotMasterError naming %d", s.id, err, m.id)
			}
		}
		// A write is visible to the next lease read, applied or not.
		repPut(t, m.e, "k", "v2")
		if v, err := leaseGet(m, "k"); err != nil || v != "v2" {
			t.Fatalf("lease read after a write: %q %v", v, err)
		}

		// Read continuously on the old master while it is cut off from both
		// clients; note when each read started.
		type read struct {
			start time.Time
			err   error
		}
		var (
			mu    sync.Mutex
			reads []read
			stop  = make(chan struct{})
			done  = make(chan struct{})
		)
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				_, err := leaseGet(m, "k")
				mu.Lock()
				reads = append(reads, read{start, err})
				mu.Unlock()
				time.Sleep(time.Millisecond) // fake clock: a read every millisecond
			}
		}()
		defer func() {
			select {
			case <-stop:
			default:
				close(stop)
			}
			<-done
		}()
		cut := time.Now()
		for _, s := range sites {
			if s != m {
				net.setLink(transport.ID(m.id), transport.ID(s.id), false)
			}
		}
		// The lease runs out within LeaseTimeout of the last grant.
		var expiredAt time.Time
		testwait.For(t, 3*time.Second, "lease reads to fail", func() bool {
			_, err := leaseGet(m, "k")
			if err == nil {
				return false
			}
			if !errors.Is(err, ErrLeaseExpired) || !errors.Is(err, elect.ErrLeaseExpired) {
				t.Fatalf("lease read on the cut-off master: %v, want ErrLeaseExpired", err)
			}
			expiredAt = time.Now()
			return true
		})
		t.Logf("lease reads refused %v after the cut", expiredAt.Sub(cut))
		if _, err := tryPut(m, "k", "lost", time.Second); !errors.Is(err, ErrLeaseExpired) || !errors.Is(err, ErrNotMaster) {
			t.Fatalf("write on the cut-off master: %v, want ErrLeaseExpired and ErrNotMaster", err)
		}

		// Another site takes over; from then on no lease read on the old
		// master succeeds.
		var live []*repSite
		for _, s := range sites {
			if s != m {
				live = append(live, s)
			}
		}
		var nm *repSite
		testwait.For(t, 10*time.Second, "a new writable master", func() bool {
			nm = anotherWritable(t, live, m)
			return nm != nil
		})
		newWritable := time.Now()
		t.Logf("site %d writable %v after the cut", nm.id, newWritable.Sub(cut))
		repPut(t, nm.e, "k", "v3")
		time.Sleep(200 * time.Millisecond) // fake clock: the reads go on under the new master
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		failed := 0
		for _, r := range reads {
			if r.err == nil {
				if !r.start.Before(newWritable) {
					t.Fatalf("a lease read started %v after the cut, once site %d accepted writes, succeeded", r.start.Sub(cut), nm.id)
				}
				if !r.start.Before(expiredAt) {
					t.Fatalf("a lease read started %v after the cut succeeded after reads had been refused", r.start.Sub(cut))
				}
				continue
			}
			failed++
			if !errors.Is(r.err, ErrLeaseExpired) {
				t.Fatalf("lease read on the cut-off master: %v", r.err)
			}
		}
		if failed == 0 {
			t.Fatal("no lease read failed while cut off")
		}
		if v, err := leaseGet(m, "k"); err == nil {
			t.Fatalf("lease read on the old master returned %q after site %d took over", v, nm.id)
		}
		if v, err := leaseGet(nm, "k"); err != nil || v != "v3" {
			t.Fatalf("lease read on the new master: %q %v", v, err)
		}
	})
}

func TestNewMasterWaitsOutLeases(t *testing.T) {
	bubble(t, func(t *testing.T) {
		// Note when each site is elected, on its driver goroutine: no later
		// than a moment after it won.
		var (
			mu      sync.Mutex
			elected = map[SiteID]time.Time{}
		)
		net := newTestNet(t)
		sites := startLeaseGroup(t, net, 3, func(id SiteID, c *Config) {
			c.OnEvent = func(ev Event) {
				if ev.Elect != nil && ev.Elect.Type == elect.EventElected {
					mu.Lock()
					elected[id] = time.Now()
					mu.Unlock()
				}
			}
		})
		m := waitOneMaster(t, 10*time.Second, sites)
		repPut(t, m.e, "k", "v")
		if _, err := leaseGet(m, "k"); err != nil {
			t.Fatal(err)
		}
		site := m.e
		m.stop()
		oldLease := site.lease.deadline() // the old master's last promise, final now
		if oldLease.IsZero() {
			t.Fatal("the master held no lease before it stopped")
		}

		var live []*repSite
		for _, s := range sites {
			if s != m {
				live = append(live, s)
			}
		}
		// Hammer the survivors with writes until one is accepted.
		var (
			accepted time.Time
			winner   *repSite
			waited   bool
		)
		deadline := time.Now().Add(10 * time.Second)
		for winner == nil {
			if time.Now().After(deadline) {
				t.Fatal("no survivor accepted a write within 10s")
			}
			for _, s := range live {
				if s.status(t).Role != rep.RoleMaster {
					continue
				}
				var inFn time.Time
				_, err := s.e.Update(t.Context(), func(tx *env.Tx) error {
					inFn = time.Now()
					return tx.Put("b", []byte("k2"), []byte("v2"))
				})
				if err == nil {
					winner, accepted = s, inFn
					break
				}
				if !errors.Is(err, ErrNotMaster) {
					t.Fatalf("write on the new master: %v, want ErrNotMaster", err)
				}
				if errors.Is(err, elect.ErrLeaseWait) {
					waited = true
				}
			}
			time.Sleep(time.Millisecond) // fake clock: a round every millisecond
		}
		if accepted.Before(oldLease) {
			t.Fatalf("site %d accepted a write %v before the old master's lease could expire", winner.id, oldLease.Sub(accepted))
		}
		mu.Lock()
		won, ok := elected[winner.id]
		mu.Unlock()
		if !ok {
			t.Fatalf("site %d accepted a write with no Elected event", winner.id)
		}
		// The wait is LeaseTimeout+ClockSkew ticks of the new master's clock,
		// which never runs ahead of real time.
		if wait := accepted.Sub(won); wait < defaultLeaseTimeout-50*time.Millisecond {
			t.Fatalf("site %d wrote %v after winning, want about %v or more", winner.id, wait, defaultLeaseTimeout)
		}
		t.Logf("site %d: elected, first write %v later, %v after the old lease ran out (lease-wait refusals seen: %v)",
			winner.id, accepted.Sub(won), accepted.Sub(oldLease), waited)
	})
}

func TestViewLeaseNeedsLeases(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		s := startElectGroup(t, net, 3)
		m := waitOneMaster(t, 10*time.Second, s)
		if err := m.e.ViewLease(func(*env.ReadTx) error { return nil }); !errors.Is(err, ErrElections) {
			t.Fatalf("ViewLease without leases: %v", err)
		}
	})
}

// A master whose loop is held up past its lease deadline says, in its
// election status, that it cannot write: the status the loop last
// published predates the stall, and the core's clock stood still with
// the loop, so only the deadline knows.
func TestStalledMasterStatusSaysTheLeaseRanOut(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		sites := startLeaseGroup(t, net, 3, nil)
		m := waitOneMaster(t, 10*time.Second, sites)
		repPut(t, m.e, "k", "v")
		if es, err := m.e.ElectStatus(); err != nil || es.WriteErr != nil {
			t.Fatalf("master's election status before the stall: %+v %v", es, err)
		}
		stalled := make(chan error, 1)
		go func() {
			stalled <- m.e.do(func() error { time.Sleep(3 * defaultLeaseTimeout); return nil })
		}()
		time.Sleep(2 * defaultLeaseTimeout) // fake clock: well inside the stall, past the lease
		es, err := m.e.ElectStatus()
		if err != nil || !errors.Is(es.WriteErr, ErrLeaseExpired) {
			t.Fatalf("election status of a master stalled past its lease: WriteErr %v (err %v), want ErrLeaseExpired", es.WriteErr, err)
		}
		if _, err := leaseGet(m, "k"); !errors.Is(err, ErrLeaseExpired) {
			t.Fatalf("lease read on the stalled master: %v, want ErrLeaseExpired", err)
		}
		if err := <-stalled; err != nil {
			t.Fatal(err)
		}
	})
}
