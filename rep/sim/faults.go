package sim

import (
	"cmp"
	"maps"
	"math/rand/v2"
	"slices"

	"logship/rep"
	"logship/rep/transport"
	"logship/rep/transport/memnet"
	"logship/wal/lsn"
)

// Faults is a run's fault and workload profile. Probabilities are per
// tick unless said otherwise.
type Faults struct {
	// Network (memnet): per message.
	Loss, Duplicate, Reorder float64
	MaxDelay                 uint64
	// Commit: a commit group on a site that accepts writes.
	Commit float64
	// Crash: a random live site crashes (Torn: the fraction of crashes
	// that keep a random prefix of an unsynced append). CommitCrash: per
	// commit group, its site crashes between shipping the records and
	// making them durable.
	Crash, Torn, CommitCrash float64
	// Partition: the sites split in two groups for a while.
	Partition float64
	// Link: the link between two random sites is cut for a while, both
	// ways, the others staying up: connectivity is then not transitive
	// (a site reaches two that cannot reach each other), which no split
	// into two groups gives. Drawn, and decided, from an RNG of its own,
	// like BadSnapshot.
	Link float64
	// Failover (appointment): the run deposes a live master and appoints
	// the most up-to-date live electable site.
	Failover float64
	// Sync: a site makes its log durable (per site per tick, and after
	// each Ready that appended).
	Sync float64
	// Archive: a random live site removes old log (when it retains
	// nothing for an internal init), so lagging sites need internal init.
	Archive float64
	// Tell (appointment): at a failover, the chance that a live site is
	// told the new master directly (rep_start) rather than learning it
	// from messages.
	Tell float64
	// Peer: the chance that a site is configured with a client-to-client
	// peer (per site, per run).
	Peer float64
	// Storage: a random data site's storage starts failing (a full disk,
	// an I/O error on write or fsync, no file can be opened); its site
	// halts and is restarted, repaired, a while later.
	Storage float64

	// Election mode.
	//
	// CrashMaster: the fraction of crashes aimed at the master (else a
	// random live site). Silent: the fraction of crashes that are a
	// power loss: no connection reset, the other sites notice only by
	// rep's heartbeat monitor.
	CrashMaster, Silent float64
	// Mute: a site (the master, mostly) goes silent for a while without
	// a connection event, as a hung process or a black-holed link: it
	// keeps running, its messages and those to it are lost.
	Mute float64
	// VoterCrash: the chance that a site crashes right after sending a
	// VOTE2, restarting within a few ticks, in the election it voted in.
	VoterCrash float64

	// Workload and operators.
	//
	// Read: a lease read on the master (leases on), and a token read of
	// a past commit on a random site, each with this chance.
	Read float64
	// Priority: a run-time priority change on a random electable site.
	Priority float64
	// Transfer: a planned transfer of mastership (election mode).
	Transfer float64
	// SyncCall: an operator starts a delayed client's sync.
	SyncCall float64
	// BadSnapshot: per install of an internal init's snapshot, the chance
	// that it is found damaged (env.ErrBadSnapshot): the client drops it
	// and starts the init over, as the runtime does. Drawn, and decided
	// per install, from an RNG of its own, so that the runs of every
	// other seed are unchanged by it.
	BadSnapshot float64
}

// drawFaults picks a run's fault profile: a mix of calm and rough runs.
func drawFaults(r *rand.Rand) Faults {
	pick := func(xs ...float64) float64 { return xs[r.IntN(len(xs))] }
	f := Faults{
		Loss:        pick(0, 0, 0.02, 0.1, 0.3),
		Duplicate:   pick(0, 0.02, 0.1),
		Reorder:     pick(0, 0.05, 0.2),
		MaxDelay:    uint64(r.IntN(6)),
		Commit:      pick(0.1, 0.3, 0.6),
		Crash:       pick(0, 0.005, 0.01, 0.02),
		Torn:        0.5,
		CommitCrash: pick(0, 0, 0.01, 0.03),
		Partition:   pick(0, 0.005, 0.02),
		Failover:    pick(0, 0.003, 0.01),
		Sync:        pick(0.2, 0.5, 0.9),
		Archive:     pick(0, 0.01, 0.03),
		Tell:        pick(1, 0.7, 0.3),
		Peer:        pick(0, 0.5),
		Storage:     pick(0, 0, 0.003, 0.01),
		CrashMaster: pick(0.3, 0.6, 0.9),
		Silent:      pick(0, 0.5),
		Mute:        pick(0, 0.003, 0.01),
		VoterCrash:  pick(0, 0.1, 0.3),
		Read:        pick(0.1, 0.3, 0.6),
		Priority:    pick(0, 0.005, 0.02),
		Transfer:    pick(0, 0.003, 0.01),
		SyncCall:    pick(0.01, 0.05),
	}
	if f.Crash == 0 && f.Mute == 0 && f.Partition == 0 && f.Storage == 0 {
		// Elections need something to elect about.
		f.Crash = 0.01
	}
	return f
}

// ---- faults -------------------------------------------------------------

func (s *Sim) faults() {
	for _, m := range s.sites {
		if at, ok := s.restartAt[m.id]; ok && s.now >= at {
			delete(s.restartAt, m.id)
			if m.up() {
				s.stop(m) // a halted site: the operator repairs it and restarts it
			}
			s.restart(m)
		}
	}
	if s.rng.Float64() < s.f.Crash {
		if live := s.liveSites(); len(live) > 0 {
			m := live[s.rng.IntN(len(live))]
			if s.g.Elect && s.master != 0 && s.site(s.master).up() && s.rng.Float64() < s.f.CrashMaster {
				m = s.site(s.master)
			}
			s.crashSite(m, s.g.Elect && s.rng.Float64() < s.f.Silent, 5, 100)
		}
	}
	if s.rng.Float64() < s.f.Storage {
		s.storageFault()
	}
	if s.rng.Float64() < s.f.Archive {
		if live := s.liveSites(); len(live) > 0 {
			m := live[s.rng.IntN(len(live))]
			if m.data() && !m.halted && m.core.Status().Rep.RetainLSN.IsZero() {
				ok, err := m.store.Archive(s.rng)
				if err != nil {
					s.storageFailed(m, "archiving", err)
				} else if ok {
					s.tracef("site %d archive: log from %s", m.id, m.store.Log().First())
				}
			}
		}
	}
	if s.partitionUntil > 0 && s.now >= s.partitionUntil {
		s.partitionUntil = 0
		s.tracef("partition healed")
		s.net.Heal()
		for _, k := range s.cutLinks() {
			s.setLink(k, false) // a cut link outlasts the partition
		}
	} else if s.partitionUntil == 0 && s.rng.Float64() < s.f.Partition {
		var a, b []transport.ID
		for _, m := range s.sites {
			if s.rng.IntN(2) == 0 {
				a = append(a, transport.ID(m.id))
			} else {
				b = append(b, transport.ID(m.id))
			}
		}
		if len(a) > 0 && len(b) > 0 {
			s.partitionUntil = s.now + 20 + s.rng.IntN(150)
			s.res.Partitions++
			s.tracef("partition %v | %v until %d", a, b, s.partitionUntil)
			s.net.Partition(a, b)
		}
	}
	s.linkFaults()
	if s.g.Elect {
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

// storageFault makes a random live data site's storage fail (the master,
// mostly: that is where it hurts).
func (s *Sim) storageFault() {
	var cands []*member
	for _, m := range s.sites {
		if m.data() && !m.halted && !m.faulted() {
			cands = append(cands, m)
		}
	}
	if len(cands) == 0 {
		return
	}
	m := cands[s.rng.IntN(len(cands))]
	if s.master != 0 && s.site(s.master).data() && !s.site(s.master).faulted() && s.rng.Float64() < 0.6 {
		m = s.site(s.master)
	}
	kind := StorageFault(s.rng.IntN(int(numStorageFaults)))
	if !m.store.Fault(kind, s.rng) {
		return
	}
	m.fault = kind.String()
	s.res.StorageFaults++
	s.tracef("site %d storage fault %s", m.id, kind)
}

// crashSite crashes m, to restart after a downtime in [down, down+span).
// A silent crash (a power loss) leaves its connections up: the other
// sites notice only when its heartbeats stop; the restart resets them.
func (s *Sim) crashSite(m *member, silent bool, down, span int) {
	var torn *rand.Rand
	if s.rng.Float64() < s.f.Torn {
		torn = s.rng
	}
	s.tracef("site %d crash torn=%t silent=%t", m.id, torn != nil, silent)
	s.res.Crashes++
	if !silent {
		m.ep.Close()
	}
	s.down(m)
	if m.store != nil {
		s.must(m.store.Crash(torn), "site %d: crash", m.id)
	}
	s.restartAt[m.id] = s.now + down + s.rng.IntN(span)
}

// down takes the site's process away: its committers waiting for a
// result get none (their connection broke: the outcome is unknown).
func (s *Sim) down(m *member) {
	m.core = nil
	for _, p := range m.snaps {
		m.store.Release(p.snap.Info.ID)
	}
	m.snaps = nil
	for _, c := range s.commits {
		if c.site == m.id && c.result == 0 {
			c.result = resultUnknown
		}
	}
}

// stop takes a halted site down for its repair: the process exits, and
// what its failed storage did not make durable is gone.
func (s *Sim) stop(m *member) {
	s.tracef("site %d stopped for repair", m.id)
	m.ep.Close()
	s.down(m)
	s.must(m.store.Crash(nil), "site %d: stop", m.id)
}

// restart recovers a crashed site and rejoins it: in appointment mode as
// a client of the appointed master, in election mode through its core's
// election. A site that was the master stays out until the next
// appointment: coming back as master of the same generation after
// losing its unsynced tail would fork that generation's history.
func (s *Sim) restart(m *member) {
	if m.store != nil {
		s.must(m.store.Reopen(), "site %d: reopen", m.id)
	}
	m.ep.Close()   // after a silent crash: the reboot resets its connections
	m.badSnaps = 0 // a new process counts anew, as a new Site does
	s.start(m)
	if m.store != nil {
		s.tracef("site %d restart last=%s", m.id, m.store.Log().Last())
		s.note("site %d storage:%s", m.id, m.store.Describe())
	} else {
		s.tracef("site %d restart (witness)", m.id)
	}
	if !s.g.Elect && s.master != 0 && s.master != m.id {
		if err := m.core.StartClient(s.master); err != nil {
			s.violate("site %d: StartClient(%d): %v", m.id, s.master, err)
		}
		s.process(m)
	}
}

// appoint deposes the master (if any) and appoints the most up-to-date
// live electable site, by (generation of its last record, LSN), as an
// operator following Berkeley DB's advice would, and as elections do.
// It needs a majority of the electable sites up.
func (s *Sim) appoint(why string) bool {
	var live []*member
	for _, m := range s.sites {
		if m.data() && !m.halted && m.setup.electable() {
			live = append(live, m)
		}
	}
	if len(live) < s.g.Electable()/2+1 {
		s.tracef("appoint (%s): only %d electable sites up", why, len(live))
		return false
	}
	type cand struct {
		m   *member
		gen uint64
		at  lsn.LSN
	}
	var best []cand
	for _, m := range live {
		c := cand{m: m, at: m.store.Log().Last(), gen: m.store.LastGen()}
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
	nm := best[s.rng.IntN(len(best))].m
	s.gen = max(s.gen, nm.status.Gen, nm.store.LastGen()) + 1
	s.master = nm.id
	if s.now > 0 {
		s.res.Failovers++
	}
	s.tracef("appoint (%s): site %d master of gen %d last=%s", why, nm.id, s.gen, nm.store.Log().Last())
	if err := nm.core.StartMaster(s.gen); err != nil {
		s.violate("site %d: StartMaster(%d): %v", nm.id, s.gen, err)
	}
	s.process(nm)
	for _, m := range s.sites {
		if m == nm || !m.data() || m.halted {
			continue
		}
		if m.status.Role == rep.RoleNone || s.rng.Float64() < s.f.Tell {
			if err := m.core.StartClient(nm.id); err != nil {
				s.violate("site %d: StartClient(%d): %v", m.id, nm.id, err)
			}
			s.process(m)
		}
	}
	return true
}

// linkFaults heals the cut links whose time is up and, with chance
// Faults.Link, cuts another (drawn from linkRng).
func (s *Sim) linkFaults() {
	for _, k := range s.cutLinks() {
		if s.now >= s.linkCuts[k] {
			delete(s.linkCuts, k)
			s.tracef("link %d-%d restored", k[0], k[1])
			s.setLink(k, true)
		}
	}
	if len(s.sites) < 3 || s.linkRng.Float64() >= s.f.Link {
		return
	}
	a := s.sites[s.linkRng.IntN(len(s.sites))].id
	b := s.sites[s.linkRng.IntN(len(s.sites))].id
	k := [2]rep.SiteID{min(a, b), max(a, b)}
	if a == b || s.linkCuts[k] != 0 {
		return
	}
	s.linkCuts[k] = s.now + 20 + s.linkRng.IntN(150)
	s.res.LinkCuts++
	s.tracef("link %d-%d cut until %d", k[0], k[1], s.linkCuts[k])
	s.setLink(k, false)
}

// cutLinks returns the links cut, in order: map order would make runs
// differ from their seed.
func (s *Sim) cutLinks() [][2]rep.SiteID {
	ks := slices.Collect(maps.Keys(s.linkCuts))
	slices.SortFunc(ks, func(a, b [2]rep.SiteID) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	return ks
}

// setLink cuts (up false) or restores both directions of link k.
func (s *Sim) setLink(k [2]rep.SiteID, up bool) {
	s.net.SetLink(transport.ID(k[0]), transport.ID(k[1]), up)
	s.net.SetLink(transport.ID(k[1]), transport.ID(k[0]), up)
}

// healAll ends the faults: partitions heal, a perfect network replaces
// the lossy one, crashed and halted sites restart repaired, commits stop
// and every site syncs each tick.
func (s *Sim) healAll() {
	s.tracef("heal")
	s.heal = true
	s.healAt = s.now
	s.partitionUntil = 0
	clear(s.linkCuts)
	s.crashSoon = nil
	for _, m := range s.sites {
		m.mutedTill = 0
	}
	s.res.Messages += s.net.Stats().Sent
	s.net = memnet.New(memnet.Config{InboxLen: 1 << 16})
	for _, m := range s.sites {
		if m.up() && !m.halted && !m.faulted() {
			m.ep = s.net.Endpoint(transport.ID(m.id))
		}
	}
	for _, m := range s.sites {
		if m.up() && (m.halted || m.faulted()) {
			s.stop(m) // its fault, fired or not, is repaired
		}
		if !m.up() {
			delete(s.restartAt, m.id)
			s.restart(m)
		}
	}
}
