package site

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"logship/env"
	"logship/internal/testwait"
	"logship/wal/lsn"
)

func TestAppendRingNeverUnderstatesLag(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := func(o uint32) lsn.LSN { return lsn.New(1, o) }
	var r appendRing
	r.add(l(100), t0)
	r.add(l(200), t0.Add(time.Millisecond)) // joins the first sample
	r.add(l(300), t0.Add(time.Second))
	r.add(l(300), t0.Add(2*time.Second)) // nothing new: ignored
	tests := []struct {
		flushed lsn.LSN
		want    time.Time
		ok      bool
	}{
		{lsn.Zero, t0, true},
		{l(100), t0, true}, // 200 was appended 1 ms later; t0 is never too late
		{l(200), t0.Add(time.Second), true},
		{l(250), t0.Add(time.Second), true},
		{l(300), time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := r.appendedAt(tt.flushed)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("appendedAt(%s) = %v, %t; want %v, %t", tt.flushed, got, ok, tt.want, tt.ok)
		}
	}
}

func TestAppendRingFullMergesOldest(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var r appendRing
	for i := range appendRingSize + 10 {
		r.add(lsn.New(1, uint32(i+1)*100), t0.Add(time.Duration(i)*time.Second))
	}
	if r.n != appendRingSize {
		t.Fatalf("ring holds %d samples, want %d", r.n, appendRingSize)
	}
	// The oldest records are still dated by the oldest time: a site that
	// flushed nothing shows the full age.
	if got, ok := r.appendedAt(lsn.Zero); !ok || !got.Equal(t0) {
		t.Fatalf("oldest = %v, %t; want %v", got, ok, t0)
	}
	// Recent records keep their own time.
	last := appendRingSize + 9
	if got, _ := r.appendedAt(lsn.New(1, uint32(last)*100)); !got.Equal(t0.Add(time.Duration(last) * time.Second)) {
		t.Fatalf("newest = %v", got)
	}
}

func TestCatchUpETA(t *testing.T) {
	tests := []struct {
		name string
		lag  int64
		rate float64
		want time.Duration
	}{
		{"caught up", 0, 0, 0},
		{"not progressing", 1000, 0, -1},
		{"1000 bytes at 500/s", 1000, 500, 2 * time.Second},
		{"absurdly slow", 1 << 40, 1.5, -1},
	}
	for _, tt := range tests {
		if got := catchUpETA(tt.lag, tt.rate); got != tt.want {
			t.Errorf("%s: catchUpETA(%d, %v) = %v, want %v", tt.name, tt.lag, tt.rate, got, tt.want)
		}
	}
}

func TestDriverSiteProgressCaughtUpThenStopped(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		s := startGroup(t, net, 3, testConfig(), nil)
		var tok env.Token
		for i := range 20 {
			tok = repPut(t, s[0].e, fmt.Sprint("k", i), "v")
		}
		for _, c := range s[1:] {
			c.caughtUp(t, within, tok)
		}
		// Caught up: sent = flushed = applied = the master's last record, no
		// lag of any kind. Applied arrives on the client's next tick.
		testwait.For(t, within, "both clients reported applied", func() bool {
			st := s[0].status(t)
			for _, x := range st.Sites {
				if x.AppliedLSN != st.LSN {
					return false
				}
			}
			return true
		})
		st := s[0].status(t)
		if !st.LSN.Less(st.EndLSN) {
			t.Fatalf("end of log %s not after the last record %s", st.EndLSN, st.LSN)
		}
		for _, x := range st.Sites {
			if x.SentLSN != st.LSN || x.FlushedLSN != st.LSN || x.AppliedLSN != st.LSN || x.Acked != st.LSN ||
				x.LagBytes != 0 || x.LagTime != 0 || x.CatchUpETA != 0 {
				t.Fatalf("caught-up site %d: %+v (master last %s)", x.ID, x, st.LSN)
			}
		}

		// Site 3 stops; the master keeps writing: its lag grows in bytes and
		// in time, while site 2 keeps up.
		stoppedAt := st.LSN
		s[2].stop()
		lagOf := func(id SiteID) SiteStatus {
			for _, x := range s[0].status(t).Sites {
				if x.ID == id {
					return x
				}
			}
			t.Fatalf("no site %d", id)
			return SiteStatus{}
		}
		testwait.For(t, within, "site 3 seen down", func() bool { return !lagOf(3).Connected })
		tok = repPut(t, s[0].e, "after", "1")
		testwait.For(t, within, "site 3 lagging", func() bool { return lagOf(3).LagTime > 0 })
		first := lagOf(3)
		// Lag is an age: it grows with the clock alone, republished each tick.
		testwait.For(t, within, "site 3's lag to age", func() bool { return lagOf(3).LagTime > first.LagTime })
		for i := range 5 {
			tok = repPut(t, s[0].e, fmt.Sprint("more", i), "v")
		}
		s[1].caughtUp(t, within, tok)
		second := lagOf(3)
		if second.FlushedLSN != stoppedAt || second.LagBytes <= first.LagBytes || second.LagTime <= first.LagTime {
			t.Fatalf("stopped site's lag did not grow: first %+v, then %+v", first, second)
		}
		if second.CatchUpETA == 0 {
			t.Fatalf("stopped site reports it is caught up: %+v", second)
		}
		testwait.For(t, within, "site 2 caught up again", func() bool {
			x := lagOf(2)
			return x.FlushedLSN == tok.LSN && x.LagBytes == 0 && x.LagTime == 0
		})
	})
}

func TestElectStatusNeedsElections(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		s := startGroup(t, net, 1, testConfig(), nil)
		if _, err := s[0].e.ElectStatus(); !errors.Is(err, ErrElections) {
			t.Fatalf("ElectStatus without elections: %v", err)
		}
		if st := s[0].e.ElectStats(); st.Elections != 0 {
			t.Fatalf("ElectStats without elections: %+v", st)
		}
	})
}

func TestElectStatsCountTheWinningElection(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		sites := startElectGroup(t, net, 3)
		m := waitOneMaster(t, within, sites)
		st := m.e.ElectStats()
		if st.Elections == 0 || st.ElectionsWon == 0 {
			t.Fatalf("the master's election counters: %+v", st)
		}
	})
}

// The apply lag is the age of the oldest record the site's readers do
// not see: measured against the append times like the flush lag, 0 once
// the site applied the master's last record, -1 when it reports nothing.
func TestApplyLag(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := func(o uint32) lsn.LSN { return lsn.New(1, o) }
	p := progress{gen: 1, rates: map[SiteID]*siteRate{}}
	p.ring.add(l(100), t0)
	p.ring.add(l(200), t0.Add(time.Second))
	p.ring.add(l(300), t0.Add(2*time.Second))
	now := t0.Add(5 * time.Second)
	for _, c := range []struct {
		applied lsn.LSN
		want    time.Duration
	}{
		{l(100), 4 * time.Second}, // 200 was appended at t0+1s
		{l(200), 3 * time.Second},
		{l(300), 0},
		{lsn.Zero, -1},
	} {
		rs := SiteStatus{ID: 2, AppliedLSN: c.applied, FlushedLSN: l(300)}
		p.site(&rs, l(300), now, func(a, b lsn.LSN) int64 { return int64(b.Offset) - int64(a.Offset) })
		if rs.ApplyLagTime != c.want {
			t.Errorf("applied %s: apply lag %v, want %v", c.applied, rs.ApplyLagTime, c.want)
		}
	}
}
