package sim

// Election mode: every data site's core runs elect beside rep, and its
// role comes only from elect's decisions (sitecore carries them out);
// the run appoints nobody. What is checked here: at most one site is
// ever master of a generation; no site votes twice in one election
// generation, nor sends a VOTE2 its persisted HardState does not hold
// (drive.go, persist); with leases, no two sites may at the same instant
// accept writes or serve lease reads; and after the faults heal, a
// master accepts writes within a bound derived from the timeouts.

import (
	"fmt"
	"strings"

	"logship/elect"
	"logship/rep"
)

// elected records that m became master of gen, checking that no other
// site ever was, and that it holds every commit a promise covers.
func (s *Sim) elected(m *member, gen uint64) {
	if prev, ok := s.genMaster[gen]; ok && prev != m.id {
		s.violate("two masters of generation %d: site %d and site %d", gen, prev, m.id)
	}
	s.genMaster[gen] = m.id
	if s.g.Elect && gen > s.gen {
		if s.master != 0 {
			s.res.Failovers++
		}
		s.master, s.gen = m.id, gen
	}
	s.checkHasPermanent(m, "new master")
}

// electEvent follows elect's events: elections won, and the outcome of
// a planned transfer.
func (s *Sim) electEvent(m *member, ev elect.Event) {
	switch ev.Type {
	case elect.EventElected:
		s.res.Elections++
		s.checkElected(m)
	case elect.EventTransferDone, elect.EventTransferFailed:
		if m.xfer != nil {
			s.tracef("site %d transfer to %d ends: %s", m.id, m.xfer.to, ev.Type)
			m.xfer = nil
		}
	}
}

// writable: the site accepts a write now (sitecore's WriteErr).
func (m *member) writable() bool {
	return m.data() && !m.halted && m.core.WriteErr() == nil
}

// electedMaster finds the site the group may settle on: the one live
// site that is master in rep and elect at the same generation and accepts
// writes. It makes it the run's master (checkEnd's reference): after a
// restart a site forgets the generations it knew, so the group may well
// settle on a master older than the newest one ever elected, which is
// fine as long as no commit a promise covers is lost (checkEnd).
func (s *Sim) electedMaster() bool {
	var found *member
	for _, m := range s.sites {
		if !m.writable() {
			continue
		}
		st := m.core.Status()
		if st.Elect.Role != elect.RoleMaster || st.Elect.Gen != st.Rep.Gen {
			continue
		}
		if found != nil {
			return false
		}
		found = m
	}
	if found == nil {
		return false
	}
	s.master, s.gen = found.id, found.core.Status().Rep.Gen
	return true
}

// afterTurn runs after each site's turn in a tick: the voters due to
// crash crash, and the instant is checked for two writers.
func (s *Sim) afterTurn() {
	for _, m := range s.crashSoon {
		if m.up() {
			s.crashSite(m, s.rng.Float64() < s.f.Silent, 1, 30)
		}
	}
	s.crashSoon = nil
	var holders []string
	for _, m := range s.sites {
		w := m.writable()
		switch {
		case !w:
			m.writableSince = 0
		case m.writableSince == 0:
			m.writableSince = s.now
		}
		lease := s.g.Leases && m.up() && m.core.CanReadLease()
		if m.up() && (w || lease) {
			holders = append(holders, fmt.Sprintf("site %d (gen %d, write=%t, lease-read=%t)", m.id, m.core.Status().Rep.Gen, w, lease))
		}
	}
	if s.g.Leases && len(holders) > 1 {
		s.violateOnce(strings.Join(holders, ", "), "two sites may write or serve lease reads at once: %s", strings.Join(holders, ", "))
	}
}

// healBound is how many ticks after the faults heal a master must accept
// writes, derived from the timeouts: rep's heartbeat monitor (a client
// notices a silent master), a full election (a site restarted at the heal
// waits up to FullElectionTicks for every VOTE1, then ElectionTicks for a
// winner), three failed elections each followed by the longest back-off
// (ElectionTicks + 2*RetryTicks; with a perfect network and every site up
// an election fails only when sites enter it at different times), and,
// with leases, the new master's wait for its predecessor's leases
// (LeaseTicks + ClockSkew); a transfer under way at the heal may hold
// writes for one more election.
func (s *Sim) healBound() int {
	c := s.ecfg
	b := s.monitor + c.FullElectionTicks + c.ElectionTicks + 3*(c.ElectionTicks+2*c.RetryTicks)
	if c.Leases {
		b += c.LeaseTicks + c.ClockSkew
	}
	if s.res.Transfers > 0 {
		b += c.ElectionTicks
	}
	return b
}

// checkHealElection checks, on a quiescent group, that its master
// accepted writes within healBound ticks of the faults healing.
func (s *Sim) checkHealElection() {
	m := s.site(s.master)
	took := max(0, m.writableSince-s.healAt)
	s.res.HealElectTicks = took
	if b := s.healBound(); took > b {
		s.violate("master %d (gen %d) accepted writes %d ticks (%d ms) after the faults healed, more than the bound of %d ticks (%s)",
			m.id, s.gen, took, took*rep.TickMillis, b, describeElect(s.ecfg))
	}
}

// mute makes a site (the master, mostly) lose every message for a while.
func (s *Sim) mute() {
	live := s.liveSites()
	if len(live) == 0 {
		return
	}
	m := live[s.rng.IntN(len(live))]
	if s.master != 0 && s.site(s.master).up() && s.rng.Float64() < 0.7 {
		m = s.site(s.master)
	}
	m.mutedTill = s.now + 20 + s.rng.IntN(150)
	s.res.Mutes++
	s.tracef("site %d muted until %d", m.id, m.mutedTill)
}

// electDescribe adds a site's election state to describe.
func electDescribe(m *member) string {
	st := m.core.Status()
	if !st.Elections {
		return ""
	}
	es := st.Elect
	return fmt.Sprintf(" elect %s of %d g%d egen=%d voted=%d", es.Role, es.Master, es.Gen, es.EGen, es.VotedFor)
}
