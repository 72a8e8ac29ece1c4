package site

import (
	"slices"
	"sync"
	"testing"
	"time"

	"logship/internal/testwait"
	"logship/rep"
	"logship/rep/transport"
)

// A master whose loop was held up sends its next heartbeat as soon as
// the loop runs again, not a heartbeat interval of ticks later: its
// clock catches up the ticks the ticker dropped meanwhile, so its
// clients' silence is the stall, not the stall plus the interval.
func TestStalledMasterHeartbeatsAtOnceAfterwards(t *testing.T) {
	bubble(t, func(t *testing.T) {
		net := newTestNet(t)
		sites := startElectGroup(t, net, 3)
		m := waitOneMaster(t, 10*time.Second, sites)
		gen := m.status(t).Gen
		var (
			mu    sync.Mutex
			beats []time.Time
		)
		net.setFilter(func(from, _ transport.ID, msg rep.Message) bool {
			if from == transport.ID(m.id) && msg.Type == rep.MsgHeartbeat {
				mu.Lock()
				beats = append(beats, time.Now())
				mu.Unlock()
			}
			return false
		})
		count := func() int {
			mu.Lock()
			defer mu.Unlock()
			return len(beats)
		}
		// Stall the loop right after a heartbeat, for less than the
		// clients' heartbeat monitor.
		seen := count()
		testwait.For(t, time.Second, "a heartbeat", func() bool { return count() > seen })
		const stall = 2 * ElectionHeartbeat
		if err := m.e.do(func() error { time.Sleep(stall); return nil }); err != nil {
			t.Fatal(err)
		}
		resumed := time.Now()
		time.Sleep(3 * ElectionHeartbeat) // fake clock: the heartbeats go on
		mu.Lock()
		i := slices.IndexFunc(beats, func(at time.Time) bool { return !at.Before(resumed) })
		var first time.Time
		if i >= 0 {
			first = beats[i]
		}
		mu.Unlock()
		if i < 0 {
			t.Fatal("no heartbeat after the stall")
		}
		tick := DefaultConfig().Timing.Tick
		if late := first.Sub(resumed); late > 2*tick {
			t.Fatalf("the first heartbeat came %v after the loop ran again, want at most %v", late, 2*tick)
		}
		for _, s := range sites {
			if st := s.status(t); st.Gen != gen {
				t.Fatalf("site %d at generation %d after a %v stall, want %d (no election)", s.id, st.Gen, stall, gen)
			}
		}
	})
}
