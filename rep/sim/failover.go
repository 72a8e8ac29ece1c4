package sim

import (
	"fmt"
	"io"
	"slices"
	"time"

	"logship/rep"
)

// FailoverConfig configures one failover measurement ([Failover]).
type FailoverConfig struct {
	Seed     uint64
	Timeouts Timeouts // default: TimeoutsDefault
	Leases   bool
	// Silent: the master loses power (its connections stay up, the
	// clients notice by rep's heartbeat monitor, 3 x 100 ms) instead of
	// its process dying (the connections reset at once).
	Silent  bool
	Storage StorageKind // default: StorageMem (virtual time does not depend on it)
	Dir     string
	Trace   io.Writer // receives the run's trace
}

// Failover runs one scripted election-mode run: a healthy group of three
// on a perfect network elects a master and commits every tick; once every
// client has caught up, the master crashes, and the run measures the
// virtual time until another site accepts a write. The run then heals
// (the old master restarts as a client) and is checked like any other.
// It returns that time in virtual milliseconds.
func Failover(fc FailoverConfig) (millis int, res Result, err error) {
	if fc.Timeouts == "" {
		fc.Timeouts = TimeoutsDefault
	}
	if fc.Storage == "" {
		fc.Storage = StorageMem
	}
	g := Group{Elect: true, Leases: fc.Leases, Ack: "quorum", Timeouts: fc.Timeouts, FullElection: true,
		AckTimeout: time.Second, LogFileSize: 16 << 10}
	for range 3 {
		g.Members = append(g.Members, MemberSetup{Priority: 100})
	}
	cfg := Config{
		Seed: fc.Seed, Storage: fc.Storage, Dir: fc.Dir, Trace: fc.Trace,
		// A healthy group of three under load, with ordinary fsyncs, and
		// nothing else.
		Group:  &g,
		Faults: &Faults{Commit: 1, Sync: 0.5},
	}
	const limit = 3000 // ticks for each phase
	res, err = run(cfg, func(s *Sim) {
		// Warm up: a master that accepts writes, every client caught up
		// with it (ready, within a few records), for a while.
		steady := 0
		for steady < 20 {
			if s.now > limit {
				s.violate("seed %d: no steady master after %d ticks: %s", s.cfg.Seed, limit, s.describe())
				return
			}
			s.step()
			steady++
			if !s.caughtUp() {
				steady = 0
			}
		}
		m := s.site(s.master)
		s.tracef("failover: crash master %d", m.id)
		crashAt := s.now
		s.crashSite(m, fc.Silent, 1<<30, 1) // it restarts when the run heals
		for s.lastWrite.site == 0 || s.lastWrite.site == m.id || s.lastWrite.at <= crashAt {
			if s.now > crashAt+limit {
				s.violate("seed %d: no new master accepted a write within %d ticks of the crash: %s", s.cfg.Seed, limit, s.describe())
				return
			}
			s.step()
		}
		millis = (s.lastWrite.at - crashAt) * rep.TickMillis
		s.tracef("failover: site %d accepted a write %d ms after the crash", s.lastWrite.site, millis)
	})
	return millis, res, err
}

// caughtUp: the group has one master accepting writes and every other
// site follows it, ready.
func (s *Sim) caughtUp() bool {
	if !s.electedMaster() {
		return false
	}
	for _, st := range s.sites {
		if st.id == s.master {
			continue
		}
		if !st.up() {
			return false
		}
		c := st.core.Status().Rep
		if c.Role != rep.RoleClient || c.Master != s.master || c.SyncState != rep.SyncReady {
			return false
		}
	}
	return true
}

// Percentile returns the p-th percentile (0 < p <= 100) of xs by the
// nearest-rank method; xs need not be sorted. 0 for no values.
func Percentile(xs []int, p float64) int {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	k := int(float64(len(s))*p/100+0.999999) - 1
	return s[min(max(k, 0), len(s)-1)]
}

// FailoverSummary describes many failover measurements.
func FailoverSummary(ms []int) string {
	if len(ms) == 0 {
		return "no measurements"
	}
	return fmt.Sprintf("%d runs: median %d ms, p90 %d ms, p99 %d ms, max %d ms",
		len(ms), Percentile(ms, 50), Percentile(ms, 90), Percentile(ms, 99), Percentile(ms, 100))
}
