package elect

import "testing"

func TestLeaseExpiryAgreesWithLeaseHeld(t *testing.T) {
	const lease, skew = 50, 2
	cases := []struct {
		name   string
		stamps []uint64
		n      int
		want   uint64
	}{
		{"alone is a majority", nil, 1, ^uint64(0)},
		{"no grant in three", nil, 3, 0},
		{"one grant of three", []uint64{10}, 3, 58},
		{"newest of two grants decides in three", []uint64{10, 30}, 3, 78},
		{"second newest decides in five", []uint64{40, 10, 30, 20}, 5, 78},
		{"too few grants in five", []uint64{40}, 5, 0},
		{"two sites need the other", []uint64{7}, 2, 55},
		{"skew above lease", []uint64{7}, 2, 7},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, s := lease, skew
			if c.name == "skew above lease" {
				l, s = 2, 5
			}
			got := LeaseExpiry(c.stamps, c.n, l, s)
			if got != c.want {
				t.Fatalf("LeaseExpiry = %d, want %d", got, c.want)
			}
			// Held exactly before the expiry, never at or after it.
			if got == 0 || got == ^uint64(0) {
				return
			}
			if !LeaseHeld(c.stamps, got-1, c.n, l, s) {
				t.Fatalf("not held at %d, one tick before the expiry", got-1)
			}
			if LeaseHeld(c.stamps, got, c.n, l, s) {
				t.Fatalf("still held at the expiry %d", got)
			}
		})
	}
}

// LeaseValidTicks is a promise: a master cut off from every grantor keeps
// CanReadLease for exactly that many ticks, and it is 0 whenever
// CanReadLease is false.
func TestLeaseValidTicksIsAPromiseCanReadLeaseKeeps(t *testing.T) {
	h := newHarness(t, 3, leases)
	h.startAll()
	m := h.tickUntilMaster(50)
	n := h.node(m).n
	if v := n.LeaseValidTicks(); v != 0 {
		t.Fatalf("fresh master (still waiting out old leases) promises %d ticks", v)
	}
	h.tickUntil("lease reads", 200, n.CanReadLease)
	for range 30 {
		h.tick()
		if got, want := n.LeaseValidTicks() > 0, n.CanReadLease(); got != want {
			t.Fatalf("LeaseValidTicks %d while CanReadLease = %v", n.LeaseValidTicks(), want)
		}
	}
	h.isolate(m, true)
	v := n.LeaseValidTicks()
	cfg := h.node(m).cfg
	if v == 0 || v > uint64(cfg.LeaseTicks-cfg.ClockSkew) {
		t.Fatalf("promise %d ticks, want in (0, %d]", v, cfg.LeaseTicks-cfg.ClockSkew)
	}
	for i := uint64(1); i < v; i++ {
		h.tick()
		if !n.CanReadLease() {
			t.Fatalf("lease lost %d ticks after promising %d", i, v)
		}
		if got := n.LeaseValidTicks(); got != v-i {
			t.Fatalf("after %d ticks the promise is %d, want %d", i, got, v-i)
		}
	}
	h.tick()
	if n.CanReadLease() || n.LeaseValidTicks() != 0 {
		t.Fatalf("lease still held (%d ticks) after the promise ran out", n.LeaseValidTicks())
	}
}

func TestLeaseValidTicksZeroWithoutLeasesOrOnClients(t *testing.T) {
	h := newHarness(t, 3)
	h.startAll()
	m := h.tickUntilMaster(50)
	h.ticks(20)
	for _, id := range h.ids {
		if v := h.node(id).n.LeaseValidTicks(); v != 0 {
			t.Fatalf("site %d (master %d) without leases promises %d ticks", id, m, v)
		}
	}
	h = newHarness(t, 1, leases)
	h.startAll()
	n := h.node(1).n
	h.tickUntil("lone master reads", 200, n.CanReadLease)
	cfg := h.node(1).cfg
	if v := n.LeaseValidTicks(); v != uint64(cfg.LeaseTicks-cfg.ClockSkew) {
		t.Fatalf("lone master promises %d ticks, want %d", v, cfg.LeaseTicks-cfg.ClockSkew)
	}
}
