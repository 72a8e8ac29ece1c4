package sim

// Membership changes (issue #16) under faults.
//
// In a run that changes membership (election mode without a witness,
// drawn from the seed with its own randomness, so the runs that do not
// keep their schedules), the last site starts outside the group, as a
// site started with Join would: the primordial membership is every other
// data site. While the faults go on, an operator on the master adds it,
// removes members (dead or alive, the master itself included), demotes
// voters to views and promotes views; the master promotes a joining
// member once it has caught up, and a master no longer a voting member
// steps down once that is permanent, as the runtime does (env/site
// members.go, membership.go). A change is a commit putting membersKey,
// with a unique key first like every commit; each site follows the
// latest membership in its log as the runtime does: records as they
// enter the log, the store afresh after a rollback, an init or a
// restart. The run checks that no site that is not a voting member (in
// its own membership) is ever elected, besides every usual invariant.

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"logship/rep"
	"logship/wal/lsn"
)

// membersKey is the key the membership record puts (the runtime's is a
// reserved bucket; the run's storage keeps one bucket).
const membersKey = "~members"

// memberRun is the run's membership plan.
type memberRun struct {
	on    bool
	rng   *rand.Rand
	spare rep.SiteID // starts outside the group
	prob  float64    // chance per tick of a change
	// lag is the master's promotion lag (site.Config.PromoteLagBytes):
	// the runtime's default, or small enough that a joining member
	// waits to catch up.
	lag int64
}

func (mr memberRun) String() string {
	if !mr.on {
		return "off"
	}
	return fmt.Sprintf("spare=%d p=%.2f lag=%d", mr.spare, mr.prob, mr.lag)
}

// drawMembers decides whether the run changes membership.
func (s *Sim) drawMembers() {
	s.mem.rng = rand.New(rand.NewPCG(s.cfg.Seed^0x9e3779b97f4a7c15, s.cfg.Seed))
	witness := false
	for _, m := range s.g.Members {
		witness = witness || m.Witness
	}
	if !s.g.Elect || witness || len(s.g.Members) < 3 || s.cfg.NoMembers || s.mem.rng.IntN(2) == 0 {
		return
	}
	// The spare is the highest site whose absence leaves an electable
	// site (priority > 0) in the group.
	for i := len(s.g.Members); i >= 1 && s.mem.spare == 0; i-- {
		for j, o := range s.g.Members {
			if j+1 != i && o.Priority > 0 {
				s.mem.spare = rep.SiteID(i)
				break
			}
		}
	}
	if s.mem.spare == 0 {
		return
	}
	s.mem.on = true
	s.mem.prob = []float64{0.02, 0.05, 0.1}[s.mem.rng.IntN(3)]
	// Drawn apart, so that mem.rng's draws stay as they were.
	s.mem.lag = []int64{1 << 20, 2048, 128}[rand.New(rand.NewPCG(s.cfg.Seed^0x5bd1e995, s.cfg.Seed)).IntN(3)]
}

// dataIDs lists every data site of the run: the sites every core hears
// (sitecore.Core.SetMembership's known), as the transport connects them.
func (s *Sim) dataIDs() []rep.SiteID {
	var out []rep.SiteID
	for i, m := range s.g.Members {
		if !m.Witness {
			out = append(out, rep.SiteID(i+1))
		}
	}
	return out
}

// primordial is the membership before any record.
func (s *Sim) primordial() rep.Membership {
	var ms rep.Membership
	for _, id := range s.dataIDs() {
		if id != s.mem.spare {
			ms.Members = append(ms.Members, rep.Member{ID: id})
		}
	}
	return ms
}

// encodeMembers is the run's compact spelling of a membership, within
// the drawn MaxValueSize: "1 2v 3j" (v: a view, j: joining). The runtime
// writes JSON with the addresses (env/site membership.go).
func encodeMembers(ms rep.Membership) string {
	var parts []string
	for _, x := range ms.Members {
		p := strconv.FormatUint(uint64(x.ID), 10)
		switch {
		case x.Joining:
			p += "j"
		case x.NonVoting:
			p += "v"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}

func decodeMembers(b []byte, at lsn.LSN) (rep.Membership, error) {
	ms := rep.Membership{LSN: at}
	for _, p := range strings.Fields(string(b)) {
		var x rep.Member
		switch {
		case strings.HasSuffix(p, "j"):
			x.NonVoting, x.Joining = true, true
		case strings.HasSuffix(p, "v"):
			x.NonVoting = true
		}
		id, err := strconv.ParseUint(strings.TrimRight(p, "jv"), 10, 64)
		if err != nil {
			return ms, fmt.Errorf("membership %q: %w", b, err)
		}
		x.ID = rep.SiteID(id)
		ms.Members = append(ms.Members, x)
	}
	return ms, ms.Validate()
}

func describeMembers(ms rep.Membership) string { return "{" + encodeMembers(ms) + "}" }

// storedMembers is the membership m's store holds (the latest record in
// its log, or its data's, or the primordial one).
func (s *Sim) storedMembers(m *member) rep.Membership {
	v, at, err := m.store.Members()
	if err != nil && m.store.Failure() != nil {
		// The storage failed: the runtime logs it and keeps what it had;
		// the site halts (duties).
		cur, _ := m.core.Membership()
		return cur
	}
	s.must(err, "site %d: membership", m.id)
	if v == nil {
		return s.primordial()
	}
	ms, err := decodeMembers(v, at)
	if err != nil {
		s.violate("site %d: bad membership at %s: %v", m.id, at, err)
		return s.primordial()
	}
	return ms
}

// setMembers makes ms site m's membership.
func (s *Sim) setMembers(m *member, ms rep.Membership) {
	if cur, ok := m.core.Membership(); ok && cur.LSN == ms.LSN && slices.Equal(cur.Members, ms.Members) {
		return
	}
	if err := m.core.SetMembership(ms, s.dataIDs()); err != nil {
		s.violate("site %d: SetMembership at %s: %v", m.id, ms.LSN, err)
		return
	}
	s.tracef("site %d membership @%s %s", m.id, ms.LSN, describeMembers(ms))
}

// noteMembers follows the membership through what a Ready did to m's
// log, as the runtime's afterLog.
func (s *Sim) noteMembers(m *member, recs []rep.Record, reload bool) {
	if !s.mem.on || m.witness || !m.up() {
		return
	}
	if reload {
		s.setMembers(m, s.storedMembers(m))
		return
	}
	for _, r := range recs {
		if v, ok := m.store.MembersIn(r); ok {
			ms, err := decodeMembers(v, r.LSN)
			if err != nil {
				s.violate("site %d: bad membership record at %s: %v", m.id, r.LSN, err)
				continue
			}
			s.setMembers(m, ms)
		}
	}
}

// appendLocal hands a master's new records to its core, a membership
// record taking effect as it enters the log (env/site appendLocal).
func (s *Sim) appendLocal(m *member, recs []rep.Record) {
	from := 0
	for i, r := range recs {
		if !s.mem.on {
			break
		}
		v, ok := m.store.MembersIn(r)
		if !ok {
			continue
		}
		if from < i {
			m.core.Appended(recs[from:i])
		}
		if ms, err := decodeMembers(v, r.LSN); err != nil {
			s.violate("site %d: bad membership record at %s: %v", m.id, r.LSN, err)
		} else {
			s.setMembers(m, ms)
		}
		from = i
	}
	m.core.Appended(recs[from:])
}

// memberDuties: a master that is no longer a voting member steps down
// once that is permanent; a master promotes a joining member that has
// caught up, by the runtime's rule (sitecore.Core.Promotion).
func (s *Sim) memberDuties(m *member) {
	if !s.mem.on || !m.data() || m.halted || m.status.Role != rep.RoleMaster {
		return
	}
	ms, ok := m.core.Membership()
	if !ok || ms.Pending {
		return
	}
	if self, in := ms.Find(m.id); !in || !self.Voting() {
		s.tracef("site %d resigns: not a voting member of %s", m.id, describeMembers(ms))
		m.core.Resign()
		s.process(m)
		return
	}
	if id, next, ok := m.core.Promotion(ms, s.mem.lag, m.store.Distance); ok {
		s.writeMembers(m, next, fmt.Sprintf("promote %d", id))
	}
}

// memberChange is an operator's change on the master, now and then.
func (s *Sim) memberChange() {
	if !s.mem.on || s.mem.rng.Float64() >= s.mem.prob {
		return
	}
	var m *member
	for _, x := range s.sites {
		if x.writable() && x.core.CanChangeMembership() == nil {
			m = x
			break
		}
	}
	if m == nil {
		return
	}
	ms, _ := m.core.Membership()
	r := s.mem.rng
	var outside []rep.SiteID
	for _, id := range s.dataIDs() {
		if !ms.Has(id) {
			outside = append(outside, id)
		}
	}
	if len(outside) > 0 && r.IntN(2) == 0 {
		id := outside[r.IntN(len(outside))]
		s.writeMembers(m, with(ms, rep.Member{ID: id, NonVoting: true, Joining: true}), fmt.Sprintf("add %d", id))
		return
	}
	x := ms.Members[r.IntN(len(ms.Members))]
	switch op := r.IntN(3); {
	case op == 0 && (!x.Voting() || ms.Voters() > 2):
		s.writeMembers(m, without(ms, x.ID), fmt.Sprintf("remove %d", x.ID))
	case op == 1 && x.Voting() && x.ID != m.id && ms.Voters() > 2:
		x.NonVoting = true
		s.writeMembers(m, with(ms, x), fmt.Sprintf("demote %d", x.ID))
	case op == 2 && !x.Voting() && !x.Joining:
		x.NonVoting = false
		s.writeMembers(m, with(ms, x), fmt.Sprintf("promote view %d", x.ID))
	}
}

// writeMembers commits next on master m: a unique key first, as every
// commit has, then the membership. An operator keeps a voting member
// whose flags let it stand (priority > 0), or the group could never
// elect a master.
func (s *Sim) writeMembers(m *member, next rep.Membership, what string) {
	cur, _ := m.core.Membership()
	if err := m.core.CheckChange(cur, next); err != nil {
		s.tracef("site %d membership change refused: %s: %v", m.id, what, err)
		return
	}
	electable := false
	for _, x := range next.Members {
		electable = electable || x.Voting() && s.site(x.ID).setup.Priority > 0
	}
	if !electable {
		return
	}
	s.res.MemberChanges++
	s.tracef("site %d membership change: %s -> %s", m.id, what, describeMembers(next))
	id := len(s.commits) + 1
	s.commit(m, [][]KV{{{fmt.Sprintf("u%05d", id), "members"}, {membersKey, encodeMembers(next)}}})
}

// with returns ms with x added or replaced, sorted.
func with(ms rep.Membership, x rep.Member) rep.Membership {
	out := without(ms, x.ID)
	i, _ := slices.BinarySearchFunc(out.Members, x.ID, func(a rep.Member, id rep.SiteID) int { return int(a.ID) - int(id) })
	out.Members = slices.Insert(out.Members, i, x)
	return out
}

func without(ms rep.Membership, id rep.SiteID) rep.Membership {
	out := rep.Membership{LSN: ms.LSN}
	for _, x := range ms.Members {
		if x.ID != id {
			out.Members = append(out.Members, x)
		}
	}
	return out
}

// checkElected: only a voting member (in its own membership) may win.
func (s *Sim) checkElected(m *member) {
	if !s.mem.on {
		return
	}
	ms, _ := m.core.Membership()
	if self, in := ms.Find(m.id); !in || !self.Voting() {
		s.violate("site %d was elected, but it is not a voting member of %s", m.id, describeMembers(ms))
	}
}

// voter says whether id is a voting member in m's membership (any site
// when the run does not change membership).
func (s *Sim) voter(m *member, id rep.SiteID) bool {
	if !s.mem.on {
		return true
	}
	ms, _ := m.core.Membership()
	x, ok := ms.Find(id)
	return ok && x.Voting()
}
