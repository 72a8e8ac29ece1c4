package sim

import (
	"cmp"
	"math/rand/v2"

	"logship/rep"
	"logship/rep/transport"
	"logship/rep/transport/memnet"
	"logship/wal/lsn"
)

// ---- faults -------------------------------------------------------------

func (s *Sim) faults() {
	for _, st := range s.sites {
		if at, ok := s.restartAt[st.id]; ok && s.now >= at {
			delete(s.restartAt, st.id)
			s.restart(st)
		}
	}
	if s.rng.Float64() < s.f.Crash {
		if live := s.liveSites(); len(live) > 0 {
			st := live[s.rng.IntN(len(live))]
			if !s.cfg.Elect {
				s.crash(st)
			} else {
				if s.master != 0 && s.site(s.master).up() && s.rng.Float64() < s.f.CrashMaster {
					st = s.site(s.master)
				}
				s.crashSite(st, s.rng.Float64() < s.f.Silent, 5, 100)
			}
		}
	}
	if s.rng.Float64() < s.f.Archive {
		if live := s.liveSites(); len(live) > 0 {
			st := live[s.rng.IntN(len(live))]
			if st.node.RetainLSN().IsZero() {
				ok, err := st.store.Archive(s.rng)
				s.must(err, "site %d: archive", st.id)
				if ok {
					s.tracef("site %d archive: log from %s", st.id, st.store.Log().First())
				}
			}
		}
	}
	if s.partitionUntil > 0 && s.now >= s.partitionUntil {
		s.partitionUntil = 0
		s.tracef("partition healed")
		s.net.Heal()
	} else if s.partitionUntil == 0 && s.rng.Float64() < s.f.Partition {
		var a, b []transport.ID
		for _, st := range s.sites {
			if s.rng.IntN(2) == 0 {
				a = append(a, transport.ID(st.id))
			} else {
				b = append(b, transport.ID(st.id))
			}
		}
		if len(a) > 0 && len(b) > 0 {
			s.partitionUntil = s.now + 20 + s.rng.IntN(150)
			s.res.Partitions++
			s.tracef("partition %v | %v until %d", a, b, s.partitionUntil)
			s.net.Partition(a, b)
		}
	}
	if s.cfg.Elect {
		// No appointments: elections replace them. A mute takes a site
		// off the network without telling anyone.
		if s.rng.Float64() < s.f.Mute {
			s.mute()
		}
		return
	}
	if s.failoverAt == 0 {
		if !s.masterOK() {
			s.failoverAt = s.now + 10 + s.rng.IntN(60)
		} else if s.rng.Float64() < s.f.Failover {
			s.failoverAt = s.now
		}
	}
}

func (s *Sim) crash(st *site) { s.crashSite(st, false, 5, 100) }

// crashSite crashes st, to restart after a downtime in [down, down+span).
// A silent crash (a power loss) leaves its connections up: the other
// sites notice only when its heartbeats stop; the restart resets them.
func (s *Sim) crashSite(st *site, silent bool, down, span int) {
	var torn *rand.Rand
	if s.rng.Float64() < s.f.Torn {
		torn = s.rng
	}
	if s.cfg.Elect {
		s.tracef("site %d crash torn=%t silent=%t", st.id, torn != nil, silent)
	} else {
		s.tracef("site %d crash torn=%t", st.id, torn != nil)
	}
	s.res.Crashes++
	if !silent {
		st.ep.Close()
	}
	st.node, st.el, st.writableSince = nil, nil, 0
	s.must(st.store.Crash(torn), "site %d: crash", st.id)
	s.restartAt[st.id] = s.now + down + s.rng.IntN(span)
}

// restart recovers a crashed site and rejoins it: in appointment mode as
// a client of the appointed master, in election mode through its elect
// node (started by start). A site that was the master stays out until the
// next appointment: coming back as master of the same generation after
// losing its unsynced tail would fork that generation's history.
func (s *Sim) restart(st *site) {
	s.must(st.store.Reopen(), "site %d: reopen", st.id)
	st.ep.Close() // after a silent crash: the reboot resets its connections
	s.start(st)
	s.tracef("site %d restart last=%s", st.id, st.store.Log().Last())
	s.note("site %d storage:%s", st.id, st.store.Describe())
	if !s.cfg.Elect && s.master != 0 && s.master != st.id {
		if err := st.node.BecomeClient(s.master, s.gen); err != nil {
			s.violate("site %d: BecomeClient(%d, %d): %v", st.id, s.master, s.gen, err)
		}
	}
	s.process(st)
}

// appoint deposes the master (if any) and appoints the most up-to-date
// live site, by (generation of its last record, LSN), as elections will.
// It needs a majority of sites up.
func (s *Sim) appoint(why string) bool {
	live := s.liveSites()
	if len(live) < s.majority() {
		s.tracef("appoint (%s): only %d sites up", why, len(live))
		return false
	}
	type cand struct {
		st  *site
		gen uint64
		at  lsn.LSN
	}
	var best []cand
	for _, st := range live {
		c := cand{st: st, at: st.store.Log().Last(), gen: st.store.LastGen()}
		if len(best) > 0 {
			k := cmp.Or(cmp.Compare(c.gen, best[0].gen), c.at.Compare(best[0].at))
			if k < 0 {
				continue
			}
			if k > 0 {
				best = best[:0]
			}
		}
		best = append(best, c)
	}
	m := best[s.rng.IntN(len(best))].st
	s.gen++
	s.master = m.id
	if s.now > 0 {
		s.res.Failovers++
	}
	s.tracef("appoint (%s): site %d master of gen %d last=%s", why, m.id, s.gen, m.store.Log().Last())
	s.note("site %d storage:%s", m.id, m.store.Describe())
	if err := m.node.BecomeMaster(s.gen); err != nil {
		s.violate("site %d: BecomeMaster(%d): %v", m.id, s.gen, err)
	}
	s.process(m)
	s.checkHasPermanent(m, "new master")
	for _, st := range live {
		if st == m {
			continue
		}
		if st.status.Role == rep.RoleNone || s.rng.Float64() < s.f.Tell {
			if err := st.node.BecomeClient(m.id, s.gen); err != nil {
				s.violate("site %d: BecomeClient(%d, %d): %v", st.id, m.id, s.gen, err)
			}
			s.process(st)
		}
	}
	return true
}

// healAll ends the faults: partitions heal, a perfect network replaces
// the lossy one, crashed sites restart, commits stop and every site syncs
// each tick.
func (s *Sim) healAll() {
	s.tracef("heal")
	s.heal = true
	s.healAt = s.now
	s.partitionUntil = 0
	s.crashSoon = nil
	for _, st := range s.sites {
		st.mutedTill = 0
	}
	s.res.Messages += s.net.Stats().Sent
	s.net = memnet.New(memnet.Config{InboxLen: 1 << 16})
	for _, st := range s.sites {
		if st.up() {
			st.ep = s.net.Endpoint(transport.ID(st.id))
		}
	}
	for _, st := range s.sites {
		if !st.up() {
			delete(s.restartAt, st.id)
			s.restart(st)
		}
	}
}
