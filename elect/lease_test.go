package elect

import (
	"errors"
	"testing"
)

func TestNewMasterWaitsOutOldLeasesBeforeWriting(t *testing.T) {
	h := newHarness(t, 3, leases)
	h.startAll()
	m := h.tickUntilMaster(50)
	n := h.node(m).n
	if err := n.WriteErr(); !errors.Is(err, ErrLeaseWait) {
		t.Fatalf("fresh master WriteErr = %v, want ErrLeaseWait", err)
	}
	if n.CanReadLease() {
		t.Fatal("fresh master serves lease reads before the wait")
	}
	cfg := h.node(m).cfg
	won := n.lease.wonAt
	h.tickUntil("master can write", cfg.LeaseTicks+cfg.ClockSkew+5, n.CanWrite)
	if got := n.Now() - won; got < uint64(cfg.LeaseTicks+cfg.ClockSkew) {
		t.Fatalf("could write %d ticks after winning, want >= %d", got, cfg.LeaseTicks+cfg.ClockSkew)
	}
	if !n.CanReadLease() {
		t.Fatal("master with grants cannot read")
	}
}

func TestIsolatedMasterLosesLease(t *testing.T) {
	h := newHarness(t, 3, leases)
	h.startAll()
	m := h.tickUntilMaster(50)
	n := h.node(m).n
	h.tickUntil("writable", 100, n.CanWrite)
	h.isolate(m, true)
	cfg := h.node(m).cfg
	h.tickUntil("lease expired", cfg.LeaseTicks, func() bool { return !n.CanReadLease() })
	if err := n.WriteErr(); !errors.Is(err, ErrLeaseExpired) {
		t.Fatalf("WriteErr = %v, want ErrLeaseExpired", err)
	}
	if !h.hasEvent(m, EventLeaseExpired) {
		t.Fatal("no EventLeaseExpired")
	}
	if n.Status().Role != RoleMaster {
		t.Fatal("an expired lease should not by itself demote the master")
	}
}

func TestLeaseRefusedToOlderGeneration(t *testing.T) {
	h := newHarness(t, 3, leases)
	h.startAll()
	m := h.tickUntilMaster(50)
	gen := h.node(m).n.Status().Gen
	other := SiteID(1)
	if other == m {
		other = 2
	}
	n := h.node(other).n
	before := n.Stats().LeaseRefused
	n.Step(Message{V: Version, Type: MsgLeaseReq, From: m, To: other, EGen: gen - 1, Gen: gen - 1, Stamp: 1})
	if n.Stats().LeaseRefused != before+1 {
		t.Fatal("lease granted to an older generation")
	}
}

// With leases, no two sites may accept writes (or lease reads) at the
// same tick, whatever crashes, partitions, loss and delays happen.
func TestLeasesNeverTwoWritableSitesAtOneTick(t *testing.T) {
	seeds := 300
	if testing.Short() {
		seeds = 50
	}
	total := 0
	for seed := range uint64(seeds) {
		size := 3 + 2*int(seed%2)
		h := newHarnessSeed(t, seed, size, tight, leases)
		h.loss, h.maxDelay, h.wire = 0.05, 3, false
		// An impatient heartbeat monitor and operators calling elect:
		// the leases, not the timeouts, must keep the masters apart.
		h.monitorTicks = uint64(h.node(1).cfg.HeartbeatTicks) + 1
		// Some clocks run slow: 1 tick in 11 lost, about the
		// ClockSkew of 2 ticks per LeaseTicks of 20 that TightConfig
		// allows.
		for _, id := range h.ids {
			if h.rng.IntN(2) == 0 {
				h.node(id).skipEvery = 11
			}
		}
		h.startAll()
		writable := 0
		for tick := range 1000 {
			h.tick()
			w, r := 0, 0
			for _, id := range h.ids {
				hn := h.node(id)
				if !hn.up {
					continue
				}
				if hn.n.CanWrite() {
					w++
				}
				if hn.n.CanReadLease() {
					r++
				}
			}
			if w > 1 || r > 1 {
				t.Fatalf("seed %d tick %d: %d sites can write, %d can read under lease\n%s", seed, h.now, w, r, h.dump())
			}
			if w > 0 {
				writable++
			}
			if tick > 700 {
				continue // heal and settle at the end
			}
			switch h.rng.IntN(60) {
			case 0:
				id := h.ids[h.rng.IntN(size)]
				if h.node(id).up {
					h.crash(id)
				} else {
					h.restart(id)
				}
			case 1:
				a, b := h.ids[h.rng.IntN(size)], h.ids[h.rng.IntN(size)]
				if a != b {
					h.partition(a, b, !h.cut[[2]SiteID{a, b}])
				}
			case 4:
				id := h.ids[h.rng.IntN(size)]
				if h.node(id).up {
					h.node(id).n.Campaign()
					h.process(id)
				}
			case 2, 3:
				// One-way cut: a hears b, b does not hear a.
				a, b := h.ids[h.rng.IntN(size)], h.ids[h.rng.IntN(size)]
				if a != b {
					k := [2]SiteID{a, b}
					if h.cut[k] {
						delete(h.cut, k)
					} else {
						h.cut[k] = true
					}
				}
			}
			if tick == 700 {
				h.loss = 0
				h.cut = map[[2]SiteID]bool{}
				for _, id := range h.ids {
					if !h.node(id).up {
						h.restart(id)
					}
				}
			}
		}
		h.tickUntil("a writable master after healing", 500, func() bool {
			m := h.master()
			return m != 0 && h.node(m).n.CanWrite()
		})
		total += writable
	}
	if total < seeds*100 {
		t.Errorf("writable %d site-ticks over %d seeds: the faults leave too little progress", total, seeds)
	}
}
